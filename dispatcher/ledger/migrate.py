"""The ledger's schema versions (Alembic, configured in code; the revisions live in
``dispatcher/ledger/migrations/versions``).

:func:`prepare` runs inside the transaction (and lock) :meth:`Ledger.init
<dispatcher.ledger.store.Ledger.init>` holds, and finds one of four databases:

- empty: the tables are created from ``schema.py`` (``create_all``) and stamped at head,
  which the compare test proves is what running every revision gives;
- a first-release ledger (its tables, no ``alembic_version``): stamped at the baseline,
  then upgraded;
- at an older revision: upgraded, or :class:`OutOfDate` when the caller may not upgrade;
- at head: nothing to do.

A revision this code does not know (the ledger was upgraded by a newer Pregonero) is
:class:`UnknownRevision`. Developers add a revision with
``python -m dispatcher.ledger.migrate revision "mensaje"`` (see ``versions/__init__.py``).
"""

from __future__ import annotations

import argparse
import ast
import logging
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection

from dispatcher.ledger.schema import metadata

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

# Alembic (with Mako and Pygments: ~11 MB per process) is imported only when a schema
# changes or must be checked in depth; a ledger already at head is recognised without it
# (see ``shipped_head``), so a worker or a mailing process does not carry it.

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001"
VERSION_TABLE = "alembic_version"
# the tables the first release created: a database holding some of them but no version
# table is a first-release ledger only if it holds them all
BASELINE_TABLES = frozenset(
    {
        "meta",
        "items",
        "revisions",
        "deliveries",
        "attempts",
        "slots",
        "approvals",
        "subscribers",
        "mail_campaigns",
        "mail_recipients",
        "mail_digest",
    }
)
UPGRADE_HINT = "pregonero db upgrade"


class SchemaError(Exception):
    """The ledger's schema cannot be used as it is; the message (Spanish) says what to do."""


class OutOfDate(SchemaError):
    """The ledger is behind this code and the caller may not upgrade it (PostgreSQL, shared
    by several processes: an operator runs ``pregonero db upgrade`` once)."""

    def __init__(self, current: str | None, head: str) -> None:
        self.current = current
        self.head = head
        found = (
            f"en la revisión {current}"
            if current
            else "sin revisión (lo creó la primera versión de Pregonero)"
        )
        super().__init__(
            f"El registro (PostgreSQL) está {found} y esta versión de Pregonero necesita la "
            f"revisión {head}. Actualícelo una vez, con los procesos detenidos: "
            f"{UPGRADE_HINT}"
        )


class UnknownRevision(SchemaError):
    """The ledger is at a revision this code does not have: a newer Pregonero upgraded it."""

    def __init__(self, current: str, head: str) -> None:
        self.current = current
        self.head = head
        super().__init__(
            f"El registro está en la revisión {current}, que esta versión de Pregonero no "
            f"conoce (la suya llega hasta la {head}): lo actualizó una versión más nueva. "
            "Instale esa versión o una posterior."
        )


class NotALedger(SchemaError):
    """The database holds some of the ledger's tables but is not a ledger of any release."""

    def __init__(self, missing: frozenset[str]) -> None:
        self.missing = missing
        super().__init__(
            "La base de datos tiene tablas pero no parece un registro de Pregonero "
            f"(faltan: {', '.join(sorted(missing))}); use una base de datos vacía."
        )


@dataclass(frozen=True)
class SchemaChange:
    """What :func:`prepare` found and did."""

    before: str | None
    """The revision found (``None``: an empty database or a first-release ledger)."""
    after: str
    created: bool = False
    """An empty database: the tables were created at head."""
    stamped: bool = False
    """A first-release ledger (no ``alembic_version``): stamped at the baseline first."""

    @property
    def upgraded(self) -> bool:
        """Revisions were applied to existing tables."""
        return not self.created and (self.stamped or self.before != self.after)


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, in code: no ``alembic.ini``. ``env.py`` runs on
    ``connection``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@cache
def scripts() -> ScriptDirectory:
    """The revisions shipped with this code (read once per process)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config())


def head() -> str:
    """The newest revision this code knows."""
    current = scripts().get_current_head()
    if current is None:  # pragma: no cover - the baseline always exists
        raise RuntimeError("no hay revisiones del registro")
    return current


@cache
def shipped_head() -> str | None:
    """The newest shipped revision read from the revision files' ``revision`` and
    ``down_revision`` assignments, without Alembic: the one revision no other revises
    (``None`` when that is not exactly one, e.g. two heads: then Alembic decides)."""
    revisions: dict[str, object] = {}
    for path in (MIGRATIONS / "versions").glob("[0-9]*.py"):
        found: dict[str, object] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                    found[target.id] = ast.literal_eval(node.value)
        if isinstance(found.get("revision"), str):
            revisions[str(found["revision"])] = found.get("down_revision")
    revised: set[object] = set()
    for down in revisions.values():
        revised.update(down if isinstance(down, tuple | list) else (down,))
    heads = [rev for rev in revisions if rev not in revised]
    return heads[0] if len(heads) == 1 else None


def current_revision(conn: Connection) -> str | None:
    """The revision stamped in the database (``None``: no ``alembic_version`` row)."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _stamped(conn: Connection) -> list[str] | None:
    """The ``alembic_version`` rows read with plain SQL (``None``: no such table)."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    return [
        str(r) for r in conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars()
    ]


def prepare(conn: Connection, *, upgrade: bool) -> SchemaChange:
    """Make the schema current (see the module docstring). Runs inside the caller's
    transaction, under its lock; raises :class:`SchemaError` (nothing is changed then)."""
    shipped = shipped_head()
    if shipped is not None and _stamped(conn) == [shipped]:  # the usual case: at head
        return SchemaChange(before=shipped, after=shipped)
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    target = head()
    names = set(inspect(conn).get_table_names())
    current = current_revision(conn) if VERSION_TABLE in names else None
    if current is None:
        ours = names & set(metadata.tables)
        if not ours:
            metadata.create_all(conn)
            MigrationContext.configure(conn).stamp(scripts(), "head")
            log.info("registro nuevo: creado en la revisión %s", target)
            return SchemaChange(before=None, after=target, created=True)
        missing = BASELINE_TABLES - names
        if missing:
            raise NotALedger(frozenset(missing))
    elif current == target:
        return SchemaChange(before=current, after=target)
    elif _unknown(current):
        raise UnknownRevision(current, target)
    if not upgrade:
        raise OutOfDate(current, target)
    if current is None:
        log.info("registro de la primera versión: se marca en la revisión base %s", BASELINE)
        MigrationContext.configure(conn).stamp(scripts(), BASELINE)
    command.upgrade(config(conn), "head")
    if (current or BASELINE) != target:
        log.info("registro actualizado de la revisión %s a la %s", current or BASELINE, target)
    return SchemaChange(before=current, after=target, stamped=current is None)


def foreign_key_violations(conn: Connection) -> int:
    """SQLite: rows whose foreign keys point nowhere (checked after a migration that ran
    with ``PRAGMA foreign_keys=OFF``, as batch mode needs)."""
    return len(conn.execute(text("PRAGMA foreign_key_check")).all())


def _unknown(revision: str) -> bool:
    from alembic.util import CommandError

    try:
        return scripts().get_revision(revision) is None
    except CommandError:  # "Can't locate revision identified by …"
        return True


# -- for developers -----------------------------------------------------------------------


def new_revision(message: str) -> Path:
    """Autogenerate the next revision (``NNNN_<slug>.py``) by comparing ``schema.py`` with
    a scratch SQLite ledger upgraded to head. Read and fix it before committing."""
    from alembic import command

    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/head.db")
        try:
            with engine.begin() as conn:
                cfg = config(conn)
                command.upgrade(cfg, "head")
                rev_id = f"{int(head()) + 1:04d}"
                script = command.revision(cfg, message, autogenerate=True, rev_id=rev_id)
        finally:
            engine.dispose()
    if script is None or isinstance(script, list):  # pragma: no cover - one head, one script
        raise RuntimeError("alembic no generó una revisión")
    return Path(script.path)


def main(argv: list[str] | None = None) -> None:
    """``python -m dispatcher.ledger.migrate revision "mensaje"``."""
    parser = argparse.ArgumentParser(prog="python -m dispatcher.ledger.migrate")
    sub = parser.add_subparsers(dest="command", required=True)
    rev = sub.add_parser("revision", help="generar la siguiente revisión desde schema.py")
    rev.add_argument("message")
    args = parser.parse_args(argv)
    print(new_revision(args.message))


if __name__ == "__main__":
    main()
