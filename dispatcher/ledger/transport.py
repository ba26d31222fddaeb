"""How the delivery path's statements reach the database with the fewest hops.

Through SQLAlchemy's asyncio layer and aiosqlite every statement costs three thread hops
(cursor, execute, fetch or close) and every connection checkout one more for its rollback:
about 0.15–0.35 ms of CPU each, more than the statement itself. The delivery path (due,
claim, the item, finish) is written instead as plain synchronous Core functions of a
:class:`~sqlalchemy.engine.Connection`, and run:

- on an SQLite file, in one dedicated thread over a synchronous pysqlite engine on the
  same file: one hop for a whole operation (a read, or a group-committed batch of writes);
- anywhere else (PostgreSQL, in-memory SQLite), inside the async engine through
  ``AsyncConnection.run_sync`` — the same function, so one implementation of the SQL.

Writes still take the ledger's one write lock, so in this process writers take turns
whichever engine they use, and each batch commits before its callers go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")
SyncOp = Callable[[Connection], T]


class Transport:
    """Runs synchronous ledger operations; one per :class:`~dispatcher.ledger.store.Ledger`."""

    def __init__(self, engine: AsyncEngine, sync_engine: Engine | None) -> None:
        self.engine = engine
        self.sync_engine = sync_engine
        self._thread: ThreadPoolExecutor | None = None

    def _executor(self) -> ThreadPoolExecutor:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="pregonero-ledger")
        return self._thread

    async def read(self, op: SyncOp[T]) -> T:
        """``op`` on a connection of its own (no transaction kept)."""
        sync_engine = self.sync_engine
        if sync_engine is None:
            async with self.engine.connect() as conn:
                return await conn.run_sync(op)

        def run() -> T:
            with sync_engine.connect() as conn:
                return op(conn)

        return await asyncio.get_running_loop().run_in_executor(self._executor(), run)

    async def write(self, ops: list[SyncOp[T]]) -> list[T]:
        """Every op in one transaction, committed before this returns (the caller holds
        the ledger's write lock on SQLite)."""
        sync_engine = self.sync_engine
        if sync_engine is None:
            async with self.engine.begin() as conn:
                return [await conn.run_sync(op) for op in ops]

        def run() -> list[T]:
            with sync_engine.begin() as conn:
                return [op(conn) for op in ops]

        return await asyncio.get_running_loop().run_in_executor(self._executor(), run)

    def close(self) -> None:
        """Close the sync engine's connections (in their thread) and stop the thread."""
        thread, self._thread = self._thread, None
        if self.sync_engine is not None:
            if thread is not None:
                thread.submit(self.sync_engine.dispose).result()
            else:
                self.sync_engine.dispose()
        if thread is not None:
            thread.shutdown(wait=True)
