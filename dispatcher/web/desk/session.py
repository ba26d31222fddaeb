"""The desk's session: a signed cookie (itsdangerous), HttpOnly, SameSite=Lax, and Secure
when ``PREGONERO_WEB__PUBLIC_URL`` (or the address derived from it) is https.

The cookie holds only the username, the CSRF token and a one-shot notice; it is signed
with a key derived from the ledger's secret (``PREGONERO_SECRET_KEY``, else the key kept in
the ledger: the same secret as the unsubscribe tokens, under its own salt) and expires
:data:`MAX_AGE` after it was last written. Starlette's own ``SessionMiddleware`` needs its
key when the app is built; ours reads the serializer from ``app.state`` (set at start-up,
once the ledger is open), so the key never has to be in the environment.
"""

from __future__ import annotations

import json
from http.cookies import SimpleCookie
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "pregonero_sesion"
MAX_AGE = 12 * 3600
"""Seconds a session lasts after its last change (a working day)."""
SALT = "pregonero-escritorio-sesion"


def serializer(key: bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt=SALT)


class SessionMiddleware:
    """Loads ``scope["session"]`` (what ``request.session`` reads) from the cookie and
    writes it back when it changed. ``app.state.desk_sessions`` is the serializer and
    ``app.state.desk_secure`` whether the cookie is ``Secure``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        signer: URLSafeTimedSerializer | None = getattr(state, "desk_sessions", None)
        raw = HTTPConnection(scope).cookies.get(COOKIE)
        loaded: dict[str, Any] = {}
        if raw and signer is not None:
            try:
                data = signer.loads(raw, max_age=MAX_AGE)
                loaded = data if isinstance(data, dict) else {}
            except BadSignature:  # tampered or expired: a stranger
                loaded = {}
        scope["session"] = dict(loaded)
        before = json.dumps(loaded, sort_keys=True)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and signer is not None:
                session = scope["session"]
                if json.dumps(session, sort_keys=True) != before or (raw and not session):
                    headers = MutableHeaders(scope=message)
                    headers.append("Set-Cookie", _cookie(signer, session, bool(state.desk_secure)))
            await send(message)

        await self.app(scope, receive, sending)


def _cookie(signer: URLSafeTimedSerializer, session: dict[str, Any], secure: bool) -> str:
    jar: SimpleCookie = SimpleCookie()
    jar[COOKIE] = signer.dumps(session) if session else ""
    morsel = jar[COOKIE]
    morsel["path"] = "/"
    morsel["httponly"] = True
    morsel["samesite"] = "Lax"
    morsel["max-age"] = MAX_AGE if session else 0
    if secure:
        morsel["secure"] = True
    return morsel.OutputString()
