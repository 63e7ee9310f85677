"""What the commands show while they work: their lines, and a followed run's progress (a live
bar on a terminal, one plain line per change elsewhere)."""

from __future__ import annotations

from typing import Any, TextIO

from kedro_airflow_k8s.airflow_client import BackfillProgress, RunProgress

_DONE = ("success", "skipped", "failed", "upstream_failed", "removed")
_ACTIVE = ("running", "queued", "scheduled", "deferred", "up_for_retry", "restarting")


class RunDisplay:
    """Shows the events a command's steps yield (see ship.drive) on `stream`."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.last = ""
        self.progress: Any = None

    def __enter__(self) -> RunDisplay:
        return self

    def show(self, event: str | RunProgress | BackfillProgress) -> None:
        if isinstance(event, (RunProgress, BackfillProgress)):
            self._progress(event)
            return
        if self.progress is not None:  # a line printed through the bar's console keeps it
            self.progress.console.print(event, markup=False, highlight=False)
        else:
            print(event, file=self.stream, flush=True)

    def _progress(self, progress: RunProgress | BackfillProgress) -> None:
        done, running = progress.count(*_DONE), progress.count(*_ACTIVE)
        # as the failure report: failed tasks apart from those that never ran for them
        upstream = progress.count("upstream_failed")
        detail = f"{running} running, {progress.count('failed')} failed, " + (
            f"{upstream} upstream failed, " if upstream else "") + (
            f"{len(progress.finished)}/{len(progress.runs)} runs ended, backfill "
            if isinstance(progress, BackfillProgress) else "run ") + progress.state
        if self.live:
            if self.progress is None:
                self._start_bar()
            self.progress.update(self.bar, completed=done, total=len(progress.tasks),
                                 detail=detail)
            return
        line = f"{done}/{len(progress.tasks)} tasks done, {detail}"
        if line != self.last:
            print(line, file=self.stream, flush=True)
            self.last = line

    def _start_bar(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("{task.fields[detail]}"),
                                 console=Console(file=self.stream), transient=True)
        self.progress.__enter__()
        self.bar = self.progress.add_task("tasks done", total=None, detail="")

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)
            self.progress = None
