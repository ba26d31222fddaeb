from __future__ import annotations

import asyncio
import dataclasses
import errno
import json
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

import pytest

from channels.base import Adapter, Media, PermanentError, Post, Rejected, TransientError
from channels.static_site import StaticSiteAdapter, absolutize, map_os_error, media_name
from channels.website import build
from settings import Settings
from tests.channel_support import channel_context
from tests.conftest import Workspace

TZ = ZoneInfo("America/Bogota")
BASE = "https://prensa.example.gov.co/noticias/"
ATOM = "{http://www.w3.org/2005/Atom}"
SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32

MINIMAL_PAGE = """<!DOCTYPE html>
<html lang="es-CO">
<head><meta charset="utf-8"><title>{{ title }} · {{ site_name }}</title>
<link rel="canonical" href="{{ canonical_url }}">
<meta name="description" content="{{ description }}">
{% if image_url %}<meta property="og:image" content="{{ image_url }}">{% endif %}
</head>
<body><main><article><h1>{{ title }}</h1>
{{ article_html }}
</article></main></body>
</html>
"""
MINIMAL_INDEX = """<!DOCTYPE html>
<html lang="es-CO">
<head><meta charset="utf-8"><title>{{ site_name }} · página {{ page }} de {{ pages }}</title>
</head>
<body><main><ul>
{% for e in entries %}<li><a href="{{ e.url }}">{{ e.title }}</a>
<time datetime="{{ e.date.isoformat() }}">{{ e.date.date() }}</time>
<p>{{ e.summary }}</p></li>
{% endfor %}</ul>
{% if prev_url %}<a rel="prev" href="{{ prev_url }}">Anteriores</a>{% endif %}
{% if next_url %}<a rel="next" href="{{ next_url }}">Siguientes</a>{% endif %}
</main></body>
</html>
"""


def templates_dirs(tmp_path: Path) -> list[Path] | None:
    """The real layouts when the renderer ships them, else minimal ones in ``tmp_path``."""
    from dispatcher.render.renderer import builtin_templates_dir

    layout = builtin_templates_dir() / "website" / "_layout"
    if (layout / "page.html.j2").exists() and (layout / "index.html.j2").exists():
        return None
    folder = tmp_path / "tpl" / "website" / "_layout"
    folder.mkdir(parents=True)
    (folder / "page.html.j2").write_text(MINIMAL_PAGE, "utf-8")
    (folder / "index.html.j2").write_text(MINIMAL_INDEX, "utf-8")
    return [tmp_path / "tpl"]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 10, 9, 0, tzinfo=TZ)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_site(tmp_path: Path, clock: Clock) -> Callable[..., StaticSiteAdapter]:
    def make(page_size: int = 2) -> StaticSiteAdapter:
        settings = Settings(
            content_dir=tmp_path / "content",
            website={"output_dir": tmp_path / "site", "base_url": BASE, "page_size": page_size},
        )
        context = channel_context(settings, clock=clock, template_dirs=templates_dirs(tmp_path))
        return StaticSiteAdapter(settings, context, regenerate_delay=0)

    return make


@pytest.fixture
def site(make_site: Callable[..., StaticSiteAdapter]) -> StaticSiteAdapter:
    return make_site()


def make_post(
    tmp_path: Path, n: int, *, title: str | None = None, revision: int = 1, text: str = ""
) -> Post:
    folder = tmp_path / "archive" / f"item-{n}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "foto.png").write_bytes(PNG + bytes([n % 256]))
    (folder / "informe.pdf").write_bytes(b"%PDF-1.4 " + str(n).encode())
    published = datetime(2026, 3, 1, 8, 0, tzinfo=TZ) + timedelta(hours=n)
    day = published.date()  # the item's ``date:``: the renderer derives it from publish_at
    body = text or f'<p>Texto del boletín {n}.</p><p><img src="foto.png" alt="Obra {n}"></p>'
    return Post(
        item_id=f"boletin-{n:03d}",
        channel="website",
        kind="boletin",
        title=title or f"Boletín número {n}",
        text=body + '<p><a href="informe.pdf">Informe</a></p>',
        summary=f"Resumen del boletín {n}",
        image=Media(folder / "foto.png", alt=f"Obra {n}", mime="image/png"),
        attachments=(Media(folder / "informe.pdf", mime="application/pdf"),),
        meta={"date": day, "kind": "boletin", "kind_label": "Boletín", "tags": ["obras"]},
        published_at=published,
        revision=revision,
    )


class PageCheck(HTMLParser):
    """html.parser-based sanity check (html5lib is not a dependency): doctype, lang,
    charset, a non-empty title and balanced non-void elements."""

    VOID: ClassVar[frozenset[str]] = frozenset(
        [
            "area",
            "base",
            "br",
            "col",
            "embed",
            "hr",
            "img",
            "input",
            "link",
            "meta",
            "source",
            "track",
            "wbr",
        ]
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.doctype = ""
        self.lang = ""
        self.charset = ""
        self.title = ""
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "html":
            self.lang = values.get("lang") or ""
        if tag == "meta" and values.get("charset"):
            self.charset = values["charset"] or ""
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> cierra {self.stack[-1:] or 'nada'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] == "title":
            self.title += data


def assert_valid_page(path: Path) -> None:
    checker = PageCheck()
    checker.feed(path.read_text("utf-8"))
    checker.close()
    assert checker.doctype.lower() == "doctype html", path
    assert checker.lang.startswith("es"), path
    assert checker.charset.lower() == "utf-8", path
    assert checker.title.strip(), path
    assert not checker.errors and not checker.stack, (path, checker.errors, checker.stack)


def feed_entries(site: StaticSiteAdapter) -> list[ET.Element]:
    root = ET.parse(site.output_dir / "feed.xml").getroot()
    assert root.tag == f"{ATOM}feed"
    return root.findall(f"{ATOM}entry")


async def test_three_posts_pages_index_feed_sitemap(
    tmp_path: Path, site: StaticSiteAdapter
) -> None:
    posts = [make_post(tmp_path, n) for n in (1, 2, 3)]
    receipts = [await site.publish(p) for p in posts]
    out = site.output_dir

    for post, receipt in zip(posts, receipts, strict=True):
        day = post.meta["date"]
        folder = out / f"{day:%Y}" / f"{day:%m}" / post.item_id
        assert receipt.remote_id == f"{day:%Y}/{day:%m}/{post.item_id}/index.html"
        assert receipt.url == f"{BASE}{day:%Y}/{day:%m}/{post.item_id}/"
        page = (folder / "index.html").read_text("utf-8")
        assert f"Texto del boletín {post.item_id[-1]}." in page
        assert receipt.url in page  # canonical
        assert (folder / "foto.png").read_bytes() == post.image.path.read_bytes()  # type: ignore[union-attr]
        assert (folder / "informe.pdf").exists()

    # Newest first (published 1 < 2 < 3), two per page.
    first = (out / "index.html").read_text("utf-8")
    assert first.index("Boletín número 3") < first.index("Boletín número 2")
    assert "Boletín número 1" not in first
    assert f'href="{BASE}pagina/2/"' in first
    second = (out / "pagina" / "2" / "index.html").read_text("utf-8")
    assert "Boletín número 1" in second and "Boletín número 3" not in second
    assert not (out / "pagina" / "3").exists()

    entries = feed_entries(site)
    assert [e.findtext(f"{ATOM}title") for e in entries] == [
        f"Boletín número {n}" for n in (3, 2, 1)
    ]
    for entry, receipt in zip(entries, reversed(receipts), strict=True):
        assert entry.findtext(f"{ATOM}id") == receipt.url
        assert entry.find(f"{ATOM}link").get("href") == receipt.url  # type: ignore[union-attr]
        assert entry.findtext(f"{ATOM}updated")
        assert entry.findtext(f"{ATOM}summary", "").startswith("Resumen del boletín")
        content = entry.findtext(f"{ATOM}content", "")
        assert f'src="{receipt.url}foto.png"' in content  # absolute in the feed

    sitemap = ET.parse(out / "sitemap.xml").getroot()
    locs = {u.findtext(f"{SM}loc") for u in sitemap.findall(f"{SM}url")}
    assert locs == {r.url for r in receipts} | {BASE, BASE + "pagina/2/"}
    assert all(u.findtext(f"{SM}lastmod") for u in sitemap.findall(f"{SM}url"))

    manifest = json.loads((site.state_dir / "entries.json").read_text("utf-8"))
    assert set(manifest) == {p.item_id for p in posts}
    pages = [out / "index.html", out / "pagina" / "2" / "index.html"]
    pages += [out / r.remote_id for r in receipts]
    for page_file in pages:
        assert_valid_page(page_file)
    assert not list(out.rglob("*.tmp"))


async def test_script_in_title_is_escaped(tmp_path: Path, site: StaticSiteAdapter) -> None:
    post = make_post(tmp_path, 1, title="<script>alert('x')</script> Obras & vías")
    receipt = await site.publish(post)
    for path in (site.output_dir / receipt.remote_id, site.output_dir / "index.html"):
        text = path.read_text("utf-8")
        assert "<script>alert" not in text, path
        assert "&lt;script&gt;" in text, path
        assert_valid_page(path)
    [entry] = feed_entries(site)
    assert entry.findtext(f"{ATOM}title") == post.title


async def test_correction_rewrites_page_and_updated(
    tmp_path: Path, site: StaticSiteAdapter, clock: Clock
) -> None:
    first = await site.publish(make_post(tmp_path, 1))
    [entry] = feed_entries(site)
    updated_before = entry.findtext(f"{ATOM}updated")

    clock.now += timedelta(hours=2)
    corrected = make_post(tmp_path, 1, revision=2, text="<p>Texto corregido: 40 cuadras.</p>")
    second = await site.publish(corrected)
    assert (second.remote_id, second.url) == (first.remote_id, first.url)
    page = (site.output_dir / second.remote_id).read_text("utf-8")
    assert "Texto corregido" in page and "Texto del boletín" not in page

    [entry] = feed_entries(site)
    updated_after = entry.findtext(f"{ATOM}updated", "")
    assert updated_after != updated_before
    assert datetime.fromisoformat(updated_after) == clock.now
    assert entry.findtext(f"{ATOM}published") == "2026-03-01T09:00:00-05:00"  # unchanged

    # A late retry of revision 1 must not undo the correction.
    stale = await site.publish(make_post(tmp_path, 1, revision=1))
    assert stale.detail.get("stale") is True
    assert "Texto corregido" in (site.output_dir / second.remote_id).read_text("utf-8")


async def test_same_post_twice_is_one_entry(
    tmp_path: Path, site: StaticSiteAdapter, clock: Clock
) -> None:
    post = make_post(tmp_path, 1)
    a = await site.publish(post)
    feed_before = (site.output_dir / "feed.xml").read_bytes()
    clock.now += timedelta(minutes=5)
    b = await site.publish(post)
    assert (a.remote_id, a.url) == (b.remote_id, b.url)
    manifest = json.loads((site.state_dir / "entries.json").read_text("utf-8"))
    assert list(manifest) == [post.item_id]
    assert (site.output_dir / "feed.xml").read_bytes() == feed_before
    assert len(feed_entries(site)) == 1


async def test_concurrent_publishes_keep_every_entry(
    tmp_path: Path, make_site: Callable[..., StaticSiteAdapter]
) -> None:
    site = make_site(page_size=5)
    posts = [make_post(tmp_path, n) for n in range(1, 21)]
    await asyncio.gather(*(site.publish(p) for p in posts))
    manifest = json.loads((site.state_dir / "entries.json").read_text("utf-8"))
    assert len(manifest) == 20
    assert (site.output_dir / "pagina" / "4" / "index.html").exists()
    assert not (site.output_dir / "pagina" / "5").exists()
    assert len(feed_entries(site)) == 20


async def test_fewer_pages_after_page_size_grows(
    tmp_path: Path, make_site: Callable[..., StaticSiteAdapter]
) -> None:
    small = make_site(page_size=1)
    for n in (1, 2, 3):
        await small.publish(make_post(tmp_path, n))
    assert (small.output_dir / "pagina" / "3" / "index.html").exists()
    await make_site(page_size=2).rebuild()
    assert (small.output_dir / "pagina" / "2" / "index.html").exists()
    assert not (small.output_dir / "pagina" / "3").exists()


async def test_bad_id_and_clashing_media_are_rejected(
    tmp_path: Path, site: StaticSiteAdapter
) -> None:
    post = make_post(tmp_path, 1)
    with pytest.raises(Rejected):
        await site.publish(Post(**{**post.__dict__, "item_id": "../../etc"}))
    other = tmp_path / "otro"
    other.mkdir()
    (other / "foto.png").write_bytes(PNG)
    clash = Post(**{**post.__dict__, "attachments": (Media(other / "foto.png"),)})
    with pytest.raises(Rejected, match=r"foto\.png"):
        await site.publish(clash)


async def test_missing_media_is_permanent(tmp_path: Path, site: StaticSiteAdapter) -> None:
    post = make_post(tmp_path, 1)
    post.image.path.unlink()  # type: ignore[union-attr]
    with pytest.raises(PermanentError, match=r"foto\.png"):
        await site.publish(post)


def test_os_errors_are_classified() -> None:
    denied = map_os_error(PermissionError(errno.EACCES, "Permission denied", "/srv/site"), "x")
    assert isinstance(denied, PermanentError) and "/srv/site" in denied.reason
    full = map_os_error(OSError(errno.ENOSPC, "No space left on device"), "escribir")
    assert isinstance(full, TransientError) and full.retry_after
    busy = map_os_error(OSError(errno.EAGAIN, "Resource temporarily unavailable"), "escribir")
    assert isinstance(busy, TransientError)


def test_media_name_and_absolutize(tmp_path: Path) -> None:
    assert media_name(tmp_path / "fotos" / "a b.png", tmp_path) == "fotos/a b.png"
    assert media_name(tmp_path / "a.png", None) == "a.png"
    assert media_name(Path("/elsewhere/a.png"), tmp_path) == "a.png"
    html = '<img src="fotos/a%20b.png" alt="x"> <a href="https://x.co/">y</a> <a href="#n">z</a>'
    out = absolutize(html, BASE + "2026/01/a/")
    assert f'src="{BASE}2026/01/a/fotos/a%20b.png"' in out
    assert 'href="https://x.co/"' in out and f'href="{BASE}2026/01/a/#n"' in out


async def test_check_and_build(tmp_path: Path, site: StaticSiteAdapter) -> None:
    result = await site.check()
    assert result.ok and str(site.output_dir) in result.message
    settings = Settings(content_dir=tmp_path / "content", website={"output_dir": tmp_path / "s"})
    adapter = build(settings, channel_context(settings))
    assert isinstance(adapter, StaticSiteAdapter) and isinstance(adapter, Adapter)
    assert adapter.name == "website" and adapter.idempotent
    await adapter.aclose()


def test_build_wordpress_backend(tmp_path: Path) -> None:
    wordpress = pytest.importorskip("channels.wordpress")
    settings = Settings(
        content_dir=tmp_path,
        website={
            "backend": "wordpress",
            "wordpress_url": "http://127.0.0.1:9/",
            "wordpress_user": "prensa",
            "wordpress_app_password": "abcd efgh",
        },
    )
    assert isinstance(build(settings, channel_context(settings)), wordpress.WordPressAdapter)


async def test_500_posts_timing(
    tmp_path: Path, make_site: Callable[..., StaticSiteAdapter]
) -> None:
    site = make_site(page_size=20)
    posts = [make_post(tmp_path, n) for n in range(500)]
    started = time.perf_counter()
    for post in posts:
        await site.publish(post)
    total = time.perf_counter() - started
    started = time.perf_counter()
    await site.rebuild()
    regen = time.perf_counter() - started
    started = time.perf_counter()
    await site.publish(make_post(tmp_path, 500))
    one = time.perf_counter() - started
    print(
        f"\n500 publicaciones: {total:.2f} s ({total / 500 * 1000:.1f} ms c/u); "
        f"regenerar índice/feed/sitemap con 500: {regen * 1000:.1f} ms; "
        f"publicar la 501: {one * 1000:.1f} ms"
    )
    manifest = json.loads((site.state_dir / "entries.json").read_text("utf-8"))
    assert len(manifest) == 501
    assert (site.output_dir / "pagina" / "26" / "index.html").exists()
    assert len(feed_entries(site)) == 50


async def test_burst_of_publishes_regenerates_index_once_coalesced(
    tmp_path: Path, clock: Clock
) -> None:
    settings = Settings(
        content_dir=tmp_path / "content",
        website={"output_dir": tmp_path / "site", "base_url": BASE, "regenerate_delay": 30},
    )
    context = channel_context(settings, clock=clock, template_dirs=templates_dirs(tmp_path))
    site = StaticSiteAdapter(settings, context)
    for n in range(3):
        receipt = await site.publish(make_post(tmp_path, n, title=f"Nota número {n}"))
        # the item page exists at once; the index waits for the coalesced regeneration
        assert (site.output_dir / receipt.remote_id).exists()
    assert not (site.output_dir / "index.html").exists()
    await site.aclose()  # flushes the pending regeneration
    index = (site.output_dir / "index.html").read_text(encoding="utf-8")
    assert all(f"Nota número {n}" in index for n in range(3))
    feed = ET.fromstring((site.output_dir / "feed.xml").read_bytes())
    assert len(feed.findall("{http://www.w3.org/2005/Atom}entry")) == 3


BOLETIN = """---
kind: boletin
id: {id}
title: {title}
date: {date}
---
Texto de {title}.
"""


def test_index_and_feed_follow_the_items_date_not_processing_order(workspace: Workspace) -> None:
    """Two files processed in the reverse order of their ``date:`` appear in date order, each
    with its own date, in the index, the feed and the sitemap (the real CLI)."""
    later = {"id": "2025-11-20-boletin-tarde", "title": "Boletín del veinte", "date": "2025-11-20"}
    early = {
        "id": "2025-11-05-boletin-temprano",
        "title": "Boletín del cinco",
        "date": "2025-11-05",
    }
    for fields in (later, early):  # the later-dated file is processed first
        workspace.write(f"{fields['id']}.md", BOLETIN.format(**fields))
        workspace.cli("run", "--once", check=True)

    index = (workspace.site / "index.html").read_text("utf-8")
    assert index.index("Boletín del veinte") < index.index("Boletín del cinco")
    assert 'datetime="2025-11-20' in index and 'datetime="2025-11-05' in index

    root = ET.parse(workspace.site / "feed.xml").getroot()
    entries = [
        (e.findtext(f"{ATOM}title"), e.findtext(f"{ATOM}published", ""))
        for e in root.findall(f"{ATOM}entry")
    ]
    assert [title for title, _ in entries] == ["Boletín del veinte", "Boletín del cinco"]
    assert [published[:10] for _, published in entries] == ["2025-11-20", "2025-11-05"]

    sitemap = ET.parse(workspace.site / "sitemap.xml").getroot()
    mods = {u.findtext(f"{SM}loc", ""): u.findtext(f"{SM}lastmod", "") for u in sitemap}
    base = "https://www.bucaramanga.gov.co/noticias/2025/11/"
    assert mods[f"{base}{later['id']}/"].startswith("2025-11-20")
    assert mods[f"{base}{early['id']}/"].startswith("2025-11-05")


async def test_correction_that_moves_the_date_keeps_the_url_and_redates_the_entry(
    tmp_path: Path, site: StaticSiteAdapter
) -> None:
    post = make_post(tmp_path, 1)  # dated 2026-03-01, publish_at 09:00 that day
    first = await site.publish(post)
    [entry] = feed_entries(site)
    assert entry.findtext(f"{ATOM}published") == "2026-03-01T09:00:00-05:00"

    moved = make_post(tmp_path, 1, revision=2)
    moved = dataclasses.replace(moved, meta={**moved.meta, "date": date(2026, 2, 20)})
    second = await site.publish(moved)
    assert second.url == first.url  # the page keeps its first URL
    [entry] = feed_entries(site)  # but is dated by its new ``date:`` (the day only)
    assert entry.findtext(f"{ATOM}published") == "2026-02-20T00:00:00-05:00"
