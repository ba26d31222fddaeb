"""What the bot tells editors, in Spanish: the queue (``/cola``), the daily summary, and
finding an item from what an editor typed (the whole id or a unique piece of it).

Read-only queries on the ledger's tables; every time is shown in the settings' zone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.engine import RowMapping

from dispatcher.ledger.schema import deliveries, items
from dispatcher.ledger.store import OPEN
from dispatcher.services.approvals import needed_approvals
from dispatcher.services.context import App
from dispatcher.services.status import STATE_ES

LIST_LIMIT = 25
STATE_ICON = {
    "pending": "⏳",
    "sending": "📤",
    "sent": "✅",
    "failed": "❌",
    "retry_wait": "🔁",
    "unknown": "⚠️",
    "cancelled": "🚫",
}


def local(app: App, moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(app.settings.tz).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class Lookup:
    """An item found from an editor's text: ``row``, or the ``candidates`` when ambiguous."""

    row: RowMapping | None
    candidates: tuple[str, ...] = ()


async def find_item(app: App, text: str) -> Lookup:
    """The item whose id is ``text``, or the only recent one whose id contains it."""
    wanted = text.strip().lower()
    if not wanted:
        return Lookup(None)
    row = await app.ledger.get_item(wanted)
    if row is not None:
        return Lookup(row)
    async with app.ledger.engine.connect() as conn:
        found = list(
            (
                await conn.execute(
                    select(items)
                    .where(items.c.id.contains(wanted, autoescape=True))
                    .order_by(items.c.created_at.desc())
                    .limit(10)
                )
            ).mappings()
        )
    if len(found) == 1:
        return Lookup(found[0])
    return Lookup(None, tuple(r["id"] for r in found))


def not_found(text: str, lookup: Lookup) -> str:
    if lookup.candidates:
        listed = "\n".join(f"• {c}" for c in lookup.candidates)
        return f"«{text}» coincide con varias piezas; escriba el id completo:\n{listed}"
    return f"No encuentro la pieza «{text}». Vea /cola o /estado."


async def _open_items(app: App) -> tuple[list[RowMapping], dict[str, list[RowMapping]]]:
    """Items awaiting approval or with something left to send, and their deliveries."""
    has_open = (
        select(deliveries.c.id)
        .where(deliveries.c.item_id == items.c.id, deliveries.c.status.in_(OPEN))
        .exists()
    )
    query = (
        select(items)
        .where((items.c.status == "awaiting_approval") | and_(items.c.status == "ready", has_open))
        .order_by(items.c.created_at)
    )
    async with app.ledger.engine.connect() as conn:
        rows = list((await conn.execute(query)).mappings())
    by_item: dict[str, list[RowMapping]] = defaultdict(list)
    for d in await app.ledger.deliveries_for([r["id"] for r in rows]):
        by_item[d["item_id"]].append(d)
    return rows, by_item


def _channels(rows: list[RowMapping]) -> str:
    latest: dict[str, RowMapping] = {}
    for d in rows:
        latest[d["channel"]] = d
    return " ".join(f"{c} {STATE_ICON.get(d['status'], d['status'])}" for c, d in latest.items())


def _section(
    title: str,
    rows: list[RowMapping],
    by_item: dict[str, list[RowMapping]],
    detail: Callable[[RowMapping], str] = lambda row: "",
) -> list[str]:
    if not rows:
        return []
    lines = [f"{title} ({len(rows)}):"]
    for row in rows[:LIST_LIMIT]:
        lines.append(f"• {row['id']} — {row['title']}{detail(row)}")
        lines.append(f"   {_channels(by_item[row['id']])}")
    if len(rows) > LIST_LIMIT:
        lines.append(f"… y {len(rows) - LIST_LIMIT} más.")
    return lines


async def queue_report(app: App) -> str:
    """``/cola``: awaiting approval, scheduled for later, and pending now."""
    now = app.clock()
    rows, by_item = await _open_items(app)
    if not rows:
        return "La cola está vacía: no hay piezas pendientes, programadas ni por aprobar."
    waiting = [r for r in rows if r["status"] == "awaiting_approval"]
    ready = [r for r in rows if r["status"] == "ready"]
    scheduled = sorted(
        (r for r in ready if r["publish_at"] is not None and r["publish_at"] > now),
        key=lambda r: r["publish_at"],
    )
    pending = [r for r in ready if r not in scheduled]

    def needs(row: RowMapping) -> str:
        return f" · necesita {needed_approvals(app, row['kind']) or 1} aprobación(es)"

    def when(row: RowMapping) -> str:
        return f" · sale el {local(app, row['publish_at'])}"

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
    end = start + timedelta(days=1)
    async with app.ledger.engine.connect() as conn:
        received = await conn.scalar(
            select(func.count())
            .select_from(items)
            .where(items.c.created_at >= start, items.c.created_at < end)
        )
        sent = (
            await conn.execute(
                select(deliveries.c.channel, func.count())
                .where(deliveries.c.sent_at >= start, deliveries.c.sent_at < end)
                .group_by(deliveries.c.channel)
                .order_by(deliveries.c.channel)
            )
        ).all()
    attention = await app.ledger.needing_attention()
    rows, _ = await _open_items(app)
    waiting = [r for r in rows if r["status"] == "awaiting_approval"]
    scheduled = [
        r for r in rows if r["status"] == "ready" and r["publish_at"] and r["publish_at"] > now
    ]
    lines = [f"📋 Resumen del {day:%d/%m/%Y}", f"Piezas recibidas hoy: {received or 0}"]
    if sent:
        lines.append("Publicado hoy: " + ", ".join(f"{c} {n}" for c, n in sent))
    else:
        lines.append("Hoy no se publicó nada.")
    if attention:
        lines.append(f"Requieren atención ({len(attention)}):")
        for d in attention[:10]:
            lines.append(f"• {d['item_id']} · {d['channel']}: {STATE_ES[d['status']]}")
    if waiting:
        lines.append(f"Esperan aprobación: {', '.join(r['id'] for r in waiting[:10])}")
    if scheduled:
        first = min(scheduled, key=lambda r: r["publish_at"])
        lines.append(
            f"Programadas: {len(scheduled)} (la próxima, {first['id']}, el {local(app, first['publish_at'])})"
        )
    return "\n".join(lines)
