"""Local doubles of the services Pregonero publishes to, served over real HTTP on 127.0.0.1.

- :class:`~tests.doubles.telegram.TelegramDouble` — Bot API (``/bot<token>/<method>``)
- :class:`~tests.doubles.x.XDouble` — X API v2 (OAuth 1.0a checked)
- :class:`~tests.doubles.graph.GraphDouble` — Facebook Graph API
- :class:`~tests.doubles.wordpress.WordPressDouble` — WordPress REST API
- :class:`~tests.doubles.feeds.FeedDouble` — news sites' RSS/Atom feeds (press monitoring)

Each is a :class:`~tests.doubles.base.DoubleServer`: ``start()``/``stop()`` (or ``with``),
``base_url``, ``settings_overrides()`` (for ``load_settings(**…)``) and ``settings_env()``
(``PREGONERO_*`` variables), ``fail_next(…)`` for faults, ``requests``/``requests_to(…)``
for what arrived. Pytest fixtures live in :mod:`tests.doubles.fixtures`.
"""

from tests.doubles.base import DoubleServer, Request, Response, UploadedFile
from tests.doubles.graph import GraphDouble
from tests.doubles.telegram import TelegramDouble
from tests.doubles.wordpress import WordPressDouble
from tests.doubles.x import XDouble

__all__ = [
    "DoubleServer",
    "GraphDouble",
    "Request",
    "Response",
    "TelegramDouble",
    "UploadedFile",
    "WordPressDouble",
    "XDouble",
]
