"""``pregonero check`` and ``pregonero preview``: the intake's validation and the real
renderer, without touching the inbox or the ledger."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dispatcher.items.model import ContentItem
from dispatcher.items.parse import ContentError
from dispatcher.services.context import App

if TYPE_CHECKING:
    from dispatcher.items.validate import Rules

Echo = Callable[[str], object]


def load(app: App, path: Path, checks: Rules | None = None) -> ContentItem:
    """Validate one file exactly as the intake would (media relative to its folder, earlier
    revisions' media from the archive), moving nothing. Raises ``ContentError``.

    ``checks`` defaults to the intake's rules; built on the event loop's thread they can ask
    the ledger (whether a known id keeps its kind) when this runs in a worker thread."""
    from dispatcher.items.validate import validate_file
    from dispatcher.services.ingest import rules
    from dispatcher.services.intake import archived_dirs

    archive = app.settings.content_dir / "archive"
    return validate_file(
        path,
        rules=checks or rules(app),
        today=app.clock().astimezone(app.settings.tz).date(),
        archived=lambda item_id: archived_dirs(archive, item_id),
    )


async def check_files(app: App, files: Sequence[Path], echo: Echo) -> int:
    """Validate each file; print ``OK`` or its problems (the very text an inbox rejection
    gives). Returns the number of bad files."""
    from dispatcher.services.ingest import rules

    checks = rules(app)
    bad = 0
    for path in files:
        try:
            # In a thread, so the ledger can be asked whether a known id keeps its kind.
            item = await asyncio.to_thread(load, app, path, checks)
        except ContentError as exc:
            bad += 1
            echo(f"{path}: ERROR\n{exc}")
            continue
        channels = app.plan.channels_for(item.kind, item.meta.channels)
        echo(f"{path}: OK — {item.id} ({item.kind}) → {', '.join(channels)}")
    return bad


def preview_file(app: App, path: Path, channel: str | None, echo: Echo) -> int:
    """Render the file for each planned channel (or one) and show lengths against limits."""
    from dispatcher.render.renderer import RenderError, measure

    try:
        item = load(app, path)
    except ContentError as exc:
        echo(f"{path}: ERROR\n{exc}")
        return 1
    channels = app.plan.channels_for(item.kind, item.meta.channels)
    if channel:
        if channel not in channels:
            echo(
                f"El canal {channel!r} no está en el plan para '{item.kind}': {', '.join(channels)}"
            )
            return 1
        channels = [channel]
    url = _would_be_url(app, item)
    status = 0
    for name in channels:
        echo(f"═══ {name} ═══")
        try:
            post = app.renderer.render(item, name, url=None if name == "website" else url)
        except RenderError as exc:
            echo(f"ERROR: {exc}")
            status = 1
            continue
        for part, value in [("texto", post.text), *post.parts.items()]:
            if name == "website" and part == "texto":
                continue
            echo(f"--- {part} ---\n{value}")
        for part, length, limit in measure(post):
            echo(f"  {part}: {length}" + (f" / {limit}" if limit else ""))
    return status


def _would_be_url(app: App, item: ContentItem) -> str:
    from channels.pages import page_url

    return page_url(app.settings.website.base_url, item.id, item.date)
