"""Security findings on the intake side (issue 10): 2, 3, 9, 10, 12 and 15.

Attack targets are files the test makes outside the content folder, never system files.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import pytest

from dispatcher.items.parse import MAX_BODY_BYTES
from dispatcher.services.intake import Accepted, Intake, Rejected
from tests.conftest import Workspace
from tests.corpus.bad_inputs import KINDS, PNG, md
from tests.test_intake import TZ, Clock, by_name, drop, make_intake

SECRET = b"%PDF-1.4 SECRETO-FUERA-DEL-CONTENIDO " + b"s" * 4000
REAL = b"%PDF-1.4 decreto real " + b"r" * 4000


def _all_files(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob("*") if not p.is_dir()]


class Swapper:
    """A thread that swaps each of ``targets`` between its real bytes and a symlink to a
    file outside content/ (atomically, with ``os.replace``) until stopped."""

    def __init__(self, targets: list[tuple[Path, bytes, Path]]) -> None:
        self.targets = targets  # (path, real bytes, outside file); replaced as a whole
        self.stop = threading.Event()
        self.swaps = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self.stop.is_set():
            for target, data, secret in self.targets:
                n += 1
                link = target.with_name(f".enlace-{n}")
                os.symlink(secret, link)
                os.replace(link, target)
                real = target.with_name(f".real-{n}")
                real.write_bytes(data)
                os.replace(real, target)
                self.swaps += 1

    def __enter__(self) -> Swapper:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def _assert_clean(*roots: Path) -> None:
    for path in _all_files(*roots):
        assert not path.is_symlink(), f"a symlink was archived or published: {path}"
        assert b"SECRETO-FUERA" not in path.read_bytes(), f"outside bytes in {path}"


def _secrets(tmp_path: Path) -> tuple[Path, Path]:
    """A PDF and a valid content file outside content/, both marked SECRETO-FUERA."""
    outside = tmp_path / "fuera"
    outside.mkdir()
    pdf = outside / "secreto.pdf"
    pdf.write_bytes(SECRET)
    note = outside / "secreto.md"
    note.write_bytes(md("kind: boletin\ntitle: Secreto\n", "SECRETO-FUERA-DEL-CONTENIDO\n"))
    return pdf, note


def test_finding_2_files_swapped_for_symlinks_are_never_archived(tmp_path: Path) -> None:
    """Finding 2: the ``.md`` and its media are read once and archived from what was checked
    (the validated bytes, the open descriptor); a thread swapping them for symlinks to files
    outside content/ while intake runs never gets those files, or a link to them, into the
    archive (200 rounds, bounded in time)."""
    pdf, note = _secrets(tmp_path)
    intake = make_intake(tmp_path / "content", Clock(), grace=0)
    doc = intake.inbox / "doc.pdf"
    doc.write_bytes(REAL)
    outcomes: dict[str, int] = {}
    deadline = time.monotonic() + 30
    with Swapper([]) as swapper:
        for i in range(200):
            if time.monotonic() > deadline:
                break
            data = md(f"kind: boletin\ntitle: Pieza {i}\nattachments: [doc.pdf]\n")
            path = drop(intake.inbox, f"pieza-{i:03}.md", data)
            swapper.targets = [(doc, REAL, pdf), (path, data, note)]
            event = intake.take_file(path)
            outcomes[type(event).__name__] = outcomes.get(type(event).__name__, 0) + 1
            if isinstance(event, Accepted):
                archived = event.item.media_path("doc.pdf")
                assert not archived.is_symlink()
                assert archived.read_bytes() == REAL
                assert (event.archive_dir / path.name).read_bytes() == data
    assert swapper.swaps > 0 and outcomes.get("Accepted"), outcomes
    _assert_clean(intake.archive)
    assert pdf.read_bytes() == SECRET and b"SECRETO-FUERA" in note.read_bytes()


def test_finding_2_race_end_to_end_publishes_no_outside_file(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Finding 2, through ``run --once``: while intake and the website run, the content files
    and their attachments are swapped for symlinks to files outside content/; neither the
    archive nor the published site ever holds their bytes."""
    workspace.env["PREGONERO_DATABASE_URL"] = f"sqlite:///{tmp_path / 'pregonero.db'}"
    pdf, note = _secrets(tmp_path)
    targets = []
    for i in range(20):
        doc = workspace.inbox / f"doc-{i}.pdf"
        doc.write_bytes(REAL)
        data = md(f"kind: boletin\ntitle: Pieza {i}\nattachments: [doc-{i}.pdf]\n")
        targets += [(doc, REAL, pdf), (workspace.write(f"pieza-{i:02}.md", data), data, note)]
    with Swapper(targets):
        result = workspace.cli("run", "--once", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    _assert_clean(workspace.content / "archive", workspace.site)
    assert pdf.read_bytes() == SECRET


def test_finding_3_no_content_file_is_taken_as_media(tmp_path: Path) -> None:
    """Finding 3: another editor's pending ``.md`` (any case, ``.markdown`` too) is refused as
    an attachment or image with the reason, and stays in the inbox untouched."""
    content = tmp_path / "content"
    intake = make_intake(content, Clock())
    draft = md("kind: boletin\ntitle: Borrador con embargo\npublish_at: 2099-01-01T08:00\n")
    (intake.inbox / "borradores").mkdir()
    drop(intake.inbox, "borradores/Z.MD", draft)
    drop(intake.inbox, "borradores/w.markdown", draft)
    thief = md(
        "kind: boletin\ntitle: Ladrón\nattachments: [borradores/Z.MD, borradores/w.markdown]\n"
    )
    path = drop(intake.inbox, "ladron.md", thief)

    event = intake.take_file(path)

    assert isinstance(event, Rejected)
    assert [(p.field, p.line) for p in event.problems] == [
        ("attachments[0]", 4),
        ("attachments[1]", 4),
    ]
    assert "archivo de contenido (.md)" in event.reason_text
    assert (intake.inbox / "borradores" / "Z.MD").read_bytes() == draft
    assert (intake.inbox / "borradores" / "w.markdown").read_bytes() == draft
    assert not list(intake.archive.rglob("*.MD")) and not list(intake.rejected.rglob("Z.MD"))


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("pagina.html", b"<html><script>alert(1)</script></html>", ("'.html'", "no se aceptan")),
        ("pagina.htm", b"<p>hola</p>", ("'.htm'",)),
        ("dibujo.svg", b'<svg onload="alert(1)"/>', ("'.svg'",)),
        ("codigo.js", b"alert(document.domain)", ("'.js'",)),
        ("pagina.xhtml", b"<html/>", ("'.xhtml'",)),
        ("programa.exe", b"MZ\x90\x00", ("'.exe'",)),
        ("sinextension", b"texto", ("sin extensión",)),
        ("foto.png", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', ("SVG",)),
        ("nota.txt", b"  <!DOCTYPE html><html><script>x()</script>", ("HTML",)),
        ("tabla.csv", b"a,b\n<script>alert(1)</script>\n", ("script",)),
        ("informe.pdf", b"<html><body>no soy un PDF</body></html>", ("HTML",)),
        ("informe2.pdf", b"GIF89a no soy un PDF", ("no es un PDF",)),
    ],
)
def test_finding_9_active_attachments_are_refused(
    tmp_path: Path, name: str, data: bytes, words: tuple[str, ...]
) -> None:
    """Finding 9: attachments are an allow-list of document types, checked on content too:
    HTML, SVG, scripts (whatever the extension says) are refused with field and line."""
    intake = make_intake(tmp_path / "content", Clock())
    drop(intake.inbox, name, data)
    path = drop(
        intake.inbox, "pieza.md", md(f"kind: boletin\ntitle: Adjunto\nattachments: [{name}]\n")
    )

    event = intake.take_file(path)

    assert isinstance(event, Rejected), event
    assert [(p.field, p.line) for p in event.problems] == [("attachments[0]", 4)]
    for word in words:
        assert word in event.reason_text, event.reason_text
    assert not list(intake.archive.rglob(name))


def test_finding_9_documents_media_and_office_files_are_accepted(tmp_path: Path) -> None:
    """Finding 9: what the allow-list lets through (so the refusal is not a blanket one)."""
    intake = make_intake(tmp_path / "content", Clock())
    files = {
        "acta.pdf": b"%PDF-1.7 acta",
        "presupuesto.xlsx": b"PK\x03\x04 hoja",
        "informe.docx": b"PK\x03\x04 texto",
        "viejo.doc": b"\xd0\xcf\x11\xe0 doc",
        "cuña.mp3": b"ID3 audio",
        "video.mp4": b"\x00\x00\x00\x18ftypmp42",
        "datos.csv": b"barrio,obras\nCentro,3\n",
        "leeme.txt": b"Texto plano < 3 > 1\n",
        "plano.png": PNG,
    }
    for name, data in files.items():
        drop(intake.inbox, name, data)
    names = ", ".join(files)
    path = drop(
        intake.inbox, "pieza.md", md(f"kind: boletin\ntitle: Anexos\nattachments: [{names}]\n")
    )

    event = intake.take_file(path)

    assert isinstance(event, Accepted), getattr(event, "reason_text", event)
    for name, data in files.items():
        assert event.item.media_path(name).read_bytes() == data


def test_finding_9_the_image_field_takes_raster_images_only(tmp_path: Path) -> None:
    """Finding 9: ``image`` is a PNG, JPEG, GIF or WebP picture; an SVG is refused."""
    intake = make_intake(tmp_path / "content", Clock())
    drop(intake.inbox, "logo.svg", b'<svg onload="alert(1)"/>')
    drop(intake.inbox, "falsa.png", b'<svg onload="alert(1)"/>')
    for name in ("logo.svg", "falsa.png"):
        front = f"kind: boletin\ntitle: Logo {name}\nimage: {name}\nimage_alt: El logo\n"
        event = intake.take_file(drop(intake.inbox, f"{name}.md", md(front)))
        assert isinstance(event, Rejected)
        assert [(p.field, p.line) for p in event.problems] == [("image", 4)]
        assert "no es una imagen PNG, JPG, GIF o WebP" in event.reason_text


@pytest.mark.parametrize(
    ("body", "line", "code"),
    [
        ("Primera línea.\n\nTítulo \x1b[31mrojo\x1b[0m\n", 7, "U+001B"),
        ("Una campana\x07 suena.\n", 5, "U+0007"),
        ("Texto\n\nmás texto\x9b31m\n", 7, "U+009B"),
        ("Separador\u2028de línea\n", 5, "U+2028"),
    ],
)
def test_finding_10_control_characters_in_the_body_are_refused(
    tmp_path: Path, body: str, line: int, code: str
) -> None:
    """Finding 10: terminal control characters in the body (ESC, BEL, CSI…) are refused with
    the line, as in the header: they never reach posts, mail subjects or ``status``."""
    intake = make_intake(tmp_path / "content", Clock())
    path = drop(intake.inbox, "pieza.md", md("kind: boletin\ntitle: Hola\n", body))

    event = intake.take_file(path)

    assert isinstance(event, Rejected)
    assert [(p.field, p.line) for p in event.problems] == [(None, line)]
    assert code in event.reason_text and "carácter de control" in event.reason_text


def test_finding_10_tabs_and_newlines_stay_allowed(tmp_path: Path) -> None:
    """Finding 10: newline and tab are text, not control characters to refuse."""
    intake = make_intake(tmp_path / "content", Clock())
    body = "Columna\tvalor\n\n    código con sangría\n"
    event = intake.take_file(drop(intake.inbox, "p.md", md("kind: boletin\ntitle: Hola\n", body)))
    assert isinstance(event, Accepted)
    assert "\t" in event.item.body


def test_finding_10_file_names_cannot_forge_log_lines(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Finding 10: a newline or ESC in a file name is escaped in every log line and in the
    rejection's reason file: no forged log line, no terminal escape."""
    intake = make_intake(tmp_path / "content", Clock())
    forged = "mala\n2026-12-06 INFO pregonero: aceptado TODO\x1b[2J.md"
    good = "buena\n2026-12-06 WARNING falso\x1b]0;x\x07.md"
    drop(intake.inbox, forged, md("kind: boletn\ntitle: Mala\n"))
    drop(intake.inbox, good, md("kind: boletin\ntitle: Buena\n"))
    with caplog.at_level(logging.DEBUG):
        events = intake.scan()
    assert sorted(type(e).__name__ for e in events) == ["Accepted", "Rejected"]
    messages = [r.getMessage() for r in caplog.records]
    assert any("mala\\x0a" in m for m in messages), messages
    assert any("buena\\x0a" in m for m in messages), messages
    for message in messages:
        assert "\n" not in message and "\x1b" not in message and "\x07" not in message
    rejected = by_name(events)
    [bad] = [e for e in rejected.values() if isinstance(e, Rejected)]
    assert "\n" not in bad.name and "\x1b" not in bad.name
    reason = bad.error_path.read_text(encoding="utf-8")
    assert "\x1b" not in reason and "mala\\x0a2026" in reason


def _dense_table(size: int) -> str:
    rows = "|x|y|\n" * (size // 6)
    return "|a|b|\n|-|-|\n" + rows


def test_finding_12_a_dense_1mb_body_is_refused_quickly(tmp_path: Path) -> None:
    """Finding 12: a dense 1 MB Markdown file (it took 43 s and 435 MB to render) is refused
    at intake, with the reason, in well under a second's worth of work."""
    intake = Intake(
        tmp_path / "content",
        tz=TZ,
        known_kinds=KINDS,
        max_bytes=1_100_000,
        max_media_bytes=1_000_000,
        settle_seconds=0,
        media_grace_seconds=0,
    )
    data = md("kind: boletin\ntitle: Tabla enorme\n", _dense_table(1_000_000))
    path = drop(intake.inbox, "enorme.md", data)

    started = time.monotonic()
    event = intake.take_file(path)
    elapsed = time.monotonic() - started

    assert isinstance(event, Rejected)
    assert [(p.field, p.line) for p in event.problems] == [(None, 5)]
    assert "el texto pesa" in event.reason_text and "100.000" in event.reason_text
    assert elapsed < 5, elapsed


def test_finding_12_a_dense_body_under_the_size_limit_is_refused_by_its_elements(
    tmp_path: Path,
) -> None:
    """Finding 12: a body under the byte limit but dense (a huge table) is refused by the
    count of Markdown elements, which bounds rendering time; ordinary long text passes."""
    intake = Intake(
        tmp_path / "content",
        tz=TZ,
        known_kinds=KINDS,
        max_bytes=1_000_000,
        max_media_bytes=1_000_000,
        settle_seconds=0,
        media_grace_seconds=0,
    )
    dense = md("kind: boletin\ntitle: Tabla densa\n", _dense_table(MAX_BODY_BYTES - 1000))
    started = time.monotonic()
    event = intake.take_file(drop(intake.inbox, "densa.md", dense))
    assert time.monotonic() - started < 30
    assert isinstance(event, Rejected)
    assert "elementos de Markdown" in event.reason_text

    prose = ("Las obras del parque avanzan según el cronograma previsto. " * 12 + "\n\n") * 120
    assert len(prose.encode()) < MAX_BODY_BYTES
    event = intake.take_file(
        drop(intake.inbox, "larga.md", md("kind: boletin\ntitle: Larga\n", prose))
    )
    assert isinstance(event, Accepted), getattr(event, "reason_text", event)


def test_finding_12_check_refuses_a_fifo_and_a_device_at_once(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Finding 12: ``pregonero check`` reads regular files only: a FIFO (nobody writes to it)
    and ``/dev/zero`` get a clear Spanish error at once, never a hang or a MemoryError."""
    workspace.env["PREGONERO_DATABASE_URL"] = f"sqlite:///{tmp_path / 'pregonero.db'}"
    fifo = tmp_path / "tuberia.md"
    os.mkfifo(fifo)
    big = tmp_path / "grande.md"
    big.write_bytes(md("kind: boletin\ntitle: Grande\n", "x" * 1_100_000))

    started = time.monotonic()
    result = workspace.cli("check", str(fifo), "/dev/zero", str(big), timeout=60)

    assert time.monotonic() - started < 60
    assert result.returncode == 1, result.stdout + result.stderr
    assert "MemoryError" not in result.stderr and "Traceback" not in result.stderr
    assert f"{fifo}: ERROR\nno es un archivo normal (es una tubería (FIFO))" in result.stdout
    assert "/dev/zero: ERROR\nno es un archivo normal (es un dispositivo)" in result.stdout
    assert f"{big}: ERROR\nel archivo pesa" in result.stdout


def _stage(content: Path, name: str, data: bytes, age_days: float) -> Path:
    folder = content / "staging" / "telegram" / "123"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    when = time.time() - age_days * 86400
    os.utime(path, (when, when))
    return path


def test_finding_15_stale_staged_uploads_move_to_rejected_with_a_reason(tmp_path: Path) -> None:
    """Finding 15: a bot upload no ``.md`` used within a day (a zip) is moved by the scan to
    content/rejected/ with ``<name>.error.txt``; a fresh one waits; nothing is deleted, and
    a symlink in staging is moved as the link itself (its target untouched)."""
    content = tmp_path / "content"
    outside = tmp_path / "fuera.txt"
    outside.write_bytes(b"no tocar")
    old = _stage(content, "fotos.zip", b"PK\x03\x04 zip", age_days=2)
    fresh = _stage(content, "reciente.png", PNG, age_days=0)
    link = old.with_name("enlace.txt")
    link.symlink_to(outside)
    os.utime(link, (time.time() - 2 * 86400,) * 2, follow_symlinks=False)
    intake = make_intake(content, Clock())

    events = by_name(intake.scan())

    zipped = events["fotos.zip"]
    assert isinstance(zipped, Rejected)
    assert zipped.rejected_path == content / "rejected" / "fotos.zip"
    assert zipped.rejected_path.read_bytes() == b"PK\x03\x04 zip"
    reason = zipped.error_path.read_text(encoding="utf-8")
    assert "ningún archivo .md lo nombró" in reason and "Nada se borró" in reason
    assert not old.exists() and fresh.read_bytes() == PNG
    moved = content / "rejected" / "enlace.txt"
    assert moved.is_symlink() and outside.read_bytes() == b"no tocar"
    assert intake.scan() == []  # swept once; nothing left that is old


def test_finding_15_run_once_sweeps_staging(workspace: Workspace, tmp_path: Path) -> None:
    """Finding 15: ``run --once`` runs the same staging sweep."""
    workspace.env["PREGONERO_DATABASE_URL"] = f"sqlite:///{tmp_path / 'pregonero.db'}"
    _stage(workspace.content, "paquete.zip", b"PK\x03\x04", age_days=2)

    result = workspace.cli("run", "--once", timeout=120)

    assert result.returncode == 0, result.stdout + result.stderr
    rejected = workspace.content / "rejected"
    assert (rejected / "paquete.zip").read_bytes() == b"PK\x03\x04"
    assert (rejected / "paquete.zip.error.txt").exists()


def test_finding_12_the_renderer_refuses_a_body_over_the_limit_at_once(tmp_path: Path) -> None:
    """Finding 12: an item recorded before the limit existed (a dense 1 MB body in the
    ledger) is refused by the renderer with the reason, not rendered for minutes."""
    from dispatcher.render.renderer import Renderer, RenderError
    from tests.test_render import LABELS, make_item

    item = make_item(tmp_path, body=_dense_table(1_000_000))
    started = time.monotonic()
    with pytest.raises(RenderError) as caught:
        Renderer([], TZ, LABELS).render(item, "website")
    assert time.monotonic() - started < 2
    assert "el texto pesa" in str(caught.value) and "100.000" in str(caught.value)


def test_finding_10_text_quoted_from_the_file_is_escaped_in_reasons(tmp_path: Path) -> None:
    """Finding 10: a rejection quotes what the editor wrote (a wrong kind, an unknown key);
    control characters in it are written as ``\\x1b``, never passed to the .error.txt, the
    bot's reply or a terminal."""
    intake = make_intake(tmp_path / "content", Clock())
    front = 'kind: "\\e[31mboletn"\ntitle: Hola\n"ti\\e]0;x\\atle": otra\n'
    event = intake.take_file(drop(intake.inbox, "p.md", md(front)))
    assert isinstance(event, Rejected)
    written = event.error_path.read_text(encoding="utf-8")
    for text in (event.reason_text, written):
        assert "\x1b" not in text and "\x07" not in text, text
    assert "\\x1b[31mboletn" in event.reason_text
