"""File helpers for the channels that write files (the static site, the outbox): atomic
writes and copies, an advisory lock, and the one mapping of ``OSError`` onto the channel
error tree."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from channels.base import ChannelError, PermanentError, TransientError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: only the in-process lock applies
    fcntl = None  # type: ignore[assignment]

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
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if os.fstat(fh.fileno()).st_mode & 0o777 != PUBLIC_MODE:
                os.fchmod(fh.fileno(), PUBLIC_MODE)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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
