"""The typed model of `conf/<env>/airflow-k8s.yaml` and its validation.

Field descriptions are the documentation: `init` writes them into the commented
config file, and the docs page is generated from them.

One module per area: base (the model base, shared value types), tasks (task settings),
pods (what a node pod is made of), integrations (Spark, MLflow, handlers, assets, ...),
run (run_config, the plugin config, parse_config). Import from this package.
"""

from kedro_airflow_k8s.config.base import (
    _CRON_PRESETS,
    CONFIG_FILE,
    POOL_NAME_LENGTH,
    airflow_url_problem,
    image_problem,
    placeholder_image,
    validate_cron,
)
from kedro_airflow_k8s.config.integrations import (
    DEFAULT_SLACK_MESSAGE,
    SPARK_08_KUBERNETES,
    AuthenticationConfig,
    SparkConfig,
)
from kedro_airflow_k8s.config.pods import ResourceProfile, VolumeConfig
from kedro_airflow_k8s.config.run import PluginConfig, RunConfig, parse_config
from kedro_airflow_k8s.config.tasks import POD_OPERATION, TaskSettings

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_SLACK_MESSAGE",
    "POD_OPERATION",
    "POOL_NAME_LENGTH",
    "SPARK_08_KUBERNETES",
    "AuthenticationConfig",
    "PluginConfig",
    "ResourceProfile",
    "RunConfig",
    "SparkConfig",
    "TaskSettings",
    "VolumeConfig",
    "_CRON_PRESETS",  # tests/test_render.py reads the schedule presets
    "airflow_url_problem",
    "image_problem",
    "parse_config",
    "placeholder_image",
    "validate_cron",
]
