"""The web side served by ``pregonero serve`` (Starlette).

- ``GET /baja/{token}``: a Spanish confirmation page with one button (a GET never
  unsubscribes: mail scanners and link previews follow links).
- ``POST /baja/{token}``: RFC 8058 one-click (``List-Unsubscribe=One-Click``, no cookie,
  no login) and the page's button: the token alone identifies the subscriber → 200.
  A malformed or tampered token is a 400 and an unknown subscriber a 404; nothing changes.
- An expired token (a year after its issue day, see ``services.mailing.tokens``) is a 410
  on both methods: nothing changes, and the page says how to unsubscribe anyway (the
  link of a recent bulletin, a reply with «baja», a message to the office's address).
- ``GET /salud``: health as JSON (200, or 503 when the ledger does not answer).
- The editors' desk: :mod:`dispatcher.web.desk`.

Every request is logged by :class:`AccessLog` (logger ``pregonero.web.access``) with the
route, never the token: ``/baja/…``. ``serve`` turns uvicorn's own access log off
(:func:`dispatcher.web.server.server_config`).
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.utils import parseaddr
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import dispatcher.ledger.schema  # noqa: F401  (registers every table)
from dispatcher.ledger.mail import ping
from dispatcher.ledger.store import Ledger
from dispatcher.services.context import App, app_for, build_app
from dispatcher.services.mailing.subscribers import describe, unsubscribe
from dispatcher.services.mailing.tokens import check_token, token_key
from dispatcher.web import desk
from settings import Settings

log = logging.getLogger("pregonero.web")
access = logging.getLogger("pregonero.web.access")
SECRET_ROUTES = ("/baja/",)
"""Routes whose rest of the path is a credential: logged as ``<route>…``."""

HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token is in the URL
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}
PAGE = """<!DOCTYPE html>
<html lang="es-CO">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body style="margin:0;background:#f2f2f2;font-family:Arial,Helvetica,sans-serif;color:#222;">
<main style="max-width:560px;margin:48px auto;background:#fff;padding:32px;line-height:1.5;">
<p style="margin:0 0 16px;color:#00612f;font-weight:bold;">{site}</p>
<h1 style="font-size:24px;margin:0 0 16px;">{title}</h1>
{body}
</main>
</body>
</html>
"""
BUTTON = (
    '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
    '<button type="submit" style="background:#00612f;color:#fff;border:0;padding:12px 20px;'
    'font-size:16px;border-radius:4px;cursor:pointer;">Cancelar mi suscripción</button></form>'
)
SITE = "Alcaldía de Bucaramanga · Oficina de Prensa y Comunicaciones"


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    content = PAGE.format(title=html.escape(title), site=html.escape(SITE), body=body)
    return HTMLResponse(content, status_code=status, headers=HEADERS)


def redact_path(path: str) -> str:
    """The path as logged: ``/baja/<token>`` → ``/baja/…`` (the token unsubscribes)."""
    for route in SECRET_ROUTES:
        if path.startswith(route) and len(path) > len(route):
            return route + "…"
    return path


class AccessLog:
    """ASGI middleware: one access-log line per request — client, method, route, status,
    time — with :func:`redact_path` applied and no query string."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.monotonic()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = scope.get("client")
            access.info(
                '%s - "%s %s HTTP/%s" %d %.0f ms',
                client[0] if client else "-", scope["method"], redact_path(scope["path"]),
                scope.get("http_version", "1.1"), status, (time.monotonic() - started) * 1000,
            )  # fmt: skip


def expired_page(sender: str | None) -> HTMLResponse:
    """410: the link is too old to unsubscribe; the other ways to do it, in Spanish."""
    address = parseaddr(sender or "")[1]
    if "@" in address:
        mailto = f"mailto:{quote(address, safe='@')}?subject=baja"
        write = (
            f'escribir a <a href="{html.escape(mailto)}">{html.escape(address)}</a> '
            "pidiendo la baja."
        )
    else:
        write = "escribir a la Oficina de Prensa y Comunicaciones de la Alcaldía pidiendo la baja."
    body = (
        "<p>Por seguridad, los enlaces para cancelar la suscripción sirven durante un año, "
        "y este ya venció: no se hizo ningún cambio.</p>"
        "<p>Para dejar de recibir los correos de prensa puede:</p><ul>"
        "<li>usar el enlace «Cancelar la suscripción» de un correo reciente;</li>"
        "<li>responder a cualquiera de nuestros correos con la palabra <strong>baja</strong> "
        "en el asunto, o</li>"
        f"<li>{write}</li></ul>"
    )
    return _page("Este enlace de baja venció", body, 410)


def create_app(
    settings: Settings, ledger: Ledger | None = None, *, application: App | None = None
) -> Starlette:
    """The ASGI app: unsubscribe, health and the editors' desk (:mod:`dispatcher.web.desk`).
    Without ``application`` (or ``ledger``) it builds (and closes) its own from the
    settings: the plan, and the ledger opened and brought up to date."""
    keys: dict[str, bytes] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own = application is None and ledger is None
        if application is not None:
            pregonero = application
        elif ledger is not None:
            pregonero = await app_for(settings, ledger)
        else:
            pregonero = await build_app(settings)
        app.state.ledger = pregonero.ledger
        await desk.start(app.state, pregonero)
        try:
            yield
        finally:
            if own:
                await pregonero.aclose()

    async def subscriber_of(request: Request) -> int | Response:
        if "key" not in keys:
            keys["key"] = await token_key(settings, request.app.state.ledger)
        found = check_token(keys["key"], request.path_params["token"])
        if found is None:
            return _page(
                "El enlace no es válido",
                "<p>Revise que copió completo el enlace del correo.</p>",
                400,
            )
        if found.expired:
            log.info("enlace de baja vencido del suscriptor %s", found.subscriber_id)
            return expired_page(settings.smtp.from_)
        return found.subscriber_id

    async def baja(request: Request) -> Response:
        ledger_: Ledger = request.app.state.ledger
        found = await subscriber_of(request)
        if isinstance(found, Response):
            return found
        if request.method == "POST":
            outcome = await unsubscribe(ledger_, found)
            if outcome is None:
                return _page("No encontramos esa suscripción", "<p>No hay nada que hacer.</p>", 404)
            log.info("baja del suscriptor %s (%s)", found, outcome)
            return _page(
                "Listo: canceló su suscripción",
                "<p>No recibirá más correos de prensa de la Alcaldía en esta dirección.</p>",
            )
        known = await describe(ledger_, found)
        if known is None:
            return _page(
                "No encontramos esa suscripción",
                "<p>Esta dirección no está en nuestras listas.</p>",
                404,
            )
        email, status = known
        if status != "active":
            return _page(
                "Su suscripción ya está cancelada",
                f"<p>No enviamos correos de prensa a <strong>{html.escape(email)}</strong>.</p>",
            )
        body = (
            f"<p>¿Desea dejar de recibir los correos de prensa en <strong>{html.escape(email)}"
            f"</strong>?</p>{BUTTON}"
        )
        return _page("Cancelar la suscripción", body)

    async def salud(request: Request) -> Response:
        try:
            await ping(request.app.state.ledger)
        except Exception:  # any failure means "not healthy"; the log says which
            log.exception("la base de datos no responde")
            return JSONResponse({"estado": "error", "base_de_datos": "sin respuesta"}, 503)
        return JSONResponse({"estado": "ok", "base_de_datos": "ok"})

    return Starlette(
        routes=[
            Route("/baja/{token}", baja, methods=["GET", "POST"]),
            Route("/salud", salud, methods=["GET"]),
            *desk.routes(),
        ],
        middleware=[Middleware(AccessLog), *desk.middleware()],
        exception_handlers=desk.exception_handlers,
        lifespan=lifespan,
    )
