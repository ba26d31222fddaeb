"""Security finding 0: nothing under content/ is read, copied or moved through a symlink.

Every symlink here points at a folder made by the test *outside* the content folder (never at
a real system file); after intake, the outside file must be untouched: same inode, same
place, same bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from dispatcher.items.media import UnsafeMedia, media_stat, open_media
from dispatcher.services.intake import Accepted, Rejected
from tests.conftest import ROOT
from tests.corpus.bad_inputs import GOOD, GOOD_MEDIA, PNG, md
from tests.test_intake import Clock, by_name, drop, make_intake

SECRET = b"root:x:0:0:root:/root:/bin/bash\n"


@dataclass(frozen=True)
class Outside:
    folder: Path
    file: Path
    inode: int
    data: bytes

    def untouched(self) -> None:
        assert self.file.exists(), "the outside file was moved"
        assert os.stat(self.file).st_ino == self.inode
        assert self.file.read_bytes() == self.data


@pytest.fixture
def outside(tmp_path: Path) -> Outside:
    folder = tmp_path / "fuera-del-contenido"
    folder.mkdir()
    secret = folder / "passwd"
    secret.write_bytes(SECRET)
    (folder / "foto.png").write_bytes(PNG)
    return Outside(folder, secret, os.stat(secret).st_ino, SECRET)


def test_rejection_never_moves_a_file_through_a_symlinked_folder(
    tmp_path: Path, outside: Outside
) -> None:
    content = tmp_path / "content"
    intake = make_intake(content, Clock())
    (intake.inbox / "dirlink").symlink_to(outside.folder, target_is_directory=True)
    nested = intake.inbox / "real" / "sub"
    nested.mkdir(parents=True)
    (nested / "link").symlink_to(outside.folder, target_is_directory=True)
    drop(intake.inbox, "robo.md", md("kind: boletin\ntitle: Robo\nattachments: [dirlink/passwd]\n"))
    drop(
        intake.inbox,
        "hondo.md",
        md("kind: boletin\ntitle: Hondo\nimage: real/sub/link/foto.png\nimage_alt: Una foto\n"),
    )
    drop(intake.inbox, "bueno.md", GOOD)
    for rel, data in GOOD_MEDIA.items():
        drop(intake.inbox, rel, data)

    events = by_name(intake.scan())

    assert isinstance(events["bueno.md"], Accepted)
    for name, field, line in [("robo.md", "attachments[0]", 4), ("hondo.md", "image", 4)]:
        event = events[name]
        assert isinstance(event, Rejected), name
        assert [(p.field, p.line) for p in event.problems] == [(field, line)]
        assert "enlace simbólico" in event.reason_text
        assert "movieron" not in event.error_path.read_text(encoding="utf-8")
    outside.untouched()
    assert (outside.folder / "foto.png").read_bytes() == PNG
    assert not [p for p in (content / "rejected").rglob("*") if p.name in ("passwd", "foto.png")]
    assert not [p for p in (content / "archive").rglob("*") if p.name in ("passwd", "foto.png")]
    # The links stay where the editor left them (they are not media of any piece).
    assert (intake.inbox / "dirlink").is_symlink()


def test_accepted_media_never_read_through_a_symlink(tmp_path: Path, outside: Outside) -> None:
    intake = make_intake(tmp_path / "content", Clock())
    (intake.inbox / "dirlink").symlink_to(outside.folder, target_is_directory=True)
    (intake.inbox / "enlace.png").symlink_to(intake.inbox / "dirlink" / "foto.png")
    drop(
        intake.inbox, "a.md", md("kind: boletin\ntitle: Uno\nimage: enlace.png\nimage_alt: Foto\n")
    )
    event = intake.scan()[0]
    assert isinstance(event, Rejected)
    assert [(p.field, p.line) for p in event.problems] == [("image", 4)]
    assert "enlace simbólico" in event.reason_text
    # The link itself moved beside the rejected file; what it points to did not.
    assert (tmp_path / "content" / "rejected" / "enlace.png").is_symlink()
    outside.untouched()
    assert (outside.folder / "foto.png").read_bytes() == PNG


def test_another_pending_md_is_never_taken_as_an_attachment(tmp_path: Path) -> None:
    content = tmp_path / "content"
    intake = make_intake(content, Clock())
    other = md("kind: boletin\ntitle: Borrador con embargo\npublish_at: 2099-01-01T08:00\n")
    drop(intake.inbox, "a-ladron.md", md("kind: boletin\ntitle: Ladrón\nattachments: [z.md]\n"))
    drop(intake.inbox, "z.md", other)

    events = by_name(intake.scan())

    thief = events["a-ladron.md"]
    assert isinstance(thief, Rejected)
    assert [(p.field, p.line) for p in thief.problems] == [("attachments[0]", 4)]
    assert "archivo de contenido (.md)" in thief.reason_text
    assert not (content / "rejected" / "z.md").exists()
    own = events["z.md"]  # the other editor's file is its own piece, taken in on its own
    assert isinstance(own, Accepted)
    assert (own.archive_dir / "z.md").read_bytes() == other


def test_media_walk_refuses_symlinks_at_every_component(tmp_path: Path, outside: Outside) -> None:
    root = tmp_path / "inbox"
    (root / "ok").mkdir(parents=True)
    (root / "ok" / "foto.png").write_bytes(PNG)
    (root / "dirlink").symlink_to(outside.folder, target_is_directory=True)
    (root / "ok" / "link").symlink_to(outside.folder, target_is_directory=True)
    (root / "filelink").symlink_to(outside.file)
    assert media_stat(root, "ok/foto.png").st_size == len(PNG)
    with open_media(root, "./ok/foto.png") as fh:
        assert fh.read() == PNG
    for rel in ("dirlink/passwd", "ok/link/passwd", "filelink"):
        with pytest.raises(UnsafeMedia, match="enlace simbólico"):
            media_stat(root, rel)
        with pytest.raises(UnsafeMedia, match="enlace simbólico"):
            open_media(root, rel)
    for rel in ("../fuera-del-contenido/passwd", "/etc/passwd", ".", ""):
        with pytest.raises(UnsafeMedia):
            media_stat(root, rel)
    with pytest.raises(FileNotFoundError):
        media_stat(root, "ok/nada.png")
    outside.untouched()


async def test_a_bot_upload_never_lands_through_a_symlinked_inbox_folder(
    tmp_path: Path, outside: Outside
) -> None:
    from dispatcher.bot.documents import Documents
    from dispatcher.bot.state import BotState
    from dispatcher.services.context import build_app
    from dispatcher.services.ingest import Tally, make_intake
    from settings import load_settings

    content = tmp_path / "content"
    content.mkdir()
    plan = ROOT / "content" / "plan.yaml"
    (content / "plan.yaml").write_bytes(plan.read_bytes())
    settings = load_settings(content_dir=content, database_url=f"sqlite:///{tmp_path / 'l.db'}")
    app = await build_app(settings)
    try:
        state = BotState(app=app, intake=make_intake(app), tally=Tally())
        documents = Documents(state)
        (state.intake.inbox / "dirlink").symlink_to(outside.folder, target_is_directory=True)
        staging = state.staging(7)
        staging.mkdir(parents=True, exist_ok=True)
        before = sorted(p.name for p in outside.folder.iterdir())
        for name in ("passwd", "nuevo.txt"):  # over an outside file, or a new one beside it
            (staging / name).write_bytes(b"sent by a bot user\n")
            conflict = documents._place(7, f"dirlink/{name}")
            assert conflict is not None and "dirlink" in conflict
            assert (staging / name).read_bytes() == b"sent by a bot user\n"
        outside.untouched()
        assert sorted(p.name for p in outside.folder.iterdir()) == before
        (staging / "foto.png").write_bytes(PNG)
        assert documents._place(7, "fotos/foto.png") is None  # a real folder is made
        assert (state.intake.inbox / "fotos" / "foto.png").read_bytes() == PNG
    finally:
        await app.aclose()
