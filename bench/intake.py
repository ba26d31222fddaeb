"""Intake benchmark: N content files dropped into the inbox while ``pregonero run`` watches
it (every channel in outbox mode). Prints items/s and p50/p95 from drop to first delivery,
and the wall time of ``pregonero --help``.

    .venv/bin/python bench/intake.py [--files 500] [--rate 0]

Targets (issue #2): p95 < 1 s; ``--help`` < 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def help_time(runs: int = 5) -> float:
    best = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "dispatcher.cli", "--help"], capture_output=True, check=True
        )
        best.append(time.perf_counter() - t0)
    return statistics.median(best)


def content(i: int) -> str:
    return (
        "---\n"
        "kind: boletin\n"
        f"title: Boletín de prueba número {i} sobre obras en Bucaramanga\n"
        f"id: bench-{i:05d}\n"
        "date: 2026-11-26\n"
        "tags: [Obras, Movilidad]\n"
        "---\n\n"
        f"La Alcaldía de Bucaramanga informa el avance número {i} de las obras.\n\n"
        "Segundo párrafo con **énfasis** y un [enlace](https://www.bucaramanga.gov.co/).\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--rate", type=float, default=0, help="files/s (0: as fast as possible)")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pregonero-bench-"))
    try:
        content_dir = work / "content"
        for folder in ("inbox", "archive", "rejected", "outbox"):
            (content_dir / folder).mkdir(parents=True)
        shutil.copy2(ROOT / "content" / "plan.yaml", content_dir / "plan.yaml")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREGONERO_")}
        env.update(
            PREGONERO_CONTENT_DIR=str(content_dir),
            PREGONERO_WEBSITE__OUTPUT_DIR=str(work / "site"),
            PREGONERO_LOG_LEVEL="WARNING",
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "dispatcher.cli", "run"],
            cwd=work,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        db_path = work / "pregonero.db"
        deadline = time.time() + 30
        while not db_path.exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        dropped: dict[str, float] = {}
        t_start = time.time()
        for i in range(args.files):
            tmp = content_dir / "inbox" / f".bench-{i:05d}.md.tmp"
            tmp.write_text(content(i), encoding="utf-8")
            final = tmp.with_name(f"bench-{i:05d}.md")
            os.replace(tmp, final)  # an editor's copy that appears complete at once
            dropped[f"bench-{i:05d}"] = time.time()
            if args.rate:
                time.sleep(1 / args.rate)
        first: dict[str, float] = {}
        deadline = time.time() + args.timeout
        with sqlite3.connect(db_path, timeout=30) as db:
            while len(first) < args.files and time.time() < deadline:
                rows = db.execute(
                    "select item_id, min(sent_at) from deliveries where status='sent' group by item_id"
                ).fetchall()
                for item_id, sent_at in rows:
                    moment = datetime.fromisoformat(sent_at).replace(tzinfo=UTC).timestamp()
                    first[item_id] = moment
                time.sleep(0.2)
            total_sent = db.execute(
                "select count(*) from deliveries where status='sent'"
            ).fetchone()[0]
        t_end = max(first.values()) if first else time.time()
        proc.terminate()
        proc.wait(timeout=30)
        latencies = [first[k] - dropped[k] for k in first]
        print(f"files dropped:            {args.files}")
        print(f"items with a delivery:    {len(first)}")
        print(f"deliveries sent:          {total_sent}")
        print(f"throughput:               {len(first) / max(1e-9, t_end - t_start):.1f} items/s")
        if latencies:
            print(f"drop→first delivery p50:  {pct(latencies, 50) * 1000:.0f} ms")
            print(f"drop→first delivery p95:  {pct(latencies, 95) * 1000:.0f} ms")
            print(f"drop→first delivery max:  {max(latencies) * 1000:.0f} ms")
        print(f"pregonero --help:         {help_time() * 1000:.0f} ms (median of 5)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
