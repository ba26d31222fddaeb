"""Approvals without the bot: what ``pregonero approve`` (the CLI) will call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from dispatcher.ledger.types import NotFound
from dispatcher.services.approvals import approval_lines, approvals_for, approve, release, schedule
from dispatcher.services.context import App
from dispatcher.services.ingest import Tally, make_intake, record
from tests.conftest import Workspace
from tests.test_bot_support import approvals_app, content_file, plan_with_approvals


@pytest.fixture
async def app(tmp_path: Path, ledger_url: str) -> AsyncIterator[App]:
    """On SQLite and PostgreSQL: the row lock that orders approvals differs."""
    async with approvals_app(tmp_path, ledger_url) as application:
        yield application


async def take(app: App, item_id: str, kind: str) -> None:
    path = app.settings.content_dir / f"{item_id}.md"
    path.write_bytes(content_file(item_id, kind=kind))
    event = await asyncio.to_thread(make_intake(app).take_file, path)
    await record(app, event, Tally())


async def status(app: App, item_id: str) -> str:
    row = await app.ledger.get_item(item_id)
    assert row is not None
    return str(row.status)


async def test_cli_approvals_count_distinct_names(app: App) -> None:
    await take(app, "licitacion-vias", "contratacion")
    first = await approve(app, "licitacion-vias", None, "Ana Gómez", "cli")
    assert (first.outcome, first.missing) == ("recorded", 1)
    again = await approve(app, "licitacion-vias", None, "  ana   GÓMEZ ", "cli")
    assert again.outcome == "already"
    second = await approve(app, "licitacion-vias", 222, "Luis", "bot")
    assert second.outcome == "approved" and second.approvers == ("Ana Gómez", "Luis")
    assert await status(app, "licitacion-vias") == "ready"
    assert "aprobada por Ana Gómez, Luis" in second.message(app.settings.tz)

    lines = await approval_lines(app, "licitacion-vias")
    assert lines[0] == "  aprobaciones: 2 de 2 (revisión 1)"
    assert "Ana Gómez aprobó · r1 · vía cli" in lines[1]
    assert "Luis [222] aprobó · r1 · vía bot" in lines[2]

    late = await approve(app, "licitacion-vias", 333, "Marta", "cli")
    assert late.outcome == "not_awaiting"
    assert len(await approvals_for(app.ledger, "licitacion-vias")) == 2


async def test_simultaneous_approvals_are_counted_one_after_the_other(app: App) -> None:
    await take(app, "licitacion-vias", "contratacion")
    results = await asyncio.gather(
        approve(app, "licitacion-vias", 111, "Ana", "bot"),
        approve(app, "licitacion-vias", 222, "Luis", "bot"),
        approve(app, "licitacion-vias", 222, "Luis", "bot"),
    )
    outcomes = [r.outcome for r in results]
    assert outcomes.count("approved") == 1 and outcomes.count("recorded") == 1
    # the third is "already" or, if it came last, "not_awaiting": never a second approval
    assert set(outcomes) - {"approved", "recorded"} <= {"already", "not_awaiting"}
    assert await status(app, "licitacion-vias") == "ready"
    assert len(await approvals_for(app.ledger, "licitacion-vias")) == 2


async def test_unknown_item_and_bad_via(app: App) -> None:
    with pytest.raises(NotFound):
        await approve(app, "no-existe", 1, "Ana", "bot")
    await take(app, "informe-pae", "informe_especial")
    with pytest.raises(ValueError):
        await approve(app, "informe-pae", 1, "Ana", "fax")
    assert await status(app, "informe-pae") == "awaiting_approval"


async def test_schedule_keeps_the_approval_requirement(app: App) -> None:
    await take(app, "informe-pae", "informe_especial")
    when = app.clock() + timedelta(days=1)
    scheduled = await schedule(app, "informe-pae", when, 111, "Ana", "bot")
    assert scheduled.outcome == "scheduled"
    row = await app.ledger.get_item("informe-pae")
    assert row is not None and row.status == "awaiting_approval" and row.publish_at == when
    assert (await release(app, "informe-pae", 111, "Ana", "bot")).outcome == "not_scheduled"
    approved = await approve(app, "informe-pae", 111, "Ana", "bot")
    assert "saldrá el" in approved.message(app.settings.tz)  # approval does not lift the date
    assert (await release(app, "informe-pae", 111, "Ana", "bot")).outcome == "released"

    await app.ledger.cancel("informe-pae")
    assert (await schedule(app, "informe-pae", when, 111, "Ana", "bot")).outcome == "cancelled"


def test_pregonero_approve_and_status(workspace: Workspace) -> None:
    plan_with_approvals(workspace.content / "plan.yaml")
    workspace.write("licitacion.md", content_file("licitacion-vias", kind="contratacion"))
    workspace.cli("run", "--once", check=True)

    first = workspace.cli("approve", "licitacion-vias", "--editor", "Ana Gómez", check=True)
    assert "aprobación registrada (1 de 2)" in first.stdout
    second = workspace.cli(
        "approve", "licitacion-vias", "--editor", "Luis", "--editor-id", "222", check=True
    )
    assert "aprobada por Ana Gómez, Luis" in second.stdout
    assert workspace.cli("approve", "no-existe", "--editor", "Ana").returncode == 1
    report = workspace.cli("status", "licitacion-vias", check=True).stdout
    assert "aprobaciones: 2 de 2" in report
    assert "Ana Gómez aprobó · r1 · vía cli" in report


def test_cli_retry_of_a_cancelled_item_keeps_the_approval_requirement(
    workspace: Workspace,
) -> None:
    plan_with_approvals(workspace.content / "plan.yaml")
    workspace.write("licitacion.md", content_file("licitacion-vias", kind="contratacion"))
    workspace.cli("run", "--once", check=True)
    workspace.cli("cancel", "licitacion-vias", check=True)
    out = workspace.cli("retry", "licitacion-vias", check=True).stdout
    assert "sigue esperando aprobación" in out
    workspace.cli("run", "--once", check=True)
    report = workspace.cli("status", "licitacion-vias", check=True).stdout
    assert "espera aprobación" in report
    assert "enviado" not in report  # nothing went out without its two approvals
