"""Field types shared by the plan's sections (``content/plan.yaml``): times of day, ISO 8601
durations, short texts, mailing audiences, and the strict base every section model uses.

Each validator raises ``ValueError`` with a Spanish message; :func:`dispatcher.items.plan.load_plan`
adds the YAML path and the line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import time, timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, StringConstraints

from dispatcher.items.audiences import AUDIENCES


def _known_audience(value: str) -> str:
    if value not in AUDIENCES:
        raise ValueError(
            f"valor {value!r} no permitido; se espera uno de: {', '.join(map(repr, AUDIENCES))}"
        )
    return value


def _hhmm(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError('hora inválida: use HH:MM, p. ej. "17:00"')
    if isinstance(value, str):
        match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", value.strip())
        if not match:
            raise ValueError(f"hora inválida {value!r}: use HH:MM entre 00:00 y 23:59")
        return time(int(match[1]), int(match[2]))
    return value


def _iso_duration(value: object) -> object:
    if not isinstance(value, str) or not value.strip().upper().startswith("P"):
        raise ValueError('use una duración ISO 8601, p. ej. "PT30M" o "PT24H"')
    return value.strip().upper()


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("la duración debe ser mayor que cero")
    return value


HHMM = Annotated[time, BeforeValidator(_hhmm)]
"""A time of day written ``"HH:MM"`` (00:00–23:59)."""
Duration = Annotated[timedelta, BeforeValidator(_iso_duration), AfterValidator(_positive)]
"""A positive ISO 8601 duration, e.g. ``PT30M``."""
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Audience = Annotated[str, AfterValidator(_known_audience)]
"""A mailing list: one of :data:`dispatcher.items.audiences.AUDIENCES` (the one source)."""


class Strict(BaseModel):
    """A plan section: unknown keys are errors (typos must not pass), values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def unique(values: Sequence[str], what: str) -> None:
    """``ValueError`` naming the values that appear more than once."""
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"{what} repetidos: {', '.join(repeated)}")
