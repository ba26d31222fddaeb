"""The ``website`` channel: a static site (default) or a WordPress site, by
``PREGONERO_WEBSITE__BACKEND``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from channels.base import Adapter
    from settings import Settings


def build(settings: Settings) -> Adapter:
    """The website adapter for ``settings.website.backend`` (``static`` or ``wordpress``)."""
    if settings.website.backend == "static":
        from channels.static_site import StaticSiteAdapter

        return StaticSiteAdapter(settings)
    from channels.wordpress import WordPressAdapter

    adapter: Adapter = WordPressAdapter(settings)
    return adapter
