"""Kill -9 ``pregonero run`` in the middle of a fan-out, start it again: nothing lost, no
delivery sent twice, and a social post caught mid-send becomes ``unknown`` (never re-sent
blindly) while idempotent channels simply finish."""

from __future__ import annotations

import os
import signal
import sqlite3
import time

from tests.conftest import Workspace
from tests.doubles.graph import GraphDouble


def _wait(predicate: object, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def _states(ws: Workspace) -> dict[tuple[str, str], str]:
    with sqlite3.connect(ws.root / "pregonero.db") as db:
        rows = db.execute("select item_id, channel, status from deliveries").fetchall()
    return {(item, channel): status for item, channel, status in rows}


def test_kill_9_mid_fanout(workspace: Workspace, graph_double: GraphDouble) -> None:
    names = [
        "2026-11-09-jornada-vacunacion-influenza.md",
        "2026-11-12-comite-discapacidad.md",
        "2026-11-19-mesa-publica-matriculas-2027.md",
    ]
    workspace.drop_examples(names)
    workspace.env.update(graph_double.settings_env())
    # Facebook is live against the double; the first post hangs far longer than the test.
    graph_double.fail_next(1, path=r"/feed$", method="POST", delay=120)

    proc = workspace.popen("run")
    try:
        _wait(lambda: len(graph_double.requests_to(r"/feed$", "POST")) >= 1)
        # let every other delivery of the batch finish, then pull the plug mid-send
        _wait(
            lambda: (
                (states := _states(workspace))
                and sum(s == "sent" for s in states.values()) == len(states) - 1
            )
        )
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)

    before = _states(workspace)
    stuck = [key for key, status in before.items() if status == "sending"]
    assert [key[1] for key in stuck] == ["facebook"], before
    hung_item = stuck[0][0]

    result = workspace.cli("run", "--once")
    # the recovered delivery ended ``unknown`` in this pass: exit 3, a human must look
    assert result.returncode == 3, result.stderr
    assert "resultado es desconocido" in result.stderr

    after = _states(workspace)
    assert after[stuck[0]] == "unknown"
    # everything else went out; nothing was lost
    assert {k: v for k, v in after.items() if k != stuck[0]} == {
        k: "sent" for k in after if k != stuck[0]
    }
    # exactly one Facebook post per item reached the service: the hung one was not re-sent
    posts = graph_double.requests_to(r"/feed$", "POST") + graph_double.requests_to(
        r"/photos$", "POST"
    )
    per_item: dict[str, int] = {}
    for request in posts:
        text = str(request.arg("message", "")) + str(request.arg("link", ""))
        for item in {k[0] for k in after}:
            if item in text:
                per_item[item] = per_item.get(item, 0) + 1
    assert per_item.get(hung_item) == 1
    assert all(count == 1 for count in per_item.values()), per_item

    status = workspace.cli("status", hung_item, check=True).stdout
    assert "DESCONOCIDO" in status
    assert "interrupted" in status or "se detuvo" in status

    # the editor checked Facebook: the post is not there; an explicit retry sends it once more
    workspace.cli("retry", hung_item, "--channel", "facebook", check=True)
    workspace.cli("run", "--once", check=True)
    assert _states(workspace)[stuck[0]] == "sent"
