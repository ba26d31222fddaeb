"""The content file's front matter as a validated model (what editors write).

A content file is Markdown with YAML front matter. Required: ``kind`` and ``title``. Unknown
keys are an error. Parsing (with line numbers for errors) lives in ``frontmatter.py``; this
module only says what a valid item is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,118}[a-z0-9]$"


def _relative_media_path(value: str) -> str:
    """A media path must be relative and stay inside the file's folder tree."""
    path = PurePosixPath(value.replace("\\", "/"))
    if not path.parts or path.parts == (".",):  # '.', './': the folder itself
        raise ValueError("la ruta no nombra ningún archivo: escriba el nombre del archivo")
    if path.is_absolute() or value.startswith(("/", "~")) or ":" in path.parts[0]:
        raise ValueError("la ruta debe ser relativa a la carpeta del archivo")
    if any(part == ".." for part in path.parts):
        raise ValueError("la ruta no puede salir de la carpeta de contenido ('..')")
    return str(path)


MIN_YEAR, MAX_YEAR = 1900, 2999


def _in_range(value: object) -> object:
    """Refuse dates no calendar arithmetic can carry (year 9999 overflows in UTC)."""
    if isinstance(value, date) and not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"fecha fuera de rango: use un año entre {MIN_YEAR} y {MAX_YEAR}")
    return value


IMAGE_ALT_REQUIRED = (
    "falta la descripción de la imagen ('image_alt'): descríbala en una frase; va en la web, "
    "en X y en el correo para que las personas ciegas también reciban la imagen"
)
EVENT_REQUIRED = (
    "una 'rueda_de_prensa' requiere 'event' con 'starts_at' (fecha y hora) y 'place' (lugar)"
)


def _ctx(field: str, near: str) -> dict[str, object]:
    return {"field": field, "near": near}


MediaPath = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=300),
    AfterValidator(_relative_media_path),  # per item, so an error names ``attachments[i]``
]


def _needs_time(value: object) -> object:
    """A publication or event time needs a time of day: a bare date would mean midnight."""
    bare = isinstance(value, date) and not isinstance(value, datetime)
    if bare or (isinstance(value, str) and len(value.strip()) == 10 and value.count("-") == 2):
        raise PydanticCustomError(
            "time_required",
            "falta la hora: escriba fecha y hora, p. ej. 2024-05-02T08:30",
        )
    return value


class _Strict(BaseModel):
    # Numbers are text where text is expected: ``title: 2024`` or ``id: 20240501`` read as
    # YAML numbers but mean text.
    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, frozen=True, coerce_numbers_to_str=True
    )


class ChannelSelection(_Strict):
    only: list[str] | None = None
    exclude: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_both(self) -> ChannelSelection:
        if self.only is not None and self.exclude:
            raise ValueError("use 'only' o 'exclude', no ambos")
        return self


class Event(_Strict):
    starts_at: datetime
    place: Text
    speakers: list[Text] = Field(default_factory=list)

    _starts_at_time = field_validator("starts_at", mode="before")(_needs_time)
    _starts_at_range = field_validator("starts_at")(_in_range)


class FrontMatter(_Strict):
    """Every key an editor may write. ``extra='forbid'``: a typo is an error."""

    kind: Annotated[str, StringConstraints(pattern=r"^[a-z_]{2,40}$")]
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200)]
    id: Annotated[str, StringConstraints(pattern=ID_PATTERN)] | None = None
    summary: Annotated[str, StringConstraints(strip_whitespace=True, max_length=600)] | None = None
    # ``dt.date``: a field named ``date`` shadows the type inside the class body.
    date: dt.date | None = None
    publish_at: datetime | None = None
    dependencia: Text | None = None
    tags: list[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    ] = Field(default_factory=list, max_length=20)
    image: MediaPath | None = None
    image_alt: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=1000)]
        | None
    ) = None
    attachments: list[MediaPath] = Field(default_factory=list, max_length=10)
    video: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")] | None = None
    channels: ChannelSelection | None = None
    audiences: list[str] | None = None
    event: Event | None = None
    correccion: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]
        | None
    ) = None
    """The editor's note shown with a correction (website, Facebook, Telegram, X's reply)."""

    _publish_at_time = field_validator("publish_at", mode="before")(_needs_time)
    _dates_range = field_validator("publish_at", "date")(_in_range)

    @field_validator("date", mode="before")
    @classmethod
    def _date_only(cls, value: object) -> object:
        if isinstance(value, datetime):
            return value.date()
        return value

    @model_validator(mode="after")
    def _cross_field(self) -> FrontMatter:
        # ``ctx['field']`` names the missing field and ``ctx['near']`` the key whose line
        # to point at, so the parser can say "línea N, campo 'image_alt'".
        if self.image and not self.image_alt:
            raise PydanticCustomError(
                "image_alt_required", IMAGE_ALT_REQUIRED, _ctx("image_alt", "image")
            )
        if self.kind == "rueda_de_prensa" and self.event is None:
            raise PydanticCustomError("event_required", EVENT_REQUIRED, _ctx("event", "kind"))
        return self

    @property
    def media(self) -> list[str]:
        return ([self.image] if self.image else []) + list(self.attachments)


@dataclass(frozen=True)
class ContentItem:
    """A validated content file with its defaults resolved.

    ``base_dir`` is the folder the media paths are relative to (the inbox while the file is
    taken in, its archive folder afterwards). ``digest`` is the SHA-256 of the file's bytes
    plus its media's bytes: same id + same digest is a duplicate, a new digest a correction.
    """

    meta: FrontMatter
    body: str
    id: str
    summary: str
    date: dt.date
    publish_at: datetime | None
    base_dir: Path
    digest: str
    source_name: str = ""

    @property
    def kind(self) -> str:
        return self.meta.kind

    @property
    def title(self) -> str:
        return self.meta.title

    def media_path(self, relative: str) -> Path:
        return self.base_dir / relative
