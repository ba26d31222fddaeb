"""Press monitoring (activity 3 of the plan): read the local media's feeds, keep the
entries that mention the plan's keywords as clippings, report them, send a daily digest.

- ``fetch``: one feed read (httpx: timeouts, size cap, conditional requests) and parsed
  (feedparser, always on a byte stream);
- ``clean``: untrusted text → plain, capped text; links → normalised http(s) URLs;
- ``match``: keywords on whole words, case and accents aside;
- ``store``: entries → clippings, and a source's next state (validators, failures,
  backoff and ``Retry-After``);
- ``service``: ``read_sources`` (``pregonero monitor``) and ``monitor_loop``
  (``pregonero run``), bounded parallelism, a failing source never stops the others;
- ``report``: the day's clippings in the terminal and as ``content/reports/medios-…html``;
- ``digest``: at ``digest_at``, the bot's message to the editors and the e-mail campaign.

The rows live in :mod:`dispatcher.ledger.monitoring`; the plan's section in
:mod:`dispatcher.items.monitoring`.
"""
