"""The embedded in-process runner: job functions run as asyncio tasks on this loop.

It holds no state worth keeping: the ledger says what is due, the runner only avoids
starting the same delivery twice in this process and bounds concurrency. (The ledger's
status guard makes a second start harmless anyway.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from dispatcher.ledger.store import WEBSITE
from dispatcher.services.context import App
from dispatcher.services.delivery.jobs import deliver

if TYPE_CHECKING:
    from dispatcher.ledger.records import DueDelivery

log = logging.getLogger("pregonero.runner")


BACKLOG_PER_SLOT = 8
"""Due rows fetched per free slot: the runner keeps the rest as a backlog, so a burst costs
one due-query per ``BACKLOG_PER_SLOT × concurrency`` deliveries rather than one per
finished job."""
BACKLOG_MAX_AGE = 1.0
"""Seconds a backlog is trusted before the ledger is asked again (new work and ``poke``
refresh it at once)."""


class InProcessRunner:
    """``owner`` is recorded with each claim's lease (see :mod:`dispatcher.ledger.leases`).

    A row taken from the backlog may have changed since it was read (cancelled, sent by a
    worker, its embargo moved): the claim checks status and due-ness again in its one
    statement, so such a row is skipped and nothing is sent early or twice."""

    def __init__(
        self, app: App, *, concurrency: int | None = None, owner: str | None = None
    ) -> None:
        self.app = app
        self.ctx: dict[str, Any] = {"app": app, "worker_id": owner}
        self._limit = concurrency or app.settings.delivery.concurrency
        self._running: dict[int, asyncio.Task[str]] = {}
        self._changed = asyncio.Event()
        self._backlog: deque[DueDelivery] = deque()
        self._fetched = -BACKLOG_MAX_AGE

    @property
    def busy(self) -> bool:
        return bool(self._running)

    async def pump(self) -> int:
        """Start every due delivery not already running here. Returns how many started."""
        self._changed.clear()
        free = self._limit - len(self._running)
        if free <= 0:
            return 0
        if not self._backlog or time.monotonic() - self._fetched >= BACKLOG_MAX_AGE:
            self._fetched = time.monotonic()
            size = self._limit * BACKLOG_PER_SLOT + len(self._running)
            due = await self.app.ledger.due(self.app.clock(), limit=size)
            self._backlog = deque(row for row in due if int(row.id) not in self._running)
        # Websites first, across a burst: while a website delivery waits, other channels do
        # not start (their posts carry its URL, and they would only compete with it and
        # with intake for the CPU); they start as soon as no website is waiting. A slow
        # website backend therefore delays the other channels of items already on the
        # site, at most until the waiting websites have started (each bounded by
        # PREGONERO_DELIVERY__TIMEOUT); their own items' posts wait for them anyway.
        websites_only = any(row.channel == WEBSITE for row in self._backlog)
        held: deque[DueDelivery] = deque()
        started = 0
        while self._backlog and started < free:
            row = self._backlog.popleft()
            delivery_id = int(row.id)
            if delivery_id in self._running:
                continue
            if websites_only and row.channel != WEBSITE:
                held.append(row)
                continue
            task = asyncio.create_task(
                self._run(delivery_id, str(row.channel)), name=f"deliver-{delivery_id}"
            )
            self._running[delivery_id] = task
            started += 1
        held.extend(self._backlog)
        self._backlog = held
        return started

    async def _run(self, delivery_id: int, channel: str) -> str:
        try:
            return await deliver(self.ctx, delivery_id, channel)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("la entrega %s falló de forma inesperada", delivery_id)
            return "error"
        finally:
            self._running.pop(delivery_id, None)
            self._changed.set()

    async def wait_change(self, seconds: float | None) -> None:
        """Sleep until a job finishes, ``poke`` is called, or ``seconds`` pass."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)

    def poke(self) -> None:
        """Wake ``wait_change`` (new work arrived: the next ``pump`` asks the ledger)."""
        self._fetched = -BACKLOG_MAX_AGE
        self._changed.set()

    async def drain(self, grace: float | None = None) -> None:
        """Wait for running jobs; after ``grace`` seconds cancel the rest (they stay
        ``sending`` in the ledger and recovery decides on the next start)."""
        loop = asyncio.get_running_loop()
        deadline = None if grace is None else loop.time() + grace
        while self._running:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                await self.cancel()
                return
            await asyncio.wait(list(self._running.values()), timeout=left)

    async def cancel(self) -> None:
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*list(self._running.values()), return_exceptions=True)
