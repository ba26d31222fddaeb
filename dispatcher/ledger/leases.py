"""Who holds a claimed row, and until when: one scheme for deliveries, slots and campaigns.

A claim carries an **owner** and a **lease**:

- the owner is ``host/role`` (the single in-process runner: the same after a restart, so it
  takes back its own rows at once), ``host/role/pid`` (one of many workers) or
  ``host/role/pid/token`` (one run among several in a process, e.g. a mail campaign), made
  by :func:`owner_id`; :func:`owner_alive` tells a dead local process from a live one;
- the lease is a deadline (``lease_until``) or, for rows that record a heartbeat instead, the
  heartbeat plus a duration (:func:`heartbeat_deadline`). A lease is **expired** when it is
  missing or past: :func:`expired` is the SQL test, :func:`is_expired` the same in Python.

Recovery only takes back what nobody holds any more — an expired lease, or the caller's own
rows after a restart (:func:`abandoned`) — so several processes never take each other's work
in flight. A send bounded by a timeout needs no renewal (the lease outlasts the timeout,
:func:`lease_seconds`); an unbounded one (a mailing campaign, a slot's action) renews its
lease every third of it while it runs (:func:`kept_alive`, :func:`renew_every`).

Durations: a delivery's lease comes from its publish timeout (:func:`lease_seconds`); a
slot's is :data:`SLOT_LEASE`; a campaign's heartbeat must be younger than
:data:`CAMPAIGN_LEASE`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_

from dispatcher.ledger.schema import utcnow

log = logging.getLogger("pregonero.leases")

RUN_ROLE = "run"
WORKER_ROLE = "worker"
MAILING_ROLE = "mailing"
MIN_MARGIN = 5.0
SLOT_LEASE = 120.0
"""Seconds a scheduler holds a slot's run between renewals."""
CAMPAIGN_LEASE = 90.0
"""Seconds a mail campaign's heartbeat stays valid."""


def owner_id(role: str, *, per_process: bool, unique: bool = False) -> str:
    """``host/role`` for the single in-process runner (the same after a restart, so it
    takes back its own rows at once), ``host/role/pid`` for one of many workers, and with
    ``unique`` ``host/role/pid/<token>`` for one run among several in a process."""
    host = socket.gethostname()
    if not per_process:
        return f"{host}/{role}"
    owner = f"{host}/{role}/{os.getpid()}"
    return f"{owner}/{secrets.token_hex(4)}" if unique else owner


def owner_alive(owner: str) -> bool:
    """Whether the process that wrote ``owner`` may still run: False only when it was a
    process of this machine that no longer exists (a kill -9). Another machine's owner, or
    one without a pid, can only be judged by its lease. Reads :func:`owner_id`'s form and
    the mail campaigns' older ``host:pid:token``."""
    if "/" in owner:
        parts = owner.split("/")
        host, pid = parts[0], parts[2] if len(parts) > 2 else ""
    else:
        host, _, rest = owner.partition(":")
        pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def lease_seconds(timeout: float | None, default: float) -> float:
    """The lease of a send bounded by ``timeout`` (``None``: unbounded, renewed every third
    of a ``default``-based lease): the timeout plus a margin for rendering and the ledger."""
    base = default if timeout is None else timeout
    return base + max(MIN_MARGIN, base / 2)


def renew_every(lease: float) -> float:
    """How often a holder renews a lease of ``lease`` seconds (three chances before it ends)."""
    return lease / 3


def lease_until(seconds: float, now: datetime | None = None) -> datetime:
    """The deadline of a lease of ``seconds`` taken at ``now`` (default: the wall clock:
    leases are about live processes, not the app's clock)."""
    return (now or utcnow()) + timedelta(seconds=seconds)


def heartbeat_deadline(beat: datetime | None, seconds: float = CAMPAIGN_LEASE) -> datetime | None:
    """The lease end of a row that records its holder's last heartbeat."""
    return None if beat is None else beat + timedelta(seconds=seconds)


def is_expired(deadline: datetime | None, now: datetime | None = None) -> bool:
    """Python twin of :func:`expired`: no lease, or its deadline has passed."""
    return deadline is None or deadline < (now or utcnow())


def expired(
    deadline: ColumnElement[Any], now: datetime | ColumnElement[Any]
) -> ColumnElement[bool]:
    """SQL: the lease in column ``deadline`` is missing or past at ``now``. For a heartbeat
    column pass ``now - lease`` (a beat older than that has lapsed)."""
    return or_(deadline.is_(None), deadline < now)


def abandoned(
    owner_column: ColumnElement[Any],
    deadline: ColumnElement[Any],
    now: datetime,
    owner: str | None = None,
) -> ColumnElement[bool]:
    """SQL: nobody holds the row any more — its lease expired, or the holder is ``owner``
    (this same runner after a restart)."""
    condition = expired(deadline, now)
    return condition if owner is None else or_(condition, owner_column == owner)


@contextlib.asynccontextmanager
async def kept_alive(renew: Callable[[], Awaitable[bool]], every: float) -> AsyncIterator[None]:
    """Call ``renew`` every ``every`` seconds while the block runs (stop when it says the
    lease is lost; keep trying when the ledger is briefly unreachable)."""

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
