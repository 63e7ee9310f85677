"""Project settings: Kedro's defaults, plus a hook that logs node metrics to MLflow."""

from demo.hooks import NodeMetrics

HOOKS = (NodeMetrics(),)

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}
