"""run-once: the DAG uploaded without schedule or sensors, one run started once Airflow has
loaded that version, followed to its end when asked."""

from __future__ import annotations

import dataclasses
import datetime
import secrets
from typing import TYPE_CHECKING, Any

from kedro_airflow_k8s.airflow_client import short_commit
from kedro_airflow_k8s.dagspec import DagSpec
from kedro_airflow_k8s.errors import ConfigError
from kedro_airflow_k8s.options import CompileOptions
from kedro_airflow_k8s.ship.following import POLL_SECONDS, follow_run
from kedro_airflow_k8s.ship.loading import (
    PARSE_TIMEOUT_SECONDS,
    Before,
    await_version,
    before_upload,
)
from kedro_airflow_k8s.ship.preparing import DEFAULT_OPTIONS
from kedro_airflow_k8s.ship.run_params import run_conf
from kedro_airflow_k8s.ship.shipment import Published, Shipment, client_for
from kedro_airflow_k8s.ship.steps import Steps

if TYPE_CHECKING:
    from kedro_airflow_k8s.airflow_client import AirflowClient
    from kedro_airflow_k8s.context import KedroProject


def new_run_id() -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"kedro_airflow_k8s__{now:%Y%m%dT%H%M%SZ}__{secrets.token_hex(3)}"


def start_run(client: AirflowClient, published: Published, *,
              parse_timeout: float = PARSE_TIMEOUT_SECONDS, before: Before | None = None,
              conf: dict[str, Any] | None = None) -> Steps[str]:
    """Wait until Airflow has parsed the uploaded version, unpause, trigger (with `conf`);
    the run id."""
    dag_id = published.spec.dag_id
    yield from await_version(client, dag_id, published.text, timeout=parse_timeout,
                             before=before)
    client.set_paused(dag_id, False)
    return client.trigger(dag_id, new_run_id(), conf)


class RunOnce(Shipment[str]):
    """Without schedule or sensors; refused in place of a scheduled DAG unless asked; then one
    run, with the conf of --params."""

    def __init__(self, project: KedroProject, output: str | None, options: CompileOptions,
                 client: AirflowClient, follow_minutes: float | None, params: str | None,
                 replace_scheduled: bool, interval: float = POLL_SECONDS) -> None:
        super().__init__([project], output, dataclasses.replace(options, with_sensors=False),
                         client)
        self.airflow = client
        self.follow_minutes, self.params, self.interval = follow_minutes, params, interval
        self.replace_scheduled = replace_scheduled
        self.conf: dict[str, Any] | None = None
        self.before: Before | None = None

    def checked(self, specs: list[DagSpec]) -> None:
        if self.params:
            self.conf = run_conf(self.project, specs[0], self.params)

    def read_before(self, specs: list[DagSpec]) -> None:
        self.before = before_upload(self.airflow, specs[0].dag_id)
        if not self.replace_scheduled:
            _refuse_replacing_a_schedule(self.airflow, specs[0].dag_id, self.before.dag)

    def uploaded(self, published: Published) -> Steps[None]:
        yield f"Uploaded {published.location}."

    def after(self, published: list[Published]) -> Steps[str]:
        client, spec = self.airflow, published[0].spec
        run_id = yield from start_run(client, published[0], before=self.before, conf=self.conf)
        yield (f"Triggered run {run_id}, see {client.ui_url(spec.dag_id, run_id)}"
               f"{_version_of(spec)}")
        if self.follow_minutes is not None:
            yield from follow_run(client, spec.dag_id, run_id, timeout=self.follow_minutes * 60,
                                  interval=self.interval)
            yield f"Run {run_id} succeeded."
        return run_id


def run_once(project: KedroProject, output: str | None, options: CompileOptions = DEFAULT_OPTIONS,
             follow_minutes: float | None = None, params: str | None = None,
             replace_scheduled: bool = False, client: AirflowClient | None = None,
             interval: float = POLL_SECONDS) -> Steps[str]:
    """Upload without schedule or sensors, start one run (its Params set from `params`,
    `key=value,...` as `kedro run --params` takes them), follow it when asked; its id. A DAG
    Airflow runs on a schedule under the same id is not replaced unless `replace_scheduled`."""
    run = RunOnce(project, output, options, client or client_for(project), follow_minutes,
                  params, replace_scheduled, interval)
    return (yield from run.run())


def _refuse_replacing_a_schedule(client: AirflowClient, dag_id: str, dag: Any) -> None:
    """run-once uploads its DAG without a schedule: refuse when that would take the schedule
    of the DAG Airflow has under this id (from `schedule`)."""
    summary = dag.timetable_summary if dag is not None else None
    if summary in (None, "None"):
        return
    raise ConfigError(
        f"DAG '{dag_id}' runs on a schedule in Airflow at {client.host} ({summary}): run-once "
        "uploads it without one, which would end that schedule until the next `schedule`; "
        f"run it under another id (-d {dag_id}-once) or pass --replace-scheduled")


def _version_of(spec: DagSpec) -> str:
    """The end of the run's line: the DAG's project version and commit, as far as known."""
    known = [f"{name} {value}" for name, value in (
        ("project version", spec.project_version), ("commit", short_commit(spec.commit_sha)))
        if value]
    return f" ({', '.join(known)})" if known else ""
