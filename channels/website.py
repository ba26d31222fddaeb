"""The ``website`` channel: a static site (default) or a WordPress site, by
``PREGONERO_WEBSITE__BACKEND``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from channels.base import Adapter, ChannelContext
    from settings import Settings


def build(settings: Settings, context: ChannelContext) -> Adapter:
    """The website adapter for ``settings.website.backend`` (``static`` or ``wordpress``)."""
    if settings.website.backend == "static":
        from channels.static_site import StaticSiteAdapter

        return StaticSiteAdapter(settings, context)
    from channels.wordpress import WordPressAdapter

    adapter: Adapter = WordPressAdapter(settings, context)
    return adapter
