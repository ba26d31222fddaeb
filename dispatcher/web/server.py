"""How ``pregonero serve`` runs the web app under uvicorn.

uvicorn's own access log writes the full request path — for ``/baja/<token>`` the token
that unsubscribes its owner — so it is off, and the app logs each request itself with
the route only (:class:`dispatcher.web.unsubscribe.AccessLog`). WebSockets are off too
(the app has none, and uvicorn logs a refused WebSocket handshake with its full path).
"""

from __future__ import annotations

import uvicorn

from dispatcher.web.unsubscribe import create_app
from settings import Settings


def server_config(
    settings: Settings, *, host: str | None = None, port: int | None = None
) -> uvicorn.Config:
    """The uvicorn configuration of ``serve`` (``PREGONERO_WEB__HOST``/``__PORT`` unless
    ``host``/``port`` are given)."""
    return uvicorn.Config(
        create_app(settings),
        host=host or settings.web.host,
        port=port or settings.web.port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        access_log=False,
        ws="none",
        server_header=False,
    )
