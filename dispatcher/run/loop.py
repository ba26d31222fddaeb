"""``pregonero run``: intake → ledger → runner, once or continuously.

Intake events are recorded in the ledger (new item, duplicate, correction); the runner
then delivers whatever the ledger says is due — in this process (the default), or, with
``PREGONERO_REDIS_URL`` set, by enqueueing it for ``pregonero worker`` processes. A
scheduler task runs the plan's slots (daily bulletin, recurring announcements; see
:mod:`dispatcher.services.schedule`); with the plan's ``monitoring:`` section, a task reads
the press sources every ``every``. On start, deliveries left ``sending`` by a crash of
this runner, or whose lease expired, are recovered (``unknown`` for social channels,
``pending`` for idempotent ones).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from dispatcher.ledger.schema import utcnow
from dispatcher.services.context import App
from dispatcher.services.delivery.recovery import recover, run_owner
from dispatcher.services.delivery.runner import InProcessRunner
from dispatcher.services.ingest import Tally, make_intake, record_all, take_in

if TYPE_CHECKING:
    from dispatcher.services.delivery.queue import QueueRunner

log = logging.getLogger("pregonero")

ONCE_RETRY_WINDOW = timedelta(minutes=1)
SHUTDOWN_GRACE = 5.0


def make_runner(app: App) -> InProcessRunner | QueueRunner:
    """The in-process runner, or with ``PREGONERO_REDIS_URL`` the arq queue's enqueuer."""
    if app.settings.redis_url:
        from dispatcher.services.delivery.queue import QueueRunner

        return QueueRunner(app)
    return InProcessRunner(app, owner=run_owner())


async def run_once(app: App) -> Tally:
    """Take in the inbox (waiting for files to settle and held media), deliver everything
    due, wait for retries due within a minute, run the slots that are due (within their
    grace window), and return. With Redis, due work is enqueued for the workers instead."""
    tally = Tally()
    started = utcnow()
    owner = run_owner()
    await _pass(app, tally, owner)
    tally.ended_badly = await app.ledger.ended_since(started)
    return tally


async def _pass(app: App, tally: Tally, owner: str) -> None:
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
        return
    await deliver_due(app, runner)
    if await _run_slots(app, owner, tally):
        await deliver_due(app, runner)


async def _run_slots(app: App, owner: str, tally: Tally) -> int:
    from dispatcher.services.schedule import run_due

    runs = await run_due(app, owner=owner)
    for run in runs:
        tally.messages.append(f"franja {run.slot.name}: {run.detail}")
    return len(runs)


async def deliver_due(app: App, runner: InProcessRunner) -> None:
    """Deliver everything due, waiting for retries due within a minute.

    The clock is read once before each ``pump``, and the next retry is asked for as of that
    instant: a retry falling due between the due query and that question was not started
    by the one and is still "next" for the other (asked at a later instant, it was neither,
    and stayed ``retry_wait`` until the next pass)."""
    while True:
        looked = app.clock()
        started = await runner.pump()
        if runner.busy:
            await runner.wait_change(1.0)
            continue
        if started:
            continue
        next_retry = await app.ledger.next_retry(looked)
        if next_retry is None or next_retry - looked > ONCE_RETRY_WINDOW:
            break
        wait = (next_retry - app.clock()).total_seconds()
        await asyncio.sleep(max(0.0, wait) + 0.01)
    await runner.drain()


async def run_forever(app: App, stop: asyncio.Event) -> None:
    """Watch the inbox, run the scheduler and deliver (or enqueue) until ``stop`` is set.
    With ``PREGONERO_TELEGRAM__BOT_TOKEN`` set the editors' bot runs too, started first so
    the recovery notice reaches the editors, and stopped last so the notices of deliveries
    finishing during the drain do too."""
    from dispatcher.services.schedule import loop as schedule_loop

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
                batch = await record_all(app, batch, tally, on_recorded=runner.poke)
                if bot is not None:
                    await bot.observe(batch)

        watcher = asyncio.create_task(watch(), name="intake")
        scheduler = asyncio.create_task(schedule_loop(app, stop, owner=owner), name="scheduler")
        tasks = [watcher, scheduler]
        if app.plan.monitoring is not None:  # press monitoring: each source every `every`
            from dispatcher.services.monitoring.service import monitor_loop

            tasks.append(asyncio.create_task(monitor_loop(app, stop), name="monitoreo"))
        try:
            while not stop.is_set():
                await runner.pump()
                timeout = 2.0
                if runner.busy:
                    # a finished job wakes the loop anyway: the next retry or embargo is
                    # looked up once the runner is idle (it is at most a second late here)
                    timeout = 1.0
                else:
                    now = app.clock()
                    wake = await app.ledger.next_wake(now)
                    if wake is not None:
                        timeout = min(timeout, max(0.01, (wake - now).total_seconds()))
                await runner.wait_change(timeout)
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await runner.drain(grace=SHUTDOWN_GRACE)
    finally:
        if bot is not None:
            await bot.stop()
