"""The day's clippings: in the terminal (``pregonero monitor report``), as a page
(``content/reports/medios-YYYY-MM-DD.html``, ``templates/monitoring/report.html.j2``), and
the lines ``pregonero monitor`` prints for a run.

Every text shown comes from a feed and was made plain by
:mod:`dispatcher.services.monitoring.clean` (no control characters reach the terminal); the
page is rendered with jinja2's autoescape, and its links are the normalised http(s) ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from channels.static_site import atomic_write
from dispatcher.ledger import monitoring as ledger_monitoring
from dispatcher.ledger.monitoring import Clipping
from dispatcher.render.filters import fecha
from dispatcher.services.monitoring.service import MonitorRun, SourceReport

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from dispatcher.services.context import App


@dataclass(frozen=True)
class Outlet:
    """One outlet's clippings of a day, in the order they were found."""

    name: str
    clippings: tuple[Clipping, ...]


def by_outlet(clippings: Sequence[Clipping]) -> list[Outlet]:
    """Clippings grouped by outlet (outlets by name, case aside)."""
    groups: dict[str, list[Clipping]] = {}
    for clip in clippings:
        groups.setdefault(clip.outlet, []).append(clip)
    return [
        Outlet(name, tuple(sorted(group, key=lambda c: (c.found_at, c.id))))
        for name, group in sorted(groups.items(), key=lambda kv: kv[0].casefold())
    ]


def plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def terminal(day: date, clippings: Sequence[Clipping], tz: ZoneInfo) -> str:
    """The day's clippings as plain text, grouped by outlet."""
    outlets = by_outlet(clippings)
    title = f"Monitoreo de medios — {fecha(day, 'full', tz=tz)}"
    if not clippings:
        return f"{title}\nNo hay notas de prensa registradas ese día."
    lines = [
        title,
        f"{plural(len(clippings), 'nota', 'notas')} en {plural(len(outlets), 'medio', 'medios')}",
    ]
    for outlet in outlets:
        lines += ["", f"{outlet.name} ({len(outlet.clippings)})"]
        for clip in outlet.clippings:
            when = fecha(clip.published_at or clip.found_at, "HH:mm", tz=tz)
            lines.append(f"  • {when}  {clip.title}")
            lines.append(f"    {clip.link}")
            lines.append(f"    Palabras clave: {', '.join(clip.keywords)}")
    return "\n".join(lines)


def html(app: App, day: date, clippings: Sequence[Clipping]) -> str:
    """The report page (autoescaped template)."""
    template = app.renderer.environment.get_template("monitoring/report.html.j2")
    return template.render(
        day=day, outlets=by_outlet(clippings), total=len(clippings),
        site_name=app.renderer.site_name,
    )  # fmt: skip


def report_path(app: App, day: date) -> Path:
    return app.settings.content_dir / "reports" / f"medios-{day.isoformat()}.html"


async def write_report(app: App, day: date) -> tuple[list[Clipping], Path]:
    """The clippings of ``day`` and the page written for them."""
    clippings = await ledger_monitoring.clippings_of_day(app.ledger, day)
    path = report_path(app, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, html(app, day, clippings).encode("utf-8"))
    return clippings, path


def source_line(report: SourceReport, tz: ZoneInfo) -> str:
    """One Spanish line for a source in a run (name and, on failure, the reason)."""
    if report.outcome == "ok":
        line = f"  ✓ {report.name}: {plural(report.entries, 'entrada', 'entradas')}, "
        line += f"{plural(report.new, 'nota nueva', 'notas nuevas')}"
        return line + (
            " (canal con errores de formato, leído en parte)" if report.malformed else ""
        )
    if report.outcome == "not_modified":
        return f"  ✓ {report.name}: sin cambios desde la última lectura"
    until = fecha(report.waiting_until, "d MMM, HH:mm", tz=tz) if report.waiting_until else ""
    if report.outcome == "waiting":
        why = f" (último error: {report.error})" if report.error else ""
        return f"  … {report.name}: en espera hasta {until}{why}"
    again = f"; se reintenta después de {until}" if until else ""
    return f"  ✗ {report.name}: FALLÓ — {report.error}{again}"


def run_summary(run: MonitorRun, tz: ZoneInfo) -> str:
    """What ``pregonero monitor`` prints: each source, then the totals."""
    lines = ["Fuentes:"] + [source_line(s, tz) for s in run.sources]
    failed = len(run.failed)
    lines.append("")
    lines.append(
        f"Listo: {plural(len(run.clippings), 'nota nueva', 'notas nuevas')}"
        + (f"; {plural(failed, 'fuente falló', 'fuentes fallaron')}." if failed else ".")
    )
    return "\n".join(lines)
