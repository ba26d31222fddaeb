"""Editorial decisions on an item, shared by the bot, the desk and the CLI (``approve``).

- :func:`approve` records one editor's approval of an item that waits for it (kinds with
  ``approval: required``). Approvals count per revision: a correction that arrives while the
  item still waits needs its approvals again. When the plan's ``approvers`` distinct editors
  have approved the current revision, the item becomes ``ready``.
- :func:`release` ends the embargo of a scheduled item now: ``publish_at`` becomes the moment
  of release (not ``NULL``), so every channel shows when it really went out.
- :func:`schedule` sets a new ``publish_at`` for what is left to send.
- :func:`publish` is ``/publicar``: approve when the item waits for approval, else release
  it when it is scheduled.

The decisions themselves (locking, counting, recording) live in
:mod:`dispatcher.ledger.approvals`; this module adds the plan (how many approvers a kind
needs), who the approver is (:func:`dispatcher.services.editors.identify`: a registered
editor is one person whether they approve by bot, desk or CLI) and the Spanish wording.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from dispatcher.items.localtime import local_time
from dispatcher.ledger import approvals as ledger_approvals
from dispatcher.ledger.approvals import Approval, Decision, Outcome
from dispatcher.ledger.schema import utcnow
from dispatcher.ledger.types import ApprovalAction, ItemStatus, Via
from dispatcher.services.editors import identify

if TYPE_CHECKING:
    from dispatcher.ledger.store import Ledger
    from dispatcher.services.context import App

CHANGED = ("approved", "recorded", "released", "scheduled")
ACTION_ES = {
    "approve": "aprobó",
    "release": "liberó (publicar ya)",
    "schedule": "programó",
    "withdraw": "pidió retirarla",
    "approve_withdraw": "aprobó el retiro",
}


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


def needed_approvals(app: App, kind: str) -> int:
    """How many distinct editors must approve ``kind`` (0 when it needs no approval)."""
    plan = app.plan.kinds.get(kind)
    if plan is None or plan.approval != "required":
        return 0
    return plan.approvers


def _result(item_id: str, decision: Decision, needed: int = 0) -> ApprovalResult:
    return ApprovalResult(
        item_id=item_id,
        outcome=decision.outcome,
        status=decision.status,
        needed=needed,
        approvers=decision.approvers,
        publish_at=decision.publish_at,
    )


async def approve(
    app: App,
    item_id: str,
    editor_id: int | None,
    editor_name: str,
    via: str,
    *,
    username: str | None = None,
) -> ApprovalResult:
    """Record an approval; the item becomes ``ready`` once enough distinct editors approved
    its current revision. Raises :class:`~dispatcher.ledger.types.NotFound`."""
    item = await app.ledger.item(item_id)
    needed = needed_approvals(app, item.kind) or 1
    editor = await identify(app.ledger, editor_id, editor_name, username)
    decision = await ledger_approvals.approve(app.ledger, item_id, editor, Via(via), needed=needed)
    return _result(item_id, decision, needed)


async def release(
    app: App,
    item_id: str,
    editor_id: int | None,
    editor_name: str,
    via: str,
) -> ApprovalResult:
    """End the embargo of a ready item scheduled for later: it goes out now."""
    editor = await identify(app.ledger, editor_id, editor_name)
    decision = await ledger_approvals.release(
        app.ledger, item_id, editor, Via(via), now=app.clock()
    )
    return _result(item_id, decision)


async def schedule(
    app: App,
    item_id: str,
    when: datetime,
    editor_id: int | None,
    editor_name: str,
    via: str,
    *,
    username: str | None = None,
) -> ApprovalResult:
    """Set ``publish_at`` of what is left to send (approval, if needed, is still needed)."""
    editor = await identify(app.ledger, editor_id, editor_name, username)
    decision = await ledger_approvals.schedule(app.ledger, item_id, when, editor, Via(via))
    return _result(item_id, decision)


async def publish(
    app: App,
    item_id: str,
    editor_id: int | None,
    editor_name: str,
    via: str,
) -> ApprovalResult:
    """``/publicar``: approve an item that waits for approval; release a scheduled one."""
    item = await app.ledger.item(item_id)
    if item.status is ItemStatus.AWAITING_APPROVAL:
        return await approve(app, item_id, editor_id, editor_name, via)
    return await release(app, item_id, editor_id, editor_name, via)


async def approved_enough(app: App, item_id: str) -> bool:
    """Whether the item's current revision has the approvals its kind needs."""
    item = await app.ledger.get_item(item_id)
    if item is None:
        return True
    needed = needed_approvals(app, item.kind)
    if not needed:
        return True
    return (
        len(_current_approvers(await approvals_for(app.ledger, item_id), item.revision)) >= needed
    )


def _current_approvers(recorded: list[Approval], revision: int) -> set[str]:
    return {
        a.editor_key
        for a in recorded
        if a.action is ApprovalAction.APPROVE and a.revision == revision
    }


async def retry(app: App, item_id: str, channel: str | None) -> tuple[list[str], bool]:
    """``Ledger.retry`` for the CLI and the bot; a cancelled item that never got its
    approvals goes back to waiting for them. Returns (channels, still awaiting approval)."""
    item = await app.ledger.item(item_id)
    touched = await app.ledger.retry(item_id, channel)
    waiting = False
    if touched and item.status is ItemStatus.CANCELLED and not await approved_enough(app, item_id):
        await app.ledger.set_item_status(item_id, ItemStatus.AWAITING_APPROVAL)
        waiting = True
    return touched, waiting


async def approvals_for(ledger: Ledger, item_id: str) -> list[Approval]:
    """Every decision recorded for the item, oldest first."""
    return await ledger_approvals.approvals_for(ledger, item_id)


async def approval_lines(app: App, item_id: str) -> list[str]:
    """Lines for ``pregonero status ID`` and ``/estado``: approvals needed and every
    decision recorded (empty when the kind needs none and nobody decided anything)."""
    item = await app.ledger.get_item(item_id)
    if item is None:
        return []
    needed = needed_approvals(app, item.kind)
    recorded = await approvals_for(app.ledger, item_id)
    if not needed and not recorded:
        return []
    tz = app.settings.tz
    current = _current_approvers(recorded, item.revision)
    head = "  aprobaciones:"
    if needed:
        head = f"  aprobaciones: {len(current)} de {needed} (revisión {item.revision})"
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


_local = local_time
