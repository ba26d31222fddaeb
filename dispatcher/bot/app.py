"""The editors' bot as part of ``pregonero run``: a python-telegram-bot ``Application``
started and stopped by hand (not ``run_polling``, which owns the loop and the signals).

``start_bot`` builds it on ``settings.telegram`` (``base_url``/``base_file_url`` from
``__API_URL``/``__FILE_URL``), registers the editors' notifier on ``app.notifiers``, and
starts long polling (or the webhook, when given). If Telegram cannot be reached at start,
the dispatcher keeps running and the bot keeps trying in the background; a token Telegram
refuses is logged as an error and the bot stays off. ``BotHandle.stop`` ends it within a
few seconds: polling stops at once (PTB cancels the pending ``getUpdates``), handlers
finish, queued notices get a short grace to go out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import time, timedelta
from typing import TYPE_CHECKING, Any

from telegram import BotCommand, BotCommandScopeAllPrivateChats
from telegram.error import InvalidToken, NetworkError, TelegramError

from channels import _http
from dispatcher.bot.handlers import MENU, PTBApp, build_application
from dispatcher.bot.notify import EditorNotifier, summary_loop
from dispatcher.bot.state import BotState
from dispatcher.bot.webhook import ALLOWED_UPDATES, Webhook, WebhookServer
from dispatcher.services.delivery.backoff import backoff
from dispatcher.services.editors import telegram_ids

if TYPE_CHECKING:
    from dispatcher.services.context import App
    from dispatcher.services.intake import Intake, IntakeEvent
    from settings import Settings

log = logging.getLogger("pregonero.bot")

RETRY_START_MAX = 300.0
"""The longest wait between two attempts to reach Telegram at start."""


@dataclass(frozen=True)
class BotOptions:
    summary_at: time | None = time(18, 0)
    """Local time (settings' zone) of the daily summary; ``None``: no summary."""
    webhook: Webhook | None = None
    """Receive updates by webhook instead of long polling."""
    poll_timeout: float = 10.0
    shutdown_grace: float = 3.0
    retry_start: float = 5.0
    """First wait before trying again when Telegram cannot be reached at start (then
    doubled, with jitter, up to ``RETRY_START_MAX``)."""


def options_from_settings(settings: Settings) -> BotOptions:
    """Options from ``PREGONERO_TELEGRAM__WEBHOOK_*`` and ``__SUMMARY_AT``."""
    tg = settings.telegram
    webhook = None
    if tg.webhook_url:
        secret = tg.webhook_secret
        webhook = Webhook(
            url=tg.webhook_url,
            listen=tg.webhook_listen,
            port=tg.webhook_port,
            **({"secret": secret.get_secret_value()} if secret else {}),
        )
    return BotOptions(summary_at=tg.summary_at, webhook=webhook)


class BotHandle:
    """A started bot. ``stop()`` (idempotent) must be awaited to end it."""

    def __init__(
        self, application: PTBApp, state: BotState, notifier: EditorNotifier, options: BotOptions
    ) -> None:
        self.application = application
        self.state = state
        self.notifier = notifier
        self.options = options
        self.started = asyncio.Event()
        self.error: str | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._webhook: WebhookServer | None = None
        self._stopped = False

    async def observe(self, events: Iterable[IntakeEvent]) -> None:
        """Intake events the inbox watcher recorded (answers chats whose files they decide)."""
        if self.state.documents is not None and self.started.is_set():
            await self.state.documents.observe(events)

    async def _start_once(self) -> None:
        application = self.application
        await application.initialize()
        await application.start()
        if self.options.webhook is not None:
            self._webhook = WebhookServer(application, self.options.webhook)
            await self._webhook.start()
        else:
            assert application.updater is not None  # built with one unless webhook
            await application.updater.start_polling(
                timeout=timedelta(seconds=self.options.poll_timeout),
                allowed_updates=ALLOWED_UPDATES,
                error_callback=_poll_error,
            )
        with contextlib.suppress(TelegramError):
            await application.bot.set_my_commands(
                [BotCommand(n, d) for n, d in MENU], scope=BotCommandScopeAllPrivateChats()
            )
        me = application.bot.username
        log.info("bot: @%s atiende a %d editor(es)", me, len(self.state.editors))
        if not self.state.editors:
            log.warning(
                "bot: PREGONERO_TELEGRAM__EDITORS está vacío: solo atenderá a los editores "
                "registrados con su ID de Telegram (pregonero editors add)"
            )
        self.started.set()
        self._spawn(self.notifier.run(), "bot-avisos")
        if self.options.summary_at is not None:
            self._spawn(
                summary_loop(self.state, self.notifier, self.options.summary_at), "bot-resumen"
            )

    async def _try_start(self) -> bool:
        """One attempt; True when started or when it is pointless to try again."""
        try:
            await self._start_once()
            return True
        except InvalidToken:
            self.error = "Telegram rechazó el token del bot (PREGONERO_TELEGRAM__BOT_TOKEN)"
        except (NetworkError, OSError) as exc:
            reason = _http.strip_bot_token(str(exc))
            log.warning("bot: no se pudo conectar con Telegram (%s); se reintentará", reason)
            await self._undo_start()
            return False
        log.error("bot: %s; el bot queda apagado, el resto de Pregonero sigue", self.error)
        await self._undo_start()
        return True

    async def _keep_trying(self, stop: asyncio.Event) -> None:
        attempt = 1
        while not stop.is_set() and not self._stopped:
            delay = backoff(attempt, base=self.options.retry_start, cap=RETRY_START_MAX)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await stop.wait()
                    return
            if await self._try_start():
                return
            attempt += 1

    async def _undo_start(self) -> None:
        with contextlib.suppress(Exception):
            if self.application.running:
                await self.application.stop()
            await self.application.shutdown()

    def _spawn(self, coroutine: Any, name: str) -> None:
        self._tasks.append(asyncio.create_task(coroutine, name=name))

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        app = self.state.app
        if self.notifier in app.notifiers:
            app.notifiers.remove(self.notifier)
        grace = self.options.shutdown_grace
        application = self.application
        if self.started.is_set():
            try:
                if self._webhook is not None:
                    await self._webhook.stop()
                elif application.updater is not None and application.updater.running:
                    await application.updater.stop()
                async with asyncio.timeout(grace):
                    await application.stop()
            except (TimeoutError, TelegramError, RuntimeError) as exc:
                log.warning("bot: parada incompleta: %s", _http.strip_bot_token(str(exc)))
            await self.notifier.drain(grace)
        bulletin = self.state.bulletin
        if bulletin is not None and not bulletin.done():
            log.warning("bot: se interrumpe el envío del boletín; 'pregonero mail send' lo reanuda")
            bulletin.cancel()
            self._tasks.append(bulletin)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.started.is_set():
            with contextlib.suppress(Exception):
                await application.shutdown()
        log.info("bot detenido")


def _poll_error(exc: TelegramError) -> None:
    log.warning("bot: error al recibir mensajes de Telegram: %s", _http.strip_bot_token(str(exc)))


async def start_bot(
    app: App,
    stop: asyncio.Event,
    *,
    intake: Intake | None = None,
    poke: Callable[[], None] | None = None,
    options: BotOptions | None = None,
) -> BotHandle:
    """Start the editors' bot (``PREGONERO_TELEGRAM__BOT_TOKEN`` must be set).

    ``intake`` must be the inbox watcher's own instance when one runs (two readers of one
    inbox would race for the same file); ``poke`` wakes the runner after an approval.
    ``stop`` ends the background retries; the caller awaits :meth:`BotHandle.stop`.
    """
    from dispatcher.services.ingest import Tally, make_intake

    options = options or options_from_settings(app.settings)
    state = BotState(app=app, intake=intake or make_intake(app), tally=Tally())
    if poke is not None:
        state.poke = poke
    application = build_application(state, options)
    state.bot = application.bot
    notifier = EditorNotifier(application.bot, state.editors, lambda: telegram_ids(app))
    app.notifiers.append(notifier)
    handle = BotHandle(application, state, notifier, options)
    if not await handle._try_start():
        handle._spawn(handle._keep_trying(stop), "bot-arranque")
    return handle
