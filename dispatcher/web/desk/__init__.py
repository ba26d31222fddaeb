"""The editors' web desk, inside ``pregonero serve``'s Starlette app.

Routes (Spanish, the public contract): ``/entrar`` (form fields ``usuario``, ``clave``),
``/salir``, ``/escritorio``, ``/piezas/{id}``, ``/calendario?mes=YYYY-MM``,
``/suscriptores``, ``/canales``, plus their fragments, forms and preview frames below, and
``/estatico/`` (the stylesheet and htmx). Every page but ``/entrar`` needs a signed-in
editor. The desk has no business rules of its own: each handler calls the service the bot
and the CLI call.
"""

from __future__ import annotations

from starlette.datastructures import State
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from dispatcher.render.renderer import builtin_templates_dir
from dispatcher.services.context import App
from dispatcher.services.mailing.tokens import token_key
from dispatcher.web.desk import auth, calendar, channels, pieces, queue, subscribers
from dispatcher.web.desk.headers import OWN_HEADERS, SecurityHeaders
from dispatcher.web.desk.session import SessionMiddleware, serializer
from dispatcher.web.desk.views import environment, refused

__all__ = ["exception_handlers", "middleware", "routes", "start"]

GET, POST = ["GET"], ["POST"]


def routes() -> list[BaseRoute]:
    folder = builtin_templates_dir() / "desk"
    return [
        Route("/", _home, methods=GET),
        Route("/entrar", auth.login_form, methods=GET),
        Route("/entrar", auth.login, methods=POST),
        Route("/salir", auth.logout_form, methods=GET),
        Route("/salir", auth.logout, methods=POST),
        Route("/escritorio", queue.escritorio, methods=GET),
        Route("/escritorio/cola", queue.cola, methods=GET),
        Route("/piezas/{item_id}", pieces.pieza, methods=GET),
        Route("/piezas/{item_id}/marco/{canal}", pieces.marco, methods=GET),
        Route("/piezas/{item_id}/medios/{ruta:path}", pieces.medios, methods=GET),
        Route("/piezas/{item_id}/aprobar", pieces.aprobar, methods=POST),
        Route("/piezas/{item_id}/programar", pieces.programar, methods=POST),
        Route("/piezas/{item_id}/cancelar", pieces.cancelar, methods=POST),
        Route("/piezas/{item_id}/reintentar", pieces.reintentar, methods=POST),
        Route("/piezas/{item_id}/retirar", pieces.retirar, methods=POST),
        Route("/calendario", calendar.calendario, methods=GET),
        Route("/suscriptores", subscribers.suscriptores, methods=GET),
        Route("/suscriptores/importar", subscribers.importar, methods=POST),
        Route("/suscriptores/eliminar", subscribers.eliminar, methods=POST),
        Route("/suscriptores/exportar", subscribers.exportar, methods=GET),
        Route("/canales", channels.canales, methods=GET),
        Mount("/estatico", StaticFiles(directory=folder / "static"), name="estatico"),
    ]


async def _home(request: Request) -> Response:
    return RedirectResponse(auth.HOME, status_code=303)


def middleware() -> list[Middleware]:
    """Outermost first: headers on every desk answer, then the session."""
    return [Middleware(SecurityHeaders), Middleware(SessionMiddleware)]


async def start(state: State, app: App) -> None:
    """Set up the desk's state once the ledger is open: the session key (derived from the
    ledger's secret), the login limiter, the templates."""
    settings = app.settings
    state.pregonero = app
    state.desk_sessions = serializer(await token_key(settings, app.ledger))
    state.desk_secure = settings.public_url.startswith("https://")
    state.desk_logins = auth.LoginLimiter()
    state.desk_templates = environment(
        builtin_templates_dir() / "desk", settings.tz, settings.website.site_name
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith(OWN_HEADERS):
        return Response(exc.detail, status_code=exc.status_code)
    titles = {403: "Solicitud rechazada", 404: "No encontrado", 405: "Método no permitido"}
    title = titles.get(exc.status_code, "Error")
    message = {
        403: "El formulario no trae su código de seguridad o venció: recargue la página "
        "e intente de nuevo.",
        404: "La página que busca no existe.",
    }.get(exc.status_code, str(exc.detail))
    return refused(request, exc.status_code, title, message)


exception_handlers = {HTTPException: _http_error}
