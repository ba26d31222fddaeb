"""The daily monitoring digest, at the plan's ``digest_at``: the editors get the clippings
through the bot, and — when mailing is live — the plan's ``audiences`` (default
``funcionarios``) get the same digest by e-mail, as the campaign ``monitoring:<day>``.

The digest of a day takes every clipping found before its time that no digest took
(:func:`dispatcher.ledger.monitoring.take_for_digest`), so a day the service was down is not
lost and no clipping is sent twice. An empty digest sends nothing. The slot may run again
(a retry after a mail failure): the editors are told once (``notified_at``) and the
campaign resumes where it stopped.

The bot's message is plain text (the editors' notifier sends no parse mode, so nothing a
feed wrote is interpreted), one message grouped by outlet, split at outlet (then clipping)
boundaries only when it would exceed Telegram's 4096 characters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

from dispatcher.items.audiences import audience_mask
from dispatcher.ledger import monitoring as ledger_monitoring
from dispatcher.ledger.monitoring import Clipping
from dispatcher.ledger.types import SlotStatus
from dispatcher.render.filters import fecha
from dispatcher.render.renderer import UNSUBSCRIBE_PLACEHOLDER
from dispatcher.services.mailing.message import MailContent
from dispatcher.services.monitoring.report import Outlet, by_outlet, plural

if TYPE_CHECKING:
    from dispatcher.services.context import App

log = logging.getLogger("pregonero.monitoring")

TELEGRAM_LIMIT = 4096
LIST = ("monitoreo-medios", "Monitoreo de medios")


def _units(text: str) -> int:
    """Telegram counts UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _clip_lines(clip: Clipping) -> str:
    return f"• {clip.title}\n  {clip.link}"


def messages(day: date, clippings: Sequence[Clipping], limit: int = TELEGRAM_LIMIT) -> list[str]:
    """The digest for the bot: one message grouped by outlet, or several when it would
    exceed ``limit`` (each starting at an outlet, or continuing one)."""
    outlets = by_outlet(clippings)
    head = (
        f"📰 Monitoreo de medios — {fecha(day, 'full')}\n"
        f"{plural(len(clippings), 'nota', 'notas')} en {plural(len(outlets), 'medio', 'medios')}"
    )
    out: list[str] = []
    current = head

    def add(block: str) -> None:
        nonlocal current
        candidate = f"{current}\n\n{block}" if current else block
        if _units(candidate) <= limit:
            current = candidate
            return
        if current:
            out.append(current)
        current = block

    for outlet in outlets:
        _add_outlet(outlet, add, limit)
    if current:
        out.append(current)
    return out


def _add_outlet(outlet: Outlet, add: Callable[[str], None], limit: int) -> None:
    title = f"{outlet.name} ({len(outlet.clippings)})"
    block = title
    for clip in outlet.clippings:
        line = _clip_lines(clip)
        if _units(line) > limit - 100:  # cannot happen with capped titles and links
            line = line[: limit // 2]
        if _units(f"{block}\n{line}") > limit:
            add(block)
            block = f"{outlet.name} (continuación)"
        block = f"{block}\n{line}"
    add(block)


def mail_content(app: App, day: date, clippings: Sequence[Clipping]) -> MailContent:
    """The e-mail's subject, text and HTML from ``templates/monitoring/digest.*.j2``."""
    env = app.renderer.environment
    context = {
        "day": day, "outlets": by_outlet(clippings), "total": len(clippings),
        "site_name": app.renderer.site_name, "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,
    }  # fmt: skip
    subject = env.get_template("monitoring/digest.subject.txt.j2").render(context)
    return MailContent(
        subject=" ".join(subject.split())[:200],
        text=env.get_template("monitoring/digest.txt.j2").render(context).strip() + "\n",
        html=env.get_template("monitoring/digest.html.j2").render(context),
    )


async def tell_editors(app: App, texts: Sequence[str]) -> int:
    """Queue ``texts`` for the editors through the app's notifiers (the bot's, when one
    runs); returns how many notifiers took them."""
    reached = 0
    for notifier in list(app.notifiers):
        try:
            for text in texts:
                await notifier(text)
            reached += 1
        except Exception:  # a broken notifier must not stop the mail
            log.exception("monitoreo: no se pudo avisar a los editores")
    return reached


async def send_digest(app: App, day: date, before: datetime) -> tuple[SlotStatus, str]:
    """The digest of ``day`` (clippings found before ``before``): bot, then mail."""
    plan = app.plan.monitoring
    if plan is None:
        return SlotStatus.SKIPPED, "el plan no tiene monitoreo de medios"
    digest, clippings = await ledger_monitoring.take_for_digest(app.ledger, day, before)
    label = f"resumen de medios del {day.isoformat()}"
    if not clippings:
        return SlotStatus.DONE, f"{label}: no hubo notas; no se envía nada"
    parts = [f"{label}: {plural(len(clippings), 'nota', 'notas')}"]
    if digest.notified_at is None:
        if await tell_editors(app, messages(day, clippings)):
            await ledger_monitoring.mark_notified(app.ledger, day, app.clock())
            parts.append("editores avisados por el bot")
        else:
            parts.append("sin bot: los editores no reciben el resumen")
    if not plan.audiences:
        return SlotStatus.DONE, "; ".join(parts)
    if app.mode("mailing") != "live":
        parts.append("correo en modo bandeja de salida: no se envía por correo")
        return SlotStatus.DONE, "; ".join(parts)
    from dispatcher.services.mailing.campaign import CampaignBusy
    from dispatcher.services.mailing.keyed import send_keyed_campaign

    try:
        result = await send_keyed_campaign(
            app, key=f"monitoring:{day.isoformat()}", kind="monitoring",
            content=mail_content(app, day, clippings), audiences=audience_mask(plan.audiences),
            list_local=LIST[0], list_name=LIST[1], day=day,
        )  # fmt: skip
    except CampaignBusy as exc:
        return SlotStatus.RETRY, f"{'; '.join(parts)}; {exc}"
    except ValueError as exc:  # no sender address: retrying will not help
        return SlotStatus.FAILED, f"{'; '.join(parts)}; {exc}"
    if result.campaigns:
        await ledger_monitoring.set_campaign(app.ledger, day, result.campaigns[0])
    parts.append(f"correo: {result.summary()}")
    if result.fatal or result.auth:
        return SlotStatus.FAILED, "; ".join(parts)
    return (SlotStatus.DONE if result.complete else SlotStatus.RETRY), "; ".join(parts)
