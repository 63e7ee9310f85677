"""Waiting for Airflow to load an uploaded DAG file: what it knew of the DAG before the
upload, then `follow` until it serves exactly the uploaded text, failing fast on a new import
error of the file."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kedro_airflow_k8s.airflow_client import ImportProblem
from kedro_airflow_k8s.errors import AirflowApiError, DagNotFound
from kedro_airflow_k8s.ship.following import POLL_SECONDS, follow
from kedro_airflow_k8s.ship.steps import Event, Steps, drive

if TYPE_CHECKING:
    from kedro_airflow_k8s.airflow_client import AirflowClient

PARSE_TIMEOUT_SECONDS = 600.0
WAIT_NOTE_SECONDS = 30.0  # between the lines of a wait for Airflow to load a DAG file
DEFAULT_REFRESH_SECONDS = 300  # Airflow's [dag_processor] refresh_interval
TRACE_LINES = 20  # of an import error, shown before the one-line error


@dataclass(frozen=True)
class Before:
    """What Airflow knew of a DAG before an upload, to tell the new parse from the old."""

    dag: Any  # the DAG as Airflow serves it, None when it has not seen it
    problems: frozenset[str] | None  # its file's import errors; None: not ours to read


def known_dag(client: AirflowClient, dag_id: str) -> Any:
    """The DAG as Airflow knows it now, or None for a DAG it has not seen."""
    try:
        return client.dag(dag_id)
    except DagNotFound:
        return None


def before_upload(client: AirflowClient, dag_id: str) -> Before:
    return Before(dag=known_dag(client, dag_id), problems=_problems(client, f"{dag_id}.py"))


def _problems(client: AirflowClient, filename: str) -> frozenset[str] | None:
    try:
        return frozenset(p.stack_trace for p in client.import_problems(filename))
    except AirflowApiError:  # a user who may not read import errors still gets the wait
        return None


def wait_for_version(client: AirflowClient, dag_id: str, text: str,
                     timeout: float = PARSE_TIMEOUT_SECONDS, interval: float = POLL_SECONDS,
                     before: Before | None = None,
                     notify: Callable[[str], None] = lambda line: None) -> None:
    """`await_version`, its lines given to `notify`."""
    drive(await_version(client, dag_id, text, timeout=timeout, interval=interval,
                        before=before), lambda event: notify(str(event)))


def await_version(client: AirflowClient, dag_id: str, text: str,
                  timeout: float = PARSE_TIMEOUT_SECONDS, interval: float = POLL_SECONDS,
                  before: Before | None = None,
                  note_every: float = WAIT_NOTE_SECONDS) -> Steps[None]:
    """Return once Airflow serves exactly `text` as the DAG's source; fail as soon as
    Airflow reports an import error for the file that it did not hold before the upload.
    Says what it waits for and why, first and then every `note_every` seconds."""
    filename = f"{dag_id}.py"
    yield from _what_it_waits_for(client, filename, before)

    def poll() -> Steps[str | None]:
        try:
            served = client.dag_source(dag_id)
        except DagNotFound:
            served = None
        if served != text and before is not None and before.problems is not None:
            # a new text: an unchanged one may be the old file's, parsed again before the sync
            yield from _fresh_import_error(client, filename, before.problems)
        return served

    followed = yield from follow(poll, lambda served: served == text, timeout=timeout,
                                 interval=interval,
                                 waiting=_still_waiting(filename, timeout, note_every))
    if not followed.ended:
        raise AirflowApiError(
            f"Airflow at {client.host} did not load this version of DAG '{dag_id}' within "
            f"{timeout:.0f} s: check the DAG processor and the import errors in the UI")


def _what_it_waits_for(client: AirflowClient, filename: str,
                       before: Before | None) -> Steps[None]:
    """A known file is parsed again on request; a new one waits for the folder's next scan."""
    if before is not None and before.dag is not None:
        client.request_reparse(before.dag.file_token)
        yield (f"Waiting for Airflow to load this version of {filename}: asked its DAG "
               "processor to parse the file again.")
    elif before is not None:
        yield (f"Waiting for Airflow to find the new file {filename}: its DAG processor "
               "looks for new files in the DAG folder every [dag_processor] refresh_interval "
               f"({DEFAULT_REFRESH_SECONDS} s by default, a deployment may set it lower: see "
               "Troubleshooting in the docs), then parses them.")


def _still_waiting(filename: str, timeout: float,
                   note_every: float) -> Callable[[str | None, float], Iterable[Event]]:
    """`follow`'s `waiting`: a line every `note_every` seconds saying what Airflow lacks."""
    noted = [0.0]  # seconds waited at the last line

    def waiting(served: str | None, waited: float) -> Iterable[Event]:
        if waited - noted[0] < note_every:
            return
        noted[0] = waited
        what = (f"found {filename} yet" if served is None else
                f"parsed this version of {filename} yet (it serves an older one)")
        yield (f"Still waiting: Airflow has not {what}; {waited:.0f} s so far, at most "
               f"{timeout:.0f} s.")

    return waiting


def _fresh_import_error(client: AirflowClient, filename: str,
                        known: frozenset[str]) -> Steps[None]:
    """Fail with the first import error of the file Airflow did not hold before."""
    fresh = [p for p in client.import_problems(filename) if p.stack_trace not in known]
    if fresh:
        yield from _import_failed(fresh[0])


def _import_failed(problem: ImportProblem) -> Steps[None]:
    lines = [line for line in problem.stack_trace.splitlines() if line.strip()]
    yield f"Airflow's import error for {problem.filename}:"
    for line in lines[:TRACE_LINES]:
        yield f"  {line}"
    if len(lines) > TRACE_LINES:
        yield f"  ... ({len(lines) - TRACE_LINES} more lines)"
    raise AirflowApiError(f"Airflow cannot import {problem.filename}: "
                          f"{lines[-1].strip() if lines else 'no detail'}")
