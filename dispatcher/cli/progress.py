"""The ``mail send`` progress bar on a terminal (rich): sent, failed, rate and ETA."""

from __future__ import annotations

from types import TracebackType

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from dispatcher.services.mailing.campaign import CampaignResult


class ProgressBar:
    """``with ProgressBar(title) as bar: … progress=bar.update``."""

    def __init__(self, title: str) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("enviados {task.fields[sent]} · fallidos {task.fields[failed]}"),
            TextColumn("· {task.fields[rate]} msg/s · faltan"),
            TimeRemainingColumn(),
            transient=False,
        )
        self._task = self._progress.add_task(title, total=None, sent=0, failed=0, rate="0")

    def __enter__(self) -> ProgressBar:
        self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def update(self, snapshot: CampaignResult) -> None:
        self._progress.update(
            self._task,
            total=snapshot.total,
            completed=snapshot.total - snapshot.left,
            sent=snapshot.sent,
            failed=snapshot.failed,
            rate=f"{snapshot.rate:,.0f}".replace(",", "."),
        )
