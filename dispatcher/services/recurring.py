"""Announcements of the plan's recurring programmes (``recurring`` in plan.yaml: Mesa
Pública every Thursday morning, Hable con el Alcalde every other Monday).

An announcement is an ordinary item: its content file is rendered from
``templates/recurring/<id>.md.j2`` (or ``default.md.j2``; user folders first), written to
the archive like an editor's file, validated by the same parser, and recorded through the
same intake path (plan channels, approval, early rules). Its id is
``<recurring id>-<YYYY-MM-DD>`` of the programme's day, so making it twice is a no-op, and
its ``publish_at`` is ``Recurring.announce_at(start)``: the embargo releases it on time.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from channels.static_site import atomic_write
from dispatcher.items.parse import parse
from dispatcher.services.intake import Accepted

if TYPE_CHECKING:
    from dispatcher.items.plan import Recurring
    from dispatcher.services.context import App

log = logging.getLogger("pregonero.recurring")


def announcement_id(rec: Recurring, starts_at: datetime, app: App) -> str:
    return f"{rec.id}-{starts_at.astimezone(app.plan.tz).date().isoformat()}"


def render_announcement(app: App, rec: Recurring, starts_at: datetime) -> str:
    """The announcement's content file (front matter + Markdown)."""
    tz = app.plan.tz
    local = starts_at.astimezone(tz)
    template = app.renderer.environment.select_template(
        [f"recurring/{rec.id}.md.j2", "recurring/default.md.j2"]
    )
    return template.render(
        rec=rec,
        item_id=announcement_id(rec, starts_at, app),
        starts_at=local,
        announce_at=rec.announce_at(local),
        kind_label=app.renderer.label(rec.kind),
    )


async def announce(app: App, rec: Recurring, starts_at: datetime) -> str:
    """Create the announcement of the programme starting at ``starts_at`` (once).

    Returns a Spanish line for the log and the ``slots`` table."""
    from dispatcher.services.ingest import Tally, plan_problems, record

    item_id = announcement_id(rec, starts_at, app)
    if await app.ledger.get_item(item_id) is not None:
        return f"{item_id}: ya estaba creado"
    settings, tz = app.settings, app.plan.tz
    local = starts_at.astimezone(tz)
    text = render_announcement(app, rec, starts_at)
    folder = settings.content_dir / "archive" / f"{local:%Y}" / f"{local:%m}" / item_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{item_id}.md"
    data = text.encode("utf-8")
    item = parse(
        data,
        name=path.name,
        base_dir=folder,
        tz=settings.tz,
        today=local.date(),
        max_bytes=settings.intake.max_bytes,
        known_kinds=set(app.plan.kinds),
        validate=lambda candidate: plan_problems(app, candidate),
    )
    atomic_write(path, data)
    tally = Tally()
    await record(app, Accepted(path.name, item, folder), tally)
    when = rec.announce_at(local)
    log.info("anuncio %s creado; sale el %s", item_id, when.isoformat())
    return f"{item_id}: creado, sale el {when:%Y-%m-%d %H:%M}"
