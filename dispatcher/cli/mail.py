"""The mailing commands: ``mail send``, ``subscribers import|export|remove`` and ``serve``.

They attach to the root app (:mod:`dispatcher.cli.app`).
"""

from __future__ import annotations

import contextlib
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from dispatcher.cli.app import app
from dispatcher.cli.common import fail, load, with_app

if TYPE_CHECKING:
    from dispatcher.services.context import App
    from dispatcher.services.mailing.campaign import CampaignResult

T = TypeVar("T")

mail_app = typer.Typer(help="Correo masivo: el boletín diario.", no_args_is_help=True)
subscribers_app = typer.Typer(help="Suscriptores de las listas de correo.", no_args_is_help=True)


app.add_typer(mail_app, name="mail")
app.add_typer(subscribers_app, name="subscribers")


@mail_app.command("send")
def mail_send(
    day: Annotated[
        str | None,
        typer.Option("--date", help="Día del boletín, AAAA-MM-DD (por defecto, hoy)."),
    ] = None,
) -> None:
    """Enviar ya el boletín del día (o reanudar el que quedó a medias)."""
    settings = load()
    if settings.channel_mode("mailing") != "live":
        typer.echo(
            "El correo masivo está en modo bandeja de salida (faltan PREGONERO_SMTP__HOST y "
            "PREGONERO_SMTP__FROM, o PREGONERO_MAILING__MODE=outbox): no se envía nada.",
            err=True,
        )
        raise typer.Exit(1)
    from dispatcher.services.mailing.preflight import live_mail_problems

    problems = live_mail_problems(settings)
    if problems:
        for problem in problems:
            typer.echo(problem, err=True)
        typer.echo("No se envió nada.", err=True)
        raise typer.Exit(2)
    try:
        when = date.fromisoformat(day) if day else None
    except ValueError:
        typer.echo(f"Fecha inválida {day!r}: use AAAA-MM-DD.", err=True)
        raise typer.Exit(2) from None

    async def body(application: App) -> CampaignResult:
        from dispatcher.services.mailing.bulletin import send_daily_bulletin

        target = when or application.clock().astimezone(settings.tz).date()
        if not sys.stdout.isatty():
            return await send_daily_bulletin(application, target)
        from dispatcher.cli.progress import ProgressBar

        with ProgressBar(f"Boletín del {target.isoformat()}") as bar:
            return await send_daily_bulletin(application, target, progress=bar.update)

    result = with_app(settings, body)
    if not result.campaigns:
        typer.echo("No hay boletines de prensa para ese día: no se envió nada.")
        raise typer.Exit(0)
    typer.echo(f"Boletín: {result.summary()}.")
    raise typer.Exit(0 if result.complete else 1)


@subscribers_app.command("import")
def subscribers_import(
    csv_path: Annotated[Path, typer.Argument(metavar="CSV", help="Archivo CSV (UTF-8).")],
    audience: Annotated[
        str | None, typer.Option("--audience", help="Público que se agrega a todas las filas.")
    ] = None,
) -> None:
    """Importar suscriptores (email,name,audiences,consent_at,consent_source)."""
    from dispatcher.services.mailing.subscribers import SubscriberError, import_csv, parse_audiences

    settings = load()
    try:
        parse_audiences(audience or "")
        stream = csv_path.open(encoding="utf-8-sig", newline="")
    except SubscriberError as exc:
        typer.echo(f"--audience: {exc}", err=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        typer.echo(f"No se pudo leer {csv_path}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None

    async def body(application: App) -> int:
        with stream:
            try:
                report = await import_csv(
                    application.ledger, stream, audience=audience, tz=settings.tz
                )
            except UnicodeDecodeError:
                typer.echo(f"{csv_path} no está en UTF-8: guárdelo como «CSV UTF-8».", err=True)
                return 2
        lines = report.lines()
        for line in lines[:-1]:
            typer.echo(line, err=True)
        typer.echo(lines[-1], err=bool(report.fatal))
        return 2 if report.fatal else (1 if report.errors else 0)

    raise typer.Exit(with_app(settings, body))


@subscribers_app.command("export")
def subscribers_export(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Archivo de salida (por defecto, la pantalla)."),
    ] = None,
) -> None:
    """Exportar los suscriptores (sin los eliminados) en CSV."""
    from dispatcher.services.mailing.subscribers import export_csv

    settings = load()

    async def body(application: App) -> int:
        if output is None:
            return await export_csv(application.ledger, sys.stdout, tz=settings.tz)
        with output.open("w", encoding="utf-8", newline="") as stream:
            count = await export_csv(application.ledger, stream, tz=settings.tz)
        typer.echo(f"{count} suscriptor(es) exportado(s) a {output}.", err=True)
        return count

    with_app(settings, body)


@subscribers_app.command("remove")
def subscribers_remove(
    email: Annotated[str, typer.Argument(metavar="EMAIL", help="Correo de la persona.")],
) -> None:
    """Eliminar los datos de una persona (a su solicitud); se guarda solo un resumen
    cifrado del correo para no volver a inscribirla por error."""
    from dispatcher.services.mailing.subscribers import SubscriberError, remove

    settings = load()

    async def body(application: App) -> int:
        try:
            outcome = await remove(application.ledger, email)
        except SubscriberError as exc:
            typer.echo(str(exc), err=True)
            return 2
        messages = {
            "erased": "Datos eliminados. La dirección no se volverá a inscribir por importación.",
            "already": "Esa dirección ya había sido eliminada.",
            "unknown": "Esa dirección no estaba inscrita; queda bloqueada para importaciones.",
        }
        typer.echo(messages[outcome])
        return 0

    raise typer.Exit(with_app(settings, body))


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Dirección (PREGONERO_WEB__HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Puerto (PREGONERO_WEB__PORT).")] = None,
) -> None:
    """Servir el escritorio de los editores (/escritorio), la baja en un clic (/baja/…) y la
    salud (/salud)."""
    import uvicorn

    from dispatcher.cli.db import prepare_ledger
    from dispatcher.items.plan import PlanError, load_plan
    from dispatcher.services.context import channel_names, plan_path
    from dispatcher.web.server import server_config

    settings = load()
    prepare_ledger(settings)  # an out-of-date PostgreSQL ledger stops here, with its message
    try:  # the desk needs the plan: a bad one stops here with its message, not a traceback
        load_plan(plan_path(settings), channel_names(), timezone=settings.timezone)
    except PlanError as exc:
        fail(f"El plan no es válido:\n{exc}")
    server = uvicorn.Server(server_config(settings, host=host, port=port))
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:  # the port is taken, the address is wrong…: uvicorn said why
        raise typer.Exit(3)
