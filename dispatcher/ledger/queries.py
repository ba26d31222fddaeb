"""Read models of items and their deliveries, for the people-facing interfaces (the bot's
``/cola``, ``/vista``, ``/estado``; the daily summary; the web desk's queue, piece pages and
calendar).

Read-only: every function returns frozen records with the ledger's enums, and a missing
item raises :class:`~dispatcher.ledger.types.NotFound`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, select

from dispatcher.items.model import ContentItem
from dispatcher.ledger.schema import deliveries, items, revisions
from dispatcher.ledger.store import Ledger, content_from_row
from dispatcher.ledger.types import (
    NEEDS_ATTENTION,
    OPEN,
    DeliveryAction,
    DeliveryStatus,
    ItemStatus,
    NotFound,
    RevisionOutcome,
)

FIND_LIMIT = 10
ATTENTION_LIMIT = 50


@dataclass(frozen=True)
class ItemView:
    """What an interface shows of an item (not its text: see :func:`item_content`)."""

    id: str
    kind: str
    title: str
    status: ItemStatus
    revision: int
    publish_at: datetime | None
    item_date: date
    url: str | None
    created_at: datetime

    def scheduled_after(self, now: datetime) -> bool:
        """Whether its embargo (``publish_at``) is still ahead at ``now``."""
        return self.publish_at is not None and self.publish_at > now


@dataclass(frozen=True)
class DeliveryView:
    """One delivery of an item to a channel, as the interfaces show it."""

    id: int
    item_id: str
    channel: str
    revision: int
    action: DeliveryAction
    status: DeliveryStatus
    last_error: str | None
    updated_at: datetime
    sent_at: datetime | None


_ITEM_COLUMNS = (
    items.c.id,
    items.c.kind,
    items.c.title,
    items.c.status,
    items.c.revision,
    items.c.publish_at,
    items.c.item_date,
    items.c.url,
    items.c.created_at,
)
_DELIVERY_COLUMNS = (
    deliveries.c.id,
    deliveries.c.item_id,
    deliveries.c.channel,
    deliveries.c.revision,
    deliveries.c.action,
    deliveries.c.status,
    deliveries.c.last_error,
    deliveries.c.updated_at,
    deliveries.c.sent_at,
)


async def item_view(ledger: Ledger, item_id: str) -> ItemView:
    """The item ``item_id``; raises :class:`NotFound`."""
    async with ledger.engine.connect() as conn:
        row = (await conn.execute(select(*_ITEM_COLUMNS).where(items.c.id == item_id))).first()
    if row is None:
        raise NotFound("pieza", item_id)
    return _item(row)


async def find_items(ledger: Ledger, text: str, limit: int = FIND_LIMIT) -> list[ItemView]:
    """The item whose id is ``text`` exactly; else the most recent ones (at most ``limit``)
    whose id contains it (``%`` and ``_`` are taken literally). Empty text finds nothing."""
    wanted = text.strip().lower()
    if not wanted:
        return []
    async with ledger.engine.connect() as conn:
        exact = (await conn.execute(select(*_ITEM_COLUMNS).where(items.c.id == wanted))).first()
        if exact is not None:
            return [_item(exact)]
        rows = await conn.execute(
            select(*_ITEM_COLUMNS)
            .where(items.c.id.contains(wanted, autoescape=True))
            .order_by(items.c.created_at.desc())
            .limit(limit)
        )
        return [_item(row) for row in rows]


async def item_content(ledger: Ledger, item_id: str) -> ContentItem:
    """The item's latest revision as a :class:`ContentItem` (media in its archive folder);
    raises :class:`NotFound`."""
    async with ledger.engine.connect() as conn:
        row = (await conn.execute(select(items).where(items.c.id == item_id))).mappings().first()
    if row is None:
        raise NotFound("pieza", item_id)
    return content_from_row(row)


async def deliveries_of(ledger: Ledger, item_ids: Iterable[str]) -> list[DeliveryView]:
    """The deliveries of the given items, by item, revision and creation."""
    ids = list(item_ids)
    if not ids:
        return []
    async with ledger.engine.connect() as conn:
        rows = await conn.execute(
            select(*_DELIVERY_COLUMNS)
            .where(deliveries.c.item_id.in_(ids))
            .order_by(deliveries.c.item_id, deliveries.c.revision, deliveries.c.id)
        )
        return [_delivery(row) for row in rows]


# The item (of the enclosing query) has a delivery still to send.
_HAS_OPEN = (
    select(deliveries.c.id)
    .where(deliveries.c.item_id == items.c.id, deliveries.c.status.in_(OPEN))
    .exists()
)


async def open_items(ledger: Ledger) -> list[ItemView]:
    """Items that wait for approval, or are ready with something left to send, oldest
    first (the editors' queue)."""
    query = (
        select(*_ITEM_COLUMNS)
        .where(
            (items.c.status == ItemStatus.AWAITING_APPROVAL)
            | and_(items.c.status == ItemStatus.READY, _HAS_OPEN)
        )
        .order_by(items.c.created_at)
    )
    async with ledger.engine.connect() as conn:
        return [_item(row) for row in await conn.execute(query)]


async def needing_attention(ledger: Ledger, limit: int = ATTENTION_LIMIT) -> list[DeliveryView]:
    """Deliveries that ended ``failed`` or ``unknown``, most recent first."""
    async with ledger.engine.connect() as conn:
        rows = await conn.execute(
            select(*_DELIVERY_COLUMNS)
            .where(deliveries.c.status.in_(NEEDS_ATTENTION))
            .order_by(deliveries.c.updated_at.desc())
            .limit(limit)
        )
        return [_delivery(row) for row in rows]


def _item(row: Any) -> ItemView:
    return ItemView(
        id=row.id,
        kind=row.kind,
        title=row.title,
        status=ItemStatus(row.status),
        revision=int(row.revision),
        publish_at=row.publish_at,
        item_date=row.item_date,
        url=row.url,
        created_at=row.created_at,
    )


def _delivery(row: Any) -> DeliveryView:
    return DeliveryView(
        id=int(row.id),
        item_id=row.item_id,
        channel=row.channel,
        revision=int(row.revision),
        action=DeliveryAction(row.action),
        status=DeliveryStatus(row.status),
        last_error=row.last_error,
        updated_at=row.updated_at,
        sent_at=row.sent_at,
    )


@dataclass(frozen=True)
class RevisionView:
    """One file received for an item: a new item, a correction or a duplicate."""

    revision: int
    outcome: RevisionOutcome
    received_at: datetime


async def revisions_of(ledger: Ledger, item_id: str) -> list[RevisionView]:
    """Every file received for the item, oldest first."""
    async with ledger.engine.connect() as conn:
        rows = await conn.execute(
            select(revisions.c.revision, revisions.c.outcome, revisions.c.received_at)
            .where(revisions.c.item_id == item_id)
            .order_by(revisions.c.id)
        )
        return [
            RevisionView(int(r.revision), RevisionOutcome(r.outcome), r.received_at) for r in rows
        ]


async def sent_since(ledger: Ledger, since: datetime) -> list[ItemView]:
    """Items with a delivery sent at or after ``since``, most recently sent first."""
    last_sent = func.max(deliveries.c.sent_at)
    query = (
        select(*_ITEM_COLUMNS)
        .join(deliveries, deliveries.c.item_id == items.c.id)
        .where(deliveries.c.status == DeliveryStatus.SENT, deliveries.c.sent_at >= since)
        .group_by(*_ITEM_COLUMNS)
        .order_by(last_sent.desc())
    )
    async with ledger.engine.connect() as conn:
        return [_item(row) for row in await conn.execute(query)]


async def scheduled_between(ledger: Ledger, start: datetime, end: datetime) -> list[ItemView]:
    """Items not cancelled nor withdrawn with something left to send and ``publish_at`` in
    ``[start, end)``, by ``publish_at``."""
    query = (
        select(*_ITEM_COLUMNS)
        .where(
            items.c.status.in_((ItemStatus.READY, ItemStatus.AWAITING_APPROVAL)),
            items.c.publish_at >= start,
            items.c.publish_at < end,
            _HAS_OPEN,
        )
        .order_by(items.c.publish_at, items.c.id)
    )
    async with ledger.engine.connect() as conn:
        return [_item(row) for row in await conn.execute(query)]
