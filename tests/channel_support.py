"""Build a :class:`~channels.base.ChannelContext` for adapter tests the way the App does:
the real renderer's template environment, the configured site name, an aware clock."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from channels.base import ChannelContext
from dispatcher.render.renderer import Renderer
from settings import Settings


def channel_context(
    settings: Settings,
    *,
    clock: Callable[[], datetime] | None = None,
    template_dirs: Sequence[Path] | None = None,
) -> ChannelContext:
    """A context for ``settings``: templates from ``template_dirs`` (default: the content
    folder's ``templates/``) before the built-in ones."""
    dirs = (
        list(template_dirs) if template_dirs is not None else [settings.content_dir / "templates"]
    )
    renderer = Renderer(dirs, settings.tz, {}, site_name=settings.website.site_name)
    return ChannelContext(
        site_name=settings.website.site_name,
        clock=clock or (lambda: datetime.now(UTC)),
        templates=renderer.environment,
    )
