"""Channel canaries: a daily check of every live channel the plan uses — credentials
valid, the bot still in the group with the right to post, the Facebook token's expiry, the
SMTP server reachable — so a broken credential shows up before the day it matters.

It runs as the scheduler's ``canales`` slot (:mod:`dispatcher.services.schedule`): once a
day, on the first scheduler pass of the day (so also at start when it has not run that
day), exactly once however many schedulers run. The editors are told through the bot when
a check fails or a token expires within :data:`EXPIRY_WARNING`: once a day, not on every
check.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from dispatcher.ledger.types import SlotStatus
from dispatcher.services.status import ChannelHealth, channel_health

if TYPE_CHECKING:
    from dispatcher.services.context import App
    from dispatcher.services.schedule import Slot

log = logging.getLogger("pregonero.canary")

EXPIRY_WARNING = timedelta(days=7)
CHECK_TIMEOUT = 60.0


@dataclass(frozen=True)
class Finding:
    """One channel's check, and what the editors must hear about it (``None``: nothing)."""

    channel: str
    result: ChannelHealth
    alert: str | None


async def check_live_channels(app: App) -> list[Finding]:
    """A harmless call to every live channel of the plan (outbox channels send nothing)."""
    now = app.clock()
    return [
        Finding(health.channel, health, _alert(app, health.channel, health, now))
        for health in await channel_health(app, check_timeout=CHECK_TIMEOUT)
        if health.mode == "live"
    ]


def _alert(app: App, channel: str, result: ChannelHealth, now: datetime) -> str | None:
    if not result.ok:
        return f"❌ {channel}: {result.message}"
    expires = result.expires_at
    if expires is not None and expires - now <= EXPIRY_WARNING:
        local = expires.astimezone(app.settings.tz).strftime("%Y-%m-%d %H:%M")
        return f"⏳ {channel}: la credencial vence el {local}; renuévela antes de esa fecha"
    return None


async def canary(app: App, slot: Slot) -> tuple[SlotStatus, str]:
    """The daily slot: check every live channel and tell the editors what needs them."""
    findings = await check_live_channels(app)
    alerts = [f.alert for f in findings if f.alert]
    if alerts:
        await app.notify("Revisión diaria de los canales:\n" + "\n".join(alerts))
    checked = ", ".join(f.channel for f in findings) or "ningún canal en vivo"
    summary = f"canales revisados: {checked}; avisos: {len(alerts)}"
    log.info("%s", summary)
    return SlotStatus.DONE, summary
