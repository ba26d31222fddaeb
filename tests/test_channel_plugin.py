"""A channel added by another package through the ``pregonero.channels`` entry point gets
its own settings section and goes live like a built-in one: the real CLI in a subprocess,
with the demo plugin (tests/plugins/pregonero_demo) installed through its ``.dist-info``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import Workspace

PLUGIN = Path(__file__).resolve().parent / "plugins" / "pregonero_demo"
SECRET = "demo-secreto-7f3a9c"
EXAMPLE = "2026-11-03-parque-san-pio-reabre.md"
ITEM = "2026-11-03-parque-san-pio-reabre"
BOLETIN_CHANNELS = "    channels: [website, facebook, x, telegram, mailing]\n"


def with_plugin(workspace: Workspace) -> Path:
    """Install the demo plugin for the workspace's CLI runs, name it in the plan for
    ``boletin`` and give it a template; returns the file the plugin writes to."""
    paths = [str(PLUGIN), *filter(None, [os.environ.get("PYTHONPATH")])]
    workspace.env["PYTHONPATH"] = os.pathsep.join(paths)
    plan = workspace.content / "plan.yaml"
    text = plan.read_text("utf-8")
    at = text.index("  boletin:\n")
    at = text.index(BOLETIN_CHANNELS, at)
    demo = BOLETIN_CHANNELS.replace("mailing]", "mailing, demo]")
    plan.write_text(text[:at] + demo + text[at + len(BOLETIN_CHANNELS) :], "utf-8")
    templates = workspace.content / "templates" / "demo"
    templates.mkdir(parents=True)
    (templates / "default.txt.j2").write_text(
        "{{ site_name }}: {{ item.title }}\n{{ url }}\n", "utf-8"
    )
    output = workspace.root / "demo.jsonl"
    workspace.env["PREGONERO_DEMO__OUTPUT"] = str(output)
    return output


def test_plugin_channel_goes_live_with_its_settings_section(workspace: Workspace) -> None:
    output = with_plugin(workspace)
    workspace.env["PREGONERO_DEMO__TOKEN"] = SECRET
    workspace.env["PREGONERO_WEBSITE__SITE_NAME"] = "Alcaldía de Pruebas"
    workspace.drop_examples([EXAMPLE])

    run = workspace.cli("run", "--once", check=True)

    [record] = [json.loads(line) for line in output.read_text("utf-8").splitlines()]
    assert record["item_id"] == ITEM and record["channel"] == "demo"
    assert record["token"] == SECRET  # its own section reached it
    assert record["site_name"] == "Alcaldía de Pruebas"  # through the channel context
    page = f"https://www.bucaramanga.gov.co/noticias/2026/11/{ITEM}/"
    assert record["url"] == page  # after the website, like any social channel
    assert record["text"].startswith("Alcaldía de Pruebas: El parque San Pío reabre")
    assert not (workspace.outbox / "demo").exists()

    check = workspace.cli("channels", "check")
    assert f"demo: OK — demo escribe en {output}" in check.stdout
    status = workspace.cli("status", check=True)
    assert "demo" in status.stdout and "en vivo" in status.stdout
    detail = workspace.cli("status", ITEM, check=True)
    assert "demo" in detail.stdout and "enviado" in detail.stdout
    for result in (run, check, status, detail):
        assert SECRET not in result.stdout + result.stderr


def test_plugin_without_its_credential_stays_in_outbox(workspace: Workspace) -> None:
    # PREGONERO_DEMO__OUTPUT alone is set: the plugin's has_credentials() says no token,
    # so the channel writes to the outbox and says so.
    output = with_plugin(workspace)
    workspace.drop_examples([EXAMPLE])

    run = workspace.cli("run", "--once", check=True)
    assert "canal demo en modo bandeja de salida" in run.stderr
    assert not output.exists()
    record = json.loads((workspace.outbox / "demo" / f"{ITEM}.r1.json").read_text("utf-8"))
    assert record["channel"] == "demo" and record["item_id"] == ITEM
    assert "demo: bandeja de salida" in workspace.cli("channels", "check").stdout

    # PREGONERO_DEMO__MODE=live overrides the plugin's own judgement
    workspace.env["PREGONERO_DEMO__MODE"] = "live"
    workspace.env["PREGONERO_DEMO__TOKEN"] = SECRET
    assert "demo: OK" in workspace.cli("channels", "check").stdout
    workspace.env["PREGONERO_DEMO__MODE"] = "outbox"
    assert "demo: bandeja de salida" in workspace.cli("channels", "check").stdout
