"""Taking back deliveries after a crash or a lost worker (see :meth:`Ledger.recover`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from dispatcher.ledger.leases import RUN_ROLE, owner_id

if TYPE_CHECKING:
    from dispatcher.services.context import App

log = logging.getLogger("pregonero")


def run_owner() -> str:
    """The owner of this host's in-process runner's claims (stable across restarts, so a
    restarted ``run`` takes back its own deliveries at once)."""
    return owner_id(RUN_ROLE, per_process=False)


async def recover(app: App, owner: str | None) -> dict[str, int]:
    """Take back deliveries nobody holds any more (expired lease, or ``owner``'s own after
    a restart) and tell the editors about the ones whose outcome is now unknown."""
    result = await app.ledger.recover(owner)
    if result["unknown"]:
        await app.notify(
            f"⚠️ {result['unknown']} entrega(s) quedaron a medio enviar al detenerse el proceso: "
            "su resultado es desconocido y no se reenvían solas (vea 'pregonero status')."
        )
    if result["pending"]:
        log.info("%d entrega(s) idempotentes se reanudan tras la parada", result["pending"])
    return result
