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

from kedro_airflow_k8s.mlflow_run.commands import MlflowError, end_run, hand_over, start_run
from kedro_airflow_k8s.mlflow_run.settings import (
    END_TASK,
    KEEP_OPEN_ENV,
    RUN_ID_TEMPLATE,
    START_TASK,
    STATUS_TEMPLATE,
    XCOM_FILE,
    MlflowSettings,
    kedro_mlflow_server,
    settings_for,
    task_environment,
)

__all__ = ["END_TASK", "KEEP_OPEN_ENV", "RUN_ID_TEMPLATE", "START_TASK", "STATUS_TEMPLATE",
           "XCOM_FILE", "MlflowError", "MlflowSettings", "end_run", "hand_over",
           "kedro_mlflow_server", "settings_for", "start_run", "task_environment"]
