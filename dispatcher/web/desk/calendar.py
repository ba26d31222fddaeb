"""``/calendario?mes=YYYY-MM``: the month as a calendar (scheduled and published pieces
and the recurring programmes by day) and the plan's expected frequency per activity with
its gaps — the ``plan report`` data."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from dispatcher.services.calendar import month_calendar, parse_month
from dispatcher.services.editors import EditorView
from dispatcher.services.plan_report_view import HEADERS, month_title, rows
from dispatcher.web.desk.auth import desk_page
from dispatcher.web.desk.views import page, refused


@desk_page
async def calendario(request: Request, editor: EditorView) -> Response:
    app = request.app.state.pregonero
    today = app.clock().astimezone(app.settings.tz).date()
    try:
        month = parse_month(request.query_params.get("mes"), today)
    except ValueError as exc:
        return refused(request, 400, "Mes no válido", f"{exc}.")
    found = await month_calendar(app, month)
    return page(
        request, "calendario.html.j2", title=f"Calendario: {month_title(month)}",
        cal=found, report=found.report, month_name=month_title(month), today=today,
        table=rows(found.report), headers=HEADERS,
    )  # fmt: skip
