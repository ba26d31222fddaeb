"""The communications plan (``content/plan.yaml``): what goes where, how often, to whom.

``load_plan`` turns the YAML into a validated :class:`Plan`; every problem becomes one
:class:`PlanError` in Spanish naming the file, the YAML path and the line. The plan then
answers three questions for the rest of the dispatcher: which channels an item goes to
(:meth:`Plan.channels_for`), which mailing lists get it (:meth:`Plan.audiences_for`) and when a
recurring programme next starts (:meth:`Plan.next_occurrences`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from dispatcher.items.fields import HHMM, Audience, Duration, Text
from dispatcher.items.fields import Strict as _Strict
from dispatcher.items.fields import unique as _unique
from dispatcher.items.model import ID_PATTERN, ChannelSelection
from dispatcher.items.monitoring import MonitoringPlan
from dispatcher.items.yamlread import YamlError, read_yaml

Frequency = Literal[
    "daily", "weekly", "biweekly", "bimonthly", "quarterly", "as_needed", "permanent"
]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[str, ...] = get_args(Weekday)
Loc = tuple[str | int, ...]


def _known_channel(value: str, info: ValidationInfo) -> str:
    known = (info.context or {}).get("known_channels")
    if known is not None and value not in known:
        raise ValueError(f"canal desconocido {value!r}; disponibles: {', '.join(sorted(known))}")
    return value


def _fail(loc: Loc, detail: str) -> PydanticCustomError:
    """A cross-field error that still knows its YAML path (``loc``) for the line number."""
    return PydanticCustomError(
        "plan", "{path}: {detail}", {"path": _dotted(loc), "detail": detail, "loc": loc}
    )


CHANNEL_PATTERN, KIND_PATTERN = r"^[a-z][a-z0-9_]{0,39}$", r"^[a-z_]{2,40}$"
Channel = Annotated[str, StringConstraints(pattern=CHANNEL_PATTERN), AfterValidator(_known_channel)]
KindKey = Annotated[str, StringConstraints(pattern=KIND_PATTERN)]


class MailingRule(_Strict):
    """Who gets a kind by e-mail, and whether at once or in the day's digest at ``at``."""

    audiences: list[Audience] = Field(min_length=1)
    mode: Literal["immediate", "digest"] = "immediate"
    at: HHMM | None = None

    @model_validator(mode="after")
    def _check(self) -> MailingRule:
        _unique(self.audiences, "públicos")
        if self.mode == "digest" and self.at is None:
            raise ValueError("el modo 'digest' requiere 'at' (hora del envío, \"HH:MM\")")
        if self.mode == "immediate" and self.at is not None:
            raise ValueError("'at' solo aplica al modo 'digest'")
        return self


class EarlyRule(_Strict):
    """A call that goes out ``before`` the event starts (e.g. journalists, 24 h ahead)."""

    channels: list[Channel] = Field(min_length=1)
    audiences: list[Audience] = Field(default_factory=list)
    before: Duration

    @model_validator(mode="after")
    def _check(self) -> EarlyRule:
        _unique(self.channels, "canales")
        if ("mailing" in self.channels) != bool(self.audiences):
            raise ValueError("'audiences' va con el canal 'mailing' (ambos o ninguno)")
        return self


class KindPlan(_Strict):
    """One kind of content: the plan's activity, its frequency, channels and rules."""

    key: str  # the name under `kinds:`, filled in by Plan
    label: Text
    activity: int = Field(ge=1, le=99)
    frequency: Frequency
    channels: list[Channel] = Field(min_length=1)
    mailing: MailingRule | None = None
    approval: Literal["none", "required"] = "none"
    approvers: int = Field(default=1, ge=1, le=5)
    early: EarlyRule | None = None
    corrections: Literal["none", "mail"] = "none"
    """``mail``: a correction also sends a short notice to those who got the piece by mail."""

    @model_validator(mode="after")
    def _check(self) -> KindPlan:
        _unique(self.channels, "canales")
        if ("mailing" in self.channels) != (self.mailing is not None):
            raise ValueError("el canal 'mailing' y la regla 'mailing' van juntos (ambos o ninguno)")
        if self.approvers > 1 and self.approval != "required":
            raise ValueError("'approvers' mayor que 1 requiere 'approval: required'")
        if self.early and (extra := set(self.early.channels) - set(self.channels)):
            raise ValueError(f"'early' usa canales fuera de 'channels': {', '.join(sorted(extra))}")
        return self


class Recurring(_Strict):
    """A programme announced on a weekly cadence (every ``every_weeks`` weeks from ``anchor``)."""

    id: Annotated[str, StringConstraints(pattern=ID_PATTERN)]
    kind: KindKey
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200)]
    summary: Annotated[str, StringConstraints(strip_whitespace=True, max_length=600)] = ""
    weekday: Weekday
    time: HHMM
    announce_before: Duration | None = None
    every_weeks: int = Field(default=1, ge=1, le=8)
    anchor: date | None = None
    channels: list[Channel] | None = None

    @model_validator(mode="after")
    def _check(self) -> Recurring:
        if self.every_weeks > 1 and self.anchor is None:
            raise ValueError("'every_weeks' mayor que 1 requiere 'anchor' (fecha de una emisión)")
        if self.anchor and self.anchor.weekday() != WEEKDAYS.index(self.weekday):
            day = WEEKDAYS[self.anchor.weekday()]
            raise ValueError(f"'anchor' {self.anchor} cae en {day}, no en {self.weekday}")
        return self

    def announce_at(self, start: datetime) -> datetime:
        """When to announce the programme that starts at ``start``."""
        return start - (self.announce_before or timedelta(0))


class Plan(_Strict):
    timezone: str = "America/Bogota"
    kinds: dict[KindKey, KindPlan] = Field(min_length=1)
    recurring: list[Recurring] = Field(default_factory=list)
    monitoring: MonitoringPlan | None = None
    """Press monitoring (activity 3): absent or ``null`` = off."""

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"zona horaria desconocida: {value!r}") from exc
        return value

    @model_validator(mode="before")
    @classmethod
    def _inject_keys(cls, data: Any) -> Any:
        kinds = data.get("kinds") if isinstance(data, dict) else None
        if isinstance(kinds, dict):
            for name, body in kinds.items():
                if isinstance(body, dict) and "key" in body:
                    raise _fail(("kinds", name, "key"), "no escriba 'key': es el nombre del tipo")
            data = {
                **data,
                "kinds": {
                    k: {**v, "key": k} if isinstance(v, dict) else v for k, v in kinds.items()
                },
            }
        return data

    @model_validator(mode="after")
    def _cross(self) -> Plan:
        for i, rec in enumerate(self.recurring):
            if rec.id in (r.id for r in self.recurring[:i]):
                raise _fail(("recurring", i, "id"), f"id repetido {rec.id!r}")
            if rec.kind not in self.kinds:
                raise _fail(("recurring", i, "kind"), f"tipo {rec.kind!r} no definido en 'kinds'")
            if extra := set(rec.channels or ()) - set(self.kinds[rec.kind].channels):
                raise _fail(
                    ("recurring", i, "channels"),
                    f"canales fuera del plan de {rec.kind!r}: {', '.join(sorted(extra))}",
                )
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def used_channels(self) -> list[str]:
        """Every channel some kind of the plan sends to, sorted (no delivery names another)."""
        return sorted({c for kind in self.kinds.values() for c in kind.channels})

    def kind(self, key: str) -> KindPlan:
        try:
            return self.kinds[key]
        except KeyError:
            raise ValueError(
                f"tipo de contenido desconocido {key!r}; el plan define: {', '.join(self.kinds)}"
            ) from None

    def channels_for(self, kind: str, selection: ChannelSelection | None) -> list[str]:
        """The kind's plan channels (in plan order), narrowed by the item's ``only``/``exclude``."""
        planned = self.kind(kind).channels
        if selection is None:
            return list(planned)
        field = "only" if selection.only is not None else "exclude"
        named = selection.only if selection.only is not None else selection.exclude
        if stray := [c for c in named if c not in planned]:
            raise ValueError(
                f"channels.{field}: {', '.join(stray)} no está en el plan de {kind!r}"
                f" (canales del plan: {', '.join(planned)})"
            )
        chosen = [c for c in planned if (c in named) == (field == "only")]
        if not chosen:
            raise ValueError(f"channels.{field}: el contenido no quedaría en ningún canal")
        return chosen

    def audiences_for(self, kind: str, item_audiences: Sequence[str] | None) -> list[str]:
        """Mailing lists: the plan's, or the item's subset of them; [] for a kind not mailed."""
        rule = self.kind(kind).mailing
        if rule is None:
            if item_audiences:
                raise ValueError(f"audiences: {kind!r} no se envía por correo según el plan")
            return []
        if item_audiences is None:
            return list(rule.audiences)
        if stray := [a for a in item_audiences if a not in rule.audiences]:
            raise ValueError(
                f"audiences: {', '.join(stray)} no está en el plan de {kind!r}"
                f" (públicos del plan: {', '.join(rule.audiences)})"
            )
        if not item_audiences:
            raise ValueError("audiences: la lista está vacía")
        return [a for a in rule.audiences if a in item_audiences]

    def next_occurrences(
        self, recurring: Recurring | str, after: datetime, until: datetime
    ) -> list[datetime]:
        """Programme starts in ``(after, until]``, aware in the plan's zone (naive = plan zone)."""
        rec = (
            recurring
            if isinstance(recurring, Recurring)
            else next((r for r in self.recurring if r.id == recurring), None)
        )
        if rec is None:
            raise ValueError(f"programa recurrente desconocido {recurring!r}")
        tz = self.tz
        lo, hi = (d if d.tzinfo else d.replace(tzinfo=tz) for d in (after, until))
        day = lo.astimezone(tz).date()
        day += timedelta(days=(WEEKDAYS.index(rec.weekday) - day.weekday()) % 7)
        anchor = rec.anchor or day
        found: list[datetime] = []
        while day <= hi.astimezone(tz).date():
            start = datetime.combine(day, rec.time, tzinfo=tz)
            if ((day - anchor).days // 7) % rec.every_weeks == 0 and lo < start <= hi:
                found.append(start)
            day += timedelta(days=7)
        return found


class PlanError(Exception):
    """The plan cannot be used; ``str()`` is a Spanish message with file, YAML path and line."""

    def __init__(self, path: Path, problems: Sequence[tuple[str, int, str]]) -> None:
        self.path, self.problems = path, list(problems)
        lines = [
            f"  línea {line}, {where or '(raíz)'}: {what}" for where, line, what in self.problems
        ]
        super().__init__(f"Plan de comunicaciones inválido ({path}):\n" + "\n".join(lines))


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_SPANISH = {
    "missing": "falta este campo obligatorio",
    "extra_forbidden": "clave desconocida (¿error de escritura?)",
    "string_type": "se espera un texto",
    "int_type": "se espera un número entero",
    "int_parsing": "se espera un número entero",
    "list_type": "se espera una lista",
    "dict_type": "se espera un mapa (clave: valor)",
    "model_type": "se espera un mapa (clave: valor)",
    "date_type": "se espera una fecha AAAA-MM-DD",
    "date_parsing": "se espera una fecha AAAA-MM-DD",
    "date_from_datetime_parsing": "se espera una fecha AAAA-MM-DD",
    "time_delta_parsing": 'duración inválida: use ISO 8601, p. ej. "PT30M"',
    "too_short": "no puede estar vacío",
}


_FORMATS = {
    KIND_PATTERN: "minúsculas y '_' (p. ej. rueda_de_prensa)",
    CHANNEL_PATTERN: "minúsculas, números y '_' (p. ej. website)",
    ID_PATTERN: "minúsculas, números y '-' (p. ej. mesa-publica)",
}


def _spanish(err: Any) -> tuple[Loc, str]:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "plan":
        return tuple(ctx["loc"]), str(ctx["detail"])
    loc = tuple(p for p in err["loc"] if p != "[key]")
    if kind == "value_error":
        return loc, str(ctx.get("error", err["msg"]))
    if kind == "literal_error":
        return loc, f"valor {err['input']!r} no permitido; se espera {ctx['expected']}".replace(
            " or ", " o "
        )
    if kind == "string_pattern_mismatch":
        return loc, f"{err['input']!r}: use " + _FORMATS.get(ctx["pattern"], ctx["pattern"])
    if kind in ("greater_than_equal", "less_than_equal"):
        sign = "≥" if kind == "greater_than_equal" else "≤"
        return loc, f"el valor debe ser {sign} {ctx.get('ge', ctx.get('le'))}"
    return loc, _SPANISH.get(kind, err["msg"])


def load_plan(path: Path, known_channels: Collection[str], *, timezone: str | None = None) -> Plan:
    """Read and validate ``path``; channels must be in ``known_channels``. Raises PlanError.

    ``timezone`` is the one source of the time zone (``PREGONERO_TIMEZONE``): the plan takes
    it, and a plan whose own ``timezone:`` says otherwise is refused with its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = (
            "no es UTF-8" if isinstance(exc, UnicodeDecodeError) else (exc.strerror or str(exc))
        )
        raise PlanError(path, [("", 1, f"no se pudo leer el archivo: {reason}")]) from None
    try:
        doc = read_yaml(text)
    except YamlError as exc:
        raise PlanError(
            path,
            [
                (
                    _dotted(p.path),
                    (p.line or 0) + 1,
                    _yaml_problem(p.message.replace("{}", str((p.first_line or 0) + 1))),
                )
                for p in exc.problems
            ],
        ) from None
    data = doc.data
    if not isinstance(data, dict):
        raise PlanError(
            path, [("", 1, "el plan debe ser un mapa con 'timezone', 'kinds' y 'recurring'")]
        )
    if timezone is not None:
        written = data.get("timezone")
        if written is not None and written != timezone:
            line = doc.line_of(("timezone",)) + 1
            why = (
                f"el plan dice {written!r} pero PREGONERO_TIMEZONE es {timezone!r}: la zona "
                "horaria se configura en un solo lugar; quite 'timezone' del plan o use la misma"
            )
            raise PlanError(path, [("timezone", line, why)])
        data = {**data, "timezone": timezone}
    try:
        return Plan.model_validate(data, context={"known_channels": frozenset(known_channels)})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc, what = _spanish(err)
            problems.append((_dotted(loc), doc.line_of(loc) + 1, what))
        raise PlanError(path, problems) from None


def _yaml_problem(message: str) -> str:
    unreadable = "no se puede leer"
    if message.startswith(unreadable):
        return "YAML inválido" + message[len(unreadable) :]
    return message


def default_plan_path() -> Path:
    """``<repo>/content/plan.yaml``, or the copy packaged as ``dispatcher/_plan.yaml``."""
    repo = Path(__file__).resolve().parents[2] / "content" / "plan.yaml"
    packaged = Path(__file__).resolve().parents[1] / "_plan.yaml"
    return packaged if not repo.exists() and packaged.exists() else repo
