"""Editors as one identity across the bot, the web desk and the CLI.

- :func:`add`, :func:`listing`, :func:`remove`: ``pregonero editors add|list|remove``.
  Passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106's recommendation);
  only the hash is kept, and nothing here ever returns or prints it.
- :func:`authenticate`: the desk's login. An unknown username costs the same hash
  verification as a known one, so timing does not tell which usernames exist.
- :func:`identify`: who decided, as the approvals count people. A registered editor is
  ``ed:<username>`` however they approve — the bot (by their Telegram id), the desk (their
  login) or the CLI (``approve --editor USER``, or their display name when only one
  editor has it) — so one person approving twice counts once. Anyone else keeps the old
  keys: the Telegram id of a bot-only editor (``PREGONERO_TELEGRAM__EDITORS``), or a name.
- :func:`may_use_bot`: the bot's gate — ids in ``PREGONERO_TELEGRAM__EDITORS`` and every
  registered editor's Telegram id; :func:`telegram_ids`: all of them (the bot's notices).
"""

from __future__ import annotations

import asyncio
import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dispatcher.ledger import editors as roster
from dispatcher.ledger.approvals import Editor
from dispatcher.ledger.editors import EditorConflict, EditorRecord
from dispatcher.ledger.types import EditorRole

if TYPE_CHECKING:
    from dispatcher.ledger.store import Ledger
    from dispatcher.services.context import App

USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,39}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against for unknown usernames (made once, when first needed)."""
    return _hasher.hash("pregonero: un usuario que no existe")


class EditorError(ValueError):
    """A refused ``editors`` command or login, said in Spanish (never with the password)."""


@dataclass(frozen=True)
class EditorView:
    """What may be shown of an editor (never the hash)."""

    username: str
    name: str
    telegram_id: int | None
    role: EditorRole

    @property
    def admin(self) -> bool:
        return self.role is EditorRole.ADMIN

    @property
    def identity(self) -> Editor:
        """The approver this editor is, for the ledger's decisions."""
        return Editor(self.telegram_id, self.name, self.username)


def _view(record: EditorRecord) -> EditorView:
    return EditorView(record.username, record.name, record.telegram_id, record.role)


def normalise_username(raw: str) -> str:
    """Usernames are lower case: ``Ana.Perez`` and ``ana.perez`` are one editor."""
    return raw.strip().lower()


def check_username(raw: str) -> str:
    username = normalise_username(raw)
    if not USERNAME.match(username):
        raise EditorError(
            f"Usuario no válido: {raw!r}. Use de 2 a 40 caracteres: letras sin tilde, "
            "números, punto, guion o guion bajo, empezando por una letra."
        )
    return username


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise EditorError(f"La contraseña debe tener al menos {MIN_PASSWORD} caracteres.")
    if len(password) > MAX_PASSWORD:
        raise EditorError(f"La contraseña no puede pasar de {MAX_PASSWORD} caracteres.")
    return password


async def add(
    ledger: Ledger,
    username: str,
    *,
    name: str,
    password: str,
    telegram_id: int | None = None,
    role: str = "editor",
) -> EditorView:
    """Register an editor (Argon2id hash of ``password``). Raises :class:`EditorError`."""
    username = check_username(username)
    shown = " ".join(name.split())
    if not shown:
        raise EditorError("Falta el nombre de la persona (--name).")
    try:
        kind = EditorRole(role)
    except ValueError:
        raise EditorError(f"Rol no válido: {role!r} (use editor o admin).") from None
    if telegram_id is not None and telegram_id <= 0:
        raise EditorError(f"ID de Telegram no válido: {telegram_id}.")
    digest = _hasher.hash(check_password(password))
    try:
        record = await roster.add(
            ledger,
            username=username,
            name=shown,
            telegram_id=telegram_id,
            role=kind,
            password_hash=digest,
        )
    except EditorConflict as exc:
        if exc.field == "username":
            raise EditorError(f"Ya existe el editor {username!r}.") from None
        raise EditorError(f"El ID de Telegram {telegram_id} ya es de otro editor.") from None
    return _view(record)


async def listing(ledger: Ledger) -> list[EditorView]:
    """The active editors, by username."""
    return [_view(r) for r in await roster.listing(ledger)]


async def remove(ledger: Ledger, username: str) -> bool:
    """Remove an editor (they can no longer log in nor use the bot); ``False`` if unknown."""
    return await roster.remove(ledger, normalise_username(username))


async def find(ledger: Ledger, username: str) -> EditorView | None:
    """The active editor ``username`` (any case), or ``None``."""
    record = await roster.find(ledger, normalise_username(username))
    return None if record is None else _view(record)


async def authenticate(ledger: Ledger, username: str, password: str) -> EditorView | None:
    """The editor when ``password`` is theirs, else ``None`` (unknown user, removed user or
    wrong password look alike, and cost alike)."""
    record = await roster.find(ledger, normalise_username(username))
    digest = record.password_hash if record is not None else _dummy_hash()
    try:  # in a thread: a verification takes tens of milliseconds of CPU
        await asyncio.to_thread(_hasher.verify, digest, password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return None
    if record is None:
        return None
    if _hasher.check_needs_rehash(digest):
        await roster.set_password_hash(ledger, record.username, _hasher.hash(password))
    return _view(record)


async def identify(
    ledger: Ledger,
    editor_id: int | None,
    editor_name: str,
    username: str | None = None,
) -> Editor:
    """The approver behind a decision, as one person across the interfaces.

    ``username`` (the desk's login) must be an active editor (:class:`EditorError`
    otherwise). Else a Telegram id that belongs to a registered editor is that editor; else
    a name that is a registered username, or the display name of exactly one editor, is
    that editor (the CLI's ``--editor``). Anyone else is who they were before: their
    Telegram id, or their name."""
    if username is not None:
        record = await roster.find(ledger, normalise_username(username))
        if record is None:
            raise EditorError(f"No existe el editor {username!r}.")
        return _view(record).identity
    if editor_id is not None:
        record = await roster.by_telegram_id(ledger, editor_id)
        return Editor(editor_id, editor_name) if record is None else _view(record).identity
    record = await roster.find(ledger, normalise_username(editor_name))
    if record is None:
        same_name = await roster.by_name(ledger, editor_name)
        record = same_name[0] if len(same_name) == 1 else None
    return Editor(None, editor_name) if record is None else _view(record).identity


async def may_use_bot(app: App, telegram_id: int) -> bool:
    """Whether this Telegram user is an editor: listed in ``PREGONERO_TELEGRAM__EDITORS``
    (a bot-only editor) or registered with that id."""
    if telegram_id in app.settings.telegram.editors:
        return True
    return await roster.by_telegram_id(app.ledger, telegram_id) is not None


async def telegram_ids(app: App) -> list[int]:
    """Every Telegram id that is an editor's: ``PREGONERO_TELEGRAM__EDITORS`` and the
    registered editors' (who the bot tells about failures and sends the summary)."""
    registered = {e.telegram_id for e in await listing(app.ledger) if e.telegram_id is not None}
    return sorted(set(app.settings.telegram.editors) | registered)
