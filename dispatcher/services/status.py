"""Status reports for the CLI (and the bot): Spanish, local time, never a secret."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from dispatcher.items.localtime import local_time
from dispatcher.ledger import queries
from dispatcher.services.context import App

STATE_ES = {
    "pending": "pendiente",
    "sending": "enviando",
    "sent": "enviado",
    "failed": "falló",
    "retry_wait": "reintento programado",
    "unknown": "DESCONOCIDO",
    "cancelled": "cancelado",
    "waiting_bulletin": "en espera del boletín",
}
ITEM_ES = {
    "ready": "lista",
    "awaiting_approval": "espera aprobación",
    "cancelled": "cancelada",
    "withdrawn": "retirada",
}


def _local(app: App, moment: datetime | None) -> str:
    return local_time(moment, app.settings.tz)


def outbox_warnings(app: App) -> list[str]:
    """One loud line per channel of the plan running in outbox mode, and one per reason
    live mailing would refuse to start (credentials in clear, links to localhost)."""
    used = app.plan.used_channels
    lines = []
    for channel in used:
        if app.mode(channel) == "outbox":
            where = app.settings.content_dir / "outbox" / channel
            why = "" if app.settings.channel_configured(channel) else " (sin credenciales)"
            lines.append(
                f"AVISO: canal {channel} en modo bandeja de salida{why}: no se envía, se escribe en {where}/"
            )
    if "mailing" in used and app.mode("mailing") == "live":
        from dispatcher.services.mailing.preflight import live_mail_problems

        for problem in live_mail_problems(app.settings):
            lines.append(f"AVISO: el correo masivo no saldrá: {problem}")
    return lines


async def overview(app: App) -> str:
    lines = ["Canales:"]
    for channel in app.plan.used_channels:
        mode = app.mode(channel)
        label = "en vivo" if mode == "live" else "bandeja de salida (content/outbox/)"
        lines.append(f"  {channel:<9} {label}")
    counts = await app.ledger.counts_by_status()
    if counts:
        summary = ", ".join(f"{STATE_ES.get(k, k)}: {v}" for k, v in sorted(counts.items()))
        lines.append(f"Entregas: {summary}")
    attention = await queries.needing_attention(app.ledger)
    if attention:
        lines.append("Requieren atención:")
        for ended in attention:
            lines.append(
                f"  {ended.item_id} · {ended.channel}: {STATE_ES[ended.status]} — "
                f"{ended.last_error or ''}"
            )
    recent = await app.ledger.list_items(30)
    if not recent:
        lines.append("No hay piezas registradas todavía.")
        return "\n".join(lines)
    rows = await app.ledger.deliveries_for([r.id for r in recent])
    by_item: dict[str, dict[str, str]] = defaultdict(dict)
    for row in rows:
        by_item[row.item_id][row.channel] = STATE_ES.get(row.status, row.status)
    lines.append("Piezas recientes:")
    for item in recent:
        state = ITEM_ES.get(item.status, item.status)
        when = ""
        if item.publish_at and item.publish_at > app.clock():
            when = f" · programada para {_local(app, item.publish_at)}"
        channels = ", ".join(f"{c}: {s}" for c, s in by_item[item.id].items())
        lines.append(f"  {item.id} [{item.kind}, {state}{when}] {channels}")
    return "\n".join(lines)


async def item_report(app: App, item_id: str) -> str | None:
    item = await app.ledger.get_item(item_id)
    if item is None:
        return None
    lines = [
        f"{item.id} — {item.title}",
        f"  tipo: {item.kind} · estado: {ITEM_ES.get(item.status, item.status)} · revisión {item.revision}",
        f"  recibida: {_local(app, item.created_at)} · publicar desde: {_local(app, item.publish_at)}",
        f"  enlace: {item.url or '—'}",
        f"  archivo: {item.archive_dir}",
    ]
    from dispatcher.ledger import withdrawals
    from dispatcher.services.approvals import approval_lines

    withdrawal = await withdrawals.find(app.ledger, item_id)
    if withdrawal is not None:
        state = "retirada" if withdrawal.done else "retiro pendiente de aprobación"
        who = f" · aprobado por {', '.join(withdrawal.approvers)}" if withdrawal.approvers else ""
        lines.append(
            f"  {state}: {_local(app, withdrawal.requested_at)} por {withdrawal.requested_by}"
            f" — motivo: {withdrawal.reason}{who}"
        )
    lines.extend(await approval_lines(app, item_id))
    deliveries = await app.ledger.deliveries_for([item_id])
    attempts = await app.ledger.attempts_for([d.id for d in deliveries])
    by_delivery: dict[int, list[str]] = defaultdict(list)
    for a in attempts:
        by_delivery[a.delivery_id].append(
            f"      intento {a.number} {_local(app, a.started_at)}: {a.outcome or 'en curso'}"
            + (f" — {a.error}" if a.error else "")
        )
    lines.append("  entregas:")
    for d in deliveries:
        extra = []
        if d.url:
            extra.append(d.url)
        if d.status == "retry_wait":
            extra.append(f"próximo intento {_local(app, d.not_before)}")
        if d.last_error and d.status != "sent":
            extra.append(d.last_error)
        mode = f" ({d.mode})" if d.mode else ""
        action = {
            "update": " [actualización]",
            "correction": " [corrección]",
            "withdraw": " [retiro]",
            "early": f" [convocatoria desde {_local(app, d.not_before)}]",
        }.get(d.action, "")
        lines.append(
            f"    {d.channel}{mode} r{d.revision}{action}: {STATE_ES.get(d.status, d.status)}"
            + (f" — {' · '.join(extra)}" if extra else "")
        )
        lines.extend(by_delivery[d.id])
    return "\n".join(lines)


@dataclass(frozen=True)
class ChannelHealth:
    """One channel of the plan: its mode and, when live, the result of a harmless call."""

    channel: str
    mode: str
    ok: bool | None  # None: outbox mode, nothing checked
    message: str
    expires_at: datetime | None = None

    @property
    def line(self) -> str:
        """The line ``channels check`` prints."""
        if self.ok is None:
            return f"{self.channel}: {self.message}"
        return f"{self.channel}: {'OK' if self.ok else 'ERROR'} — {self.message}"


async def channel_health(app: App, *, check_timeout: float | None = None) -> list[ChannelHealth]:
    """Each channel of the plan, its mode and a harmless live call (``channels check``,
    the web desk's ``/canales`` and the daily canary), each call bounded by ``check_timeout``
    seconds (``None``: unbounded)."""
    found = []
    for channel in app.plan.used_channels:
        mode = app.mode(channel)
        if mode == "outbox":
            found.append(
                ChannelHealth(
                    channel,
                    mode,
                    None,
                    "bandeja de salida — no se envía nada (sin credenciales o MODE=outbox)",
                )
            )
            continue
        try:
            result = await asyncio.wait_for(app.adapter(channel).check(), check_timeout)
        except Exception as exc:  # a check must report, not crash
            found.append(ChannelHealth(channel, mode, False, f"{type(exc).__name__}: {exc}"))
            continue
        found.append(ChannelHealth(channel, mode, result.ok, result.message, result.expires_at))
    return found


async def check_channels(app: App) -> tuple[bool, list[str]]:
    """``channels check``: each channel of the plan, its mode and a harmless live call."""
    found = await channel_health(app)
    return all(h.ok is not False for h in found), [h.line for h in found]
