"""``pregonero worker``: arq workers that run the core's job functions and the cron jobs.

One process runs two arq workers on one event loop, one per queue (see
:mod:`dispatcher.services.delivery.queue`): ``pregonero:deliver`` with one function per channel, each with
its own short timeout, and the reconciler every ``RECONCILE_EVERY`` seconds;
``pregonero:long`` for unbounded sends (mailing campaigns) and the scheduler's slots.
Claims are owned by ``<host>/worker/<pid>`` with a lease, so workers never recover each
other's deliveries in flight. Start as many processes as needed, on any machine that
reaches the same Redis and PostgreSQL ledger.

On a PostgreSQL ledger each process also joins the mail campaigns other processes are
sending (``dispatcher.services.mailing.joiner``): N workers send one campaign together.

Health: each worker writes ``pregonero:health:<owner>:<queue>`` every ``HEALTH_EVERY``
seconds (expiring just after); ``pregonero worker --check`` reads them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from arq import cron
from arq.worker import Function, Worker, func

from dispatcher.ledger.leases import WORKER_ROLE, owner_id
from dispatcher.services.delivery.jobs import deliver, publish_timeout
from dispatcher.services.delivery.queue import (
    DELIVER_QUEUE,
    LONG_QUEUE,
    RECONCILE_EVERY,
    SERIALIZERS,
    Enqueuer,
    connect,
    function_name,
    queue_sizes,
    redis_settings,
)
from dispatcher.services.mailing.joiner import CampaignJoiner

if TYPE_CHECKING:
    from dispatcher.services.context import App
    from settings import Settings

log = logging.getLogger("pregonero.worker")

JOB_MARGIN = 15.0
"""Seconds a delivery job may take beyond its publish timeout (render, ledger writes)."""
LONG_JOB_TIMEOUT = 6 * 3600.0
RECONCILE_TIMEOUT = 30.0
HEALTH_EVERY = 10.0
HEALTH_PREFIX = "pregonero:health:"
SHUTDOWN_WAIT = 10
DELIVER_MAX_TRIES = 3
"""arq re-runs a job only after a worker died or was stopped mid-job; the status guard
makes such a re-run harmless, and the reconciler enqueues the next attempt anyway."""


async def deliver_job(ctx: dict[str, Any], delivery_id: int, channel: str) -> str:
    """The core's ``deliver`` plus what the queue needs next (retry, the item's others)."""
    status = await deliver(ctx, delivery_id, channel)
    await ctx["enqueuer"].follow_up(delivery_id, channel, status)
    return status


async def reconcile_job(ctx: dict[str, Any]) -> str:
    result = await ctx["enqueuer"].reconcile(horizon=RECONCILE_EVERY)
    return f"{result.enqueued} en cola, {result.unknown} desconocidas, {result.pending} reanudadas"


async def slots_job(ctx: dict[str, Any]) -> str:
    from dispatcher.services.schedule import run_due

    runs = await run_due(ctx["app"], owner=ctx["worker_id"])
    return "; ".join(f"{r.slot.name}: {r.status}" for r in runs) or "nada"


def delivery_functions(app: App, *, long: bool) -> list[Function]:
    """One arq function per channel. The deliver queue gets the channels whose publish is
    bounded, each with its own timeout; the long queue gets every channel with
    ``LONG_JOB_TIMEOUT``. (arq re-runs a dead worker's job after its worker's *largest*
    timeout, so an unbounded channel must not raise the deliver queue's.)"""
    functions = []
    for channel in app.plan.used_channels:
        limit = publish_timeout(app, channel)
        if long:
            timeout = LONG_JOB_TIMEOUT
        elif limit is None:
            continue  # routed to the long queue (see dispatcher.services.delivery.queue.queue_for)
        else:
            timeout = limit + JOB_MARGIN
        functions.append(
            func(
                deliver_job,
                name=function_name(channel),
                timeout=timeout,
                keep_result=0,
                max_tries=DELIVER_MAX_TRIES,
            )
        )
    return functions


@dataclass
class WorkerProcess:
    """The two arq workers of one ``pregonero worker`` process, sharing one app."""

    app: App
    owner: str
    burst: bool = False
    workers: list[Worker] = field(default_factory=list)
    enqueuer: Enqueuer | None = None
    joiner: asyncio.Task[None] | None = None

    async def start(self) -> None:
        url = self.app.settings.redis_url
        if not url:
            raise RuntimeError("falta PREGONERO_REDIS_URL")
        self.enqueuer = Enqueuer(self.app, await connect(url))
        ctx = {"app": self.app, "enqueuer": self.enqueuer, "worker_id": self.owner}
        concurrency = self.app.settings.delivery.concurrency
        common: dict[str, Any] = {
            "redis_settings": redis_settings(url),
            "burst": self.burst,
            "handle_signals": False,
            "keep_result": 0,
            "health_check_interval": HEALTH_EVERY,
            "job_completion_wait": SHUTDOWN_WAIT,
            "log_results": False,
            **SERIALIZERS,  # JSON, never pickle
        }
        reconcile = cron(
            reconcile_job,
            name="pregonero:reconcile",
            second=set(range(0, 60, int(RECONCILE_EVERY))),
            # kept short: arq re-runs a dead worker's jobs after the largest timeout of the
            # worker's functions plus 10 s, and this one must not be the largest
            timeout=RECONCILE_TIMEOUT,
        )
        slots = cron(
            slots_job,
            name="pregonero:slots",
            second={0, 30},
            run_at_startup=True,
            timeout=LONG_JOB_TIMEOUT,
        )
        self.workers = [
            Worker(
                delivery_functions(self.app, long=False),
                queue_name=DELIVER_QUEUE,
                cron_jobs=[] if self.burst else [reconcile],
                ctx=dict(ctx),
                max_jobs=concurrency,
                poll_delay=0.05,
                health_check_key=f"{HEALTH_PREFIX}{self.owner}:{DELIVER_QUEUE}",
                **common,
            ),
            Worker(
                delivery_functions(self.app, long=True),
                queue_name=LONG_QUEUE,
                cron_jobs=[] if self.burst else [slots],
                ctx=dict(ctx),
                # mailing deliveries are mostly quick (a digest item is only recorded); a
                # campaign's own connection pool and rate cap bound the sending
                max_jobs=concurrency,
                poll_delay=0.1,
                health_check_key=f"{HEALTH_PREFIX}{self.owner}:{LONG_QUEUE}",
                **common,
            ),
        ]
        # on start: take back what dead workers left and rebuild the queue from the ledger
        result = await self.enqueuer.reconcile(horizon=RECONCILE_EVERY)
        # and lend this process's SMTP connections to campaigns others are sending
        self.joiner = asyncio.create_task(CampaignJoiner(self.app).run(), name="mail-joiner")
        log.info(
            "trabajador %s listo: %d entrega(s) puestas en cola al arrancar",
            self.owner,
            result.enqueued,
        )

    async def run(self) -> None:
        outcomes = await asyncio.gather(
            *(w.async_run() for w in self.workers), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                raise outcome

    def stop(self, sig: signal.Signals) -> None:
        """Stop picking jobs, let running ones finish for ``SHUTDOWN_WAIT`` s, then stop."""
        for worker in self.workers:
            worker.handle_sig_wait_for_completion(sig)

    async def close(self) -> None:
        if self.joiner is not None:
            self.joiner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.joiner
        for worker in self.workers:
            try:
                await worker.close()
            except Exception:  # one worker's broken connection must not block the other
                log.exception("error al cerrar el trabajador")
        if self.enqueuer is not None:
            await self.enqueuer.redis.aclose(close_connection_pool=True)


async def serve(app: App, *, burst: bool = False) -> None:
    """Run the workers until SIGINT/SIGTERM (or, with ``burst``, until the queues empty)."""
    process = WorkerProcess(app, owner_id(WORKER_ROLE, per_process=True), burst=burst)
    await process.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, process.stop, sig)
    from dispatcher.bot.notify import notify_editors

    try:
        # workers run no bot, but their failure notices must still reach the editors
        async with notify_editors(app):
            await process.run()
    finally:
        await process.close()


@dataclass
class Health:
    ok: bool
    lines: list[str]


async def check(settings: Settings, build: Callable[[], Awaitable[App]]) -> Health:
    """``worker --check``: Redis answers, a live worker serves each queue, the ledger
    answers. Exit status 0 only when all three hold."""
    lines: list[str] = []
    url = settings.redis_url
    if not url:
        return Health(False, ["PREGONERO_REDIS_URL no está definida: no hay cola ni trabajadores."])
    try:
        redis = await connect(url)
    except Exception as exc:
        return Health(False, [f"Redis no responde en {_safe(url)}: {exc}"])
    try:
        serving: dict[str, set[str]] = {DELIVER_QUEUE: set(), LONG_QUEUE: set()}
        async for key in redis.scan_iter(match=HEALTH_PREFIX + "*", count=200):
            owner, _, queue = key.decode()[len(HEALTH_PREFIX) :].rpartition(":pregonero:")
            serving.setdefault("pregonero:" + queue, set()).add(owner)
        sizes = await queue_sizes(redis)
    finally:
        await redis.aclose(close_connection_pool=True)
    ok = all(serving[q] for q in (DELIVER_QUEUE, LONG_QUEUE))
    owners = sorted(set().union(*serving.values()))
    lines.append(f"Redis: {_safe(url)} responde.")
    lines.append(
        f"Trabajadores vivos: {len(owners)}" + (f" ({', '.join(owners)})" if owners else "")
    )
    for queue in (DELIVER_QUEUE, LONG_QUEUE):
        state = f"{len(serving[queue])} trabajador(es)" if serving[queue] else "SIN trabajadores"
        lines.append(f"  cola {queue}: {state}, {sizes[queue]} trabajo(s) en cola")
    try:
        app = await build()
        try:
            open_ = await app.ledger.count_open()
        finally:
            await app.aclose()
        lines.append(f"Registro: responde; {open_} entrega(s) abiertas.")
    except Exception as exc:
        ok = False
        lines.append(f"Registro: no responde ({type(exc).__name__}: {exc}).")
    return Health(ok, lines)


def _safe(url: str) -> str:
    """The Redis URL without its password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url
