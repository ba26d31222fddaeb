"""Slot claims: work due at a time of the plan, run once however many schedulers race.

A slot is a row of ``slots``, unique on ``(name, scheduled_for)``: the INSERT that wins
runs it (:func:`take`). The run holds a lease (:mod:`dispatcher.ledger.leases`) that it
renews while it works (:func:`renew`); a run whose process died (lease expired) or that
asked to be retried (``retry``, due again when its lease ends) is taken over by the next
scheduler. :func:`finish` records the outcome. The meta key ``scheduler_since`` keeps the
first time a scheduler ran on this ledger (:func:`scheduler_since`), so a new installation
does not replay yesterday's slots.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.exc import IntegrityError

from dispatcher.ledger.leases import SLOT_LEASE, expired, lease_until
from dispatcher.ledger.schema import meta, slots, utcnow
from dispatcher.ledger.store import Ledger
from dispatcher.ledger.types import NotFound, SlotStatus

SINCE_KEY = "scheduler_since"
DETAIL_LIMIT = 2000
TAKEABLE = (SlotStatus.RUNNING, SlotStatus.RETRY)
"""A slot in these states is taken over once its lease has expired."""


@dataclass(frozen=True)
class SlotRecord:
    """One slot's row: who ran it, how often, and how it ended."""

    name: str
    scheduled_for: datetime
    status: SlotStatus
    owner: str | None
    lease_until: datetime | None
    runs: int
    detail: str | None
    started_at: datetime
    finished_at: datetime | None


async def scheduler_since(ledger: Ledger, now: datetime) -> datetime:
    """The first time a scheduler ran on this ledger (``now``, recorded, on the first call;
    of two racing first calls, the one that wrote first)."""
    query = select(meta.c.value).where(meta.c.key == SINCE_KEY)
    async with ledger.engine.connect() as conn:
        value = await conn.scalar(query)
    if value is None:
        try:
            async with ledger.engine.begin() as conn:
                await conn.execute(insert(meta).values(key=SINCE_KEY, value=now.isoformat()))
            return now
        except IntegrityError:
            async with ledger.engine.connect() as conn:
                value = await conn.scalar(query)
    return datetime.fromisoformat(str(value))


async def take(
    ledger: Ledger, name: str, scheduled_for: datetime, owner: str, *, lease: float = SLOT_LEASE
) -> bool:
    """Claim the slot for ``owner``: insert its row (the winner of the race runs it), or take
    over a ``running``/``retry`` run whose lease has expired. False when someone else holds
    it, or it has ended."""
    key = _key(name, scheduled_for)
    async with ledger.engine.connect() as conn:
        row = (await conn.execute(select(slots.c.status).where(*key))).first()
    now = utcnow()
    if row is None:
        try:
            async with ledger.engine.begin() as conn:
                await conn.execute(
                    insert(slots).values(
                        name=name, scheduled_for=scheduled_for, status=SlotStatus.RUNNING,
                        owner=owner, lease_until=lease_until(lease, now), runs=1,
                        started_at=now,
                    )
                )  # fmt: skip
            return True
        except IntegrityError:
            return False
    async with ledger.engine.begin() as conn:
        result = await conn.execute(
            update(slots)
            .where(*key, slots.c.status.in_(TAKEABLE), expired(slots.c.lease_until, now))
            .values(
                status=SlotStatus.RUNNING,
                owner=owner,
                lease_until=lease_until(lease, now),
                runs=slots.c.runs + 1,
                started_at=now,
            )
        )
        return bool(result.rowcount)


async def renew(
    ledger: Ledger, name: str, scheduled_for: datetime, owner: str, *, lease: float = SLOT_LEASE
) -> bool:
    """Extend ``owner``'s lease on the slot; False when the slot is no longer its own."""
    async with ledger.engine.begin() as conn:
        result = await conn.execute(
            update(slots)
            .where(*_key(name, scheduled_for), slots.c.owner == owner)
            .values(lease_until=lease_until(lease))
        )
        return bool(result.rowcount)


async def finish(
    ledger: Ledger,
    name: str,
    scheduled_for: datetime,
    owner: str,
    status: SlotStatus,
    detail: str,
    *,
    retry_at: datetime | None = None,
) -> None:
    """Record how ``owner``'s run of the slot ended. ``retry`` keeps the slot open until
    ``retry_at`` (its lease), when any scheduler may take it again; every other status ends
    it (lease released, ``finished_at`` set). A run taken over meanwhile is left alone."""
    values: dict[str, Any] = {"status": status, "detail": detail[:DETAIL_LIMIT]}
    if status is SlotStatus.RETRY:
        if retry_at is None:
            raise ValueError("a slot to be retried needs retry_at")
        values["lease_until"] = retry_at
    else:
        values.update(lease_until=None, finished_at=utcnow())
    async with ledger.engine.begin() as conn:
        await conn.execute(
            update(slots).where(*_key(name, scheduled_for), slots.c.owner == owner).values(**values)
        )


async def slot_record(ledger: Ledger, name: str, scheduled_for: datetime) -> SlotRecord:
    """The slot's row; raises :class:`NotFound` when no scheduler has taken it yet."""
    async with ledger.engine.connect() as conn:
        row = (await conn.execute(select(slots).where(*_key(name, scheduled_for)))).first()
    if row is None:
        raise NotFound("franja", f"{name}@{scheduled_for.isoformat()}")
    return _record(row)


async def slot_records(ledger: Ledger) -> list[SlotRecord]:
    """Every slot taken so far, in the order they were first taken."""
    async with ledger.engine.connect() as conn:
        rows = (await conn.execute(select(slots).order_by(slots.c.id))).all()
    return [_record(row) for row in rows]


def _key(name: str, scheduled_for: datetime) -> tuple[ColumnElement[bool], ...]:
    return (slots.c.name == name, slots.c.scheduled_for == scheduled_for)


def _record(row: Any) -> SlotRecord:
    return SlotRecord(
        name=row.name,
        scheduled_for=row.scheduled_for,
        status=SlotStatus(row.status),
        owner=row.owner,
        lease_until=row.lease_until,
        runs=int(row.runs),
        detail=row.detail,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )
