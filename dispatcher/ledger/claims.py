"""A campaign shared by several processes: recipients claimed in batches.

On PostgreSQL any number of processes (``pregonero worker`` on several machines, a ``mail
send`` beside them) send one campaign together. Each takes batches of open recipients with
``SELECT … FOR UPDATE SKIP LOCKED`` and stamps them ``claimed_by`` itself with a lease
(``claimed_until``) that its journal renews while it sends (see :mod:`journal`). A row is
claimable when it is open and nobody holds it: never claimed, lease past, or its holder is
a process of this machine that no longer exists (:func:`leases.owner_alive`). So with no
process dying each recipient is sent once; when one dies, the rows it held come back to
the others, and only those it had marked ``sending`` (at most one per open connection) may
reach their reader twice.

A campaign being sent carries a fresh ``mail_campaigns.heartbeat`` (every sender beats it):
that is how other processes find a campaign to join (:func:`campaigns_being_sent`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update

from dispatcher.ledger.leases import expired
from dispatcher.ledger.mail import OpenRecipient
from dispatcher.ledger.schema import (
    OPEN_RECIPIENT,
    mail_campaigns,
    mail_recipients,
    subscribers,
    utcnow,
)
from dispatcher.ledger.store import Ledger
from dispatcher.ledger.types import RecipientStatus, SubscriberStatus

_r, _s = mail_recipients, subscribers


@dataclass(frozen=True)
class Claimed:
    """A batch taken by one sender; ``resent`` rows were ``sending`` (a dead holder's
    messages in flight: they may arrive twice)."""

    rows: list[OpenRecipient]
    resent: int = 0


def shared_campaigns(ledger: Ledger) -> bool:
    """Whether this ledger lets several processes share a campaign (PostgreSQL: row locks
    with SKIP LOCKED); SQLite keeps one sender per campaign under its lease."""
    return ledger.engine.url.get_backend_name() == "postgresql"


async def claim_recipients(
    ledger: Ledger, campaign_id: int, owner: str, *, limit: int, lease: float
) -> Claimed:
    """Take up to ``limit`` unheld open recipients of the campaign for ``owner`` (lowest
    ids first), leased for ``lease`` seconds."""
    now = utcnow()
    picked = (
        select(_r.c.id)
        .where(
            _r.c.campaign_id == campaign_id,
            _r.c.status.in_(OPEN_RECIPIENT),
            expired(_r.c.claimed_until, now),
        )
        .order_by(_r.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    async with ledger.engine.begin() as conn:
        taken = (
            await conn.execute(
                update(_r)
                .where(_r.c.id.in_(picked.scalar_subquery()))
                .values(claimed_by=owner, claimed_until=now + timedelta(seconds=lease))
                .returning(_r.c.id, _r.c.status)
            )
        ).all()
        if not taken:
            return Claimed([])
        rows = (
            await conn.execute(
                select(_r.c.id, _r.c.subscriber_id, _r.c.attempts, _s.c.email, _s.c.status)
                .join(_s, _s.c.id == _r.c.subscriber_id)
                .where(_r.c.id.in_([row.id for row in taken]))
                .order_by(_r.c.id)
            )
        ).all()
    resent = sum(1 for row in taken if row.status == RecipientStatus.SENDING.value)
    return Claimed(
        [
            OpenRecipient(r.id, r.subscriber_id, r.attempts, r.email, SubscriberStatus(r.status))
            for r in rows
        ],
        resent,
    )


async def held_elsewhere(
    ledger: Ledger, campaign_id: int, owner: str, *, alive: Callable[[str], bool]
) -> tuple[int, int]:
    """(open recipients of the campaign that other live holders still lease, rows
    released): claims of holders ``alive`` says are gone (a process of this machine that
    was killed) are released, so the caller can claim them at once."""
    now = utcnow()
    held = (
        _r.c.campaign_id == campaign_id,
        _r.c.status.in_(OPEN_RECIPIENT),
        _r.c.claimed_by.is_not(None),
        _r.c.claimed_by != owner,
        _r.c.claimed_until >= now,
    )
    async with ledger.engine.begin() as conn:
        counted = await conn.execute(
            select(_r.c.claimed_by, func.count()).where(*held).group_by(_r.c.claimed_by)
        )
        holders: dict[str, int] = {str(holder): int(n) for holder, n in counted.all()}
        dead = [holder for holder in holders if not alive(holder)]
        if dead:
            await conn.execute(
                update(_r).where(*held, _r.c.claimed_by.in_(dead)).values(claimed_until=None)
            )
    live = sum(n for holder, n in holders.items() if holder not in dead)
    return live, sum(holders[holder] for holder in dead)


async def release_claims(ledger: Ledger, campaign_id: int, owner: str) -> int:
    """A run that ends hands back the open rows it still holds (unsent: a stopped run's
    queue, a recipient whose connection dropped), so others need not wait for the lease.
    Returns how many."""
    async with ledger.engine.begin() as conn:
        done = await conn.execute(
            update(_r)
            .where(_r.c.campaign_id == campaign_id, _r.c.claimed_by == owner)
            .where(_r.c.status.in_(OPEN_RECIPIENT))
            .values(claimed_until=None)
        )
        return int(done.rowcount or 0)


async def beat_shared(ledger: Ledger, campaign_id: int) -> None:
    """Say the campaign is being sent (``status`` sending, a fresh heartbeat), so that
    other processes may join it."""
    async with ledger.engine.begin() as conn:
        await conn.execute(
            update(mail_campaigns)
            .where(mail_campaigns.c.id == campaign_id)
            .values(status="sending", heartbeat=utcnow())
        )


async def campaigns_being_sent(ledger: Ledger, *, fresh: float) -> list[int]:
    """Campaigns some process is sending now (heartbeat younger than ``fresh`` seconds)."""
    since = utcnow() - timedelta(seconds=fresh)
    async with ledger.engine.connect() as conn:
        rows = await conn.execute(
            select(mail_campaigns.c.id)
            .where(mail_campaigns.c.status == "sending", mail_campaigns.c.heartbeat > since)
            .order_by(mail_campaigns.c.id)
        )
        return [int(i) for i in rows.scalars()]
