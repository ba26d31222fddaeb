"""The one persistence package: nothing outside it touches an engine, a connection or SQL.

- ``schema``: every table on one ``metadata`` (items, revisions, deliveries, attempts,
  approvals, slots, subscribers, mail campaigns and recipients, the digest queue, press
  monitoring's sources, clippings and digests);
- ``migrations`` + ``migrate``: Alembic revisions from the first release's schema, and how a
  ledger is created, stamped or upgraded (``pregonero db upgrade``);
- ``types``: statuses and actions as enums, and ``NotFound``;
- ``store``: the ``Ledger`` — items, deliveries and attempts, the status guard, recovery;
- ``approvals``: editorial decisions (approve, release, schedule), counted per revision
  and per person; ``editors``: the roster of the bot's and the desk's editors;
- ``slots``: the schedule's slot claims; ``leases``: owners, lease deadlines, renewal;
- ``mail``: subscribers, campaigns, recipients, the digest queue; ``journal``: the
  mailing's group-committed per-recipient states (its fast path);
- ``monitoring``: press monitoring's feed states, clippings and daily digests;
- ``queries`` and ``reports``: typed read models for the bot, status and the plan report.
"""
