"""backfill: runs of a DAG Airflow already has, at every scheduled date of a span; a dry
run first, shown, then the backfill, followed when asked."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kedro_airflow_k8s.errors import AirflowApiError, ConfigError, DagNotFound, RunFailed
from kedro_airflow_k8s.ship.following import POLL_SECONDS, follow_backfill
from kedro_airflow_k8s.ship.steps import Steps

if TYPE_CHECKING:
    from kedro_airflow_k8s.airflow_client import AirflowClient
    from kedro_airflow_k8s.context import KedroProject

DATES_SHOWN = 10  # of a backfill's dry run


def backfill_date(option: str, text: str) -> datetime.datetime:
    """An ISO 8601 date or date-time of --from / --to; without an offset, UTC."""
    try:
        value = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{option}: expected an ISO 8601 date such as 2024-01-31 or "
                          f"2024-01-31T06:00, got {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


def backfill_span(start: str, end: str) -> tuple[datetime.datetime, datetime.datetime]:
    """--from and --to as dates, --to not before --from."""
    first, last = backfill_date("--from", start), backfill_date("--to", end)
    if last < first:
        raise ConfigError(f"--to: {last.isoformat()} is before --from {first.isoformat()}")
    return first, last


def project_variables(project: KedroProject) -> dict[str, str]:
    """The Airflow Variables the project's DAGs read (variables.used_variables), for a DAG
    Airflow already has (backfill)."""
    from kedro_airflow_k8s.mlflow_run import settings_for
    from kedro_airflow_k8s.variables import used_variables

    return used_variables(project.config.run_config, settings_for(project) is not None)


@dataclass(frozen=True)
class Backfill:
    """What a backfill asks of Airflow: the DAG, its dates and how to run them."""

    dag_id: str
    start: datetime.datetime
    end: datetime.datetime
    reprocess: str = "none"
    max_active_runs: int | None = None
    run_backwards: bool = False
    conf: dict[str, Any] | None = None

    @property
    def span(self) -> str:
        return f"{self.start.isoformat()} to {self.end.isoformat()}"


def backfill(client: AirflowClient, dag_id: str, start: datetime.datetime,
             end: datetime.datetime, *, reprocess: str = "none",
             max_active_runs: int | None = None, follow_minutes: float | None = None,
             interval: float = POLL_SECONDS, run_backwards: bool = False,
             conf: dict[str, Any] | None = None, cancel_on_timeout: bool = False,
             variables: dict[str, str] | None = None) -> Steps[int | None]:
    """Backfill a DAG Airflow already has from `start` to `end` (a dry run first, shown),
    newest date first with `run_backwards`, every run's conf `conf`; follow every run when
    asked. Stopped following by the timeout or Ctrl-C, the backfill goes on in Airflow unless
    `cancel_on_timeout`. Refused when Airflow lacks a pool of its tasks or one of
    `variables` (name -> config key) they read. The backfill's id, None when there was
    nothing to run."""
    from kedro_airflow_k8s.pools import check_dag_pools
    from kedro_airflow_k8s.variables import check_variables

    asked = Backfill(dag_id, start, end, reprocess, max_active_runs, run_backwards, conf)
    _check_backfillable(client, dag_id)
    yield from check_dag_pools(client, dag_id)
    yield from check_variables(client, variables or {})
    dates = yield from _dry_run(client, asked)
    if not dates:
        return None
    backfill_id = client.create_backfill(dag_id, start, end, reprocess, max_active_runs,
                                         run_backwards=run_backwards, conf=conf)
    yield f"Started backfill {backfill_id}, see {client.ui_url(dag_id)}"
    if follow_minutes is not None:
        yield from _follow(client, asked, backfill_id, dates, follow_minutes * 60, interval,
                           cancel_on_timeout)
    return backfill_id


def _check_backfillable(client: AirflowClient, dag_id: str) -> None:
    """Airflow backfills a DAG it knows, scheduled by time, and not paused."""
    try:
        dag = client.dag(dag_id)
    except DagNotFound:
        raise AirflowApiError(f"DAG '{dag_id}' is not known to Airflow at {client.host}: "
                              "backfill does not upload it, run upload-pipeline or schedule "
                              "first") from None
    if not dag.timetable_periodic and "Asset" in (dag.timetable_summary or ""):
        raise AirflowApiError(f"DAG '{dag_id}' runs on asset updates "
                              f"({dag.timetable_summary}) and has no periodic schedule: "
                              "Airflow backfills only DAGs scheduled by time; `schedule -c "
                              "CRON` uploads it with one (with --on-assets too: on either)")
    if not dag.timetable_periodic:
        raise AirflowApiError(f"DAG '{dag_id}' has no periodic schedule "
                              f"({dag.timetable_summary or 'None'}): Airflow backfills only "
                              "scheduled DAGs, upload it with `schedule` first")
    if dag.is_paused:
        raise AirflowApiError(f"DAG '{dag_id}' is paused: Airflow runs no task of a paused "
                              "DAG, backfills included; unpause it first")


def _dry_run(client: AirflowClient, asked: Backfill) -> Steps[list[datetime.datetime]]:
    """The dates the backfill would run, said; none: said why."""
    try:
        dates = client.backfill_dry_run(asked.dag_id, asked.start, asked.end, asked.reprocess,
                                        run_backwards=asked.run_backwards, conf=asked.conf)
    except AirflowApiError as exc:
        if asked.run_backwards and "depends_on_past" in str(exc):
            raise ConfigError(f"--run-backwards: DAG '{asked.dag_id}' has tasks with "
                              "depends_on_past=True, which Airflow backfills oldest date "
                              "first only: drop --run-backwards") from None
        raise
    if not dates:
        rerun = "" if asked.reprocess == "completed" else " (--reprocess completed reruns them)"
        yield (f"Nothing to backfill: DAG '{asked.dag_id}' has a run at every date from "
               f"{asked.span}{rerun}.")
        return dates
    shown = ", ".join(d.isoformat() for d in dates[:DATES_SHOWN])
    more = f" and {len(dates) - DATES_SHOWN} more" if len(dates) > DATES_SHOWN else ""
    order = ", newest first" if asked.run_backwards else ""
    yield (f"Backfill of DAG '{asked.dag_id}' from {asked.span}: {len(dates)} runs{order}, "
           f"at {shown}{more}.")
    return dates


def _follow(client: AirflowClient, asked: Backfill, backfill_id: int,
            dates: list[datetime.datetime], timeout: float, interval: float,
            cancel: bool) -> Steps[None]:
    """Follow every run of the backfill to its end; stopped by the timeout or Ctrl-C, cancel
    the backfill when asked."""
    runs = client.backfill_runs(asked.dag_id, dates)
    if len(runs) < len(dates):  # a date whose run was in flight between dry run and start
        yield f"{len(dates) - len(runs)} of the dates had a run in flight: not followed."
    try:
        yield from follow_backfill(client, asked.dag_id, backfill_id, runs, timeout=timeout,
                                   interval=interval)
    except KeyboardInterrupt:
        raise _stopped_following(
            client, backfill_id, f"backfill {backfill_id} of DAG '{asked.dag_id}': not "
            "followed after Ctrl-C", cancel, exit_code=130) from None
    except RunFailed as exc:
        if exc.exit_code != 3:  # a failed run, not the timeout
            raise
        raise _stopped_following(client, backfill_id, str(exc), cancel, exit_code=3) from None
    yield f"Backfill {backfill_id}: all {len(runs)} runs succeeded."


def _stopped_following(client: AirflowClient, backfill_id: int, why: str, cancel: bool,
                       exit_code: int) -> RunFailed:
    """The error of a backfill no longer followed (`why`): cancelled when asked, else how
    to cancel it."""
    if not cancel:
        return RunFailed(f"{why}; it goes on in Airflow: cancel it in "
                         f"its UI or with POST {client.host}/api/v2/backfills/{backfill_id}"
                         "/cancel (--cancel-on-timeout does)", exit_code=exit_code)
    if client.cancel_backfill(backfill_id):
        done = "cancelled it: its queued runs failed, its running ones go on to their end"
    else:
        done = "it had completed before the cancel"
    return RunFailed(f"{why}; {done}", exit_code=exit_code)
