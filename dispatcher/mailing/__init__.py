"""Mass mailing: subscribers, resumable campaigns, the daily bulletin, one-click unsubscribe.

Modules: ``tables`` (the ledger tables), ``tokens`` (HMAC tokens and address hashes),
``subscribers`` (CSV import/export, erasure, unsubscribe), ``message`` (MIME built once per
campaign, spliced per recipient), ``campaign`` (the sender: a pool of aiosmtplib
connections, a rate cap, per-recipient ledger rows), ``bulletin`` (campaign creation for an
item and the daily bulletin), ``web`` (``serve``: ``/baja/{token}``, ``/salud``) and
``cli`` (the ``mail``/``subscribers`` commands and ``serve``).

Importing the package registers the mailing tables on ``dispatcher.db.metadata``.
"""

from __future__ import annotations

from dispatcher.mailing import tables as tables
