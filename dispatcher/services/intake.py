"""Take content files in from ``content/inbox/``: wait until each is complete, parse it,
and move it (with its media) to ``content/archive/YYYY/MM/<id>/`` or ``content/rejected/``.

Intake never deletes what an editor wrote and never overwrites a file: every move goes to a
fresh name. It knows nothing of the ledger: it returns events and the dispatcher records
them (duplicate or correction is the dispatcher's call, by digest). With ``two_phase`` a
valid file comes back :class:`Staged` — copied into its archive folder, originals still in
the inbox — and only :meth:`Intake.commit` (after the ledger recorded it) removes the
originals, so a crash or a failed insert loses nothing.

Every check is :func:`dispatcher.items.validate.validate_data`: the same path as
``pregonero check``, the bot and the desk, with the same Spanish messages (field and line).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
import stat
import threading
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import watchfiles

from dispatcher.items.media import (
    CONTENT_SUFFIXES,
    OpenedMedia,
    UnsafeMedia,
    copy_open,
    link_open,
    lstat_media,
    media_stat,
    move_entry,
    parts_of,
    remove_entry,
)
from dispatcher.items.model import ContentItem
from dispatcher.items.parse import (
    ContentError,
    MissingMedia,
    Problem,
    Validator,
    referenced_media,
    too_big,
)
from dispatcher.items.validate import (
    SYMLINK_FILE,
    Rules,
    bad_name_reason,
    is_utf8_name,
    read_bounded,
    shown_name,
    validate_data,
)

log = logging.getLogger(__name__)

PARTIAL_SUFFIXES = (".part", ".tmp", ".crdownload", ".swp", ".swx", ".partial", ".download")
WATCH_BATCH = 25  # files taken in per scan while watching, so delivery starts early
FSYNC_THREADS = 8  # archive copies of a batch fsynced at once (see Intake.commit_all)
STAGING_MAX_AGE = timedelta(days=1)
"""A file the bot staged (``content/staging/``) that no ``.md`` used within this time is
moved to ``content/rejected/`` with a reason (never deleted)."""
STAGING_SWEEP_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Accepted:
    """The file was valid: it and its media now live in ``archive_dir`` (= ``item.base_dir``)."""

    name: str
    item: ContentItem
    archive_dir: Path


@dataclass(frozen=True)
class Staged:
    """Valid: copies of the file and its media are in ``archive_dir`` (= ``item.base_dir``),
    the originals still in the inbox. Record it, then :meth:`Intake.commit` it (→
    :class:`Accepted`), or :meth:`Intake.abort` it with the reason (→ :class:`Rejected`)."""

    name: str
    item: ContentItem
    archive_dir: Path
    path: Path
    placed: tuple[str, ...]  # media linked from the inbox, removed there on commit
    intake: Intake = field(repr=False, compare=False)

    async def commit(self) -> Accepted:
        """Remove the originals from the inbox (the ledger has the item)."""
        return await asyncio.to_thread(self.intake.commit, self)

    async def abort(self, problems: Iterable[Problem]) -> Rejected:
        """Drop the archive copies and reject the file with ``problems``."""
        return await asyncio.to_thread(self.intake.abort, self, tuple(problems))


@dataclass(frozen=True)
class Rejected:
    """The file was refused and moved to ``rejected_path``; ``error_path`` explains why."""

    name: str
    reason_text: str
    rejected_path: Path
    error_path: Path
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class Held:
    """Valid but for media not there yet; retried on each scan, rejected after ``until``.

    Emitted once, when the file is first held (and by every ``take_file`` call)."""

    name: str
    reason: str
    until: datetime
    missing: tuple[str, ...] = ()


IntakeEvent = Accepted | Staged | Rejected | Held


def archived_dirs(archive: Path, item_id: str) -> list[Path]:
    """The archive folders of earlier revisions of ``item_id``, newest first."""
    found: list[Path] = []
    for folder in sorted(archive.glob(f"*/*/{item_id}"), reverse=True):
        revisions = (p for p in folder.glob("rev-*") if p.is_dir())
        found += [*sorted(revisions, reverse=True), folder]
    return found


def utcnow() -> datetime:
    return datetime.now(UTC)


def is_candidate(name: str) -> bool:
    """A ``.md`` an editor finished naming: not hidden, a backup, a lock or a partial copy."""
    lower = name.lower()
    return (
        lower.endswith(".md")
        and not name.startswith((".", "~"))
        and not lower.endswith(("~", *PARTIAL_SUFFIXES))
    )


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    first_seen: datetime
    stable_since: datetime


class Intake:
    """The inbox reader. ``scan()`` is synchronous and thread-safe; ``watch()`` drives it."""

    def __init__(
        self,
        content_dir: Path,
        *,
        tz: ZoneInfo,
        known_kinds: Collection[str],
        max_bytes: int,
        max_media_bytes: int,
        settle_seconds: float,
        media_grace_seconds: float,
        clock: Callable[[], datetime] = utcnow,
        idle_rescan_seconds: float = 5.0,
        validate: Validator | None = None,
        two_phase: bool = False,
    ) -> None:
        self.content_dir = content_dir
        self.inbox = content_dir / "inbox"
        self.archive = content_dir / "archive"
        self.rejected = content_dir / "rejected"
        self.staging = content_dir / "staging"
        self.staging_max_age = STAGING_MAX_AGE
        self._last_sweep: datetime | None = None
        for folder in (self.inbox, self.archive, self.rejected):
            folder.mkdir(parents=True, exist_ok=True)
        self.tz = tz
        self.known_kinds = frozenset(known_kinds)
        self.max_bytes = max_bytes
        self.max_media_bytes = max_media_bytes
        self.settle = timedelta(seconds=settle_seconds)
        self.grace = timedelta(seconds=media_grace_seconds)
        self.idle_rescan_seconds = idle_rescan_seconds
        self.validate = validate
        self.rules = Rules(tz, self.known_kinds, max_bytes, max_media_bytes, validate)
        self.two_phase = two_phase
        self._staged: set[Path] = set()  # staged, waiting for commit/abort: not rescanned
        self._clock = clock
        self._seen: dict[Path, _Seen] = {}
        self._held: dict[Path, datetime] = {}  # held .md → end of its grace period
        self._pending = False  # some file was not settled at the last scan
        self.more = False  # the last scan stopped at its limit: scan again at once
        self._refs: dict[Path, tuple[tuple[int, int], list[str]]] = {}
        self._lock = threading.RLock()

    # --- public --------------------------------------------------------------------------

    @property
    def pending(self) -> bool:
        """True while a file waits to settle or for its media: scan again soon."""
        return self._pending or self.more or bool(self._held)

    def scan(self, limit: int | None = None) -> list[IntakeEvent]:
        """Look at the ``.md`` files in the inbox once; return what happened to the settled
        ones. With ``limit``, stop after that many events (``more`` is then true), so a
        caller can record and deliver a first batch while the rest wait their turn."""
        with self._lock:
            self._pending = False
            self.more = False
            events: list[IntakeEvent] = []
            self.inbox.mkdir(parents=True, exist_ok=True)
            names = sorted(p for p in self.inbox.iterdir() if is_candidate(p.name))
            for path in names:
                if limit is not None and len(events) >= limit:
                    self.more = True
                    break
                if path in self._staged:
                    continue
                try:
                    event = self._consider(path, force=False)
                except OSError:  # retried at the next idle rescan, not in a tight loop
                    log.exception("no se pudo procesar %s; se reintentará", shown_name(path.name))
                    continue
                except Exception as exc:  # one file never stops the others
                    event = self._reject_unexpected(path, exc)
                if event is not None:
                    events.append(event)
            self._forget_vanished()
            events += self._sweep_staging_now()
            return events

    def take_file(self, path: Path) -> IntakeEvent:
        """Take one finished file now (e.g. a document the bot received).

        A file outside the inbox is moved into it first (with a ``.md`` suffix, under a
        free name); media it names are looked for in the inbox. Raises ``OSError`` if the
        file cannot be moved in, ``FileNotFoundError`` if it vanished (taken by the
        watcher) before it could be read.
        """
        with self._lock:
            if path.parent.resolve() != self.inbox.resolve():
                name = path.name if path.name.lower().endswith(".md") else path.name + ".md"
                target = _free_name(self.inbox, name)
                _move(path, target)
                path = target
            if path in self._staged:
                raise FileNotFoundError(path)  # being recorded from another scan
            try:
                event = self._consider(path, force=True)
            except OSError:
                raise
            except Exception as exc:
                event = self._reject_unexpected(path, exc)
            if event is None:  # with force, only a file that vanished meanwhile
                raise FileNotFoundError(path)
            return event

    def commit_all(self, staged: Sequence[Staged]) -> list[Accepted]:
        """:meth:`commit` for a batch: the archive copies are fsynced concurrently first
        (the file system commits its journal once for many of them), then each is
        committed."""
        with ThreadPoolExecutor(min(FSYNC_THREADS, len(staged)) or 1) as pool:
            list(pool.map(_fsync, [s.archive_dir / s.name for s in staged]))
        return [self.commit(s, synced=True) for s in staged]

    def commit(self, staged: Staged, *, synced: bool = False) -> Accepted:
        """The ledger recorded ``staged``: make its archive copy durable (fsync, unless
        ``synced``), then remove the originals from the inbox. The fsync waits until here,
        off the path that gets the item into the ledger; it still comes before the
        original goes."""
        if not synced:
            _fsync(staged.archive_dir / staged.name)
        with self._lock:
            for rel in staged.placed:
                with contextlib.suppress(FileNotFoundError):
                    remove_entry(self.inbox, rel)
            with contextlib.suppress(FileNotFoundError):
                staged.path.unlink()
            self._staged.discard(staged.path)
            self._done(staged.path)
            log.info(
                "aceptado %s → %s", shown_name(staged.name), shown_name(str(staged.archive_dir))
            )
            return Accepted(staged.name, staged.item, staged.archive_dir)

    def abort(self, staged: Staged, problems: tuple[Problem, ...]) -> Rejected:
        """Recording ``staged`` failed: drop its archive copies (the originals are still in
        the inbox) and reject the file with ``problems``."""
        with self._lock:
            self._staged.discard(staged.path)
            _remove_tree(staged.archive_dir)
            data: bytes | None = None
            with contextlib.suppress(OSError, ContentError):
                data = read_bounded(staged.path, self.max_bytes)
            return self._reject(staged.path, problems, data=data)

    async def watch(self, stop: asyncio.Event) -> AsyncIterator[list[IntakeEvent]]:
        """Yield batches of events until ``stop`` is set.

        Wakes on file-system events in the inbox and also rescans on a timer (short while a
        file settles, until a held file's grace ends, else ``idle_rescan_seconds``), so it
        works on shares that send no events too.
        """
        wake = asyncio.Event()
        pump = asyncio.create_task(self._pump(stop, wake))
        try:
            while not stop.is_set():
                wake.clear()
                batch = await asyncio.to_thread(self.scan, WATCH_BATCH)
                if batch:
                    yield batch
                if stop.is_set():
                    break
                if self.more:
                    continue
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._next_wait()):
                        await wake.wait()
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump

    # --- one file ------------------------------------------------------------------------

    def _consider(self, path: Path, *, force: bool) -> IntakeEvent | None:
        try:
            st = path.lstat()
        except FileNotFoundError:
            return None
        if stat.S_ISDIR(st.st_mode):
            return None
        if not is_utf8_name(path.name):
            problem = Problem(None, None, bad_name_reason(path.name))
            return self._reject(path, [problem], data=None)
        if stat.S_ISLNK(st.st_mode):
            return self._reject(path, [Problem(None, None, SYMLINK_FILE)], data=None)
        if not stat.S_ISREG(st.st_mode):
            return self._reject(path, [Problem(None, None, "no es un archivo normal")], data=None)
        if not (force or self._settled(path, st)):
            return None
        if st.st_size > self.max_bytes:
            problem = Problem(None, None, too_big(st.st_size, self.max_bytes))
            return self._reject(path, [problem], data=None)
        try:
            data = read_bounded(path, self.max_bytes)
        except PermissionError:
            problem = Problem(None, None, "no se puede leer el archivo (permiso denegado)")
            return self._reject(path, [problem], data=None)
        except ContentError as exc:  # swapped for a FIFO or a device after the lstat
            return self._reject(path, exc.problems, data=None)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            # swapped for a symlink after the lstat: O_NOFOLLOW refused to open it
            return self._reject(path, [Problem(None, None, SYMLINK_FILE)], data=None)
        if not force:
            if len(data) != st.st_size:  # changed under us: settle again
                self._seen.pop(path, None)
                self._pending = True
                return None
            if not self._media_settled(data):
                return None  # media still being copied: it could look empty or broken
        return self._process(path, data, force=force)

    def _media_settled(self, data: bytes) -> bool:
        settled = True
        for rel in referenced_media(data):
            with contextlib.suppress(OSError, UnsafeMedia):
                st = media_stat(self.inbox, rel)  # never through a symlink
                settled = self._settled(self.inbox / rel, st) and settled
        return settled

    def _process(self, path: Path, data: bytes, *, force: bool) -> IntakeEvent | None:
        # Each media file is opened once: checked, hashed and archived from that descriptor.
        with OpenedMedia() as opened:
            return self._process_open(path, data, opened, force=force)

    def _process_open(
        self, path: Path, data: bytes, opened: OpenedMedia, *, force: bool
    ) -> IntakeEvent | None:
        now = self._clock()
        try:
            item, _media_dirs = validate_data(
                data,
                name=path.name,
                base_dir=self.inbox,
                rules=self.rules,
                today=now.astimezone(self.tz).date(),
                archived=self._archived_dirs,
                opened=opened,
            )
        except MissingMedia as exc:
            seen = self._seen.get(path)
            until = (seen.first_seen if seen and not force else now) + self.grace
            if force:
                self._seen[path] = _Seen(-1, -1, now, now)  # grace counts from now
            if now < until:
                first_time = path not in self._held
                self._held[path] = until
                if first_time or force:
                    return Held(
                        path.name, self._held_reason(exc.missing, until), until, tuple(exc.missing)
                    )
                return None
            waited = round(self.grace.total_seconds())
            note = f"Se esperaron {waited} segundos a que llegaran los archivos que faltan."
            note = note if waited else ""
            return self._reject(path, exc.problems, data=data, note=note)
        except ContentError as exc:
            return self._reject(path, exc.problems, data=data)
        try:
            staged = self._stage(path, item, opened, data)
        except UnsafeMedia as exc:  # swapped for a link after it was checked
            return self._reject(path, [Problem(None, None, str(exc))], data=data)
        return staged if self.two_phase else self.commit(staged)

    def _reject_unexpected(self, path: Path, exc: Exception) -> Rejected | None:
        """Any unforeseen error on one file rejects that file with a reason; the scan goes on."""
        log.exception("error inesperado con %s; se rechaza", shown_name(path.name))
        why = (
            f"no se pudo procesar el archivo ({type(exc).__name__}): revise su cabecera; si el "
            "problema sigue, avise al equipo técnico con este aviso"
        )
        try:
            return self._reject(path, [Problem(None, None, why)], data=None)
        except Exception:
            log.exception("tampoco se pudo rechazar %s", shown_name(path.name))
            return None

    def _settled(self, path: Path, st: os.stat_result) -> bool:
        """True once size and mtime have not changed for ``settle`` (or the file is old)."""
        now = self._clock()
        seen = self._seen.get(path)
        if seen is None or (seen.size, seen.mtime_ns) != (st.st_size, st.st_mtime_ns):
            self._seen[path] = _Seen(
                st.st_size, st.st_mtime_ns, seen.first_seen if seen else now, now
            )
            # ctime too: a copy that keeps the original mtime (Explorer, cp -p) looks old
            changed = max(st.st_mtime, st.st_ctime)
            old = seen is None and now.timestamp() - changed >= self.settle.total_seconds()
            done = old or not self.settle
        else:
            done = now - seen.stable_since >= self.settle
        self._pending |= not done
        return done

    def _held_reason(self, missing: Iterable[str], until: datetime) -> str:
        names = ", ".join(f"'{m}'" for m in missing)
        local = until.astimezone(self.tz)
        return f"esperando {names} hasta las {local:%H:%M:%S}; si no llega, el archivo se rechaza"

    # --- accepting -----------------------------------------------------------------------

    def _stage(
        self,
        path: Path,
        item: ContentItem,
        opened: OpenedMedia,
        data: bytes,
    ) -> Staged:
        """Put the file and its media into a fresh archive folder; the inbox is not touched,
        so a crash before :meth:`commit` loses nothing. The media come from the descriptors
        opened and checked during validation (``opened``), never from their paths again,
        and the ``.md`` is written from the very bytes that were validated."""
        folder = self._fresh_archive_dir(item)
        try:
            # only an item with media needs to know what the others name (a look at every
            # other file in the inbox: in a burst of N files, N² stats if done for all)
            shared = self._referenced_by_others(path) if item.meta.media else set()
            placed: list[str] = []
            for rel in dict.fromkeys(item.meta.media):
                root, fin = opened.chosen(rel)  # the very file that was checked
                dst = folder.joinpath(*parts_of(rel))
                dst.parent.mkdir(parents=True, exist_ok=True)
                # A shared file is a real copy, so an edit in the inbox cannot reach the
                # archive; a file from an earlier revision is copied, the archive is never
                # taken from.
                if root != self.inbox or rel in shared:
                    copy_open(fin, dst)
                else:
                    link_open(fin, dst)
                    placed.append(rel)
            _write_bytes(folder / path.name, data, path)
        except BaseException:
            _remove_tree(folder)
            raise
        self._staged.add(path)
        staged_item = replace(item, base_dir=folder, source_name=path.name)
        return Staged(path.name, staged_item, folder, path, tuple(placed), self)

    def _fresh_archive_dir(self, item: ContentItem) -> Path:
        folder = self.archive / f"{item.date:%Y}" / f"{item.date:%m}" / item.id
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            pass
        stamp = self._clock().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        for n in range(1, 10_000):
            candidate = folder / (f"rev-{stamp}" if n == 1 else f"rev-{stamp}-{n}")
            try:
                candidate.mkdir()
                return candidate
            except FileExistsError:
                continue
        raise FileExistsError(folder)

    def _archived_dirs(self, item_id: str) -> list[Path]:
        return archived_dirs(self.archive, item_id)

    def _referenced_by_others(self, path: Path) -> set[str]:
        """Media named by the other ``.md`` files in the inbox (cached per file version)."""
        refs: set[str] = set()
        for other in self.inbox.iterdir():
            if other == path or other in self._staged or not is_candidate(other.name):
                continue
            with contextlib.suppress(OSError):
                st = other.lstat()
                if not stat.S_ISREG(st.st_mode) or st.st_size > self.max_bytes:
                    continue
                version = (st.st_size, st.st_mtime_ns)
                cached = self._refs.get(other)
                if cached is None or cached[0] != version:
                    try:
                        content = read_bounded(other, self.max_bytes)
                    except ContentError:
                        continue
                    cached = (version, referenced_media(content))
                    self._refs[other] = cached
                refs.update(cached[1])
        return refs

    # --- staging -------------------------------------------------------------------------

    def _sweep_staging_now(self) -> list[Rejected]:
        """:meth:`sweep_staging`, at most once per :data:`STAGING_SWEEP_EVERY`."""
        now = self._clock()
        if self._last_sweep is not None and now - self._last_sweep < STAGING_SWEEP_EVERY:
            return []
        self._last_sweep = now
        try:
            return self.sweep_staging()
        except OSError:
            log.warning("no se pudo revisar %s", self.staging, exc_info=True)
            return []

    def sweep_staging(self) -> list[Rejected]:
        """Move the files the bot staged that no ``.md`` used within
        :attr:`staging_max_age` (a zip, a picture never named) to ``content/rejected/``,
        each with a ``.error.txt`` saying why. Nothing is deleted; folders are walked by
        descriptor and never through a symlink."""
        with self._lock:
            try:
                top = self.staging.lstat()
            except FileNotFoundError:
                return []
            if not stat.S_ISDIR(top.st_mode):
                return []
            oldest = (self._clock() - self.staging_max_age).timestamp()
            events: list[Rejected] = []
            for folder, _dirs, files, dir_fd in os.fwalk(self.staging, follow_symlinks=False):
                for name in sorted(files):
                    with contextlib.suppress(FileNotFoundError):
                        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                        if st.st_mtime >= oldest:  # written when the bot received it
                            continue
                        if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
                            events.append(self._reject_staged(Path(folder), name, dir_fd, st))
            return events

    def _reject_staged(self, folder: Path, name: str, dir_fd: int, st: os.stat_result) -> Rejected:
        shown = shown_name(name.removeprefix(".").removesuffix(".part"))
        target = _free_name(self.rejected, shown)
        os.rename(name, target, src_dir_fd=dir_fd)  # the entry itself, never a link's target
        sent = datetime.fromtimestamp(st.st_mtime, UTC).astimezone(self.tz)
        hours = round(self.staging_max_age.total_seconds() / 3600)
        reason = (
            f"el archivo «{shown}» llegó al bot el {sent:%Y-%m-%d %H:%M} y ningún archivo .md "
            f"lo nombró en {hours} horas: se retiró de la carpeta de espera"
        )
        where = self._show(folder / shown)
        lines = [
            f"Pregonero no usó el archivo «{shown}».",
            f"Estaba en: {where}",
            f"El archivo quedó en: {self._show(target)}",
            "",
            f"Motivo: {reason}.",
            "",
            "Nada se borró. Si lo necesita, envíe al bot el .md que lo nombra (en 'image' o",
            "'attachments') junto con este archivo. Este aviso puede borrarse cuando ya no lo",
            "necesite.",
            "",
        ]
        error_path = target.with_name(target.name + ".error.txt")
        _write_new(error_path, "\n".join(lines))
        log.info("archivo del bot sin usar %s → %s", shown, shown_name(str(target)))
        problem = Problem(None, None, reason)
        return Rejected(shown, reason, target, error_path, (problem,))

    # --- rejecting -----------------------------------------------------------------------

    def _reject(
        self, path: Path, problems: Iterable[Problem], *, data: bytes | None, note: str = ""
    ) -> Rejected:
        problems = tuple(problems)
        name = shown_name(path.name)  # a name that is not UTF-8 is kept, escaped
        target = _free_name(self.rejected, name)
        _move(path, target)
        moved = self._move_rejected_media(path, data) if data is not None else []
        error_path = target.with_name(target.name + ".error.txt")
        text = self._error_text(name, target, problems, moved, note)
        _write_new(error_path, text)
        self._done(path)
        log.info("rechazado %s: %s", name, shown_name("; ".join(str(p) for p in problems)))
        reason = "\n".join(str(p) for p in problems)
        return Rejected(name, reason, target, error_path, problems)

    def _move_rejected_media(self, path: Path, data: bytes) -> list[tuple[str, Path]]:
        """Media only this file names go beside it in ``rejected/``, keeping their paths.

        Only entries that really live in the inbox move (every folder on the way checked,
        a symlink moved as the link itself, never what it points to); a ``.md`` named as
        media is another piece and stays where it is."""
        shared = self._referenced_by_others(path)
        moved = []
        for rel in dict.fromkeys(referenced_media(data)):
            if rel in shared or rel.lower().endswith(CONTENT_SUFFIXES):
                continue
            try:
                parts = parts_of(rel)
                st = lstat_media(self.inbox, rel)
            except (OSError, UnsafeMedia):
                continue
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                continue
            dst = _free_name(self.rejected.joinpath(*parts[:-1]), parts[-1])
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                move_entry(self.inbox, rel, dst)
            except (OSError, UnsafeMedia):
                log.warning("no se pudo mover %r junto al archivo rechazado", rel, exc_info=True)
                continue
            moved.append((rel, dst))
        return moved

    def _error_text(
        self,
        name: str,
        target: Path,
        problems: Iterable[Problem],
        moved: list[tuple[str, Path]],
        note: str,
    ) -> str:
        when = self._clock().astimezone(self.tz)
        lines = [
            f"Pregonero no pudo aceptar el archivo «{name}».",
            f"Fecha: {when:%Y-%m-%d %H:%M:%S} (hora de {self.tz.key})",
            f"El archivo quedó en: {self._show(target)}",
            "",
            "Problemas encontrados:",
            *(f"  - {p}" for p in problems),
        ]
        if note:
            lines += ["", note]
        if moved:
            lines += ["", "Sus imágenes y adjuntos se movieron junto a él:"]
            lines += [f"  - {rel} → {self._show(dst)}" for rel, dst in moved]
        lines += [
            "",
            "Cómo corregirlo: abra el archivo, corrija lo indicado (la línea cuenta desde la",
            f"primera línea del archivo) y vuelva a dejarlo en {self._show(self.inbox)}/ junto",
            "con sus imágenes y adjuntos. Este aviso puede borrarse cuando ya no lo necesite.",
            "",
        ]
        return "\n".join(lines)

    def _show(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.content_dir.parent))
        except ValueError:
            return str(path)

    # --- bookkeeping ---------------------------------------------------------------------

    def _done(self, path: Path) -> None:
        self._seen.pop(path, None)
        self._held.pop(path, None)
        self._refs.pop(path, None)

    def _forget_vanished(self) -> None:
        for path in [p for p in self._seen if not os.path.lexists(p)]:
            self._done(path)
        for path in [p for p in (*self._held, *self._refs) if not os.path.lexists(p)]:
            self._done(path)

    def _next_wait(self) -> float:
        if self._pending:
            return max(self.settle.total_seconds() / 2, 0.05)
        if self._held:
            left = (min(self._held.values()) - self._clock()).total_seconds()
            return min(self.idle_rescan_seconds, max(left + 0.01, 0.05))
        return self.idle_rescan_seconds

    async def _pump(self, stop: asyncio.Event, wake: asyncio.Event) -> None:
        """Turn inbox file-system events into ``wake``; without them, the timer still runs."""
        try:
            async for _changes in watchfiles.awatch(
                self.inbox, stop_event=stop, debounce=200, step=20, rust_timeout=1000
            ):
                wake.set()
        except Exception:
            log.warning(
                "sin avisos del sistema de archivos en %s; se revisa con un temporizador",
                self.inbox,
                exc_info=True,
            )
            self.idle_rescan_seconds = min(self.idle_rescan_seconds, 1.0)
        finally:
            wake.set()


# --- files ----------------------------------------------------------------------------------


def _free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``stem-2.ext``, ``stem-3.ext``… : a name with no file and no
    ``.error.txt`` beside it."""
    stem, dot, suffix = name.rpartition(".") if "." in name.lstrip(".") else (name, "", "")
    candidate = folder / name
    n = 1
    while os.path.lexists(candidate) or os.path.lexists(f"{candidate}.error.txt"):
        n += 1
        candidate = folder / f"{stem}-{n}{dot}{suffix}"
    return candidate


def _move(src: Path, dst: Path) -> None:
    """Rename ``src`` to a new ``dst``; across file systems copy, fsync, then remove."""
    if os.path.lexists(dst):
        raise FileExistsError(dst)
    try:
        os.replace(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        else:
            _copy(src, dst)
        src.unlink()


def _write_bytes(dst: Path, data: bytes, src: Path) -> None:
    """A new ``dst`` holding ``data`` (the validated bytes of ``src``), with the times of
    ``src`` when it is still there (never followed through a symlink). Not fsynced here:
    :meth:`Intake.commit` does, before the original leaves the inbox."""
    with dst.open("xb") as fh:
        fh.write(data)
    with contextlib.suppress(OSError):
        st = src.lstat()
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def _fsync(path: Path) -> None:
    """Flush ``path``'s data to disk (opened read-only: enough for ``fsync`` on POSIX)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_tree(folder: Path) -> None:
    """Remove a staged archive folder (only copies and links of files still in the inbox)."""
    shutil.rmtree(folder, ignore_errors=True)


def _copy(src: Path, dst: Path) -> None:
    """Copy the regular file ``src`` (never through a symlink) to a new file and fsync it."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    with os.fdopen(os.open(src, flags), "rb") as fin:
        if not stat.S_ISREG(os.fstat(fin.fileno()).st_mode):
            raise OSError(errno.EINVAL, "no es un archivo normal", str(src))
        copy_open(fin, dst)


def _write_new(path: Path, text: str) -> None:
    with path.open("x", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
