"""Channel registry: name → adapter factory, built-ins plus the ``pregonero.channels``
entry-point group. Factories are imported lazily so ``pregonero --help`` stays fast and a
channel's client library is loaded only when that channel is used live.

Every factory, built-in or plugin, is called as ``factory(settings, context)`` with the
:class:`~settings.Settings` and a :class:`~channels.base.ChannelContext`. A plugin channel
reads its own section with ``settings.plugin(name)`` (``PREGONERO_<NAME>__<KEY>``); its mode
follows :func:`channel_mode`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from channels.base import Adapter, ChannelContext
from settings import Mode, Settings

ENTRY_POINT_GROUP = "pregonero.channels"
BUILTIN: dict[str, str] = {
    "website": "channels.website:build",
    "telegram": "channels.telegram:TelegramAdapter",
    "x": "channels.x:XAdapter",
    "facebook": "channels.facebook:FacebookAdapter",
    "mailing": "channels.mailing:MailingAdapter",
}


def available() -> dict[str, str]:
    """Every channel name the plan may use, with its ``module:attr`` target: the one list
    of channel names."""
    found = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in BUILTIN:
            found[ep.name] = ep.value
    return found


def _load(target: str) -> Callable[..., Any]:
    module_name, _, attr = target.partition(":")
    factory: Callable[..., Any] = getattr(importlib.import_module(module_name), attr)
    return factory


def channel_mode(name: str, settings: Settings) -> Mode:
    """``live`` or ``outbox`` for channel ``name``.

    Built-ins: ``settings.channel_mode``. A plugin channel: ``PREGONERO_<NAME>__MODE`` when
    set; else its factory's ``has_credentials(section) -> bool`` when it has one; else live
    when any key besides ``MODE`` is set in its section.
    """
    if name in BUILTIN:
        return settings.channel_mode(name)
    section = settings.plugin(name)
    if section.mode is not None:
        return section.mode
    target = available().get(name)
    judge = getattr(_load(target), "has_credentials", None) if target else None
    if callable(judge):
        return "live" if judge(section) else "outbox"
    return settings.channel_mode(name)


def build_adapter(
    name: str, settings: Settings, context: ChannelContext, *, mode: str | None = None
) -> Adapter:
    """The adapter for ``name``: the outbox adapter in outbox mode, else the live one built
    as ``factory(settings, context)``."""
    mode = mode or channel_mode(name, settings)
    if mode == "outbox":
        from channels.outbox import OutboxAdapter

        return OutboxAdapter(name, settings, context)
    targets = available()
    if name not in targets:
        raise KeyError(f"canal desconocido: {name!r}")
    adapter: Adapter = _load(targets[name])(settings, context)
    return adapter
