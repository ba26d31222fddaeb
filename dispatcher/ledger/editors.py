"""The editors' roster: who may use the bot and the web desk (``pregonero editors …``).

Rows are never deleted: removing an editor marks the row (``removed_at``) and clears its
password hash and Telegram id, so old approvals still name the person. Hashing and every
rule about usernames, roles and passwords belong to :mod:`dispatcher.services.editors`;
this module only stores and reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.exc import IntegrityError

from dispatcher.ledger.schema import editors, utcnow
from dispatcher.ledger.types import EditorRole

if TYPE_CHECKING:
    from dispatcher.ledger.store import Ledger


class EditorConflict(ValueError):
    """The username (of an active editor) or the Telegram id is already taken."""

    def __init__(self, field: str, value: object) -> None:
        super().__init__(f"{field} {value!r} ya está en uso")
        self.field = field
        self.value = value


@dataclass(frozen=True)
class EditorRecord:
    """One editor's row (the hash is here for verification only: never show it)."""

    username: str
    name: str
    telegram_id: int | None
    role: EditorRole
    password_hash: str
    created_at: datetime
    removed_at: datetime | None

    @property
    def active(self) -> bool:
        return self.removed_at is None

    @property
    def admin(self) -> bool:
        return self.role is EditorRole.ADMIN


def _record(row: Any) -> EditorRecord:
    return EditorRecord(
        username=row.username,
        name=row.name,
        telegram_id=None if row.telegram_id is None else int(row.telegram_id),
        role=EditorRole(row.role),
        password_hash=row.password_hash,
        created_at=row.created_at,
        removed_at=row.removed_at,
    )


async def add(
    ledger: Ledger,
    *,
    username: str,
    name: str,
    telegram_id: int | None,
    role: EditorRole,
    password_hash: str,
) -> EditorRecord:
    """Register an editor; a removed editor's username is taken again (the row comes back).
    Raises :class:`EditorConflict` for an active username or a Telegram id in use."""
    now = utcnow()
    values = {
        "name": name,
        "telegram_id": telegram_id,
        "role": role.value,
        "password_hash": password_hash,
        "removed_at": None,
    }
    try:
        async with ledger.engine.begin() as conn:
            if telegram_id is not None:
                holder = await conn.scalar(
                    select(editors.c.username).where(editors.c.telegram_id == telegram_id)
                )
                if holder is not None and holder != username:
                    raise EditorConflict("telegram_id", telegram_id)
            old = (
                await conn.execute(select(editors).where(editors.c.username == username))
            ).first()
            if old is not None and old.removed_at is None:
                raise EditorConflict("username", username)
            if old is None:
                await conn.execute(
                    insert(editors).values(username=username, created_at=now, **values)
                )
            else:
                await conn.execute(
                    update(editors)
                    .where(editors.c.username == username)
                    .values(created_at=now, **values)
                )
    except IntegrityError as exc:  # a concurrent add won the race
        raise EditorConflict("username", username) from exc
    found = await find(ledger, username)
    assert found is not None
    return found


async def find(ledger: Ledger, username: str) -> EditorRecord | None:
    """The active editor ``username``, or ``None``."""
    return await _active(ledger, editors.c.username == username)


async def by_telegram_id(ledger: Ledger, telegram_id: int) -> EditorRecord | None:
    """The active editor with this Telegram user id, or ``None``."""
    return await _active(ledger, editors.c.telegram_id == telegram_id)


async def _active(ledger: Ledger, which: ColumnElement[bool]) -> EditorRecord | None:
    async with ledger.engine.connect() as conn:
        query = select(editors).where(which, editors.c.removed_at.is_(None))
        row = (await conn.execute(query)).first()
    return None if row is None else _record(row)


async def by_name(ledger: Ledger, name: str) -> list[EditorRecord]:
    """Active editors whose display name is ``name`` (case and spacing aside)."""
    wanted = " ".join(name.split()).casefold()
    async with ledger.engine.connect() as conn:
        rows = await conn.execute(select(editors).where(editors.c.removed_at.is_(None)))
        return [r for r in map(_record, rows) if " ".join(r.name.split()).casefold() == wanted]


async def listing(ledger: Ledger, *, removed: bool = False) -> list[EditorRecord]:
    """Every active editor by username (and the removed ones with ``removed``)."""
    query = select(editors).order_by(editors.c.username)
    if not removed:
        query = query.where(editors.c.removed_at.is_(None))
    async with ledger.engine.connect() as conn:
        return [_record(row) for row in await conn.execute(query)]


async def remove(ledger: Ledger, username: str) -> bool:
    """Mark the editor removed (no password, no Telegram id); ``False`` if none was active."""
    async with ledger.engine.begin() as conn:
        result = await conn.execute(
            update(editors)
            .where(editors.c.username == username, editors.c.removed_at.is_(None))
            .values(removed_at=utcnow(), password_hash="", telegram_id=None)
        )
        return bool(result.rowcount)


async def set_password_hash(ledger: Ledger, username: str, password_hash: str) -> None:
    """Replace an active editor's hash (a rehash with newer Argon2 parameters at login)."""
    async with ledger.engine.begin() as conn:
        await conn.execute(
            update(editors)
            .where(editors.c.username == username, editors.c.removed_at.is_(None))
            .values(password_hash=password_hash)
        )
