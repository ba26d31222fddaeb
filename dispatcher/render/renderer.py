"""Rendering: one :class:`~dispatcher.items.model.ContentItem` → one :class:`~channels.base.Post`
per channel, through jinja2 templates, with each channel's length limits checked here.

Templates are looked up as ``<channel>/<kind>.<ext>.j2``, falling back to
``<channel>/default.<ext>.j2``, first in the user's folders and then in the built-in
``templates/``. A part with a limit is rendered with ``variant="full"``; if it is too long,
with ``"short"``, then ``"minimal"``; if even that does not fit, :class:`RenderError`.
Nothing is ever cut: the templates decide what each variant leaves out.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin
from zoneinfo import ZoneInfo

import jinja2

from channels._html import clean_email
from channels.base import Media, Post
from channels.pages import CALENDAR_FILE
from dispatcher.items.model import ContentItem
from dispatcher.items.parse import MAX_BODY_BYTES
from dispatcher.render import filters
from settings import DEFAULT_SITE_NAME

VARIANTS = ("full", "short", "minimal")
UNSUBSCRIBE_PLACEHOLDER = "%%PREGONERO_BAJA%%"
"""Stands for the recipient's unsubscribe URL in mail bodies; the mailing adapter
replaces it per recipient (it is all ASCII and survives HTML escaping unchanged)."""

X_LIMIT = 280
X_URL_LENGTH = 23
TELEGRAM_TEXT_LIMIT = 4096
TELEGRAM_CAPTION_LIMIT = 1024
FACEBOOK_LIMIT = 63_206
SUBJECT_LIMIT = 200

PART_LABELS = {
    "text": "el texto",
    "caption": "el pie de foto",
    "follow_up": "el mensaje de seguimiento",
    "subject": "el asunto",
    "html": "el HTML",
}


def builtin_templates_dir() -> Path:
    """The shipped templates: ``dispatcher/_templates`` in a wheel, else ``templates/``."""
    packaged = Path(__file__).resolve().parents[1] / "_templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "templates"


def template_environment(dirs: Sequence[Path], *, tz: ZoneInfo | None = None) -> jinja2.Environment:
    """A jinja2 environment over ``dirs`` in order (user overrides first); the built-in
    folder is appended when not already listed. ``.html.j2``/``.xml.j2`` are autoescaped,
    ``.txt.j2`` not. Undefined variables are errors. Dates are shown in ``tz``."""
    search = [Path(d) for d in dirs]
    builtin = builtin_templates_dir()
    if all(d.resolve() != builtin for d in search):
        search.append(builtin)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search),
        autoescape=jinja2.select_autoescape(["html", "xml", "html.j2", "xml.j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    zone = tz or filters.DEFAULT_TZ

    def fecha(value: date | datetime | None, format: str = "long") -> str:
        return filters.fecha(value, format, tz=zone)

    env.filters.update(
        fecha=fecha,
        markdown_html=filters.markdown_html,
        telegram_html=filters.telegram_html,
        plain=filters.plain,
        hashtags=filters.hashtags,
        lista=filters.lista,
        convocatoria=filters.convocatoria,
    )
    env.globals.update(fecha=fecha, hashtags=filters.hashtags)
    return env


class RenderError(Exception):
    """An item cannot be rendered for a channel (a part too long even in its shortest
    variant, or no template). The message is Spanish, for editors."""

    def __init__(
        self,
        message: str,
        *,
        channel: str,
        part: str | None = None,
        length: int | None = None,
        limit: int | None = None,
    ) -> None:
        super().__init__(message)
        self.channel = channel
        self.part = part
        self.length = length
        self.limit = limit


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


def visible_text(markup: str) -> str:
    """What Telegram shows of an HTML message: tags removed, entities decoded."""
    collector = _TextCollector()
    collector.feed(markup)
    collector.close()
    return "".join(collector.chunks)


def telegram_length(markup: str) -> int:
    """Telegram's length of an HTML message, counted after entity parsing in UTF-16 code
    units (what Telegram's offsets use; never less than the count of characters)."""
    return len(visible_text(markup).strip().encode("utf-16-le")) // 2


_MAY_HOLD_EMOJI = re.compile("[^\u0000-\u10ff]|[\u00a9\u00ae]")
"""Outside this, twitter-text's emoji pattern cannot match (its sequences need ©, ® or a
code point from U+2000 on) and every character weighs 1 (its first range ends at U+10FF)."""
_LINE_ENDS = re.compile(r"\r\n|\r|\n")


def x_length(text: str) -> int:
    """X's weighted length (URLs count 23, most CJK and emoji count 2), as
    ``twitter_text.parse_tweet(text).weightedLength``.

    That call scans the text with a 90,000-character emoji pattern (~0.7 ms a post); a text
    made only of characters that weigh 1 and cannot start an emoji is counted directly —
    characters plus 23 per URL, the URLs found by twitter-text's own extractor, on the same
    normalised text (tests/test_render.py compares the two)."""
    # imported on first use: its emoji tables cost ~20 MB that a process sending mail
    # (which renders no post for X) need not carry
    import twitter_text

    normalized = _LINE_ENDS.sub("\n", unicodedata.normalize("NFC", text))
    if _MAY_HOLD_EMOJI.search(normalized):
        return int(twitter_text.parse_tweet(text).weightedLength)
    urls = twitter_text.extract_urls_with_indices(normalized)
    covered = sum(len(url["url"]) for url in urls)
    return len(normalized) - covered + X_URL_LENGTH * len(urls)


@dataclass(frozen=True)
class _Part:
    name: str
    suffix: str
    limit: int | None = None
    measure: Callable[[str], int] = len
    unit: str = "caracteres"
    tidy: bool = True
    """Template whitespace cleanup; off for full HTML documents, where ``<pre>`` counts."""
    final: Callable[[str], str] | None = None
    """The last pass over the rendered text (the e-mail's HTML: nh3, see channels._html)."""


_TEXT_LIMITED = {
    "x": _Part("text", "txt", X_LIMIT, x_length, "caracteres ponderados"),
    "telegram": _Part("text", "html", TELEGRAM_TEXT_LIMIT, telegram_length, "caracteres visibles"),
    "facebook": _Part("text", "txt", FACEBOOK_LIMIT),
}
CHANNEL_PARTS: dict[str, tuple[_Part, ...]] = {
    "website": (_Part("text", "html", tidy=False),),
    "telegram": (_TEXT_LIMITED["telegram"],),
    "x": (_TEXT_LIMITED["x"],),
    "facebook": (_TEXT_LIMITED["facebook"],),
    "mailing": (
        _Part("subject", "subject.txt", SUBJECT_LIMIT),
        _Part("text", "txt"),
        _Part("html", "html", tidy=False, final=clean_email),
    ),
}
_CAPTION = _Part("caption", "html", TELEGRAM_CAPTION_LIMIT, telegram_length, "caracteres visibles")
_FOLLOW_UP = _Part("follow_up", "html", TELEGRAM_TEXT_LIMIT, telegram_length, "caracteres visibles")
_BLANK_LINES = re.compile(r"\n{3,}")


def _tidy(text: str) -> str:
    """Trailing spaces off every line, at most one blank line in a row, no outer blanks."""
    lines = "\n".join(line.rstrip() for line in text.strip().split("\n"))
    return _BLANK_LINES.sub("\n\n", lines)


def _template_error(
    channel: str, exc: jinja2.TemplateError, name: str | None = None
) -> RenderError:
    """A broken (user) template, named with its line when jinja knows it."""
    where = getattr(exc, "name", None) or name or "?"
    line = getattr(exc, "lineno", None)
    at = f", línea {line}" if line else ""
    return RenderError(
        f"{channel}: la plantilla {where}{at} tiene un error: {exc.message or exc}",
        channel=channel,
    )


def _guess_mime(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


class Renderer:
    """Renders items for channels. Built once; templates are compiled once and cached.

    ``dirs`` are user template folders (searched before the built-in ones), ``labels`` maps
    a kind to its Spanish label (from the plan), ``site_name`` is
    ``settings.website.site_name``: it is also a global of :attr:`environment`, so every
    template rendered through it (posts, the bulletin, the plan report, the website
    layouts) names the site the same way.
    """

    def __init__(
        self,
        dirs: Sequence[Path],
        tz: ZoneInfo,
        labels: Mapping[str, str],
        site_name: str = DEFAULT_SITE_NAME,
        *,
        calendar_beside_page: bool = False,
    ) -> None:
        self.tz = tz
        self.calendar_beside_page = calendar_beside_page
        """Whether the website keeps an event's ``.ics`` beside its page (the static site
        does: :data:`channels.pages.CALENDAR_FILE`), so posts can link it."""
        self.labels = dict(labels)
        self.site_name = site_name
        self.environment = template_environment(dirs, tz=tz)
        self.environment.globals["site_name"] = site_name
        self._cache: dict[tuple[str, str, str], jinja2.Template] = {}

    def label(self, kind: str) -> str:
        return self.labels.get(kind) or kind.replace("_", " ").capitalize()

    def template(self, channel: str, kind: str, suffix: str) -> jinja2.Template:
        """``<channel>/<kind>.<suffix>.j2`` or ``<channel>/default.<suffix>.j2``, cached."""
        key = (channel, kind, suffix)
        cached = self._cache.get(key)
        if cached is None:
            names = [f"{channel}/{kind}.{suffix}.j2", f"{channel}/default.{suffix}.j2"]
            try:
                cached = self.environment.select_template(names)
            except jinja2.TemplatesNotFound as exc:
                raise RenderError(
                    f"{channel}: no hay plantilla {names[0]} ni {names[1]}", channel=channel
                ) from exc
            except jinja2.TemplateSyntaxError as exc:
                raise _template_error(channel, exc) from exc
            self._cache[key] = cached
        return cached

    def _aware(self, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=self.tz) if value.tzinfo is None else value

    def _context(
        self, item: ContentItem, channel: str, url: str | None, revision: int, media_base: str
    ) -> dict[str, Any]:
        def media_url(relative: str) -> str:
            return media_base + quote(relative)

        image_src = None
        if item.meta.image:
            if media_base:
                image_src = media_url(item.meta.image)
            elif url:
                image_src = urljoin(url, quote(item.meta.image))
        calendar_url = None
        if url and item.meta.event and self.calendar_beside_page:
            calendar_url = urljoin(url if url.endswith("/") else url + "/", CALENDAR_FILE)
        return {
            "item": item,
            "meta": item.meta,
            "body_md": item.body,
            "url": url,
            "calendar_url": calendar_url,
            "channel": channel,
            "kind_label": self.label(item.kind),
            "site_name": self.site_name,
            "revision": revision,
            "published": self._aware(item.publish_at) or item.date,
            "event_starts_at": self._aware(item.meta.event.starts_at) if item.meta.event else None,
            "media_url": media_url,
            "image_src": image_src,
            "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,
        }

    def _fit(
        self,
        channel: str,
        kind: str,
        part: _Part,
        context: dict[str, Any],
        variants: Sequence[str] = VARIANTS,
    ) -> tuple[str, str]:
        """The first variant of ``part`` that fits its limit: (variant, text)."""
        template = self.template(channel, kind, part.suffix)
        length = 0
        for variant in variants:
            try:
                text = template.render({**context, "variant": variant})
            except jinja2.TemplateError as exc:
                raise _template_error(channel, exc, template.name) from exc
            text = _tidy(text) if part.tidy else text.strip()
            if part.final is not None:
                text = part.final(text)
            if part.name == "subject":
                text = " ".join(text.split())
            if part.limit is None:
                return variant, text
            length = part.measure(text)
            if length <= part.limit:
                return variant, text
        assert part.limit is not None
        raise RenderError(
            f"{channel}: {PART_LABELS.get(part.name, part.name)} mide {length} {part.unit}; "
            f"el límite es {part.limit}, incluso con la versión corta",
            channel=channel,
            part=part.name,
            length=length,
            limit=part.limit,
        )

    def render(
        self,
        item: ContentItem,
        channel: str,
        *,
        url: str | None = None,
        revision: int = 1,
        remote_id: str | None = None,
        media_base: str = "",
    ) -> Post:
        """Render ``item`` for ``channel``. ``url`` is the item's public page (from the
        website delivery) when known; ``media_base`` is prefixed to media paths in links.
        Raises :class:`RenderError` when a part cannot fit its channel's limit, or the body
        is over the intake's size limit (rendering time grows with it: an item recorded
        before the limit existed is refused here rather than rendered for minutes)."""
        size = len(item.body.encode("utf-8"))
        if size > MAX_BODY_BYTES:
            limit = f"{MAX_BODY_BYTES:,}".replace(",", ".")
            raise RenderError(
                f"{channel}: el texto pesa {size:,} bytes".replace(",", ".")
                + f"; el máximo es {limit}: divídalo en varias piezas",
                channel=channel,
                part="text",
                length=size,
                limit=MAX_BODY_BYTES,
            )
        meta = item.meta
        context = self._context(item, channel, url, revision, media_base)
        parts: dict[str, str] = {}
        specs = CHANNEL_PARTS.get(channel, (_Part("text", "txt"),))
        text = ""
        text_variant = "full"
        for spec in specs:
            variant, rendered = self._fit(channel, item.kind, spec, context)
            if spec.name == "text":
                text, text_variant = rendered, variant
            else:
                parts[spec.name] = rendered

        image = None
        if meta.image:
            path = item.media_path(meta.image)
            image = Media(path=path, alt=meta.image_alt or "", mime=_guess_mime(path))
        if channel == "telegram" and image is not None:
            if telegram_length(text) <= TELEGRAM_CAPTION_LIMIT:
                parts["caption"] = text
            else:
                rest = VARIANTS[VARIANTS.index(text_variant) + 1 :]
                if not rest:
                    rest = (text_variant,)
                _, parts["caption"] = self._fit(channel, item.kind, _CAPTION, context, rest)
                parts["follow_up"] = text
        attachments = tuple(
            Media(path=item.media_path(a), mime=_guess_mime(item.media_path(a)))
            for a in meta.attachments
        )
        published_at = self._aware(item.publish_at)
        post_meta: dict[str, Any] = {
            "kind": item.kind,
            "kind_label": self.label(item.kind),
            "date": item.date,
            "publish_at": published_at,
            "dependencia": meta.dependencia,
            "tags": list(meta.tags),
            "event": None,
            "base_dir": str(item.base_dir),
        }
        if meta.event is not None:
            post_meta["event"] = {
                "starts_at": context["event_starts_at"],
                "place": meta.event.place,
                "speakers": list(meta.event.speakers),
            }
        return Post(
            item_id=item.id,
            channel=channel,
            kind=item.kind,
            title=item.title,
            text=text,
            summary=item.summary,
            url=url,
            image=image,
            attachments=attachments,
            video=meta.video,
            parts=parts,
            meta=post_meta,
            published_at=published_at,
            revision=revision,
            remote_id=remote_id,
        )


def measure(post: Post) -> list[tuple[str, int, int | None]]:
    """Each rendered part of ``post`` as (part, length, limit), in the channel's own
    measure (X weighted, Telegram visible characters), for ``pregonero preview``."""
    limited = _TEXT_LIMITED.get(post.channel)
    measure_text = limited.measure if limited else len
    rows: list[tuple[str, int, int | None]] = [
        ("text", measure_text(post.text), limited.limit if limited else None)
    ]
    for name, value in post.parts.items():
        if post.channel == "telegram" and name in ("caption", "follow_up"):
            spec = _CAPTION if name == "caption" else _FOLLOW_UP
            rows.append((name, telegram_length(value), spec.limit))
        elif name == "subject":
            rows.append((name, len(value), SUBJECT_LIMIT))
        else:
            rows.append((name, len(value), None))
    return rows
