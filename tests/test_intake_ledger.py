"""Intake with the real ledger: one validation path (inbox = ``check``), each file recorded
before it is archived, a recording failure rejects that file only, a correction keeps its
kind. On SQLite and PostgreSQL; failures come from real database data (a trigger), no mocks.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from dispatcher.services.context import App, build_app
from dispatcher.services.ingest import Tally, make_intake, take_in
from dispatcher.services.intake import Accepted, Rejected, Staged
from dispatcher.services.preview import check_files
from settings import load_settings
from tests.conftest import ROOT
from tests.corpus.bad_inputs import BAD, PLAN_BAD, PNG, Case, md


@pytest.fixture
async def app(tmp_path: Path, ledger_url: str) -> AsyncIterator[App]:
    content = tmp_path / "content"
    content.mkdir()
    (content / "plan.yaml").write_bytes((ROOT / "content" / "plan.yaml").read_bytes())
    settings = load_settings(
        content_dir=content,
        database_url=ledger_url,
        intake={"settle_seconds": 0, "media_grace_seconds": 0, "max_bytes": 20_000},
        website={"output_dir": tmp_path / "site"},
    )
    application = await build_app(settings)
    await application.ledger.init()
    yield application
    await application.aclose()


def inbox(app: App) -> Path:
    folder = app.settings.content_dir / "inbox"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def drop(folder: Path, case: Case) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / case.name).write_bytes(case.data)
    for rel, data in case.media.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)


async def checked(app: App, path: Path) -> tuple[int, str]:
    lines: list[str] = []
    bad = await check_files(app, [path], lambda text: lines.append(str(text)))
    return bad, "\n".join(lines)


async def test_check_says_exactly_what_the_inbox_says(app: App, tmp_path: Path) -> None:
    cases = [c for c in BAD + PLAN_BAD if c.name not in ("adjunto_md.md",)]
    for case in cases:
        drop(tmp_path / "revisar" / case.name, case)
        drop(inbox(app), case)
    events = await take_in(app, make_intake(app), Tally())
    rejected = {e.name: e for e in events if isinstance(e, Rejected)}
    assert set(rejected) == {c.name for c in cases}
    for case in cases:
        event = rejected[case.name]
        assert (case.field, case.line) in [(p.field, p.line) for p in event.problems], event
        for word in case.words:
            assert word in event.reason_text, (case.name, event.reason_text)
        bad, out = await checked(app, tmp_path / "revisar" / case.name / case.name)
        assert bad == 1
        assert out.split("ERROR\n", 1)[1] == event.reason_text, case.name


async def test_check_refuses_media_through_a_symlink_like_the_inbox(
    app: App, tmp_path: Path
) -> None:
    outside = tmp_path / "fuera"
    outside.mkdir()
    (outside / "foto.png").write_bytes(PNG)
    folder = tmp_path / "revisar"
    folder.mkdir()
    (folder / "dirlink").symlink_to(outside, target_is_directory=True)
    case = md("kind: boletin\ntitle: Foto\nimage: dirlink/foto.png\nimage_alt: Una foto\n")
    (folder / "nota.md").write_bytes(case)
    bad, out = await checked(app, folder / "nota.md")
    assert bad == 1 and "línea 4, campo 'image'" in out and "enlace simbólico" in out
    big = folder / "grande.md"
    (folder / "grande.pdf").write_bytes(b"%PDF" + b"x" * 100)
    big.write_bytes(md("kind: boletin\ntitle: Grande\nattachments: [grande.pdf]\n"))
    app.settings.intake.max_media_bytes = 50  # the media size limit applies to check too
    bad, out = await checked(app, big)
    assert bad == 1 and "línea 4, campo 'attachments[0]'" in out and "pesa" in out


async def _refuse_inserts_of(app: App, url: str, item_id: str) -> None:
    """A trigger in the real database that refuses one item's insert."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute(
                f"CREATE TRIGGER refuse BEFORE INSERT ON items WHEN NEW.id = '{item_id}' "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
        return
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
            f"IF NEW.id = '{item_id}' THEN RAISE EXCEPTION 'refused by the test'; END IF; "
            "RETURN NEW; END $$ LANGUAGE plpgsql; "
            "CREATE TRIGGER refuse BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION refuse();"
        )
    finally:
        await conn.close()


def piece(item_id: str, image: str | None = None) -> bytes:
    front = f"kind: boletin\ntitle: Pieza {item_id}\nid: {item_id}\n"
    if image:
        front += f"image: {image}\nimage_alt: Una foto de la pieza\n"
    return md(front)


async def test_a_failed_insert_rejects_that_file_and_loses_nothing(
    app: App, ledger_url: str
) -> None:
    await _refuse_inserts_of(app, ledger_url, "pieza-rota")
    box = inbox(app)
    (box / "fotos").mkdir()
    for name in ("uno", "rota", "tres"):
        (box / "fotos" / f"{name}.png").write_bytes(PNG + name.encode())
    (box / "a-uno.md").write_bytes(piece("pieza-uno", "fotos/uno.png"))
    (box / "b-rota.md").write_bytes(piece("pieza-rota", "fotos/rota.png"))
    (box / "c-tres.md").write_bytes(piece("pieza-tres", "fotos/tres.png"))
    tally = Tally()

    events = {e.name: e for e in await take_in(app, make_intake(app), tally)}

    assert (tally.accepted, tally.rejected) == (2, 1)
    for name, item_id in (("a-uno.md", "pieza-uno"), ("c-tres.md", "pieza-tres")):
        event = events[name]
        assert isinstance(event, Accepted)
        row = await app.ledger.get_item(item_id)
        assert row is not None
        folder = Path(row.archive_dir)  # the ledger points where the files are
        assert folder == event.archive_dir
        assert (folder / name).read_bytes() == piece(item_id, f"fotos/{name[2:-3]}.png")
        assert (folder / "fotos" / f"{name[2:-3]}.png").read_bytes().startswith(PNG)
    broken = events["b-rota.md"]
    assert isinstance(broken, Rejected)
    assert "no se pudo registrar" in broken.reason_text
    assert broken.rejected_path.read_bytes() == piece("pieza-rota", "fotos/rota.png")
    rejected = app.settings.content_dir / "rejected"
    assert (rejected / "fotos" / "rota.png").read_bytes() == PNG + b"rota"
    assert await app.ledger.get_item("pieza-rota") is None
    archive = app.settings.content_dir / "archive"
    assert not list(archive.glob("*/*/pieza-rota"))  # its staged copies were dropped
    assert not list(box.rglob("*.md")) and not list(box.rglob("*.png"))


async def test_a_crash_between_record_and_archive_is_a_duplicate_next_time(app: App) -> None:
    box = inbox(app)
    (box / "foto.png").write_bytes(PNG)
    (box / "nota.md").write_bytes(piece("pieza-caida", "foto.png"))
    crashed = make_intake(app)
    [staged] = await asyncio.to_thread(crashed.scan)
    assert isinstance(staged, Staged)
    channels = app.plan.channels_for("boletin", None)
    await app.ledger.add_item(staged.item, channels, status="ready")  # what record() does
    # …and the process dies here, before the originals left the inbox.
    assert (box / "nota.md").exists() and (box / "foto.png").exists()
    before = await app.ledger.deliveries_for(["pieza-caida"])

    tally = Tally()
    [event] = await take_in(app, make_intake(app), tally)

    assert isinstance(event, Accepted) and tally.duplicates == 1 and tally.accepted == 0
    assert await app.ledger.deliveries_for(["pieza-caida"]) == before  # nothing sent twice
    row = await app.ledger.get_item("pieza-caida")
    assert row is not None and int(row.revision) == 1
    folder = Path(row.archive_dir)
    assert (folder / "nota.md").read_bytes() == piece("pieza-caida", "foto.png")
    assert (folder / "foto.png").read_bytes() == PNG
    assert not (box / "nota.md").exists() and not (box / "foto.png").exists()


async def test_a_correction_may_not_change_kind(app: App, tmp_path: Path) -> None:
    (inbox(app) / "nota.md").write_bytes(piece("pieza-tipo"))
    await take_in(app, make_intake(app), Tally())
    changed = md("id: pieza-tipo\nkind: campana\ntitle: Pieza pieza-tipo\n")
    elsewhere = tmp_path / "cambio.md"
    elsewhere.write_bytes(changed)
    (inbox(app) / "cambio.md").write_bytes(changed)

    tally = Tally()
    [event] = await take_in(app, make_intake(app), tally)

    assert isinstance(event, Rejected) and tally.corrections == 0
    assert [(p.field, p.line) for p in event.problems] == [("kind", 3)]
    assert "use un id nuevo" in event.reason_text and "'boletin'" in event.reason_text
    row = await app.ledger.get_item("pieza-tipo")
    assert row is not None and row.kind == "boletin" and int(row.revision) == 1
    bad, out = await checked(app, elsewhere)
    assert bad == 1 and out.split("ERROR\n", 1)[1] == event.reason_text


async def test_two_revisions_in_one_scan_cannot_change_kind(app: App) -> None:
    (inbox(app) / "a.md").write_bytes(piece("pieza-doble"))
    (inbox(app) / "b.md").write_bytes(md("id: pieza-doble\nkind: campana\ntitle: Otra cosa\n"))
    events = {e.name: e for e in await take_in(app, make_intake(app), Tally())}
    assert isinstance(events["a.md"], Accepted)
    second = events["b.md"]
    assert isinstance(second, Rejected)
    assert [(p.field, p.line) for p in second.problems] == [("kind", 3)]
    assert "use un id nuevo" in second.reason_text
