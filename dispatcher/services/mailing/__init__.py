"""Mass mailing: subscribers, resumable campaigns, the daily bulletin, one-click unsubscribe.

Modules:

- ``tables``: the mailing tables on the ledger's metadata (``dispatcher.ledger.schema`` imports
  them, so ``Ledger.init`` creates them);
- ``tokens``: HMAC unsubscribe tokens and the keyed hash kept after an erasure;
- ``subscribers``: CSV import/export, erasure on request, unsubscribe;
- ``message``: the MIME built once per campaign and spliced per recipient (+ DKIM);
- ``campaign``: ``CampaignSender`` — runs a campaign under a lease, reports a result;
- ``pool``: one pass of the sender: persistent aiosmtplib connections, rate cap, retries;
- ``journal``: group commit of per-recipient states (the crash-safety bound);
- ``bulletin``: campaigns for an item and ``send_daily_bulletin``;
- ``web``: the Starlette app of ``serve`` (``/baja/{token}``, ``/salud``);
- ``cli`` / ``progress``: ``mail send``, ``subscribers …``, ``serve``.
"""
