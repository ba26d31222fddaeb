"""The root ``pregonero`` command (typer) and its sub-groups; commands attach to it."""

from __future__ import annotations

import typer

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
