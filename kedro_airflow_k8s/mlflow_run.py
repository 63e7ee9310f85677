"""One MLflow run per DAG run: which server, how tasks authenticate, start and end commands.

The DAG's `start-mlflow-run` task runs `kedro airflow-k8s mlflow-start` in the project's
image (or on the worker in local execution): it creates the experiment when missing (a
deleted one is restored), starts a run named after the Airflow run id and tagged with the
DAG id and image, and hands the run id to Airflow through XCom. Every node task then gets
MLFLOW_RUN_ID. The last task, `end-mlflow-run` (trigger rule all_done), sets the run's status
from the task results: the run is the DAG run's, not any node's.

With kedro-mlflow in the project, its hooks would start (or resume) a run in every node's
`kedro run` and end it there: `DagRunHook` (entry point `kedro.hooks`) resumes the DAG run's
run first, which kedro-mlflow then logs into without ending it, and leaves it open.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl

from kedro_airflow_k8s.dagspec import variable_value
from kedro_airflow_k8s.errors import PluginError

if TYPE_CHECKING:
    from kedro_airflow_k8s.context import KedroProject

START_TASK = "start-mlflow-run"
END_TASK = "end-mlflow-run"
XCOM_FILE = Path("/airflow/xcom/return.json")
RUN_ID_TEMPLATE = f"{{{{ ti.xcom_pull(task_ids='{START_TASK}') }}}}"
# FAILED when any task of the DAG run failed (or never ran because one did), else FINISHED
STATUS_TEMPLATE = ("{{ 'FAILED' if ti.get_ti_count(dag_id=dag.dag_id, run_ids=[run_id], "
                   "states=['failed', 'upstream_failed']) else 'FINISHED' }}")
# Set on the node tasks of a kedro-mlflow project: DagRunHook keeps the DAG run's run open
KEEP_OPEN_ENV = "KEDRO_AIRFLOW_K8S_MLFLOW_RUN"


class MlflowError(PluginError):
    """MLflow refused or could not be reached."""


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
    return run.info.run_id


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


class DagRunHook:
    """In a node task of a kedro-mlflow project: log into the DAG run's run, and leave it open.

    Runs before kedro-mlflow's hooks (tryfirst), which then find an active run, log into it
    and do not end it; after them (trylast) it detaches every copy of the run from this
    process with the status RUNNING, so that neither kedro-mlflow nor MLflow's exit handler
    ends it FINISHED: `end-mlflow-run` sets the status once every node is done.
    """

    @staticmethod
    def _run_id() -> str | None:
        return os.environ.get("MLFLOW_RUN_ID") if os.environ.get(KEEP_OPEN_ENV) else None

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        run_id = self._run_id()
        if run_id:
            import mlflow

            mlflow.start_run(run_id=run_id)

    def _detach(self) -> None:
        if not self._run_id():
            return
        import mlflow

        while mlflow.active_run():  # kedro-mlflow resumes the run once per node (nested)
            mlflow.end_run(status="RUNNING")

    @hook_impl(trylast=True)
    def after_pipeline_run(self) -> None:
        self._detach()

    @hook_impl(trylast=True)
    def on_pipeline_error(self) -> None:
        self._detach()


dag_run_hook = DagRunHook()
