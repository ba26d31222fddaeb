"""The file thread the file-writing channels share (``channels._fs.FileWorker``): calls
run one at a time, in order, on one thread; calls queued while it is busy go over in one
hop; each caller gets its own result or exception; a caller that stops waiting does not
stop its call; ``aclose`` finishes what was queued. And the app hands one worker to every
file-writing adapter."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from channels import _fs
from channels._fs import FileWorker
from dispatcher.services.context import build_app
from settings import load_settings


async def test_calls_run_in_order_on_one_thread_and_a_burst_goes_in_one_hop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = FileWorker("prueba")
    batches: list[int] = []
    run_each = _fs._run_each

    def counting(calls: list[object]) -> object:
        batches.append(len(calls))
        return run_each(calls)  # type: ignore[arg-type]

    monkeypatch.setattr(_fs, "_run_each", counting)
    gate = threading.Event()
    seen: list[tuple[int, int]] = []

    def job(n: int) -> int:
        if n == 0:
            gate.wait(5)
        seen.append((n, threading.get_ident()))
        return n * 10

    try:
        first = asyncio.create_task(worker.run(job, 0))
        await asyncio.sleep(0.05)  # the first call holds the thread
        rest = [asyncio.create_task(worker.run(job, n)) for n in range(1, 6)]
        await asyncio.sleep(0.05)
        gate.set()
        results = await asyncio.gather(first, *rest)
    finally:
        await worker.aclose()
    assert results == [0, 10, 20, 30, 40, 50]
    assert [n for n, _ in seen] == [0, 1, 2, 3, 4, 5]
    assert len({thread for _, thread in seen}) == 1
    assert seen[0][1] != threading.get_ident()  # not the event loop's thread
    assert batches == [1, 5]


async def test_each_caller_gets_its_own_exception_and_the_others_their_results() -> None:
    worker = FileWorker()

    def job(n: int) -> int:
        if n == 2:
            raise PermissionError(13, "sin permiso", f"/tmp/{n}")
        return n

    try:
        results = await asyncio.gather(
            *(worker.run(job, n) for n in range(4)), return_exceptions=True
        )
    finally:
        await worker.aclose()
    assert results[:2] == [0, 1] and results[3] == 3
    assert isinstance(results[2], PermissionError) and results[2].filename == "/tmp/2"


async def test_a_caller_that_stops_waiting_does_not_stop_its_call(tmp_path: Path) -> None:
    worker = FileWorker()
    target = tmp_path / "lento.txt"

    def slow_write() -> None:
        time.sleep(0.3)
        _fs.atomic_write(target, b"escrito")

    try:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await worker.run(slow_write)
        assert await worker.run(lambda: 42) == 42  # the next call waits its turn
        assert target.read_bytes() == b"escrito"
    finally:
        await worker.aclose()


async def test_aclose_finishes_the_queued_calls(tmp_path: Path) -> None:
    worker = FileWorker()
    tasks = [
        asyncio.create_task(worker.run(_fs.atomic_write, tmp_path / f"{n}.txt", b"x"))
        for n in range(20)
    ]
    await asyncio.sleep(0)  # queued, not yet done
    assert not (tmp_path / "19.txt").exists()
    await worker.aclose()
    assert all((tmp_path / f"{n}.txt").read_bytes() == b"x" for n in range(20))
    assert worker._thread is None
    await asyncio.gather(*tasks)


async def test_the_app_gives_every_file_writing_channel_the_same_worker(
    tmp_path: Path,
) -> None:
    (tmp_path / "content").mkdir()
    settings = load_settings(
        content_dir=tmp_path / "content", website={"output_dir": tmp_path / "site"}
    )
    app = await build_app(settings)
    try:
        outbox = [app.adapter(c) for c in ("facebook", "x", "telegram", "mailing")]
        site = app.adapter("website")
        workers = {id(a._files) for a in [*outbox, site]}  # type: ignore[attr-defined]
        assert len(workers) == 1
        assert not any(a._own_files for a in [*outbox, site])  # type: ignore[attr-defined]
        shared = site._files  # type: ignore[attr-defined]
        assert await shared.run(threading.get_ident) != threading.get_ident()
    finally:
        await app.aclose()
    assert app._files is None and shared._thread is None
