"""The plan's ``monitoring:`` section: press monitoring, activity 3 of the 2017 plan.

```yaml
monitoring:
  every: PT30M            # how often `pregonero run` reads the sources
  digest_at: "07:00"      # the editors get the day's clippings (bot, and mail)
  keywords: ["Alcaldía de Bucaramanga", "Metrolínea"]
  audiences: [funcionarios]   # who gets the digest by e-mail ([] = nobody)
  sources:
    - {name: Vanguardia, url: "https://…/rss"}
```

Validated like the rest of the plan (:func:`dispatcher.items.plan.load_plan` names the
field and the line). :func:`fold` is the one definition of "case and accents aside": the
keyword check here and the matcher (:mod:`dispatcher.services.monitoring.match`) use it.
"""

from __future__ import annotations

import unicodedata
from datetime import time, timedelta
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from dispatcher.items.fields import HHMM, Audience, Duration, Strict

MIN_EVERY = timedelta(minutes=1)
"""Reading a newsroom's feed more often than this is rude (and never needed)."""
MAX_SOURCES = 100
MAX_KEYWORDS = 100


def fold(text: str) -> str:
    """``text`` without case or accents (NFKD, combining marks dropped, casefolded), with
    runs of whitespace as one space: "Alcaldía  DE Bucaramanga" → "alcaldia de bucaramanga"."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def _feed_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r}: use una dirección http:// o https:// completa")
    if parts.username or parts.password:
        raise ValueError("la dirección no puede llevar usuario ni contraseña")
    if any(c.isspace() or ord(c) < 32 for c in value):
        raise ValueError(f"{value!r}: la dirección no puede tener espacios")
    return value


def _keyword(value: str) -> str:
    if not fold(value) or not any(c.isalnum() for c in value):
        raise ValueError(f"palabra clave vacía o sin letras: {value!r}")
    return " ".join(value.split())


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
FeedUrl = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=2000), AfterValidator(_feed_url)
]
Keyword = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=100),
    AfterValidator(_keyword),
]  # fmt: skip


class Source(Strict):
    """One outlet's feed (RSS 0.9x/1.0/2.0 or Atom)."""

    name: Name
    url: FeedUrl


class MonitoringPlan(Strict):
    """What to read, how often, what to look for, and when the digest goes out."""

    every: Duration = timedelta(minutes=30)
    digest_at: HHMM = time(7, 0)
    keywords: list[Keyword] = Field(min_length=1, max_length=MAX_KEYWORDS)
    sources: list[Source] = Field(min_length=1, max_length=MAX_SOURCES)
    audiences: list[Audience] = Field(default_factory=lambda: ["funcionarios"])

    @model_validator(mode="after")
    def _check(self) -> MonitoringPlan:
        if self.every < MIN_EVERY:
            raise _fail(("every",), "debe ser de al menos un minuto (PT1M)")
        _first_repeat([fold(k) for k in self.keywords], ("keywords",), "palabra clave")
        _first_repeat([fold(s.name) for s in self.sources], ("sources", "name"), "medio")
        _first_repeat([s.url for s in self.sources], ("sources", "url"), "dirección")
        _first_repeat(list(self.audiences), ("audiences",), "público")
        return self


def _fail(loc: tuple[str | int, ...], detail: str) -> PydanticCustomError:
    """An error the plan's loader reports at ``monitoring.<loc>`` with its line."""
    full = ("monitoring", *loc)
    path = ".".join(str(p) for p in full)
    return PydanticCustomError(
        "plan", "{path}: {detail}", {"path": path, "detail": detail, "loc": full}
    )


def _first_repeat(values: list[str], where: tuple[str, ...], what: str) -> None:
    """Refuse the first value seen before (case and accents aside where folded)."""
    for index, value in enumerate(values):
        if value in values[:index]:
            first = values.index(value)
            loc: tuple[str | int, ...] = (where[0], index, *where[1:])
            raise _fail(
                loc, f"{what} repetido (igual al n.º {first + 1}, sin mayúsculas ni tildes)"
            )
