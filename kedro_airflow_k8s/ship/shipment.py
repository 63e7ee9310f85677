"""The one flow of the commands that upload DAGs (upload-pipeline, schedule, run-once), and
its steps: where DAGs go, what Airflow must have before an upload, the upload itself."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from kedro_airflow_k8s.airflow_client import AirflowClient
from kedro_airflow_k8s.config import validate_cron
from kedro_airflow_k8s.dagspec import DagSpec
from kedro_airflow_k8s.errors import AirflowApiError, ConfigError
from kedro_airflow_k8s.options import CompileOptions
from kedro_airflow_k8s.ship.preparing import prepare_each
from kedro_airflow_k8s.ship.steps import Steps
from kedro_airflow_k8s.upload import upload_dag

if TYPE_CHECKING:
    from kedro_airflow_k8s.context import KedroProject

R = TypeVar("R")


@dataclass(frozen=True)
class Published:
    spec: DagSpec
    text: str
    location: str


def output_location(project: KedroProject, output: str | None) -> str:
    location = output or project.config.output
    if not location:
        raise ConfigError("output: no DAG location: set output in airflow-k8s.yaml or pass -o")
    return location


def airflow_host(project: KedroProject) -> str:
    host = project.config.host
    if not host:
        raise ConfigError("host: no Airflow URL: set host in airflow-k8s.yaml")
    return host


def client_for(project: KedroProject) -> AirflowClient:
    return AirflowClient(airflow_host(project))


def check_cron(schedule: str) -> None:
    try:
        validate_cron(schedule)
    except ValueError as exc:
        raise ConfigError(f"--cron-expression: {exc}") from None


class Shipment(ABC, Generic[R]):
    """Every DAG compiled before any upload; refused before any upload when Airflow lacks
    what they need; all uploaded; then what the command does with Airflow (`after`). A command
    differs in the small steps it overrides."""

    def __init__(self, projects: list[KedroProject], output: str | None,
                 options: CompileOptions, client: AirflowClient | None = None) -> None:
        self.projects, self.output, self.options = projects, output, options
        self.project = projects[0]  # the pipelines of one project share its config
        self.client = client  # None: made when needed, from the project's host

    def run(self) -> Steps[R]:
        if self.options.schedule is not None:
            check_cron(self.options.schedule)
        location = output_location(self.project, self.output)
        prepared = yield from prepare_each(self.projects, self.options)
        specs = [spec for spec, _ in prepared]
        self.checked(specs)
        yield from airflow_has_what_it_needs(self.project, specs, self.client)
        self.read_before(specs)
        published: list[Published] = []
        for spec, text in prepared:
            published.append((yield from upload(self.project, spec, text, location)))
            yield from self.uploaded(published[-1])
        return (yield from self.after(published))

    def checked(self, specs: list[DagSpec]) -> None:
        """The command's own checks of the compiled DAGs."""

    def read_before(self, specs: list[DagSpec]) -> None:
        """What the command reads of Airflow before the upload."""

    def uploaded(self, published: Published) -> Steps[None]:
        """The lines after each upload."""
        yield from ()

    @abstractmethod
    def after(self, published: list[Published]) -> Steps[R]:
        """What the command does once every DAG is uploaded; its result."""


def airflow_has_what_it_needs(project: KedroProject, specs: list[DagSpec],
                              client: AirflowClient | None = None) -> Steps[None]:
    """With a host, refuse DAGs whose tasks' pools Airflow lacks or has too few slots of
    (pools.check_pools), or that read Variables Airflow lacks (variables.check_variables);
    without one nothing, when Airflow does not answer a note."""
    from kedro_airflow_k8s.pools import check_pools
    from kedro_airflow_k8s.variables import check_variables

    if not project.config.host:
        return
    try:
        client = client or client_for(project)
        yield from check_pools(client, specs, project.config.run_config)
    except AirflowApiError as exc:
        yield f"Note: pools not checked: {exc}."
        return
    try:
        yield from check_variables(client, {name: key for spec in specs
                                            for name, key in spec.variables.items()})
    except AirflowApiError as exc:
        yield f"Note: Variables not checked: {exc}."


def upload(project: KedroProject, spec: DagSpec, text: str, location: str) -> Steps[Published]:
    """Spark artifacts first (the DAG names them), then the DAG file."""
    spark = project.config.run_config.spark
    if spark is not None and spark.type == "dataproc" and spec.tasks_of("spark-create"):
        from kedro_airflow_k8s.spark_artifacts import upload_artifacts

        assert spec.artifacts_version is not None  # compile names it for Dataproc
        notes: list[str] = []
        upload_artifacts(project, spec.dag_id, spec.artifacts_version, notes.append)
        yield from notes
    return Published(spec=spec, text=text,
                     location=upload_dag(text, location, f"{spec.dag_id}.py"))
