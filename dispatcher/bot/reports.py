"""What the bot tells editors, in Spanish: the queue (``/cola``), the daily summary, and
finding an item from what an editor typed (the whole id or a unique piece of it).

The data come from the ledger's read models (:mod:`dispatcher.ledger.queries`,
:mod:`dispatcher.ledger.reports`); every time is shown in the settings' zone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from dispatcher.items.localtime import local_time
from dispatcher.ledger import queries, reports
from dispatcher.ledger.queries import DeliveryView, ItemView
from dispatcher.ledger.types import DeliveryStatus, ItemStatus
from dispatcher.services.approvals import needed_approvals
from dispatcher.services.context import App
from dispatcher.services.status import STATE_ES

LIST_LIMIT = 25
STATE_ICON: dict[DeliveryStatus, str] = {
    DeliveryStatus.PENDING: "⏳",
    DeliveryStatus.SENDING: "📤",
    DeliveryStatus.SENT: "✅",
    DeliveryStatus.FAILED: "❌",
    DeliveryStatus.RETRY_WAIT: "🔁",
    DeliveryStatus.UNKNOWN: "⚠️",
    DeliveryStatus.CANCELLED: "🚫",
    DeliveryStatus.WAITING_BULLETIN: "📨",
}


def local(app: App, moment: datetime | None) -> str:
    return local_time(moment, app.settings.tz)


@dataclass(frozen=True)
class Lookup:
    """An item found from an editor's text: ``item``, or the ``candidates`` when ambiguous."""

    item: ItemView | None
    candidates: tuple[str, ...] = ()


async def find_item(app: App, text: str) -> Lookup:
    """The item whose id is ``text``, or the only recent one whose id contains it."""
    found = await queries.find_items(app.ledger, text)
    if len(found) == 1:
        return Lookup(found[0])
    return Lookup(None, tuple(item.id for item in found))


def not_found(text: str, lookup: Lookup) -> str:
    if lookup.candidates:
        listed = "\n".join(f"• {c}" for c in lookup.candidates)
        return f"«{text}» coincide con varias piezas; escriba el id completo:\n{listed}"
    return f"No encuentro la pieza «{text}». Vea /cola o /estado."


async def _open_items(app: App) -> tuple[list[ItemView], dict[str, list[DeliveryView]]]:
    """Items awaiting approval or with something left to send, and their deliveries."""
    found = await queries.open_items(app.ledger)
    by_item: dict[str, list[DeliveryView]] = defaultdict(list)
    for d in await queries.deliveries_of(app.ledger, [item.id for item in found]):
        by_item[d.item_id].append(d)
    return found, by_item


def _channels(rows: list[DeliveryView]) -> str:
    latest: dict[str, DeliveryView] = {}
    for d in rows:
        latest[d.channel] = d
    return " ".join(f"{c} {STATE_ICON.get(d.status, d.status)}" for c, d in latest.items())


def _section(
    title: str,
    found: list[ItemView],
    by_item: dict[str, list[DeliveryView]],
    detail: Callable[[ItemView], str] = lambda item: "",
) -> list[str]:
    if not found:
        return []
    lines = [f"{title} ({len(found)}):"]
    for item in found[:LIST_LIMIT]:
        lines.append(f"• {item.id} — {item.title}{detail(item)}")
        lines.append(f"   {_channels(by_item[item.id])}")
    if len(found) > LIST_LIMIT:
        lines.append(f"… y {len(found) - LIST_LIMIT} más.")
    return lines


def _scheduled(found: list[ItemView], now: datetime) -> list[ItemView]:
    """Ready items whose embargo is still ahead, soonest first."""
    ahead = [i for i in found if i.status is ItemStatus.READY and i.scheduled_after(now)]
    return sorted(ahead, key=lambda i: i.publish_at or now)


async def queue_report(app: App) -> str:
    """``/cola``: awaiting approval, scheduled for later, and pending now."""
    now = app.clock()
    found, by_item = await _open_items(app)
    if not found:
        return "La cola está vacía: no hay piezas pendientes, programadas ni por aprobar."
    waiting = [i for i in found if i.status is ItemStatus.AWAITING_APPROVAL]
    scheduled = _scheduled(found, now)
    pending = [i for i in found if i.status is ItemStatus.READY and i not in scheduled]

    def needs(item: ItemView) -> str:
        return f" · necesita {needed_approvals(app, item.kind) or 1} aprobación(es)"

    def when(item: ItemView) -> str:
        return f" · sale el {local(app, item.publish_at)}"

    lines: list[str] = []
    for block in (
        _section("🖊 Esperan aprobación (/publicar ID)", waiting, by_item, needs),
        _section("🗓 Programadas", scheduled, by_item, when),
        _section("⏳ Pendientes de envío", pending, by_item),
    ):
        if block:
            lines += [*block, ""]
    return "\n".join(lines).strip()


async def daily_summary(app: App, now: datetime | None = None) -> str:
    """The evening summary: what arrived and went out today, what needs attention."""
    now = now or app.clock()
    tz = app.settings.tz
    day = now.astimezone(tz).date()
    start = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    activity = await reports.day_activity(app.ledger, start, start + timedelta(days=1))
    attention = await queries.needing_attention(app.ledger)
    found, _ = await _open_items(app)
    waiting = [i for i in found if i.status is ItemStatus.AWAITING_APPROVAL]
    scheduled = _scheduled(found, now)
    lines = [f"📋 Resumen del {day:%d/%m/%Y}", f"Piezas recibidas hoy: {activity.received}"]
    if activity.sent:
        lines.append("Publicado hoy: " + ", ".join(f"{c} {n}" for c, n in activity.sent))
    else:
        lines.append("Hoy no se publicó nada.")
    if attention:
        lines.append(f"Requieren atención ({len(attention)}):")
        for d in attention[:10]:
            lines.append(f"• {d.item_id} · {d.channel}: {STATE_ES[d.status]}")
    if waiting:
        lines.append(f"Esperan aprobación: {', '.join(i.id for i in waiting[:10])}")
    if scheduled:
        first = scheduled[0]
        lines.append(
            f"Programadas: {len(scheduled)} "
            f"(la próxima, {first.id}, el {local(app, first.publish_at)})"
        )
    return "\n".join(lines)
