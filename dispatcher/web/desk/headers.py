"""Security headers for the desk's responses (``/baja`` and ``/salud`` keep their own).

The CSP allows no inline script and no inline style: the desk's one stylesheet and its
scripts come from ``/estatico/``. Pages may not be framed by anyone (``frame-ancestors
'none'``) except the preview frames (:data:`FRAME_CSP`), which the desk itself frames.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
FRAME_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'self'"
)
"""The e-mail and website preview frames: their own inline styles and images, no script,
framed only by the desk."""
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
OWN_HEADERS = ("/baja/", "/salud")


class SecurityHeaders:
    """ASGI middleware: the desk's headers on every response but ``/baja`` and ``/salud``;
    a response that set its own CSP (the preview frames) keeps it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(OWN_HEADERS):
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in COMMON.items():
                    headers.setdefault(name, value)
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = PAGE_CSP
                    headers["X-Frame-Options"] = "DENY"
            await send(message)

        await self.app(scope, receive, sending)
