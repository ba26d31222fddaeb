"""The arq transport: enqueueing deliveries, and the reconciler that rebuilds the queue
from the ledger.

The ledger is the truth and Redis only transport, so every job is derived from a ledger
row and can be made again:

- one arq job per delivery *attempt*, id ``pregonero:deliver:<delivery id>:<attempts so
  far>``. arq refuses an id while that job is queued, deferred or running, so enqueueing
  the same row twice is a no-op, and ``keep_result=0`` frees the id once the job ends.
  After an attempt the next one has a new id (the claim counted the attempt).
- ``deliver`` records ``retry_wait`` and ``not_before`` in the ledger itself; the worker
  then enqueues the next attempt with a defer computed from the ledger (rather than
  raising arq's ``Retry``, whose own try counter would compete with the ledger's attempt
  count and whose job id would not follow the attempts).
- a job that runs early (an embargo postponed meanwhile, a stale copy) sends nothing: the
  claim checks due-ness in the same statement (see :meth:`Ledger.claim`).
- the reconciler (on start and every ``RECONCILE_EVERY`` seconds, in ``pregonero run`` and
  in every worker) takes back expired leases and enqueues every due delivery again; what
  is already queued is skipped by the job id. A Redis restart or flush loses nothing.
- a worker that dies mid-job: a delivery it had claimed is taken back when its lease
  expires (``unknown`` for a social post, ``pending`` otherwise) and its next attempt has
  a new job id; a job it had started but not yet claimed runs elsewhere once arq's
  in-progress mark expires (the queue's largest job timeout + 10 s).

Two queues keep short and long work apart, because arq re-runs a dead worker's job only
after the *largest* job timeout of its worker: ``pregonero:deliver`` for channels with a
bounded publish (per-channel job timeouts), ``pregonero:long`` for unbounded ones (mailing
campaigns) and the scheduler's slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import job_key_prefix

from dispatcher.services.delivery.jobs import publish_timeout

if TYPE_CHECKING:
    from dispatcher.ledger.records import DueDelivery
    from dispatcher.services.context import App

log = logging.getLogger("pregonero.queue")

DELIVER_QUEUE = "pregonero:deliver"
LONG_QUEUE = "pregonero:long"
JOB_PREFIX = "pregonero:deliver:"
RECONCILE_EVERY = 10.0
ENQUEUE_CONCURRENCY = 32
SCAN_LIMIT = 100_000


def job_id(delivery_id: int, attempts: int) -> str:
    return f"{JOB_PREFIX}{delivery_id}:{attempts}"


def function_name(channel: str) -> str:
    return f"deliver:{channel}"


def redis_settings(url: str) -> RedisSettings:
    settings = RedisSettings.from_dsn(url)
    settings.conn_timeout = 3
    settings.conn_retries = 2
    return settings


def serialize(data: dict[str, Any]) -> bytes:
    """Queue payloads as JSON, never pickle (arq's default runs code from whoever can write
    to Redis). Job arguments are plain ids and names; anything else (a failed job's
    exception in its result) is kept as its text."""
    return json.dumps(data, default=str, separators=(",", ":")).encode()


def deserialize(payload: bytes) -> dict[str, Any]:
    """The inverse of :func:`serialize`. A payload that is not JSON raises: arq logs it and
    fails that job, and the worker keeps running."""
    data = json.loads(payload)
    if not isinstance(data, dict):
        raise ValueError("la carga de la cola no es un objeto JSON")
    return data


SERIALIZERS: dict[str, Any] = {"job_serializer": serialize, "job_deserializer": deserialize}
"""The same pair on the enqueuer (``create_pool``) and every ``Worker``."""


async def connect(url: str) -> ArqRedis:
    return await create_pool(redis_settings(url), default_queue_name=DELIVER_QUEUE, **SERIALIZERS)


def queue_for(app: App, channel: str) -> str:
    return LONG_QUEUE if publish_timeout(app, channel) is None else DELIVER_QUEUE


def wait_before(row: DueDelivery, now: datetime) -> float:
    """Seconds until ``row`` (from :meth:`Ledger.due`) is due: its retry time, and its
    item's embargo unless it is the early call."""
    times = [row.not_before]
    if row.action != "early":
        times.append(row.publish_at)
    due = max((t for t in times if t is not None), default=None)
    return 0.0 if due is None else max(0.0, (due - now).total_seconds())


@dataclass
class Reconciled:
    enqueued: int = 0
    queued: int = 0
    unknown: int = 0
    pending: int = 0


class Enqueuer:
    """Puts ledger rows on the arq queues. One per process, over one Redis pool."""

    def __init__(self, app: App, redis: ArqRedis) -> None:
        self.app = app
        self.redis = redis
        self._limit = asyncio.Semaphore(ENQUEUE_CONCURRENCY)

    async def enqueue(
        self, delivery_id: int, channel: str, attempts: int, *, defer: float = 0.0
    ) -> bool:
        """Enqueue one attempt; False when that job is already queued or running."""
        async with self._limit:
            job = await self.redis.enqueue_job(
                function_name(channel),
                delivery_id,
                channel,
                _job_id=job_id(delivery_id, attempts),
                _queue_name=queue_for(self.app, channel),
                _defer_by=defer if defer > 0.001 else None,
            )
        return job is not None

    async def enqueue_rows(self, rows: Iterable[DueDelivery], now: datetime) -> int:
        """Enqueue due rows (from :meth:`Ledger.due`), each deferred until it is due."""
        results = await asyncio.gather(
            *(
                self.enqueue(
                    int(row.id),
                    str(row.channel),
                    int(row.attempts),
                    defer=wait_before(row, now),
                )
                for row in rows
            )
        )
        return sum(results)

    async def not_queued(self, rows: list[DueDelivery]) -> list[DueDelivery]:
        """The rows whose current attempt has no job in Redis (one pipelined round trip)."""
        if not rows:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for row in rows:
                pipe.exists(job_key_prefix + job_id(int(row.id), int(row.attempts)))
            found = await pipe.execute()
        return [row for row, exists in zip(rows, found, strict=True) if not exists]

    async def reconcile(
        self, *, horizon: float = 0.0, seen: dict[int, int] | None = None
    ) -> Reconciled:
        """Take back expired leases, then enqueue every delivery due within ``horizon``
        seconds that is not queued yet. Safe to run anywhere, any number of times.
        ``seen`` (delivery id → attempts) is updated with every row found due."""
        from dispatcher.services.delivery.recovery import recover

        recovered = await recover(self.app, None)
        now = self.app.clock()
        rows = await self.app.ledger.due(now + timedelta(seconds=horizon), limit=SCAN_LIMIT)
        enqueued = await self.enqueue_rows(await self.not_queued(rows), now)
        if seen is not None:
            seen.update((int(row.id), int(row.attempts)) for row in rows)
        if enqueued:
            log.info("reconciliación: %d entrega(s) puestas en cola", enqueued)
        return Reconciled(
            enqueued=enqueued,
            queued=len(rows) - enqueued,
            unknown=recovered["unknown"],
            pending=recovered["pending"],
        )

    async def follow_up(self, delivery_id: int, channel: str, status: str) -> None:
        """After a job: schedule the next attempt of a retry, and once a website delivery
        is settled, the item's other channels (they wait for its URL)."""
        ledger = self.app.ledger
        if status == "retry_wait":
            row = (await ledger.deliveries_by_id([delivery_id])).get(delivery_id)
            if row is None or row.status != "retry_wait":
                return
            wait = 0.0
            if row.not_before is not None:
                wait = max(0.0, (row.not_before - self.app.clock()).total_seconds())
            await self.enqueue(delivery_id, channel, int(row.attempts), defer=wait)
        elif channel == "website" and status in ("sent", "failed", "unknown"):
            row = (await ledger.deliveries_by_id([delivery_id])).get(delivery_id)
            if row is not None:
                now = self.app.clock()
                await self.enqueue_rows(await ledger.due(now, item_id=row.item_id), now)


class QueueRunner:
    """``pregonero run``'s runner with Redis: it enqueues what is due, workers deliver.

    Same surface as :class:`~dispatcher.services.delivery.runner.InProcessRunner` (``pump``, ``wait_change``,
    ``poke``, ``drain``), so ``run_forever`` drives either. ``pump`` enqueues new due rows
    (remembering what it enqueued) and runs a full reconciliation every
    ``RECONCILE_EVERY`` seconds."""

    busy = False

    def __init__(self, app: App) -> None:
        self.app = app
        self._enqueuer: Enqueuer | None = None
        self._seen: dict[int, int] = {}
        self._last_full = -RECONCILE_EVERY
        self._changed = asyncio.Event()

    async def _ready(self) -> Enqueuer:
        if self._enqueuer is None:
            url = self.app.settings.redis_url
            assert url is not None
            self._enqueuer = Enqueuer(self.app, await connect(url))
        return self._enqueuer

    async def reconcile(self) -> int:
        enqueuer = await self._ready()
        self._last_full = time.monotonic()
        self._seen.clear()
        return (await enqueuer.reconcile(seen=self._seen)).enqueued

    async def pump(self) -> int:
        self._changed.clear()
        if time.monotonic() - self._last_full >= RECONCILE_EVERY:
            return await self.reconcile()
        enqueuer = await self._ready()
        now = self.app.clock()
        rows = [
            row
            for row in await self.app.ledger.due(now, limit=SCAN_LIMIT)
            if self._seen.get(int(row.id)) != int(row.attempts) and not _follows_website(row)
        ]
        count = await enqueuer.enqueue_rows(rows, now)
        self._seen.update((int(row.id), int(row.attempts)) for row in rows)
        return count

    async def wait_change(self, seconds: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)

    def poke(self) -> None:
        self._changed.set()

    async def drain(self, grace: float | None = None) -> None:
        if self._enqueuer is not None:
            await self._enqueuer.redis.aclose(close_connection_pool=True)
            self._enqueuer = None

    async def cancel(self) -> None:
        await self.drain()


def _follows_website(row: DueDelivery) -> bool:
    """A first attempt that became due when its item's website settled: the worker that
    settled it enqueues it (``follow_up``), within milliseconds — enqueueing it here too
    would mostly start a second job after the first one finished, which sends nothing but
    costs a claim. If that worker died, the next reconciliation picks it up."""
    return (
        bool(row.has_website)
        and row.channel != "website"
        and row.action != "early"
        and int(row.attempts) == 0
    )


async def queue_sizes(redis: Any) -> dict[str, int]:
    return {name: int(await redis.zcard(name)) for name in (DELIVER_QUEUE, LONG_QUEUE)}
