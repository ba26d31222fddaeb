"""Subscribers: CSV import (an idempotent upsert), export, erasure on request, unsubscribe.

CSV columns ``email,name,audiences,consent_at,consent_source`` (audiences separated by
``;``). Every row needs an address, at least one audience (from the column or
``--audience``) and the consent's date and source (Ley 1581 de 2012). Bad rows are reported
with their line number and the good ones are still imported. An address that left the
list (unsubscribed, bounced, erased) is never resubscribed by an import: the row is
reported as skipped with the reason. The web desk adds counts per audience and a search.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TextIO
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email

from dispatcher.items.audiences import AUDIENCES, audience_mask, audience_names
from dispatcher.ledger import mail as store
from dispatcher.ledger import subscribers as read
from dispatcher.ledger.mail import Subscriber
from dispatcher.ledger.store import Ledger
from dispatcher.ledger.types import NotFound, SubscriberStatus
from dispatcher.services.mailing.tokens import email_hash, hash_key

COLUMNS = ("email", "name", "audiences", "consent_at", "consent_source")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet may run a cell starting with one of these as a formula (OWASP, "CSV
injection"): the export prefixes such a cell with ``'`` and the import takes it off."""
EXPORT_COLUMNS = (*COLUMNS, "status")
CHUNK = 1000


class SubscriberError(ValueError):
    """A value an editor gave is not acceptable; the message is Spanish."""


def normalise_email(raw: str) -> str:
    """The address as stored: syntax-checked, IDNA domain, lower case."""
    text = raw.strip()
    if not text:
        raise SubscriberError("falta el correo electrónico")
    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise SubscriberError(f"correo electrónico inválido {text!r} ({exc})") from None
    return str(result.ascii_email or result.normalized).lower()


def parse_audiences(raw: str) -> list[str]:
    names = [part.strip().lower() for part in raw.split(";") if part.strip()]
    unknown = [name for name in names if name not in AUDIENCES]
    if unknown:
        raise SubscriberError(
            f"público desconocido {', '.join(repr(u) for u in unknown)} "
            f"(válidos: {', '.join(AUDIENCES)})"
        )
    return names


def parse_consent(raw: str, tz: ZoneInfo, now: datetime) -> datetime:
    text = raw.strip()
    if not text:
        raise SubscriberError("falta la fecha del consentimiento (consent_at)")
    try:
        if len(text) == 10:
            value = datetime.combine(date.fromisoformat(text), time(0), tzinfo=tz)
        else:
            value = datetime.fromisoformat(text)
    except ValueError:
        raise SubscriberError(
            f"fecha de consentimiento inválida {text!r}: use AAAA-MM-DD o AAAA-MM-DDTHH:MM"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    if value > now + timedelta(days=1):
        raise SubscriberError(f"la fecha de consentimiento {text} está en el futuro")
    return value


@dataclass
class _Row:
    line: int
    email: str
    hash: str
    name: str | None
    mask: int
    consent_at: datetime
    consent_source: str


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[tuple[int, str, str]] = field(default_factory=list)  # line, email, why
    errors: list[tuple[int, str]] = field(default_factory=list)  # line, message
    fatal: str | None = None

    def lines(self) -> list[str]:
        """The report in Spanish, one line each."""
        if self.fatal:
            return [self.fatal]
        out = [f"línea {line}: {message}" for line, message in self.errors]
        out += [f"línea {line}: {email} omitida: {why}" for line, email, why in self.skipped]
        out.append(
            f"Importación: {self.added} nueva(s), {self.updated} actualizada(s), "
            f"{self.unchanged} sin cambios, {len(self.skipped)} omitida(s), "
            f"{len(self.errors)} con errores."
        )
        return out


def defuse(cell: str) -> str:
    """``cell`` safe to open in a spreadsheet: ``'`` before a leading ``= + - @``, TAB or
    CR, so it is shown as text and never evaluated (``=HYPERLINK(…)``)."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def restore(cell: str) -> str:
    """The value :func:`defuse` protected (an exported file imports back unchanged)."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def _read_rows(
    stream: TextIO, key: bytes, extra: int, tz: ZoneInfo, report: ImportReport
) -> Iterator[_Row]:
    reader = csv.reader(stream)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        report.fatal = "El archivo CSV está vacío."
        return
    missing = [c for c in COLUMNS if c not in header]
    stray = [c for c in header if c not in EXPORT_COLUMNS]
    if missing or stray or len(set(header)) != len(header):
        hint = " ¿Está separado por punto y coma? Use comas." if len(header) == 1 else ""
        report.fatal = (
            f"línea 1: encabezado inválido: se esperaban las columnas {','.join(COLUMNS)}; "
            f"se encontró {','.join(header)!r}.{hint} Nada se importó."
        )
        return
    where = {name: header.index(name) for name in COLUMNS}
    now = datetime.now(UTC)
    last = reader.line_num
    for record in reader:
        line, last = last + 1, reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            report.errors.append((line, f"se esperaban {len(header)} columnas y hay {len(record)}"))
            continue
        cells = {name: restore(record[i]) for name, i in where.items()}
        problems: list[str] = []
        email = mask = consent = None
        try:
            email = normalise_email(cells["email"])
        except SubscriberError as exc:
            problems.append(str(exc))
        try:
            mask = audience_mask(parse_audiences(cells["audiences"])) | extra
            if not mask:
                problems.append("sin públicos: llene 'audiences' o use --audience")
        except SubscriberError as exc:
            problems.append(str(exc))
        try:
            consent = parse_consent(cells["consent_at"], tz, now)
        except SubscriberError as exc:
            problems.append(str(exc))
        source = cells["consent_source"].strip()
        if not source:
            problems.append("falta el origen del consentimiento (consent_source)")
        name = cells["name"].strip()[:200] or None
        if problems or email is None or mask is None or consent is None:
            report.errors.append((line, "; ".join(problems)))
            continue
        yield _Row(line, email, email_hash(key, email), name, mask, consent, source[:500])


def _chunks(rows: Iterable[_Row]) -> Iterator[dict[str, _Row]]:
    chunk: dict[str, _Row] = {}
    for row in rows:
        previous = chunk.get(row.hash)
        if previous is not None:
            row.mask |= previous.mask
        chunk[row.hash] = row
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = {}
    if chunk:
        yield chunk


async def import_csv(
    ledger: Ledger, stream: TextIO, *, audience: str | None = None, tz: ZoneInfo
) -> ImportReport:
    """Upsert the CSV's subscribers; idempotent (the same file twice changes nothing)."""
    report = ImportReport()
    extra = audience_mask(parse_audiences(audience)) if audience else 0
    key = await hash_key(ledger)
    for chunk in _chunks(_read_rows(stream, key, extra, tz, report)):
        await _upsert(ledger, chunk, report)
    return report


async def _upsert(ledger: Ledger, chunk: dict[str, _Row], report: ImportReport) -> None:
    rows = [
        store.ImportRow(
            row.line, row.email, digest, row.name, row.mask, row.consent_at, row.consent_source
        )
        for digest, row in chunk.items()
    ]
    done = await store.upsert_subscribers(ledger, rows)
    report.added += done.added
    report.updated += done.updated
    report.unchanged += done.unchanged
    for line, email, status, left_at in done.skipped:
        report.skipped.append((line, email, _why_not(status, left_at)))


def _why_not(status: SubscriberStatus, left_at: datetime | None) -> str:
    when = f" el {left_at.date().isoformat()}" if left_at else ""
    if status == SubscriberStatus.ERASED:
        return f"sus datos se eliminaron a petición del titular{when}; no se vuelve a inscribir"
    if status == SubscriberStatus.UNSUBSCRIBED:
        return f"se dio de baja{when}; no se vuelve a inscribir"
    return "su correo rebotó; revíselo antes de volver a inscribirlo"


async def export_csv(ledger: Ledger, out: TextIO, *, tz: ZoneInfo) -> int:
    """Every subscriber not erased, in the import's columns plus ``status``; a cell a
    spreadsheet would take for a formula is prefixed with ``'`` (:func:`defuse`)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    count, last = 0, 0
    while True:
        rows = await store.subscriber_page(ledger, after=last, limit=CHUNK)
        if not rows:
            return count
        for row in rows:
            consent = row.consent_at
            cells = [
                row.email or "", row.name or "", ";".join(audience_names(row.audiences)),
                consent.astimezone(tz).isoformat() if consent else "",
                row.consent_source or "", row.status.value,
            ]  # fmt: skip
            writer.writerow([defuse(cell) for cell in cells])
        count += len(rows)
        last = rows[-1].id


async def remove(ledger: Ledger, raw_email: str) -> str:
    """Erase a person's data on request (Ley 1581), keeping only the address hash: the
    subscriber row is blanked and the address is replaced wherever else the ledger wrote
    it (stored SMTP replies, delivery errors, attempt notes, campaigns…).

    Returns ``erased``, ``already`` (erased before) or ``unknown`` (never subscribed: the
    hash is recorded anyway, so a later import of that address is refused).
    """
    email = normalise_email(raw_email)
    digest = email_hash(await hash_key(ledger), email)
    outcome, _ = await store.erase_subscriber(ledger, digest, email)
    return outcome


async def unsubscribe(ledger: Ledger, subscriber_id: int) -> str | None:
    """One-click unsubscribe: ``done``, ``already`` (not active before) or ``None`` (no
    such subscriber)."""
    try:
        return await store.unsubscribe(ledger, subscriber_id)
    except NotFound:
        return None


async def describe(ledger: Ledger, subscriber_id: int) -> tuple[str, str] | None:
    """(``p***@dominio.co``, status) for the confirmation page; ``None`` if unknown or
    erased."""
    try:
        email, status = await store.subscriber_contact(ledger, subscriber_id)
    except NotFound:
        return None
    if not email:
        return None
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}", status.value


def csv_text(rows: Iterable[Iterable[str]]) -> str:
    """A CSV document from rows (header first): a convenience for tests and scripts."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


@dataclass(frozen=True)
class AudienceCount:
    """Subscribers of one audience by status (erased people have no audience: ``""``)."""

    audience: str
    active: int = 0
    unsubscribed: int = 0
    bounced: int = 0
    erased: int = 0

    @property
    def total(self) -> int:
        return self.active + self.unsubscribed + self.bounced + self.erased


async def audience_counts(ledger: Ledger) -> list[AudienceCount]:
    """Every audience (the known ones first, each even when empty) with its counts."""
    found = await read.counts(ledger)
    names = list(AUDIENCES) + sorted({a for a, _ in found} - set(AUDIENCES) - {""})
    if any(a == "" for a, _ in found):
        names.append("")
    return [
        AudienceCount(name, **{s.value: found[(name, s)] for s in SubscriberStatus})
        for name in names
    ]


async def search(ledger: Ledger, text: str) -> list[Subscriber]:
    """Subscribers (not erased) whose address contains ``text``."""
    return await read.search(ledger, text)
