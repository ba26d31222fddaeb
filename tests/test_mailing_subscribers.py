"""Subscribers: CSV import (idempotent upsert, bad rows by line), export, erasure."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

from dispatcher.ledger.schema import audience_names
from dispatcher.ledger.store import Ledger
from dispatcher.services.mailing.subscribers import (
    export_csv,
    import_csv,
    normalise_email,
    remove,
    unsubscribe,
)
from settings import Settings
from tests.test_mailing_support import make_settings, new_ledger

HEADER = "email,name,audiences,consent_at,consent_source\n"


async def _setup(tmp_path: Path) -> tuple[Settings, Ledger]:
    settings = make_settings(tmp_path, 25)
    return settings, await new_ledger(settings)


def _rows(tmp_path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(tmp_path / "pregonero.db") as db:
        return db.execute(sql).fetchall()


async def test_import_is_an_idempotent_upsert(tmp_path: Path) -> None:
    settings, ledger = await _setup(tmp_path)
    text = (
        HEADER
        + "Ana.Perez@Example.ORG,Ana Pérez,periodistas,2026-01-10,formulario web\n"
        + "luis@bücher.example,Luis,ciudadania;gremios,2026-02-01T09:30,evento Mesa Pública\n"
    )
    first = await import_csv(ledger, io.StringIO(text), tz=settings.tz)
    assert (first.added, first.updated, first.unchanged, first.errors) == (2, 0, 0, [])
    again = await import_csv(ledger, io.StringIO(text), tz=settings.tz)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)

    more = HEADER + "ana.perez@example.org,Ana Pérez,ciudadania,2026-01-10,formulario web\n"
    widened = await import_csv(ledger, io.StringIO(more), audience="funcionarios", tz=settings.tz)
    assert widened.updated == 1
    rows = dict(_rows(tmp_path, "SELECT email, audiences FROM subscribers"))
    assert set(rows) == {"ana.perez@example.org", "luis@xn--bcher-kva.example"}
    assert audience_names(int(rows["ana.perez@example.org"])) == [  # type: ignore[call-overload]
        "periodistas", "ciudadania", "funcionarios",
    ]  # fmt: skip
    await ledger.close()


async def test_bad_rows_are_reported_by_line_and_good_rows_still_import(tmp_path: Path) -> None:
    settings, ledger = await _setup(tmp_path)
    text = (
        HEADER
        + "bien@example.org,Bien,ciudadania,2026-01-10,formulario\n"  # line 2
        + "no-es-correo,Mal,ciudadania,2026-01-10,formulario\n"  # line 3
        + "otra@example.org,Otra,vecinos,2026-01-10,formulario\n"  # line 4
        + "\n"  # line 5: blank, ignored
        + "fecha@example.org,Fecha,ciudadania,10/01/2026,formulario\n"  # line 6
        + '"multi@example.org","Nombre\nen dos líneas",periodistas,2026-01-10,formulario\n'
        + "sinorigen@example.org,X,gremios,2026-01-10,\n"  # line 9
        + "futuro@example.org,X,gremios,2099-01-10,formulario\n"  # line 10
        + "corto@example.org,X\n"  # line 11
    )
    report = await import_csv(ledger, io.StringIO(text), tz=settings.tz)
    lines = {line: message for line, message in report.errors}
    assert sorted(lines) == [3, 4, 6, 9, 10, 11]
    assert "correo electrónico inválido 'no-es-correo'" in lines[3]
    assert "público desconocido 'vecinos'" in lines[4] and "periodistas" in lines[4]
    assert "fecha de consentimiento inválida '10/01/2026'" in lines[6]
    assert "origen del consentimiento" in lines[9]
    assert "en el futuro" in lines[10]
    assert "columnas" in lines[11]
    assert report.added == 2  # line 2 and the quoted two-line record (lines 7–8)
    assert any(line.startswith("línea 3: ") for line in report.lines())
    emails = {r[0] for r in _rows(tmp_path, "SELECT email FROM subscribers")}
    assert emails == {"bien@example.org", "multi@example.org"}
    await ledger.close()


async def test_wrong_header_imports_nothing(tmp_path: Path) -> None:
    settings, ledger = await _setup(tmp_path)
    text = "correo,nombre,publicos\nbien@example.org,Bien,ciudadania\n"
    report = await import_csv(ledger, io.StringIO(text), tz=settings.tz)
    assert report.fatal is not None and "línea 1: encabezado inválido" in report.fatal
    assert "email,name,audiences,consent_at,consent_source" in report.fatal
    semicolons = (
        "email;name;audiences;consent_at;consent_source\nx@example.org;X;gremios;2026-01-01;f\n"
    )
    report = await import_csv(ledger, io.StringIO(semicolons), tz=settings.tz)
    assert report.fatal is not None and "punto y coma" in report.fatal
    assert _rows(tmp_path, "SELECT count(*) FROM subscribers") == [(0,)]
    await ledger.close()


async def test_remove_erases_personal_data_and_blocks_reimport(tmp_path: Path) -> None:
    settings, ledger = await _setup(tmp_path)
    text = HEADER + "ana@example.org,Ana Pérez,periodistas,2026-01-10,formulario web\n"
    await import_csv(ledger, io.StringIO(text), tz=settings.tz)
    assert await remove(ledger, " ANA@example.org ") == "erased"
    assert await remove(ledger, "ana@example.org") == "already"
    row = _rows(
        tmp_path,
        "SELECT email, name, consent_at, consent_source, status, email_hash FROM subscribers",
    )
    assert row[0][:5] == (None, None, None, None, "erased")
    assert "ana" not in str(row[0][5])  # only the keyed hash is left
    dump = "\n".join(sqlite3.connect(tmp_path / "pregonero.db").iterdump())
    assert "ana@example.org" not in dump and "Ana Pérez" not in dump

    again = await import_csv(ledger, io.StringIO(text), tz=settings.tz)
    assert again.added == 0 and len(again.skipped) == 1
    line, email, why = again.skipped[0]
    assert (line, email) == (2, "ana@example.org")
    assert "eliminaron a petición del titular" in why
    assert _rows(tmp_path, "SELECT count(*) FROM subscribers WHERE status = 'active'") == [(0,)]

    # Never subscribed: the hash is still recorded, so an import cannot add it later.
    assert await remove(ledger, "nadie@example.org") == "unknown"
    blocked = await import_csv(
        ledger, io.StringIO(HEADER + "nadie@example.org,N,gremios,2026-01-10,f\n"), tz=settings.tz
    )
    assert blocked.added == 0 and len(blocked.skipped) == 1
    await ledger.close()


async def test_unsubscribed_address_is_not_resubscribed_and_export_skips_erased(
    tmp_path: Path,
) -> None:
    settings, ledger = await _setup(tmp_path)
    text = (
        HEADER
        + "uno@example.org,Uno,periodistas;gremios,2026-01-10,formulario\n"
        + "dos@example.org,Dos,ciudadania,2026-01-11T08:00-05:00,llamada\n"
        + "tres@example.org,,jac_jal,2026-01-12,acta JAC\n"
    )
    await import_csv(ledger, io.StringIO(text), tz=settings.tz)
    ids = dict(_rows(tmp_path, "SELECT email, id FROM subscribers"))
    assert await unsubscribe(ledger, int(ids["uno@example.org"])) == "done"  # type: ignore[call-overload]
    assert await unsubscribe(ledger, int(ids["uno@example.org"])) == "already"  # type: ignore[call-overload]
    assert await unsubscribe(ledger, 999) is None
    await remove(ledger, "tres@example.org")
    report = await import_csv(ledger, io.StringIO(text), tz=settings.tz)
    assert {email for _, email, _ in report.skipped} == {"uno@example.org", "tres@example.org"}
    assert "se dio de baja" in next(w for _, e, w in report.skipped if e == "uno@example.org")

    out = io.StringIO()
    assert await export_csv(ledger, out, tz=settings.tz) == 2
    lines = out.getvalue().splitlines()
    assert lines[0] == "email,name,audiences,consent_at,consent_source,status"
    assert (
        lines[1]
        == "uno@example.org,Uno,periodistas;gremios,2026-01-10T00:00:00-05:00,formulario,unsubscribed"
    )
    assert lines[2].startswith(
        "dos@example.org,Dos,ciudadania,2026-01-11T08:00:00-05:00,llamada,active"
    )
    # The export is importable as is (the status column is accepted and ignored).
    reimport = await import_csv(ledger, io.StringIO(out.getvalue()), tz=settings.tz)
    assert reimport.errors == [] and reimport.fatal is None and reimport.unchanged == 1
    await ledger.close()


def test_normalise_email() -> None:
    assert normalise_email("  Pepe@Example.COM ") == "pepe@example.com"
    assert normalise_email("ana@ñandú.example") == "ana@xn--and-6ma2c.example"
