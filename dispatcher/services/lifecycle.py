"""What editors do to an item after intake, beyond approvals: cancel what has not gone out.
Shared by the CLI, the bot and the desk, so each says the same thing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dispatcher.ledger.store import CancelResult

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
