"""What editors do to an item after intake, beyond approvals: cancel what has not gone out,
withdraw what went out. Shared by the CLI, the bot and the desk, so each says the same
thing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dispatcher.ledger import withdrawals
from dispatcher.ledger.store import CancelResult
from dispatcher.ledger.types import Via
from dispatcher.ledger.withdrawals import WithdrawResult
from dispatcher.services.approvals import needed_approvals
from dispatcher.services.editors import identify

if TYPE_CHECKING:
    from dispatcher.services.context import App


async def cancel(app: App, item_id: str) -> CancelResult:
    """Stop every delivery of the item that has not gone out (see :meth:`Ledger.cancel`).
    Raises :class:`~dispatcher.ledger.types.NotFound`."""
    return await app.ledger.cancel(item_id)


def cancel_text(item_id: str, result: CancelResult, *, resume: str) -> str:
    """The outcome in Spanish; ``resume`` is how this interface resumes an item (the
    command to write)."""
    out = ", ".join(result.published)
    if result.published and not result.cancelled:
        return (
            f"La pieza {item_id} ya salió ({out}): no queda nada por cancelar. "
            "Una corrección la actualiza; para quitarla de los canales hay que retirarla."
        )
    if result.published:
        return (
            f"{item_id}: {result.cancelled} entrega(s) pendiente(s) anulada(s); ya había salido "
            f"por {out} (eso no se cancela; las correcciones lo actualizan)."
        )
    return (
        f"🚫 {item_id} cancelada: {result.cancelled} entrega(s) pendiente(s) anulada(s). "
        f"Para reanudarla: {resume}"
    )


async def withdraw(
    app: App,
    item_id: str,
    reason: str,
    *,
    editor_id: int | None,
    editor_name: str,
    via: str,
    username: str | None = None,
) -> tuple[WithdrawResult, int]:
    """Take a published item down everywhere (``pregonero withdraw``, ``/retirar``); the
    result, and how many approvals the withdrawal needs (``withdraw_text``'s ``needed``).

    What has not gone out is cancelled at once. When the item's kind requires approval the
    withdrawal waits, recorded, until as many distinct editors as publishing needs approve
    it (``approve ID``, ``/publicar ID``); otherwise the item is ``withdrawn`` now and a
    ``withdraw`` delivery per channel that carried it takes it down. Raises
    :class:`~dispatcher.ledger.types.NotFound`; :class:`ValueError` for an empty reason."""
    reason = " ".join(reason.split())
    if len(reason) < 3:
        raise ValueError("hay que decir el motivo del retiro (al menos 3 caracteres)")
    item = await app.ledger.item(item_id)
    needed = needed_approvals(app, item.kind)
    editor = await identify(app.ledger, editor_id, editor_name, username)
    result = await withdrawals.request(app.ledger, item_id, reason, editor, Via(via), needed=needed)
    return result, needed


async def approve_withdrawal(
    app: App,
    item_id: str,
    editor_id: int | None,
    editor_name: str,
    via: str,
    *,
    username: str | None = None,
) -> WithdrawResult | None:
    """Count an editor's approval toward the item's pending withdrawal; ``None`` when no
    withdrawal is pending (the approval is then an ordinary one)."""
    pending = await withdrawals.find(app.ledger, item_id)
    if pending is None or pending.done:
        return None
    item = await app.ledger.item(item_id)
    needed = needed_approvals(app, item.kind) or 1
    editor = await identify(app.ledger, editor_id, editor_name, username)
    return await withdrawals.approve(app.ledger, item_id, editor, Via(via), needed=needed)


def withdraw_text(item_id: str, result: WithdrawResult, *, approve: str, needed: int = 0) -> str:
    """The outcome of a withdrawal request or approval in Spanish; ``approve`` is how this
    interface approves (the command to write)."""
    stopped = f" {result.cancelled} entrega(s) pendiente(s) anulada(s)." if result.cancelled else ""
    if result.outcome == "already" and not result.approvers:
        return f"La pieza {item_id} ya estaba retirada."
    if result.outcome == "already":
        return f"Usted ya aprobó el retiro de {item_id}; falta(n) otro(s) editor(es)."
    if result.outcome == "pending":
        return (
            f"⏳ Retiro de {item_id} registrado; espera la aprobación de {needed} editor(es) "
            f"({approve}).{stopped}"
        )
    if result.outcome == "recorded":
        return f"Aprobación del retiro de {item_id} registrada ({', '.join(result.approvers)})."
    if result.outcome == "none_pending":
        return f"La pieza {item_id} no tiene un retiro pendiente."
    where = ", ".join(result.channels) or "ningún canal la había publicado"
    text = f"🗑️ {item_id} retirada: se quita de {where}.{stopped}"
    if result.unrecalled:
        text += f" Lo enviado por {', '.join(result.unrecalled)} no se puede recoger."
    return text
