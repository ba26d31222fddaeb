"""Job functions, in arq's shape (``async def job(ctx, …)``), run by either runner.

``deliver`` is where the retry rules live, once for every channel: the ledger's status
guard claims the delivery, the item is rendered for the channel, the adapter publishes
(or, for a ``correction``, updates the post it already carries; for a ``withdraw``, takes
it down), and the outcome is classified and committed. A social post whose outcome is unknown is
never re-sent here: it becomes ``unknown`` and the editors are told.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from channels.base import (
    Adapter,
    ChannelError,
    OutcomeUnknown,
    PermanentError,
    Post,
    Receipt,
    TransientError,
    Updatable,
    Withdrawable,
)
from dispatcher.ledger.leases import kept_alive, lease_seconds, lease_until, renew_every
from dispatcher.ledger.store import Claim
from dispatcher.ledger.types import DeliveryAction
from dispatcher.services.context import App
from dispatcher.services.delivery import receipts as lifecycle_receipts
from dispatcher.services.delivery.backoff import backoff

log = logging.getLogger("pregonero.jobs")


def publish_timeout(app: App, channel: str) -> float | None:
    """How long one publish may take on ``channel``: an adapter that bounds its own work (a
    resumable mail campaign) says so with ``publish_timeout = None``; everything else gets
    ``PREGONERO_DELIVERY__TIMEOUT``."""
    default = app.settings.delivery.timeout
    value = getattr(app.adapter(channel), "publish_timeout", default)
    return None if value is None else float(value)


async def deliver(ctx: dict[str, Any], delivery_id: int, channel: str | None = None) -> str:
    """Send one delivery once. Returns its new status (``skipped`` if it was not sendable
    or not due yet — a queued job that runs early sends nothing).

    ``channel`` saves a lookup when the caller already knows it (the runner does).
    ``ctx["worker_id"]``, when present, is the owner recorded with the claim's lease."""
    app: App = ctx["app"]
    row = None
    if channel is None:
        row = (await app.ledger.deliveries_by_id([delivery_id])).get(delivery_id)
        if row is None:
            return "skipped"
        channel = str(row.channel)
    mode = app.mode(channel)
    adapter = app.adapter(channel)
    idempotent = mode == "outbox" or bool(getattr(adapter, "idempotent", False))
    if not idempotent:  # a correction or a withdrawal may be, where a publication is not
        if row is None:
            row = (await app.ledger.deliveries_by_id([delivery_id])).get(delivery_id)
        action = DeliveryAction(row.action) if row is not None else DeliveryAction.PUBLISH
        idempotent = _idempotent(adapter, action)
    timeout = publish_timeout(app, channel)
    lease = lease_seconds(timeout, app.settings.delivery.timeout)
    claim = await app.ledger.claim(
        delivery_id,
        idempotent=idempotent,
        mode=mode,
        owner=ctx.get("worker_id"),
        lease_until=lease_until(lease),
        due_at=app.clock(),
    )
    if claim is None:
        return "skipped"
    try:
        send = await _prepare(app, claim, adapter)
    except Exception as exc:  # RenderError, a broken template, no receipt: nothing was sent
        reason = exc.reason if isinstance(exc, ChannelError) else str(exc)
        reason = f"no se pudo preparar {_WHAT.get(claim.action, 'la publicación')}: {reason}"
        await app.ledger.finish(claim, status="failed", outcome="permanent", error=reason)
        await app.notify(f"❌ {claim.item_id} · {channel}: {reason}")
        return "failed"
    try:
        receipt = await _publish(app, claim, send, timeout, lease)
    except asyncio.CancelledError:
        # Shutdown mid-send: leave the row 'sending'; recovery decides on the next start.
        raise
    except Exception as exc:  # every outcome must reach the ledger
        return await _failed(app, claim, exc, idempotent)
    if receipt.detail.get("waiting_bulletin") is True:
        # A digest mailing only joined the day's bulletin: nothing has left yet. The
        # delivery waits (handled, not open) until the bulletin leaves; the bulletin
        # then records it sent or failed (dispatcher/services/mailing/bulletin.py).
        await app.ledger.finish(
            claim, status="waiting_bulletin", outcome="sent", remote_id=receipt.remote_id,
            url=receipt.url,
        )  # fmt: skip
        return "waiting_bulletin"
    await app.ledger.finish(
        claim, status="sent", outcome="sent", remote_id=receipt.remote_id, url=receipt.url
    )
    done = _DONE.get(claim.action, "publicado")
    log.info("%s %s en %s (%s)", done, claim.item_id, channel, receipt.url or receipt.remote_id)
    return "sent"


_WHAT = {"correction": "la corrección", "withdraw": "el retiro"}
_DONE = {"correction": "corregido", "withdraw": "retirado"}
Send = Callable[[], Awaitable[Receipt]]


def _idempotent(adapter: Adapter, action: DeliveryAction) -> bool:
    """Whether sending this delivery twice is harmless: a withdrawal always is (what is
    already gone counts as gone); a correction when the channel edits in place (not X's
    reply); a publication when the adapter says so."""
    if action is DeliveryAction.WITHDRAW:
        return True
    if action is DeliveryAction.CORRECTION:
        return isinstance(adapter, Updatable) and bool(adapter.update_idempotent)
    return bool(getattr(adapter, "idempotent", False))


async def _prepare(app: App, claim: Claim, adapter: Adapter) -> Send:
    """The one call this delivery makes to the adapter, ready to run."""
    if claim.action == DeliveryAction.WITHDRAW:
        if not isinstance(adapter, Withdrawable):
            raise PermanentError(f"el canal {claim.channel} no permite retirar publicaciones")
        receipt = await lifecycle_receipts.withdrawal_receipt(app, claim.item_id, claim.channel)
        return lambda: adapter.withdraw(receipt)
    post = await _render(app, claim)
    if claim.action == DeliveryAction.CORRECTION:
        if not isinstance(adapter, Updatable):
            raise PermanentError(f"el canal {claim.channel} no permite corregir publicaciones")
        original = await lifecycle_receipts.original_receipt(app, claim.item_id, claim.channel)
        post = dataclasses.replace(post, remote_id=original.remote_id)
        return lambda: adapter.update(original, post)
    return lambda: adapter.publish(post)


async def _publish(
    app: App, claim: Claim, send: Send, limit: float | None, lease: float
) -> Receipt:
    """``send()`` within ``limit`` seconds; an unbounded send renews its lease."""
    if limit is not None:
        async with asyncio.timeout(limit):  # no extra task per send, unlike wait_for
            return await send()

    async def renew() -> bool:
        return await app.ledger.renew(claim, lease_until(lease))

    async with kept_alive(renew, renew_every(lease)):
        return await send()


async def _render(app: App, claim: Claim) -> Post:
    row = claim.item or await app.ledger.get_item(claim.item_id)
    if row is None:
        raise LookupError(f"la pieza {claim.item_id} no está en el registro")
    item = row.content()
    early = claim.action == "early"
    # the call ahead of an event goes out before the website page exists: no URL
    url = None if claim.channel == "website" or early else row.url
    remote_id = None
    if claim.action == "update":
        remote_id = await app.ledger.previous_remote_id(
            claim.item_id, claim.channel, claim.revision
        )
    post = app.renderer.render(
        item, claim.channel, url=url, revision=claim.revision, remote_id=remote_id
    )
    if claim.action == DeliveryAction.CORRECTION:
        post = lifecycle_receipts.with_correction_notice(app, item, post)
    if early:
        kind = app.plan.kinds.get(item.kind)
        audiences = list(kind.early.audiences) if kind and kind.early else []
        post = dataclasses.replace(
            post, meta={**post.meta, "early": True, "audiences": audiences or None}
        )
    return post


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
