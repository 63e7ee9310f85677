"""One MLflow run per DAG run: which server, how tasks authenticate, and the start command.

The DAG's `start-mlflow-run` task runs `kedro airflow-k8s mlflow-start` in the project's
image (or on the worker in local execution): it creates the experiment when missing (a
deleted one is restored), starts a run tagged with the DAG id, Airflow run id and image, and
hands the run id to Airflow through XCom. Every node task then gets MLFLOW_RUN_ID.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kedro_airflow_k8s.dagspec import variable_value
from kedro_airflow_k8s.errors import PluginError

START_TASK = "start-mlflow-run"
XCOM_FILE = Path("/airflow/xcom/return.json")


class MlflowError(PluginError):
    """MLflow refused or could not be reached."""


@dataclass(frozen=True)
class MlflowSettings:
    tracking_uri: str
    experiment_name: str | None  # None: not known before the DAG id is


def settings_for(project: Any, dag_id: str | None = None) -> MlflowSettings | None:
    """From run_config.mlflow, else from kedro-mlflow's mlflow.yml; None: MLflow is off."""
    run = project.config.run_config
    experiment = run.experiment_name or dag_id
    if run.mlflow is not None:
        return MlflowSettings(run.mlflow.tracking_uri, run.mlflow.experiment_name or experiment)
    uri = project.kedro_mlflow_tracking_uri()
    return MlflowSettings(uri, experiment) if uri else None


def task_environment(auth: Any) -> dict[str, str]:
    """What a task needs to authenticate to MLflow; values are Airflow templates, not secrets.
    A missing Variable fails the task, naming it (never an empty or made-up value)."""
    if auth.type == "Vars":
        return {name: variable_value(name) for name in auth.params}
    return {}


def _google_id_token(environ: Mapping[str, str]) -> str:
    audience = environ.get("GOOGLE_AUDIENCE")
    if not audience:
        raise MlflowError("authentication GoogleOAuth2 needs GOOGLE_AUDIENCE (the audience of "
                          "the ID token) in the environment")
    try:
        import google.auth.transport.requests
        import google.oauth2.id_token
    except ImportError:
        raise MlflowError("authentication GoogleOAuth2 needs google-auth: pip install "
                          "'kedro-airflow-k8s[gcp]'") from None
    request = google.auth.transport.requests.Request()
    return google.oauth2.id_token.fetch_id_token(request, audience)


def start_run(settings: MlflowSettings, *, dag_id: str, airflow_run_id: str,
              image: str | None, auth_type: str = "Null",
              environ: Mapping[str, str] | None = None) -> str:
    """Create (or restore) the experiment, start a run for this DAG run; the run id."""
    environ = os.environ if environ is None else environ
    if auth_type == "GoogleOAuth2":
        os.environ["MLFLOW_TRACKING_TOKEN"] = _google_id_token(environ)
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=settings.tracking_uri)
    tags = {"airflow.dag_id": dag_id, "airflow.run_id": airflow_run_id,
            "mlflow.runName": airflow_run_id}
    if image:
        tags["image"] = image
    try:
        experiment = client.get_experiment_by_name(settings.experiment_name)
        if experiment is None:
            experiment_id = client.create_experiment(settings.experiment_name)
        else:
            experiment_id = experiment.experiment_id
            if experiment.lifecycle_stage == "deleted":
                client.restore_experiment(experiment_id)
        run = client.create_run(experiment_id, tags=tags)
        for key in ("airflow.dag_id", "airflow.run_id", "image"):
            if key in tags:
                client.log_param(run.info.run_id, key, tags[key])
    except MlflowException as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise MlflowError(f"MLflow at {settings.tracking_uri}: {first}") from None
    return run.info.run_id


def hand_over(run_id: str, xcom_file: Path = XCOM_FILE) -> None:
    """Give the run id to Airflow: the pod's XCom file, else stdout's last line (local)."""
    if xcom_file.parent.is_dir():
        xcom_file.write_text(json.dumps(run_id))
    print(run_id, flush=True)
