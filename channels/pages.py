"""Where an item's page lives on the static site: the one rule, used by the static site,
``preview`` and the bot (which predict the URL before the page exists)."""

from __future__ import annotations

import re
from datetime import date

SAFE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,118}[a-z0-9]$")
"""An item id that is safe as a file or folder name (the same rule as the content model's
``id``); the static site and the outbox refuse any other."""


CALENDAR_FILE = "convocatoria.ics"
"""The name of an event's ``.ics`` beside its static website page: the static site writes
it, the renderer links it (tests/test_lifecycle_ics.py follows the link to the file)."""


def page_path(item_id: str, day: date) -> str:
    """The item's folder relative to the output dir and to ``base_url``: ``YYYY/MM/id/``
    (``day`` is the item's ``date:``)."""
    return f"{day:%Y}/{day:%m}/{item_id}/"


def page_url(base_url: str, item_id: str, day: date) -> str:
    """The public URL of an item's page on the static site: ``<base_url>YYYY/MM/<id>/``.
    The one place this is computed (the static site, ``preview`` and the bot use it)."""
    base = base_url if base_url.endswith("/") else base_url + "/"
    return base + page_path(item_id, day)
