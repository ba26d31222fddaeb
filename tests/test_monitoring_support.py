"""Shared pieces for the press-monitoring tests (no tests here): a plan with a
``monitoring:`` section, the region's newsroom served by the feed double, an App on a
throw-away ledger, and a strict HTML well-formedness check."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from dispatcher.services.context import App, build_app
from settings import Settings, load_settings
from tests.doubles.feeds import ATOM, RDF, Entry, FeedDouble, atom, rss1, rss2

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = ["Alcaldía de Bucaramanga", "Metrolínea"]
SHARED = "https://www.Vanguardia.com/local/convocatoria-empleo?utm_source=rss&id=7#comentarios"
SHARED_NORMAL = "https://www.vanguardia.com/local/convocatoria-empleo?id=7"
LAST_MODIFIED = "Sun, 06 Dec 2026 12:00:00 GMT"


def plan_text(
    sources: Sequence[tuple[str, str]],
    *,
    every: str = "PT30M",
    digest_at: str = "07:00",
    audiences: Sequence[str] | None = None,
    keywords: Sequence[str] = KEYWORDS,
) -> str:
    """The shipped plan with a ``monitoring:`` section."""
    base = (ROOT / "content" / "plan.yaml").read_text(encoding="utf-8")
    lines = [
        "",
        "monitoring:",
        f"  every: {every}",
        f'  digest_at: "{digest_at}"',
        "  keywords:" + ("" if keywords else " []"),
        *(f'    - "{k}"' for k in keywords),
    ]
    if audiences is not None:
        lines.append(f"  audiences: [{', '.join(audiences)}]")
    lines.append("  sources:")
    lines += [f'    - {{name: "{name}", url: "{url}"}}' for name, url in sources]
    return base + "\n".join(lines) + "\n"


def write_plan(content: Path, sources: Sequence[tuple[str, str]], **options: Any) -> Path:
    content.mkdir(parents=True, exist_ok=True)
    path = content / "plan.yaml"
    path.write_text(plan_text(sources, **options), encoding="utf-8")
    return path


def newsroom(site: FeedDouble) -> dict[str, str]:
    """The region's outlets, one feed format each (name → feed URL)."""
    vanguardia = [
        Entry("La ALCALDIA DE BUCARAMANGA abre convocatoria de empleo", SHARED),
        Entry("Partido del Atlético Bucaramanga", "https://www.vanguardia.com/deportes/1"),
        Entry("Empresa metrolíneal anuncia cambios", "https://www.vanguardia.com/local/2"),
        Entry(
            "Obras en la carrera 27",
            "https://www.vanguardia.com/local/obras-27",
            "<p>Según la <b>alcaldía de Bucaramanga</b>, las obras terminan en marzo.</p>",
        ),
        Entry(
            "<script>alert(1)</script>Metrolínea amplía rutas <img src=x onerror=alert(2)>",
            "https://www.vanguardia.com/local/metrolinea-rutas",
            "<iframe src=https://evil.example></iframe>Nuevas rutas\u202e\x07 desde enero",
        ),
        Entry("Metrolínea: enlace peligroso", "javascript:alert(document.cookie)"),
    ]
    frente = [
        Entry("Metrolínea recibe buses nuevos", "https://www.elfrente.com.co/metrolinea-buses"),
        Entry(  # the same article Vanguardia carries, with other tracking parameters
            "Convocatoria de la Alcaldía de Bucaramanga",
            "https://www.vanguardia.com/local/convocatoria-empleo?id=7&fbclid=abc&gclid=x",
        ),
        Entry("Clima en Santander", "https://www.elfrente.com.co/clima"),
    ]
    extra = [
        Entry("Alcaldía de Bucaramanga inaugura parque", "https://extra.com.co/parque"),
        Entry("Farándula", "https://extra.com.co/farandula"),
    ]
    broken = (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Rota</title>'
        b"<item><title>Metrol\xc3\xadnea & la Alcald\xc3\xada</title>"
        b"<link>https://gentedecabecera.com/metrolinea</link>"
        b"<description>Sin cerrar <b>negrita</description></item>"
        b"<item><title>Otra nota"
    )
    latin = rss2(
        [Entry("Alcaldía de Bucaramanga y la Ñ", "https://caracol.com.co/bucaramanga/1")],
        encoding="utf-8",
    ).decode("utf-8")
    declared_utf8_sent_cp1252 = latin.encode("cp1252")
    return {
        "Vanguardia": site.add("/vanguardia/rss", rss2(vanguardia), etag='"v1"'),
        "El Frente": site.add("/elfrente/rss.rdf", rss1(frente), RDF, last_modified=LAST_MODIFIED),
        "Extra": site.add("/extra/atom.xml", atom(extra), ATOM),
        "Gente de Cabecera": site.add("/cabecera/rss", broken),
        "Caracol Radio Bucaramanga": site.add(
            "/caracol/rss", declared_utf8_sent_cp1252, "text/xml"
        ),
        "RCN Radio": site.add("/rcn/rss", b"", status=500),
        "Blu Radio": site.add("/blu/rss", rss2(extra), delay=3.0),
        "Radio Limitada": site.add(
            "/limitada/rss", b"", status=429, headers={"Retry-After": "120"}
        ),
    }


def settings_for(root: Path, **overrides: Any) -> Settings:
    content = root / "content"
    content.mkdir(parents=True, exist_ok=True)
    merged: dict[str, Any] = {
        "content_dir": content,
        "database_url": f"sqlite:///{root / 'pregonero.db'}",
        "website": {"output_dir": root / "site", "base_url": "https://www.bucaramanga.gov.co/n/"},
    }
    merged.update(overrides)
    return load_settings(**merged)


async def monitoring_app(
    root: Path,
    sources: dict[str, str] | Sequence[tuple[str, str]],
    *,
    clock: Any = None,
    plan: dict[str, Any] | None = None,
    **overrides: Any,
) -> App:
    """An App whose plan monitors ``sources``, on ``root``'s content folder and ledger."""
    pairs = list(sources.items()) if isinstance(sources, dict) else list(sources)
    settings = settings_for(root, **overrides)
    write_plan(settings.content_dir, pairs, **(plan or {}))
    app = await build_app(settings)
    if clock is not None:
        app.clock = clock
    return app


class Clock:
    """A settable clock for the App."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip


class StrictHTML(HTMLParser):
    """Fails on unbalanced tags; collects hrefs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.links: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []
        self.doctype = False

    def handle_decl(self, decl: str) -> None:
        self.doctype = self.doctype or decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.startswith("on"):
                self.errors.append(f"event handler attribute {name} on <{tag}>")
            if name == "href" and value is not None:
                self.links.append(value)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> (open: {self.stack[-3:]})")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_html(page: str) -> StrictHTML:
    parser = StrictHTML()
    parser.feed(page)
    parser.close()
    assert parser.doctype, "no <!DOCTYPE html>"
    assert not parser.errors, parser.errors
    assert not parser.stack, f"unclosed: {parser.stack}"
    assert "<script" not in page.lower() and "<iframe" not in page.lower()
    return parser


def copy_plan(target: Path) -> None:
    shutil.copy2(ROOT / "content" / "plan.yaml", target)
