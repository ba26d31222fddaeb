"""Mass mailing: subscribers, resumable campaigns, the daily bulletin, one-click unsubscribe.

The rows (subscribers, campaigns, recipients, the digest queue) and every statement on them
live in ``dispatcher.ledger.mail`` (the journal's fast path in ``dispatcher.ledger.journal``);
these modules call its typed functions and never touch an engine. Modules:

- ``service``: ``CampaignService``, the ``MailService`` the ``mailing`` channel is handed
  (built on the App's ledger, plan, settings and clock);
- ``tokens``: HMAC unsubscribe tokens and the keyed hash kept after an erasure;
- ``subscribers``: CSV import/export, erasure on request, unsubscribe;
- ``message``: the MIME built once per campaign and spliced per recipient (+ DKIM);
- ``campaign``: ``CampaignSender`` — runs a campaign under a lease, reports a result;
- ``pool``: one pass of the sender: persistent aiosmtplib connections, rate cap, retries;
- ``bulletin``: campaigns for an item and ``send_daily_bulletin`` (which also settles the
  digest deliveries waiting for it).

The Starlette app of ``serve`` is ``dispatcher.web.unsubscribe``; the commands are in
``dispatcher.cli.mail`` and ``dispatcher.cli.progress``.
"""
