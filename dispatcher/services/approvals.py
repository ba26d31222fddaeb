"""Editorial decisions on an item, shared by the bot and the CLI (``pregonero approve``).

- :func:`approve` records one editor's approval of an item that waits for it (kinds with
  ``approval: required``). Approvals count per revision: a correction that arrives while the
  item still waits needs its approvals again. When the plan's ``approvers`` distinct editors
  have approved the current revision, the item becomes ``ready``.
- :func:`release` ends the embargo of a scheduled item now: ``publish_at`` becomes the moment
  of release (not ``NULL``), so every channel shows when it really went out.
- :func:`schedule` sets a new ``publish_at`` for what is left to send.
- :func:`publish` is ``/publicar``: approve when the item waits for approval, else release
  it when it is scheduled.

Each decision runs in one transaction that first locks the item's row (a no-op ``UPDATE``:
a row lock on PostgreSQL, the write lock on SQLite), so two editors approving at the same
moment are counted one after the other. Every decision is kept in ``approvals``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.ledger.schema import APPROVAL_VIA as VIA
from dispatcher.ledger.schema import approvals, deliveries, items, utcnow
from dispatcher.ledger.store import OPEN

if TYPE_CHECKING:
    from dispatcher.ledger.store import Ledger
    from dispatcher.services.context import App

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
CHANGED = ("approved", "recorded", "released", "scheduled")
ACTION_ES = {"approve": "aprobó", "release": "liberó (publicar ya)", "schedule": "programó"}


@dataclass(frozen=True)
class Approval:
    """One recorded decision (``action``: approve, release or schedule)."""

    action: str
    editor_id: int | None
    editor_name: str
    via: str
    revision: int
    at: datetime
    detail: str | None = None


@dataclass(frozen=True)
class ApprovalResult:
    """What a decision did; :meth:`message` says it in Spanish."""

    item_id: str
    outcome: Outcome
    status: str
    needed: int = 0
    approvers: tuple[str, ...] = ()
    publish_at: datetime | None = None

    @property
    def changed(self) -> bool:
        return self.outcome in CHANGED

    @property
    def missing(self) -> int:
        return max(0, self.needed - len(self.approvers))

    def message(self, tz: ZoneInfo, now: datetime | None = None) -> str:
        who = ", ".join(self.approvers)
        later = self.publish_at is not None and self.publish_at > (now or utcnow())
        when = f"saldrá el {_local(self.publish_at, tz)} (programada)" if later else "sale ya"
        count = f"{len(self.approvers)} de {self.needed}"
        more = f"falta la aprobación de {self.missing} editor(es) distinto(s)"
        texts: dict[str, str] = {
            "approved": f"✅ {self.item_id}: aprobada por {who}. Queda lista: {when}.",
            "recorded": f"📝 {self.item_id}: aprobación registrada ({count}); {more}.",
            "already": f"{self.item_id}: usted ya la había aprobado ({count}); {more}.",
            "released": f"🚀 {self.item_id}: se publica ya (se adelantó la fecha programada).",
            "scheduled": f"🗓 {self.item_id}: programada para el {_local(self.publish_at, tz)}.",
            "not_awaiting": f"{self.item_id} no espera aprobación (ya está lista).",
            "not_scheduled": f"{self.item_id} ya está lista y no tiene fecha futura: sale en cuanto se pueda.",
            "nothing_open": f"{self.item_id}: no queda nada por enviar; no se cambió la fecha.",
            "cancelled": f"{self.item_id} está cancelada: primero hay que reanudarla (reintentar).",
        }
        return texts[self.outcome]


def editor_key(editor_id: int | None, editor_name: str) -> str:
    """Who counts as the same approver: the Telegram user id, else the name."""
    if editor_id is not None:
        return f"tg:{editor_id}"
    return "name:" + " ".join(editor_name.split()).casefold()


def needed_approvals(app: App, kind: str) -> int:
    """How many distinct editors must approve ``kind`` (0 when it needs no approval)."""
    plan = app.plan.kinds.get(kind)
    if plan is None or plan.approval != "required":
        return 0
    return plan.approvers


@contextlib.asynccontextmanager
async def _locked_item(
    ledger: Ledger, item_id: str
) -> AsyncIterator[tuple[AsyncConnection, RowMapping]]:
    async with ledger.engine.begin() as conn:
        lock = await conn.execute(
            update(items).where(items.c.id == item_id).values(updated_at=items.c.updated_at)
        )
        if not lock.rowcount:
            raise KeyError(item_id)
        row = (await conn.execute(select(items).where(items.c.id == item_id))).mappings().one()
        yield conn, row


async def _record(
    conn: AsyncConnection,
    row: RowMapping,
    action: str,
    editor_id: int | None,
    editor_name: str,
    via: str,
    detail: str | None = None,
) -> None:
    if via not in VIA:
        raise ValueError(f"via desconocido: {via!r}")
    await conn.execute(
        insert(approvals).values(
            item_id=row["id"],
            revision=row["revision"],
            action=action,
            editor_key=editor_key(editor_id, editor_name),
            editor_id=editor_id,
            editor_name=" ".join(editor_name.split()) or "(sin nombre)",
            via=via,
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
            approvals.c.action == "approve",
        )
        .order_by(approvals.c.id)
    )
    found: dict[str, str] = {}
    for key, name in rows:
        found.setdefault(key, name)
    return found


async def approve(
    app: App, item_id: str, editor_id: int | None, editor_name: str, via: str
) -> ApprovalResult:
    """Record an approval; the item becomes ``ready`` once enough distinct editors approved
    its current revision. Raises ``KeyError`` for an unknown item."""
    async with _locked_item(app.ledger, item_id) as (conn, row):
        needed = needed_approvals(app, row["kind"]) or 1
        base = {"item_id": item_id, "needed": needed, "publish_at": row["publish_at"]}
        if row["status"] == "cancelled":
            return ApprovalResult(outcome="cancelled", status="cancelled", **base)
        if row["status"] != "awaiting_approval":
            return ApprovalResult(outcome="not_awaiting", status=row["status"], **base)
        found = await _approvers(conn, item_id, row["revision"])
        key = editor_key(editor_id, editor_name)
        if key in found:
            names = tuple(found.values())
            return ApprovalResult(outcome="already", status=row["status"], approvers=names, **base)
        await _record(conn, row, "approve", editor_id, editor_name, via)
        found[key] = " ".join(editor_name.split()) or "(sin nombre)"
        names = tuple(found.values())
        if len(found) < needed:
            return ApprovalResult(outcome="recorded", status=row["status"], approvers=names, **base)
        await conn.execute(
            update(items).where(items.c.id == item_id).values(status="ready", updated_at=utcnow())
        )
        return ApprovalResult(outcome="approved", status="ready", approvers=names, **base)


async def release(
    app: App, item_id: str, editor_id: int | None, editor_name: str, via: str
) -> ApprovalResult:
    """End the embargo of a ready item scheduled for later: it goes out now."""
    now = app.clock()
    async with _locked_item(app.ledger, item_id) as (conn, row):
        base = {"item_id": item_id, "status": row["status"]}
        if row["status"] == "cancelled":
            return ApprovalResult(outcome="cancelled", publish_at=row["publish_at"], **base)
        if row["status"] != "ready" or row["publish_at"] is None or row["publish_at"] <= now:
            return ApprovalResult(outcome="not_scheduled", publish_at=row["publish_at"], **base)
        await conn.execute(
            update(items).where(items.c.id == item_id).values(publish_at=now, updated_at=now)
        )
        await _record(conn, row, "release", editor_id, editor_name, via, now.isoformat())
        return ApprovalResult(outcome="released", publish_at=now, **base)


async def schedule(
    app: App,
    item_id: str,
    when: datetime,
    editor_id: int | None,
    editor_name: str,
    via: str,
) -> ApprovalResult:
    """Set ``publish_at`` of what is left to send (approval, if needed, is still needed)."""
    if when.tzinfo is None:
        raise ValueError("naive datetime")
    async with _locked_item(app.ledger, item_id) as (conn, row):
        base = {"item_id": item_id, "status": row["status"]}
        if row["status"] == "cancelled":
            return ApprovalResult(outcome="cancelled", publish_at=row["publish_at"], **base)
        open_count = await conn.scalar(
            select(deliveries.c.id)
            .where(deliveries.c.item_id == item_id, deliveries.c.status.in_(OPEN))
            .limit(1)
        )
        if open_count is None:
            return ApprovalResult(outcome="nothing_open", publish_at=row["publish_at"], **base)
        await conn.execute(
            update(items).where(items.c.id == item_id).values(publish_at=when, updated_at=utcnow())
        )
        await _record(conn, row, "schedule", editor_id, editor_name, via, when.isoformat())
        return ApprovalResult(outcome="scheduled", publish_at=when, **base)


async def publish(
    app: App, item_id: str, editor_id: int | None, editor_name: str, via: str
) -> ApprovalResult:
    """``/publicar``: approve an item that waits for approval; release a scheduled one."""
    row = await app.ledger.get_item(item_id)
    if row is None:
        raise KeyError(item_id)
    if row["status"] == "awaiting_approval":
        return await approve(app, item_id, editor_id, editor_name, via)
    return await release(app, item_id, editor_id, editor_name, via)


async def approved_enough(app: App, item_id: str) -> bool:
    """Whether the item's current revision has the approvals its kind needs."""
    row = await app.ledger.get_item(item_id)
    if row is None:
        return True
    needed = needed_approvals(app, row["kind"])
    if not needed:
        return True
    recorded = await approvals_for(app.ledger, item_id)
    keys = {
        editor_key(a.editor_id, a.editor_name)
        for a in recorded
        if a.action == "approve" and a.revision == row["revision"]
    }
    return len(keys) >= needed


async def retry(app: App, item_id: str, channel: str | None) -> tuple[list[str], bool]:
    """``Ledger.retry`` for the CLI and the bot; a cancelled item that never got its
    approvals goes back to waiting for them. Returns (channels, still awaiting approval)."""
    row = await app.ledger.get_item(item_id)
    if row is None:
        raise KeyError(item_id)
    touched = await app.ledger.retry(item_id, channel)
    waiting = False
    if touched and row["status"] == "cancelled" and not await approved_enough(app, item_id):
        await app.ledger.set_item_status(item_id, "awaiting_approval")
        waiting = True
    return touched, waiting


async def approvals_for(ledger: Ledger, item_id: str) -> list[Approval]:
    """Every decision recorded for the item, oldest first."""
    async with ledger.engine.connect() as conn:
        rows = await conn.execute(
            select(approvals).where(approvals.c.item_id == item_id).order_by(approvals.c.id)
        )
        return [
            Approval(
                action=r["action"],
                editor_id=r["editor_id"],
                editor_name=r["editor_name"],
                via=r["via"],
                revision=r["revision"],
                at=r["created_at"],
                detail=r["detail"],
            )
            for r in rows.mappings()
        ]


async def approval_lines(app: App, item_id: str) -> list[str]:
    """Lines for ``pregonero status ID`` and ``/estado``: approvals needed and every
    decision recorded (empty when the kind needs none and nobody decided anything)."""
    row = await app.ledger.get_item(item_id)
    if row is None:
        return []
    needed = needed_approvals(app, row["kind"])
    recorded = await approvals_for(app.ledger, item_id)
    if not needed and not recorded:
        return []
    tz = app.settings.tz
    current = {
        editor_key(a.editor_id, a.editor_name)
        for a in recorded
        if a.action == "approve" and a.revision == row["revision"]
    }
    head = "  aprobaciones:"
    if needed:
        head = f"  aprobaciones: {len(current)} de {needed} (revisión {row['revision']})"
    lines = [head]
    for a in recorded:
        who = a.editor_name + (f" [{a.editor_id}]" if a.editor_id is not None else "")
        extra = ""
        if a.action == "schedule" and a.detail:
            extra = f" para el {_local(datetime.fromisoformat(a.detail), tz)}"
        lines.append(
            f"    {_local(a.at, tz)} {who} {ACTION_ES.get(a.action, a.action)}{extra}"
            f" · r{a.revision} · vía {a.via}"
        )
    return lines


def _local(moment: datetime | None, tz: ZoneInfo) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")
