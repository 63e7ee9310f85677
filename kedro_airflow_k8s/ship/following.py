"""Following something in Airflow until it ends: one polling loop (`follow`) for a DAG file's
load, a run and a backfill's runs; a failed run's report (its failed tasks, the tail of the
first one's log, a hint)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from kedro_airflow_k8s.airflow_client import FINISHED_RUN_STATES, BackfillProgress, RunProgress
from kedro_airflow_k8s.errors import RunFailed
from kedro_airflow_k8s.ship.steps import Event, Steps

if TYPE_CHECKING:
    from kedro_airflow_k8s.airflow_client import AirflowClient

POLL_SECONDS = 2.0
S = TypeVar("S")
P = TypeVar("P", RunProgress, BackfillProgress)


@dataclass(frozen=True)
class Followed(Generic[S]):
    """Where a followed thing stood at the last poll, and whether it had ended then."""

    state: S
    ended: bool


def _nothing(state: object, waited: float) -> Iterable[Event]:
    return ()


def follow(poll: Callable[[], Steps[S]], ended: Callable[[S], bool], *, timeout: float,
           interval: float = POLL_SECONDS,
           waiting: Callable[[S, float], Iterable[Event]] = _nothing) -> Steps[Followed[S]]:
    """Poll (each poll may yield events) until `ended` says so or `timeout` seconds have
    passed; between polls, yield what `waiting(state, seconds waited)` says. The last state,
    ended or not: what a timeout means is the caller's to say."""
    started = time.monotonic()
    while True:
        state = yield from poll()
        if ended(state):
            return Followed(state, ended=True)
        waited = time.monotonic() - started
        if waited >= timeout:
            return Followed(state, ended=False)
        yield from waiting(state, waited)
        time.sleep(interval)


def _shown(read: Callable[[], P]) -> Callable[[], Steps[P]]:
    """A poll that yields what it reads: a progress, for the display."""
    def poll() -> Steps[P]:
        progress = read()
        yield progress
        return progress

    return poll


def _run_finished(progress: RunProgress) -> bool:
    return progress.state in FINISHED_RUN_STATES


def follow_run(client: AirflowClient, dag_id: str, run_id: str, *, timeout: float,
               interval: float = POLL_SECONDS) -> Steps[RunProgress]:
    """Yield the run's progress until it ends; raise RunFailed unless it succeeded, after
    yielding the tail of the first failed task's log."""
    followed = yield from follow(_shown(lambda: client.progress(dag_id, run_id)),
                                 _run_finished, timeout=timeout, interval=interval)
    progress = followed.state
    if progress.state == "success":
        return progress
    if not followed.ended:
        raise RunFailed(f"run {run_id} of DAG '{dag_id}' had not finished after "
                        f"{timeout / 60:g} min (state {progress.state})", exit_code=3)
    failed = progress.tasks_in("failed")
    tail = yield from log_tail(client, dag_id, run_id, failed, "")
    raise RunFailed(f"run {run_id} of DAG '{dag_id}' failed; failed tasks: "
                    f"{', '.join(failed) or 'none (upstream failures only)'}{hint(tail)}")


def _backfill_ended(progress: BackfillProgress) -> bool:
    return progress.state != "running"


def follow_backfill(client: AirflowClient, dag_id: str, backfill_id: int, run_ids: list[str],
                    *, timeout: float, interval: float = POLL_SECONDS) -> Steps[BackfillProgress]:
    """Yield the backfill's progress until every run ended; raise RunFailed unless all
    succeeded, naming the failed runs and their failed tasks."""
    followed = yield from follow(
        _shown(lambda: BackfillProgress({run: client.progress(dag_id, run) for run in run_ids})),
        _backfill_ended, timeout=timeout, interval=interval)
    progress = followed.state
    if progress.state == "success":
        return progress
    what = f"backfill {backfill_id} of DAG '{dag_id}'"
    if not followed.ended:
        raise RunFailed(f"{what} had not finished after {timeout / 60:g} min "
                        f"({len(progress.finished)} of {len(run_ids)} runs ended)", exit_code=3)
    failed = {run: p.tasks_in("failed") for run, p in progress.runs.items()
              if p.state != "success"}
    first_run, first = next(iter(failed.items()))
    tail = yield from log_tail(client, dag_id, first_run, first, f" in run {first_run}")
    named = "; ".join(f"{run} (failed tasks: {', '.join(tasks) or 'none, upstream only'})"
                      for run, tasks in failed.items())
    raise RunFailed(f"{what}: {len(failed)} of {len(run_ids)} runs failed: {named}"
                    f"{hint(tail)}")


def log_tail(client: AirflowClient, dag_id: str, run_id: str, failed: list[str],
             where: str) -> Steps[list[str]]:
    """Yield the last lines of the log of the first of the `failed` tasks (`where`: which
    run, in the heading); those lines."""
    tail = client.log_tail(dag_id, run_id, failed[0]) if failed else []
    if tail:
        yield f"Last lines of the log of {failed[0]}{where}:"
        for line in tail:
            yield f"  {line}"
    return tail


# What the Kubernetes client raises where Airflow runs a pod task without a cluster to reach
_NO_CLUSTER = ("Invalid kube-config file. No configuration found",
               "Service host/port is not set")


def hint(tail: list[str]) -> str:
    """The end of a failed run's error: what to do about a failure the log tail shows."""
    if any(marker in line for line in tail for marker in _NO_CLUSTER):
        return (" (its pods found no Kubernetes cluster where Airflow runs them: without "
                "one, upload with --execution local to run the tasks as subprocesses on the "
                "Airflow worker; with one, set run_config.kubernetes_connection)")
    return ""
