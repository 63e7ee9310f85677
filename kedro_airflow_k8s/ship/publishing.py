"""upload-pipeline: the DAGs uploaded where Airflow reads them, nothing asked of Airflow
beyond what they need."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kedro_airflow_k8s.options import CompileOptions
from kedro_airflow_k8s.ship.preparing import DEFAULT_OPTIONS
from kedro_airflow_k8s.ship.shipment import Published, Shipment
from kedro_airflow_k8s.ship.steps import Steps

if TYPE_CHECKING:
    from kedro_airflow_k8s.airflow_client import AirflowClient
    from kedro_airflow_k8s.context import KedroProject


class Publish(Shipment[list[Published]]):
    """The upload is all."""

    def after(self, published: list[Published]) -> Steps[list[Published]]:
        yield from ()
        return published


def publish(project: KedroProject, output: str | None,
            options: CompileOptions = DEFAULT_OPTIONS,
            client: AirflowClient | None = None) -> Steps[Published]:
    """Compile the project's DAG and put it where Airflow reads DAGs."""
    published = yield from Publish([project], output, options, client).run()
    return published[0]


def publish_each(projects: list[KedroProject], output: str | None,
                 options: CompileOptions = DEFAULT_OPTIONS,
                 client: AirflowClient | None = None) -> Steps[list[Published]]:
    """`publish` for several pipelines of one project: every DAG compiled before any upload."""
    return (yield from Publish(projects, output, options, client).run())
