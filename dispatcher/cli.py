"""The ``pregonero`` command line (typer). Messages are in Spanish.

Heavy modules (channel clients, jinja, SQLAlchemy) are imported inside the commands so
``pregonero --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

if TYPE_CHECKING:
    from dispatcher.app import App
    from settings import Settings

T = TypeVar("T")

app = typer.Typer(
    name="pregonero",
    help="Pregonero: publica cada pieza de prensa en los canales del plan, desde un archivo.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
channels_app = typer.Typer(help="Canales configurados.", no_args_is_help=True)
app.add_typer(channels_app, name="channels")


def _register_parts() -> None:
    from dispatcher.mailing.cli import register as register_mailing
    from dispatcher.scale_cli import register as register_scale

    register_mailing(app)
    register_scale(app)


_register_parts()


def main() -> None:
    app()


def _fail(message: str, code: int = 2) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _settings() -> Settings:
    from settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        _fail(str(exc))
        raise
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpcore", "telegram", "watchfiles", "aiosqlite", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return settings


def _with_app(settings: Settings, body: Callable[[App], Awaitable[T]]) -> T:
    """Build the app (a bad plan stops here with its message), run ``body``, close."""
    from dispatcher.app import build_app
    from dispatcher.plan import PlanError

    async def go() -> T:
        try:
            application = await build_app(settings)
        except PlanError as exc:
            _fail(f"El plan no es válido:\n{exc}")
            raise
        try:
            return await body(application)
        finally:
            await application.aclose()

    return asyncio.run(go())


def _warn_outbox(application: App) -> None:
    from dispatcher.status import outbox_warnings

    for line in outbox_warnings(application):
        typer.secho(line, fg=typer.colors.YELLOW, err=True)


@app.command()
def run(
    once: Annotated[
        bool, typer.Option("--once", help="Procesar la bandeja y lo pendiente, y terminar.")
    ] = False,
) -> None:
    """Vigilar content/inbox/, programar y entregar (con --once: una pasada y salir)."""
    settings = _settings()

    async def body(application: App) -> None:
        from dispatcher.service import run_forever, run_once

        _warn_outbox(application)
        if once:
            tally = await run_once(application)
            for line in tally.messages:
                typer.echo(line)
            typer.echo(
                f"Listo: {tally.accepted} aceptado(s), {tally.corrections} corrección(es), "
                f"{tally.duplicates} duplicado(s), {tally.rejected} rechazado(s)."
            )
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        typer.echo(f"Vigilando {settings.content_dir / 'inbox'} (Ctrl+C para salir)…", err=True)
        await run_forever(application, stop)
        typer.echo("Pregonero detenido.", err=True)

    _with_app(settings, body)


@app.command()
def check(
    files: Annotated[list[Path], typer.Argument(help="Archivos de contenido (.md).")],
) -> None:
    """Validar archivos de contenido sin publicarlos (sale con 1 si hay errores)."""
    settings = _settings()

    async def body(application: App) -> int:
        from dispatcher.preview import check_files

        return check_files(application, files, typer.echo)

    bad = _with_app(settings, body)
    raise typer.Exit(1 if bad else 0)


@app.command()
def preview(
    file: Annotated[Path, typer.Argument(help="Archivo de contenido (.md).")],
    channel: Annotated[str | None, typer.Option("--channel", "-c", help="Solo este canal.")] = None,
) -> None:
    """Mostrar cómo se verá la pieza en cada canal, con su longitud frente al límite."""
    settings = _settings()

    async def body(application: App) -> int:
        from dispatcher.preview import preview_file

        return preview_file(application, file, channel, typer.echo)

    raise typer.Exit(_with_app(settings, body))


@app.command()
def status(
    item_id: Annotated[
        str | None, typer.Argument(metavar="ID", help="Identificador de la pieza.")
    ] = None,
) -> None:
    """Estado de las piezas y sus entregas (o de una pieza con su historial)."""
    settings = _settings()

    async def body(application: App) -> int:
        from dispatcher.status import item_report, overview

        if item_id is None:
            typer.echo(await overview(application))
            return 0
        text = await item_report(application, item_id)
        if text is None:
            typer.echo(f"No existe la pieza {item_id!r}.", err=True)
            return 1
        typer.echo(text)
        return 0

    raise typer.Exit(_with_app(settings, body))


@app.command()
def retry(
    item_id: Annotated[str, typer.Argument(metavar="ID")],
    channel: Annotated[str | None, typer.Option("--channel", "-c", help="Solo este canal.")] = None,
) -> None:
    """Volver a intentar las entregas fallidas o desconocidas de una pieza."""
    settings = _settings()

    async def body(application: App) -> int:
        from dispatcher.bot.approvals import retry as retry_item

        try:
            touched, waiting = await retry_item(application, item_id, channel)
        except KeyError:
            typer.echo(f"No existe la pieza {item_id!r}.", err=True)
            return 1
        if not touched:
            typer.echo("No hay entregas fallidas, desconocidas o canceladas para reintentar.")
            return 1
        if waiting:
            typer.echo(f"La pieza sigue esperando aprobación: pregonero approve {item_id}.")
        typer.echo(
            f"Reintento programado para: {', '.join(touched)}. Saldrá con 'pregonero run' "
            "(o en la próxima pasada de 'pregonero run --once')."
        )
        return 0

    raise typer.Exit(_with_app(settings, body))


@app.command()
def cancel(item_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Cancelar lo que falta por enviar de una pieza."""
    settings = _settings()

    async def body(application: App) -> int:
        try:
            count = await application.ledger.cancel(item_id)
        except KeyError:
            typer.echo(f"No existe la pieza {item_id!r}.", err=True)
            return 1
        typer.echo(f"Pieza {item_id} cancelada: {count} entrega(s) pendiente(s) anulada(s).")
        return 0

    raise typer.Exit(_with_app(settings, body))


@app.command()
def approve(
    item_id: Annotated[str, typer.Argument(metavar="ID")],
    editor: Annotated[str, typer.Option("--editor", "-e", help="Nombre de quien aprueba.")],
    editor_id: Annotated[
        int | None,
        typer.Option(
            "--editor-id",
            help="ID de Telegram de quien aprueba: cuenta como la misma persona en el bot.",
        ),
    ] = None,
) -> None:
    """Aprobar una pieza que espera aprobación (una de las que pide el plan)."""
    settings = _settings()
    roster = settings.telegram.editors
    if editor_id is not None and roster and editor_id not in roster:
        _fail(f"El ID {editor_id} no está en PREGONERO_TELEGRAM__EDITORS.")

    async def body(application: App) -> int:
        from dispatcher.bot.approvals import approve as record_approval

        try:
            result = await record_approval(application, item_id, editor_id, editor, "cli")
        except KeyError:
            typer.echo(f"No existe la pieza {item_id!r}.", err=True)
            return 1
        typer.echo(result.message(settings.tz, application.clock()))
        return 0 if result.outcome in ("approved", "recorded", "already") else 1

    raise typer.Exit(_with_app(settings, body))


@channels_app.command("check")
def channels_check() -> None:
    """Una llamada inocua por canal: ¿funcionan las credenciales?"""
    settings = _settings()

    async def body(application: App) -> int:
        from dispatcher.status import check_channels

        ok, lines = await check_channels(application)
        for line in lines:
            typer.echo(line)
        return 0 if ok else 1

    raise typer.Exit(_with_app(settings, body))


if __name__ == "__main__":  # pragma: no cover
    main()
