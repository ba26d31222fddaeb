"""``pregonero run``: intake → ledger → runner, once or continuously.

Intake events are recorded in the ledger (new item, duplicate, correction); the runner
then delivers whatever the ledger says is due — in this process (the default), or, with
``PREGONERO_REDIS_URL`` set, by enqueueing it for ``pregonero worker`` processes. A
scheduler task runs the plan's slots (daily bulletin, recurring announcements; see
:mod:`dispatcher.schedule`). On start, deliveries left ``sending`` by a crash of this
runner, or whose lease expired, are recovered (``unknown`` for social channels,
``pending`` for idempotent ones).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from dispatcher.app import App
from dispatcher.content import ContentItem
from dispatcher.early import early_calls
from dispatcher.intake import Accepted, Held, Intake, IntakeEvent, Rejected
from dispatcher.leases import RUN_ROLE, owner_id
from dispatcher.runner import InProcessRunner

if TYPE_CHECKING:
    from dispatcher.queue import QueueRunner

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
        status = "awaiting_approval" if kind.approval == "required" else "ready"
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
        await _correction(app, item)
        tally.corrections += 1
        tally.messages.append(f"corrección {item.id}: se actualiza el sitio web")


async def _correction(app: App, item: ContentItem) -> None:
    """A changed file with a known id: the website is updated; other channels only on
    request (``pregonero retry ID --channel C``). Pending deliveries need nothing: they
    render the latest revision when they are sent."""
    rows = await app.ledger.deliveries_for([item.id])
    website = [r for r in rows if r["channel"] == "website"]
    needs_update = bool(website) and website[-1]["status"] in ("sent", "unknown")
    await app.ledger.add_correction(item, ["website"] if needs_update else [])
    log.info("corrección de %s registrada", item.id)


async def take_in(
    app: App, intake: Intake, tally: Tally, limit: int | None = None
) -> list[IntakeEvent]:
    events = await asyncio.to_thread(intake.scan, limit)
    for event in events:
        await record(app, event, tally)
    return events


def run_owner() -> str:
    """The owner of this host's in-process runner's claims (stable across restarts, so a
    restarted ``run`` takes back its own deliveries at once)."""
    return owner_id(RUN_ROLE, per_process=False)


def make_runner(app: App) -> InProcessRunner | QueueRunner:
    """The in-process runner, or with ``PREGONERO_REDIS_URL`` the arq queue's enqueuer."""
    if app.settings.redis_url:
        from dispatcher.queue import QueueRunner

        return QueueRunner(app)
    return InProcessRunner(app, owner=run_owner())


async def run_once(app: App) -> Tally:
    """Take in the inbox (waiting for files to settle and held media), deliver everything
    due, wait for retries due within a minute, run the slots that are due (within their
    grace window), and return. With Redis, due work is enqueued for the workers instead."""
    tally = Tally()
    owner = run_owner()
    await recover(app, owner)
    intake = make_intake(app)
    while True:
        await take_in(app, intake, tally)
        if not intake.pending:
            break
        await asyncio.sleep(max(0.05, app.settings.intake.settle_seconds / 2))
    runner = make_runner(app)
    if not isinstance(runner, InProcessRunner):
        await _run_slots(app, owner, tally)
        try:
            queued = await runner.reconcile()
        finally:
            await runner.drain()
        tally.messages.append(f"{queued} entrega(s) puestas en la cola para los trabajadores")
        return tally
    await deliver_due(app, runner)
    if await _run_slots(app, owner, tally):
        await deliver_due(app, runner)
    return tally


async def _run_slots(app: App, owner: str, tally: Tally) -> int:
    from dispatcher.schedule import run_due

    runs = await run_due(app, owner=owner)
    for run in runs:
        tally.messages.append(f"franja {run.slot.name}: {run.detail}")
    return len(runs)


async def deliver_due(app: App, runner: InProcessRunner) -> None:
    """Deliver everything due, waiting for retries due within a minute."""
    while True:
        started = await runner.pump()
        if runner.busy:
            await runner.wait_change(1.0)
            continue
        if started:
            continue
        now = app.clock()
        next_retry = await app.ledger.next_retry(now)
        if next_retry is None or next_retry - now > ONCE_RETRY_WINDOW:
            break
        await asyncio.sleep(max(0.0, (next_retry - now).total_seconds()) + 0.01)
    await runner.drain()


async def run_forever(app: App, stop: asyncio.Event) -> None:
    """Watch the inbox, run the scheduler and deliver (or enqueue) until ``stop`` is set.
    With ``PREGONERO_TELEGRAM__BOT_TOKEN`` set the editors' bot runs too, started first so
    the recovery notice reaches the editors, and stopped last so the notices of deliveries
    finishing during the drain do too."""
    from dispatcher.schedule import loop as schedule_loop

    owner = run_owner()
    intake = make_intake(app)
    runner = make_runner(app)
    bot = None
    if app.settings.telegram.bot_token is not None:
        from dispatcher.bot.app import start_bot

        bot = await start_bot(app, stop, intake=intake, poke=runner.poke)
    try:
        await recover(app, owner)
        tally = Tally()

        async def watch() -> None:
            async for batch in intake.watch(stop):
                for event in batch:
                    await record(app, event, tally)
                if bot is not None:
                    await bot.observe(batch)
                runner.poke()

        watcher = asyncio.create_task(watch(), name="intake")
        scheduler = asyncio.create_task(schedule_loop(app, stop, owner=owner), name="scheduler")
        try:
            while not stop.is_set():
                await runner.pump()
                now = app.clock()
                wake = [
                    t
                    for t in (await app.ledger.next_retry(now), await app.ledger.next_embargo(now))
                    if t
                ]
                timeout = 2.0
                if wake:
                    timeout = min(timeout, max(0.01, (min(wake) - now).total_seconds()))
                await runner.wait_change(timeout)
        finally:
            stop.set()
            for task in (watcher, scheduler):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await runner.drain(grace=SHUTDOWN_GRACE)
    finally:
        if bot is not None:
            await bot.stop()


async def recover(app: App, owner: str | None) -> dict[str, int]:
    """Take back deliveries nobody holds any more (expired lease, or ``owner``'s own after
    a restart) and tell the editors about the ones whose outcome is now unknown."""
    result = await app.ledger.recover(owner)
    if result["unknown"]:
        await app.notify(
            f"⚠️ {result['unknown']} entrega(s) quedaron a medio enviar al detenerse el proceso: "
            "su resultado es desconocido y no se reenvían solas (vea 'pregonero status')."
        )
    if result["pending"]:
        log.info("%d entrega(s) idempotentes se reanudan tras la parada", result["pending"])
    return result
