"""Channel registry: name → adapter factory, built-ins plus the ``pregonero.channels``
entry-point group. Factories are imported lazily so ``pregonero --help`` stays fast and a
channel's client library is loaded only when that channel is used live.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from channels.base import Adapter, ChannelContext
from settings import Settings

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "pregonero.channels"
BUILTIN: dict[str, str] = {
    "website": "channels.website:build",
    "telegram": "channels.telegram:TelegramAdapter",
    "x": "channels.x:XAdapter",
    "facebook": "channels.facebook:FacebookAdapter",
    "mailing": "channels.mailing:MailingAdapter",
}
# Factories called as ``factory(settings, context)``; the others still take settings alone
# (the channels branch moves every factory to the two-argument form).
WITH_CONTEXT = frozenset({"mailing"})


def available() -> dict[str, str]:
    """Every channel name the plan may use, with its ``module:attr`` target."""
    found = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in BUILTIN:
            found[ep.name] = ep.value
    return found


def _load(target: str) -> Callable[..., Any]:
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def build_adapter(
    name: str,
    settings: Settings,
    *,
    mode: str | None = None,
    context: ChannelContext | None = None,
) -> Adapter:
    """The adapter for ``name``: the outbox adapter in outbox mode, else the live one,
    built with ``context`` as its second argument when its factory takes one."""
    mode = mode or settings.channel_mode(name)
    if mode == "outbox":
        from channels.outbox import OutboxAdapter

        return OutboxAdapter(name, settings)
    targets = available()
    if name not in targets:
        raise KeyError(f"canal desconocido: {name!r}")
    factory = _load(targets[name])
    if name in WITH_CONTEXT:
        if context is None:
            raise ValueError(f"el canal {name!r} se construye con un contexto (ChannelContext)")
        return factory(settings, context)
    adapter = factory(settings)
    return adapter
