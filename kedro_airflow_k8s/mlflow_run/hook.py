"""In a node task's pod: the Kedro hook (entry point `kedro.hooks`) that keeps kedro-mlflow
logging into the DAG run's MLflow run and leaves that run open."""

from __future__ import annotations

import os
from typing import Any

from kedro.framework.hooks import hook_impl

from kedro_airflow_k8s.mlflow_run.settings import KEEP_OPEN_ENV


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
