"""Telling editors: failures and unknown outcomes (``App.notify``), and the daily summary.

:class:`EditorNotifier` is appended to ``app.notifiers``. ``App.notify`` awaits notifiers
inside the delivery job, so the notifier only queues the text; a task of its own sends it
to each editor's private chat (an editor who never opened the bot cannot be written to:
logged once, not retried). A network failure is retried a few times, then the text stays
in the log only.

The summary is a plain asyncio task, not PTB's ``JobQueue`` (its ``job-queue`` extra,
APScheduler, is not a dependency): one timer a day needs no scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from dispatcher.bot.gate import say
from dispatcher.bot.reports import daily_summary
from dispatcher.bot.state import BotState
from dispatcher.services.editors import telegram_ids

if TYPE_CHECKING:
    from dispatcher.services.context import App

log = logging.getLogger("pregonero.bot")

QUEUE_SIZE = 500
SEND_ATTEMPTS = 3


Roster = Callable[[], Awaitable[Iterable[int]]]


class EditorNotifier:
    """An ``App`` notifier that sends each text to every editor, in order, off the caller.

    ``editors`` are the fixed ids (``PREGONERO_TELEGRAM__EDITORS``); ``roster``, when given,
    is asked before each text for every editor's id, registered editors included (one added
    or removed with ``pregonero editors`` counts from the next text on)."""

    def __init__(self, bot: Bot, editors: Iterable[int], roster: Roster | None = None) -> None:
        self.bot = bot
        self.editors = sorted(set(editors))
        self.roster = roster
        self.queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self.unreachable: set[int] = set()
        self.sent = 0

    async def __call__(self, text: str) -> None:
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:  # editors cannot read 500 alerts anyway; the log has them
            log.warning("bot: demasiados avisos en cola; se omite uno")

    async def run(self) -> None:
        """Send queued texts until cancelled."""
        while True:
            text = await self.queue.get()
            try:
                await self._broadcast(text)
            finally:
                self.queue.task_done()

    async def drain(self, grace: float) -> None:
        """Wait (at most ``grace`` seconds) until every queued text went out."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self.queue.join()

    async def _recipients(self) -> list[int]:
        if self.roster is None:
            return self.editors
        try:
            return sorted(set(self.editors) | set(await self.roster()))
        except Exception:  # the ledger may be down: the fixed ids still hear about it
            log.exception("bot: no se pudo leer la lista de editores registrados")
            return self.editors

    async def _broadcast(self, text: str) -> None:
        bot = self.bot
        for editor in await self._recipients():
            for attempt in range(1, SEND_ATTEMPTS + 1):
                try:
                    await say(bot, editor, text)
                    self.sent += 1
                    self.unreachable.discard(editor)
                    break
                except (Forbidden, BadRequest) as exc:
                    if editor not in self.unreachable:
                        log.warning(
                            "bot: no se puede escribir al editor %s (¿abrió el chat con el bot?): %s",
                            editor,
                            exc.message,
                        )
                    self.unreachable.add(editor)
                    break
                except RetryAfter as exc:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        wait = exc.retry_after
                    await asyncio.sleep(_seconds(wait))
                except (NetworkError, TelegramError) as exc:
                    if attempt == SEND_ATTEMPTS:
                        log.warning("bot: aviso no enviado al editor %s: %s", editor, exc)
                    else:
                        await asyncio.sleep(attempt)


@contextlib.asynccontextmanager
async def notify_editors(app: App, *, grace: float = 3.0) -> AsyncIterator[EditorNotifier | None]:
    """``App.notify`` → the editors' private chats, for a process that does not run the bot
    (``pregonero worker``, where deliveries fail with no bot around). Send-only: no polling,
    so it never competes with ``run``'s bot for updates. Yields ``None`` (and does nothing)
    without a bot token or editors."""
    tg = app.settings.telegram
    if tg.bot_token is None or not await telegram_ids(app):
        yield None
        return
    from channels import _http

    token = tg.bot_token.get_secret_value()
    _http.protect_secrets(token)
    bot = Bot(token, base_url=tg.api_url, base_file_url=tg.resolved_file_url)
    notifier = EditorNotifier(bot, tg.editors, lambda: telegram_ids(app))
    sender = asyncio.create_task(notifier.run(), name="avisos-editores")
    app.notifiers.append(notifier)
    try:  # no getMe at start: a worker must not fail to start because Telegram is down
        yield notifier
        await notifier.drain(grace)
    finally:
        if notifier in app.notifiers:
            app.notifiers.remove(notifier)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        with contextlib.suppress(Exception):
            await bot.shutdown()


def _seconds(value: object) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)  # type: ignore[arg-type]


def next_run(now: datetime, at: time, tz: ZoneInfo) -> datetime:
    """The next ``at`` (local time in ``tz``) strictly after ``now``."""
    local = now.astimezone(tz)
    moment = datetime.combine(local.date(), at, tzinfo=tz)
    return (
        moment
        if moment > local
        else datetime.combine(local.date() + timedelta(days=1), at, tzinfo=tz)
    )


async def summary_loop(state: BotState, notifier: EditorNotifier, at: time) -> None:
    """Every day at ``at`` (settings' zone), queue the summary for the editors."""
    app = state.app
    last = app.clock()
    while True:
        now = app.clock()
        target = next_run(max(now, last), at, app.settings.tz)
        await asyncio.sleep(max(0.0, (target - now).total_seconds()))
        last = target
        try:
            text = await daily_summary(app, target)
        except Exception:  # a failed summary must not end tomorrow's
            log.exception("bot: no se pudo preparar el resumen diario")
            await asyncio.sleep(1.0)
            continue
        await notifier(text)
