"""Everything a feed says is untrusted: titles and excerpts become plain, length-capped
text; links become normalised http(s) URLs or nothing.

- :func:`plain_text`: HTML (or what claims not to be) → text. Tags go (``<script>`` and
  ``<style>`` with their content: the renderer's :func:`strip_tags`, nh3), entities are
  decoded once, control characters (C0/C1, bidi overrides) are dropped, whitespace is
  collapsed and the result is cut at a word boundary with "…".
- :func:`normalise_link`: the key a clipping is kept once under: scheme and host in lower
  case, default port, user info and fragment dropped, tracking parameters (``utm_*``,
  ``fbclid``, ``gclid`` …) removed; anything but http(s) is refused (``None``).
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from dispatcher.render.filters import strip_tags

TITLE_LIMIT = 300
EXCERPT_LIMIT = 400
MATCH_LIMIT = 20_000
"""How much of an entry's summary the keywords are looked for in."""
LINK_LIMIT = 2000

TRACKING = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
        "igshid", "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok",
        "oly_anon_id", "oly_enc_id", "vero_id", "vero_conv", "ref_src", "cmpid", "ncid",
        "spm", "share", "s_cid", "wt.mc_id",
    }
)  # fmt: skip
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")
DEFAULT_PORTS = {"http": 80, "https": 443}
_BLOCK = re.compile(
    r"<\s*/?\s*(?:p|div|br|hr|li|ul|ol|h[1-6]|tr|td|th|table|blockquote|section|article"
    r"|figure|figcaption|header|footer|pre)\b[^>]*>",
    re.IGNORECASE,
)
"""Block-level tags end a word: "<p>a</p><p>b</p>" reads "a b", not "ab"."""
_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def _printable(char: str) -> bool:
    return unicodedata.category(char) not in ("Cc", "Cf", "Cs", "Co") or char in "\t\n"


def plain_text(value: object, limit: int = EXCERPT_LIMIT) -> str:
    """The text of ``value`` (HTML or not) on one line, at most ``limit`` characters."""
    if not isinstance(value, str) or not value:
        return ""
    text = _BLOCK.sub(" ", value[: limit * 20 + MATCH_LIMIT])
    text = strip_tags(text)
    text = "".join(c for c in _INVISIBLE.sub("", text) if _printable(c))
    text = " ".join(text.split())
    return cut(text, limit)


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters at a word boundary, with "…" when cut."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    space = head.rfind(" ")
    if space > limit // 2:
        head = head[:space]
    return head.rstrip(" ,;:.-–—") + "…"


def _tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING or lowered.startswith(TRACKING_PREFIXES)


def normalise_link(value: object) -> str | None:
    """The normalised http(s) URL of ``value``, or ``None`` when it is not one."""
    if not isinstance(value, str):
        return None
    raw = value.strip()
    if not raw or len(raw) > LINK_LIMIT * 2 or any(not c.isprintable() or c.isspace() for c in raw):
        return None
    try:
        parts = urlsplit(raw)
        port = parts.port
        host = parts.hostname
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not host:
        return None
    host = host.rstrip(".")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _tracking(k)]
    query = urlencode(pairs, quote_via=quote, safe="/:@!$'()*+,;-._~")
    link = urlunsplit((scheme, netloc, path, query, ""))
    return link if len(link) <= LINK_LIMIT else None
