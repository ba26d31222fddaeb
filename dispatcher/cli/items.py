"""The item commands: ``run``, ``check``, ``preview``, ``status``, ``retry``, ``cancel``,
``approve``, ``withdraw`` and ``channels check``. Messages are in Spanish.

Heavy modules (channel clients, jinja, SQLAlchemy) are imported inside the commands so
``pregonero --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dispatcher.cli.app import app, channels_app
from dispatcher.cli.common import load, warn_outbox, with_app
from dispatcher.ledger.types import NotFound

EXIT_ATTENTION = 3
"""``run --once``: a delivery ended ``failed`` or ``unknown`` in this pass (cron sees it)."""

if TYPE_CHECKING:
    from dispatcher.services.context import App


@app.command()
def run(
    once: Annotated[
        bool, typer.Option("--once", help="Procesar la bandeja y lo pendiente, y terminar.")
    ] = False,
) -> None:
    """Vigilar content/inbox/, programar y entregar (con --once: una pasada y salir)."""
    settings = load()

    async def body(application: App) -> int:
        from dispatcher.run.loop import run_forever, run_once

        warn_outbox(application)
        if once:
            tally = await run_once(application)
            for line in tally.messages:
                typer.echo(line)
            typer.echo(
                f"Listo: {tally.accepted} aceptado(s), {tally.corrections} corrección(es), "
                f"{tally.duplicates} duplicado(s), {tally.rejected} rechazado(s)."
            )
            if tally.ended_badly:
                for ended in tally.ended_badly:
                    state = "falló" if ended.status == "failed" else "resultado DESCONOCIDO"
                    typer.echo(
                        f"ATENCIÓN: {ended.item_id} · {ended.channel}: {state}"
                        + (f" — {ended.error}" if ended.error else ""),
                        err=True,
                    )
                return EXIT_ATTENTION
            return 0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        typer.echo(f"Vigilando {settings.content_dir / 'inbox'} (Ctrl+C para salir)…", err=True)
        await run_forever(application, stop)
        typer.echo("Pregonero detenido.", err=True)
        return 0

    raise typer.Exit(with_app(settings, body))


@app.command()
def check(
    files: Annotated[list[Path], typer.Argument(help="Archivos de contenido (.md).")],
) -> None:
    """Validar archivos de contenido sin publicarlos (sale con 1 si hay errores)."""
    settings = load()

    async def body(application: App) -> int:
        from dispatcher.services.preview import check_files

        return await check_files(application, files, typer.echo)

    bad = with_app(settings, body)
    raise typer.Exit(1 if bad else 0)


@app.command()
def preview(
    file: Annotated[Path, typer.Argument(help="Archivo de contenido (.md).")],
    channel: Annotated[str | None, typer.Option("--channel", "-c", help="Solo este canal.")] = None,
) -> None:
    """Mostrar cómo se verá la pieza en cada canal, con su longitud frente al límite."""
    settings = load()

    async def body(application: App) -> int:
        from dispatcher.services.preview import preview_file

        return preview_file(application, file, channel, typer.echo)

    raise typer.Exit(with_app(settings, body))


@app.command()
def status(
    item_id: Annotated[
        str | None, typer.Argument(metavar="ID", help="Identificador de la pieza.")
    ] = None,
) -> None:
    """Estado de las piezas y sus entregas (o de una pieza con su historial)."""
    settings = load()

    async def body(application: App) -> int:
        from dispatcher.services.status import item_report, overview

        if item_id is None:
            typer.echo(await overview(application))
            return 0
        text = await item_report(application, item_id)
        if text is None:
            typer.echo(f"No existe la pieza {item_id!r}.", err=True)
            return 1
        typer.echo(text)
        return 0

    raise typer.Exit(with_app(settings, body))


@app.command()
def retry(
    item_id: Annotated[str, typer.Argument(metavar="ID")],
    channel: Annotated[str | None, typer.Option("--channel", "-c", help="Solo este canal.")] = None,
) -> None:
    """Volver a intentar las entregas fallidas o desconocidas de una pieza."""
    settings = load()

    async def body(application: App) -> int:
        from dispatcher.services.approvals import retry as retry_item

        try:
            touched, waiting = await retry_item(application, item_id, channel)
        except NotFound:
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

    raise typer.Exit(with_app(settings, body))


@app.command()
def cancel(item_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Cancelar lo que falta por enviar de una pieza."""
    settings = load()

    async def body(application: App) -> int:
        from dispatcher.services.lifecycle import cancel as cancel_item
        from dispatcher.services.lifecycle import cancel_text

        try:
            result = await cancel_item(application, item_id)
        except NotFound:
            typer.echo(f"No existe la pieza {item_id!r}.", err=True)
            return 1
        typer.echo(cancel_text(item_id, result, resume=f"pregonero retry {item_id}"))
        return 1 if result.published and not result.cancelled else 0

    raise typer.Exit(with_app(settings, body))


@app.command()
def approve(
    item_id: Annotated[str, typer.Argument(metavar="ID")],
    editor: Annotated[
        str,
        typer.Option(
            "--editor",
            "-e",
            help="Usuario (pregonero editors add) o nombre de quien aprueba.",
        ),
    ],
    editor_id: Annotated[
        int | None,
        typer.Option(
            "--editor-id",
            help="ID de Telegram de quien aprueba: cuenta como la misma persona en el bot.",
        ),
    ] = None,
) -> None:
    """Aprobar una pieza que espera aprobación (una de las que pide el plan)."""
    settings = load()
    roster = settings.telegram.editors

    async def body(application: App) -> int:
        from dispatcher.services.approvals import approve as record_approval
        from dispatcher.services.editors import may_use_bot
        from dispatcher.services.lifecycle import approve_withdrawal, withdraw_text

        if editor_id is not None and roster and not await may_use_bot(application, editor_id):
            typer.echo(
                f"El ID {editor_id} no está en PREGONERO_TELEGRAM__EDITORS ni es de un "
                "editor registrado.",
                err=True,
            )
            return 2
        try:
            withdrawal = await approve_withdrawal(application, item_id, editor_id, editor, "cli")
            if withdrawal is not None:  # a withdrawal waits for approval: this approves it
                typer.echo(withdraw_text(item_id, withdrawal, approve=_APPROVE % item_id))
                return 0 if withdrawal.outcome in ("withdrawn", "recorded", "already") else 1
            result = await record_approval(application, item_id, editor_id, editor, "cli")
        except NotFound:
            typer.echo(f"No existe la pieza {item_id!r}.", err=True)
            return 1
        typer.echo(result.message(settings.tz, application.clock()))
        return 0 if result.outcome in ("approved", "recorded", "already") else 1

    raise typer.Exit(with_app(settings, body))


_APPROVE = "pregonero approve %s --editor NOMBRE"


@app.command()
def withdraw(
    item_id: Annotated[str, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Motivo del retiro (se publica).")],
    editor: Annotated[
        str, typer.Option("--editor", "-e", help="Nombre de quien pide el retiro.")
    ] = "línea de comandos",
) -> None:
    """Retirar una pieza publicada de todos los canales (con aprobación si el plan la pide)."""
    settings = load()

    async def body(application: App) -> int:
        from dispatcher.services.lifecycle import withdraw as withdraw_item
        from dispatcher.services.lifecycle import withdraw_text

        try:
            result, needed = await withdraw_item(
                application, item_id, reason, editor_id=None, editor_name=editor, via="cli"
            )
        except NotFound:
            typer.echo(f"No existe la pieza {item_id!r}.", err=True)
            return 1
        except ValueError as exc:
            typer.echo(f"No se retiró: {exc}.", err=True)
            return 1
        typer.echo(withdraw_text(item_id, result, approve=_APPROVE % item_id, needed=needed))
        if result.outcome == "withdrawn" and result.channels:
            typer.echo(
                "Saldrá con 'pregonero run' (o en la próxima pasada de 'pregonero run --once')."
            )
        return 0

    raise typer.Exit(with_app(settings, body))


@channels_app.command("check")
def channels_check() -> None:
    """Una llamada inocua por canal: ¿funcionan las credenciales?"""
    settings = load()

    async def body(application: App) -> int:
        from dispatcher.services.status import check_channels

        ok, lines = await check_channels(application)
        for line in lines:
            typer.echo(line)
        return 0 if ok else 1

    raise typer.Exit(with_app(settings, body))
