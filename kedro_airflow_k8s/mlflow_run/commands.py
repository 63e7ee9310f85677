"""The MLflow client calls of the DAG's MLflow tasks: start the DAG run's run, hand its id
over to Airflow, end it with the DAG run's status. mlflow is imported inside each call."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro_airflow_k8s.errors import PluginError
from kedro_airflow_k8s.mlflow_run.settings import XCOM_FILE, MlflowSettings


class MlflowError(PluginError):
    """MLflow refused or could not be reached."""


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
    token = google.oauth2.id_token.fetch_id_token(request, audience)
    return str(token)


def _client(settings: MlflowSettings, auth_type: str,
            environ: Mapping[str, str] | None) -> Any:
    environ = os.environ if environ is None else environ
    if auth_type == "GoogleOAuth2":
        os.environ["MLFLOW_TRACKING_TOKEN"] = _google_id_token(environ)
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=settings.tracking_uri)


def _one_line(settings: MlflowSettings, exc: Exception) -> MlflowError:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    return MlflowError(f"MLflow at {settings.tracking_uri}: {first}")


def start_run(settings: MlflowSettings, *, dag_id: str, airflow_run_id: str,
              image: str | None, auth_type: str = "Null",
              environ: Mapping[str, str] | None = None) -> str:
    """Create (or restore) the experiment, start a run for this DAG run; the run id."""
    from mlflow.exceptions import MlflowException

    client = _client(settings, auth_type, environ)
    tags = {"airflow.dag_id": dag_id, "airflow.run_id": airflow_run_id}
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
        run = client.create_run(experiment_id, tags=tags, run_name=airflow_run_id)
        for key in ("airflow.dag_id", "airflow.run_id", "image"):
            if key in tags:
                client.log_param(run.info.run_id, key, tags[key])
    except MlflowException as exc:
        raise _one_line(settings, exc) from None
    return str(run.info.run_id)


def end_run(settings: MlflowSettings, run_id: str, status: str, *, auth_type: str = "Null",
            environ: Mapping[str, str] | None = None) -> None:
    """Give the DAG run's MLflow run its final status (FINISHED or FAILED)."""
    from mlflow.exceptions import MlflowException

    client = _client(settings, auth_type, environ)
    try:
        client.set_terminated(run_id, status)
    except MlflowException as exc:
        raise _one_line(settings, exc) from None


def hand_over(run_id: str, xcom_file: Path = XCOM_FILE) -> None:
    """Give the run id to Airflow: the pod's XCom file, else stdout's last line (local)."""
    if xcom_file.parent.is_dir():
        xcom_file.write_text(json.dumps(run_id))
    print(run_id, flush=True)
