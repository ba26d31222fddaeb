"""How a moment is shown to editors, everywhere (CLI, bot, status, reports): local time in
the configured timezone, minutes precision; "—" when there is none."""

from __future__ import annotations

from datetime import datetime, tzinfo

FORMAT = "%Y-%m-%d %H:%M"


def local_time(moment: datetime | None, tz: tzinfo) -> str:
    """``moment`` (aware) in ``tz`` as ``YYYY-MM-DD HH:MM``."""
    if moment is None:
        return "—"
    return moment.astimezone(tz).strftime(FORMAT)
