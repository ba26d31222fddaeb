"""The ``website`` channel: a static site (default) or a WordPress site, by
``PREGONERO_WEBSITE__BACKEND``; and the one rule for where an item's page lives."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from channels.base import Adapter, ChannelContext
    from settings import Settings


def page_path(item_id: str, day: date) -> str:
    """The item's folder relative to the output dir and to ``base_url``: ``YYYY/MM/id/``
    (``day`` is the item's ``date:``)."""
    return f"{day:%Y}/{day:%m}/{item_id}/"


def page_url(base_url: str, item_id: str, day: date) -> str:
    """The public URL of an item's page on the static site: ``<base_url>YYYY/MM/<id>/``.
    The one place this is computed (the static site, ``preview`` and the bot use it)."""
    base = base_url if base_url.endswith("/") else base_url + "/"
    return base + page_path(item_id, day)


def build(settings: Settings, context: ChannelContext) -> Adapter:
    """The website adapter for ``settings.website.backend`` (``static`` or ``wordpress``)."""
    if settings.website.backend == "static":
        from channels.static_site import StaticSiteAdapter

        return StaticSiteAdapter(settings, context)
    from channels.wordpress import WordPressAdapter

    adapter: Adapter = WordPressAdapter(settings, context)
    return adapter
