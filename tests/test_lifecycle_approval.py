"""Withdrawal of a kind that requires approval, through the real CLI in outbox mode
(issue 12): ``pregonero withdraw`` records a pending withdrawal (what had not gone out
stops at once); it takes effect when as many distinct editors as publishing needs approve
it with ``pregonero approve``; ``status`` shows each step.
"""

from __future__ import annotations

import json
import sqlite3

from tests.conftest import Workspace
from tests.test_bot_support import content_file, plan_with_approvals

ITEM = "licitacion-vias"


def _actions(ws: Workspace) -> list[tuple[str, str, str]]:
    with sqlite3.connect(ws.root / "pregonero.db") as db:
        return db.execute(
            "select channel, action, status from deliveries where item_id = ? order by id",
            (ITEM,),
        ).fetchall()


def test_a_withdrawal_of_an_approval_kind_waits_for_two_editors(workspace: Workspace) -> None:
    plan_with_approvals(workspace.content / "plan.yaml")  # contratacion: 2 editors
    workspace.write(
        f"{ITEM}.md",
        content_file(ITEM, kind="contratacion", title="Licitación para el mantenimiento de vías"),
    )
    workspace.cli("run", "--once", check=True)
    workspace.cli("approve", ITEM, "--editor", "Ana", check=True)
    workspace.cli("approve", ITEM, "--editor", "Luis", check=True)
    workspace.cli("run", "--once", check=True)
    published = {c for c, a, s in _actions(workspace) if a == "publish" and s == "sent"}
    assert published == {"website", "facebook", "x"}

    asked = workspace.cli("withdraw", ITEM, "--reason", "Pliego equivocado", check=True)
    assert "espera la aprobación de 2 editor(es)" in asked.stdout
    workspace.cli("run", "--once", check=True)
    assert not [a for _, a, _ in _actions(workspace) if a == "withdraw"]  # not yet
    report = workspace.cli("status", ITEM, check=True).stdout
    assert "retiro pendiente de aprobación" in report and "Pliego equivocado" in report
    assert "estado: lista" in report

    first = workspace.cli("approve", ITEM, "--editor", "Ana", check=True)
    assert "Aprobación del retiro" in first.stdout
    again = workspace.cli("approve", ITEM, "--editor", "Ana", check=True)
    assert "ya aprobó el retiro" in again.stdout
    done = workspace.cli("approve", ITEM, "--editor", "Luis", check=True)
    assert "retirada" in done.stdout
    workspace.cli("run", "--once", check=True)

    withdrawn = {c: s for c, a, s in _actions(workspace) if a == "withdraw"}
    assert withdrawn == {"facebook": "sent", "x": "sent", "website": "sent"}
    for channel in ("facebook", "x"):
        record = json.loads(
            (workspace.outbox / channel / f"{ITEM}.retirada.json").read_text("utf-8")
        )
        assert record["reason"] == "Pliego equivocado" and record["item_id"] == ITEM
    page = next(workspace.site.glob(f"**/{ITEM}/index.html")).read_text("utf-8")
    assert "Esta publicación fue retirada el" in page and "Motivo: Pliego equivocado" in page
    report = workspace.cli("status", ITEM, check=True).stdout
    assert "estado: retirada" in report and "aprobado por Ana, Luis" in report
    assert "aprobó el retiro" in report


def test_withdraw_needs_a_reason_and_an_existing_item(workspace: Workspace) -> None:
    missing = workspace.cli("withdraw", "no-existe", "--reason", "lo que sea")
    assert missing.returncode == 1 and "No existe la pieza" in missing.stderr
    workspace.write("aviso.md", content_file("aviso"))
    workspace.cli("run", "--once", check=True)
    empty = workspace.cli("withdraw", "aviso", "--reason", " ")
    assert empty.returncode == 1 and "motivo" in empty.stderr
