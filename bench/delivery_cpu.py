"""CPU per outbox delivery: N items taken in (not measured), then every delivery they
planned run by the in-process runner, with the process's CPU time (all threads) and the
wall time measured around it — in steady state: one item goes through every channel first,
unmeasured, so one-time costs (lazy imports, template compilation, building the adapters)
are not spread over the deliveries. Every channel in outbox mode but the website (the static
site, its default), whose coalesced index/feed/sitemap regeneration is flushed inside the
measured span. Prints one JSON object; the CPU is split into user and kernel time (the
kernel's share is mostly the file system creating the outbox's and the site's files).

Run by ``bench/intake.py`` against each code tree (``PYTHONPATH=<tree>``); on its own:

    .venv/bin/python bench/delivery_cpu.py --files 200 [--loop uvloop|asyncio] [--profile out.prof]

The event loop is the one ``pregonero run`` uses (uvloop where installed) unless ``--loop``
says otherwise; both trees of a comparison run on the same loop.

Only the public service functions that the reference tree has too are used (so it does not
ask ``dispatcher.cli.common.loop_factory`` for the loop: older trees lack it).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from corpus import content  # bench/ is the script's folder, first on sys.path

HERE = Path(__file__).resolve().parent

DONE = ("sent", "waiting_bulletin", "failed", "unknown", "cancelled")


async def measure(files: int, profile: str | None) -> dict[str, float | int]:
    from dispatcher.run.loop import deliver_due
    from dispatcher.services.context import build_app
    from dispatcher.services.delivery.runner import InProcessRunner
    from dispatcher.services.ingest import Tally, make_intake, take_in
    from settings import load_settings

    app = await build_app(load_settings())
    try:
        inbox = app.settings.content_dir / "inbox"
        tally = Tally()
        intake = make_intake(app)
        runner = InProcessRunner(app)

        async def take(first: int, count: int) -> None:
            for i in range(first, first + count):
                (inbox / f"bench-{i:05d}.md").write_text(content(i), encoding="utf-8")
            while True:
                await take_in(app, intake, tally)
                if not intake.pending:
                    break
                await asyncio.sleep(0.05)

        # warm-up, not measured: one item through every channel (lazy imports, templates
        # compiled, adapters built), as in a run that has been up for a while
        await take(files, 1)
        await deliver_due(app, runner)
        before = await app.ledger.counts_by_status()
        await take(0, files)
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        times0, wall0 = os.times(), time.perf_counter()
        await deliver_due(app, runner)
        flush = getattr(app.adapter("website"), "flush", None)
        if flush is not None:
            await flush()
        times1, wall1 = os.times(), time.perf_counter()
        if profiler is not None and profile:
            profiler.disable()
            profiler.dump_stats(profile)
        counts = await app.ledger.counts_by_status()
    finally:
        await app.aclose()
    user = times1.user - times0.user  # every thread of the process
    kernel = times1.system - times0.system
    done = sum(n for status, n in counts.items() if status in DONE)
    done -= sum(n for status, n in before.items() if status in DONE)
    return {
        "items": tally.accepted - 1,
        "deliveries": done,
        "sent": sum(counts.get(k, 0) - before.get(k, 0) for k in ("sent", "waiting_bulletin")),
        "cpu_s": user + kernel,
        "wall_s": wall1 - wall0,
        "cpu_ms_per_delivery": (user + kernel) * 1000 / max(1, done),
        "user_ms_per_delivery": user * 1000 / max(1, done),
        "kernel_ms_per_delivery": kernel * 1000 / max(1, done),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--profile", help="write a cProfile of the measured span here")
    parser.add_argument(
        "--loop",
        choices=["uvloop", "asyncio"],
        default="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        help="the event loop (default: uvloop where installed, the loop `pregonero run` uses)",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pregonero-cpu-"))
    try:
        content_dir = work / "content"
        for folder in ("inbox", "archive", "rejected", "outbox"):
            (content_dir / folder).mkdir(parents=True)
        shutil.copy2(HERE.parent / "content" / "plan.yaml", content_dir / "plan.yaml")
        for key in [k for k in os.environ if k.startswith("PREGONERO_")]:
            del os.environ[key]
        os.environ.update(
            PREGONERO_CONTENT_DIR=str(content_dir),
            PREGONERO_DATABASE_URL=f"sqlite:///{work / 'pregonero.db'}",
            PREGONERO_WEBSITE__OUTPUT_DIR=str(work / "site"),
            PREGONERO_INTAKE__SETTLE_SECONDS="0",
            PREGONERO_LOG_LEVEL="WARNING",
        )
        os.chdir(work)
        factory = None
        if args.loop == "uvloop":
            import uvloop

            factory = uvloop.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            result = runner.run(measure(args.files, args.profile))
        result["loop"] = args.loop
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
