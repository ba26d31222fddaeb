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
from settings import Settings

if TYPE_CHECKING:
    from channels.base import Adapter
    from dispatcher.render.renderer import Renderer

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

    @property
    def renderer(self) -> Renderer:
        if self._renderer is None:
            from dispatcher.render.renderer import Renderer, builtin_templates_dir

            labels = {key: kind.label for key, kind in self.plan.kinds.items()}
            dirs = [self.settings.content_dir / "templates", builtin_templates_dir()]
            self._renderer = Renderer(dirs, self.settings.tz, labels)
        return self._renderer

    def adapter(self, channel: str) -> Adapter:
        if channel not in self._adapters:
            from channels.registry import build_adapter

            self._adapters[channel] = build_adapter(channel, self.settings)
        return self._adapters[channel]

    def mode(self, channel: str) -> str:
        return self.settings.channel_mode(channel)

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
        await self.ledger.close()


async def build_app(settings: Settings, *, clock: Clock = utc_clock) -> App:
    """Load the plan (a bad plan stops start-up with its message) and open the ledger."""
    plan = load_plan(plan_path(settings), channel_names(), timezone=settings.timezone)
    ledger = Ledger.from_url(settings.resolved_database_url)
    await ledger.init()
    return App(settings=settings, ledger=ledger, plan=plan, clock=clock)
