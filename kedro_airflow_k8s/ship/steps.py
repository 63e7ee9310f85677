"""The commands' steps are generators: they yield what the user should read (a line, or a
run's progress while `--wait` follows it) and return their result; `drive` runs them and
hands each event to whoever shows it (the CLI: `display.RunDisplay`)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TypeVar

from kedro_airflow_k8s.airflow_client import BackfillProgress, RunProgress

T = TypeVar("T")
Event = str | RunProgress | BackfillProgress  # a line for the user, or where a followed run stands
Steps = Generator[Event, None, T]  # yields events for the user, returns the result


def drive(steps: Steps[T], show: Callable[[Event], None] = lambda event: None) -> T:
    """Run `steps` to the end, showing every event it yields; its result."""
    while True:
        try:
            show(next(steps))
        except StopIteration as stop:
            result: T = stop.value
            return result
