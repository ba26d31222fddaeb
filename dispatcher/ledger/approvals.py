"""Editorial decisions in the ledger: approvals (counted per revision and per person),
releases (``/publicar`` of a scheduled item) and schedules (``/programar``).

Each decision runs in one transaction that first locks the item's row (a no-op ``UPDATE``:
a row lock on PostgreSQL, the write lock on SQLite), so two editors approving at the same
moment are counted one after the other. Every decision is kept in ``approvals``, never
updated or deleted. The wording of outcomes is the services' business
(:mod:`dispatcher.services.approvals`); this module only says what happened.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from sqlalchemy import insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.ledger.schema import approvals, deliveries, items, utcnow
from dispatcher.ledger.types import OPEN, ApprovalAction, ItemStatus, NotFound, Via

if TYPE_CHECKING:
    from dispatcher.ledger.store import Ledger

Outcome = Literal[
    "approved",  # this approval completed the count: the item is ready
    "recorded",  # approval recorded, more distinct editors needed
    "already",  # this editor had already approved this revision
    "released",  # embargo ended now
    "scheduled",  # new publish_at set
    "not_awaiting",  # nothing to approve: the item does not wait for approval
    "not_scheduled",  # nothing to release: the item is not scheduled for later
    "nothing_open",  # nothing left to send
    "cancelled",  # the item is cancelled
]


@dataclass(frozen=True)
class Editor:
    """Who decided. ``key`` identifies the person across the bot, the desk and the CLI:
    the username of a registered editor (``pregonero editors add``), else the Telegram user
    id when known, else the normalised name. Registered editors are recognised by
    :func:`dispatcher.services.editors.identify`, which fills ``username``."""

    id: int | None
    name: str
    username: str | None = None

    @property
    def key(self) -> str:
        return editor_key(self.id, self.name, self.username)

    @property
    def shown(self) -> str:
        return " ".join(self.name.split()) or "(sin nombre)"


@dataclass(frozen=True)
class Approval:
    """One recorded decision."""

    action: ApprovalAction
    editor_id: int | None
    editor_name: str
    via: Via
    revision: int
    at: datetime
    detail: str | None = None
    key: str = ""
    """The person as counted (``ed:``/``tg:``/``name:``), as recorded."""

    @property
    def editor_key(self) -> str:
        return self.key or editor_key(self.editor_id, self.editor_name)

    @property
    def username(self) -> str | None:
        """The registered editor's username, when a registered editor decided."""
        return self.key[3:] if self.key.startswith("ed:") else None


@dataclass(frozen=True)
class Decision:
    """What a decision did to the item."""

    outcome: Outcome
    status: ItemStatus
    revision: int
    approvers: tuple[str, ...] = ()
    publish_at: datetime | None = None


def editor_key(editor_id: int | None, editor_name: str, username: str | None = None) -> str:
    """Who counts as the same approver: the registered editor's username, else the
    Telegram user id, else the name."""
    if username:
        return f"ed:{username}"
    if editor_id is not None:
        return f"tg:{editor_id}"
    return "name:" + " ".join(editor_name.split()).casefold()


@contextlib.asynccontextmanager
async def _locked_item(
    ledger: Ledger, item_id: str
) -> AsyncIterator[tuple[AsyncConnection, RowMapping]]:
    async with ledger.engine.begin() as conn:
        lock = await conn.execute(
            update(items).where(items.c.id == item_id).values(updated_at=items.c.updated_at)
        )
        if not lock.rowcount:
            raise NotFound("pieza", item_id)
        row = (await conn.execute(select(items).where(items.c.id == item_id))).mappings().one()
        yield conn, row


async def _record(
    conn: AsyncConnection,
    row: RowMapping,
    action: ApprovalAction,
    editor: Editor,
    via: Via,
    detail: str | None = None,
) -> None:
    await conn.execute(
        insert(approvals).values(
            item_id=row["id"],
            revision=row["revision"],
            action=action,
            editor_key=editor.key,
            editor_id=editor.id,
            editor_name=editor.shown,
            via=Via(via),
            detail=detail,
            created_at=utcnow(),
        )
    )


async def _approvers(conn: AsyncConnection, item_id: str, revision: int) -> dict[str, str]:
    """editor key → name, for the approvals of ``revision`` (first approval of each editor)."""
    rows = await conn.execute(
        select(approvals.c.editor_key, approvals.c.editor_name)
        .where(
            approvals.c.item_id == item_id,
            approvals.c.revision == revision,
            approvals.c.action == ApprovalAction.APPROVE,
        )
        .order_by(approvals.c.id)
    )
    found: dict[str, str] = {}
    for key, name in rows:
        found.setdefault(key, name)
    return found


async def approve(
    ledger: Ledger, item_id: str, editor: Editor, via: Via, *, needed: int
) -> Decision:
    """Record an approval of the item's current revision; the item becomes ``ready`` once
    ``needed`` distinct editors approved that revision. Raises :class:`NotFound`."""
    async with _locked_item(ledger, item_id) as (conn, row):
        status, revision = ItemStatus(row["status"]), int(row["revision"])
        base = {"revision": revision, "publish_at": row["publish_at"]}
        if status is ItemStatus.CANCELLED:
            return Decision("cancelled", status, **base)
        if status is not ItemStatus.AWAITING_APPROVAL:
            return Decision("not_awaiting", status, **base)
        found = await _approvers(conn, item_id, revision)
        if editor.key in found:
            return Decision("already", status, approvers=tuple(found.values()), **base)
        await _record(conn, row, ApprovalAction.APPROVE, editor, via)
        found[editor.key] = editor.shown
        names = tuple(found.values())
        if len(found) < needed:
            return Decision("recorded", status, approvers=names, **base)
        await conn.execute(
            update(items)
            .where(items.c.id == item_id)
            .values(status=ItemStatus.READY, updated_at=utcnow())
        )
        return Decision("approved", ItemStatus.READY, approvers=names, **base)


async def release(
    ledger: Ledger, item_id: str, editor: Editor, via: Via, *, now: datetime
) -> Decision:
    """End the embargo of a ready item scheduled for later: ``publish_at`` becomes ``now``
    (not ``NULL``), so every channel shows when it really went out."""
    async with _locked_item(ledger, item_id) as (conn, row):
        status, revision = ItemStatus(row["status"]), int(row["revision"])
        if status is ItemStatus.CANCELLED:
            return Decision("cancelled", status, revision, publish_at=row["publish_at"])
        publish_at = row["publish_at"]
        if status is not ItemStatus.READY or publish_at is None or publish_at <= now:
            return Decision("not_scheduled", status, revision, publish_at=publish_at)
        await conn.execute(
            update(items).where(items.c.id == item_id).values(publish_at=now, updated_at=now)
        )
        await _record(conn, row, ApprovalAction.RELEASE, editor, via, now.isoformat())
        return Decision("released", status, revision, publish_at=now)


async def schedule(
    ledger: Ledger, item_id: str, when: datetime, editor: Editor, via: Via
) -> Decision:
    """Set ``publish_at`` of what is left to send (approval, if needed, is still needed)."""
    if when.tzinfo is None:
        raise ValueError("naive datetime")
    async with _locked_item(ledger, item_id) as (conn, row):
        status, revision = ItemStatus(row["status"]), int(row["revision"])
        if status is ItemStatus.CANCELLED:
            return Decision("cancelled", status, revision, publish_at=row["publish_at"])
        open_one = await conn.scalar(
            select(deliveries.c.id)
            .where(deliveries.c.item_id == item_id, deliveries.c.status.in_(OPEN))
            .limit(1)
        )
        if open_one is None:
            return Decision("nothing_open", status, revision, publish_at=row["publish_at"])
        await conn.execute(
            update(items).where(items.c.id == item_id).values(publish_at=when, updated_at=utcnow())
        )
        await _record(conn, row, ApprovalAction.SCHEDULE, editor, via, when.isoformat())
        return Decision("scheduled", status, revision, publish_at=when)


async def approvals_for(ledger: Ledger, item_id: str) -> list[Approval]:
    """Every decision recorded for the item, oldest first."""
    async with ledger.engine.connect() as conn:
        rows = await conn.execute(
            select(approvals).where(approvals.c.item_id == item_id).order_by(approvals.c.id)
        )
        return [
            Approval(
                action=ApprovalAction(r["action"]),
                editor_id=r["editor_id"],
                editor_name=r["editor_name"],
                via=Via(r["via"]),
                revision=r["revision"],
                at=r["created_at"],
                detail=r["detail"],
                key=r["editor_key"],
            )
            for r in rows.mappings()
        ]
