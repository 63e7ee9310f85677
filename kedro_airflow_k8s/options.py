"""What a command asks of the compiler, typed once: the CLI builds these, everything below
reads them (`--image` -> CompileOptions.image -> the pods' image)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Execution = Literal["kubernetes", "local"]


@dataclass(frozen=True)
class CompileOptions:
    """The command line's say in the DAG; None: the config's value."""

    image: str | None = None  # --image: run_config.image
    dag_id: str | None = None  # --dag-name: run_config.run_name, else the package name
    execution: Execution | None = None  # --execution: run_config.execution
    group_memory: bool | None = None  # --no-group-memory: run_config.group_memory_nodes
    schedule: str | None = None  # schedule's cron; None: the DAG runs when triggered
    # schedule's data (asset_schedule.AssetCondition): --on-assets, run_config.schedule_on;
    # with `schedule` too, the DAG runs on either
    schedule_on: Any = None
    with_sensors: bool = True  # run-once leaves run_config.external_dependencies out
    paused_upon_creation: bool | None = None  # schedule --paused; None: Airflow's default
    validate: bool = False  # --validate: DagBag and the Kubernetes schema before writing
    k8s_version: str | None = None  # --k8s-version for --validate


@dataclass(frozen=True)
class ProjectSource:
    """What the compiler knows of the project besides its pipeline and config."""

    package: str  # the Kedro package name
    env: str  # the Kedro env every task runs with
    pipeline_name: str = "__default__"
    is_persisted: Callable[[str], bool] = lambda name: True
    dataset_type: Callable[[str], str | None] = lambda name: None
    dataset_location: Callable[[str], str | None] = lambda name: None  # assets.dataset_location
    dataset_layer: Callable[[str], str | None] = lambda name: None  # catalog kedro-viz layer
    commit_sha: str | None = None  # the git commit, "<sha>-dirty" when files differ from it
    project_version: str | None = None  # project_version: a hash of the code and conf
    path: str | None = None  # local execution: default project path on the worker
    python: str | None = None  # local execution: default interpreter on the worker
    mlflow: Any = None  # mlflow_run.MlflowSettings; None: MLflow is off
    spark_artifacts_version: str | None = None  # Dataproc: see spark_artifacts
    parameters: Any = None  # the project's parameters (dict), as its config loader reads them
