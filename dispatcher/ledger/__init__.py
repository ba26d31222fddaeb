"""The one persistence package: nothing outside it touches an engine, a connection or SQL.

- ``schema``: every table on one ``metadata`` (items, revisions, deliveries, attempts,
  approvals, slots, subscribers, mail campaigns and recipients, the digest queue);
- ``types``: statuses and actions as enums, and ``NotFound``;
- ``store``: the ``Ledger`` — items, deliveries and attempts, the status guard;
- ``journal``: the mailing's group-committed per-recipient states (its fast path);
- ``leases``: who holds a claimed row and until when.
"""
