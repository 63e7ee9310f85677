"""Project settings: Kedro's defaults, plus a hook that logs node metrics to MLflow."""

from demo.hooks import NodeMetrics

HOOKS = (NodeMetrics(),)
# The demo logs to MLflow with its own hook only; kedro-mlflow, when installed, would start
# runs of its own (docs/mlflow.md shows a project that uses it).
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow",)

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}
