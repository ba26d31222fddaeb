#!/usr/bin/env python
"""One campaign sent by 1 and by 2 processes on a PostgreSQL ledger, into Postfix's
``smtp-sink``, against ``smtp-source`` in the same round.

Each process runs what a ``pregonero worker`` runs for a campaign: the first
``CampaignSender.run(campaign)`` (the delivery's own run, which sees the campaign through),
the others ``run(campaign, join=True)`` (what a worker's joiner starts): they claim batches
of recipients with ``FOR UPDATE SKIP LOCKED``, ``--connections`` SMTP connections each,
every recipient recorded before and after its message. The processes start together at
an agreed instant (so Python's start-up is not timed); the campaign's time runs from that
instant to the last process's end. Rounds are interleaved (smtp-source, 1 process, 2
processes) and repeated; medians are printed with the ratio 2 / 1.

    .venv/bin/python bench/mailing_workers.py [--recipients 20000] [--connections 8]
        [--rounds 3] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

Needs PostgreSQL (a scratch database is created and dropped) and Postfix's ``smtp-sink``
and ``smtp-source``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.mailing import (  # noqa: E402
    FROM,
    SINK,
    SOURCE,
    free_port,
    rendered_example,
    run_in_loop,
    smtp_source_rate,
    start_sink,
)

START_MARGIN = 4.0  # seconds for the children to start before the agreed instant


def settings_for(url: str, port: int, connections: int) -> Any:
    from settings import Settings

    return Settings(
        content_dir=ROOT / "content",
        database_url=url,
        smtp={"host": "127.0.0.1", "port": port, "from": FROM, "connections": connections,
              "rate": 1e9},
        web={"public_url": "https://pregonero.bucaramanga.gov.co"},
        _env_file=None,
    )  # fmt: skip


async def child_populate(url: str, recipients: int) -> dict[str, Any]:
    import dispatcher.services.mailing  # noqa: F401
    from dispatcher.ledger.store import Ledger
    from dispatcher.services.mailing.subscribers import import_csv

    ledger = Ledger.from_url(url)
    await ledger.init()
    lines = ["email,name,audiences,consent_at,consent_source"]
    lines += [
        f"lector{i}@example.org,Lector {i},ciudadania,2026-01-15,formulario web"
        for i in range(recipients)
    ]
    settings = settings_for(url, 25, 1)
    report = await import_csv(ledger, io.StringIO("\n".join(lines)), tz=settings.tz)
    await ledger.close()
    return {"added": report.added}


async def child_campaign(url: str, tag: str) -> dict[str, Any]:
    import dispatcher.services.mailing  # noqa: F401
    from dispatcher.items.audiences import audience_mask
    from dispatcher.ledger.store import Ledger
    from dispatcher.services.mailing.bulletin import item_campaign, list_for

    ledger = Ledger.from_url(url)
    await ledger.init()
    campaign_id = await item_campaign(
        ledger, item_id=f"bench-workers-{tag}", revision=1, content=rendered_example(),
        audiences=audience_mask(["ciudadania"]),
        list_id=list_for("boletin", "Boletín de prensa", "bucaramanga.gov.co"),
    )  # fmt: skip
    await ledger.close()
    return {"campaign": campaign_id}


async def child_send(
    url: str, port: int, connections: int, campaign_id: int, join: bool, at: float
) -> dict[str, Any]:
    import dispatcher.services.mailing  # noqa: F401
    from dispatcher.ledger.store import Ledger
    from dispatcher.services.mailing.campaign import CampaignSender

    ledger = Ledger.from_url(url)
    await ledger.init()
    sender = CampaignSender(ledger, settings_for(url, port, connections))
    await asyncio.sleep(max(0.0, at - time.time()))
    result = await sender.run(campaign_id, join=join)
    ended = time.time()
    await ledger.close()
    return {"sent": result.sent_now, "ended": ended, "error": result.error,
            "total_sent": result.sent, "total": result.total}  # fmt: skip


def _child(*args: str) -> list[str]:
    return [sys.executable, __file__, "--child", *args]


def _json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    if done.returncode != 0:
        sys.exit(f"child failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def send_with(processes: int, url: str, port: int, connections: int, tag: str) -> dict[str, Any]:
    campaign = _json(subprocess.run(_child("campaign", url, tag), capture_output=True, text=True))
    at = time.time() + START_MARGIN
    procs = [
        subprocess.Popen(
            _child(
                "send",
                url,
                str(port),
                str(connections),
                str(campaign["campaign"]),
                "join" if i else "own",
                str(at),
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(processes)
    ]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        outs.append(_json(subprocess.CompletedProcess(proc.args, proc.returncode, out, err)))
    sent = sum(o["sent"] for o in outs)
    elapsed = max(o["ended"] for o in outs) - at
    return {
        "sent": sent, "elapsed": elapsed, "rate": sent / elapsed,
        "per_process": [o["sent"] for o in outs], "all_sent": outs[0]["total_sent"],
        "total": outs[0]["total"], "errors": [o["error"] for o in outs if o["error"]],
    }  # fmt: skip


async def scratch_database(server: str) -> str:
    import asyncpg

    name = f"pregonero_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return server.rsplit("/", 1)[0] + "/" + name


async def drop_database(server: str, url: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=8, help="per process")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        kind, *rest = args.child
        if kind == "populate":
            out = asyncio.run(child_populate(rest[0], int(rest[1])))
        elif kind == "campaign":
            out = asyncio.run(child_campaign(rest[0], rest[1]))
        else:
            url, port, k, campaign, role, at = rest
            send = child_send(url, int(port), int(k), int(campaign), role == "join", float(at))
            out = run_in_loop("default", send)
        print(json.dumps(out))
        return

    if not (SINK.exists() and SOURCE.exists()):
        sys.exit("Falta Postfix: /usr/sbin/smtp-sink y smtp-source (apt-get install postfix).")
    n, k = args.recipients, args.connections
    command = "python bench/mailing_workers.py " + " ".join(sys.argv[1:])
    url = asyncio.run(scratch_database(args.postgres))
    port = free_port()
    sink = start_sink(port)
    ratios: list[float] = []
    shares: dict[int, list[float]] = {1: [], 2: []}
    try:
        _json(subprocess.run(_child("populate", url, str(n)), capture_output=True, text=True))
        print(f"PostgreSQL {url.rsplit('/', 1)[1]}; smtp-sink en 127.0.0.1:{port}; "
              f"{n} destinatarios; {k} conexiones por proceso")  # fmt: skip
        for round_ in range(1, args.rounds + 1):
            print(f"-- ronda {round_}")
            source = smtp_source_rate(port, n)
            print(f"smtp-source -d -s 8 -m {n} -l 5000: {source:,.0f} msg/s")
            rates = {}
            for processes in (1, 2):
                got = send_with(processes, url, port, k, f"{round_}-{processes}")
                rates[processes] = got["rate"]
                shares[processes].append(got["rate"] / source)
                ok = got["sent"] == n and got["all_sent"] == got["total"] == n
                print(f"{processes} proceso(s): {got['sent']} en {got['elapsed']:.2f} s = "
                      f"{got['rate']:,.0f} msg/s ({got['rate'] / source:.1%} de smtp-source); "
                      f"por proceso {got['per_process']}; todos 'sent' en el ledger: "
                      f"{'sí' if ok else 'NO'}{'; errores: ' + str(got['errors']) if got['errors'] else ''}")  # fmt: skip
            ratios.append(rates[2] / rates[1])
            print(f"2 procesos / 1 proceso = {ratios[-1]:.2f}×")
        print(f"\nMedianas de {args.rounds} ronda(s) ({command}):")
        for processes in (1, 2):
            print(f"[{processes} proceso(s)] Pregonero / smtp-source = "
                  f"{statistics.median(shares[processes]):.1%}")  # fmt: skip
        print(f"2 procesos / 1 proceso = {statistics.median(ratios):.2f}× "
              "(2 núcleos compartidos con smtp-sink y PostgreSQL)")  # fmt: skip
    finally:
        sink.terminate()
        sink.wait()
        asyncio.run(drop_database(args.postgres, url))


if __name__ == "__main__":
    main()
