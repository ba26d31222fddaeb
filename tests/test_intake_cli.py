"""``pregonero run --once`` never stops on one file (issue 9): each bad file is rejected with
its reason, the good ones are published, the exit code is 0 (rejections are handled)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import Workspace
from tests.corpus.bad_inputs import md

GOOD_EXAMPLE = "2026-11-09-jornada-vacunacion-influenza.md"
BAD_NAME = os.fsdecode(b"bolet\xedn-latin1.md")  # a name whose bytes are not UTF-8
BAD_NAME_DATA = md("kind: boletin\ntitle: Nombre en latin-1\nid: nombre-latin1\n")

CRASHERS = {
    "adjunto-punto.md": (md("kind: boletin\ntitle: Adjunto\nattachments: [.]\n"), "línea 4"),
    "imagen-punto.md": (
        md("kind: boletin\ntitle: Imagen\nimage: ./\nimage_alt: Una foto\n"),
        "línea 4",
    ),
    "fecha-lejana.md": (
        md("kind: boletin\ntitle: Lejana\npublish_at: 9999-12-31T23:59:59-12:00\n"),
        "fuera de rango",
    ),
    "titulo-nulo.md": (md('kind: boletin\ntitle: "Con\\0 nulo"\n'), "U+0000"),
    "publico-errado.md": (
        md("kind: boletin\ntitle: Públicos\naudiences: [periodsitas]\n"),
        "¿quiso decir 'periodistas'?",
    ),
}


def test_run_once_rejects_each_bad_file_and_publishes_the_rest(
    workspace: Workspace, ledger_url: str
) -> None:
    workspace.env["PREGONERO_DATABASE_URL"] = ledger_url
    workspace.drop_examples([GOOD_EXAMPLE])
    for name, (data, _why) in CRASHERS.items():
        workspace.write(name, data)
    (workspace.inbox / BAD_NAME).write_bytes(BAD_NAME_DATA)

    result = workspace.cli("run", "--once")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "1 aceptado(s)" in result.stdout and "6 rechazado(s)" in result.stdout
    pages = list(workspace.site.rglob("*jornada-vacunacion-influenza*/index.html"))
    assert pages, result.stdout  # the good file went out
    rejected = workspace.content / "rejected"
    for name, (data, why) in CRASHERS.items():
        assert (rejected / name).read_bytes() == data, name
        reason = (rejected / f"{name}.error.txt").read_text(encoding="utf-8")
        assert why in reason, (name, reason)
    # The non-UTF-8 name: kept with its bytes under an escaped, readable name.
    escaped = rejected / "bolet\\xedn-latin1.md"
    assert escaped.read_bytes() == BAD_NAME_DATA
    reason = Path(f"{escaped}.error.txt").read_text(encoding="utf-8")
    assert "no es UTF-8" in reason and "bolet\\xedn-latin1.md" in reason
    assert not list(workspace.inbox.glob("*.md"))
    assert not [p for p in workspace.inbox.iterdir() if p.is_file()]


def test_a_plan_that_disagrees_with_the_timezone_setting_stops_start_up(
    workspace: Workspace,
) -> None:
    workspace.env["PREGONERO_TIMEZONE"] = "America/Lima"
    workspace.drop_examples([GOOD_EXAMPLE])
    result = workspace.cli("run", "--once")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "PREGONERO_TIMEZONE" in result.stderr and "America/Lima" in result.stderr
    assert "línea" in result.stderr and "Traceback" not in result.stderr
    assert list(workspace.inbox.glob("*.md"))  # nothing was taken in
    check = workspace.cli("check", str(workspace.inbox / GOOD_EXAMPLE))
    assert check.returncode == 2 and "PREGONERO_TIMEZONE" in check.stderr
