"""The ``worker`` and ``plan report`` commands; the main CLI mounts them with
:func:`register`."""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from dispatcher.cli.app import app
from dispatcher.cli.common import fail, load, warn_outbox, with_app

if TYPE_CHECKING:
    from dispatcher.services.context import App

plan_app = typer.Typer(help="El plan de comunicaciones.", no_args_is_help=True)
app.add_typer(plan_app, name="plan")


@app.command("worker")
def worker(
    check: Annotated[
        bool, typer.Option("--check", help="Informar si hay trabajadores vivos (sale con 0/1).")
    ] = False,
    burst: Annotated[
        bool, typer.Option("--burst", help="Vaciar las colas y terminar (pruebas, lotes).")
    ] = False,
) -> None:
    """Trabajador arq: entrega lo que 'pregonero run' pone en la cola de Redis."""

    settings = load()
    if settings.log_level.upper() != "DEBUG":  # arq logs every job and health beat at INFO
        logging.getLogger("arq").setLevel(logging.WARNING)
    if not settings.redis_url:
        fail(
            "pregonero worker necesita PREGONERO_REDIS_URL (p. ej. redis://127.0.0.1:6379/0); "
            "sin Redis, 'pregonero run' entrega todo en su propio proceso."
        )
    if check:
        from dispatcher.cli.db import prepare_ledger
        from dispatcher.run.worker import check as check_health
        from dispatcher.services.context import build_app

        prepare_ledger(settings)  # an out-of-date PostgreSQL ledger stops here
        health = asyncio.run(check_health(settings, lambda: build_app(settings)))
        for line in health.lines:
            typer.echo(line)
        raise typer.Exit(0 if health.ok else 1)
    if settings.resolved_database_url.startswith("sqlite"):
        typer.secho(
            "Aviso: el registro es SQLite; con trabajadores en varias máquinas debe ser "
            "PostgreSQL (PREGONERO_DATABASE_URL=postgresql://…).",
            fg=typer.colors.YELLOW,
            err=True,
        )

    async def body(application: App) -> None:
        from dispatcher.run.worker import serve

        warn_outbox(application)
        typer.echo("Trabajador en marcha (Ctrl+C para salir)…", err=True)
        await serve(application, burst=burst)
        typer.echo("Trabajador detenido.", err=True)

    with_app(settings, body)


@plan_app.command("report")
def plan_report(
    month: Annotated[
        str | None,
        typer.Option("--month", help="Mes del informe, AAAA-MM (por defecto, el actual)."),
    ] = None,
) -> None:
    """Frecuencia esperada por el plan frente a lo publicado, con las faltas (tabla y HTML)."""

    wanted: date | None = None
    if month is not None:
        try:
            wanted = date.fromisoformat(f"{month}-01")
        except ValueError:
            fail(f"Mes inválido {month!r}: use AAAA-MM, p. ej. 2026-11.")
    settings = load()

    async def body(application: App) -> None:
        from dispatcher.services.plan_report import compliance
        from dispatcher.services.plan_report_view import table, write

        day = wanted or application.clock().astimezone(application.plan.tz).date()
        report = await compliance(application, day)
        typer.echo(table(report))
        path = write(application, report)
        typer.echo(f"\nInforme con calendario: {path}")

    with_app(settings, body)
