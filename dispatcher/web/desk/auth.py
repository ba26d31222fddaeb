"""Signing in and out of the desk (``/entrar``, ``/salir``) and the guard every desk page
goes through.

- Passwords are checked by :func:`dispatcher.services.editors.authenticate` (Argon2id).
- Failed logins are logged (username and address; never the password) and limited with
  the ``limits`` library's moving window, in this process's memory: :data:`PER_USER`
  failures per username and :data:`PER_ADDRESS` per client address; past either the form
  answers 429 without checking the password. A successful login clears its username's count.
- A page for a stranger (no session, or an editor removed since) is a 303 to ``/entrar``;
  an htmx request gets 401 with ``HX-Redirect`` so the whole page goes to the login.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dispatcher.services import editors
from dispatcher.services.editors import EditorView
from dispatcher.web.desk import csrf
from dispatcher.web.desk.views import back, page, refused

log = logging.getLogger("pregonero.web.desk")

PER_USER = parse("5/15 minutes")
PER_ADDRESS = parse("20/15 minutes")
HOME = "/escritorio"

Handler = Callable[[Request, EditorView], Awaitable[Response]]


class LoginLimiter:
    """Failed logins per username and per address (moving 15-minute windows)."""

    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def blocked(self, username: str, address: str) -> bool:
        return not (
            self._limiter.test(PER_USER, "usuario", username)
            and self._limiter.test(PER_ADDRESS, "direccion", address)
        )

    def failed(self, username: str, address: str) -> None:
        self._limiter.hit(PER_USER, "usuario", username)
        self._limiter.hit(PER_ADDRESS, "direccion", address)

    def succeeded(self, username: str) -> None:
        self._limiter.clear(PER_USER, "usuario", username)


def _address(request: Request) -> str:
    return request.client.host if request.client else "-"


def _next(raw: object) -> str:
    """Where to go after login: a local path only (never another site)."""
    if isinstance(raw, str) and raw.startswith("/") and not raw.startswith(("//", "/\\")):
        return raw
    return HOME


async def current_editor(request: Request) -> EditorView | None:
    """The signed-in editor, if still an active editor (a removed one is signed out)."""
    username = request.session.get("u")
    if not isinstance(username, str):
        return None
    found = await editors.find(request.app.state.pregonero.ledger, username)
    if found is None:
        request.session.clear()
    return found


def _to_login(request: Request) -> Response:
    target = "/entrar?siguiente=" + quote(request.url.path, safe="/")
    if request.headers.get("HX-Request"):
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def desk_page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A desk route: strangers go to ``/entrar``; the editor is handed to the handler."""

    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        editor = await current_editor(request)
        if editor is None:
            return _to_login(request)
        request.state.editor = editor
        return await handler(request, editor)

    return guarded


def admin_only(request: Request, editor: EditorView) -> Response | None:
    """403 unless ``editor`` is an admin (``editors add … --role admin``)."""
    if editor.admin:
        return None
    return refused(
        request, 403, "Solo para administradores", "Esta acción la hace un editor administrador."
    )


async def login_form(request: Request) -> Response:
    if await current_editor(request) is not None:
        return RedirectResponse(_next(request.query_params.get("siguiente")), status_code=303)
    return page(
        request, "entrar.html.j2", title="Entrar", usuario="",
        siguiente=_next(request.query_params.get("siguiente")),
    )  # fmt: skip


async def login(request: Request) -> Response:
    form = await csrf.checked_form(request)
    username = editors.normalise_username(str(form.get("usuario") or ""))[:80]
    password = str(form.get("clave") or "")
    target = _next(form.get("siguiente"))
    limiter: LoginLimiter = request.app.state.desk_logins
    address = _address(request)
    if limiter.blocked(username, address):
        log.warning("escritorio: inicio de sesión bloqueado para %r desde %s", username, address)
        response = refused(
            request, 429, "Demasiados intentos",
            "Hubo demasiados intentos fallidos. Espere 15 minutos e intente de nuevo.",
        )  # fmt: skip
        response.headers["Retry-After"] = "900"
        return response
    editor = await editors.authenticate(request.app.state.pregonero.ledger, username, password)
    if editor is None:
        limiter.failed(username, address)
        log.warning("escritorio: inicio de sesión fallido para %r desde %s", username, address)
        return page(
            request, "entrar.html.j2", title="Entrar", usuario=username, siguiente=target,
            error="Usuario o contraseña incorrectos.",
        )  # fmt: skip
    limiter.succeeded(username)
    request.session.clear()
    request.session["u"] = editor.username
    csrf.renew(request)
    log.info("escritorio: %s entró desde %s", editor.username, address)
    return RedirectResponse(target, status_code=303)


async def logout_form(request: Request) -> Response:
    editor = await current_editor(request)
    if editor is None:
        return RedirectResponse("/entrar", status_code=303)
    request.state.editor = editor
    return page(request, "salir.html.j2", title="Salir")


async def logout(request: Request) -> Response:
    await csrf.checked_form(request)
    who = request.session.get("u")
    request.session.clear()
    csrf.renew(request)
    if who:
        log.info("escritorio: %s salió", who)
    return back(request, "/entrar", "Salió del escritorio.")
