"""The month as the web desk's calendar (``/calendario?mes=YYYY-MM``): what went out each
day and the recurring programmes (the ``plan report`` data,
:func:`dispatcher.services.plan_report.compliance`), what is scheduled each day, and the
plan's expected frequency per activity with its gaps."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from dispatcher.ledger import queries
from dispatcher.ledger.queries import ItemView
from dispatcher.services.plan_report import Report, compliance

if TYPE_CHECKING:
    from dispatcher.services.context import App


@dataclass(frozen=True)
class MonthCalendar:
    report: Report
    scheduled: dict[date, list[ItemView]]

    @property
    def previous(self) -> date:
        return (self.report.first - timedelta(days=1)).replace(day=1)

    @property
    def next(self) -> date:
        return self.report.last + timedelta(days=1)


def parse_month(text: str | None, today: date) -> date:
    """``YYYY-MM`` → its first day; empty → this month. Raises :class:`ValueError`."""
    if not text:
        return today.replace(day=1)
    try:
        year, month = text.split("-")
        first = date(int(year), int(month), 1)
    except ValueError:
        raise ValueError(f"mes no válido: {text!r} (use AAAA-MM)") from None
    if not 2000 <= first.year <= 2100:
        raise ValueError(f"mes fuera de rango: {text!r}")
    return first


async def month_calendar(app: App, month: date) -> MonthCalendar:
    """The calendar of ``month`` (any day of it), in the plan's time zone."""
    report = await compliance(app, month)
    tz = app.plan.tz
    start = datetime.combine(report.first, time(), tzinfo=tz)
    end = datetime.combine(report.last + timedelta(days=1), time(), tzinfo=tz)
    scheduled: dict[date, list[ItemView]] = defaultdict(list)
    for item in await queries.scheduled_between(app.ledger, start, end):
        assert item.publish_at is not None
        scheduled[item.publish_at.astimezone(tz).date()].append(item)
    return MonthCalendar(report, dict(scheduled))
