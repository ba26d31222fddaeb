"""Fan-out benchmark: N bulletins × 5 channels into local doubles, in-process vs arq.

    .venv/bin/python bench/fanout.py [--items 1000] [--modes inprocess,arq1,arq2]

Each mode gets a fresh content folder and ledger, and the same doubles, run as separate
processes (``python -m tests.doubles <service> --port N``): WordPress (website), Graph
(facebook), X, Telegram (a private chat: PTB's AIORateLimiter then paces at 30 msg/s per
process instead of 20 msg/min per group) and the mailing channel in its plan mode for
bulletins (``digest``: each delivery records the item for the 17:00 bulletin). The N files
are dropped into the inbox at once and ``pregonero run`` takes them in (in batches, as it
does in production); with arq, ``pregonero run`` enqueues and ``pregonero worker``
processes deliver.

Figures: items/s (N over the time from the drop to the last delivery) and the
drop-to-delivered time of an item (its last delivery), p50/p95.

Needs Redis (``--redis``, default ``redis://127.0.0.1:6379/14``, FLUSHDB'd) and, for the
arq modes (and ``inprocess-pg``), PostgreSQL (``--postgres``; a database per run, dropped).
Mode ``inprocess`` uses the embedded default, SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SERVICES = {"wordpress": "website", "facebook": "facebook", "x": "x", "telegram": "telegram"}
PRIVATE_CHAT = "5550001"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_double(service: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    port = free_port()
    proc = subprocess.Popen(
        [PYTHON, "-m", "tests.doubles", service, "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    env: dict[str, str] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("export "):
            name, _, value = line[len("export ") :].strip().partition("=")
            env[name] = value.strip("'")
        if env and "PREGONERO_" in line and line.rstrip().endswith("live'"):
            break
    return proc, env


def bulletin(n: int, tag: str) -> str:
    """A bulletin; ``tag`` keeps texts unique across runs (X and Graph refuse duplicates)."""
    return (
        f"---\nkind: boletin\nid: bench-{n:05d}\n"
        f'title: "Boletín de carga {tag} número {n:05d}"\ndate: 2026-11-26\n---\n\n'
        f"Texto del boletín de carga número {n:05d}: la Alcaldía informa a la ciudadanía.\n"
    )


def base_env(
    root: Path, doubles: dict[str, str], database_url: str | None, concurrency: int | None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREGONERO_")}
    env.update(doubles)
    env.update(
        {
            "PREGONERO_CONTENT_DIR": str(root / "content"),
            "PREGONERO_TELEGRAM__CHAT_ID": PRIVATE_CHAT,
            "PREGONERO_SMTP__HOST": "127.0.0.1",
            "PREGONERO_SMTP__PORT": str(free_port()),
            "PREGONERO_SMTP__FROM": "Prensa <prensa@bucaramanga.gov.co>",
            "PREGONERO_WEB__PUBLIC_URL": "https://pregonero.example",
            "PREGONERO_INTAKE__SETTLE_SECONDS": "0.2",
            "PREGONERO_LOG_LEVEL": "WARNING",
        }
    )
    if database_url:
        env["PREGONERO_DATABASE_URL"] = database_url
    if concurrency:
        env["PREGONERO_DELIVERY__CONCURRENCY"] = str(concurrency)
    return env


def cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PYTHON, "-m", "dispatcher.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


async def wait_workers(env: dict[str, str], cwd: Path, count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        out = await asyncio.to_thread(
            subprocess.run, [PYTHON, "-m", "dispatcher.cli", "worker", "--check"],
            cwd=cwd, env=env, capture_output=True, text=True,
        )  # fmt: skip
        if f"Trabajadores vivos: {count}" in out.stdout:
            return
        await asyncio.sleep(0.3)
    raise RuntimeError("los trabajadores no arrancaron")


async def progress(engine: Any, items: int) -> tuple[int, int, int]:
    async with engine.connect() as conn:
        taken = await conn.scalar(text("select count(*) from items"))
        rows = (
            await conn.execute(text("select status, count(*) from deliveries group by status"))
        ).all()
    states = {str(s): int(n) for s, n in rows}
    open_ = sum(states.get(s, 0) for s in ("pending", "sending", "retry_wait"))
    return int(taken or 0), open_, sum(states.values())


async def run_mode(
    mode: str,
    items: int,
    doubles: dict[str, str],
    redis_url: str,
    postgres: str,
    concurrency: int | None,
) -> dict[str, Any]:
    workers = {"inprocess": 0, "inprocess-pg": 0, "arq1": 1, "arq2": 2}[mode]
    root = Path(tempfile.mkdtemp(prefix=f"pregonero-bench-{mode}-"))
    for folder in ("inbox", "archive", "rejected", "outbox"):
        (root / "content" / folder).mkdir(parents=True)
    shutil.copy2(ROOT / "content" / "plan.yaml", root / "content" / "plan.yaml")
    pg_name = None
    async with AsyncExitStack() as stack:
        if mode == "inprocess":
            database_url = f"sqlite:///{root / 'pregonero.db'}"
        else:
            pg_name = f"pregonero_bench_{secrets.token_hex(4)}"
            admin = await asyncpg.connect(postgres)
            await admin.execute(f'CREATE DATABASE "{pg_name}"')
            stack.push_async_callback(admin.close)
            stack.push_async_callback(
                admin.execute, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'
            )
            database_url = postgres.rsplit("/", 1)[0] + "/" + pg_name
        env = base_env(root, doubles, database_url, concurrency)
        procs: list[subprocess.Popen[str]] = []
        if workers:
            env["PREGONERO_REDIS_URL"] = redis_url
            redis = Redis.from_url(redis_url)
            await redis.flushdb()
            await redis.aclose()
            procs += [cli(env, root, "worker") for _ in range(workers)]
            await wait_workers(env, root, workers)
        else:
            # create the ledger's tables before the clock starts, as the workers do
            await asyncio.to_thread(
                subprocess.run, [PYTHON, "-m", "dispatcher.cli", "status"], cwd=root, env=env,
                capture_output=True, check=True,
            )  # fmt: skip
        engine = create_async_engine(
            database_url.replace("sqlite://", "sqlite+aiosqlite://").replace(
                "postgresql://", "postgresql+asyncpg://"
            )
        )
        stack.push_async_callback(engine.dispose)
        for n in range(items):
            (root / "content" / "inbox" / f"bench-{n:05d}.md").write_text(
                bulletin(n, f"{mode} {secrets.token_hex(2)}"), "utf-8"
            )
        dropped = datetime.now(UTC)
        start = time.monotonic()
        procs.append(cli(env, root, "run"))
        try:
            while True:
                taken, open_, total = await progress(engine, items)
                if taken == items and total == items * 5 and open_ == 0:
                    break
                if time.monotonic() - start > 1800:
                    raise RuntimeError(f"{mode}: sin terminar tras 30 min ({taken}, {open_})")
                await asyncio.sleep(0.25)
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        async with engine.connect() as conn:
            failures = (
                await conn.execute(
                    text(
                        "select channel, status, last_error, count(*) from deliveries "
                        "where status != 'sent' group by channel, status, last_error"
                    )
                )
            ).all()
            for channel, status, error, count in failures:
                print(f"  {mode}: {count} × {channel} {status}: {error}", file=sys.stderr)
            rows = (
                await conn.execute(
                    text(
                        "select item_id, max(sent_at), sum(case when status = 'sent' "
                        "then 1 else 0 end), count(*) from deliveries group by item_id"
                    )
                )
            ).all()
    shutil.rmtree(root, ignore_errors=True)
    latencies = sorted((_utc(last) - dropped).total_seconds() for _, last, _, _ in rows)
    sent = sum(int(r[2]) for r in rows)
    span = latencies[-1]
    return {
        "mode": mode,
        "items": items,
        "deliveries": sent,
        "not_sent": items * 5 - sent,
        "seconds": span,
        "items_per_s": items / span,
        "deliveries_per_s": sent / span,
        "p50": statistics.median(latencies),
        "p95": latencies[int(0.95 * (len(latencies) - 1))],
    }


def _utc(value: datetime | str) -> datetime:
    """A ledger timestamp (naive UTC; a string from SQLite) as an aware datetime."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--modes", default="inprocess,arq1,arq2")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--concurrency", type=int, default=None,
        help="PREGONERO_DELIVERY__CONCURRENCY (deliveries at once per process; default 8)",
    )  # fmt: skip
    args = parser.parse_args()
    doubles: dict[str, str] = {}
    procs = []
    for service in SERVICES:
        proc, env = start_double(service)
        procs.append(proc)
        doubles.update(env)
    try:
        print(f"{'modo':<14}{'piezas/s':>10}{'entregas/s':>12}{'p50 s':>8}{'p95 s':>8}"
              f"{'total s':>9}{'no enviadas':>13}")  # fmt: skip
        for mode in args.modes.split(","):
            r = await run_mode(
                mode.strip(), args.items, doubles, args.redis, args.postgres, args.concurrency
            )
            print(
                f"{r['mode']:<14}{r['items_per_s']:>10.1f}{r['deliveries_per_s']:>12.1f}"
                f"{r['p50']:>8.1f}{r['p95']:>8.1f}{r['seconds']:>9.1f}{r['not_sent']:>13}",
                flush=True,
            )
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    asyncio.run(main())
