"""``/piezas/{id}``: a piece with its preview per planned channel, its history, and the
buttons Aprobar, Programar, Cancelar, Reintentar (per channel) and Retirar — each a form
POSTed (with its CSRF token) to a route that calls the same service as the bot and the
CLI, then back to the piece with the service's own message.

``/piezas/{id}/marco/{canal}`` serves the website page and the e-mail as documents of their
own, for sandboxed frames (their CSP lets only the desk frame them);
``/piezas/{id}/medios/{ruta}`` serves the media the item names (image, attachments).
"""

from __future__ import annotations

from datetime import date, datetime, time

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

from dispatcher.ledger.types import NotFound
from dispatcher.services import approvals, lifecycle
from dispatcher.services.context import App
from dispatcher.services.editors import EditorView
from dispatcher.services.piece import media_file, piece, preview_of
from dispatcher.web.desk import csrf
from dispatcher.web.desk.auth import desk_page
from dispatcher.web.desk.headers import FRAME_CSP
from dispatcher.web.desk.telegram import telegram_html
from dispatcher.web.desk.views import back, page, refused

FRAMED = ("website", "mailing")


def _app(request: Request) -> App:
    app: App = request.app.state.pregonero
    return app


def _here(item_id: str) -> str:
    return f"/piezas/{item_id}"


def _missing(request: Request, item_id: str) -> Response:
    return refused(request, 404, "No existe esa pieza", f"No hay ninguna pieza «{item_id}».")


@desk_page
async def pieza(request: Request, editor: EditorView) -> Response:
    item_id = request.path_params["item_id"]
    try:
        found = await piece(_app(request), item_id, media_base=f"/piezas/{item_id}/medios/")
    except NotFound:
        return _missing(request, item_id)
    local_now = _app(request).clock().astimezone(_app(request).settings.tz)
    return page(
        request, "pieza.html.j2", title=found.item.title, piece=found,
        telegram_html=telegram_html, today=local_now.date().isoformat(),
        framed=FRAMED,
    )  # fmt: skip


@desk_page
async def marco(request: Request, editor: EditorView) -> Response:
    """The website page or the e-mail's HTML, as its own document (for a sandboxed frame)."""
    item_id, channel = request.path_params["item_id"], request.path_params["canal"]
    if channel not in FRAMED:
        raise HTTPException(404)
    try:
        preview = await preview_of(
            _app(request), item_id, channel, media_base=f"/piezas/{item_id}/medios/"
        )
    except NotFound:
        raise HTTPException(404) from None
    if preview is None or preview.document is None:
        raise HTTPException(404)
    return HTMLResponse(
        preview.document,
        headers={"Content-Security-Policy": FRAME_CSP, "X-Frame-Options": "SAMEORIGIN"},
    )


@desk_page
async def medios(request: Request, editor: EditorView) -> Response:
    item_id, relative = request.path_params["item_id"], request.path_params["ruta"]
    try:
        path = await media_file(_app(request), item_id, relative)
    except NotFound:
        raise HTTPException(404) from None
    if path is None:
        raise HTTPException(404)
    return FileResponse(path)


@desk_page
async def aprobar(request: Request, editor: EditorView) -> Response:
    await csrf.checked_form(request)
    app, item_id = _app(request), request.path_params["item_id"]
    try:
        withdrawal = await lifecycle.approve_withdrawal(
            app, item_id, editor.telegram_id, editor.name, "desk", username=editor.username
        )
        if withdrawal is not None:
            text = lifecycle.withdraw_text(item_id, withdrawal, approve="botón Aprobar")
            return back(request, _here(item_id), text)
        result = await approvals.approve(
            app, item_id, editor.telegram_id, editor.name, "desk", username=editor.username
        )
    except NotFound:
        return _missing(request, item_id)
    return back(request, _here(item_id), result.message(app.settings.tz, app.clock()))


def _when(fecha: str, hora: str, app: App) -> datetime:
    try:
        day, clock = date.fromisoformat(fecha), time.fromisoformat(hora)
    except ValueError:
        raise ValueError("Escriba la fecha (AAAA-MM-DD) y la hora (HH:MM).") from None
    return datetime.combine(day, clock, tzinfo=app.settings.tz)


@desk_page
async def programar(request: Request, editor: EditorView) -> Response:
    form = await csrf.checked_form(request)
    app, item_id = _app(request), request.path_params["item_id"]
    try:
        when = _when(str(form.get("fecha") or ""), str(form.get("hora") or ""), app)
    except ValueError as exc:
        return back(request, _here(item_id), str(exc))
    if when <= app.clock():
        return back(request, _here(item_id), "Esa fecha ya pasó. Para publicar ya, use «Aprobar».")
    try:
        result = await approvals.schedule(
            app, item_id, when, editor.telegram_id, editor.name, "desk",
            username=editor.username,
        )  # fmt: skip
    except NotFound:
        return _missing(request, item_id)
    return back(request, _here(item_id), result.message(app.settings.tz, app.clock()))


@desk_page
async def cancelar(request: Request, editor: EditorView) -> Response:
    await csrf.checked_form(request)
    app, item_id = _app(request), request.path_params["item_id"]
    try:
        result = await lifecycle.cancel(app, item_id)
    except NotFound:
        return _missing(request, item_id)
    text = lifecycle.cancel_text(item_id, result, resume="botón Reintentar")
    return back(request, _here(item_id), text)


@desk_page
async def reintentar(request: Request, editor: EditorView) -> Response:
    form = await csrf.checked_form(request)
    app, item_id = _app(request), request.path_params["item_id"]
    channel = str(form.get("canal") or "") or None
    try:
        touched, waiting = await approvals.retry(app, item_id, channel)
    except NotFound:
        return _missing(request, item_id)
    if not touched:
        text = "No hay entregas fallidas, desconocidas o canceladas para reintentar."
    else:
        text = f"Reintento programado para: {', '.join(touched)}."
        if waiting:
            text += " La pieza sigue esperando aprobación."
    return back(request, _here(item_id), text)


@desk_page
async def retirar(request: Request, editor: EditorView) -> Response:
    form = await csrf.checked_form(request)
    app, item_id = _app(request), request.path_params["item_id"]
    reason = str(form.get("motivo") or "")
    try:
        result, needed = await lifecycle.withdraw(
            app, item_id, reason, editor_id=editor.telegram_id, editor_name=editor.name,
            via="desk", username=editor.username,
        )  # fmt: skip
    except NotFound:
        return _missing(request, item_id)
    except ValueError as exc:
        return back(request, _here(item_id), f"No se retiró: {exc}.")
    text = lifecycle.withdraw_text(item_id, result, approve="botón Aprobar", needed=needed)
    return back(request, _here(item_id), text)
