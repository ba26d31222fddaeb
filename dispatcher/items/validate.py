"""One validation path for content files: the inbox, ``pregonero check``, the bot and the web
desk accept and refuse exactly the same files, with the same Spanish messages (field, line).

:func:`validate_data` runs every check on a file's bytes — front matter (:mod:`.parse`),
media through the symlink-free walk of :mod:`.media` (existence, size, type), and, through
``Rules.validate``, what needs the plan or the ledger (:func:`item_problems`: channels,
audiences, a correction keeping its kind). :func:`validate_file` reads a file on disk as the
inbox reads it (the file itself, never a symlink or a FIFO, within the size limit).
"""

from __future__ import annotations

import difflib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from dispatcher.items.audiences import AUDIENCES
from dispatcher.items.media import OpenedMedia
from dispatcher.items.model import ContentItem
from dispatcher.items.parse import ContentError, MissingMedia, Validator, parse, too_big
from dispatcher.items.plan import Plan


@dataclass(frozen=True)
class Rules:
    """What every content file is checked against, wherever it comes from."""

    tz: ZoneInfo
    known_kinds: frozenset[str]
    max_bytes: int
    max_media_bytes: int | None
    validate: Validator | None = None


def validate_data(
    data: bytes,
    *,
    name: str,
    base_dir: Path,
    rules: Rules,
    today: date,
    archived: Callable[[str], list[Path]] | None = None,
    opened: OpenedMedia | None = None,
) -> tuple[ContentItem, list[Path]]:
    """Every check on one file's bytes; media relative to ``base_dir``. A correction need
    not resend its pictures: media missing there are looked for in ``archived(id)`` (the
    archive folders of earlier revisions). Returns the item and the folders used.
    With ``opened``, the media stay open there (the intake copies those very files).
    Raises :class:`MissingMedia` or :class:`ContentError`."""

    def once(media_dirs: list[Path]) -> ContentItem:
        return parse(
            data,
            name=name,
            base_dir=base_dir,
            tz=rules.tz,
            today=today,
            max_bytes=rules.max_bytes,
            known_kinds=rules.known_kinds,
            max_media_bytes=rules.max_media_bytes,
            validate=rules.validate,
            media_dirs=media_dirs,
            opened=opened,
        )

    try:
        return once([]), []
    except MissingMedia as first:
        media_dirs = archived(first.item.id) if archived and first.item else []
        if not media_dirs:
            raise
        return once(media_dirs), media_dirs


def read_content(path: Path, max_bytes: int) -> bytes:
    """The bytes of a content file, read as intake reads it: the file itself (never a
    symlink, a FIFO or a device), within the size limit. Raises :class:`ContentError`."""
    try:
        st = path.lstat()
    except OSError as exc:
        why = f"no se puede leer el archivo: {exc.strerror}"
        raise ContentError.single(None, None, why) from exc
    if stat.S_ISLNK(st.st_mode):
        raise ContentError.single(None, None, SYMLINK_FILE)
    if not stat.S_ISREG(st.st_mode):
        raise ContentError.single(None, None, not_regular(st))
    if st.st_size > max_bytes:
        raise ContentError.single(None, None, too_big(st.st_size, max_bytes))
    try:
        data = read_bounded(path, max_bytes)
        if len(data) > max_bytes:  # grew since it was looked at
            raise ContentError.single(None, None, too_big(len(data), max_bytes))
        return data
    except OSError as exc:
        reason = "permiso denegado" if isinstance(exc, PermissionError) else exc.strerror
        raise ContentError.single(None, None, f"no se puede leer el archivo ({reason})") from exc


def validate_file(
    path: Path,
    *,
    rules: Rules,
    today: date,
    archived: Callable[[str], list[Path]] | None = None,
) -> ContentItem:
    """:func:`validate_data` for a file on disk (``pregonero check``, the desk): the same
    reading rules and checks as the inbox, media relative to the file's folder, nothing
    moved. Raises :class:`ContentError` (:class:`MissingMedia` included)."""
    if not is_utf8_name(path.name):
        raise ContentError.single(None, None, bad_name_reason(path.name))
    data = read_content(path, rules.max_bytes)
    item, _dirs = validate_data(
        data, name=path.name, base_dir=path.parent, rules=rules, today=today, archived=archived
    )
    return item


KindLookup = Callable[[str], "str | None"]
"""``item id → kind`` of an item the ledger already has (``None``: a new id)."""


def item_problems(
    plan: Plan, item: ContentItem, kind_of: KindLookup | None = None
) -> list[tuple[str, str]]:
    """Checks that need the plan or the ledger, as ``(field, Spanish message)`` pairs:
    ``channels`` and ``audiences`` against the item's kind, and that a correction keeps its
    kind. Parsing maps each field to its line."""
    problems: list[tuple[str, str]] = []
    if kind_of is not None and (known := kind_of(item.id)) is not None and known != item.kind:
        problems.append(("kind", kind_change_message(item.id, known)))
    try:
        plan.channels_for(item.kind, item.meta.channels)
    except ValueError as exc:
        problems.append(("channels", str(exc)))
    wanted = item.meta.audiences
    unknown = [(i, a) for i, a in enumerate(wanted or []) if a not in AUDIENCES]
    for i, name in unknown:
        problems.append((f"audiences[{i}]", unknown_audience(name)))
    if not unknown:
        try:
            plan.audiences_for(item.kind, wanted)
        except ValueError as exc:
            problems.append(("audiences", str(exc).removeprefix("audiences: ")))
    return problems


def unknown_audience(name: str) -> str:
    """Spanish message for a mailing audience that does not exist, with a suggestion."""
    close = difflib.get_close_matches(name.strip().lower(), AUDIENCES, n=1, cutoff=0.6)
    hint = f"; ¿quiso decir '{close[0]}'?" if close else ""
    return f"público desconocido '{name}'{hint} Públicos válidos: {', '.join(AUDIENCES)}"


def kind_change_message(item_id: str, known: str) -> str:
    return (
        f"la pieza '{item_id}' ya existe con el tipo '{known}': una corrección no puede "
        "cambiar el tipo; use un id nuevo para publicarla como otro tipo"
    )


def not_regular(st: os.stat_result) -> str:
    """Spanish reason for a path that is not a regular file (never read: a FIFO would block,
    a device like ``/dev/zero`` never ends)."""
    if stat.S_ISDIR(st.st_mode):
        what = "una carpeta"
    elif stat.S_ISFIFO(st.st_mode):
        what = "una tubería (FIFO)"
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        what = "un dispositivo"
    elif stat.S_ISSOCK(st.st_mode):
        what = "un socket"
    else:
        what = "un archivo especial"
    return f"no es un archivo normal (es {what}): indique un archivo .md"


SYMLINK_FILE = "es un enlace simbólico; deje en la bandeja el archivo mismo, no un enlace"


def is_utf8_name(name: str) -> bool:
    """False for a file name whose bytes are not valid UTF-8 (held as surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown_name(name: str) -> str:
    """A printable, UTF-8 form of a file name: bad bytes as ``\\xNN``, controls escaped."""
    raw = os.fsencode(name)
    text = raw.decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def bad_name_reason(name: str) -> str:
    return (
        f"el nombre del archivo no es UTF-8 válido ({shown_name(name)}): cámbielo por uno con "
        "letras, números y guiones, y vuelva a dejarlo en la bandeja"
    )


def read_bounded(path: Path, limit: int) -> bytes:
    """Read at most ``limit + 1`` bytes of a regular file, without following a symlink or
    blocking on a FIFO (checked on the open descriptor: a swap after a check cannot win)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ContentError.single(None, None, not_regular(st))
        return fh.read(limit + 1)
