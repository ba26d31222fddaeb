"""The embedded in-process runner: job functions run as asyncio tasks on this loop.

It holds no state worth keeping: the ledger says what is due, the runner only avoids
starting the same delivery twice in this process and bounds concurrency. (The ledger's
status guard makes a second start harmless anyway.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from dispatcher.services.context import App
from dispatcher.services.delivery.jobs import deliver

log = logging.getLogger("pregonero.runner")


class InProcessRunner:
    """``owner`` is recorded with each claim's lease (see :mod:`dispatcher.ledger.leases`)."""

    def __init__(
        self, app: App, *, concurrency: int | None = None, owner: str | None = None
    ) -> None:
        self.app = app
        self.ctx: dict[str, Any] = {"app": app, "worker_id": owner}
        self._limit = concurrency or app.settings.delivery.concurrency
        self._running: dict[int, asyncio.Task[str]] = {}
        self._changed = asyncio.Event()

    @property
    def busy(self) -> bool:
        return bool(self._running)

    async def pump(self) -> int:
        """Start every due delivery not already running here. Returns how many started."""
        self._changed.clear()
        free = self._limit - len(self._running)
        if free <= 0:
            return 0
        due = await self.app.ledger.due(self.app.clock(), limit=free + len(self._running))
        started = 0
        for row in due:
            delivery_id = int(row.id)
            if delivery_id in self._running:
                continue
            task = asyncio.create_task(
                self._run(delivery_id, str(row.channel)), name=f"deliver-{delivery_id}"
            )
            self._running[delivery_id] = task
            started += 1
            if started >= free:
                break
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
        """Wake ``wait_change`` (new work arrived)."""
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
