"""Log one metric per finished node into the DAG run's MLflow run, when there is one.

kedro-airflow-k8s gives every task MLFLOW_RUN_ID (with run_config.mlflow set); without it,
or without mlflow installed, this hook does nothing.
"""

import os

from kedro.framework.hooks import hook_impl


class NodeMetrics:
    @hook_impl
    def after_node_run(self, node, outputs):
        run_id = os.environ.get("MLFLOW_RUN_ID")
        if not run_id:
            return
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            return
        MlflowClient().log_metric(run_id, f"{node.name}.outputs", float(len(outputs)))
