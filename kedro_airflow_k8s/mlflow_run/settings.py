"""What the compiler knows of MLflow: the tasks' ids and templates, the server and experiment
(run_config.mlflow or kedro-mlflow's mlflow.yml), what a task needs to authenticate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro_airflow_k8s.dagspec import variable_value
from kedro_airflow_k8s.ids import RESERVED_IDS

if TYPE_CHECKING:
    from kedro_airflow_k8s.context import KedroProject

START_TASK = RESERVED_IDS["mlflow-start"]
END_TASK = RESERVED_IDS["mlflow-end"]
XCOM_FILE = Path("/airflow/xcom/return.json")
RUN_ID_TEMPLATE = f"{{{{ ti.xcom_pull(task_ids='{START_TASK}') }}}}"
# FAILED when any task of the DAG run failed (or never ran because one did), else FINISHED
STATUS_TEMPLATE = ("{{ 'FAILED' if ti.get_ti_count(dag_id=dag.dag_id, run_ids=[run_id], "
                   "states=['failed', 'upstream_failed']) else 'FINISHED' }}")
# Set on the node tasks of a kedro-mlflow project: DagRunHook keeps the DAG run's run open
KEEP_OPEN_ENV = "KEDRO_AIRFLOW_K8S_MLFLOW_RUN"


@dataclass(frozen=True)
class MlflowSettings:
    tracking_uri: str
    experiment_name: str | None  # None: not known before the DAG id is
    kedro_mlflow: bool = False  # kedro-mlflow's hooks log in every node's `kedro run`


def kedro_mlflow_server(project: KedroProject) -> str | None:
    """The tracking URI kedro-mlflow's mlflow.yml names, when its hooks run in the project."""
    uri = ((project.kedro_mlflow_config() or {}).get("server") or {}).get("mlflow_tracking_uri")
    return str(uri) if uri else None


def settings_for(project: KedroProject, dag_id: str | None = None,
                 notify: Callable[[str], None] = lambda line: None) -> MlflowSettings | None:
    """Server from run_config.mlflow, else from kedro-mlflow's mlflow.yml; None: MLflow is off.

    With kedro-mlflow in the project the experiment is the one its hooks log into (its
    tracking.experiment.name, default the package name), whatever run_config names.
    """
    run = project.config.run_config
    named = [(key, value) for key, value in (
        ("run_config.mlflow.experiment_name", run.mlflow and run.mlflow.experiment_name),
        ("run_config.experiment_name", run.experiment_name)) if value]
    kedro_mlflow = project.kedro_mlflow_config()
    if kedro_mlflow is None:
        if run.mlflow is None:
            return None
        return MlflowSettings(run.mlflow.tracking_uri, named[0][1] if named else dag_id)
    uri = run.mlflow.tracking_uri if run.mlflow else kedro_mlflow_server(project)
    if not uri:
        notify("Note: MLflow tracking is off for this DAG: kedro-mlflow is installed, but its "
               f"mlflow.yml (conf, env '{project.run_env}') sets no "
               "server.mlflow_tracking_uri and run_config.mlflow is not set; set either to "
               "your tracking server for one MLflow run per DAG run.")
        return None
    tracking = kedro_mlflow.get("tracking") or {}
    experiment = str((tracking.get("experiment") or {}).get("name") or project.package_name)
    if named and named[0][1] != experiment:
        key, value = named[0]
        notify(f"Note: MLflow runs go to experiment '{experiment}', kedro-mlflow's "
               f"tracking.experiment.name, where its hooks log; not {key} '{value}'.")
    return MlflowSettings(str(uri), experiment, kedro_mlflow=True)


def task_environment(auth: Any) -> dict[str, str]:
    """What a task needs to authenticate to MLflow; values are Airflow templates, not secrets.
    A missing Variable fails the task, naming it (never an empty or made-up value)."""
    if auth.type == "Vars":
        return {name: variable_value(name) for name in auth.params}
    return {}
