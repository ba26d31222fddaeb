"""The editors' roster: ``editors add``, ``editors list``, ``editors remove``.

An editor is one identity across the bot, the web desk and the CLI. The password is read
from standard input only (``--password-stdin``: never a command-line argument, which other
users of the machine can see in the process list); ``list`` never prints hashes.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from dispatcher.cli.app import app
from dispatcher.cli.common import fail, load, with_app

if TYPE_CHECKING:
    from dispatcher.services.context import App

editors_app = typer.Typer(
    help="Editores: las personas que usan el bot y el escritorio web.", no_args_is_help=True
)
app.add_typer(editors_app, name="editors")

ROLES_ES = {"editor": "editor", "admin": "administrador"}


def read_password() -> str:
    """The password from standard input: its first line, without the line break."""
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


@editors_app.command("add")
def editors_add(
    username: Annotated[str, typer.Argument(metavar="USUARIO", help="Usuario para entrar.")],
    name: Annotated[str, typer.Option("--name", help="Nombre de la persona.")],
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Leer la contraseña de la entrada estándar."),
    ] = False,
    telegram_id: Annotated[
        int | None, typer.Option("--telegram-id", help="Su ID de usuario de Telegram.")
    ] = None,
    role: Annotated[str, typer.Option("--role", help="editor o admin.")] = "editor",
) -> None:
    """Registrar a un editor (la contraseña se lee de la entrada estándar)."""
    if not password_stdin:
        fail(
            "Falta --password-stdin: la contraseña se lee de la entrada estándar, "
            "p. ej. «pregonero editors add ana --name 'Ana Pérez' --password-stdin < clave.txt»."
        )
    password = read_password()
    settings = load()

    async def body(application: App) -> int:
        from dispatcher.services.editors import EditorError, add

        try:
            editor = await add(
                application.ledger,
                username,
                name=name,
                password=password,
                telegram_id=telegram_id,
                role=role,
            )
        except EditorError as exc:
            typer.echo(str(exc), err=True)
            return 1
        bot = f", Telegram {editor.telegram_id}" if editor.telegram_id is not None else ""
        typer.echo(
            f"Editor {editor.username} registrado ({editor.name}, {ROLES_ES[editor.role]}{bot})."
        )
        return 0

    raise typer.Exit(with_app(settings, body))


@editors_app.command("list")
def editors_list() -> None:
    """Listar los editores registrados (nunca muestra contraseñas)."""
    settings = load()

    async def body(application: App) -> int:
        from dispatcher.services.editors import listing

        found = await listing(application.ledger)
        if not found:
            typer.echo("No hay editores registrados (pregonero editors add).")
        for editor in found:
            bot = str(editor.telegram_id) if editor.telegram_id is not None else "—"
            typer.echo(
                f"{editor.username:<20} {ROLES_ES[editor.role]:<14} Telegram {bot:<12} "
                f"{editor.name}"
            )
        bot_only = sorted(
            set(settings.telegram.editors) - {e.telegram_id for e in found if e.telegram_id}
        )
        if bot_only:
            ids = ", ".join(map(str, bot_only))
            typer.echo(f"Solo en el bot (PREGONERO_TELEGRAM__EDITORS): {ids}")
        return 0

    raise typer.Exit(with_app(settings, body))


@editors_app.command("remove")
def editors_remove(
    username: Annotated[str, typer.Argument(metavar="USUARIO")],
) -> None:
    """Quitar a un editor: ya no podrá entrar al escritorio ni usar el bot."""
    settings = load()

    async def body(application: App) -> int:
        from dispatcher.services.editors import remove

        if not await remove(application.ledger, username):
            typer.echo(f"No existe el editor {username!r}.", err=True)
            return 1
        typer.echo(
            f"Editor {username} quitado: ya no puede entrar al escritorio ni usar el bot "
            "(sus aprobaciones pasadas se conservan)."
        )
        return 0

    raise typer.Exit(with_app(settings, body))
