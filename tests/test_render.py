"""Rendering: templates per channel and kind, limits with shorter variants, escaping,
sanitising, Spanish dates, user overrides, and the website layouts."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import twitter_text
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from dispatcher.items.model import ContentItem, FrontMatter
from dispatcher.render.filters import fecha, hashtags, markdown_html, plain, telegram_html
from dispatcher.render.renderer import (
    UNSUBSCRIBE_PLACEHOLDER,
    Renderer,
    RenderError,
    builtin_templates_dir,
    measure,
    telegram_length,
    template_environment,
    visible_text,
    x_length,
)

TZ = ZoneInfo("America/Bogota")
ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "content" / "examples"
URL = "https://www.bucaramanga.gov.co/noticias/2026/11/2026-11-26-obras-en-la-carrera-27/"
CHANNELS = ("website", "telegram", "x", "facebook", "mailing")
KINDS = (
    "boletin",
    "rueda_de_prensa",
    "aviso_prensa",
    "recorrido_obras",
    "comite",
    "mesa_publica",
    "campana",
    "instituto",
    "informe_especial",
    "contratacion",
    "hable_con_el_alcalde",
)
LABELS = {"boletin": "Boletín de prensa", "rueda_de_prensa": "Rueda de prensa"}
BODY = """La Alcaldía entregó **las obras** de la carrera 27.

- 64 luminarias LED
- 1.200 metros de andenes

Más datos en la [página de la Alcaldía](https://www.bucaramanga.gov.co/).
"""
EVENT = {
    "starts_at": datetime(2026, 11, 27, 10, 0, tzinfo=TZ),
    "place": "Centro Administrativo Municipal, salón de prensa",
    "speakers": ["Alcalde de Bucaramanga", "Secretaria de Infraestructura"],
}
ESCAPING_TITLE = "<script>alert(1)</script> Obras & vías"


def make_item(base_dir: Path, *, body: str = BODY, **front: Any) -> ContentItem:
    front.setdefault("kind", "boletin")
    front.setdefault("title", "Obras en la carrera 27")
    if front["kind"] == "rueda_de_prensa":
        front.setdefault("event", EVENT)
    meta = FrontMatter(**front)
    return ContentItem(
        meta=meta,
        body=body,
        id="2026-11-26-obras-en-la-carrera-27",
        summary=meta.summary or "La Alcaldía entregó las obras de la carrera 27.",
        date=date(2026, 11, 26),
        publish_at=meta.publish_at,
        base_dir=base_dir,
        digest="0" * 64,
    )


@pytest.fixture
def renderer() -> Renderer:
    return Renderer([], TZ, LABELS)


@pytest.fixture
def item_factory(tmp_path: Path) -> Callable[..., ContentItem]:
    def factory(**kwargs: Any) -> ContentItem:
        return make_item(tmp_path, **kwargs)

    return factory


class TagCollector(HTMLParser):
    """Collects start tags with their attributes and checks that every tag is closed."""

    VOID = frozenset({"meta", "link", "img", "br", "hr", "input", "source"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(markup: str) -> TagCollector:
    collector = TagCollector()
    collector.feed(markup)
    collector.close()
    assert not collector.errors, collector.errors
    assert not collector.stack, f"unclosed: {collector.stack}"
    return collector


# ------------------------------------------------------------------ every channel, every kind


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("channel", CHANNELS)
def test_each_channel_renders_each_kind(
    renderer: Renderer, item_factory: Callable[..., ContentItem], channel: str, kind: str
) -> None:
    item = item_factory(
        kind=kind,
        summary="Resumen de la obra.",
        tags=["obras públicas", "Bucaramanga"],
        dependencia="Secretaría de Infraestructura",
        publish_at=datetime(2026, 11, 26, 9, 30, tzinfo=TZ),
    )
    post = renderer.render(item, channel, url=URL)
    assert post.channel == channel and post.kind == kind and post.item_id == item.id
    assert "Obras en la carrera 27" in post.text
    for part, length, limit in measure(post):
        assert length > 0, part
        assert limit is None or length <= limit, (part, length, limit)
    if channel in ("website", "telegram"):
        parse_html(post.text)
    if channel != "website":
        assert URL in post.text
    if channel == "mailing":
        assert post.parts["subject"] and "\n" not in post.parts["subject"]
        assert "Obras en la carrera 27" in post.parts["html"]
        parse_html(post.parts["html"])
    if kind == "rueda_de_prensa" and channel != "website":
        assert "Centro Administrativo Municipal" in post.text
    if channel in ("telegram", "x", "facebook"):
        assert "#ObrasPublicas" in post.text


EXAMPLE_FILES = sorted(EXAMPLES.glob("*.md")) if EXAMPLES.is_dir() else []


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_examples_render_on_every_channel(renderer: Renderer, path: Path) -> None:
    from dispatcher.items.parse import check_file

    item = check_file(path, tz=TZ, known_kinds=KINDS, max_bytes=1_000_000, today=date(2026, 11, 1))
    for channel in CHANNELS:
        post = renderer.render(item, channel, url=URL)
        assert item.title.split()[0] in post.text
        for part, length, limit in measure(post):
            assert limit is None or length <= limit, (channel, part, length, limit)


def test_post_carries_media_and_plain_facts(
    renderer: Renderer, item_factory: Callable[..., ContentItem], tmp_path: Path
) -> None:
    item = item_factory(
        kind="rueda_de_prensa",
        image="media/obra.png",
        image_alt="Andenes nuevos en la carrera 27",
        attachments=["media/acta de entrega.pdf"],
        video="https://www.youtube.com/watch?v=abc",
        tags=["obras"],
        publish_at=datetime(2026, 11, 26, 9, 30),  # naive: read in the configured zone
    )
    post = renderer.render(item, "telegram", url=URL, revision=2, remote_id="77")
    assert post.image is not None
    assert post.image.path == tmp_path / "media" / "obra.png"
    assert (post.image.alt, post.image.mime) == ("Andenes nuevos en la carrera 27", "image/png")
    assert [(m.name, m.mime) for m in post.attachments] == [
        ("acta de entrega.pdf", "application/pdf")
    ]
    assert post.video == "https://www.youtube.com/watch?v=abc"
    assert (post.revision, post.remote_id, post.url) == (2, "77", URL)
    assert post.published_at == datetime(2026, 11, 26, 9, 30, tzinfo=TZ)
    assert post.meta["kind_label"] == "Rueda de prensa"
    assert post.meta["date"] == date(2026, 11, 26)
    assert post.meta["tags"] == ["obras"]
    assert post.meta["event"]["place"] == EVENT["place"]
    assert post.meta["event"]["starts_at"] == EVENT["starts_at"]
    assert post.meta["base_dir"] == str(tmp_path)


def test_website_article_fragment(
    renderer: Renderer, item_factory: Callable[..., ContentItem]
) -> None:
    item = item_factory(
        kind="rueda_de_prensa",
        image="media/obra.png",
        image_alt="Andenes nuevos",
        attachments=["media/acta.pdf"],
        video="https://www.youtube.com/watch?v=abc",
        tags=["obras", "movilidad"],
        dependencia="Secretaría de Infraestructura",
        publish_at=datetime(2026, 11, 26, 9, 30, tzinfo=TZ),
    )
    html = renderer.render(item, "website").text
    doc = parse_html(html)
    times = [a["datetime"] for t, a in doc.tags if t == "time"]
    assert times == ["2026-11-26T09:30-05:00", "2026-11-27T10:00-05:00"]
    assert ("img", {"src": "media/obra.png", "alt": "Andenes nuevos"}) in doc.tags
    assert ("a", {"href": "media/acta.pdf"}) in doc.tags
    assert ("a", {"href": "https://www.youtube.com/watch?v=abc", "rel": "noopener"}) in doc.tags
    text = "".join(doc.text)
    assert "26 de noviembre de 2026" in text
    assert "viernes 27 de noviembre de 2026, 10:00" in text
    assert "Alcalde de Bucaramanga y Secretaria de Infraestructura" in text
    assert "Secretaría de Infraestructura" in text and "movilidad" in text
    assert "<strong>las obras</strong>" in html


def test_website_kind_templates_differ_from_default(
    renderer: Renderer, item_factory: Callable[..., ContentItem]
) -> None:
    attachments = ["pliego.pdf"]
    contract = renderer.render(
        item_factory(kind="contratacion", attachments=attachments), "website"
    )
    bulletin = renderer.render(item_factory(kind="boletin", attachments=attachments), "website")
    assert "Documentos del proceso" in contract.text
    assert "Documentos del proceso" not in bulletin.text
    report = renderer.render(item_factory(kind="informe_especial"), "website")
    assert "Informe especial" in report.text


# ------------------------------------------------------------------ limits and variants


def test_x_long_title_falls_back_and_keeps_url_whole(
    renderer: Renderer, item_factory: Callable[..., ContentItem]
) -> None:
    title = " ".join(["Pavimentación"] * 14)[:199]  # ~200 characters
    item = item_factory(
        title=title,
        summary="Un resumen largo " * 20,
        tags=["Bucaramanga", "obras públicas", "malla vial", "movilidad", "infraestructura"],
    )
    text = renderer.render(item, "x", url=URL).text
    assert twitter_text.parse_tweet(text).weightedLength <= 280
    assert URL in text
    assert title in text
    assert "Un resumen largo" not in text


def test_x_drops_hashtags_only_in_minimal(
    renderer: Renderer, item_factory: Callable[..., ContentItem]
) -> None:
    item = item_factory(title="Obras " * 33, tags=["Bucaramanga"])  # 198 characters
    short = renderer.render(item, "x", url=URL).text
    assert short.endswith("#Bucaramanga")
    item = item_factory(title="Obras " * 33, tags=["infraestructura vial"] + ["t" * 60] * 2)
    minimal = renderer.render(item, "x", url=URL).text
    assert "#" not in minimal and URL in minimal
    assert twitter_text.parse_tweet(minimal).weightedLength <= 280


def test_x_unfittable_title_raises_in_spanish(
    renderer: Renderer, item_factory: Callable[..., ContentItem]
) -> None:
    item = item_factory(title="市" * 140)  # CJK weighs 2: 280 before the URL
    with pytest.raises(RenderError) as info:
        renderer.render(item, "x", url=URL)
    err = info.value
    assert (err.channel, err.part, err.limit) == ("x", "text", 280)
    assert err.length is not None and err.length > 280
    assert str(err) == (
        f"x: el texto mide {err.length} caracteres ponderados; el límite es 280, "
        "incluso con la versión corta"
    )


def test_telegram_caption_is_the_text_when_it_fits(
    renderer: Renderer, item_factory: Callable[..., ContentItem]
) -> None:
    item = item_factory(image="foto.jpg", image_alt="Una foto de la obra")
    post = renderer.render(item, "telegram", url=URL)
    assert post.parts["caption"] == post.text
    assert "follow_up" not in post.parts
    no_image = renderer.render(item_factory(), "telegram", url=URL)
    assert "caption" not in no_image.parts


def test_telegram_long_text_splits_into_caption_and_follow_up(
    renderer: Renderer, item_factory: Callable[..., ContentItem]
) -> None:
    body = "\n\n".join(
        f"Párrafo {n}: " + "la obra avanza según lo previsto. " * 6 for n in range(12)
    )
    item = item_factory(image="foto.jpg", image_alt="Una foto de la obra", body=body)
    post = renderer.render(item, "telegram", url=URL)
    assert telegram_length(post.text) > 1024
    assert telegram_length(post.parts["caption"]) <= 1024
    assert post.parts["follow_up"] == post.text
    assert "Párrafo 11" in post.parts["follow_up"]
    assert URL in post.parts["caption"]
    assert dict((p, (n, lim)) for p, n, lim in measure(post))["caption"][1] == 1024


def test_telegram_counts_visible_characters(
    renderer: Renderer, item_factory: Callable[..., ContentItem]
) -> None:
    # 300 ampersands are 1,500 characters of markup (&amp;) but 300 visible ones.
    body = "& " * 300
    item = item_factory(image="foto.jpg", image_alt="Una foto de la obra", body=body)
    post = renderer.render(item, "telegram", url=URL)
    assert len(post.text) > 1024
    assert telegram_length(post.text) <= 1024
    assert post.parts["caption"] == post.text
    assert visible_text("<b>a &amp; b</b>") == "a & b"


def test_telegram_text_over_4096_falls_back_or_fails(
    renderer: Renderer, item_factory: Callable[..., ContentItem]
) -> None:
    body = "\n\n".join("Texto de relleno para la prueba. " * 10 for _ in range(20))
    post = renderer.render(item_factory(body=body), "telegram", url=URL)
    assert telegram_length(post.text) <= 4096
    assert "Texto de relleno" not in post.text  # the short variant: the summary instead


def test_mailing_subject_falls_back_under_200(
    renderer: Renderer, item_factory: Callable[..., ContentItem]
) -> None:
    title = "Subasta " * 24 + "final"  # 197 characters: with the label it is over 200
    post = renderer.render(item_factory(title=title), "mailing", url=URL)
    assert post.parts["subject"] == title
    normal = renderer.render(item_factory(), "mailing", url=URL)
    assert normal.parts["subject"] == "Boletín de prensa: Obras en la carrera 27"
    assert (
        UNSUBSCRIBE_PLACEHOLDER in normal.text and UNSUBSCRIBE_PLACEHOLDER in normal.parts["html"]
    )


def test_rueda_de_prensa_is_a_call_without_repeating_it(
    renderer: Renderer, item_factory: Callable[..., ContentItem]
) -> None:
    post = renderer.render(item_factory(kind="rueda_de_prensa"), "mailing", url=URL)
    assert post.parts["subject"].startswith("Convocatoria: Obras en la carrera 27")
    item = item_factory(kind="rueda_de_prensa", title="Rueda de prensa: Plan Navidad Segura")
    assert renderer.render(item, "x", url=URL).text.startswith("Rueda de prensa: Plan")


# ------------------------------------------------------------------ escaping and sanitising


def test_title_is_escaped_in_html_channels(
    renderer: Renderer, item_factory: Callable[..., ContentItem]
) -> None:
    item = item_factory(title=ESCAPING_TITLE, summary="Resumen <b>con</b> & marcas")
    for channel in ("website", "telegram"):
        text = renderer.render(item, channel, url=URL).text
        assert "<script>" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt; Obras &amp; vías" in text
        assert "script" not in {tag for tag, _ in parse_html(text).tags}
    html_mail = renderer.render(item, "mailing", url=URL).parts["html"]
    assert "<script>" not in html_mail and "&lt;script&gt;" in html_mail


def test_plain_text_channels_do_not_double_escape(
    renderer: Renderer, item_factory: Callable[..., ContentItem]
) -> None:
    item = item_factory(title=ESCAPING_TITLE, summary="Obras & vías")
    for channel in ("x", "facebook", "mailing"):
        post = renderer.render(item, channel, url=URL)
        assert ESCAPING_TITLE in post.text
        assert "&amp;" not in post.text and "&lt;" not in post.text
    subject = renderer.render(item, "mailing", url=URL).parts["subject"]
    assert subject.endswith(ESCAPING_TITLE)


def test_markdown_html_strips_scripts_and_handlers() -> None:
    md = (
        "Hola <script>alert(1)</script>\n\n"
        '<p onclick="robar()">párrafo</p>\n\n'
        "[malo](javascript:alert(1)) [bueno](https://example.org/a?b=1&c=2)\n\n"
        '<img src="x.png" onerror="robar()" alt="x">\n\n'
        "# Título del cuerpo"
    )
    out = markdown_html(md)
    assert "<script" not in out and "alert(1)</" not in out
    assert "onclick" not in out and "onerror" not in out and 'href="javascript' not in out
    doc = parse_html(out)
    assert ("a", {"href": "https://example.org/a?b=1&c=2", "rel": "noopener"}) in doc.tags
    assert ("h2", {}) in doc.tags and ("h1", {}) not in doc.tags


def test_telegram_html_uses_only_allowed_tags() -> None:
    md = """# Título

Texto con **negrilla**, _cursiva_, ~~tachado~~, `código <x>` y [enlace](https://a.co/?q=1&r=2).
Otra línea\\
con salto.

<div onclick="x()">bloque <b>html</b></div>

<script>alert(1)</script>

- uno
- dos
  1. anidado

> cita

```python
x = 1 < 2
```

| a | b |
|---|---|
| 1 | 2 |

![imagen](foto.png) <span style="color:red">rojo</span>
"""
    out = telegram_html(md)
    doc = parse_html(out)
    allowed = {"b", "strong", "i", "em", "u", "s", "a", "code", "pre", "blockquote"}
    assert {tag for tag, _ in doc.tags} <= allowed
    assert all(set(attrs) <= ({"href"} if tag == "a" else set()) for tag, attrs in doc.tags)
    assert "<p>" not in out and "<br" not in out
    assert "• uno\n• dos\n   1. anidado" in out
    assert "Texto con <b>negrilla</b>, <i>cursiva</i>, <s>tachado</s>" in out
    assert '<a href="https://a.co/?q=1&amp;r=2">enlace</a>' in out
    assert "<code>código &lt;x&gt;</code>" in out
    assert "alert(1)" not in out
    assert "Otra línea\ncon salto." in out
    assert "\n\n<b>Título</b>" not in out and out.startswith("<b>Título</b>\n\nTexto")


def test_plain_writes_links_as_text_and_url() -> None:
    md = "Vea la [página](https://a.co/x) o <https://b.co>.\n\n- uno\n- **dos** & tres"
    assert plain(md) == "Vea la página (https://a.co/x) o https://b.co.\n\n• uno\n• dos & tres"


# ------------------------------------------------------------------ dates, hashtags


def test_spanish_dates_in_the_configured_zone() -> None:
    late_utc = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)  # 26 Nov, 10 p.m. in Bogotá
    assert fecha(late_utc, tz=TZ) == "26 de noviembre de 2026"
    assert fecha(late_utc, "full", tz=TZ) == "jueves 26 de noviembre de 2026"
    assert fecha(late_utc, "datetime", tz=TZ) == "jueves 26 de noviembre de 2026, 10:00 p.\xa0m."
    assert fecha(late_utc, "iso", tz=TZ) == "2026-11-26T22:00-05:00"
    assert fecha(date(2026, 11, 26)) == "26 de noviembre de 2026"
    assert fecha(late_utc, tz=ZoneInfo("Europe/Madrid")) == "27 de noviembre de 2026"


def test_template_dates_use_the_renderer_zone(item_factory: Callable[..., ContentItem]) -> None:
    item = item_factory(publish_at=datetime(2026, 11, 27, 3, 0, tzinfo=UTC))
    bogota = Renderer([], TZ, LABELS).render(item, "website").text
    madrid = Renderer([], ZoneInfo("Europe/Madrid"), LABELS).render(item, "website").text
    assert "26 de noviembre de 2026" in bogota
    assert "27 de noviembre de 2026" in madrid


def test_hashtags() -> None:
    tags = ["Bucaramanga", "obras públicas", "Año Nuevo", "COVID-19", "2026", "bucaramanga", " "]
    assert hashtags(tags) == "#Bucaramanga #ObrasPublicas #AñoNuevo #COVID19"
    assert hashtags([]) == ""


# ------------------------------------------------------------------ templates and overrides


def test_user_templates_take_precedence(
    tmp_path: Path, item_factory: Callable[..., ContentItem]
) -> None:
    user = tmp_path / "plantillas"
    (user / "x").mkdir(parents=True)
    (user / "x" / "default.txt.j2").write_text("PROPIA {{ item.title }} {{ url }}\n", "utf-8")
    renderer = Renderer([user], TZ, LABELS)
    assert (
        renderer.render(item_factory(), "x", url=URL).text == f"PROPIA Obras en la carrera 27 {URL}"
    )
    # Channels the user did not override still use the built-in templates.
    assert "Más información" in renderer.render(item_factory(), "facebook", url=URL).text


def test_templates_are_compiled_once(
    tmp_path: Path, item_factory: Callable[..., ContentItem]
) -> None:
    user = tmp_path / "plantillas"
    (user / "x").mkdir(parents=True)
    template = user / "x" / "default.txt.j2"
    template.write_text("primera {{ item.title }}", "utf-8")
    renderer = Renderer([user], TZ, LABELS)
    assert renderer.render(item_factory(), "x").text.startswith("primera")
    template.write_text("segunda {{ item.title }}", "utf-8")
    assert renderer.render(item_factory(), "x").text.startswith("primera")
    assert renderer.template("x", "boletin", "txt") is renderer.template("x", "boletin", "txt")


def test_missing_template_is_a_render_error(
    renderer: Renderer, item_factory: Callable[..., ContentItem]
) -> None:
    with pytest.raises(RenderError, match=re.escape("no hay plantilla mastodon/boletin.txt.j2")):
        renderer.render(item_factory(), "mastodon")


def test_broken_user_template_is_a_render_error(
    tmp_path: Path, item_factory: Callable[..., ContentItem]
) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "default.txt.j2").write_text("{{ item.title }}\n{{ no_existe }}", "utf-8")
    (tmp_path / "facebook").mkdir()
    (tmp_path / "facebook" / "default.txt.j2").write_text("\n{% if %}", "utf-8")
    renderer = Renderer([tmp_path], TZ, LABELS)
    with pytest.raises(
        RenderError, match=r"x: la plantilla x/default.txt.j2 tiene un error: .*no_existe"
    ):
        renderer.render(item_factory(), "x")
    with pytest.raises(RenderError, match=r"la plantilla facebook/default.txt.j2, línea 2"):
        renderer.render(item_factory(), "facebook")


def test_autoescape_by_extension(tmp_path: Path) -> None:
    for name in ("a.html.j2", "a.txt.j2"):
        (tmp_path / name).write_text("{{ v }}", "utf-8")
    env = template_environment([tmp_path])
    assert env.get_template("a.html.j2").render(v="<b>") == "&lt;b&gt;"
    assert env.get_template("a.txt.j2").render(v="<b>") == "<b>"
    assert builtin_templates_dir() == ROOT / "templates"


# ------------------------------------------------------------------ website layouts


def test_page_layout(tmp_path: Path) -> None:
    env = template_environment([])
    page = env.get_template("website/_layout/page.html.j2").render(
        article_html="<article><h1>Obras &amp; vías</h1></article>",
        title=ESCAPING_TITLE,
        canonical_url=URL,
        site_name="Alcaldía de Bucaramanga",
        base_url="https://www.bucaramanga.gov.co/noticias/",
        description='Resumen con "comillas"',
        image_url=URL + "foto.png",
        image_alt="Andenes",
        published_at=datetime(2026, 11, 26, 9, 30, tzinfo=TZ),
    )
    assert page.startswith('<!DOCTYPE html>\n<html lang="es-CO">')
    doc = parse_html(page)
    assert "<article><h1>Obras &amp; vías</h1></article>" in page
    assert "<script>" not in page
    assert ("link", {"rel": "canonical", "href": URL}) in doc.tags
    feed = "https://www.bucaramanga.gov.co/noticias/feed.xml"
    assert any(t == "link" and a.get("href") == feed for t, a in doc.tags)
    metas = {
        a.get("property") or a.get("name"): a.get("content") for t, a in doc.tags if t == "meta"
    }
    assert metas["description"] == 'Resumen con "comillas"'
    assert metas["og:title"] == ESCAPING_TITLE
    assert metas["og:image"] == URL + "foto.png"
    assert metas["article:published_time"] == "2026-11-26T09:30-05:00"


def test_page_layout_optional_variables_may_be_absent() -> None:
    env = template_environment([])
    page = env.get_template("website/_layout/page.html.j2").render(
        article_html="<article></article>", title="T", site_name="S", base_url="/"
    )
    assert 'rel="canonical"' not in page and "og:image" not in page
    parse_html(page)


def test_index_layout() -> None:
    env = template_environment([])
    entries = [
        {
            "title": ESCAPING_TITLE,
            "url": URL,
            "summary": "Resumen & más",
            "date": datetime(2026, 11, 26, 9, 30, tzinfo=TZ),
            "image_url": URL + "foto.png",
            "image_alt": "Andenes",
        },
        {"title": "Sin imagen", "url": URL + "2/", "summary": "", "date": date(2026, 11, 25)},
    ]
    html = env.get_template("website/_layout/index.html.j2").render(
        entries=entries,
        page=2,
        pages=3,
        prev_url="https://s/",
        next_url="https://s/pagina/3/",
        site_name="Alcaldía de Bucaramanga",
        base_url="https://s/",
    )
    doc = parse_html(html)
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "Resumen &amp; más" in html
    assert ("img", {"src": URL + "foto.png", "alt": "Andenes", "loading": "lazy"}) in doc.tags
    assert ("a", {"href": "https://s/pagina/3/", "rel": "next"}) in doc.tags
    assert "Página 2 de 3" in html and "26 de noviembre de 2026" in html
    empty = env.get_template("website/_layout/index.html.j2").render(
        entries=[], page=1, pages=1, prev_url=None, next_url=None, site_name="S", base_url="/"
    )
    assert "Todavía no hay publicaciones" in empty and 'rel="next"' not in empty


# ------------------------------------------------------------------ property


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    title=st.text(min_size=3, max_size=200),
    summary=st.none() | st.text(max_size=600),
    tags=st.lists(st.text(min_size=1, max_size=60), max_size=6),
    kind=st.sampled_from(["boletin", "rueda_de_prensa"]),
)
def test_x_fits_or_fails_loudly(
    renderer: Renderer, tmp_path: Path, title: str, summary: str | None, tags: list[str], kind: str
) -> None:
    try:
        item = make_item(tmp_path, kind=kind, title=title, summary=summary, tags=tags)
    except ValidationError:
        assume(False)
        return
    try:
        text = renderer.render(item, "x", url=URL).text
    except RenderError as err:
        assert err.channel == "x" and err.limit == 280
        assert err.length is not None and err.length > 280
        return
    assert twitter_text.parse_tweet(text).weightedLength <= 280
    assert URL in text


def test_subject_does_not_repeat_the_kind_label() -> None:
    from dispatcher.render.renderer import Renderer, builtin_templates_dir

    renderer = Renderer(
        [builtin_templates_dir()],
        ZoneInfo("America/Bogota"),
        {"informe_especial": "Informe especial"},
    )
    meta = FrontMatter(kind="informe_especial", title="Informe especial: la alimentación escolar")
    item = ContentItem(
        meta=meta,
        body="Texto.",
        id="informe-pae",
        summary="Texto.",
        date=date(2026, 11, 24),
        publish_at=None,
        base_dir=Path("."),
        digest="x",
    )
    subject = renderer.render(item, "mailing").parts["subject"]
    assert subject == "Informe especial: la alimentación escolar"
    other = ContentItem(
        meta=FrontMatter(kind="informe_especial", title="Así llega la alimentación escolar"),
        body="Texto.",
        id="informe-pae-2",
        summary="Texto.",
        date=date(2026, 11, 24),
        publish_at=None,
        base_dir=Path("."),
        digest="y",
    )
    assert renderer.render(other, "mailing").parts["subject"] == (
        "Informe especial: Así llega la alimentación escolar"
    )


X_PIECES = st.sampled_from(
    [
        "Boletín", " ", "\n", "\r\n", "ñandú", "Bucaramanga", "e\u0301", "#Obras", "@alcaldia",
        "https://www.bucaramanga.gov.co/a/b/", "bucaramanga.gov.co", "http://x.co", "www.ab.com",
        "1", "#", "*", "12:30", "©", "®", "😷", "1\ufe0f\u20e3", "👨\u200d🎤", "日本語", "—",
        "…", "\u2019", "ᄀ", "ÿ", ".", "(", ")",
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(X_PIECES, max_size=40).map("".join))
def test_x_length_counts_as_twitter_text_does(text: str) -> None:
    """The direct count for plain texts agrees with twitter-text's full parse, and texts
    that may hold an emoji or a heavier character go through that parse."""
    assert x_length(text) == twitter_text.parse_tweet(text).weightedLength


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x2100), max_size=120))
def test_x_length_agrees_on_any_text(text: str) -> None:
    assert x_length(text) == twitter_text.parse_tweet(text).weightedLength
