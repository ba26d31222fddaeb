"""File helpers for the channels that write files (the static site, the outbox): atomic
writes and copies, an advisory lock, and the one mapping of ``OSError`` onto the channel
error tree."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from channels.base import ChannelError, PermanentError, TransientError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: only the in-process lock applies
    fcntl = None  # type: ignore[assignment]

P = ParamSpec("P")
T = TypeVar("T")

_PERMISSION = {errno.EACCES, errno.EPERM, errno.EROFS}
_MISSING = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG}


# ---------------------------------------------------------------- files


def map_os_error(exc: OSError, action: str) -> ChannelError:
    """The one place a filesystem error becomes a channel error (``raise … from exc``).

    Permission problems and missing files do not fix themselves: ``PermanentError``. A full
    disk, a quota, a busy or interrupted call may pass: ``TransientError``, and so does any
    other ``OSError`` — rewriting files is idempotent, so a bounded retry is harmless.
    """
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno in _PERMISSION:
        return PermanentError(f"sin permiso para {action}{where}: revise los permisos")
    if exc.errno in _MISSING:
        return PermanentError(f"no se pudo {action}{where}: el archivo o la carpeta no existe")
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return TransientError(f"disco lleno al {action}{where}", retry_after=300)
    return TransientError(f"error de disco al {action}{where}: {exc.strerror or exc}")


def atomic_write(path: Path, data: bytes, *, durable: bool = False) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path``: a
    reader (or a crash of this process) sees the old version or the new one, never half.
    The file ends readable by all (0644: the web server must read the site).

    ``durable`` also fsyncs the file before the rename (the site's manifest), so a power cut
    leaves the old or the new version, never an empty one. The folder is created only when
    missing, and the mode is set at creation (a ``chmod`` only under a stricter umask):
    on a journaling file system every metadata change is a journal transaction.
    """
    try:
        fd, tmp = _create_temp(path)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temp(path)
    try:
        try:
            _write_all(fd, data)
            if os.fstat(fd).st_mode & 0o777 != PUBLIC_MODE:
                os.fchmod(fd, PUBLIC_MODE)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_all(fd: int, data: bytes) -> None:
    """``data`` to ``fd`` with ``os.write`` (no file object: Python's ``open`` asks the
    kernel whether the file is a terminal and where it stands, a third of a small write)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


PUBLIC_MODE = 0o644
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def _create_temp(path: Path) -> tuple[int, str]:
    """A new, uniquely named file beside ``path`` (``.<name>.<random>.tmp``), never an
    existing one (``O_EXCL``), created 0644 (less what the umask removes)."""
    for _ in range(100):
        tmp = os.path.join(path.parent, f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, _TEMP_FLAGS, PUBLIC_MODE), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no hay un nombre temporal libre", str(path.parent))


def write_if_changed(path: Path, data: bytes, *, durable: bool = False) -> bool:
    """``atomic_write`` unless the file already holds exactly ``data``."""
    with contextlib.suppress(OSError):
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    atomic_write(path, data, durable=durable)
    return True


def copy_atomic(src: Path, dest: Path) -> None:
    """Copy ``src`` to ``dest`` through a temporary file; skip an identical earlier copy."""
    stat = src.stat()
    with contextlib.suppress(OSError):
        old = dest.stat()
        if old.st_size == stat.st_size and old.st_mtime_ns == stat.st_mtime_ns:
            return
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        shutil.copystat(src, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        if fcntl is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        yield  # closing the file releases the lock


# ---------------------------------------------------------------- the file thread


class FileWorker:
    """Runs the file work of the channels that write files (the outbox, the static site)
    on one thread of its own; calls queued while it is busy go together in one hop.

    Through ``asyncio.to_thread`` each call went to any of the loop's default executor
    threads: in a burst of deliveries several of them, the ledger's thread and the event
    loop all contended for the GIL, and that contention cost more CPU than the writes
    (``bench/delivery_cpu.py``: about 0.5 ms per outbox delivery). Here one thread takes
    the calls in the order they were made, one at a time, and a burst costs one thread hop
    per batch instead of one per call — the same group handoff as the ledger's writes.

    Each call's result or exception goes to its own caller; a caller that stops waiting
    (a timeout) does not stop its call, as with ``to_thread``. The app makes one per
    process and hands it to the adapters in :class:`~channels.base.ChannelContext`; an
    adapter built without one makes its own. :meth:`aclose` stops the thread.
    """

    def __init__(self, name: str = "pregonero-files") -> None:
        self._name = name
        self._thread: ThreadPoolExecutor | None = None
        self._queue: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self._drain: asyncio.Task[None] | None = None

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` on the file thread; its result, or its exception."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.append((functools.partial(fn, *args, **kwargs), future))
        drain = self._drain
        if drain is None or drain.done() or drain.get_loop() is not loop:
            self._drain = loop.create_task(self._run_queued())
        return await future

    async def _run_queued(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                outcomes = await loop.run_in_executor(
                    self._executor(), _run_each, [call for call, _ in batch]
                )
            except Exception as exc:  # the thread could not take the batch
                outcomes = [(False, exc)] * len(batch)
            except BaseException:  # this task was cancelled: the loop is closing
                for _, future in batch + self._queue:
                    future.cancel()
                self._queue = []
                raise
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():  # its caller stopped waiting
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _executor(self) -> ThreadPoolExecutor:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix=self._name)
        return self._thread

    async def aclose(self) -> None:
        """Finish the queued calls, then stop the thread."""
        drain = self._drain
        if (
            drain is not None
            and not drain.done()
            and drain.get_loop() is asyncio.get_running_loop()
        ):
            await asyncio.shield(drain)
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.shutdown, wait=True)


def _run_each(calls: list[Callable[[], Any]]) -> list[tuple[bool, Any]]:
    outcomes: list[tuple[bool, Any]] = []
    for call in calls:
        try:
            outcomes.append((True, call()))
        except Exception as exc:
            outcomes.append((False, exc))
    return outcomes
