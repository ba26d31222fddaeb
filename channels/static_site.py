"""The ``website`` channel as a static site: one folder per item plus a paginated index, an
Atom feed and a sitemap, all plain files under ``PREGONERO_WEBSITE__OUTPUT_DIR`` that any web
server can serve at ``PREGONERO_WEBSITE__BASE_URL``.

Layout of the output folder::

    index.html, pagina/<n>/index.html     newest first, ``website.page_size`` per page
    feed.xml, sitemap.xml
    <YYYY>/<MM>/<item_id>/index.html      the item page, its image and attachments beside it

Nothing else: the output folder is public, so the site's own state lives outside it, in
``<content>/.site-state/`` (security issue, finding 13)::

    entries/<item_id>.json                one manifest entry per item (written per publish)
    entries.json                          all entries together, written at each regeneration
    articles/<item_id>.html               article HTML with absolute links, for the feed
    lock                                  the advisory lock of the writers

A site built by an older version kept that state in ``<output>/.pregonero/``: the first
publish or rebuild moves our files out of it (anything else found there is left in place,
with a warning) and removes the folder when it is empty.

Media convention: the image and attachments are copied into the item's folder under their
path relative to ``post.meta["base_dir"]`` (the item's folder) when given, else under their
bare file name, and the article fragment links to them by that relative path
(``<img src="foto.jpg">``, i.e. the renderer's ``media_base=""``): the page URL ends in
``/``, so the browser finds the copy beside ``index.html``. The feed gets absolute URLs. A
page keeps the URL of its first publication, also when a correction changes its date.

Dates: the index, the feed and the sitemap order and date items by the item's ``date:``
(``post.meta["date"]``), never by when they were processed; within that day, by its
``publish_at`` when it falls on it (see ``StaticSiteAdapter._dated``). The page and the
templates come through the :class:`~channels.base.ChannelContext` (the renderer's jinja2
environment, the site's name, the clock): this module never imports the core.

The article HTML is sanitised once more (nh3, :mod:`channels._html`) where it leaves: in the
page, and in the feed after its links are made absolute on the parsed fragment.

Every file is written to a temporary file in the same folder and renamed over the old one,
so a crash never leaves half a page.

Durability: a power cut (not a crash of the process, which loses nothing written) may lose
what the kernel had not flushed yet. The manifest is what the index, feed and sitemap are
rebuilt from, so its aggregate ``entries.json`` is fsynced whenever a regeneration changes
it — once per coalesced burst rather than once per publication (creating and fsyncing a file
costs milliseconds of kernel time each on a journaling file system). A publication is thus
durable within ``website.regenerate_delay`` seconds, the same kind of window as the SQLite
ledger's own (WAL with ``synchronous=NORMAL``); were it lost, the ledger's record makes the
item's next correction or a ``rebuild`` after a re-publication put it back. A publish writes the item page and its own manifest
entry (constant work however large the site); the index, feed and sitemap are regenerated
from all entries, coalesced over ``website.regenerate_delay`` seconds so a burst of
publishes costs one regeneration. Both run under an ``asyncio.Lock`` and an advisory file
lock (several workers on one machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
from datetime import date, datetime, time
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urljoin
from xml.sax.saxutils import escape as xml_escape

import jinja2
from markupsafe import Markup

from channels._fs import (
    FileWorker,
    atomic_write,
    copy_atomic,
    file_lock,
    map_os_error,
    write_if_changed,
)
from channels._html import clean_article, rewrite_urls
from channels.base import ChannelContext, CheckResult, PermanentError, Post, Receipt, Rejected
from channels.ics import Invitation, calendar_bytes
from channels.pages import CALENDAR_FILE, SAFE_ID, page_path

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from settings import Settings

log = logging.getLogger("pregonero.website")

PAGE_TEMPLATE = "website/_layout/page.html.j2"
INDEX_TEMPLATE = "website/_layout/index.html.j2"
WITHDRAWN_TEMPLATE = "website/_layout/withdrawn.html.j2"
FEED_SIZE = 50
STATE_DIR = ".site-state"
"""The site's state folder, inside the content folder (never inside the public output)."""
LEGACY_STATE_DIR = ".pregonero"
"""Where older versions kept the state: inside the output folder."""
_STATE_FILES = ("entries.json", "lock", "entries/*.json", "articles/*.html")
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def media_name(path: Path, base_dir: object = None) -> str:
    """Where a media file goes inside the page folder, as a relative POSIX path: its path
    relative to ``base_dir`` (the item's folder, ``post.meta["base_dir"]``) when it lies
    inside it, else its bare file name. The article links to it by that same path."""
    if isinstance(base_dir, str | Path):
        with contextlib.suppress(ValueError):
            return path.resolve().relative_to(Path(base_dir).resolve()).as_posix()
    return path.name


def relink(fragment: str, mapping: dict[str, str]) -> str:
    """Replace ``src``/``href`` values found in ``mapping`` (local media path → remote URL),
    for backends that host media elsewhere (WordPress's media library). The fragment is
    parsed and rebuilt (:func:`channels._html.rewrite_urls`), never edited as text."""
    return rewrite_urls(fragment, lambda _tag, _name, value: mapping.get(value))


def absolutize(fragment: str, page_url: str) -> str:
    """Resolve relative ``src``/``href`` values against ``page_url`` (for the feed), on the
    parsed fragment, then sanitise the result once more (:func:`channels._html.clean_article`)."""
    return clean_article(
        rewrite_urls(fragment, lambda _tag, _name, value: urljoin(page_url, value))
    )


# ---------------------------------------------------------------- adapter


class StaticSiteAdapter:
    """Publishes rendered website posts as static pages; idempotent (a rewrite is harmless)."""

    name: ClassVar[str] = "website"
    idempotent: ClassVar[bool] = True

    def __init__(
        self,
        settings: Settings,
        context: ChannelContext,
        *,
        regenerate_delay: float | None = None,
    ) -> None:
        if context.templates is None:
            raise ValueError(
                "el sitio estático necesita las plantillas del renderizador "
                "(ChannelContext.templates)"
            )
        self._tz: ZoneInfo = settings.tz
        # Index pages, feed and sitemap are regenerated at most once per this many seconds
        # after publishes (0: after every publish). Item pages are always written at once.
        self._delay = (
            settings.website.regenerate_delay if regenerate_delay is None else regenerate_delay
        )
        self._dirty = False
        self._regen_task: asyncio.Task[None] | None = None
        self._out = Path.cwd() / settings.website.output_dir.expanduser()
        self._state_dir = Path.cwd() / settings.content_dir.expanduser() / STATE_DIR
        self._migrated = False
        self._base_url = settings.website.base_url
        self._page_size = settings.website.page_size
        self._site_name = context.site_name
        self._env: jinja2.Environment = context.templates
        self._clock = context.clock
        self._lock = asyncio.Lock()
        # the app's file thread; a site built without one (a test, a tool) has its own
        self._own_files = context.files is None
        self._files = context.files or FileWorker("pregonero-site")
        self._organizer = settings.smtp.from_ or ""
        # parsed state files by path, with the version they were read at (see _version)
        self._parsed: dict[Path, tuple[tuple[int, int, int], Any]] = {}

    @property
    def output_dir(self) -> Path:
        return self._out

    @property
    def state_dir(self) -> Path:
        """The site's manifest, article fragments and lock (outside the output folder)."""
        return self._state_dir

    @property
    def _state(self) -> Path:
        return self._state_dir

    async def publish(self, post: Post) -> Receipt:
        inline = self._delay <= 0
        async with self._lock:
            receipt = await self._files.run(self._publish_sync, post, inline)
        if not inline:
            self._dirty = True
            if self._regen_task is None or self._regen_task.done():
                self._regen_task = asyncio.create_task(self._regenerate_soon())
        return receipt

    update_idempotent: ClassVar[bool] = True

    async def update(self, receipt: Receipt, post: Post) -> Receipt:
        """A correction rewrites the page (and the index, feed and sitemap entries)."""
        return await self.publish(post)

    async def withdraw(self, receipt: Receipt) -> Receipt:
        """Replace the page with the notice "Esta publicación fue retirada el … Motivo: …"
        (``WITHDRAWN_TEMPLATE``), remove its media, and drop it from the index, feed and
        sitemap. ``receipt.detail`` carries ``item_id``, ``title``, ``reason`` and
        ``withdrawn_at``. Harmless to repeat."""
        item_id = str(receipt.detail.get("item_id") or "")
        if not SAFE_ID.match(item_id):
            raise Rejected(f"identificador inválido para una página: {item_id!r}")
        async with self._lock:
            try:
                return await self._files.run(self._withdraw_sync, item_id, receipt)
            except OSError as exc:
                raise map_os_error(exc, f"retirar «{item_id}» del sitio") from exc
            except jinja2.TemplateError as exc:
                raise PermanentError(f"error en una plantilla del sitio: {exc}") from exc

    def _withdraw_sync(self, item_id: str, receipt: Receipt) -> Receipt:
        with file_lock(self._state / "lock"):
            manifest = self._load_manifest()
            entry = manifest.pop(item_id, None) or self._read_entry(item_id)
            if entry is None:
                return Receipt(receipt.remote_id, receipt.url, {"absent": True})
            folder = self._out / entry["path"]
            if folder.is_dir():
                for child in folder.iterdir():
                    if child.is_dir():
                        shutil.rmtree(child)
                    elif child.name != "index.html":
                        child.unlink()
            when = _parse(str(receipt.detail.get("withdrawn_at") or self._clock().isoformat()))
            title = str(receipt.detail.get("title") or entry.get("title") or "")
            notice = self._template(WITHDRAWN_TEMPLATE).render(
                title=title, reason=receipt.detail.get("reason") or "", withdrawn_at=when
            )
            page = self._template(PAGE_TEMPLATE).render(
                article_html=Markup(notice),
                title=f"Publicación retirada: {title}",
                site_name=self._site_name,
                base_url=self._base_url,
                feed_url=self._base_url + "feed.xml",
            )
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write(folder / "index.html", page.encode("utf-8"))
            for stale in (self._entry_file(item_id), self._state / "articles" / f"{item_id}.html"):
                stale.unlink(missing_ok=True)
            # the aggregate is rewritten without the entry, so it does not come back
            aggregate = json.dumps(manifest, ensure_ascii=False, separators=(",", ":"))
            atomic_write(self._state / "entries.json", aggregate.encode("utf-8"), durable=True)
            self._regenerate(manifest)
        return Receipt(receipt.remote_id, entry["url"], {"path": str(folder / "index.html")})

    async def _regenerate_soon(self) -> None:
        """Coalesce a burst of publishes into one index/feed/sitemap regeneration."""
        while self._dirty:
            await asyncio.sleep(self._delay)
            self._dirty = False
            try:
                await self.rebuild()
            except Exception:
                log.exception("no se pudo regenerar el índice del sitio")

    async def flush(self) -> None:
        """Regenerate now if a coalesced regeneration is pending."""
        task, self._regen_task = self._regen_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._dirty = False
            await self.rebuild()

    async def rebuild(self) -> None:
        """Regenerate index pages, feed and sitemap from the manifest (after a template or
        ``page_size`` change); item pages are left as they are."""
        async with self._lock:
            await self._files.run(self._rebuild_sync)

    async def check(self) -> CheckResult:
        def probe() -> None:
            self._out.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self._out):
                pass

        try:
            await self._files.run(probe)
        except OSError as exc:
            return CheckResult(False, map_os_error(exc, f"escribir en {self._out}").reason)
        return CheckResult(True, f"sitio estático en {self._out}, publicado en {self._base_url}")

    async def aclose(self) -> None:
        await self.flush()
        if self._own_files:
            await self._files.aclose()

    # -- synchronous work, run in a thread under the lock

    def _publish_sync(self, post: Post, regenerate: bool = True) -> Receipt:
        if not SAFE_ID.match(post.item_id):
            raise Rejected(f"identificador inválido para una página: {post.item_id!r}")
        try:
            with file_lock(self._state / "lock"):
                self._migrate_legacy_state()
                return self._publish_locked(post, regenerate)
        except OSError as exc:
            raise map_os_error(exc, f"publicar «{post.item_id}» en el sitio") from exc
        except jinja2.TemplateError as exc:
            raise PermanentError(f"error en una plantilla del sitio: {exc}") from exc

    def _rebuild_sync(self) -> None:
        try:
            with file_lock(self._state / "lock"):
                self._migrate_legacy_state()
                self._regenerate(self._load_manifest())
        except OSError as exc:
            raise map_os_error(exc, "regenerar el índice del sitio") from exc
        except jinja2.TemplateError as exc:
            raise PermanentError(f"error en una plantilla del sitio: {exc}") from exc

    def _migrate_legacy_state(self) -> None:
        """Move an older version's ``<output>/.pregonero/`` state out of the public folder
        (once per adapter; under the file lock). Only our own files are moved, never through
        a symlink; what the new state folder already holds wins over an old copy; anything
        else found there stays, with a warning."""
        if self._migrated:
            return
        old = self._out / LEGACY_STATE_DIR
        try:
            st = os.lstat(old)
        except FileNotFoundError:
            self._migrated = True
            return
        if not stat.S_ISDIR(st.st_mode):
            log.warning("%s no es una carpeta: no se toca", old)
            self._migrated = True
            return
        moved = 0
        for pattern in _STATE_FILES:
            for src in sorted(old.glob(pattern)):
                if src.is_symlink() or not src.is_file():
                    continue
                dest = self._state / src.relative_to(old)
                if dest.exists():
                    src.unlink()  # our stale copy: the state outside the site is newer
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(src, dest)
                moved += 1
        for folder in (old / "entries", old / "articles", old):
            with contextlib.suppress(FileNotFoundError):
                try:
                    folder.rmdir()
                except OSError:
                    if not folder.is_symlink() and folder.is_dir():
                        log.warning(
                            "%s tiene archivos que no son de Pregonero: quedan en la carpeta "
                            "pública; revíselos",
                            folder,
                        )
        log.info("estado del sitio trasladado de %s a %s (%d archivos)", old, self._state, moved)
        self._migrated = True

    def _publish_locked(self, post: Post, regenerate: bool) -> Receipt:
        old = self._read_entry(post.item_id)
        if old is not None and old.get("revision", 1) > post.revision:
            # A late retry of an older revision must not undo a correction already online.
            return Receipt(old["path"] + "index.html", old["url"], {"stale": True})
        item_day = self._item_day(post)
        rel = old["path"] if old else page_path(post.item_id, item_day)
        url = self._base_url + rel
        folder = self._out / rel
        folder.mkdir(parents=True, exist_ok=True)
        names = self._copy_media(post, folder)

        now = self._aware(self._clock()).replace(microsecond=0)
        if old is None:
            day = self._dated(post, item_day)
            updated = now if post.revision > 1 else day
        else:
            day = _parse(old["date"])
            if day.astimezone(self._tz).date() != item_day:  # a correction moved its date:
                day = self._dated(post, item_day)
            updated = now if post.revision > old.get("revision", 1) else _parse(old["updated"])
        image_url = url + quote(names[post.image.path]) if post.image else None
        entry = {
            "title": post.title,
            "url": url,
            "path": rel,
            "summary": post.summary,
            "date": day.isoformat(),
            "updated": updated.isoformat(),
            "revision": post.revision,
            "image_url": image_url,
            "image_alt": post.image.alt if post.image else None,
        }
        page = self._template(PAGE_TEMPLATE).render(
            article_html=Markup(clean_article(post.text)),
            title=post.title,
            canonical_url=url,
            site_name=self._site_name,
            base_url=self._base_url,
            description=post.summary,
            image_url=image_url,
            image_alt=entry["image_alt"],
            date=day,
            published_at=day,
            updated=updated,
            revision=post.revision,
            kind_label=post.meta.get("kind_label", ""),
            tags=post.meta.get("tags", []),
            dependencia=post.meta.get("dependencia"),
            attachments=[
                {"name": names[m.path], "url": url + quote(names[m.path])} for m in post.attachments
            ],
            feed_url=self._base_url + "feed.xml",
            calendar_url=self._write_calendar(post, folder, url),
        )
        atomic_write(folder / "index.html", page.encode("utf-8"))
        article = absolutize(post.text, url).encode("utf-8")
        write_if_changed(self._state / "articles" / f"{post.item_id}.html", article)
        data = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
        # atomic, not fsynced: the aggregate is, at the regeneration that follows (see the
        # module's docstring, "Durability")
        atomic_write(self._entry_file(post.item_id), data.encode("utf-8"))
        if regenerate:
            self._regenerate(self._load_manifest())
        return Receipt(rel + "index.html", url, {"path": str(folder / "index.html")})

    def _write_calendar(self, post: Post, folder: Path, url: str) -> str | None:
        """An item with an event gets ``convocatoria.ics`` beside its page (the same UID as
        the e-mail invitation, see :mod:`channels.ics`); returns its URL."""
        event = post.meta.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("starts_at"), datetime):
            return None
        name, address = parseaddr(self._organizer)
        invite = Invitation(
            item_id=post.item_id,
            title=post.title,
            starts_at=self._aware(event["starts_at"]),
            place=str(event.get("place") or ""),
            site_url=self._base_url,
            url=url,
            summary=post.summary,
            speakers=tuple(event.get("speakers") or ()),
            organizer_email=address or None,
            organizer_name=name or self._site_name,
            revision=post.revision,
        )
        atomic_write(folder / CALENDAR_FILE, calendar_bytes(invite, "PUBLISH"))
        return url + CALENDAR_FILE

    def _copy_media(self, post: Post, folder: Path) -> dict[Path, str]:
        """Copy the image and attachments beside the page; return path → name used there."""
        media = ([post.image] if post.image else []) + list(post.attachments)
        names: dict[Path, str] = {}
        taken: dict[str, Path] = {}
        for item in media:
            name = media_name(item.path, post.meta.get("base_dir"))
            if taken.setdefault(name, item.path) != item.path:
                raise Rejected(
                    f"dos archivos se llaman «{name}»: renombre uno, la página los guarda "
                    "en la misma carpeta"
                )
            names[item.path] = name
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            copy_atomic(item.path, folder / name)
        return names

    def _regenerate(self, manifest: dict[str, dict[str, Any]]) -> None:
        entries = sorted(
            (
                dict(e, id=k, date=_parse(e["date"]), updated=_parse(e["updated"]))
                for k, e in manifest.items()
            ),
            key=lambda e: (e["date"], e["id"]),
            reverse=True,
        )
        size = self._page_size
        pages = max(1, -(-len(entries) // size))
        template = self._template(INDEX_TEMPLATE)
        sitemap: list[tuple[str, datetime | None]] = []
        for n in range(1, pages + 1):
            chunk = entries[(n - 1) * size : n * size]
            page_url = self._index_url(n)
            html_text = template.render(
                entries=chunk,
                page=n,
                pages=pages,
                prev_url=self._index_url(n - 1) if n > 1 else None,
                next_url=self._index_url(n + 1) if n < pages else None,
                site_name=self._site_name,
                base_url=self._base_url,
                canonical_url=page_url,
                feed_url=self._base_url + "feed.xml",
            )
            write_if_changed(self._index_file(n), html_text.encode("utf-8"))
            sitemap.append((page_url, max((e["updated"] for e in chunk), default=None)))
        n = pages + 1  # fewer pages than before (page_size grew): remove the leftovers
        while self._index_file(n).exists():
            self._index_file(n).unlink()
            with contextlib.suppress(OSError):
                self._index_file(n).parent.rmdir()
            n += 1
        sitemap.extend((e["url"], e["updated"]) for e in entries)
        aggregate = json.dumps(manifest, ensure_ascii=False, separators=(",", ":"))
        write_if_changed(self._state / "entries.json", aggregate.encode("utf-8"), durable=True)
        write_if_changed(self._out / "sitemap.xml", _sitemap_xml(sitemap))
        write_if_changed(self._out / "feed.xml", self._feed_xml(entries[:FEED_SIZE]))

    def _feed_xml(self, entries: list[dict[str, Any]]) -> bytes:
        from feedgen.feed import FeedGenerator

        fg = FeedGenerator()
        fg.id(self._base_url)
        fg.title(_xml_safe(self._site_name))
        fg.author({"name": self._site_name})
        fg.link(href=self._base_url, rel="alternate")
        fg.link(href=self._base_url + "feed.xml", rel="self")
        fg.language("es-CO")
        fg.updated(max((e["updated"] for e in entries), default=self._aware(self._clock())))
        for e in entries:
            fe = fg.add_entry(order="append")
            fe.id(e["url"])
            fe.title(_xml_safe(e["title"]))
            fe.link(href=e["url"], rel="alternate")
            fe.published(e["date"])
            fe.updated(e["updated"])
            if e["summary"]:
                fe.summary(_xml_safe(e["summary"]))
            article = self._state / "articles" / f"{e['id']}.html"
            with contextlib.suppress(FileNotFoundError):
                fe.content(_xml_safe(clean_article(article.read_text("utf-8"))), type="html")
        return bytes(fg.atom_str(pretty=True))

    # -- helpers

    def _entry_file(self, item_id: str) -> Path:
        return self._state / "entries" / f"{item_id}.json"

    def _read_entry(self, item_id: str) -> dict[str, Any] | None:
        path = self._entry_file(item_id)
        try:
            entry = json.loads(path.read_bytes())
        except FileNotFoundError:
            return self._load_aggregate().get(item_id)
        except ValueError as exc:
            raise PermanentError(
                f"la entrada {path} está dañada: bórrela y publique de nuevo"
            ) from exc
        return entry if isinstance(entry, dict) else None

    def _load_aggregate(self) -> dict[str, dict[str, Any]]:
        """``entries.json`` as written by the last regeneration (or an older version)."""
        path = self._state / "entries.json"
        try:
            st = path.stat()
        except FileNotFoundError:
            return {}
        cached = self._parsed.get(path)
        if cached is not None and cached[0] == _version(st):
            return dict(cached[1])
        try:
            manifest = json.loads(path.read_bytes())
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise PermanentError(
                f"el índice {self._state / 'entries.json'} está dañado: restáurelo de una copia"
            ) from exc
        manifest = manifest if isinstance(manifest, dict) else {}
        self._parsed[path] = (_version(st), manifest)
        return dict(manifest)

    def _load_manifest(self) -> dict[str, dict[str, Any]]:
        """Every entry: the per-item files, over what the last aggregate held. A file read
        before is parsed again only when it changed (size, mtime, inode), so a regeneration
        costs a ``stat`` per entry rather than a read."""
        manifest = self._load_aggregate()
        folder = self._state / "entries"
        if folder.is_dir():
            for path in folder.glob("*.json"):
                with contextlib.suppress(ValueError, OSError):
                    version = _version(path.stat())
                    cached = self._parsed.get(path)
                    if cached is None or cached[0] != version:
                        entry = json.loads(path.read_bytes())
                        cached = (version, entry if isinstance(entry, dict) else None)
                        self._parsed[path] = cached
                    if cached[1] is not None:
                        manifest[path.stem] = cached[1]
        return manifest

    def _template(self, name: str) -> jinja2.Template:
        try:
            return self._env.get_template(name)
        except jinja2.TemplateError as exc:
            raise PermanentError(f"la plantilla {name} falta o tiene un error: {exc}") from exc

    def _index_url(self, n: int) -> str:
        return self._base_url if n == 1 else f"{self._base_url}pagina/{n}/"

    def _index_file(self, n: int) -> Path:
        return self._out / "index.html" if n == 1 else self._out / "pagina" / str(n) / "index.html"

    def _aware(self, value: datetime) -> datetime:
        return (
            value.replace(tzinfo=self._tz) if value.tzinfo is None else value.astimezone(self._tz)
        )

    def _item_day(self, post: Post) -> date:
        """The item's ``date:`` (the renderer puts it in ``meta["date"]``); without one, the
        day of its ``publish_at``, else today."""
        value = post.meta.get("date")
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return date.fromisoformat(value[:10])
        return self._aware(post.published_at or self._clock()).date()

    def _dated(self, post: Post, day: date) -> datetime:
        """The moment the index, feed and sitemap date the item by, always on its ``date:``:
        its ``publish_at`` when that falls on that day; else now when it goes out on its
        own day; else the start of that day (an item dated earlier than its processing)."""
        if post.published_at is not None:
            at = self._aware(post.published_at)
            if at.date() == day:
                return at.replace(microsecond=0)
        now = self._aware(self._clock())
        if now.date() == day:
            return now.replace(microsecond=0)
        return datetime.combine(day, time(0), tzinfo=self._tz)


def _version(st: os.stat_result) -> tuple[int, int, int]:
    """What tells a file's versions apart without reading it (each write is a new inode)."""
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _xml_safe(text: str) -> str:
    """Drop the control characters XML 1.0 cannot carry (lxml refuses them): one odd title
    must not break the feed for every later publication."""
    return _XML_INVALID.sub("", text)


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _sitemap_xml(urls: list[tuple[str, datetime | None]]) -> bytes:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">',
    ]
    for loc, lastmod in urls:
        mod = f"<lastmod>{lastmod.isoformat()}</lastmod>" if lastmod else ""
        lines.append(f"<url><loc>{xml_escape(loc)}</loc>{mod}</url>")
    lines.append("</urlset>\n")
    return "\n".join(lines).encode("utf-8")
