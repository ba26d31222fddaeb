"""One safe way to reach a media file under a folder: every path component is checked.

A content file names its media by a path relative to its folder (the inbox, or an archive
folder). Nothing may be read, copied or moved *through* a symlink: a symlinked folder in the
inbox once made a rejection move ``/etc/passwd``. So a media path is walked one component at
a time from a descriptor of the root folder, each folder opened with ``O_DIRECTORY |
O_NOFOLLOW`` relative to the previous one (``openat``), and the last component is looked at
with ``lstat`` or opened with ``O_NOFOLLOW``. A symlink anywhere on the way is refused, so a
path can never leave the root, whatever is swapped in later.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Self

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
CONTENT_SUFFIXES = (".md", ".markdown")


class UnsafeMedia(Exception):
    """The path cannot be used as media; ``str()`` is a Spanish reason for editors."""


def parts_of(rel: str) -> tuple[str, ...]:
    """The components of a relative media path; ``UnsafeMedia`` for an absolute, empty or
    ``..`` path (the model refuses those already: this is the last line of defence)."""
    pure = PurePosixPath(rel.replace("\\", "/"))
    parts = tuple(p for p in pure.parts if p not in ("", "."))
    if pure.is_absolute() or not parts or ".." in parts:
        raise UnsafeMedia(f"'{rel}' no es una ruta relativa válida dentro de la carpeta")
    return parts


@contextlib.contextmanager
def _parent_fd(root: Path, parts: tuple[str, ...], rel: str) -> Iterator[int]:
    """A descriptor of the folder holding the last component, reached without symlinks."""
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in parts[:-1]:
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                _explain_folder(fd, part, rel, exc)
            os.close(fd)
            fd = nxt
        yield fd
    finally:
        os.close(fd)


def _explain_folder(fd: int, part: str, rel: str, exc: OSError) -> None:
    """Turn a failed folder step into ``FileNotFoundError`` or a Spanish ``UnsafeMedia``."""
    try:
        st = os.stat(part, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        raise FileNotFoundError(rel) from exc
    except OSError:
        raise UnsafeMedia(f"no se puede leer '{rel}': {exc.strerror}") from exc
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeMedia(
            f"'{rel}' pasa por '{part}', que es un enlace simbólico (puede apuntar fuera de "
            "la carpeta de contenido): copie la carpeta y los archivos reales"
        ) from exc
    if not stat.S_ISDIR(st.st_mode):
        raise FileNotFoundError(rel) from exc  # 'a.png/b': there is no such file
    raise UnsafeMedia(f"no se puede leer '{rel}': {exc.strerror}") from exc


def lstat_media(root: Path, rel: str) -> os.stat_result:
    """``lstat`` of ``root/rel`` reached without following any symlink.

    Raises ``FileNotFoundError`` when it is not there, :class:`UnsafeMedia` when a folder on
    the way is a symlink (or cannot be read)."""
    parts = parts_of(rel)
    with _parent_fd(root, parts, rel) as fd:
        return os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)


def check_regular(rel: str, st: os.stat_result) -> None:
    """Refuse a symlink, a folder or a special file as media (Spanish reason)."""
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeMedia(
            f"'{rel}' es un enlace simbólico (puede apuntar fuera de la carpeta de contenido): "
            "copie el archivo real"
        )
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeMedia(f"'{rel}' no es un archivo")
    if rel.lower().endswith(CONTENT_SUFFIXES):
        raise UnsafeMedia(
            f"'{rel}' es un archivo de contenido (.md), no una imagen ni un adjunto: cada .md "
            "es una pieza propia; adjunte un PDF u otro documento"
        )


def open_media(root: Path, rel: str) -> BinaryIO:
    """Open ``root/rel`` for reading: no symlink on the way or at the end, a regular file
    (checked with ``fstat`` on the open descriptor, so a swap after a check cannot win)."""
    parts = parts_of(rel)
    with _parent_fd(root, parts, rel) as fd:
        try:
            fileno = os.open(parts[-1], _FILE_FLAGS, dir_fd=fd)
        except OSError as exc:
            check_regular(rel, os.stat(parts[-1], dir_fd=fd, follow_symlinks=False))
            raise UnsafeMedia(f"no se puede leer '{rel}': {exc.strerror}") from exc
    try:
        check_regular(rel, os.fstat(fileno))
        os.set_blocking(fileno, True)
    except BaseException:
        os.close(fileno)
        raise
    return os.fdopen(fileno, "rb")


def media_stat(root: Path, rel: str) -> os.stat_result:
    """The ``stat`` of a usable media file (regular, no symlink anywhere on its path).

    Raises ``FileNotFoundError`` or :class:`UnsafeMedia`."""
    st = lstat_media(root, rel)
    check_regular(rel, st)
    return st


def move_entry(root: Path, rel: str, dst: Path) -> None:
    """Rename the entry ``root/rel`` itself (a regular file or a symlink, never what a link
    points to) to ``dst``, which must not exist; the folders on the way are checked."""
    parts = parts_of(rel)
    with _parent_fd(root, parts, rel) as fd:
        st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
            raise UnsafeMedia(f"'{rel}' no es un archivo")
        if os.path.lexists(dst):
            raise FileExistsError(dst)
        try:
            os.rename(parts[-1], dst, src_dir_fd=fd)
            return
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(parts[-1], dir_fd=fd), dst)
        else:
            with open_media(root, rel) as fin:
                copy_open(fin, dst)
        os.unlink(parts[-1], dir_fd=fd)


def link_or_copy(root: Path, rel: str, dst: Path) -> None:
    """Put a new ``dst`` with the bytes of the media file ``root/rel``: a hard link of the
    very file that was opened and checked when possible, else a copy from its descriptor."""
    with open_media(root, rel) as fin:
        parts = parts_of(rel)
        with _parent_fd(root, parts, rel) as fd:
            st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
            same = os.fstat(fin.fileno())
            if (st.st_dev, st.st_ino) == (same.st_dev, same.st_ino):
                try:
                    os.link(parts[-1], dst, src_dir_fd=fd, follow_symlinks=False)
                    return
                except OSError as exc:
                    if exc.errno == errno.EEXIST:
                        raise
        copy_open(fin, dst)


def copy_open(fin: BinaryIO, dst: Path) -> None:
    """Copy an open file, from its start, to a new ``dst`` (never over an existing one) and
    fsync it."""
    fin.seek(0)
    with dst.open("xb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
        fout.flush()
        os.fsync(fout.fileno())
    st = os.fstat(fin.fileno())
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def remove_entry(root: Path, rel: str) -> None:
    """Unlink the entry ``root/rel`` (after it was linked or copied elsewhere); the folders on
    the way are checked, so this never removes anything outside ``root``."""
    parts = parts_of(rel)
    with _parent_fd(root, parts, rel) as fd:
        os.unlink(parts[-1], dir_fd=fd)


def link_open(fin: BinaryIO, dst: Path) -> None:
    """Put a new ``dst`` with the bytes of the open file ``fin``: a hard link of that very
    inode (through ``/proc/self/fd``, never by its name, which may have been swapped), else
    a copy from the descriptor. ``dst`` is checked afterwards to be the same inode."""
    opened = os.fstat(fin.fileno())
    try:
        os.link(f"/proc/self/fd/{fin.fileno()}", dst, follow_symlinks=True)
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            raise
        copy_open(fin, dst)
        return
    linked = os.lstat(dst)
    if (linked.st_dev, linked.st_ino) != (opened.st_dev, opened.st_ino) or not stat.S_ISREG(
        linked.st_mode
    ):  # pragma: no cover - /proc that resolves elsewhere
        os.unlink(dst)
        copy_open(fin, dst)


def read_head(fin: BinaryIO, size: int = 512) -> bytes:
    """The first ``size`` bytes of an open file, whatever its position (``pread``)."""
    return os.pread(fin.fileno(), size, 0)


class OpenedMedia:
    """The media files of one content file, each opened once (symlink-free walk, checked
    with ``fstat``) and kept open: size, type, digest and the archive copy all come from
    the same descriptor, so swapping a checked file for a symlink (or another file) in
    between cannot change what is published. Use as a context manager."""

    def __init__(self) -> None:
        self._files: dict[tuple[Path, str], BinaryIO] = {}
        self._chosen: dict[str, Path] = {}

    def open(self, root: Path, rel: str) -> BinaryIO:
        """The open file for ``root/rel`` (opened on first use; see :func:`open_media`)."""
        key = (root, rel)
        fin = self._files.get(key)
        if fin is None:
            fin = open_media(root, rel)
            self._files[key] = fin
        return fin

    def choose(self, media: Mapping[str, Path]) -> None:
        """Record the folder each media path of a valid file was checked in."""
        self._chosen = dict(media)

    def chosen(self, rel: str) -> tuple[Path, BinaryIO]:
        """The folder and the open file that were checked for ``rel`` (see :meth:`choose`)."""
        root = self._chosen[rel]
        return root, self._files[(root, rel)]

    def close(self) -> None:
        """Close every file."""
        files, self._files = self._files, {}
        for fin in files.values():
            fin.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- attachment types ------------------------------------------------------------------------

ATTACHMENT_SUFFIXES = (
    ".pdf",
    ".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".odt", ".ods", ".odp",
    ".png", ".jpg", ".jpeg", ".gif", ".webp",
    ".mp3", ".ogg", ".wav", ".m4a",
    ".mp4", ".webm", ".mov",
    ".csv", ".txt",
)  # fmt: skip
"""Document types an attachment may have: none that a browser runs (HTML, SVG, scripts)."""

IMAGE_MAGIC = {
    ".png": (b"\x89PNG\r\n\x1a\n",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
    ".gif": (b"GIF87a", b"GIF89a"),
    ".webp": (b"RIFF",),
}
_MARKUP = (b"<!doctype", b"<html", b"<svg", b"<?xml", b"<script", b"<head", b"<body", b"<iframe")


def is_raster_image(suffix: str, head: bytes) -> bool:
    """True when ``head`` starts as the raster image its suffix says (PNG, JPEG, GIF, WebP)."""
    signatures = IMAGE_MAGIC.get(suffix.lower())
    if signatures is None:
        return False
    if suffix.lower() == ".webp":
        return head.startswith(b"RIFF") and head[8:12] == b"WEBP"
    return head.startswith(signatures)


def attachment_problem(rel: str, head: bytes) -> str | None:
    """Why ``rel`` (whose file starts with ``head``) cannot be an attachment, in Spanish; None
    when it can. Active content (HTML, SVG, scripts) would run on the site's own origin."""
    suffix = PurePosixPath(rel).suffix.lower()
    allowed = "PDF, documentos de oficina, imágenes, audio, video, CSV o texto"
    if suffix not in ATTACHMENT_SUFFIXES:
        shown = f"'{suffix}'" if suffix else "sin extensión"
        return f"'{rel}': los adjuntos de tipo {shown} no se aceptan; adjunte {allowed}"
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith(_MARKUP) or b"<script" in head.lower():
        return (
            f"'{rel}' tiene contenido HTML, SVG o de script aunque su extensión sea "
            f"'{suffix}': no se acepta como adjunto; adjunte {allowed}"
        )
    if suffix in IMAGE_MAGIC and not is_raster_image(suffix, head):
        return f"'{rel}' no es una imagen {suffix[1:].upper()} (su contenido no corresponde)"
    if suffix == ".pdf" and not head.startswith(b"%PDF"):
        return f"'{rel}' no es un PDF (su contenido no empieza como un PDF)"
    return None
