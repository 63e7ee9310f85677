"""schedule: the DAGs uploaded with a schedule (a cron, data, or both), paused or unpaused
as rendered and, when Airflow answers, set so once it has loaded them."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from kedro_airflow_k8s.dagspec import DagSpec
from kedro_airflow_k8s.errors import AirflowApiError
from kedro_airflow_k8s.options import CompileOptions
from kedro_airflow_k8s.ship.loading import (
    PARSE_TIMEOUT_SECONDS,
    Before,
    await_version,
    before_upload,
)
from kedro_airflow_k8s.ship.shipment import Published, Shipment, client_for
from kedro_airflow_k8s.ship.steps import Steps

if TYPE_CHECKING:
    from kedro_airflow_k8s.airflow_client import AirflowClient
    from kedro_airflow_k8s.context import KedroProject


def schedule_options(project: KedroProject, options: CompileOptions, cron_expression: str | None,
                     on_assets: str | None, paused: bool) -> CompileOptions:
    """What `schedule` compiles with: on data when --on-assets or run_config.schedule_on says
    so (and on the cron too when -c is given or run_config.schedule_on_or_cron), else on
    the cron of -c or run_config.cron_expression."""
    from kedro_airflow_k8s.asset_schedule import from_config, from_expression

    run = project.config.run_config
    on = from_expression(on_assets) if on_assets is not None else from_config(run.schedule_on)
    cron: str | None = cron_expression or run.cron_expression
    if on is not None and not cron_expression and not run.schedule_on_or_cron:
        cron = None
    return dataclasses.replace(options, schedule=cron, schedule_on=on,
                               paused_upon_creation=paused)


class Schedule(Shipment[list[Published]]):
    """Rendered paused or unpaused; once Airflow has loaded each version, set so."""

    def __init__(self, projects: list[KedroProject], output: str | None,
                 options: CompileOptions, client: AirflowClient | None = None,
                 parse_timeout: float = PARSE_TIMEOUT_SECONDS) -> None:
        assert options.schedule is not None or options.schedule_on is not None
        self.paused = bool(options.paused_upon_creation)
        super().__init__(projects, output,
                         dataclasses.replace(options, paused_upon_creation=self.paused), client)
        self.parse_timeout = parse_timeout
        self.airflow: AirflowClient | None = None  # None: not checked with Airflow, as
        self.unreachable = "no host in airflow-k8s.yaml"  # this says why
        self.befores: dict[str, Before] = {}

    @property
    def state(self) -> str:
        return "paused" if self.paused else "unpaused"

    def read_before(self, specs: list[DagSpec]) -> None:
        if not self.project.config.host:
            return
        try:
            airflow = self.client or client_for(self.project)
            self.befores = {spec.dag_id: before_upload(airflow, spec.dag_id) for spec in specs}
            self.airflow = airflow
        except AirflowApiError as exc:
            self.unreachable = str(exc)

    def uploaded(self, published: Published) -> Steps[None]:
        yield (f"Uploaded {published.location}, scheduled "
               f"{schedule_line(published.spec, self.options.schedule)}.")

    def after(self, published: list[Published]) -> Steps[list[Published]]:
        if self.airflow is None:
            yield (f"Not checked with Airflow ({self.unreachable}): a new DAG starts "
                   f"{self.state}; an existing one keeps its paused state.")
            return published
        for one in published:
            dag_id = one.spec.dag_id
            yield from await_version(self.airflow, dag_id, one.text, timeout=self.parse_timeout,
                                     before=self.befores[dag_id])
            self.airflow.set_paused(dag_id, self.paused)
            yield (f"Airflow loaded it; DAG '{dag_id}' is {self.state}: "
                   f"{self.airflow.ui_url(dag_id)}")
        return published


def schedule(project: KedroProject, output: str | None, options: CompileOptions,
             parse_timeout: float = PARSE_TIMEOUT_SECONDS,
             client: AirflowClient | None = None) -> Steps[Published]:
    """Upload the DAG with `options.schedule`, unpaused unless `options.paused_upon_creation`:
    rendered so that Airflow creates it that way, and, when the API answers, set so once
    Airflow has loaded this version."""
    published = yield from schedule_each([project], output, options, parse_timeout, client)
    return published[0]


def schedule_each(projects: list[KedroProject], output: str | None, options: CompileOptions,
                  parse_timeout: float = PARSE_TIMEOUT_SECONDS,
                  client: AirflowClient | None = None) -> Steps[list[Published]]:
    """`schedule` for several pipelines of one project: every DAG compiled before any upload,
    all uploaded, then each waited for and set paused or unpaused."""
    return (yield from Schedule(projects, output, options, client, parse_timeout).run())


def schedule_line(spec: DagSpec, cron: str | None) -> str:
    """How `schedule` says when the DAG runs."""
    if not spec.schedule_assets:
        return str(cron)
    uris = ", ".join(dict.fromkeys(spec.schedule_assets.values()))
    on = f"on updates of {uris}"
    return f"{on}, or {cron}" if cron else on
