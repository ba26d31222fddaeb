"""``/canales``: each channel of the plan, its mode, the result of ``channels check``
(the same function, a harmless call per live channel) and when its credential expires."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from dispatcher.services.canary import EXPIRY_WARNING
from dispatcher.services.editors import EditorView
from dispatcher.services.status import channel_health
from dispatcher.web.desk.auth import desk_page
from dispatcher.web.desk.views import page


@desk_page
async def canales(request: Request, editor: EditorView) -> Response:
    app = request.app.state.pregonero
    found = await channel_health(app)
    return page(
        request, "canales.html.j2", title="Canales", channels=found,
        now=app.clock(), warning=EXPIRY_WARNING,
    )  # fmt: skip
