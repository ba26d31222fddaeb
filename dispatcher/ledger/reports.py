"""Aggregates over time, for reports: what went out by the item's date (the plan report),
what a day brought (the editors' daily summary), and the daily bulletin mailing's days.

An item's day is its ``date:`` (``items.item_date``), never the time the dispatcher
happened to process or send it: examples of November taken in during December still
count for November.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select

from dispatcher.ledger.schema import deliveries, items, mail_campaigns, mail_digest
from dispatcher.ledger.store import Ledger
from dispatcher.ledger.types import DeliveryAction, DeliveryStatus, ItemStatus

DIGEST_CAMPAIGN = "digest"


@dataclass(frozen=True)
class Publication:
    """An item that went out on at least one channel (the early call aside), on its day."""

    item_id: str
    kind: str
    title: str
    url: str | None
    day: date


@dataclass(frozen=True)
class DayActivity:
    """What a day brought: items received, and deliveries sent per channel."""

    received: int
    sent: tuple[tuple[str, int], ...]  # (channel, count), by channel


@dataclass(frozen=True)
class BulletinDays:
    """Days of the daily bulletin mailing: with bulletins recorded for the digest, and
    with a bulletin campaign."""

    recorded: frozenset[date]
    sent: frozenset[date]


async def publications(ledger: Ledger, since: date, until: date) -> list[Publication]:
    """Items dated ``since`` ≤ date < ``until`` of which some delivery (not the early
    call) was sent, by day and id."""
    sent = (
        select(deliveries.c.id)
        .where(
            deliveries.c.item_id == items.c.id,
            deliveries.c.status == DeliveryStatus.SENT,
            deliveries.c.action != DeliveryAction.EARLY,
        )
        .exists()
    )
    query = (
        select(items.c.id, items.c.kind, items.c.title, items.c.url, items.c.item_date)
        .where(items.c.item_date >= since, items.c.item_date < until, sent)
        .order_by(items.c.item_date, items.c.id)
    )
    async with ledger.engine.connect() as conn:
        rows = await conn.execute(query)
        return [Publication(r.id, r.kind, r.title, r.url, r.item_date) for r in rows]


async def day_activity(ledger: Ledger, start: datetime, end: datetime) -> DayActivity:
    """Items received and deliveries sent (per channel) with ``start`` ≤ time < ``end``."""
    async with ledger.engine.connect() as conn:
        received = await conn.scalar(
            select(func.count())
            .select_from(items)
            .where(items.c.created_at >= start, items.c.created_at < end)
        )
        sent = await conn.execute(
            select(deliveries.c.channel, func.count())
            .where(deliveries.c.sent_at >= start, deliveries.c.sent_at < end)
            .group_by(deliveries.c.channel)
            .order_by(deliveries.c.channel)
        )
        by_channel = tuple((str(channel), int(n)) for channel, n in sent)
    return DayActivity(int(received or 0), by_channel)


async def digest_waiting(ledger: Ledger, day: date) -> int:
    """Items recorded for a bulletin up to ``day`` that no bulletin has taken yet (cancelled
    items aside)."""
    async with ledger.engine.connect() as conn:
        count = await conn.scalar(
            select(func.count())
            .select_from(mail_digest.join(items, items.c.id == mail_digest.c.item_id))
            .where(mail_digest.c.day <= day, mail_digest.c.bulletin_day.is_(None))
            .where(items.c.status != ItemStatus.CANCELLED)
        )
    return int(count or 0)


async def bulletin_days(ledger: Ledger, first: date, last: date) -> BulletinDays:
    """Days from ``first`` to ``last`` (inclusive) with bulletins recorded for the daily
    digest, and with a digest campaign."""
    async with ledger.engine.connect() as conn:
        recorded = await conn.execute(
            select(mail_digest.c.day).where(mail_digest.c.day.between(first, last)).distinct()
        )
        wanted = frozenset(recorded.scalars())
        campaigns = await conn.execute(
            select(mail_campaigns.c.day)
            .where(
                mail_campaigns.c.kind == DIGEST_CAMPAIGN,
                mail_campaigns.c.day.between(first, last),
            )
            .distinct()
        )
        sent = frozenset(campaigns.scalars())
    return BulletinDays(wanted, sent)
