"""Who holds a delivery or a slot, and until when.

A claim carries an owner (``host/role`` or ``host/role/pid``) and a lease. Recovery only
takes back what nobody holds any more — an expired lease, or the caller's own rows after a
restart — so several workers never mark each other's deliveries in flight. A send bounded
by a timeout needs no renewal (the lease outlasts the timeout); an unbounded one (a mailing
campaign) renews its lease while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta

from dispatcher.ledger.schema import utcnow

log = logging.getLogger("pregonero.leases")

RUN_ROLE = "run"
WORKER_ROLE = "worker"
MIN_MARGIN = 5.0


def owner_id(role: str, *, per_process: bool) -> str:
    """``host/role`` for the single in-process runner (the same after a restart, so it
    takes back its own rows at once), ``host/role/pid`` for one of many workers."""
    host = socket.gethostname()
    return f"{host}/{role}/{os.getpid()}" if per_process else f"{host}/{role}"


def lease_seconds(timeout: float | None, default: float) -> float:
    """The lease of a send bounded by ``timeout`` (``None``: unbounded, renewed every third
    of a ``default``-based lease): the timeout plus a margin for rendering and the ledger."""
    base = default if timeout is None else timeout
    return base + max(MIN_MARGIN, base / 2)


def lease_until(seconds: float) -> datetime:
    return utcnow() + timedelta(seconds=seconds)


@contextlib.asynccontextmanager
async def kept_alive(renew: Callable[[], Awaitable[bool]], every: float) -> AsyncIterator[None]:
    """Call ``renew`` every ``every`` seconds while the block runs."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                if not await renew():
                    log.warning("la reserva se perdió mientras se enviaba")
                    return
            except Exception:  # the ledger is briefly unreachable: try again next time
                log.exception("no se pudo renovar la reserva")

    task = asyncio.create_task(loop(), name="lease-renewal")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
