"""Settings for adapters under test, pointing at running doubles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from settings import Settings, load_settings


def live_settings(*doubles: Any, content_dir: Path | None = None, **overrides: Any) -> Settings:
    """Settings pointing every given double's channel at it (``mode=live``)."""
    merged: dict[str, Any] = {}
    for double in doubles:
        for section, values in double.settings_overrides().items():
            merged.setdefault(section, {}).update(values)
    for section, values in overrides.items():
        if isinstance(values, dict):
            merged.setdefault(section, {}).update(values)
        else:
            merged[section] = values
    if content_dir is not None:
        merged["content_dir"] = content_dir
    return load_settings(**merged)
