"""Spanish dates for ``/programar``."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatcher.bot.dates import DateError, parse_when

TZ = ZoneInfo("America/Bogota")
NOW = datetime(2026, 11, 24, 10, 15, tzinfo=TZ)  # a Tuesday


def at(day: int, hour: int, minute: int = 0, month: int = 11, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26T08:00", at(26, 8)),
        ("2026-11-26 08:00", at(26, 8)),
        ("2026-11-26T08:00-05:00", at(26, 8)),
        ("2026-11-26T13:00+00:00", at(26, 8)),
        ("hoy 15:30", at(24, 15, 30)),
        ("Hoy a las 15:30", at(24, 15, 30)),
        ("mañana 7:00", at(25, 7)),
        ("manana 7", at(25, 7)),
        ("MAÑANA 7 p. m.", at(25, 19)),
        ("mañana a las 7 de la noche", at(25, 19)),
        ("mañana 7 de la mañana", at(25, 7)),
        ("pasado mañana 9:15", at(26, 9, 15)),
        ("jueves 6:30", at(26, 6, 30)),
        ("el próximo lunes 18:00", at(30, 18)),
        ("miércoles 12pm", at(25, 12)),
        ("martes 11:00", at(24, 11)),  # today, still ahead
        ("martes 9:00", at(1, 9, month=12)),  # today's has passed: next week
        ("sáb 8h30", at(28, 8, 30)),
        ("26/11 8:00", at(26, 8)),
        ("26/11/2026 8:00", at(26, 8)),
        ("3/1 8:00", at(3, 8, month=1, year=2027)),  # the nearest 3 January
        ("26 de noviembre 8:00", at(26, 8)),
        ("26 nov 2026 8h30", at(26, 8, 30)),
        ("2 de diciembre a las 6 a. m.", at(2, 6, month=12)),
        ("15:30", at(24, 15, 30)),
        ("9:00", at(25, 9)),  # has passed today: tomorrow
        ("mañana mediodía", at(25, 12)),
        ("en 2 horas", NOW + timedelta(hours=2)),
        ("en 30 minutos", NOW + timedelta(minutes=30)),
        ("en 1 día", NOW + timedelta(days=1)),
    ],
)
def test_understood(text: str, expected: datetime) -> None:
    assert parse_when(text, NOW, TZ) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Falta la fecha"),
        ("mañana", "Falta la hora"),
        ("2026-11-26", "Falta la hora"),
        ("2026-13-26T08:00", "Fecha ISO inválida"),
        ("31/02 8:00", "no existe"),
        ("hoy 25:00", "Hora inválida"),
        ("hoy 13 pm", "de 1 a 12"),
        ("cuando pueda", "No entiendo"),
        ("ayer 8:00", "No entiendo"),
    ],
)
def test_refused_in_spanish(text: str, message: str) -> None:
    with pytest.raises(DateError, match=message):
        parse_when(text, NOW, TZ)


def test_result_is_in_the_given_zone() -> None:
    result = parse_when("mañana 7:00", NOW.astimezone(ZoneInfo("UTC")), TZ)
    assert result.tzinfo == TZ and result.hour == 7
