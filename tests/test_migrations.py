"""The ledger's migrations (Alembic) on SQLite and PostgreSQL.

A ledger written by the first release (``tests/fixtures/ledger-round1.*.sql``, dumped from a
ledger the round-1 code built: see ``tests/fixtures/make_round1_ledger.py``) upgrades in
place with the real ``pregonero db upgrade`` and keeps every row; the commands that open
the ledger upgrade an embedded SQLite one themselves and refuse an out-of-date PostgreSQL
one; ``schema.py`` and the migrated database never differ.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import column, inspect, select, table, text
from sqlalchemy.engine import Connection

from dispatcher.ledger import migrate
from dispatcher.ledger.schema import create_engine, metadata
from dispatcher.ledger.store import Ledger
from tests.conftest import POSTGRES_SERVER, ROOT, Workspace

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PENDING_ITEM = "2026-11-25-licitacion-mantenimiento-malla-vial"

pytestmark = pytest.mark.slow


# -- helpers ----------------------------------------------------------------------------


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


async def load_round1(url: str) -> None:
    """Restore the first release's ledger (its own schema and rows) into ``url``."""
    if is_sqlite(url):
        script = (FIXTURES / "ledger-round1.sqlite.sql").read_text(encoding="utf-8")
        db = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            db.executescript(script)
        finally:
            db.close()
        return
    script = (FIXTURES / "ledger-round1.postgresql.sql").read_text(encoding="utf-8")
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(script)
    finally:
        await conn.close()


async def on_connection(url: str, fn: Any, *, write: bool = False) -> Any:
    """Run ``fn(sync_connection)`` on the database at ``url``."""
    engine = create_engine(url)
    try:
        if write:
            async with engine.begin() as conn:
                return await conn.run_sync(fn)
        async with engine.connect() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


Rows = dict[str, tuple[list[str], list[tuple[Any, ...]]]]


def rows(conn: Connection, like: Rows | None = None) -> Rows:
    """Every row of every first-release table, in primary-key order, as raw values; with
    ``like``, only the columns it has (a later revision may add columns)."""
    insp = inspect(conn)
    result: Rows = {}
    for name in sorted(migrate.BASELINE_TABLES):
        names = like[name][0] if like else [c["name"] for c in insp.get_columns(name)]
        key = insp.get_pk_constraint(name)["constrained_columns"]
        query = select(*(column(c) for c in names)).select_from(table(name))
        data = conn.execute(query.order_by(*(column(c) for c in key))).all()
        result[name] = (names, [tuple(row) for row in data])
    return result


def version(conn: Connection) -> list[str]:
    if not inspect(conn).has_table(migrate.VERSION_TABLE):
        return []
    return [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]


def differences(conn: Connection) -> list[Any]:
    """What autogenerate would write to turn this database into ``schema.py``."""
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def shape(conn: Connection) -> dict[str, Any]:
    """The reflected schema: columns (type, nullability, default, key), indexes, unique
    constraints and foreign keys of every table but Alembic's own."""
    insp = inspect(conn)
    result: dict[str, Any] = {}
    for name in sorted(set(insp.get_table_names()) - {migrate.VERSION_TABLE}):
        result[name] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                for c in insp.get_columns(name)
            ],
            "pk": insp.get_pk_constraint(name)["constrained_columns"],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in insp.get_indexes(name)
            ),
            "unique": sorted(
                (u["name"] or "", tuple(u["column_names"]))
                for u in insp.get_unique_constraints(name)
            ),
            "fks": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in insp.get_foreign_keys(name)
            ),
        }
    return result


def upgrade_to(revision: str) -> Any:
    def run(conn: Connection) -> None:
        command.upgrade(migrate.config(conn), revision)

    return run


async def init(url: str, *, upgrade: bool | None = None) -> migrate.SchemaChange:
    ledger = Ledger.from_url(url)
    try:
        return await ledger.init(upgrade=upgrade)
    finally:
        await ledger.close()


def with_ledger(workspace: Workspace, url: str) -> Workspace:
    workspace.env["PREGONERO_DATABASE_URL"] = url
    return workspace


@pytest.fixture
async def second_url(ledger_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """Another empty database of the same kind as ``ledger_url`` (dropped afterwards)."""
    if is_sqlite(ledger_url):
        yield f"sqlite:///{tmp_path / 'other.db'}"
        return
    server, name = ledger_url.rsplit("/", 1)
    other = f"{name}_b"
    admin = await asyncpg.connect(POSTGRES_SERVER)
    try:
        await admin.execute(f'CREATE DATABASE "{other}"')
        yield f"{server}/{other}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{other}" WITH (FORCE)')
        await admin.close()


# -- the baseline and the schema --------------------------------------------------------


async def test_baseline_is_the_first_release_schema(ledger_url: str, second_url: str) -> None:
    """Revision 0001 creates exactly what the first release's ``create_all`` did."""
    await load_round1(ledger_url)
    await on_connection(second_url, upgrade_to(migrate.BASELINE), write=True)
    first_release = await on_connection(ledger_url, shape)
    baseline = await on_connection(second_url, shape)
    assert set(first_release) == migrate.BASELINE_TABLES
    assert baseline == first_release


async def test_schema_matches_migrations(ledger_url: str, second_url: str) -> None:
    """``schema.py`` and a database upgraded through every revision do not differ, and a
    fresh ledger (``create_all`` + stamp at head) is that same database. Fails when
    ``schema.py`` changes without a revision."""
    change = await init(ledger_url)
    assert change.created and change.after == migrate.head()
    await on_connection(second_url, upgrade_to("head"), write=True)
    for url in (ledger_url, second_url):
        assert await on_connection(url, differences) == []
        assert await on_connection(url, version) == [migrate.head()]
    assert await on_connection(ledger_url, shape) == await on_connection(second_url, shape)


async def test_ledgers_starting_at_once_create_the_schema_once(ledger_url: str) -> None:
    """Several processes opening one fresh database at once: one creates, the others wait
    for it and find the schema at head."""
    ledgers = [Ledger.from_url(ledger_url) for _ in range(4)]
    try:
        changes = await asyncio.gather(*(ledger.init() for ledger in ledgers))
    finally:
        for ledger in ledgers:
            await ledger.close()
    assert sorted(c.created for c in changes) == [False, False, False, True]
    assert {c.after for c in changes} == {migrate.head()}
    assert await on_connection(ledger_url, version) == [migrate.head()]


# -- a first-release ledger -------------------------------------------------------------


async def test_first_release_ledger_upgrades_in_place(
    workspace: Workspace, ledger_url: str
) -> None:
    """``pregonero db upgrade`` on a ledger the first release wrote: stamped at the
    baseline, upgraded to head, every row kept; ``status`` then reads it."""
    await load_round1(ledger_url)
    before = await on_connection(ledger_url, rows)
    for name in ("items", "deliveries", "attempts", "approvals", "slots", "subscribers"):
        assert before[name][1], name
    assert before["mail_campaigns"][1] and before["mail_recipients"][1]
    consent = before["subscribers"][0].index("consent_at")
    assert all(row[consent] is not None for row in before["subscribers"][1])
    assert await on_connection(ledger_url, version) == []

    ws = with_ledger(workspace, ledger_url)
    upgraded = ws.cli("db", "upgrade", check=True)
    assert "primera versión" in upgraded.stdout
    assert f"revisión base {migrate.BASELINE}" in upgraded.stdout
    assert migrate.head() in upgraded.stdout
    assert await on_connection(ledger_url, version) == [migrate.head()]
    assert await on_connection(ledger_url, lambda c: rows(c, before)) == before
    assert await on_connection(ledger_url, differences) == []

    status = ws.cli("status", check=True)
    assert PENDING_ITEM in status.stdout
    assert "espera aprobación" in status.stdout

    again = ws.cli("db", "upgrade", check=True)
    assert f"ya está al día (revisión {migrate.head()})" in again.stdout


def test_db_upgrade_creates_a_fresh_ledger(workspace: Workspace, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nuevo.db'}"
    ws = with_ledger(workspace, url)
    created = ws.cli("db", "upgrade", check=True)
    assert f"se creó en la revisión {migrate.head()}" in created.stdout
    db = sqlite3.connect(tmp_path / "nuevo.db")
    try:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (migrate.head(),)
        ]
    finally:
        db.close()


@pytest.mark.parametrize("args", [("status",), ("run", "--once")], ids=["status", "run"])
async def test_sqlite_ledger_is_upgraded_by_the_commands(
    workspace: Workspace, tmp_path: Path, args: tuple[str, ...]
) -> None:
    """An out-of-date embedded SQLite ledger is upgraded by the command that opens it."""
    url = f"sqlite:///{tmp_path / 'pregonero.db'}"
    await load_round1(url)
    before = await on_connection(url, rows)
    result = with_ledger(workspace, url).cli(*args, check=True)
    assert "Traceback" not in result.stderr
    assert await on_connection(url, version) == [migrate.head()]
    after = await on_connection(url, lambda c: rows(c, before))
    for name in ("items", "attempts", "approvals", "subscribers", "mail_recipients"):
        assert after[name][1][: len(before[name][1])] == before[name][1], name
    if args == ("status",):
        assert after == before
        assert PENDING_ITEM in result.stdout


async def test_postgres_ledger_out_of_date_is_refused_until_db_upgrade(
    workspace: Workspace, postgres_url: str
) -> None:
    """``run``, ``worker`` and ``serve`` refuse a PostgreSQL ledger that is not at head
    (exit 2, the message names ``pregonero db upgrade``, no traceback, nothing changed);
    after ``pregonero db upgrade`` they start."""
    await load_round1(postgres_url)
    before = await on_connection(postgres_url, rows)
    ws = with_ledger(workspace, postgres_url)
    ws.env["PREGONERO_REDIS_URL"] = "redis://127.0.0.1:6379/15"
    for args in (("run", "--once"), ("worker", "--burst"), ("serve", "--port", "1")):
        refused = ws.cli(*args, timeout=60)
        assert refused.returncode == 2, (args, refused.stdout, refused.stderr)
        assert "pregonero db upgrade" in refused.stderr, args
        assert "Traceback" not in refused.stderr, args
    assert await on_connection(postgres_url, version) == []
    assert await on_connection(postgres_url, lambda c: rows(c, before)) == before

    ws.cli("db", "upgrade", check=True)
    del ws.env["PREGONERO_REDIS_URL"]
    ran = ws.cli("run", "--once", check=True)
    assert "Listo:" in ran.stdout
    assert await on_connection(postgres_url, version) == [migrate.head()]


async def test_ledger_from_a_newer_release_is_refused(
    ledger_url: str, workspace: Workspace
) -> None:
    """A revision this code does not know (a newer Pregonero upgraded the ledger): the
    commands stop with a message instead of writing to a schema they do not know."""
    await init(ledger_url, upgrade=True)

    def stamp_future(conn: Connection) -> None:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))

    await on_connection(ledger_url, stamp_future, write=True)
    for args in (("status",), ("db", "upgrade")):
        refused = with_ledger(workspace, ledger_url).cli(*args)
        assert refused.returncode == 2, (args, refused.stderr)
        assert "revisión 9999" in refused.stderr and "no conoce" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert await on_connection(ledger_url, version) == ["9999"]


def test_shipped_head_read_without_alembic_is_alembics_head() -> None:
    """The fast path of ``prepare`` (a ledger already at head) reads the revision files
    itself; it must name the head Alembic names."""
    assert migrate.shipped_head() == migrate.head()


async def test_a_ledger_at_head_opens_without_loading_alembic(tmp_path: Path) -> None:
    """A process whose ledger is current does not carry Alembic (~11 MB with Mako and
    Pygments): only creating or upgrading a schema imports it."""
    url = f"sqlite:///{tmp_path / 'pregonero.db'}"
    assert (await init(url)).created
    probe = (
        "import asyncio, sys\n"
        "from dispatcher.ledger.store import Ledger\n"
        "async def main():\n"
        f"    ledger = Ledger.from_url({url!r})\n"
        "    change = await ledger.init()\n"
        "    await ledger.close()\n"
        "    print(change.before == change.after, 'alembic' in sys.modules)\n"
        "asyncio.run(main())\n"
    )
    done = await asyncio.create_subprocess_exec(
        sys.executable, "-c", probe, cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await done.communicate()
    assert out.decode().split() == ["True", "False"]
