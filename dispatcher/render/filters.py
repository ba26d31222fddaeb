"""Jinja filters for the channel templates: Spanish dates, Markdown in each channel's
format (sanitised HTML, Telegram's HTML subset, plain text) and hashtags.

Markdown is parsed once by markdown-it-py (CommonMark, plus tables and strikethrough,
linkify off). The website's HTML goes through nh3 with an allow-list; Telegram and plain
text are produced by walking markdown-it's syntax tree, so raw HTML an editor typed is
never passed through to those channels (its tags are dropped, its text kept and escaped).
"""

from __future__ import annotations

import functools
import html
import unicodedata
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import ParamSpec, TypeVar
from zoneinfo import ZoneInfo

import nh3
from babel.dates import format_date, format_datetime
from babel.lists import format_list
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode
from markupsafe import Markup

P = ParamSpec("P")
R = TypeVar("R")
LOCALE = "es_CO"
DEFAULT_TZ = ZoneInfo("America/Bogota")

_md = MarkdownIt("commonmark", {"linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "figcaption", "figure",
        "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s",
        "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
"""Tags kept in the website's body. ``h1`` is the article title's alone: a ``#`` heading
in the body is kept as ``h2`` (see :func:`markdown_html`)."""

ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height"},
    "ol": {"start"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})

TELEGRAM_TAGS = frozenset({"b", "strong", "i", "em", "u", "s", "a", "code", "pre", "blockquote"})
"""The tags :func:`telegram_html` may emit (a subset of what Telegram's HTML mode parses)."""

DATE_FORMATS = {
    "long": "d 'de' MMMM 'de' y",
    "full": "EEEE d 'de' MMMM 'de' y",
    "datetime": "EEEE d 'de' MMMM 'de' y, h:mm a",
    "time": "h:mm a",
}


@functools.lru_cache(maxsize=1024)
def fecha(value: date | datetime | None, format: str = "long", tz: ZoneInfo | None = None) -> str:
    """A date in Spanish (es-CO), in ``tz`` (default America/Bogota).

    ``format``: ``long`` "26 de noviembre de 2026", ``full`` "jueves 26 de noviembre de
    2026", ``datetime`` "jueves 26 de noviembre de 2026, 10:00 a. m.", ``time``
    "10:00 a. m.", ``short`` "26/11/26", ``iso`` ISO 8601 (for ``<time datetime>``), or a
    CLDR pattern. A naive datetime is read as local time in ``tz``; a plain date has no
    time, so ``datetime`` shows the date alone.
    """
    if value is None:
        return ""
    zone = tz or DEFAULT_TZ
    if isinstance(value, datetime):
        local = value.replace(tzinfo=zone) if value.tzinfo is None else value.astimezone(zone)
        if format == "iso":
            return local.isoformat(timespec="minutes")
        if format == "short":
            return format_datetime(local, "short", tzinfo=zone, locale=LOCALE)
        pattern = DATE_FORMATS.get(format, format)
        text = format_datetime(local, pattern, tzinfo=zone, locale=LOCALE)
    else:
        if format == "iso":
            return value.isoformat()
        if format in ("datetime", "full"):
            pattern = DATE_FORMATS["full"]
        elif format == "time":
            return ""
        else:
            pattern = "short" if format == "short" else DATE_FORMATS.get(format, format)
        text = format_date(value, pattern, locale=LOCALE)
    # CLDR writes "a. m." with U+202F, which older mail clients and fonts lack.
    return text.replace("\u202f", "\u00a0")


def lista(items: Iterable[str] | None) -> str:
    """``["Ana", "Beto", "Inés"]`` → ``"Ana, Beto y Inés"`` (Spanish list, via babel)."""
    values = [str(i) for i in items or () if str(i).strip()]
    return format_list(values, locale=LOCALE) if values else ""


def convocatoria(title: str) -> str:
    """ "Convocatoria: <title>", unless the title already says it is a call."""
    if title.casefold().startswith(("convocatoria", "rueda de prensa")):
        return title
    return f"Convocatoria: {title}"


CACHED_CHARS = 32_768
"""Texts up to this size are converted once and remembered (an item's body is converted
for several channels and variants); longer ones are converted per use."""


def _memo(function: Callable[P, R]) -> Callable[P, R]:
    """``function`` (pure, of hashable text arguments) with a small LRU for short texts."""
    cached: Callable[..., R] = functools.lru_cache(maxsize=512)(function)

    @functools.wraps(function)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        md = args[0] if args else kwargs.get("md")
        if isinstance(md, str) and len(md) <= CACHED_CHARS:
            return cached(*args, **kwargs)
        return function(*args, **kwargs)

    return call


_BODY_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    attributes=ALLOWED_ATTRIBUTES,
    url_schemes=set(URL_SCHEMES),
    link_rel="noopener",
)
_TEXT_CLEANER = nh3.Cleaner(tags=set())
"""nh3's sanitisers, built once (``nh3.clean`` builds one per call)."""


@_memo
def markdown_html(md: str | None) -> Markup:
    """Markdown → HTML for the website and e-mail, sanitised by nh3 (allow-list; links get
    ``rel="noopener"``; ``script``/``style`` dropped with their content)."""
    if not md:
        return Markup("")
    tokens = [
        token.copy(tag="h2")
        if token.type in ("heading_open", "heading_close") and token.tag == "h1"
        else token
        for token in _tokens(md, False)
    ]
    raw = _md.renderer.render(tokens, _md.options, {})
    return Markup(_BODY_CLEANER.clean(raw).strip())


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def strip_tags(raw_html: str) -> str:
    """The visible text of a raw HTML fragment (scripts and styles dropped), unescaped."""
    return html.unescape(_TEXT_CLEANER.clean(raw_html))


class _TextRenderer:
    """Walks markdown-it's syntax tree into Telegram HTML (``markup=True``) or plain text."""

    def __init__(self, markup: bool) -> None:
        self.markup = markup

    def esc(self, text: str) -> str:
        return _escape(text) if self.markup else text

    def tag(self, name: str, inner: str, attrs: str = "") -> str:
        if not self.markup or not inner:
            return inner
        return f"<{name}{attrs}>{inner}</{name}>"

    def blocks(self, nodes: Iterable[SyntaxTreeNode], sep: str = "\n\n") -> str:
        parts = [self.block(node) for node in nodes]
        return sep.join(part for part in parts if part.strip())

    def block(self, node: SyntaxTreeNode) -> str:
        kind = node.type
        if kind == "inline":
            return self.inline(node.children)
        if kind == "paragraph":
            return self.blocks(node.children)
        if kind == "heading":
            return self.tag("b", self.blocks(node.children))
        if kind in ("bullet_list", "ordered_list"):
            return self.list(node)
        if kind == "blockquote":
            return self.tag("blockquote", self.blocks(node.children))
        if kind in ("fence", "code_block"):
            return self.tag("pre", self.esc(node.content.rstrip("\n")))
        if kind == "hr":
            return "———"
        if kind == "html_block":
            return self.esc(strip_tags(node.content).strip())
        if kind == "table":
            rows = [row for section in node.children for row in section.children]
            return "\n".join(
                " · ".join(self.blocks(cell.children) for cell in row.children) for row in rows
            )
        return self.blocks(node.children)

    def list(self, node: SyntaxTreeNode) -> str:
        start = int(str(node.attrs.get("start", 1)))
        lines: list[str] = []
        for number, item in enumerate(node.children, start=start):
            bullet = f"{number}. " if node.type == "ordered_list" else "• "
            content = self.blocks(item.children, sep="\n")
            first, *rest = content.split("\n") if content else [""]
            lines.append(bullet + first)
            lines.extend("   " + line if line else line for line in rest)
        return "\n".join(lines)

    def inline(self, nodes: Iterable[SyntaxTreeNode]) -> str:
        out: list[str] = []
        for node in nodes:
            kind = node.type
            if kind == "text":
                out.append(self.esc(node.content))
            elif kind == "softbreak":  # a wrapped source line: a space, as in HTML
                out.append(" ")
            elif kind == "hardbreak":
                out.append("\n")
            elif kind == "code_inline":
                out.append(self.tag("code", self.esc(node.content)))
            elif kind == "strong":
                out.append(self.tag("b", self.inline(node.children)))
            elif kind == "em":
                out.append(self.tag("i", self.inline(node.children)))
            elif kind == "s":
                out.append(self.tag("s", self.inline(node.children)))
            elif kind == "link":
                out.append(self.link(node))
            elif kind == "html_inline":
                continue  # a raw tag: dropped; the text around it is kept
            else:  # image (its alt text), and anything unknown: the text inside
                out.append(self.inline(node.children))
        return "".join(out)

    def link(self, node: SyntaxTreeNode) -> str:
        href = str(node.attrs.get("href", ""))
        inner = self.inline(node.children)
        if self.markup:
            if not href:
                return inner
            return f'<a href="{html.escape(href, quote=True)}">{inner or _escape(href)}</a>'
        shown = href.removeprefix("mailto:")
        if not href or inner in (href, shown):
            return inner or href
        return f"{inner} ({shown})"


def _tree(md: str, inline: bool) -> SyntaxTreeNode:
    return SyntaxTreeNode(_tokens(md, inline))


def _tokens(md: str, inline: bool) -> list[Token]:
    """markdown-it's tokens of ``md``, parsed once per text for every filter (the tokens
    are shared: never changed in place)."""
    if len(md) > CACHED_CHARS:
        return _parse(md, inline)
    return _cached_parse(md, inline)


def _parse(md: str, inline: bool) -> list[Token]:
    return _md.parseInline(md) if inline else _md.parse(md)


_cached_parse = functools.lru_cache(maxsize=256)(_parse)


@_memo
def telegram_html(md: str | None, inline: bool = False) -> Markup:
    """Markdown → Telegram's HTML subset (see :data:`TELEGRAM_TAGS`).

    Paragraphs are separated by blank lines, list items become "• " lines; no ``<p>`` or
    ``<br>``. ``inline=True`` parses a one-line text (a summary) without block syntax.
    """
    if not md:
        return Markup("")
    return Markup(_TextRenderer(markup=True).block(_tree(md, inline)).strip())


@_memo
def plain(md: str | None, inline: bool = False) -> str:
    """Markdown → plain text; links as "text (url)". Nothing is HTML-escaped."""
    if not md:
        return ""
    return _TextRenderer(markup=False).block(_tree(md, inline)).strip()


def _fold(char: str) -> str:
    # Strip accents but keep ñ: "Año" must not become "Ano".
    if char in "ñÑ":
        return char
    return "".join(c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c))


def _hashtag(tag: str) -> str:
    letters = "".join(_fold(c) for c in unicodedata.normalize("NFC", tag))
    words = "".join(c if c.isalnum() else " " for c in letters).split()
    text = "".join(word[:1].upper() + word[1:] for word in words)
    if not text or text.isdigit():
        return ""
    return "#" + text


def hashtags(tags: Iterable[str] | str | None) -> str:
    """``["Bucaramanga", "obras públicas"]`` → ``"#Bucaramanga #ObrasPublicas"``.

    CamelCase, accents removed (ñ kept), no spaces or punctuation; empty, numeric-only and
    repeated tags are left out.
    """
    if not tags:
        return ""
    if isinstance(tags, str):
        tags = [tags]
    seen: set[str] = set()
    out: list[str] = []
    for tag in tags:
        text = _hashtag(str(tag))
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            out.append(text)
    return " ".join(out)
