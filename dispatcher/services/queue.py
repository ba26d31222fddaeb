"""The editors' queue at a glance (the web desk's ``/escritorio``): what waits for
approval, what is scheduled or about to go out, what went out today, what failed and
what ended with an unknown outcome."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import TYPE_CHECKING

from dispatcher.ledger import queries
from dispatcher.ledger.queries import DeliveryView, ItemView
from dispatcher.ledger.types import DeliveryStatus, ItemStatus

if TYPE_CHECKING:
    from dispatcher.services.context import App


@dataclass(frozen=True)
class QueueEntry:
    """An item in one group, with the channels that put it there."""

    item: ItemView
    channels: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    scheduled: bool = False


@dataclass
class DeskQueue:
    waiting: list[QueueEntry] = field(default_factory=list)
    scheduled: list[QueueEntry] = field(default_factory=list)
    sent_today: list[QueueEntry] = field(default_factory=list)
    failed: list[QueueEntry] = field(default_factory=list)
    unknown: list[QueueEntry] = field(default_factory=list)

    def groups(self) -> list[tuple[str, str, list[QueueEntry]]]:
        """(key, Spanish title, entries) in the order the desk shows them."""
        return [
            ("espera", "Esperan aprobación", self.waiting),
            ("programadas", "Programadas y por salir", self.scheduled),
            ("enviadas", "Enviadas hoy", self.sent_today),
            ("fallidas", "Fallidas", self.failed),
            ("desconocidas", "Resultado desconocido", self.unknown),
        ]


def _by_item(rows: list[DeliveryView], status: DeliveryStatus) -> dict[str, list[DeliveryView]]:
    found: dict[str, list[DeliveryView]] = defaultdict(list)
    for row in rows:
        if row.status is status:
            found[row.item_id].append(row)
    return found


async def desk_queue(app: App) -> DeskQueue:
    """The queue now, in the plan's time zone for "today"."""
    now = app.clock()
    queue = DeskQueue()
    open_items = await queries.open_items(app.ledger)
    open_rows = await queries.deliveries_of(app.ledger, [i.id for i in open_items])
    open_channels: dict[str, list[str]] = defaultdict(list)
    for row in open_rows:
        if row.status in (DeliveryStatus.PENDING, DeliveryStatus.RETRY_WAIT):
            open_channels[row.item_id].append(row.channel)
    for item in open_items:
        entry = QueueEntry(
            item,
            tuple(dict.fromkeys(open_channels[item.id])),
            scheduled=item.scheduled_after(now),
        )
        if item.status is ItemStatus.AWAITING_APPROVAL:
            queue.waiting.append(entry)
        else:
            queue.scheduled.append(entry)
    queue.scheduled.sort(key=lambda e: e.item.publish_at or e.item.created_at)

    local = now.astimezone(app.settings.tz)
    midnight = datetime.combine(local.date(), time(0), tzinfo=app.settings.tz)
    sent_items = await queries.sent_since(app.ledger, midnight)
    sent_rows = await queries.deliveries_of(app.ledger, [i.id for i in sent_items])
    sent = _by_item(
        [r for r in sent_rows if r.sent_at and r.sent_at >= midnight], DeliveryStatus.SENT
    )
    queue.sent_today = [
        QueueEntry(i, tuple(dict.fromkeys(r.channel for r in sent[i.id]))) for i in sent_items
    ]

    attention = await queries.needing_attention(app.ledger)
    for status, target in (
        (DeliveryStatus.FAILED, queue.failed),
        (DeliveryStatus.UNKNOWN, queue.unknown),
    ):
        rows = _by_item(attention, status)
        for item_id, found in rows.items():
            item = await queries.item_view(app.ledger, item_id)
            target.append(
                QueueEntry(
                    item,
                    tuple(dict.fromkeys(r.channel for r in found)),
                    tuple(r.last_error or "" for r in found),
                )
            )
    return queue
