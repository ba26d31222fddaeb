"""Job functions, in arq's shape (``async def job(ctx, …)``), run by either runner.

``deliver`` is where the retry rules live, once for every channel: the ledger's status
guard claims the delivery, the item is rendered for the channel, the adapter publishes,
and the outcome is classified and committed. A social post whose outcome is unknown is
never re-sent here: it becomes ``unknown`` and the editors are told.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime, timedelta
from typing import Any

from channels.base import ChannelError, OutcomeUnknown, PermanentError, TransientError
from dispatcher.app import App
from dispatcher.ledger import Claim, content_from_row

log = logging.getLogger("pregonero.jobs")


def backoff(attempt: int, *, base: float, cap: float, retry_after: float | None = None) -> float:
    """Seconds to wait before attempt ``attempt + 1``: exponential with full jitter in
    [½·d, d], never less than what the service asked for."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    delay = random.uniform(delay / 2, delay)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


async def deliver(ctx: dict[str, Any], delivery_id: int, channel: str | None = None) -> str:
    """Send one delivery once. Returns its new status (``skipped`` if it was not sendable).

    ``channel`` saves a lookup when the caller already knows it (the runner does)."""
    app: App = ctx["app"]
    if channel is None:
        row = (await app.ledger.deliveries_by_id([delivery_id])).get(delivery_id)
        if row is None:
            return "skipped"
        channel = str(row["channel"])
    mode = app.mode(channel)
    adapter = app.adapter(channel)
    idempotent = mode == "outbox" or bool(getattr(adapter, "idempotent", False))
    claim = await app.ledger.claim(delivery_id, idempotent=idempotent, mode=mode)
    if claim is None:
        return "skipped"
    try:
        post = await _render(app, claim)
    except Exception as exc:  # RenderError or a broken template: nothing was sent
        reason = f"no se pudo preparar la publicación: {exc}"
        await app.ledger.finish(claim, status="failed", outcome="permanent", error=reason)
        await app.notify(f"❌ {claim.item_id} · {channel}: {reason}")
        return "failed"
    try:
        receipt = await asyncio.wait_for(adapter.publish(post), app.settings.delivery.timeout)
    except asyncio.CancelledError:
        # Shutdown mid-send: leave the row 'sending'; recovery decides on the next start.
        raise
    except Exception as exc:  # every outcome must reach the ledger
        return await _failed(app, claim, exc, idempotent)
    await app.ledger.finish(
        claim, status="sent", outcome="sent", remote_id=receipt.remote_id, url=receipt.url
    )
    log.info("publicado %s en %s (%s)", claim.item_id, channel, receipt.url or receipt.remote_id)
    return "sent"


async def _render(app: App, claim: Claim) -> Any:
    row = await app.ledger.get_item(claim.item_id)
    if row is None:
        raise LookupError(f"la pieza {claim.item_id} no está en el registro")
    item = content_from_row(row)
    url = None if claim.channel == "website" else row["url"]
    remote_id = None
    if claim.action == "update":
        remote_id = await app.ledger.previous_remote_id(
            claim.item_id, claim.channel, claim.revision
        )
    return app.renderer.render(
        item, claim.channel, url=url, revision=claim.revision, remote_id=remote_id
    )


async def _failed(app: App, claim: Claim, exc: BaseException, idempotent: bool) -> str:
    settings = app.settings.delivery
    where = f"{claim.item_id} · {claim.channel}"
    if isinstance(exc, TimeoutError):
        exc = OutcomeUnknown(f"sin respuesta en {settings.timeout:.0f} s")
    if isinstance(exc, PermanentError):
        await app.ledger.finish(claim, status="failed", outcome="permanent", error=exc.reason)
        await app.notify(f"❌ {where}: falló sin remedio: {exc.reason}")
        return "failed"
    if isinstance(exc, ChannelError):
        reason = exc.reason
        retry_after = exc.retry_after if isinstance(exc, TransientError) else None
        unknown = isinstance(exc, OutcomeUnknown)
    else:
        log.error("error inesperado en %s", where, exc_info=exc)
        reason = f"error inesperado: {type(exc).__name__}"
        retry_after, unknown = None, True
    if unknown and not idempotent:
        await app.ledger.finish(claim, status="unknown", outcome="unknown", error=reason)
        await app.notify(
            f"⚠️ {where}: resultado desconocido ({reason}). No se reenvía solo: revise la red "
            f"social y use 'pregonero retry {claim.item_id} --channel {claim.channel}' si no salió."
        )
        return "unknown"
    if claim.attempt_number >= settings.max_attempts:
        error = f"{reason} (se agotaron {settings.max_attempts} intentos)"
        await app.ledger.finish(claim, status="failed", outcome="transient", error=error)
        await app.notify(f"❌ {where}: {error}")
        return "failed"
    delay = backoff(
        claim.attempt_number,
        base=settings.backoff_base,
        cap=settings.backoff_max,
        retry_after=retry_after,
    )
    retry_at: datetime = app.clock() + timedelta(seconds=delay)
    await app.ledger.finish(
        claim,
        status="retry_wait",
        outcome="transient",
        error=reason,
        retry_at=retry_at,
        retry_after=retry_after,
    )
    log.info("reintento de %s en %.1f s: %s", where, delay, reason)
    return "retry_wait"
