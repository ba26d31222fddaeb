"""Plan compliance (``pregonero plan report``): for each activity of the plan, the expected
frequency against what was published in a month, and the gaps.

An item counts as published when one of its deliveries (not the early call) was sent; its
day is its ``date:`` (``items.item_date``), not the day it was processed or sent — files of
November taken in during December count for November. Each frequency has its unit:

- ``daily``: the month's days; ``weekly``: weeks Monday–Sunday, a week belonging to the
  month of its Thursday (ISO); ``biweekly``: fortnights from the kind's recurring
  ``anchor`` (else from the first Monday of the year), belonging to the month of their
  8th day; ``bimonthly``/``quarterly``: the two-month block or quarter holding the month.
- ``as_needed``/``permanent``: no expectation, only the count.

A unit is expected once it has ended; one still running counts only when it is already
covered. So the current month is judged on the days and weeks gone by. The daily bulletin
mailing gets a line of its own: days whose bulletins were recorded for the digest against
days a bulletin campaign went out.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from dispatcher.ledger import reports
from dispatcher.ledger.reports import Publication

if TYPE_CHECKING:
    from dispatcher.items.plan import KindPlan
    from dispatcher.services.context import App

FREQUENCY_ES = {
    "daily": "diaria",
    "weekly": "semanal",
    "biweekly": "quincenal",
    "bimonthly": "bimestral",
    "quarterly": "trimestral",
    "as_needed": "según necesidad",
    "permanent": "permanente",
}
UNIT_ES = {
    "daily": "días",
    "weekly": "semanas",
    "biweekly": "quincenas",
    "bimonthly": "bimestre",
    "quarterly": "trimestre",
}


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    def holds(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass
class Activity:
    key: str
    label: str
    number: int | None
    frequency: str
    expected: int | None
    covered: int
    pieces: int
    gaps: list[Period] = field(default_factory=list)
    running: list[Period] = field(default_factory=list)

    @property
    def frequency_es(self) -> str:
        return FREQUENCY_ES.get(self.frequency, self.frequency)

    @property
    def percent(self) -> int | None:
        if not self.expected:
            return None
        return round(100 * self.covered / self.expected)

    @property
    def status(self) -> str:
        if self.expected is None:
            return "sin meta"
        if self.expected == 0:
            return "en curso"
        if self.covered >= self.expected:
            return "cumplido"
        return "parcial" if self.covered else "incumplido"


@dataclass
class Report:
    month: date
    today: date
    activities: list[Activity]
    by_day: dict[date, list[Publication]]
    programmes: dict[date, list[str]]
    bulletin_days: set[date]

    @property
    def first(self) -> date:
        return self.month

    @property
    def last(self) -> date:
        return _month_end(self.month)

    def weeks(self) -> list[list[date]]:
        """The calendar: weeks Monday–Sunday covering the month."""
        day = self.first - timedelta(days=self.first.weekday())
        weeks = []
        while day <= self.last:
            weeks.append([day + timedelta(days=i) for i in range(7)])
            day += timedelta(days=7)
        return weeks


async def compliance(app: App, month: date) -> Report:
    """The plan report for ``month`` (any day of it)."""
    tz = app.plan.tz
    first = month.replace(day=1)
    today = app.clock().astimezone(tz).date()
    pubs = await _publications(
        app, first - timedelta(days=100), _month_end(first) + timedelta(days=100)
    )
    by_kind: dict[str, list[Publication]] = defaultdict(list)
    by_day: dict[date, list[Publication]] = defaultdict(list)
    for pub in pubs:
        by_kind[pub.kind].append(pub)
        if first <= pub.day <= _month_end(first):
            by_day[pub.day].append(pub)
    activities = [
        _activity(app, kind, first, today, by_kind.get(key, []))
        for key, kind in sorted(app.plan.kinds.items(), key=lambda kv: (kv[1].activity, kv[0]))
    ]
    mailing, bulletin_days = await _bulletin_mailing(app, first, today)
    if mailing is not None:
        activities.append(mailing)
    programmes: dict[date, list[str]] = defaultdict(list)
    start = datetime.combine(first, time(), tzinfo=tz) - timedelta(microseconds=1)
    end = datetime.combine(_month_end(first), time(23, 59, 59), tzinfo=tz)
    for rec in app.plan.recurring:
        for when in app.plan.next_occurrences(rec, start, end):
            label = app.renderer.label(rec.kind)
            programmes[when.date()].append(f"{when:%H:%M} {label}")
    return Report(first, today, activities, dict(by_day), dict(programmes), bulletin_days)


def _activity(
    app: App, kind: KindPlan, first: date, today: date, pubs: list[Publication]
) -> Activity:
    in_month = [p for p in pubs if first <= p.day <= _month_end(first)]
    periods = _periods(app, kind, first)
    activity = Activity(kind.key, kind.label, kind.activity, kind.frequency, None, 0, len(in_month))
    if periods is None:
        return activity
    activity.expected = 0
    for period in periods:
        covered = any(period.holds(p.day) for p in pubs)
        ended = period.end < today
        if covered:
            activity.expected += 1
            activity.covered += 1
        elif ended:
            activity.expected += 1
            activity.gaps.append(period)
        elif period.start <= today:
            activity.running.append(period)
    return activity


def _periods(app: App, kind: KindPlan, first: date) -> list[Period] | None:
    last = _month_end(first)
    freq = kind.frequency
    if freq == "daily":
        return [Period(d, d) for d in _days(first, last)]
    if freq == "weekly":
        monday = first - timedelta(days=first.weekday() + 7)
        weeks = [
            Period(monday + timedelta(weeks=i), monday + timedelta(weeks=i, days=6))
            for i in range(7)
        ]
        return [w for w in weeks if first <= w.start + timedelta(days=3) <= last]
    if freq == "biweekly":
        anchor = next(
            (r.anchor for r in app.plan.recurring if r.kind == kind.key and r.anchor), None
        )
        if anchor is None:
            jan = date(first.year, 1, 1)
            anchor = jan + timedelta(days=(7 - jan.weekday()) % 7)
        anchor -= timedelta(days=anchor.weekday())
        offset = ((first - anchor).days // 14 - 1) * 14
        start = anchor + timedelta(days=offset)
        fortnights = [
            Period(start + timedelta(days=14 * i), start + timedelta(days=14 * i + 13))
            for i in range(5)
        ]
        return [f for f in fortnights if first <= f.start + timedelta(days=7) <= last]
    if freq in ("bimonthly", "quarterly"):
        size = 2 if freq == "bimonthly" else 3
        block_first = date(first.year, (first.month - 1) // size * size + 1, 1)
        block_last = _month_end(_add_months(block_first, size - 1))
        return [Period(block_first, block_last)]
    return None


async def _publications(app: App, since: date, until: date) -> list[Publication]:
    """What went out, dated ``since`` ≤ day < ``until`` (only public addresses kept)."""
    found = await reports.publications(app.ledger, since, until)
    return [p if _public(p.url) else replace(p, url=None) for p in found]


def _public(url: str | None) -> bool:
    return bool(url) and str(url).startswith("http")


async def _bulletin_mailing(
    app: App, first: date, today: date
) -> tuple[Activity | None, set[date]]:
    """The daily bulletin mailing: days with bulletins for the digest vs. days it went out."""
    days = await reports.bulletin_days(app.ledger, first, _month_end(first))
    wanted, sent = set(days.recorded), set(days.sent)
    if not wanted and not sent:
        return None, sent
    activity = Activity(
        "boletin_diario_correo", "Boletín diario por correo", None, "daily", 0, 0, len(sent)
    )
    for day in sorted(wanted | sent):
        if day in sent:
            activity.expected = (activity.expected or 0) + 1
            activity.covered += 1
        elif day < today:
            activity.expected = (activity.expected or 0) + 1
            activity.gaps.append(Period(day, day))
        else:
            activity.running.append(Period(day, day))
    return activity, sent


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _month_end(first: date) -> date:
    return _add_months(first.replace(day=1), 1) - timedelta(days=1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)
