"""HTML that leaves Pregonero: link rewriting on parsed HTML, and the last sanitising pass.

Two rules (security issue, finding 4):

- Links are rewritten on *parsed* HTML, never by a regular expression over serialised HTML.
  :func:`rewrite_urls` reads a fragment with the standard library's parser, changes the
  ``href``/``src`` values it is asked to, and writes every tag out again from its parsed
  attributes, each value escaped. Text that merely looks like an attribute (an image's alt
  text saying ``src='x onload=…'``) stays text.
- Whatever goes out — the website page, the Atom feed, the WordPress post, the e-mail —
  passes :mod:`nh3` once more at the very end, with an allow-list of tags, attributes, URL
  schemes and (in e-mail) CSS properties: :func:`clean_article` for article fragments,
  :func:`clean_email` for a whole e-mail document.

Templates are trusted (the operator's); content files are not. The allow-lists below cover
every tag and attribute the shipped templates use; a user template that needs more must
be added here on purpose.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from html.parser import HTMLParser

import nh3

URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
"""The only URL schemes that survive (relative URLs are kept as they are)."""

LINK_REL = "noopener"

_TEXT_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "del", "em",
        "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li",
        "mark", "ol", "p", "pre", "q", "s", "small", "strong", "sub", "sup", "table", "tbody",
        "td", "tfoot", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
ARTICLE_TAGS = _TEXT_TAGS | {
    "article", "aside", "dd", "div", "dl", "dt", "footer", "header", "nav", "section", "span",
    "time",
}  # fmt: skip
"""Tags an article fragment (``templates/website/*.html.j2``) may hold."""

_COMMON_ATTRIBUTES = {"class", "dir", "id", "lang", "title"}
ARTICLE_ATTRIBUTES: dict[str, set[str]] = {
    "*": _COMMON_ATTRIBUTES,
    "a": {"href", "hreflang"},
    "img": {"src", "alt", "width", "height", "loading"},
    "ol": {"start"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "time": {"datetime"},
    "q": {"cite"},
    "blockquote": {"cite"},
}

EMAIL_TAGS = ARTICLE_TAGS | {"center", "font"}
EMAIL_ATTRIBUTES: dict[str, set[str]] = {
    **ARTICLE_ATTRIBUTES,
    "*": _COMMON_ATTRIBUTES | {"style", "align", "valign", "width", "height", "bgcolor", "role"},
    "img": {"src", "alt", "width", "height", "border"},
    "table": {"border", "cellpadding", "cellspacing", "summary"},
    "font": {"color", "face", "size"},
}
EMAIL_CSS = frozenset(
    {
        "background-color", "border", "border-bottom", "border-collapse", "border-left",
        "border-radius", "border-right", "border-top", "color", "display", "font-family",
        "font-size", "font-style", "font-weight", "height", "letter-spacing", "line-height",
        "margin", "margin-bottom", "margin-left", "margin-right", "margin-top", "max-height",
        "max-width", "min-width", "mso-hide", "overflow", "padding", "padding-bottom",
        "padding-left", "padding-right", "padding-top", "text-align", "text-decoration",
        "text-transform", "vertical-align", "width", "white-space",
    }
)  # fmt: skip
"""CSS properties kept in e-mail ``style`` attributes (no ``background-image``, no ``url()``)."""

_HEAD_ATTRIBUTES: dict[str, frozenset[str]] = {
    "html": frozenset({"lang", "dir"}),
    "meta": frozenset({"charset", "name", "content"}),
    "body": frozenset({"style", "class", "lang", "dir"}),
}
_HEAD_TAGS = frozenset({"html", "head", "meta", "title", "body"})

_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
     "track", "wbr"}
)  # fmt: skip
_URL_ATTRIBUTES = frozenset({"href", "src"})
_UNSAFE_CSS = re.compile(r"url\s*\(|expression\s*\(|@import|\\|javascript:|behavior", re.I)
"""A ``style`` value the rebuilder drops whole (it checks the template's own tags only:
content passes nh3's CSS filter)."""
_DROP_WITH_CONTENT = frozenset(
    {"script", "style", "iframe", "noscript", "object", "template", "textarea", "svg", "math"}
)


Rewrite = Callable[[str, str, str], str | None]
"""``rewrite(tag, attribute, value) -> new value`` (``None``: keep the value)."""


class _Rebuilder(HTMLParser):
    """Parses HTML and writes it out again from its parsed form: every attribute value
    escaped and quoted, text re-escaped, comments and processing instructions dropped.
    ``rewrite`` changes ``href``/``src`` values. ``keep_tags``/``keep`` (tag → allowed
    attributes), when given, limit the tags and attributes written: another tag is dropped
    and its text kept, except script-like tags (:data:`_DROP_WITH_CONTENT`), dropped whole."""

    def __init__(
        self,
        rewrite: Rewrite | None = None,
        keep: dict[str, frozenset[str]] | None = None,
        keep_tags: frozenset[str] | None = None,
    ) -> None:
        super().__init__(convert_charrefs=True)
        self._rewrite = rewrite
        self._keep = keep
        self._keep_tags = keep_tags
        self._skip = 0  # inside a dropped raw-text element (script, style, …)
        self.out: list[str] = []

    def _allowed(self, tag: str) -> bool:
        return self._keep_tags is None or tag in self._keep_tags

    def _attrs(self, tag: str, attrs: list[tuple[str, str | None]]) -> str:
        parts: list[str] = []
        allowed = None if self._keep is None else self._keep.get(tag, frozenset())
        for name, value in attrs:
            if not name.replace("-", "").replace(":", "").replace("_", "").isalnum():
                continue  # not a name a browser would read the same way: drop it
            if allowed is not None and name not in allowed:
                continue
            if value is None:
                parts.append(f" {name}")
                continue
            if name == "style" and _UNSAFE_CSS.search(value):
                continue
            if self._rewrite is not None and name in _URL_ATTRIBUTES:
                value = self._rewrite(tag, name, value) or value
            parts.append(f' {name}="{html.escape(value, quote=True)}"')
        return "".join(parts)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip or not self._allowed(tag):
            if tag in _DROP_WITH_CONTENT:
                self._skip += 1
            return
        self.out.append(f"<{tag}{self._attrs(tag, attrs)}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip or not self._allowed(tag):
            return
        self.out.append(f"<{tag}{self._attrs(tag, attrs)}>")
        if tag not in _VOID:
            self.out.append(f"</{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            if tag in _DROP_WITH_CONTENT:
                self._skip -= 1
            return
        if self._allowed(tag) and tag not in _VOID:
            self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self.cdata_elem is not None:  # script/style text kept by a permissive caller
            self.out.append(data.replace("</", "<\\/"))
            return
        self.out.append(html.escape(data, quote=False))

    def handle_decl(self, decl: str) -> None:
        if decl.strip().lower() == "doctype html":
            self.out.append("<!DOCTYPE html>")

    def result(self, markup: str) -> str:
        self.feed(markup)
        self.close()
        return "".join(self.out)


def rewrite_urls(fragment: str, rewrite: Rewrite) -> str:
    """``fragment`` with each ``href``/``src`` value passed through ``rewrite`` (which gets
    the tag, the attribute name and the decoded value, and returns the new value or
    ``None`` to keep it), rebuilt from the parsed HTML."""
    return _Rebuilder(rewrite).result(fragment)


_ARTICLE_CLEANER = nh3.Cleaner(
    tags=set(ARTICLE_TAGS),
    attributes=ARTICLE_ATTRIBUTES,
    url_schemes=set(URL_SCHEMES),
    link_rel=LINK_REL,
)
_EMAIL_CLEANER = nh3.Cleaner(
    tags=set(EMAIL_TAGS),
    attributes=EMAIL_ATTRIBUTES,
    url_schemes=set(URL_SCHEMES),
    link_rel=LINK_REL,
    filter_style_properties=set(EMAIL_CSS),
)
"""Built once: ``nh3.clean`` converts its allow-lists into a new sanitiser at every call,
about a third of a call's time on an e-mail."""


def clean_article(fragment: str) -> str:
    """The last pass over an article fragment (website page, feed entry, WordPress post):
    nh3 with :data:`ARTICLE_TAGS`/:data:`ARTICLE_ATTRIBUTES` and :data:`URL_SCHEMES`."""
    return _ARTICLE_CLEANER.clean(fragment)


def _clean_email_body(fragment: str) -> str:
    return _EMAIL_CLEANER.clean(fragment)


class _BodyFinder(HTMLParser):
    """Where a document's ``<body …>`` start tag ends and its ``</body>`` starts."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self._lines = [0]  # where each line starts; html.parser counts lines by "\n" alone
        for line in text.split("\n"):
            self._lines.append(self._lines[-1] + len(line) + 1)
        self.inner_start: int | None = None
        self.inner_end: int | None = None

    def _offset(self) -> int:
        line, column = self.getpos()
        return self._lines[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body" and self.inner_start is None:
            self.inner_start = self._offset() + len(self.get_starttag_text() or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "body" and self.inner_start is not None:
            self.inner_end = self._offset()


_BODY_START = re.compile(r"""<body(?=[\s/>])(?:[^>"']|"[^"]*"|'[^']*')*>""", re.I)
_BODY_END = re.compile(r"</body\s*>", re.I)


class _Head(_Rebuilder):
    """The rebuilder of the document before the body's content, which also says whether
    the last thing it read was a ``<body>`` start tag (the one :data:`_BODY_START` found,
    confirmed by parsing: not text in a comment, a script or an attribute)."""

    def __init__(self) -> None:
        super().__init__(keep=_HEAD_ATTRIBUTES, keep_tags=_HEAD_TAGS)
        self.ends_at_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        super().handle_starttag(tag, attrs)
        self.ends_at_body = tag == "body"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        super().handle_startendtag(tag, attrs)
        self.ends_at_body = False

    def handle_endtag(self, tag: str) -> None:
        super().handle_endtag(tag)
        self.ends_at_body = False

    def handle_data(self, data: str) -> None:
        super().handle_data(data)
        self.ends_at_body = False

    def handle_comment(self, data: str) -> None:
        self.ends_at_body = False


def _outer(markup: str) -> str:
    """The document around the body's content, rebuilt with the head's allow-list."""
    return _Head().result(markup)


def clean_email(document: str) -> str:
    """The last pass over an HTML e-mail: the body's content through nh3 (tables, inline
    styles limited to :data:`EMAIL_CSS`), and the document around it (doctype, ``html``,
    ``head``, ``meta``, ``title``, the ``body`` tag) rebuilt from its parsed form with a
    short allow-list. A document without a ``<body>`` is cleaned as a fragment.

    The body's start tag is the first ``<body …>``, confirmed by parsing what comes before
    it (no need to parse the whole body with the standard library's parser: that was most
    of an e-mail's rendering time); its end, the last ``</body>``. Should the first
    ``<body`` not be a tag (inside a comment or a script), the whole document is parsed.
    Either way each part is cleaned on its own — the head by the strict rebuilder, the
    body by nh3 — so where the cut falls changes what is kept, never what is allowed."""
    start_tag = _BODY_START.search(document)
    if start_tag is not None:
        head = _Head()
        rebuilt = head.result(document[: start_tag.end()])
        if head.ends_at_body:
            start = start_tag.end()
            ends = [m.start() for m in _BODY_END.finditer(document, start)]
            end = ends[-1] if ends else len(document)
            body = _clean_email_body(document[start:end])
            return rebuilt + "\n" + body + "\n" + _outer(document[end:])
    return _clean_email_parsed(document)


def _clean_email_parsed(document: str) -> str:
    """:func:`clean_email` with the body found by parsing the whole document."""
    finder = _BodyFinder(document)
    finder.feed(document)
    finder.close()
    start, end = finder.inner_start, finder.inner_end
    if start is None:
        return _clean_email_body(document)
    if end is None or end < start:
        end = len(document)
    head_part = _outer(document[:start])
    tail = _outer(document[end:])
    return head_part + "\n" + _clean_email_body(document[start:end]) + "\n" + tail
