"""``/suscriptores``: counts per audience and status, a search by address, and — for
admins — the CSV import (the same import and error report as ``subscribers import``),
the erasure of one person's data (the same function as ``subscribers remove``, Ley 1581)
and the export (the same CSV as ``subscribers export``, safe against formula injection)."""

from __future__ import annotations

import io
import logging

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from dispatcher.items.audiences import AUDIENCES
from dispatcher.services.editors import EditorView
from dispatcher.services.mailing.subscribers import (
    SubscriberError,
    audience_counts,
    export_csv,
    import_csv,
    parse_audiences,
    remove,
    search,
)
from dispatcher.web.desk import csrf
from dispatcher.web.desk.auth import admin_only, desk_page
from dispatcher.web.desk.views import back, page

log = logging.getLogger("pregonero.web.desk")
HERE = "/suscriptores"
ERASED = {
    "erased": "Datos eliminados. La dirección no se volverá a inscribir por importación.",
    "already": "Esa dirección ya había sido eliminada.",
    "unknown": "Esa dirección no estaba inscrita; queda bloqueada para importaciones.",
}


async def _listing(request: Request, report: list[str] | None = None) -> Response:
    app = request.app.state.pregonero
    query = request.query_params.get("q", "").strip()[:320]
    found = await search(app.ledger, query) if query else []
    return page(
        request, "suscriptores.html.j2", title="Suscriptores",
        counts=await audience_counts(app.ledger), q=query, found=found,
        audiences=AUDIENCES, report=report,
    )  # fmt: skip


@desk_page
async def suscriptores(request: Request, editor: EditorView) -> Response:
    return await _listing(request)


@desk_page
async def importar(request: Request, editor: EditorView) -> Response:
    form = await csrf.checked_form(request)
    if (denied := admin_only(request, editor)) is not None:
        return denied
    app = request.app.state.pregonero
    upload = form.get("archivo")
    audience = str(form.get("publico") or "") or None
    if not isinstance(upload, UploadFile) or not upload.filename:
        return back(request, HERE, "Elija un archivo CSV para importar.")
    try:
        parse_audiences(audience or "")
        text = (await upload.read()).decode("utf-8-sig")
    except SubscriberError as exc:
        return back(request, HERE, f"Público: {exc}")
    except UnicodeDecodeError:
        return back(request, HERE, "El archivo no está en UTF-8: guárdelo como «CSV UTF-8».")
    report = await import_csv(
        app.ledger, io.StringIO(text, newline=""), audience=audience, tz=app.settings.tz
    )
    log.info("escritorio: %s importó suscriptores (%s)", editor.username, upload.filename)
    return await _listing(request, report.lines())


@desk_page
async def eliminar(request: Request, editor: EditorView) -> Response:
    form = await csrf.checked_form(request)
    if (denied := admin_only(request, editor)) is not None:
        return denied
    app = request.app.state.pregonero
    try:
        outcome = await remove(app.ledger, str(form.get("email") or ""))
    except SubscriberError as exc:
        return back(request, HERE, str(exc))
    log.info("escritorio: %s eliminó los datos de un suscriptor (%s)", editor.username, outcome)
    return back(request, HERE, ERASED[outcome])


@desk_page
async def exportar(request: Request, editor: EditorView) -> Response:
    if (denied := admin_only(request, editor)) is not None:
        return denied
    app = request.app.state.pregonero
    out = io.StringIO()
    count = await export_csv(app.ledger, out, tz=app.settings.tz)
    log.info("escritorio: %s exportó %d suscriptor(es)", editor.username, count)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="suscriptores.csv"'},
    )
