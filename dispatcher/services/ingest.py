"""Recording what intake found: a new item, a duplicate, a correction, a rejection.

Intake events are recorded in the ledger (new item, duplicate, correction); the runner
then delivers whatever the ledger says is due — in this process (the default), or, with
``PREGONERO_REDIS_URL`` set, by enqueueing it for ``pregonero worker`` processes. A
scheduler task runs the plan's slots (daily bulletin, recurring announcements; see
:mod:`dispatcher.services.schedule`). On start, deliveries left ``sending`` by a crash of this
runner, or whose lease expired, are recovered (``unknown`` for social channels,
``pending`` for idempotent ones).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from dispatcher.items.early import early_calls
from dispatcher.items.model import ContentItem
from dispatcher.ledger.store import WEBSITE, Ended
from dispatcher.ledger.types import ItemStatus
from dispatcher.services.approvals import needed_approvals
from dispatcher.services.context import App
from dispatcher.services.intake import Accepted, Held, Intake, IntakeEvent, Rejected

if TYPE_CHECKING:
    pass

log = logging.getLogger("pregonero")

ONCE_RETRY_WINDOW = timedelta(minutes=1)
SHUTDOWN_GRACE = 5.0


@dataclass
class Tally:
    accepted: int = 0
    duplicates: int = 0
    corrections: int = 0
    rejected: int = 0
    held: int = 0
    messages: list[str] = field(default_factory=list)
    ended_badly: list[Ended] = field(default_factory=list)
    """Deliveries that ended ``failed`` or ``unknown`` during the pass (``run --once``)."""


def make_intake(app: App) -> Intake:
    s = app.settings
    return Intake(
        s.content_dir,
        tz=s.tz,
        known_kinds=set(app.plan.kinds),
        max_bytes=s.intake.max_bytes,
        max_media_bytes=s.intake.max_media_bytes,
        settle_seconds=s.intake.settle_seconds,
        media_grace_seconds=s.intake.media_grace_seconds,
        validate=lambda item: plan_problems(app, item),
    )


def plan_problems(app: App, item: ContentItem) -> list[tuple[str, str]]:
    """Checks that need the plan: ``channels`` and ``audiences`` against the item's kind."""
    problems: list[tuple[str, str]] = []
    try:
        app.plan.channels_for(item.kind, item.meta.channels)
    except ValueError as exc:
        problems.append(("channels", str(exc)))
    return problems


async def record(app: App, event: IntakeEvent, tally: Tally) -> None:
    """Write one intake event to the ledger."""
    if isinstance(event, Rejected):
        tally.rejected += 1
        tally.messages.append(f"rechazado {event.name}: {event.reason_text.splitlines()[0]}")
        log.warning("archivo rechazado: %s → %s", event.name, event.rejected_path)
        return
    if isinstance(event, Held):
        tally.held += 1
        return
    if not isinstance(event, Accepted):
        return
    item = event.item
    existing = await app.ledger.get_item(item.id)
    if existing is None:
        kind = app.plan.kinds[item.kind]
        channels = app.plan.channels_for(item.kind, item.meta.channels)
        status = ItemStatus.AWAITING_APPROVAL if kind.approval == "required" else ItemStatus.READY
        early = early_calls(app.plan, item, channels, app.clock())
        await app.ledger.add_item(item, channels, status=status, early=early)
        tally.accepted += 1
        tally.messages.append(f"aceptado {item.id} → {', '.join(channels)}")
        log.info("aceptado %s (%s) → %s", item.id, item.kind, ", ".join(channels))
        if early:
            when = min(early.values()).astimezone(app.plan.tz)
            tally.messages.append(
                f"convocatoria de {item.id} → {', '.join(early)} desde {when:%Y-%m-%d %H:%M}"
            )
    elif existing["digest"] == item.digest:
        await app.ledger.add_duplicate(item, int(existing["revision"]))
        tally.duplicates += 1
        tally.messages.append(f"duplicado {item.id}: ya estaba publicado, no se repite")
        log.info("duplicado %s: archivado sin republicar", item.id)
    else:
        what = await _correction(app, item)
        tally.corrections += 1
        tally.messages.append(f"corrección {item.id}: {what}")


async def _correction(app: App, item: ContentItem) -> str:
    """A changed file with a known id. The website that already carried the item is
    updated (whatever happened to the item since: a cancel stops only what had not gone
    out); other channels only on request (``pregonero retry ID --channel C``). Pending
    deliveries need nothing: they render the latest revision when they are sent. A kind
    that requires approval needs the approvals of this revision again before anything of
    it goes out. Returns what happens, in Spanish."""
    carried = await app.ledger.carried_by(item.id)
    update = [WEBSITE] if WEBSITE in carried else []
    needed = needed_approvals(app, item.kind)
    await app.ledger.add_correction(item, update, needs_approval=bool(needed))
    log.info("corrección de %s registrada", item.id)
    what = (
        "se actualiza el sitio web" if update else "las entregas pendientes llevan el texto nuevo"
    )
    if needed:
        return f"{what} cuando la aprueben {needed} editor(es) (pregonero approve {item.id})"
    return what


async def take_in(
    app: App, intake: Intake, tally: Tally, limit: int | None = None
) -> list[IntakeEvent]:
    events = await asyncio.to_thread(intake.scan, limit)
    for event in events:
        await record(app, event, tally)
    return events
