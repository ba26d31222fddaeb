"""Read a content file (Markdown with YAML front matter) into a :class:`ContentItem`.

Every refusal is a :class:`ContentError` whose problems name the field and the line *of the
file* in Spanish, so an editor can fix everything in one pass. :class:`MissingMedia` is the
one refusal that may heal by itself (the picture is still being copied): intake holds such a
file for a grace period instead of rejecting it at once.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import hashlib
import itertools
import os
import re
import stat
import unicodedata
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, NoReturn
from zoneinfo import ZoneInfo

from markdown_it import MarkdownIt
from pydantic import ValidationError

from dispatcher.items.media import (
    OpenedMedia,
    UnsafeMedia,
    attachment_problem,
    is_raster_image,
    lstat_media,
    media_stat,
    read_head,
)
from dispatcher.items.model import (
    EVENT_REQUIRED,
    IMAGE_ALT_REQUIRED,
    ChannelSelection,
    ContentItem,
    Event,
    FrontMatter,
)
from dispatcher.items.yamlread import YamlError, read_yaml

BOM = b"\xef\xbb\xbf"
MAX_PROBLEMS = 40
SUMMARY_SOURCE_CHARS = 5000  # the first paragraph is looked for in the body's head only
_MD = MarkdownIt("commonmark")
_BODY_MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])  # as the renderer reads it
MAX_BODY_BYTES = 100_000
"""The body's size limit (UTF-8 bytes): about 15.000 words. Rendering time grows with the
body and with its density (a 1 MB table took 43 s and 435 MB): measured, a 100 KB body of
the worst kinds renders for every channel in a few seconds."""
MAX_BODY_TOKENS = 30_000
"""Markdown elements in the body (a 500-row, 5-column table is about 9.000)."""
MAX_BODY_HTML = 500_000
"""Characters of the body once converted to HTML (links and autolinks grow several times)."""
_Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a content file; ``message`` is Spanish, for editors."""

    field: str | None
    line: int | None
    message: str

    def __post_init__(self) -> None:
        # Text quoted from the file (an unknown key, a wrong kind) must not carry terminal
        # escapes into the .error.txt, the bot's reply or a log line.
        object.__setattr__(self, "message", escape_controls(self.message))
        if self.field is not None:
            object.__setattr__(self, "field", escape_controls(self.field).replace("\n", "\\x0a"))

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"línea {self.line}")
        if self.field is not None:
            where.append(f"campo '{self.field}'")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class ContentError(Exception):
    """A content file cannot be accepted; ``problems`` is never empty."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        found = sorted(problems, key=lambda p: (p.line is None, p.line or 0))
        if len(found) > MAX_PROBLEMS:
            rest = Problem(None, None, f"… y {len(found) - MAX_PROBLEMS} problemas más")
            found = [*found[:MAX_PROBLEMS], rest]
        self.problems: list[Problem] = found or [Problem(None, None, "el archivo no es válido")]
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)

    @classmethod
    def single(cls, field: str | None, line: int | None, message: str) -> ContentError:
        return cls([Problem(field, line, message)])

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str | None, str]]) -> ContentError:
        """From ``(field, message)`` pairs without lines (prefer ``parse(validate=…)``)."""
        return cls([Problem(field, None, message) for field, message in pairs])


Validator = Callable[[ContentItem], Iterable[tuple[str | None, str]]]
"""Extra checks on a parsed item (e.g. against the plan): ``(field, Spanish message)`` pairs;
``field`` may be dotted (``event.place``) and is mapped to its line in the file."""


class MissingMedia(ContentError):
    """The file is valid except that media it names are not there yet: absent, empty, or an
    image whose first bytes are still zeros (a copy that pre-allocates, then fills)."""

    def __init__(
        self, problems: Iterable[Problem], missing: Iterable[str], item: ContentItem | None = None
    ) -> None:
        super().__init__(problems)
        self.missing: list[str] = list(missing)
        self.item = item  # what the file would be (no digest): its id finds earlier revisions


@dataclass
class _Source:
    """The file split into its parts, with the line numbers needed for errors."""

    block: str
    block_line: int  # file line of the first YAML line (1-based)
    open_line: int  # file line of the opening '---'
    body: str
    body_line: int
    lines: dict[_Path, int] = field(default_factory=dict)  # key path → file line

    def line_of(self, path: _Path) -> int:
        """The line of ``path``, or of its nearest present parent (a missing field)."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return self.open_line


def parse(
    data: bytes,
    *,
    name: str,
    base_dir: Path,
    tz: ZoneInfo,
    today: date,
    max_bytes: int,
    known_kinds: Collection[str],
    max_media_bytes: int | None = None,
    validate: Validator | None = None,
    media_dirs: Sequence[Path] = (),
    opened: OpenedMedia | None = None,
) -> ContentItem:
    """Validate one content file and resolve its defaults.

    Media paths are checked against ``base_dir`` (existence, symlinks staying inside it,
    regular files, image signatures); ``validate`` adds checks that need more than the
    file (the plan). A media path with nothing under ``base_dir`` is looked for in
    ``media_dirs`` (earlier revisions' archive folders: a correction need not resend its
    pictures). Raises :class:`MissingMedia` when media not there yet are the only problem,
    :class:`ContentError` for anything else.

    Each media file is opened once, in ``opened`` (the caller's, to copy the very files
    that were checked; else one closed before returning): checks and digest read the open
    descriptors, never the path again.
    """
    if opened is None:
        with OpenedMedia() as own:
            return parse(
                data,
                name=name,
                base_dir=base_dir,
                tz=tz,
                today=today,
                max_bytes=max_bytes,
                known_kinds=known_kinds,
                max_media_bytes=max_media_bytes,
                validate=validate,
                media_dirs=media_dirs,
                opened=own,
            )
    text = _decode(data, max_bytes)
    src = _split(text)
    raw = _load(src)
    problems = _check_raw(raw, src, known_kinds)
    problems += _body_problems(src)
    meta: FrontMatter | None = None
    try:
        meta = FrontMatter.model_validate(raw)
    except ValidationError as exc:
        problems += _validation_problems(exc, src, reported={p.field for p in problems})
    if meta is None or problems:
        raise ContentError(problems)
    real_media, missing, media_problems = _check_media(
        meta, src, base_dir, max_media_bytes, media_dirs, opened
    )
    media = None if media_problems else real_media  # no digest for an incomplete item
    if media is not None:
        opened.choose(media)
    files = {rel: opened.open(root, rel) for rel, root in (media or {}).items()}
    item = _build(
        meta,
        src,
        data,
        files if media is not None else None,
        name=name,
        base_dir=base_dir,
        tz=tz,
        today=today,
    )
    extra = [
        Problem(field, src.line_of(path_of(field)) if field else None, message)
        for field, message in (validate(item) if validate else ())
    ]
    if extra or media_problems:
        if missing and len(missing) == len(media_problems) and not extra:
            raise MissingMedia(media_problems, [rel for rel, _ in missing], item)
        raise ContentError(media_problems + extra)
    return item


def _fail(line: int | None, message: str, field: str | None = None) -> NoReturn:
    raise ContentError([Problem(field, line, message)])


def check_file(
    path: Path,
    *,
    tz: ZoneInfo,
    known_kinds: Collection[str],
    max_bytes: int,
    max_media_bytes: int | None = None,
    today: date | None = None,
    validate: Validator | None = None,
) -> ContentItem:
    """``parse`` for a file on disk (``pregonero check``); media relative to its folder."""
    try:
        st = path.stat()
    except OSError as exc:
        _fail(None, f"no se puede leer el archivo: {exc.strerror}")
    if not stat.S_ISREG(st.st_mode):
        _fail(None, "no es un archivo normal")
    if st.st_size > max_bytes:
        _fail(None, too_big(st.st_size, max_bytes))
    return parse(
        path.read_bytes(),
        name=path.name,
        base_dir=path.parent,
        tz=tz,
        today=today or datetime.now(tz).date(),
        max_bytes=max_bytes,
        known_kinds=known_kinds,
        max_media_bytes=max_media_bytes,
        validate=validate,
    )


def referenced_media(data: bytes) -> list[str]:
    """Best effort: the media paths a (possibly invalid) file names, normalised. Never raises.

    Remembered for recent files (intake asks before and while taking a file in)."""
    if len(data) > _CACHED_BYTES:
        return list(_referenced_media(data))
    return list(_cached_referenced_media(data))


_CACHED_BYTES = 65_536


def _referenced_media(data: bytes) -> tuple[str, ...]:
    try:
        raw = _load(_split(_decode(data, len(data) + 1)))
        found = [raw.get("image"), *(raw.get("attachments") or [])]
        return tuple(
            str(PurePosixPath(v.strip().replace("\\", "/")))
            for v in found
            if isinstance(v, str) and v.strip()
        )
    except Exception:  # any malformed input simply references nothing
        return ()


_cached_referenced_media = functools.lru_cache(maxsize=1024)(_referenced_media)


def field_line(data: bytes, field: str) -> int | None:
    """Best effort: the file line of ``field`` (dotted, ``[i]`` for list items). Never raises."""
    try:
        src = _split(_decode(data, len(data) + 1))
        _load(src)
        return src.lines.get(path_of(field))
    except Exception:
        return None


def too_big(size: int, limit: int) -> str:
    """The Spanish message for a file over the size limit."""
    return f"el archivo pesa {size:,} bytes; el máximo es {limit:,}".replace(",", ".")


def _decode(data: bytes, max_bytes: int) -> str:
    if not data.strip(BOM + b" \t\r\n"):
        _fail(None, "el archivo está vacío")
    if len(data) > max_bytes:
        _fail(None, too_big(len(data), max_bytes))
    skip = len(BOM) if data.startswith(BOM) else 0
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = skip + exc.start
        line = data[:offset].count(b"\n") + 1
        column = offset - data.rfind(b"\n", 0, offset)
        _fail(
            line,
            f"el archivo no está en UTF-8 (byte 0x{data[offset]:02X} en la columna {column}, "
            f"posición {offset} del archivo): guárdelo con la codificación UTF-8",
        )
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        _fail(line, "el archivo contiene caracteres nulos: ¿es un archivo binario?")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _split(text: str) -> _Source:
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if line.strip()), 0)
    if lines[start].rstrip() != "---":
        _fail(
            start + 1,
            "falta la cabecera: el archivo debe empezar con una línea '---', seguida de los "
            "campos (kind, title…) y de otra línea '---'",
        )
    for end in range(start + 1, len(lines)):
        if lines[end].rstrip() in ("---", "..."):
            return _Source(
                block="\n".join(lines[start + 1 : end]),
                block_line=start + 2,
                open_line=start + 1,
                body="\n".join(lines[end + 1 :]),
                body_line=end + 2,
            )
    _fail(start + 1, f"falta la línea '---' que cierra la cabecera abierta en la línea {start + 1}")


def _load(src: _Source) -> dict[str, Any]:
    try:
        doc = read_yaml(src.block)
    except YamlError as exc:
        raise ContentError(
            Problem(
                field_name(p.path) or None,
                src.open_line if p.line is None else src.block_line + p.line,
                _header_message(p.message, src, p.first_line),
            )
            for p in exc.problems
        ) from None
    raw = doc.data
    if raw is None:
        _fail(src.open_line, "la cabecera está vacía: faltan 'kind' y 'title'")
    if not isinstance(raw, dict):
        _fail(src.block_line, "la cabecera debe ser una lista de campos 'clave: valor'")
    src.lines.update({path: src.block_line + line for path, line in doc.lines.items()})
    return raw


def _header_message(message: str, src: _Source, first_line: int | None) -> str:
    if first_line is not None:
        message = message.replace("{}", str(src.block_line + first_line))
    if message.startswith("no se puede leer"):
        return f"la cabecera {message}"
    return message


def _check_raw(raw: dict[str, Any], src: _Source, known_kinds: Collection[str]) -> list[Problem]:
    """Checks that read better before pydantic: unknown kind, cross-field rules, empty body."""
    problems = []
    kind = raw.get("kind")
    if isinstance(kind, str) and kind.strip() not in known_kinds:
        valid = ", ".join(sorted(known_kinds)) or "(ninguno: revise content/plan.yaml)"
        close = difflib.get_close_matches(kind.strip(), list(known_kinds), n=1, cutoff=0.6)
        hint = f"; ¿quiso decir '{close[0]}'?" if close else ""
        problems.append(
            Problem(
                "kind",
                src.line_of(("kind",)),
                f"tipo desconocido '{shorten(kind, 60)}'{hint} Tipos válidos: {valid}",
            )
        )
    if raw.get("image") and not raw.get("image_alt"):
        problems.append(Problem("image_alt", src.line_of(("image",)), IMAGE_ALT_REQUIRED))
    if kind == "rueda_de_prensa" and not raw.get("event"):
        problems.append(Problem("event", src.line_of(("kind",)), EVENT_REQUIRED))
    problems += _control_characters(raw, src)
    summary = raw.get("summary")
    if not src.body.strip() and not (isinstance(summary, str) and summary.strip()):
        empty = "el texto está vacío: escríbalo debajo de la segunda línea '---'"
        problems.append(Problem(None, src.body_line, f"{empty} o ponga al menos un 'summary'"))
    return problems


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """``text`` with control characters but newline and tab written as ``\\xNN`` /
    ``\\uNNNN`` (printable, one line per line: nothing for a terminal to obey)."""
    return _BODY_CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


_BODY_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _body_problems(src: _Source) -> list[Problem]:
    """The body: no control characters but newline and tab (ESC, BEL… would reach posts,
    mail subjects and terminals), and within the limits that bound rendering time."""
    found = _BODY_CONTROL.search(src.body)
    if found is not None:
        line = src.body_line + src.body.count("\n", 0, found.start())
        code = f"U+{ord(found.group()):04X}"
        message = f"el texto contiene un carácter de control no permitido ({code}): bórrelo"
        return [Problem(None, line, message)]
    size = len(src.body.encode("utf-8"))
    if size > MAX_BODY_BYTES:
        return [Problem(None, src.body_line, _too_long(f"pesa {size:,} bytes", MAX_BODY_BYTES))]
    tokens = _BODY_MD.parse(src.body)
    count = len(tokens) + sum(len(t.children or ()) for t in tokens)
    if count > MAX_BODY_TOKENS:
        what = f"tiene {count:,} elementos de Markdown (tablas, enlaces, listas…)"
        return [Problem(None, src.body_line, _too_long(what, MAX_BODY_TOKENS))]
    html_size = len(_BODY_MD.renderer.render(tokens, _BODY_MD.options, {}))
    if html_size > MAX_BODY_HTML:
        what = f"ocupa {html_size:,} caracteres convertido en HTML"
        return [Problem(None, src.body_line, _too_long(what, MAX_BODY_HTML))]
    return []


def _too_long(what: str, limit: int) -> str:
    text = (
        f"el texto {what}; el máximo es {limit:,}: divídalo en varias piezas o "
        "adjunte el documento completo como PDF"
    )
    return text.replace(",", ".")


def _control_characters(value: Any, src: _Source, path: _Path = ()) -> list[Problem]:
    """Refuse control characters (NUL, ESC, BEL…) in any value of the header: a NUL cannot be
    stored in PostgreSQL text, and terminal escapes forge logs and status output."""
    if isinstance(value, str):
        found = _CONTROL.search(value)
        if found is None:
            return []
        code = f"U+{ord(found.group()):04X}"
        message = f"contiene un carácter de control no permitido ({code}): bórrelo"
        return [Problem(field_name(path) or None, src.line_of(path), message)]
    if isinstance(value, dict):
        return [
            problem
            for key, inner in value.items()
            for problem in _control_characters(inner, src, (*path, str(key)))
        ]
    if isinstance(value, list):
        return [
            problem
            for i, inner in enumerate(value)
            for problem in _control_characters(inner, src, (*path, i))
        ]
    return []


def _validation_problems(
    exc: ValidationError, src: _Source, reported: set[str | None]
) -> list[Problem]:
    problems = []
    for err in exc.errors():
        ctx = err.get("ctx") or {}
        if "field" in ctx:  # a cross-field rule: name the missing field, point at its cause
            path: _Path = (str(ctx["field"]),)
            line = src.line_of((str(ctx["near"]),))
        else:
            path = tuple(p if isinstance(p, int) else str(p) for p in err["loc"])
            line = src.line_of(path)
        name = field_name(path) or None
        if name in reported:
            continue
        if err["type"] == "extra_forbidden":
            message = unknown_key_message(path)
        else:
            message = pydantic_message(err)
        problems.append(Problem(name, line, message))
    return problems


def find_media(rel: str, base_dir: Path, media_dirs: Sequence[Path]) -> Path:
    """The folder ``rel`` is taken from: ``base_dir``, or when nothing is there, the first
    folder of ``media_dirs`` holding ``rel`` as a usable file (an earlier revision's
    archive). Never follows a symlink (see :mod:`dispatcher.items.media`)."""
    try:
        lstat_media(base_dir, rel)
        return base_dir
    except FileNotFoundError:
        pass
    except (UnsafeMedia, OSError):
        return base_dir
    for folder in media_dirs:
        with contextlib.suppress(UnsafeMedia, OSError):
            media_stat(folder, rel)
            return folder
    return base_dir


def _check_media(
    meta: FrontMatter,
    src: _Source,
    base_dir: Path,
    max_bytes: int | None,
    media_dirs: Sequence[Path],
    opened: OpenedMedia,
) -> tuple[dict[str, Path], list[tuple[str, int]], list[Problem]]:
    """Check each media file inside its folder, on its open descriptor (opened once, in
    ``opened``); return ({rel: folder}, missing, problems)."""
    real: dict[str, Path] = {}
    missing: list[tuple[str, int]] = []
    problems: list[Problem] = []
    refs: list[tuple[_Path, str]] = [(("image",), meta.image)] if meta.image else []
    refs += [(("attachments", i), a) for i, a in enumerate(meta.attachments)]
    for path, rel in refs:
        line = src.line_of(path)

        def problem(message: str, path: _Path = path, line: int = line) -> None:
            problems.append(Problem(field_name(path), line, message))

        root = find_media(rel, base_dir, media_dirs)
        try:
            fin = opened.open(root, rel)
            st = os.fstat(fin.fileno())
            head = read_head(fin)
            why = None if path == ("image",) else attachment_problem(rel, head)
            if st.st_size == 0 or (path == ("image",) and not head[:16].strip(b"\0")):
                missing.append((rel, line))
                problem(f"el archivo '{rel}' está vacío o aún se está copiando")
            elif max_bytes is not None and st.st_size > max_bytes:
                problem(
                    f"'{rel}' pesa {st.st_size / 1e6:.1f} MB; el máximo es {max_bytes / 1e6:.1f} MB"
                )
            elif path == ("image",) and not is_raster_image(PurePosixPath(rel).suffix, head):
                problem(f"'{rel}' no es una imagen PNG, JPG, GIF o WebP")
            elif why is not None:
                problem(why)
            else:
                real[rel] = root
        except FileNotFoundError:
            missing.append((rel, line))
            problem(f"falta el archivo '{rel}' (la ruta es relativa a la carpeta del .md)")
        except UnsafeMedia as exc:
            problem(str(exc))
        except OSError as exc:
            problem(f"no se puede leer '{rel}': {exc.strerror or exc}")
    return real, missing, problems


def _digest(data: bytes, media: dict[str, BinaryIO]) -> str:
    """SHA-256 of the file's bytes, then each media file (sorted by path), length-prefixed.

    ``media`` maps each path to its open file (the one that was checked)."""
    h = hashlib.sha256()
    h.update(len(data).to_bytes(8, "big") + data)
    for rel in sorted(media):
        fh = media[rel]
        size = os.fstat(fh.fileno()).st_size
        h.update(rel.encode() + b"\0" + size.to_bytes(8, "big"))
        fh.seek(0)
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _localize(value: datetime | None, tz: ZoneInfo) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=tz)


def _build(
    meta: FrontMatter,
    src: _Source,
    data: bytes,
    media: dict[str, BinaryIO] | None,
    *,
    name: str,
    base_dir: Path,
    tz: ZoneInfo,
    today: date,
) -> ContentItem:
    publish_at = _localize(meta.publish_at, tz)
    update: dict[str, Any] = {"publish_at": publish_at}
    if meta.event is not None:
        update["event"] = meta.event.model_copy(
            update={"starts_at": _localize(meta.event.starts_at, tz)}
        )
    meta = meta.model_copy(update=update)
    day = meta.date or (publish_at.astimezone(tz).date() if publish_at else today)
    slug = slugify(meta.title) or hashlib.sha1(meta.title.encode()).hexdigest()[:8]
    summary = meta.summary or shorten(first_paragraph(_MD, src.body)) or meta.title
    return ContentItem(
        meta=meta,
        body=src.body.strip("\n"),
        id=meta.id or f"{day.isoformat()}-{slug}",
        summary=summary,
        date=day,
        publish_at=publish_at,
        base_dir=base_dir,
        digest=_digest(data, media) if media is not None else "",
        source_name=name,
    )


# --- text helpers: slugs, summaries, Spanish messages ----------------------------------------

_FIELDS: dict[_Path, list[str]] = {
    (): list(FrontMatter.model_fields),
    ("event",): list(Event.model_fields),
    ("channels",): list(ChannelSelection.model_fields),
}
# Spanish (and common English) names editors write for a field.
_HINTS = {
    "tipo": "kind",
    "clase": "kind",
    "titulo": "title",
    "título": "title",
    "resumen": "summary",
    "fecha": "date",
    "publicar": "publish_at",
    "publicacion": "publish_at",
    "publicación": "publish_at",
    "etiquetas": "tags",
    "imagen": "image",
    "foto": "image",
    "alt": "image_alt",
    "descripcion": "image_alt",
    "descripción": "image_alt",
    "adjuntos": "attachments",
    "anexos": "attachments",
    "canales": "channels",
    "audiencias": "audiences",
    "publico": "audiences",
    "público": "audiences",
    "evento": "event",
    "lugar": "place",
    "inicio": "starts_at",
    "hora": "starts_at",
    "voceros": "speakers",
    "ponentes": "speakers",
    "solo": "only",
    "excepto": "exclude",
    "excluir": "exclude",
    "author": "dependencia",
    "autor": "dependencia",
    "categories": "tags",
    "categorias": "tags",
}
_TYPE_MESSAGES = {
    "missing": "falta este campo obligatorio",
    "string_type": "debe ser un texto",
    "string_too_short": "es demasiado corto (mínimo {min_length} caracteres)",
    "string_too_long": "es demasiado largo (máximo {max_length} caracteres)",
    "list_type": "debe ser una lista (una línea '- valor' por elemento)",
    "too_long": "tiene demasiados elementos (máximo {max_length})",
    "model_type": "debe ser un grupo de campos 'clave: valor'",
    "model_attributes_type": "debe ser un grupo de campos 'clave: valor'",
    "dict_type": "debe ser un grupo de campos 'clave: valor'",
}
_BAD_DATETIME = "fecha y hora inválidas: use AAAA-MM-DDTHH:MM, p. ej. 2024-05-02T08:30"
_TYPE_MESSAGES |= dict.fromkeys(
    ("date_type", "date_parsing", "date_from_datetime_parsing", "date_from_datetime_inexact"),
    "fecha inválida: use AAAA-MM-DD, p. ej. 2024-05-02",
)
_TYPE_MESSAGES |= dict.fromkeys(
    ("datetime_type", "datetime_parsing", "datetime_from_date_parsing", "datetime_object_invalid"),
    _BAD_DATETIME,
)
_PATTERN_MESSAGES = {
    "kind": "el tipo solo puede tener minúsculas y '_' (p. ej. boletin)",
    "id": "el id solo admite minúsculas sin tildes, números y guiones (p. ej. 2024-05-02-vias)",
    "video": "debe ser una dirección que empiece por http:// o https://",
}


def path_of(field: str) -> _Path:
    """``event.starts_at`` → ``("event", "starts_at")``, ``audiences[1]`` → ``("audiences", 1)``
    (the inverse of :func:`field_name`)."""
    path: list[str | int] = []
    for part in field.split("."):
        name, *indexes = part.split("[")
        if name:
            path.append(name)
        for index in indexes:
            number = index.rstrip("]")
            path.append(int(number) if number.isdigit() else number)
    return tuple(path)


def field_name(path: _Path) -> str:
    """``("event", "starts_at")`` → ``event.starts_at``, ``("tags", 1)`` → ``tags[1]``."""
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else part)
    return name


def slugify(text: str, limit: int = 80) -> str:
    """Lowercase ASCII, accents removed, other runs of characters as '-', cut at a '-'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > limit:
        cut = slug[: limit + 1].rfind("-")
        slug = slug[: cut if cut > 0 else limit].strip("-")
    return slug


def shorten(text: str, limit: int = 300) -> str:
    """Whitespace collapsed; if longer than ``limit``, cut at a word boundary with '…'."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + "…"


def first_paragraph(md: MarkdownIt, body: str) -> str:
    """The first Markdown paragraph as plain text (markup, images and HTML dropped)."""
    tokens = md.parse(body[:SUMMARY_SOURCE_CHARS])
    for before, token in itertools.pairwise(tokens):
        if before.type == "paragraph_open" and token.type == "inline":
            parts = []
            for child in token.children or []:
                if child.type in ("text", "code_inline"):
                    parts.append(child.content)
                elif child.type in ("softbreak", "hardbreak"):
                    parts.append(" ")
            text = " ".join("".join(parts).split())
            if text:
                return text
    return ""


def unknown_key_message(path: _Path) -> str:
    key = str(path[-1])
    valid = _FIELDS.get(path[:-1], [])
    guess = _HINTS.get(key.strip().lower())
    if guess not in valid:
        close = difflib.get_close_matches(key.strip().lower(), valid, n=1, cutoff=0.6)
        guess = close[0] if close else None
    if guess:
        return f"campo desconocido '{shorten(key, 60)}'; ¿quiso decir '{guess}'?"
    return f"campo desconocido '{shorten(key, 60)}'; los campos válidos son: {', '.join(valid)}"


def pydantic_message(err: Any) -> str:
    """A Spanish message for one pydantic error (our own validators already speak Spanish)."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "string_pattern_mismatch":
        message = _PATTERN_MESSAGES.get(str(err["loc"][-1]), "tiene un formato inválido")
    elif kind in _TYPE_MESSAGES:
        message = _TYPE_MESSAGES[kind].format(**ctx)
    elif kind == "value_error":
        message = str(err["msg"]).removeprefix("Value error, ")
    elif not str(err["msg"])[:1].isascii() or kind.endswith("_required"):
        message = str(err["msg"])
    else:
        message = f"valor inválido ({err['msg']})"
    if kind != "missing" and isinstance(err.get("input"), str | int | float | date):
        message += f" (valor: {shorten(str(err['input']), 60)!r})"
    return message
