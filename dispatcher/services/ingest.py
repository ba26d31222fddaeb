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
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from dispatcher.items.early import early_calls
from dispatcher.items.model import ContentItem
from dispatcher.items.parse import Problem, field_line
from dispatcher.items.validate import (
    KindLookup,
    Rules,
    item_problems,
    kind_change_message,
    shown_name,
)
from dispatcher.ledger.mail import MAILING
from dispatcher.ledger.records import ItemRecord
from dispatcher.ledger.store import Ended
from dispatcher.ledger.types import ItemStatus
from dispatcher.services.approvals import needed_approvals
from dispatcher.services.context import App
from dispatcher.services.intake import (
    Held,
    Intake,
    IntakeEvent,
    Rejected,
    Staged,
    archived_dirs,
)

log = logging.getLogger("pregonero")

Row = ItemRecord | None  # the item in the ledger, or None for a new id

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
    """The inbox reader with the app's rules; two-phase, so :func:`record` archives a file
    only after the ledger has it."""
    s = app.settings
    kind_of = ledger_kinds(app)
    return Intake(
        s.content_dir,
        tz=s.tz,
        known_kinds=set(app.plan.kinds),
        max_bytes=s.intake.max_bytes,
        max_media_bytes=s.intake.max_media_bytes,
        settle_seconds=s.intake.settle_seconds,
        media_grace_seconds=s.intake.media_grace_seconds,
        validate=lambda item: plan_problems(app, item, kind_of),
        two_phase=True,
    )


def rules(app: App) -> Rules:
    """The intake's rules, for :func:`dispatcher.services.intake.validate_file` (``check``,
    the desk): the same checks, the ledger's known kinds included."""
    s = app.settings
    kind_of = ledger_kinds(app)
    return Rules(
        tz=s.tz,
        known_kinds=frozenset(app.plan.kinds),
        max_bytes=s.intake.max_bytes,
        max_media_bytes=s.intake.max_media_bytes,
        validate=lambda item: plan_problems(app, item, kind_of),
    )


def ledger_kinds(app: App) -> KindLookup | None:
    """``item id → kind`` from the ledger, callable from intake's worker thread (it waits on
    the app's event loop). ``None`` outside an event loop. Called on the loop's own thread it
    answers ``None`` rather than block (:func:`record` checks the kind again)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    archive = app.settings.content_dir / "archive"

    def kind_of(item_id: str) -> str | None:
        try:
            if asyncio.get_running_loop() is loop:
                return None
        except RuntimeError:
            pass
        if not archived_dirs(archive, item_id):
            return None  # every recorded item has an archive folder: a new id, no query
        row = asyncio.run_coroutine_threadsafe(app.ledger.get_item(item_id), loop).result(60)
        return None if row is None else str(row.kind)

    return kind_of


def plan_problems(
    app: App, item: ContentItem, kind_of: KindLookup | None = None
) -> list[tuple[str, str]]:
    """Checks that need the plan (and the ledger): see :func:`item_problems`."""
    return item_problems(app.plan, item, kind_of)


async def record(app: App, event: IntakeEvent, tally: Tally) -> IntakeEvent:
    """Write one intake event to the ledger; returns what finally happened to the file.

    A :class:`Staged` file is recorded, then archived (:meth:`Staged.commit`); if recording
    fails, that file alone is rejected with the reason (:meth:`Staged.abort`). A crash
    between the two leaves the file in the inbox: the next scan finds the same id and
    digest, records a duplicate and archives it — nothing lost, nothing sent twice."""
    if isinstance(event, Staged):
        problem = await _record_staged(app, event, tally)
        if problem is None:
            return await event.commit()
        event = await event.abort([problem])
    if isinstance(event, Rejected):
        tally.rejected += 1
        tally.messages.append(f"rechazado {event.name}: {event.reason_text.splitlines()[0]}")
        log.warning(
            "archivo rechazado: %s → %s",
            shown_name(event.name),
            shown_name(str(event.rejected_path)),
        )
        return event
    if isinstance(event, Held):
        tally.held += 1
        return event
    await _record_item(app, event.item, tally, await app.ledger.get_item(event.item.id))
    return event


async def record_all(
    app: App,
    events: Sequence[IntakeEvent],
    tally: Tally,
    on_recorded: Callable[[], None] | None = None,
) -> list[IntakeEvent]:
    """:func:`record` for a scan's batch, in order. Each file is still recorded before it is
    archived; the archive steps of the recorded files run in one worker-thread call.
    ``on_recorded`` is called once the ledger has the batch, before those archive steps (the
    runner can start delivering meanwhile)."""
    results: list[IntakeEvent] = []
    recorded: list[tuple[int, Staged]] = []
    # Files whose id no other file of the batch has are recorded concurrently: their
    # writes share the ledger's group commit (one transaction, one hop) instead of taking
    # turns. Same-id files (a correction in the same scan) keep their order below.
    ids = Counter(e.item.id for e in events if isinstance(e, Staged))
    alone = [e for e in events if isinstance(e, Staged) and ids[e.item.id] == 1]
    early = dict(
        zip(
            map(id, alone),
            await asyncio.gather(*(_record_staged(app, e, tally) for e in alone)),
            strict=True,
        )
    )
    for event in events:
        if isinstance(event, Staged):
            key = id(event)
            problem = early[key] if key in early else await _record_staged(app, event, tally)
            if problem is None:
                recorded.append((len(results), event))
                results.append(event)
                continue
            event = await event.abort([problem])
        results.append(await record(app, event, tally))
    if on_recorded is not None:
        on_recorded()
    if recorded:
        staged = [event for _, event in recorded]
        accepted = await asyncio.to_thread(staged[0].intake.commit_all, staged)
        for (index, _), done in zip(recorded, accepted, strict=True):
            results[index] = done
    return results


async def _record_staged(app: App, staged: Staged, tally: Tally) -> Problem | None:
    """Record a staged file in the ledger; the reason to reject it instead, if any."""
    try:
        existing = await app.ledger.get_item(staged.item.id)
        problem = await _wrong_kind(staged, existing)
        if problem is None:
            await _record_item(app, staged.item, tally, existing)
        return problem
    except Exception as exc:
        log.exception("no se pudo registrar %s; se rechaza", shown_name(staged.name))
        return Problem(
            None,
            None,
            f"no se pudo registrar en el libro de envíos ({type(exc).__name__}); nada "
            "se publicó: revise el archivo y vuelva a dejarlo, o avise al equipo técnico",
        )


async def _wrong_kind(staged: Staged, existing: Row) -> Problem | None:
    """A correction may not change ``kind`` (checked at intake too; this closes the race of
    two revisions in one scan)."""
    item = staged.item
    if existing is not None and existing.status == ItemStatus.WITHDRAWN:
        if existing.digest == item.digest:
            return None  # the same file again: a duplicate, archived
        data = await asyncio.to_thread((staged.archive_dir / staged.name).read_bytes)
        return Problem(
            "id",
            field_line(data, "id"),
            f"la pieza {item.id} fue retirada y no admite correcciones: "
            "publíquela de nuevo con otro id",
        )
    if existing is None or existing.kind == item.kind:
        return None
    data = await asyncio.to_thread((staged.archive_dir / staged.name).read_bytes)
    message = kind_change_message(item.id, str(existing.kind))
    return Problem("kind", field_line(data, "kind"), message)


async def _record_item(app: App, item: ContentItem, tally: Tally, existing: Row) -> None:
    """A new item, a duplicate (same digest) or a correction of ``existing``."""
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
    elif existing.digest == item.digest:
        await app.ledger.add_duplicate(item, int(existing.revision))
        tally.duplicates += 1
        tally.messages.append(f"duplicado {item.id}: ya estaba publicado, no se repite")
        log.info("duplicado %s: archivado sin republicar", item.id)
    else:
        what = await _correction(app, item)
        tally.corrections += 1
        tally.messages.append(f"corrección {item.id}: {what}")


async def _correction(app: App, item: ContentItem) -> str:
    """A changed file with a known id. Every channel that already carried the item gets a
    ``correction`` delivery (whatever happened to the item since: a cancel stops only what
    had not gone out): the website page is rewritten, the Facebook post and the Telegram
    message are edited in place, X gets a reply "Corrección: …"; the mailing only when the
    kind says ``corrections: mail``. Pending deliveries need nothing: they render the latest
    revision when they are sent. A kind that requires approval needs the approvals of this
    revision again before anything of it goes out. Returns what happens, in Spanish."""
    carried = await app.ledger.carried_by(item.id)
    kind = app.plan.kinds.get(item.kind)
    mail = kind is not None and kind.corrections == "mail"
    update = [c for c in carried if c != MAILING]
    if mail and MAILING in await app.ledger.carried_by(item.id, early=True):
        update.append(MAILING)  # those who got the piece, or its call, by mail
    needed = needed_approvals(app, item.kind)
    await app.ledger.add_correction(item, update, needs_approval=bool(needed))
    log.info("corrección de %s registrada → %s", item.id, ", ".join(update) or "-")
    what = (
        f"se corrige en {', '.join(update)}"
        if update
        else "las entregas pendientes llevan el texto nuevo"
    )
    if needed:
        return f"{what} cuando la aprueben {needed} editor(es) (pregonero approve {item.id})"
    return what


async def take_in(
    app: App, intake: Intake, tally: Tally, limit: int | None = None
) -> list[IntakeEvent]:
    """Scan the inbox once and record each event (each file recorded before it is archived);
    returns the final events."""
    events = await asyncio.to_thread(intake.scan, limit)
    return await record_all(app, events, tally)
