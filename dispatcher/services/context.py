"""The application context handed to every job (arq's ``ctx["app"]``): settings, ledger,
plan, renderer and the channel adapters, built once per process and passed in — never read
from globals inside functions.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from dispatcher.items.plan import Plan, load_plan
from dispatcher.ledger.store import Ledger
from settings import Mode, Settings

if TYPE_CHECKING:
    from channels._fs import FileWorker
    from channels.base import Adapter, ChannelContext
    from dispatcher.render.renderer import Renderer
    from dispatcher.services.mailing.service import CampaignService

log = logging.getLogger("pregonero")

Notifier = Callable[[str], Awaitable[None]]
Clock = Callable[[], datetime]


def utc_clock() -> datetime:
    return datetime.now(UTC)


def plan_path(settings: Settings) -> Path:
    """``<content>/plan.yaml``, or the plan shipped with Pregonero when the folder has none."""
    from dispatcher.items.plan import default_plan_path

    own = settings.content_dir / "plan.yaml"
    return own if own.exists() else default_plan_path()


def channel_names() -> list[str]:
    """Every channel the plan may name: ``channels.registry.available()``, built-ins and
    plugins (the one list)."""
    from channels.registry import available

    return list(available())


@dataclass
class App:
    settings: Settings
    ledger: Ledger
    plan: Plan
    clock: Clock = utc_clock
    notifiers: list[Notifier] = field(default_factory=list)
    _renderer: Renderer | None = None
    _adapters: dict[str, Adapter] = field(default_factory=dict)
    _modes: dict[str, Mode] = field(default_factory=dict)
    _mail: CampaignService | None = None
    _files: FileWorker | None = None

    @property
    def renderer(self) -> Renderer:
        if self._renderer is None:
            from dispatcher.render.renderer import Renderer, builtin_templates_dir

            labels = {key: kind.label for key, kind in self.plan.kinds.items()}
            dirs = [self.settings.content_dir / "templates", builtin_templates_dir()]
            self._renderer = Renderer(
                dirs,
                self.settings.tz,
                labels,
                site_name=self.settings.website.site_name,
                calendar_beside_page=self.settings.website.backend == "static",
            )
        return self._renderer

    def channel_context(self) -> ChannelContext:
        """What every adapter is built with besides the settings: the site's name (one
        source: ``PREGONERO_WEBSITE__SITE_NAME``), the app's clock, the renderer's template
        environment, the ledger-facing services a channel needs, and the one thread the
        file-writing channels share."""
        from channels._fs import FileWorker
        from channels.base import ChannelContext
        from dispatcher.services.mailing.service import CampaignService

        if self._mail is None:
            self._mail = CampaignService(self)
        if self._files is None:
            self._files = FileWorker()
        return ChannelContext(
            site_name=self.settings.website.site_name,
            clock=self.clock,
            templates=self.renderer.environment,
            mail=self._mail,
            files=self._files,
        )

    def adapter(self, channel: str) -> Adapter:
        """The channel's adapter (live or outbox by its mode), built once per app."""
        if channel not in self._adapters:
            from channels.registry import build_adapter

            context = self.channel_context()
            adapter = build_adapter(channel, self.settings, context, mode=self.mode(channel))
            self._adapters[channel] = adapter
        return self._adapters[channel]

    def mode(self, channel: str) -> Mode:
        """``live`` or ``outbox`` (plugins included: ``channels.registry.channel_mode``);
        settings do not change while the app runs, so each channel's mode is decided once."""
        if channel not in self._modes:
            from channels.registry import channel_mode

            self._modes[channel] = channel_mode(channel, self.settings)
        return self._modes[channel]

    async def notify(self, text: str) -> None:
        """Tell the editors (bot, when configured) and the log."""
        log.warning("%s", text)
        for notifier in self.notifiers:
            try:
                await notifier(text)
            except Exception:  # a broken notifier must not break delivery
                log.exception("no se pudo notificar a los editores")

    async def aclose(self) -> None:
        for adapter in self._adapters.values():
            try:
                await adapter.aclose()
            except Exception:
                log.exception("error al cerrar el canal %s", adapter.name)
        self._adapters.clear()
        files, self._files = self._files, None
        if files is not None:
            await files.aclose()
        await self.ledger.close()


async def app_for(settings: Settings, ledger: Ledger, *, clock: Clock = utc_clock) -> App:
    """An app on a ledger already open (the caller closes it)."""
    plan = load_plan(plan_path(settings), channel_names(), timezone=settings.timezone)
    return App(settings=settings, ledger=ledger, plan=plan, clock=clock)


async def build_app(settings: Settings, *, clock: Clock = utc_clock) -> App:
    """Load the plan (a bad plan stops start-up with its message) and open the ledger."""
    plan = load_plan(plan_path(settings), channel_names(), timezone=settings.timezone)
    ledger = Ledger.from_url(settings.resolved_database_url)
    await ledger.init()
    return App(settings=settings, ledger=ledger, plan=plan, clock=clock)
