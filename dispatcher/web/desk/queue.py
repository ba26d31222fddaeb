"""``/escritorio``: the queue grouped by state; ``/escritorio/cola`` is the same list as a
fragment that the page polls (htmx) so a second editor sees an approval appear."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from dispatcher.services.editors import EditorView
from dispatcher.services.queue import desk_queue
from dispatcher.web.desk.auth import desk_page
from dispatcher.web.desk.views import fragment, page

POLL_SECONDS = 10


@desk_page
async def escritorio(request: Request, editor: EditorView) -> Response:
    queue = await desk_queue(request.app.state.pregonero)
    return page(request, "escritorio.html.j2", title="Cola", queue=queue, poll=POLL_SECONDS)


@desk_page
async def cola(request: Request, editor: EditorView) -> Response:
    queue = await desk_queue(request.app.state.pregonero)
    return fragment(request, "_cola.html.j2", queue=queue)
