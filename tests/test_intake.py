"""Inbox intake: settle, parse, archive or reject; nothing an editor wrote is ever lost."""

from __future__ import annotations

import asyncio
import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dispatcher.services.intake import Accepted, Held, Intake, IntakeEvent, Rejected, is_candidate
from tests.corpus.bad_inputs import BAD, GOOD, GOOD_MEDIA, KINDS, MAX_BYTES, PNG, md

TZ = ZoneInfo("America/Bogota")


class Clock:
    """A clock the test moves by hand; starts at the real now so file times compare."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_intake(content: Path, clock: Clock, *, settle: float = 0.0, grace: float = 60.0) -> Intake:
    return Intake(
        content,
        tz=TZ,
        known_kinds=KINDS,
        max_bytes=MAX_BYTES,
        max_media_bytes=1_000_000,
        settle_seconds=settle,
        media_grace_seconds=grace,
        clock=clock,
    )


def drop(inbox: Path, name: str, data: bytes) -> Path:
    path = inbox / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def fingerprint(path: Path) -> str:
    if path.is_symlink():
        return "link:" + os.readlink(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprints(*roots: Path) -> list[str]:
    found = []
    for root in roots:
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                if not name.endswith(".error.txt"):
                    found.append(fingerprint(Path(dirpath) / name))
    return found


def by_name(events: list[IntakeEvent]) -> dict[str, IntakeEvent]:
    return {e.name: e for e in events}


def test_bad_batch_rejected_with_reasons_good_one_accepted(tmp_path: Path) -> None:
    content = tmp_path / "content"
    clock = Clock()
    intake = make_intake(content, clock)
    inbox = intake.inbox
    outside = tmp_path / "privado"
    outside.mkdir()
    (outside / "secreto.png").write_bytes(PNG)
    (outside / "nota.md").write_bytes(GOOD)
    for case in BAD:
        drop(inbox, case.name, case.data)
        for rel, data in case.media.items():
            drop(inbox, rel, data)
    drop(inbox, "bueno.md", GOOD)
    for rel, data in GOOD_MEDIA.items():
        drop(inbox, rel, data)
    (inbox / "afuera.png").symlink_to(outside / "secreto.png")
    front = "kind: boletin\ntitle: Enlace fuera\nimage: afuera.png\nimage_alt: Una foto\n"
    drop(inbox, "enlace_fuera.md", md(front))
    (inbox / "enlace.md").symlink_to(outside / "nota.md")
    before = sorted(fingerprints(inbox))

    events = by_name(intake.scan())

    accepted = events.pop("bueno.md")
    assert isinstance(accepted, Accepted)
    day = clock().astimezone(TZ)
    slug = f"{day:%Y-%m-%d}-el-parque-san-pio-reabre"
    assert accepted.archive_dir == content / "archive" / f"{day:%Y}" / f"{day:%m}" / slug
    assert accepted.item.base_dir == accepted.archive_dir
    assert (accepted.archive_dir / "bueno.md").read_bytes() == GOOD
    assert accepted.item.media_path("media/parque.png").read_bytes() == PNG
    # A .md named as an attachment is another editor's piece: taken in on its own.
    other = events.pop("otra.md")
    assert isinstance(other, Accepted) and other.item.title == "Borrador de otra persona"
    expected = {c.name: (c.field, c.line) for c in BAD}
    expected["enlace_fuera.md"] = ("image", 4)
    expected["enlace.md"] = (None, None)
    assert set(events) == set(expected)
    for name, event in events.items():
        assert isinstance(event, Rejected), name
        assert expected[name] in [(p.field, p.line) for p in event.problems], (name, event)
        assert event.rejected_path.parent == content / "rejected"
        error = event.error_path.read_text(encoding="utf-8")
        assert name in error and "Cómo corregirlo" in error
        assert event.reason_text in error.replace("  - ", "")
    assert (content / "rejected" / "enlace.md").is_symlink()  # the link, not its target
    assert (outside / "nota.md").read_bytes() == GOOD
    assert (outside / "secreto.png").read_bytes() == PNG
    assert (content / "rejected" / "sin-alt.png").read_bytes() == PNG  # moved beside it
    assert "sin-alt.png" in events["imagen_sin_alt.md"].error_path.read_text()  # type: ignore[union-attr]
    # Nothing lost: every input is in the archive or in rejected/, and the inbox is empty.
    after = sorted(fingerprints(content / "archive", content / "rejected"))
    assert after == before
    assert list(inbox.rglob("*")) == [inbox / "media"]


def test_a_file_being_written_is_read_only_once_it_settles(tmp_path: Path) -> None:
    clock = Clock()
    intake = make_intake(tmp_path, clock, settle=1.0)
    path = drop(intake.inbox, "nota.md", GOOD[:30])  # half-written: invalid if read now
    for rel, data in GOOD_MEDIA.items():
        drop(intake.inbox, rel, data)
    assert intake.scan() == []
    clock.advance(0.5)
    with path.open("ab") as fh:
        fh.write(GOOD[30:])
    assert intake.scan() == []
    clock.advance(0.6)
    assert intake.scan() == []  # unchanged for 0.6 s only
    assert path.exists() and not any(intake.rejected.iterdir())
    clock.advance(0.5)
    [event] = intake.scan()
    assert isinstance(event, Accepted)
    assert (event.archive_dir / "nota.md").read_bytes() == GOOD


def test_media_still_being_copied_delays_the_file(tmp_path: Path) -> None:
    clock = Clock()
    intake = make_intake(tmp_path, clock, settle=1.0)
    drop(intake.inbox, "nota.md", GOOD)
    drop(intake.inbox, "media/decreto.pdf", GOOD_MEDIA["media/decreto.pdf"])
    image = drop(intake.inbox, "media/parque.png", b"\0" * 100)  # pre-allocated, unwritten
    assert intake.scan() == []
    clock.advance(1.5)
    [held] = intake.scan()  # a stalled copy looks settled: held, not rejected
    assert isinstance(held, Held) and held.missing == ("media/parque.png",)
    image.write_bytes(PNG)
    clock.advance(0.5)
    assert intake.scan() == []  # the image changed: it settles again first
    clock.advance(1)
    [event] = intake.scan()
    assert isinstance(event, Accepted)
    assert event.item.media_path("media/parque.png").read_bytes() == PNG


def test_old_file_counts_as_settled_at_first_sight(tmp_path: Path) -> None:
    clock = Clock()
    intake = make_intake(tmp_path, clock, settle=5.0)
    drop(intake.inbox, "viejo.md", md("kind: boletin\ntitle: Archivo viejo\n"))
    clock.advance(10)  # as if the program started long after the file arrived
    [event] = intake.scan()
    assert isinstance(event, Accepted)


def test_missing_media_held_then_accepted_when_it_arrives(tmp_path: Path) -> None:
    clock = Clock()
    intake = make_intake(tmp_path, clock, grace=60)
    drop(intake.inbox, "nota.md", GOOD)
    [held] = intake.scan()
    assert isinstance(held, Held)
    assert set(held.missing) == set(GOOD_MEDIA)
    assert "media/parque.png" in held.reason
    clock.advance(20)
    assert intake.scan() == []  # still held, announced once
    for rel, data in GOOD_MEDIA.items():
        drop(intake.inbox, rel, data)
    clock.advance(1)
    [accepted] = intake.scan()
    assert isinstance(accepted, Accepted)
    assert accepted.item.media_path("media/decreto.pdf").read_bytes() == b"%PDF-1.4 decreto"
    assert not (intake.inbox / "media" / "parque.png").exists()


def test_missing_media_rejected_after_grace_with_what_arrived(tmp_path: Path) -> None:
    clock = Clock()
    intake = make_intake(tmp_path, clock, grace=30)
    drop(intake.inbox, "nota.md", GOOD)
    drop(intake.inbox, "media/decreto.pdf", GOOD_MEDIA["media/decreto.pdf"])
    [held] = intake.scan()
    assert isinstance(held, Held) and held.missing == ("media/parque.png",)
    clock.advance(29)
    assert intake.scan() == []
    clock.advance(2)
    [rejected] = intake.scan()
    assert isinstance(rejected, Rejected)
    assert [(p.field, p.line) for p in rejected.problems] == [("image", 4)]
    error = rejected.error_path.read_text(encoding="utf-8")
    assert "Se esperaron 30 segundos" in error and "falta el archivo 'media/parque.png'" in error
    assert (intake.rejected / "media" / "decreto.pdf").read_bytes() == b"%PDF-1.4 decreto"
    assert not any(intake.inbox.rglob("*.*"))


def test_same_file_twice_archived_twice_never_overwritten(tmp_path: Path) -> None:
    clock = Clock()
    intake = make_intake(tmp_path, clock)
    data = md("kind: boletin\ntitle: Dos veces\ndate: 2026-03-04\n")
    drop(intake.inbox, "a.md", data)
    [first] = intake.scan()
    clock.advance(1)
    drop(intake.inbox, "a.md", data)
    [second] = intake.scan()
    assert isinstance(first, Accepted) and isinstance(second, Accepted)
    assert first.archive_dir == tmp_path / "archive" / "2026" / "03" / "2026-03-04-dos-veces"
    assert second.archive_dir.parent == first.archive_dir
    assert second.archive_dir.name.startswith("rev-")
    assert first.item.digest == second.item.digest
    assert (first.archive_dir / "a.md").read_bytes() == data
    assert (second.archive_dir / "a.md").read_bytes() == data


def test_shared_media_copied_until_the_last_file_takes_it(tmp_path: Path) -> None:
    intake = make_intake(tmp_path, Clock())
    for name in ("uno.md", "dos.md"):
        front = f"kind: boletin\ntitle: Nota {name}\nimage: foto.png\nimage_alt: La foto común\n"
        drop(intake.inbox, name, md(front))
    drop(intake.inbox, "foto.png", PNG)
    events = intake.scan()
    assert [type(e) for e in events] == [Accepted, Accepted]
    for event in events:
        assert isinstance(event, Accepted)
        assert (event.archive_dir / "foto.png").read_bytes() == PNG
    assert not (intake.inbox / "foto.png").exists()


def test_rejected_names_never_collide(tmp_path: Path) -> None:
    intake = make_intake(tmp_path, Clock())
    paths = []
    for text in (b"uno", b"dos", b"tres"):
        drop(intake.inbox, "malo.md", text)
        [event] = intake.scan()
        assert isinstance(event, Rejected)
        paths.append(event.rejected_path)
    assert [p.name for p in paths] == ["malo.md", "malo-2.md", "malo-3.md"]
    assert [p.read_bytes() for p in paths] == [b"uno", b"dos", b"tres"]
    assert all(Path(f"{p}.error.txt").exists() for p in paths)


def test_oversized_file_rejected_without_being_read(tmp_path: Path) -> None:
    intake = make_intake(tmp_path, Clock())
    big = drop(intake.inbox, "grande.md", b"\xff" * (MAX_BYTES + 1))  # not UTF-8 either
    [event] = intake.scan()
    assert isinstance(event, Rejected)
    assert "máximo" in event.reason_text and "UTF-8" not in event.reason_text
    assert event.rejected_path.read_bytes() == b"\xff" * (MAX_BYTES + 1)
    assert not big.exists()


def test_hidden_partial_and_backup_files_are_ignored(tmp_path: Path) -> None:
    intake = make_intake(tmp_path, Clock())
    names = [".oculto.md", "nota.md~", "nota.md.part", "nota.md.tmp", "~$nota.md", "x.md.swp"]
    for name in names:
        drop(intake.inbox, name, b"no es contenido")
    (intake.inbox / "carpeta.md").mkdir()
    assert intake.scan() == []
    assert sorted(p.name for p in intake.inbox.iterdir()) == sorted([*names, "carpeta.md"])
    assert is_candidate("Nota.MD") and not is_candidate("nota.txt")


def test_take_file_from_outside_the_inbox(tmp_path: Path) -> None:
    intake = make_intake(tmp_path / "content", Clock(), settle=30)
    received = tmp_path / "descarga"
    received.write_bytes(md("kind: boletin\ntitle: Enviado por Telegram\n"))
    event = intake.take_file(received)
    assert isinstance(event, Accepted)
    assert (event.archive_dir / "descarga.md").exists()
    assert not received.exists()
    drop(intake.inbox, "falta.md", GOOD)
    held = intake.take_file(intake.inbox / "falta.md")
    assert isinstance(held, Held)


async def test_watch_accepts_a_dropped_file(tmp_path: Path) -> None:
    intake = Intake(
        tmp_path,
        tz=TZ,
        known_kinds=KINDS,
        max_bytes=MAX_BYTES,
        max_media_bytes=1_000_000,
        settle_seconds=0.1,
        media_grace_seconds=60,
        idle_rescan_seconds=30,  # only the file-system event can wake it in time
    )
    stop = asyncio.Event()
    seen: list[IntakeEvent] = []

    async def consume() -> None:
        async for batch in intake.watch(stop):
            seen.extend(batch)
            if any(isinstance(e, Accepted) for e in batch):
                stop.set()

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.3)  # let the watcher start
    drop(intake.inbox, "nueva.md", md("kind: boletin\ntitle: Recién llegada\n"))
    async with asyncio.timeout(2.5):
        await task
    assert [type(e) for e in seen] == [Accepted]


async def test_watch_stops_promptly(tmp_path: Path) -> None:
    intake = make_intake(tmp_path, Clock())
    stop = asyncio.Event()

    async def consume() -> list[list[IntakeEvent]]:
        return [batch async for batch in intake.watch(stop)]

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    stop.set()
    async with asyncio.timeout(2):
        assert await task == []


@pytest.mark.parametrize("settle", [0.0, 0.2])
def test_intake_creates_its_folders(tmp_path: Path, settle: float) -> None:
    intake = make_intake(tmp_path / "nuevo", Clock(), settle=settle)
    assert intake.inbox.is_dir() and intake.rejected.is_dir() and intake.archive.is_dir()


def test_validate_hook_rejects_and_pending_tracks_waiting_files(tmp_path: Path) -> None:
    clock = Clock()
    intake = Intake(
        tmp_path,
        tz=TZ,
        known_kinds=KINDS,
        max_bytes=MAX_BYTES,
        max_media_bytes=1_000_000,
        settle_seconds=1.0,
        media_grace_seconds=10,
        clock=clock,
        validate=lambda item: [("kind", "no hay canales")] if item.kind == "comite" else [],
    )
    drop(intake.inbox, "comite.md", md("title: Comité\nkind: comite\n"))
    drop(intake.inbox, "espera.md", GOOD)
    assert intake.scan() == [] and intake.pending  # settling
    clock.advance(1.5)
    events = by_name(intake.scan())
    rejected = events["comite.md"]
    assert isinstance(rejected, Rejected)
    assert [(p.field, p.line) for p in rejected.problems] == [("kind", 3)]
    assert isinstance(events["espera.md"], Held) and intake.pending  # held
    clock.advance(11)
    [late] = intake.scan()
    assert isinstance(late, Rejected) and not intake.pending


def test_correction_without_its_media_reuses_the_archived_ones(tmp_path: Path) -> None:
    clock = Clock()
    intake = make_intake(tmp_path, clock, grace=0)
    drop(intake.inbox, "nota.md", GOOD)
    for rel, data in GOOD_MEDIA.items():
        drop(intake.inbox, rel, data)
    [first] = intake.scan()
    assert isinstance(first, Accepted)
    corrected = GOOD.replace(b"Segundo", b"Fe de erratas. Segundo")
    drop(intake.inbox, "nota.md", corrected)  # only the text: the pictures are archived
    [second] = intake.scan()
    assert isinstance(second, Accepted), second
    assert second.item.id == first.item.id and second.item.digest != first.item.digest
    assert second.archive_dir.parent == first.archive_dir
    for rel, data in GOOD_MEDIA.items():
        assert second.item.media_path(rel).read_bytes() == data
        assert first.item.media_path(rel).read_bytes() == data  # copied, not taken
    drop(intake.inbox, "nota.md", corrected)
    drop(intake.inbox, "media/parque.png", PNG + b"nueva")  # a new picture wins
    [third] = intake.scan()
    assert isinstance(third, Accepted)
    assert third.item.media_path("media/parque.png").read_bytes() == PNG + b"nueva"
    assert third.item.media_path("media/decreto.pdf").read_bytes() == b"%PDF-1.4 decreto"
