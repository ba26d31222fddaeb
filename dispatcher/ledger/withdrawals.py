"""Withdrawals in the ledger: taking a published item down from every channel.

A withdrawal is requested with a reason (an ``approvals`` row, action ``withdraw``, the
reason in ``detail``). At once every delivery of the item that has not gone out is
cancelled. When the item's kind needs no approval — or once enough distinct editors
approved the withdrawal (action ``approve_withdraw``) — the item becomes ``withdrawn`` and
gets one ``withdraw`` delivery per channel that carried it (sent, or unknown: it may be
out), each with its own attempts like any delivery. A sent e-mail cannot be taken back, so
the mailing is among them only for an item with an ``event`` (a press call): its delivery
sends the cancellation of the calendar invitation (``METHOD:CANCEL``) to those invited.

Every step runs in one transaction that first locks the item's row, like approvals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.ledger.approvals import Editor, _locked_item, _record
from dispatcher.ledger.schema import approvals, deliveries, utcnow
from dispatcher.ledger.schema import items as items_table
from dispatcher.ledger.store import carried, stop_unsent
from dispatcher.ledger.types import (
    ApprovalAction,
    DeliveryAction,
    DeliveryStatus,
    ItemStatus,
    Via,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import RowMapping

    from dispatcher.ledger.store import Ledger

UNRECALLABLE = frozenset({"mailing"})  # a sent e-mail cannot be taken back...


def _recallable(channel: str, row: RowMapping) -> bool:
    """...but a press call's invitation can be cancelled (``METHOD:CANCEL``)."""
    if channel not in UNRECALLABLE:
        return True
    event = json.loads(row["front_matter"]).get("event") or {}
    return channel == "mailing" and bool(event.get("starts_at"))


Outcome = Literal[
    "withdrawn",  # the item is withdrawn: its withdraw deliveries take it down
    "pending",  # recorded; waits for the approvals its kind needs
    "recorded",  # an approval of a pending withdrawal recorded, more editors needed
    "already",  # this editor had already approved it / the item was already withdrawn
    "none_pending",  # nothing to approve: no withdrawal was requested
]


@dataclass(frozen=True)
class Withdrawal:
    """A withdrawal requested for an item."""

    item_id: str
    reason: str
    requested_by: str
    requested_at: datetime
    done: bool
    approvers: tuple[str, ...] = ()


@dataclass(frozen=True)
class WithdrawResult:
    """What a request or an approval did."""

    outcome: Outcome
    cancelled: int = 0
    channels: tuple[str, ...] = ()
    approvers: tuple[str, ...] = ()
    unrecalled: tuple[str, ...] = ()


async def request(
    ledger: Ledger, item_id: str, reason: str, editor: Editor, via: Via, *, needed: int
) -> WithdrawResult:
    """Record a withdrawal of the item; with ``needed == 0`` it takes effect at once.
    Raises :class:`~dispatcher.ledger.types.NotFound`."""
    async with _locked_item(ledger, item_id) as (conn, row):
        if row["status"] == ItemStatus.WITHDRAWN:
            return WithdrawResult("already")
        cancelled = await stop_unsent(conn, item_id, utcnow(), "cancelada: la pieza se retira")
        await _record(conn, row, ApprovalAction.WITHDRAW, editor, via, reason)
        if needed > 0:
            return WithdrawResult("pending", cancelled)
        channels, unrecalled = await _take_down(conn, row)
        return WithdrawResult("withdrawn", cancelled, channels, unrecalled=unrecalled)


async def approve(
    ledger: Ledger, item_id: str, editor: Editor, via: Via, *, needed: int
) -> WithdrawResult:
    """Approve the item's pending withdrawal; it takes effect once ``needed`` distinct
    editors approved it. Raises :class:`~dispatcher.ledger.types.NotFound`."""
    async with _locked_item(ledger, item_id) as (conn, row):
        if row["status"] == ItemStatus.WITHDRAWN:
            return WithdrawResult("already")
        pending = await _latest_request(conn, item_id)
        if pending is None:
            return WithdrawResult("none_pending")
        found = await _approvers(conn, item_id, int(pending["id"]))
        if editor.key in found:
            return WithdrawResult("already", approvers=tuple(found.values()))
        await _record(conn, row, ApprovalAction.APPROVE_WITHDRAW, editor, via)
        found[editor.key] = editor.shown
        names = tuple(found.values())
        if len(found) < needed:
            return WithdrawResult("recorded", approvers=names)
        channels, unrecalled = await _take_down(conn, row)
        return WithdrawResult("withdrawn", 0, channels, names, unrecalled)


async def find(ledger: Ledger, item_id: str) -> Withdrawal | None:
    """The item's latest withdrawal request, done or pending (``None``: never requested)."""
    async with ledger.engine.connect() as conn:
        status = await conn.scalar(select(items_table.c.status).where(items_table.c.id == item_id))
        latest = await _latest_request(conn, item_id)
        if latest is None:
            return None
        found = await _approvers(conn, item_id, int(latest["id"]))
    return Withdrawal(
        item_id=item_id,
        reason=str(latest["detail"] or ""),
        requested_by=str(latest["editor_name"]),
        requested_at=latest["created_at"],
        done=status == ItemStatus.WITHDRAWN,
        approvers=tuple(found.values()),
    )


async def _take_down(
    conn: AsyncConnection, row: RowMapping
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The item becomes ``withdrawn``; one ``withdraw`` delivery per channel that carried it.
    Returns (channels to take down, channels that cannot be recalled)."""
    now = utcnow()
    item_id = row["id"]
    names = await carried(
        conn,
        item_id,
        early=True,
        actions=(DeliveryAction.PUBLISH, DeliveryAction.UPDATE, DeliveryAction.EARLY),
    )
    channels = tuple(c for c in names if _recallable(c, row))
    unrecalled = tuple(c for c in names if not _recallable(c, row))
    await conn.execute(
        update(items_table)
        .where(items_table.c.id == item_id)
        .values(status=ItemStatus.WITHDRAWN, updated_at=now)
    )
    if channels:
        await conn.execute(
            insert(deliveries),
            [
                {
                    "item_id": item_id,
                    "channel": channel,
                    "revision": row["revision"],
                    "action": DeliveryAction.WITHDRAW,
                    "status": DeliveryStatus.PENDING,
                    "attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for channel in channels
            ],
        )
    return channels, unrecalled


async def _latest_request(conn: AsyncConnection, item_id: str) -> RowMapping | None:
    result = await conn.execute(
        select(approvals)
        .where(approvals.c.item_id == item_id, approvals.c.action == ApprovalAction.WITHDRAW)
        .order_by(approvals.c.id.desc())
        .limit(1)
    )
    return result.mappings().first()


async def _approvers(conn: AsyncConnection, item_id: str, since_id: int) -> dict[str, str]:
    """editor key → name, for the approvals of the withdrawal requested in row ``since_id``."""
    rows = await conn.execute(
        select(approvals.c.editor_key, approvals.c.editor_name)
        .where(
            approvals.c.item_id == item_id,
            approvals.c.action == ApprovalAction.APPROVE_WITHDRAW,
            approvals.c.id > since_id,
        )
        .order_by(approvals.c.id)
    )
    found: dict[str, str] = {}
    for key, name in rows:
        found.setdefault(key, name)
    return found
