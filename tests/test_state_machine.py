"""The item's state machine through the real CLI: corrections need their approvals again,
``cancel`` stops only what has not gone out, and ``run --once`` says with its exit code when
a delivery needs a human."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import Workspace
from tests.test_bot_support import content_file, plan_with_approvals

ITEM = "licitacion-vias-2027"


def _outbox_texts(workspace: Workspace) -> str:
    """Everything the outbox adapters wrote (every channel but the website)."""
    return "\n".join(
        p.read_text(encoding="utf-8", errors="replace")
        for p in workspace.outbox.rglob("*")
        if p.is_file()
    )


def _site_text(workspace: Workspace) -> str:
    return "\n".join(
        p.read_text(encoding="utf-8", errors="replace")
        for p in workspace.site.rglob("*.html")
        if p.is_file()
    )


def _contract(body: str, publish_at: datetime) -> bytes:
    when = publish_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return content_file(
        ITEM,
        kind="contratacion",
        title="Licitación para el mantenimiento de vías",
        extra=f"publish_at: {when}\n",
        body=body,
    )


def test_a_correction_before_the_embargo_needs_both_approvals_again(
    workspace: Workspace,
) -> None:
    plan_with_approvals(workspace.content / "plan.yaml")  # contratacion: 2 editors
    embargo = datetime.now(UTC) + timedelta(seconds=6)
    workspace.write(f"{ITEM}.md", _contract("Presupuesto: 1.000 millones.", embargo))
    workspace.cli("run", "--once", check=True)
    workspace.cli("approve", ITEM, "--editor", "Ana", check=True)
    done = workspace.cli("approve", ITEM, "--editor", "Luis", check=True)
    assert "aprobada por Ana, Luis" in done.stdout

    # the editor fixes a figure before the embargo: the new text is not approved yet
    workspace.write(f"{ITEM}.md", _contract("Presupuesto: 2.000 millones.", embargo))
    corrected = workspace.cli("run", "--once", check=True)
    assert "cuando la aprueben 2 editor(es)" in corrected.stdout
    report = workspace.cli("status", ITEM, check=True).stdout
    assert "espera aprobación" in report and "revisión 2" in report
    assert "aprobaciones: 0 de 2 (revisión 2)" in report

    # past the embargo nothing goes out while the correction waits
    time.sleep(max(0.0, (embargo - datetime.now(UTC)).total_seconds()) + 0.5)
    workspace.cli("run", "--once", check=True)
    assert "millones" not in _site_text(workspace) + _outbox_texts(workspace)

    one = workspace.cli("approve", ITEM, "--editor", "Ana", check=True)
    assert "falta la aprobación de 1" in one.stdout
    workspace.cli("run", "--once", check=True)
    assert "millones" not in _site_text(workspace) + _outbox_texts(workspace)

    workspace.cli("approve", ITEM, "--editor", "Luis", check=True)
    workspace.cli("run", "--once", check=True)
    published = _site_text(workspace) + _outbox_texts(workspace)
    assert "2.000 millones" in published and "1.000 millones" not in published


def test_cancel_of_a_published_item_cancels_nothing_and_a_correction_still_goes_out(
    workspace: Workspace,
) -> None:
    workspace.write("ciclorruta.md", content_file("ciclorruta", body="Tiene 4 km de carril."))
    workspace.cli("run", "--once", check=True)

    cancel = workspace.cli("cancel", "ciclorruta")
    assert cancel.returncode == 1
    assert "ya salió" in cancel.stdout and "no queda nada por cancelar" in cancel.stdout
    report = workspace.cli("status", "ciclorruta", check=True).stdout
    assert "estado: lista" in report and "cancelad" not in report

    workspace.write("ciclorruta.md", content_file("ciclorruta", body="Tiene 5 km de carril."))
    corrected = workspace.cli("run", "--once", check=True)
    assert "corrección ciclorruta: se corrige en" in corrected.stdout
    assert "website" in corrected.stdout.split("corrección ciclorruta:", 1)[1].splitlines()[0]
    assert "5 km" in _site_text(workspace)
    report = workspace.cli("status", "ciclorruta", check=True).stdout
    assert "r2 [corrección]: enviado" in report


def test_cancel_stops_only_what_has_not_gone_out(workspace: Workspace) -> None:
    """Scheduled for later: cancelling stops every channel; retry resumes them."""
    later = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    workspace.write(
        "obra.md", content_file("obra", extra=f"publish_at: {later}\n", body="Obra en la 27.")
    )
    workspace.cli("run", "--once", check=True)
    cancel = workspace.cli("cancel", "obra", check=True)
    assert "obra cancelada" in cancel.stdout and "pregonero retry obra" in cancel.stdout
    assert "estado: cancelada" in workspace.cli("status", "obra", check=True).stdout
    resumed = workspace.cli("retry", "obra", check=True)
    assert "website" in resumed.stdout
    assert "estado: lista" in workspace.cli("status", "obra", check=True).stdout


def test_run_once_exit_codes(workspace: Workspace, tmp_path: Path) -> None:
    """0 when everything was handled, rejected files included (they have their reasons)."""
    workspace.write("bien.md", content_file("bien"))
    workspace.write("mal.md", "---\nkind: boletin\n---\nsin título\n")
    result = workspace.cli("run", "--once")
    assert result.returncode == 0, result.stderr
    assert (workspace.content / "rejected" / "mal.md.error.txt").exists()
