"""Dates as editors write them in a chat: ISO 8601 or plain Spanish.

Accepted (accents and case do not matter; the time is 24-hour unless ``am``/``pm``, "de la
mañana/tarde/noche" says otherwise)::

    2026-11-26T08:00   2026-11-26 08:00   2026-11-26T08:00-05:00
    hoy 15:30          mañana 7:00        pasado mañana 9        mañana a las 7 p. m.
    jueves 6:30        el próximo lunes 18:00                    (the next one; today if
                                                                  the time is still ahead)
    26/11 8:00         26/11/2026 8:00    26 de noviembre 8:00    26 nov 2026 8h30
    15:30              (today, or tomorrow when 15:30 has passed)
    en 2 horas         en 30 minutos      en 1 día

Without a year, ``26/11`` is the 26 November nearest to today. A date alone, with no time,
is refused: a publication time must be explicit. Month and weekday names come from babel's
Spanish locale data. The result is an aware datetime in the given zone; whether it lies in
the past is for the caller to judge.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from babel.dates import get_day_names, get_month_names

EXAMPLES = "«mañana 7:00», «hoy 15:30», «jueves 6:30», «26/11 8:00» o «2026-11-26T08:00»"


class DateError(ValueError):
    """The text is not a date and time we understand; the message is Spanish."""


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _names(getter: Callable[..., Mapping[int, str]], fixes: dict[str, int]) -> dict[str, int]:
    found: dict[str, int] = {}
    for width in ("wide", "abbreviated"):
        for number, name in getter(width, locale="es_CO").items():
            found[_plain(str(name)).rstrip(".")] = int(number)
    return found | fixes


WEEKDAYS = _names(get_day_names, {})
MONTHS = _names(get_month_names, {"sep": 9, "set": 9, "setiembre": 9})

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FILLER = re.compile(r"\b(el|este|esta|proximo|proxima|siguiente|para|a|las|la|del)\b")
_AMPM = re.compile(r"\b([ap])\.?\s*m\b\.?")
_PERIOD = re.compile(r"\bde la (manana|tarde|noche)\b")
_RELATIVE = re.compile(r"en (\d{1,4}) ?(minutos?|mins?|m|horas?|h|dias?|d)")
_NUMERIC_DATE = re.compile(r"(\d{1,2})[/-](\d{1,2})(?:[/-](\d{4}|\d{2}))?(?!\d)")
_NAMED_DATE = re.compile(r"(\d{1,2}) (?:de )?([a-z]+)\.?(?: (?:de )?(\d{4}))?")
_CLOCK = re.compile(r"(\d{1,2})(?:(?::|h|\.)(\d{2})?)? ?(am|pm)?|(mediodia)|(medianoche)")


@dataclass(frozen=True)
class _Day:
    day: date | None = None
    weekday: int | None = None


def parse_when(text: str, now: datetime, tz: ZoneInfo) -> datetime:
    """The moment ``text`` names, aware in ``tz``; ``now`` resolves "hoy", "jueves"…"""
    raw = " ".join(text.split())
    if not raw:
        raise DateError(f"Falta la fecha. Ejemplos: {EXAMPLES}.")
    local_now = now.astimezone(tz)
    iso = _iso(raw, tz)
    if iso is not None:
        return iso
    s = _normalize(raw)
    if match := _RELATIVE.fullmatch(s):
        return _relative(int(match[1]), match[2], local_now)
    spec, rest = _day_part(s, local_now)
    clock = _clock(rest, raw)
    if clock is None:
        raise DateError(f"Falta la hora en «{raw}». Ejemplos: {EXAMPLES}.")
    return _combine(spec, clock, local_now, tz)


def _iso(raw: str, tz: ZoneInfo) -> datetime | None:
    if not _ISO_DATE.match(raw):
        return None
    if _ISO_DATE.fullmatch(raw):
        raise DateError(f"Falta la hora en «{raw}»: escriba p. ej. {raw}T08:00.")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise DateError(f"Fecha ISO inválida «{raw}». Ejemplos: {EXAMPLES}.") from None
    return value.replace(tzinfo=tz) if value.tzinfo is None else value.astimezone(tz)


def _normalize(raw: str) -> str:
    s = _plain(raw).replace(",", " ")
    s = _PERIOD.sub(lambda m: " am" if m[1] == "manana" else " pm", s)
    s = _AMPM.sub(lambda m: f" {m[1]}m", s)
    s = s.replace("pasado manana", "pasado_manana")
    s = _FILLER.sub(" ", s)
    return " ".join(s.split())


def _relative(amount: int, unit: str, local_now: datetime) -> datetime:
    if unit.startswith("m"):
        delta = timedelta(minutes=amount)
    elif unit.startswith("h"):
        delta = timedelta(hours=amount)
    else:
        delta = timedelta(days=amount)
    if delta > timedelta(days=400):
        raise DateError("Esa fecha queda demasiado lejos.")
    return (local_now + delta).replace(second=0, microsecond=0)


def _day_part(s: str, local_now: datetime) -> tuple[_Day, str]:
    """The day named at the start of ``s`` (or nothing) and the rest of the text."""
    today = local_now.date()
    words = {"hoy": 0, "manana": 1, "pasado_manana": 2}
    head, _, tail = s.partition(" ")
    if head in words:
        return _Day(day=today + timedelta(days=words[head])), tail
    if head in WEEKDAYS:
        return _Day(weekday=WEEKDAYS[head]), tail
    if match := _NUMERIC_DATE.match(s):
        day, month, year = int(match[1]), int(match[2]), match[3]
        return _Day(day=_date(day, month, year, today)), s[match.end() :]
    if (match := _NAMED_DATE.match(s)) and match[2] in MONTHS:
        return _Day(day=_date(int(match[1]), MONTHS[match[2]], match[3], today)), s[match.end() :]
    return _Day(), s


def _date(day: int, month: int, year: str | None, today: date) -> date:
    try:
        if year is not None:
            full = int(year) + (2000 if len(year) == 2 else 0)
            return date(full, month, day)
        candidates = []
        for y in (today.year - 1, today.year, today.year + 1):
            try:
                candidates.append(date(y, month, day))
            except ValueError:  # 29 February of a common year
                continue
        if not candidates:
            raise ValueError
        return min(candidates, key=lambda d: abs((d - today).days))
    except ValueError:
        raise DateError(f"La fecha {day}/{month} no existe.") from None


def _clock(rest: str, raw: str) -> time | None:
    rest = rest.strip()
    if not rest:
        return None
    match = _CLOCK.fullmatch(rest)
    if not match:
        raise DateError(f"No entiendo la fecha «{raw}». Ejemplos: {EXAMPLES}.")
    if match[4]:
        return time(12, 0)
    if match[5]:
        return time(0, 0)
    hour, minute, half = int(match[1]), int(match[2] or 0), match[3]
    if half:
        if not 1 <= hour <= 12:
            raise DateError(f"Hora inválida en «{raw}»: con a. m./p. m. use de 1 a 12.")
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        raise DateError(f"Hora inválida en «{raw}»: use de 00:00 a 23:59.")
    return time(hour, minute)


def _combine(spec: _Day, clock: time, local_now: datetime, tz: ZoneInfo) -> datetime:
    today = local_now.date()
    if spec.day is not None:
        return datetime.combine(spec.day, clock, tzinfo=tz)
    if spec.weekday is not None:
        ahead = (spec.weekday - today.weekday()) % 7
        moment = datetime.combine(today + timedelta(days=ahead), clock, tzinfo=tz)
        return moment if moment > local_now else moment + timedelta(days=7)
    moment = datetime.combine(today, clock, tzinfo=tz)
    return moment if moment > local_now else moment + timedelta(days=1)
