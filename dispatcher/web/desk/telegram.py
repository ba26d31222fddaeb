"""Telegram's HTML as the desk shows it: only the tags Telegram itself accepts survive
(nh3), so a preview can never inject markup into the desk."""

from __future__ import annotations

import nh3
from markupsafe import Markup

TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
        "blockquote", "span", "tg-spoiler"}  # fmt: skip


def telegram_html(text: str) -> Markup:
    """``text`` (Telegram HTML) cleaned for the desk page; line breaks kept by CSS."""
    clean = nh3.clean(
        text,
        tags=TAGS,
        attributes={"a": {"href"}},
        url_schemes={"http", "https", "mailto", "tg"},
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(clean)
