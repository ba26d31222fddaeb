"""``pregonero worker``'s command line: it needs Redis, and ``--check`` says whether live
workers serve the queues (exit 0/1)."""

from __future__ import annotations

import asyncio

from tests.conftest import Workspace
from tests.test_scale_support import Workers

pytest_plugins = ["tests.test_scale_support"]


def test_worker_needs_redis(workspace: Workspace) -> None:
    result = workspace.cli("worker")
    assert result.returncode == 2 and "PREGONERO_REDIS_URL" in result.stderr
    assert workspace.cli("worker", "--check").returncode == 2


async def test_worker_check_reports_health(
    workspace: Workspace, postgres_url: str, redis_url: str
) -> None:
    workspace.env.update({"PREGONERO_REDIS_URL": redis_url, "PREGONERO_DATABASE_URL": postgres_url})
    alone = await asyncio.to_thread(workspace.cli, "worker", "--check")
    assert alone.returncode == 1
    assert "Trabajadores vivos: 0" in alone.stdout and "SIN trabajadores" in alone.stdout
    workers = Workers(workspace)
    try:
        workers.start(1)
        await workers.ready(1)
        healthy = await asyncio.to_thread(workspace.cli, "worker", "--check")
        assert healthy.returncode == 0, healthy.stdout + healthy.stderr
        assert "cola pregonero:deliver: 1 trabajador(es)" in healthy.stdout
        assert "Registro: responde" in healthy.stdout
    finally:
        logs = workers.stop()
    assert "Trabajador detenido." in logs
    stopped = await asyncio.to_thread(workspace.cli, "worker", "--check")
    assert stopped.returncode == 1  # a stopped worker removes its health keys
