"""Subscribers: CSV import (an idempotent upsert), export, erasure on request, unsubscribe.

CSV columns ``email,name,audiences,consent_at,consent_source`` (audiences separated by
``;``). Every row needs an address, at least one audience (from the column or
``--audience``) and the consent's date and source (Ley 1581 de 2012). Bad rows are reported
with their line number and the good ones are still imported. An address that left the
list (unsubscribed, bounced, erased) is never resubscribed by an import: the row is
reported as skipped with the reason.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TextIO
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.ledger.schema import AUDIENCES, audience_mask, audience_names, subscribers, utcnow
from dispatcher.ledger.store import Ledger
from dispatcher.services.mailing.tokens import email_hash, hash_key

COLUMNS = ("email", "name", "audiences", "consent_at", "consent_source")
EXPORT_COLUMNS = (*COLUMNS, "status")
CHUNK = 1000
STATUS_ES = {"active": "activa", "unsubscribed": "dada de baja", "bounced": "rebotada"}


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
    now = utcnow()
    last = reader.line_num
    for record in reader:
        line, last = last + 1, reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            report.errors.append((line, f"se esperaban {len(header)} columnas y hay {len(record)}"))
            continue
        cells = {name: record[i] for name, i in where.items()}
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
        async with ledger.engine.begin() as conn:
            await _upsert(conn, chunk, report)
    return report


async def _upsert(conn: AsyncConnection, chunk: dict[str, _Row], report: ImportReport) -> None:
    now = utcnow()
    found = {
        row.email_hash: row
        for row in (
            await conn.execute(select(subscribers).where(subscribers.c.email_hash.in_(list(chunk))))
        ).mappings()
    }
    new = []
    for digest, row in chunk.items():
        old = found.get(digest)
        if old is None:
            new.append(
                {
                    "email": row.email, "email_hash": digest, "name": row.name,
                    "audiences": row.mask, "consent_at": row.consent_at,
                    "consent_source": row.consent_source, "status": "active",
                    "created_at": now, "updated_at": now,
                }
            )  # fmt: skip
            continue
        if old["status"] != "active":
            report.skipped.append((row.line, row.email, _why_not(old["status"], old["left_at"])))
            continue
        values = {
            "name": row.name or old["name"],
            "audiences": old["audiences"] | row.mask,
            "consent_at": row.consent_at,
            "consent_source": row.consent_source,
        }
        if all(old[k] == v for k, v in values.items()):
            report.unchanged += 1
            continue
        await conn.execute(
            update(subscribers)
            .where(subscribers.c.id == old["id"])
            .values(**values, updated_at=now)
        )
        report.updated += 1
    if new:
        await conn.execute(insert(subscribers), new)
        report.added += len(new)


def _why_not(status: str, left_at: datetime | None) -> str:
    when = f" el {left_at.date().isoformat()}" if left_at else ""
    if status == "erased":
        return f"sus datos se eliminaron a petición del titular{when}; no se vuelve a inscribir"
    if status == "unsubscribed":
        return f"se dio de baja{when}; no se vuelve a inscribir"
    return "su correo rebotó; revíselo antes de volver a inscribirlo"


async def export_csv(ledger: Ledger, out: TextIO, *, tz: ZoneInfo) -> int:
    """Every subscriber not erased, in the import's columns plus ``status``."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    count, last = 0, 0
    async with ledger.engine.connect() as conn:
        while True:
            rows = (
                (
                    await conn.execute(
                        select(subscribers)
                        .where(subscribers.c.id > last, subscribers.c.status != "erased")
                        .order_by(subscribers.c.id)
                        .limit(CHUNK)
                    )
                )
                .mappings()
                .all()
            )
            if not rows:
                return count
            for row in rows:
                consent = row["consent_at"]
                writer.writerow(
                    [
                        row["email"], row["name"] or "", ";".join(audience_names(row["audiences"])),
                        consent.astimezone(tz).isoformat() if consent else "",
                        row["consent_source"] or "", row["status"],
                    ]
                )  # fmt: skip
            count += len(rows)
            last = rows[-1]["id"]


async def remove(ledger: Ledger, raw_email: str) -> str:
    """Erase a person's data on request, keeping only the address hash.

    Returns ``erased``, ``already`` (erased before) or ``unknown`` (never subscribed: the
    hash is recorded anyway, so a later import of that address is refused).
    """
    email = normalise_email(raw_email)
    digest = email_hash(await hash_key(ledger), email)
    now = utcnow()
    blank = {
        "email": None, "name": None, "audiences": 0, "consent_at": None,
        "consent_source": None, "status": "erased", "updated_at": now, "left_at": now,
    }  # fmt: skip
    async with ledger.engine.begin() as conn:
        row = (
            (await conn.execute(select(subscribers).where(subscribers.c.email_hash == digest)))
            .mappings()
            .first()
        )
        if row is None:
            await conn.execute(
                insert(subscribers).values(email_hash=digest, created_at=now, **blank)
            )
            return "unknown"
        if row["status"] == "erased":
            return "already"
        await conn.execute(update(subscribers).where(subscribers.c.id == row["id"]).values(**blank))
        return "erased"


async def unsubscribe(ledger: Ledger, subscriber_id: int) -> str | None:
    """One-click unsubscribe: ``done``, ``already`` (not active before) or ``None`` (no
    such subscriber)."""
    now = utcnow()
    async with ledger.engine.begin() as conn:
        result = await conn.execute(
            update(subscribers)
            .where(subscribers.c.id == subscriber_id, subscribers.c.status == "active")
            .values(status="unsubscribed", left_at=now, updated_at=now)
        )
        if result.rowcount:
            return "done"
        found = await conn.scalar(select(subscribers.c.id).where(subscribers.c.id == subscriber_id))
        return None if found is None else "already"


async def describe(ledger: Ledger, subscriber_id: int) -> tuple[str, str] | None:
    """(``p***@dominio.co``, status) for the confirmation page; ``None`` if unknown or
    erased."""
    async with ledger.engine.connect() as conn:
        row = (
            await conn.execute(
                select(subscribers.c.email, subscribers.c.status).where(
                    subscribers.c.id == subscriber_id
                )
            )
        ).first()
    if row is None or not row.email:
        return None
    local, _, domain = str(row.email).partition("@")
    return f"{local[:1]}***@{domain}", str(row.status)


def csv_text(rows: Iterable[Iterable[str]]) -> str:
    """A CSV document from rows (header first): a convenience for tests and scripts."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()
