"""The ``db`` commands: ``pregonero db upgrade`` brings the ledger's schema up to date.

``run``, ``worker``, ``serve`` and the other commands upgrade an embedded SQLite ledger
themselves; a PostgreSQL ledger, shared by several processes, is upgraded only here (they
refuse to start on an out-of-date one and name this command).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import typer

from dispatcher.cli.app import app
from dispatcher.cli.common import fail, load

BASELINE = "0001"  # dispatcher.ledger.migrate.BASELINE (not imported: keeps --help fast)

if TYPE_CHECKING:
    from dispatcher.ledger.migrate import SchemaChange
    from settings import Settings

db_app = typer.Typer(help="El registro (base de datos): su esquema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def describe(change: SchemaChange) -> str:
    """The Spanish line for what the upgrade did: from which revision to which."""
    if change.created:
        return f"Registro nuevo: se creó en la revisión {change.after} (la más reciente)."
    if change.stamped:
        found = "Registro de la primera versión (sin revisión): se marcó en la revisión base"
        if change.after == BASELINE:
            return f"{found} {BASELINE}, que es la más reciente; sus datos no cambian."
        return f"{found} {BASELINE} y se actualizó de la {BASELINE} a la {change.after}."
    if change.before != change.after:
        return f"Registro actualizado: de la revisión {change.before} a la {change.after}."
    return f"El registro ya está al día (revisión {change.after}): no hubo cambios."


def prepare_ledger(settings: Settings, *, upgrade: bool | None = None) -> SchemaChange:
    """Open the ledger, make its schema current (``upgrade``: see ``Ledger.init``) and close
    it; a schema that cannot be used ends the command with its message (exit 2)."""
    from dispatcher.ledger.migrate import SchemaError
    from dispatcher.ledger.store import Ledger

    async def go() -> SchemaChange:
        ledger = Ledger.from_url(settings.resolved_database_url)
        try:
            return await ledger.init(upgrade=upgrade)
        finally:
            await ledger.close()

    try:
        return asyncio.run(go())
    except SchemaError as exc:
        fail(str(exc))


@db_app.command("upgrade")
def upgrade() -> None:
    """Actualizar el esquema del registro a esta versión (detenga antes los procesos)."""
    typer.echo(describe(prepare_ledger(load(), upgrade=True)))
