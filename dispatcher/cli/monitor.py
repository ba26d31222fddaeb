"""The press-monitoring commands: ``pregonero monitor`` reads every source of the plan's
``monitoring:`` section now; ``pregonero monitor report [--date D]`` shows the day's
clippings grouped by outlet and writes ``content/reports/medios-YYYY-MM-DD.html``.

``monitor`` exits 0 when every source was read (or had not changed), 1 when a source failed
or is waiting for its retry (the others are still read and kept), 2 when the plan has no
``monitoring:`` section.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from dispatcher.cli.app import app
from dispatcher.cli.common import fail, load, with_app

if TYPE_CHECKING:
    from dispatcher.services.context import App

monitor_app = typer.Typer(
    help=(
        "Monitoreo de medios (actividad 3 del plan). Sin subcomando: leer ya todas las "
        "fuentes y guardar las notas que nombran las palabras clave."
    ),
    invoke_without_command=True,
)
app.add_typer(monitor_app, name="monitor")


@monitor_app.callback()
def monitor(ctx: typer.Context) -> None:
    """Leer ya todas las fuentes del plan y guardar las notas que nombran las palabras clave."""
    if ctx.invoked_subcommand is not None:
        return
    settings = load()

    async def body(application: App) -> int:
        from dispatcher.services.monitoring.report import run_summary
        from dispatcher.services.monitoring.service import NotConfigured, read_sources

        try:
            run = await read_sources(application)
        except NotConfigured as exc:
            fail(str(exc))
        typer.echo(run_summary(run, application.plan.tz))
        return 1 if any(s.outcome in ("failed", "waiting") for s in run.sources) else 0

    raise typer.Exit(with_app(settings, body))


@monitor_app.command("report")
def report(
    day: Annotated[
        str | None,
        typer.Option("--date", help="Día del informe, AAAA-MM-DD (por defecto, hoy)."),
    ] = None,
) -> None:
    """Las notas de prensa del día, agrupadas por medio (terminal y página HTML)."""
    try:
        wanted = date.fromisoformat(day) if day else None
    except ValueError:
        fail(f"Fecha inválida {day!r}: use AAAA-MM-DD.")
    settings = load()

    async def body(application: App) -> None:
        from dispatcher.services.monitoring.report import terminal, write_report

        target = wanted or application.clock().astimezone(application.plan.tz).date()
        clippings, path = await write_report(application, target)
        typer.echo(terminal(target, clippings, application.plan.tz))
        typer.echo(f"\nInforme: {path}")

    with_app(settings, body)
