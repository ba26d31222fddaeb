#!/usr/bin/env python
"""Mass-mail benchmark: Pregonero's campaign sender against Postfix's ``smtp-sink``.

Runs, against the same sink on 127.0.0.1:

1. ``smtp-source -d -s 8 -m N -l 5000`` — the machine's limit (C, no ledger, no MIME);
2. Pregonero: an item campaign to N subscribers (a real example rendered by the real
   templates), K persistent aiosmtplib connections, every recipient recorded in a SQLite
   ledger; peak RSS of that process (``resource.getrusage``);
3. a naive loop: stdlib ``smtplib`` with one ``EmailMessage`` built per recipient.

interleaved, ``--rounds`` times (the machine is shared: a ratio is only fair between runs
made at the same moment), and prints each rate with its ratios, then the medians against
the targets: ours ≥ 40 % of smtp-source, ≥ 15× naive, every recipient ``sent`` in the
ledger, peak RSS ≤ 100 MB at 100,000.

    .venv/bin/python bench/mailing.py [--recipients 20000] [--connections 8,32]
        [--rounds 3] [--loop default,asyncio]

Our sender runs on the event loop the CLI uses (uvloop when installed; ``--loop asyncio``
for the stdlib one, ``--loop default,asyncio`` for both in each round).

Needs ``/usr/sbin/smtp-sink`` and ``smtp-source`` (Debian: ``apt-get install postfix``;
the postfix daemon need not run). Populating and each measured run are separate child
processes, so the RSS figure is the sender's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SINK = Path("/usr/sbin/smtp-sink")
SOURCE = Path("/usr/sbin/smtp-source")
EXAMPLE = ROOT / "content" / "examples" / "2026-11-03-parque-san-pio-reabre.md"
FROM = "Prensa Alcaldía de Bucaramanga <prensa@bucaramanga.gov.co>"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings_for(workdir: Path, port: int, connections: int) -> Any:
    from settings import Settings

    return Settings(
        content_dir=ROOT / "content",
        database_url=f"sqlite:///{workdir / 'bench.db'}",
        smtp={
            "host": "127.0.0.1",
            "port": port,
            "from": FROM,
            "connections": connections,
            "rate": 1e9,
        },
        web={"public_url": "https://pregonero.bucaramanga.gov.co"},
        _env_file=None,
    )


def rendered_example() -> Any:
    """The example bulletin rendered for the mailing channel by the real templates."""
    from dispatcher.items.parse import check_file
    from dispatcher.items.plan import load_plan
    from dispatcher.render.renderer import Renderer, builtin_templates_dir
    from dispatcher.services.context import plan_path
    from dispatcher.services.mailing.message import MailContent
    from settings import Settings

    settings = Settings(_env_file=None)
    plan = load_plan(plan_path(settings), ["website", "facebook", "x", "telegram", "mailing"])
    item = check_file(EXAMPLE, tz=settings.tz, known_kinds=set(plan.kinds), max_bytes=10**6)
    labels = {key: kind.label for key, kind in plan.kinds.items()}
    renderer = Renderer([builtin_templates_dir()], settings.tz, labels)
    url = "https://www.bucaramanga.gov.co/noticias/2026/11/2026-11-03-parque-san-pio-reabre/"
    post = renderer.render(item, "mailing", url=url)
    return MailContent(post.parts["subject"], post.text, post.parts["html"])


# -- children ---------------------------------------------------------------------------


async def child_populate(workdir: Path, recipients: int) -> dict[str, Any]:
    import dispatcher.services.mailing  # noqa: F401
    from dispatcher.ledger.store import Ledger
    from dispatcher.services.mailing.subscribers import import_csv

    settings = settings_for(workdir, 25, 1)
    ledger = Ledger.from_url(settings.resolved_database_url)
    await ledger.init()
    lines = ["email,name,audiences,consent_at,consent_source"]
    lines += [
        f"lector{i}@example.org,Lector {i},ciudadania;periodistas,2026-01-15,formulario web"
        for i in range(recipients)
    ]
    started = time.perf_counter()
    report = await import_csv(ledger, io.StringIO("\n".join(lines)), tz=settings.tz)
    elapsed = time.perf_counter() - started
    await ledger.close()
    return {"added": report.added, "errors": len(report.errors), "elapsed": elapsed}


async def child_send(workdir: Path, port: int, connections: int, tag: str) -> dict[str, Any]:
    import dispatcher.services.mailing  # noqa: F401
    from dispatcher.items.audiences import audience_mask
    from dispatcher.ledger.mail import recipient_counts
    from dispatcher.ledger.store import Ledger
    from dispatcher.ledger.types import RecipientStatus
    from dispatcher.services.mailing.bulletin import item_campaign, list_for
    from dispatcher.services.mailing.campaign import CampaignSender

    settings = settings_for(workdir, port, connections)
    ledger = Ledger.from_url(settings.resolved_database_url)
    await ledger.init()
    content = rendered_example()
    started = time.perf_counter()
    campaign_id = await item_campaign(
        ledger, item_id=f"bench-{connections}-connections-{tag}", revision=1, content=content,
        audiences=audience_mask(["ciudadania"]),
        list_id=list_for("boletin", "Boletín de prensa", "bucaramanga.gov.co"),
    )  # fmt: skip
    created = time.perf_counter() - started
    sender = CampaignSender(ledger, settings)
    result = await sender.run(campaign_id)
    recorded = (await recipient_counts(ledger, campaign_id)).get(RecipientStatus.SENT, 0)
    await ledger.close()
    size = len(sender_message_size(content, settings))
    return {
        "sent": result.sent_now, "elapsed": result.elapsed, "rate": result.rate,
        "recorded_sent": int(recorded or 0), "total": result.total, "create_s": created,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "message_bytes": size, "error": result.error,
    }  # fmt: skip


def sender_message_size(content: Any, settings: Any) -> bytes:
    from datetime import UTC, datetime

    from dispatcher.services.mailing.message import MessageTemplate, Sender

    template = MessageTemplate(
        content, sender=Sender.parse(FROM), list_id="boletin.bucaramanga.gov.co",
        list_name="Boletín", unsubscribe_base=settings.public_url, nonce="0", date=datetime.now(UTC),
    )  # fmt: skip
    return template.render("lector1@example.org", 1, "1.AAAAAAAAAAAAAAAAAAAA")


def child_naive(port: int, count: int) -> dict[str, Any]:
    """One stdlib EmailMessage per recipient over one smtplib connection."""
    import smtplib
    from email.message import EmailMessage
    from email.utils import format_datetime, make_msgid

    content = rendered_example()
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for i in range(count):
            link = f"https://pregonero.bucaramanga.gov.co/baja/{i}.AAAAAAAAAAAAAAAAAAAA"
            msg = EmailMessage()
            msg["From"] = FROM
            msg["To"] = f"lector{i}@example.org"
            msg["Subject"] = content.subject
            msg["Date"] = format_datetime(time_now())
            msg["Message-ID"] = make_msgid(domain="bucaramanga.gov.co")
            msg["List-Id"] = "Boletín de prensa <boletin.bucaramanga.gov.co>"
            msg["List-Unsubscribe"] = f"<{link}>"
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            msg.set_content(content.text.replace("%%PREGONERO_BAJA%%", link))
            msg.add_alternative(content.html.replace("%%PREGONERO_BAJA%%", link), subtype="html")
            smtp.send_message(msg)
    elapsed = time.perf_counter() - started
    return {"sent": count, "elapsed": elapsed, "rate": count / elapsed}


def time_now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


# -- parent -----------------------------------------------------------------------------


def run_child(args: list[str], loop: str = "default") -> dict[str, Any]:
    command = [sys.executable, __file__, *args, "--loop", loop]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"child {args[:2]} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def start_sink(port: int) -> subprocess.Popen[bytes]:
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    sink = subprocess.Popen([str(SINK), *user, "-m", "1000", f"127.0.0.1:{port}", "1000"])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return sink
        except OSError:
            time.sleep(0.05)
    sink.kill()
    sys.exit("smtp-sink did not start")


def smtp_source_rate(port: int, count: int) -> float:
    started = time.perf_counter()
    subprocess.run(
        [str(SOURCE), "-d", "-s", "8", "-m", str(count), "-l", "5000", f"127.0.0.1:{port}"],
        check=True,
    )
    return count / (time.perf_counter() - started)


def run_in_loop(loop: str, main: Any) -> Any:
    """Run a child's coroutine on the loop the CLI uses (``default``: uvloop when it is
    installed, see ``dispatcher.cli.common.loop_factory``) or on plain ``asyncio``."""
    from dispatcher.cli.common import loop_factory

    factory = loop_factory() if loop == "default" else None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def loop_name(loop: str) -> str:
    from dispatcher.cli.common import loop_factory

    return "uvloop" if loop == "default" and loop_factory() is not None else "asyncio"


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument(
        "--connections", default="8",
        help="connections per run, comma-separated (smtp-source uses 8)",
    )  # fmt: skip
    parser.add_argument("--naive", type=int, default=2_000, help="messages for the naive loop")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument(
        "--loop", default="default",
        help="our sender's event loop(s), comma-separated: 'default' (the CLI's: uvloop "
        "when installed) and/or 'asyncio'; each round runs each",
    )  # fmt: skip
    parser.add_argument("--child", choices=["populate", "send", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tag", default="0", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        if args.child == "populate":
            out = asyncio.run(child_populate(args.workdir, args.recipients))
        elif args.child == "send":
            send = child_send(args.workdir, args.port, int(args.connections), args.tag)
            out = run_in_loop(args.loop, send)
        else:
            out = child_naive(args.port, args.naive)
        print(json.dumps(out))
        return

    if not (SINK.exists() and SOURCE.exists()):
        sys.exit(
            "Falta Postfix: /usr/sbin/smtp-sink y smtp-source no existen.\n"
            "Instálelo con: apt-get update && apt-get install -y postfix "
            "(no hace falta iniciar el servicio)."
        )
    n = args.recipients
    command = "python bench/mailing.py " + " ".join(sys.argv[1:])
    workdir = Path(tempfile.mkdtemp(prefix="pregonero-bench-"))
    port = free_port()
    sink = start_sink(port)
    loops = str(args.loop).split(",")
    connections = [int(part) for part in str(args.connections).split(",")]
    runs = [(loop, k) for loop in loops for k in connections]
    shares: dict[tuple[str, int], list[float]] = {run: [] for run in runs}
    speedups: dict[tuple[str, int], list[float]] = {run: [] for run in runs}
    rss: dict[tuple[str, int], list[float]] = {run: [] for run in runs}
    all_sent: dict[tuple[str, int], bool] = dict.fromkeys(runs, True)
    try:
        print(f"smtp-sink en 127.0.0.1:{port}; {n} destinatarios; {args.rounds} rondas")
        populate = run_child(["--child", "populate", "--workdir", str(workdir),
                              "--recipients", str(n)])  # fmt: skip
        print(f"import de {populate['added']} suscriptores (CSV): {populate['elapsed']:.1f} s "
              f"({populate['added'] / populate['elapsed']:,.0f} filas/s)")  # fmt: skip
        for round_ in range(1, args.rounds + 1):
            print(f"-- ronda {round_}")
            source = smtp_source_rate(port, n)
            print(f"smtp-source -d -s 8 -m {n} -l 5000: {source:,.0f} msg/s")
            naive = run_child(["--child", "naive", "--port", str(port), "--naive", str(args.naive)])
            print(f"ingenuo (smtplib + EmailMessage por destinatario): {naive['sent']} en "
                  f"{naive['elapsed']:.2f} s = {naive['rate']:,.0f} msg/s")  # fmt: skip
            for loop, k in runs:
                ours = run_child(
                    ["--child", "send", "--workdir", str(workdir), "--port", str(port),
                     "--connections", str(k), "--tag", f"{round_}-{loop}"],
                    loop,
                )  # fmt: skip
                share, speedup = ours["rate"] / source, ours["rate"] / naive["rate"]
                shares[loop, k].append(share)
                speedups[loop, k].append(speedup)
                rss[loop, k].append(ours["maxrss_mb"])
                all_sent[loop, k] &= ours["recorded_sent"] == n == ours["sent"]
                print(
                    f"Pregonero ({loop_name(loop)}, {k} conexiones, mensaje de "
                    f"{ours['message_bytes']:,} bytes): {ours['sent']} en {ours['elapsed']:.2f} s"
                    f" = {ours['rate']:,.0f} msg/s = {share:.1%} de smtp-source, {speedup:.1f}× "
                    f"el ingenuo; RSS máx. {ours['maxrss_mb']:.0f} MB; 'sent' en el ledger: "
                    f"{ours['recorded_sent']}/{ours['total']}"
                )
                if ours["error"]:
                    print(f"  ¡error!: {ours['error']}")
        print(f"\nMedianas de {args.rounds} ronda(s) ({command}):")
        for loop, k in runs:
            share, speedup = median(shares[loop, k]), median(speedups[loop, k])
            name = loop_name(loop)
            print(f"[{name}, {k} conexiones] Pregonero / smtp-source = {share:.1%} "
                  f"(meta ≥ 40%): {_ok(share >= 0.40)}; Pregonero / ingenuo = {speedup:.1f}× "
                  f"(meta ≥ 15×): {_ok(speedup >= 15)}; todos 'sent' en el ledger: "
                  f"{_ok(all_sent[loop, k])}")  # fmt: skip
            if n >= 100_000:
                peak = max(rss[loop, k])
                print(f"[{name}, {k} conexiones] RSS máx. {peak:.0f} MB con {n:,} destinatarios "
                      f"(meta ≤ 100 MB): {_ok(peak <= 100)}")  # fmt: skip
        if len(loops) > 1:
            for k in connections:
                gains = [
                    a / b for a, b in zip(shares[loops[0], k], shares[loops[1], k], strict=True)
                ]
                print(f"[{k} conexiones] {loop_name(loops[0])} / {loop_name(loops[1])} = "
                      f"{median(gains):.2f}× (misma ronda)")  # fmt: skip
    finally:
        sink.terminate()
        sink.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def _ok(flag: bool) -> str:
    return "OK" if flag else "NO"


if __name__ == "__main__":
    main()
