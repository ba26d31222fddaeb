"""The plan report as a terminal table and as an HTML page with a calendar of the month
(``templates/report/plan.html.j2``), written to ``content/reports/plan-YYYY-MM.html``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from babel.dates import format_date

from channels.static_site import atomic_write
from dispatcher.render.filters import LOCALE, lista
from dispatcher.services.plan_report import UNIT_ES, Activity, Period, Report

if TYPE_CHECKING:
    from dispatcher.services.context import App

GAPS_SHOWN = 8
HEADERS = ("Act.", "Actividad", "Frecuencia", "Cumplimiento", "%", "Piezas", "Faltas")


def month_title(month: date) -> str:
    return format_date(month, "MMMM 'de' y", locale=LOCALE).capitalize()


def period_label(period: Period, frequency: str) -> str:
    """``3 nov`` for a day, ``2–8 nov`` for a week, ``nov–dic 2026`` for a block."""
    if period.start == period.end:
        return format_date(period.start, "d MMM", locale=LOCALE)
    if frequency in ("bimonthly", "quarterly"):
        first = format_date(period.start, "MMM", locale=LOCALE)
        return f"{first}–{format_date(period.end, 'MMM y', locale=LOCALE)}"
    if period.start.month == period.end.month:
        return f"{period.start.day}–{format_date(period.end, 'd MMM', locale=LOCALE)}"
    return (
        f"{format_date(period.start, 'd MMM', locale=LOCALE)}–"
        f"{format_date(period.end, 'd MMM', locale=LOCALE)}"
    )


def compliance_text(activity: Activity) -> str:
    if activity.expected is None:
        return "sin meta"
    unit = UNIT_ES.get(activity.frequency, "periodos")
    text = f"{activity.covered} de {activity.expected} {unit}"
    if activity.running:
        text += " (+1 en curso)" if len(activity.running) == 1 else " (+en curso)"
    return text


def gaps_text(activity: Activity, limit: int = GAPS_SHOWN) -> str:
    if activity.expected is None:
        return "—"
    labels = [period_label(p, activity.frequency) for p in activity.gaps]
    if not labels:
        return "ninguna"
    shown = lista(labels[:limit])
    return shown if len(labels) <= limit else f"{shown} … (+{len(labels) - limit})"


def rows(report: Report) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for a in report.activities:
        percent = "—" if a.percent is None else f"{a.percent} %"
        out.append(
            (
                str(a.number) if a.number else "",
                a.label,
                a.frequency_es,
                compliance_text(a),
                percent,
                str(a.pieces),
                gaps_text(a),
            )
        )
    return out


def table(report: Report) -> str:
    """The report as a plain-text table (fits a terminal; long gap lists are cut)."""
    body = rows(report)
    widths = [max(len(r[i]) for r in [HEADERS, *body]) for i in range(len(HEADERS) - 1)]

    def line(cells: Sequence[str]) -> str:
        fixed = "  ".join(c.ljust(w) for c, w in zip(cells[:-1], widths, strict=True))
        return f"{fixed}  {cells[-1]}".rstrip()

    title = f"Cumplimiento del plan de comunicaciones — {month_title(report.month)}"
    until = f"(hasta el {format_date(report.today, 'd MMM y', locale=LOCALE)})"
    rule = "-" * min(120, len(line(HEADERS)) + 20)
    lines = [f"{title} {until}" if report.today <= report.last else title, ""]
    lines += [line(HEADERS), rule, *(line(r) for r in body)]
    return "\n".join(lines)


def html(app: App, report: Report) -> str:
    env = app.renderer.environment
    template = env.get_template("report/plan.html.j2")
    daily = [a for a in report.activities if a.frequency == "daily" and a.expected is not None]
    missing: dict[date, list[str]] = {}
    for activity in daily:
        for gap in activity.gaps:
            missing.setdefault(gap.start, []).append(activity.label)
    return template.render(
        report=report,
        title=month_title(report.month),
        rows=rows(report),
        headers=HEADERS,
        activities=report.activities,
        missing=missing,
        labels={key: kind.label for key, kind in app.plan.kinds.items()},
        site_name=app.renderer.site_name,
        period_label=period_label,
        day_name=lambda d: format_date(d, "EEE", locale=LOCALE),
    )


def write(app: App, report: Report) -> Path:
    """Write the HTML page to ``<content>/reports/plan-YYYY-MM.html``; returns its path."""
    path = app.settings.content_dir / "reports" / f"plan-{report.month:%Y-%m}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, html(app, report).encode("utf-8"))
    return path
