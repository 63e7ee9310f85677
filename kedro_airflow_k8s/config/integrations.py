"""What the DAG works with besides its pods: Spark, MLflow, failure handlers, external
dependencies, Airflow Assets, local execution."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from kedro_airflow_k8s.config.base import _Model, each_checked

DEFAULT_SLACK_MESSAGE = (
    ":red_circle: Task Failed.\n*Task*: {task}\n*Dag*: {dag}\n"
    "*Execution Time*: {execution_time}\n*Log Url*: {url}\n"
)
SLACK_PLACEHOLDERS = ("task", "dag", "execution_time", "url")


class ExternalDependency(_Model):
    dag_id: str = Field(description="DAG to wait for.")
    task_id: str | None = Field(None, description="Task of that DAG to wait for; empty: the DAG.")
    timeout: int = Field(1440, gt=0, description="Minutes to wait before failing the run.")
    check_existence: bool = Field(True, description="Fail at once when the DAG does not exist.")
    execution_delta: int = Field(
        0, ge=0, description="Minutes between this run's logical date and the awaited run's."
    )


class FailureHandler(_Model):
    type: Literal["slack"] = Field(description="Kind of handler; slack is the one supported.")
    connection_id: str = Field(
        "slack_default", description="Airflow connection of the Slack incoming webhook."
    )
    message_template: str = Field(
        DEFAULT_SLACK_MESSAGE,
        description="Message; {task}, {dag}, {execution_time} and {url} are filled in.",
    )

    @field_validator("message_template")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        import string

        for _, field, _, _ in string.Formatter().parse(value.replace("{{", "").replace("}}", "")):
            if field is not None and field not in SLACK_PLACEHOLDERS:
                raise ValueError(
                    f"unknown placeholder {{{field}}}; use {', '.join(SLACK_PLACEHOLDERS)}"
                )
        return value


class AuthenticationConfig(_Model):
    type: Literal["Null", "GoogleOAuth2", "Vars"] = Field(
        "Null", description="How the MLflow start task authenticates: Null, GoogleOAuth2 or Vars."
    )
    params: list[str] = Field(
        default_factory=list, description="With Vars: names of the Airflow Variables to pass."
    )


_DATAPROC_CLUSTER = re.compile(r"^[a-z]([-a-z0-9]{0,32}[a-z0-9])?$")
_FACTORY = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\.[A-Za-z_]\w*$")
_SPARK_REQUIRED = {
    "dataproc": ("project_id", "region", "cluster_name", "artifacts_path"),
    "kubernetes": (),
    "custom": ("operator_factory",),
}


# 0.8's Spark-on-Kubernetes block (spark-submit through an Airflow connection) -> the Spark
# properties that say the same now that the task pod is the driver.
SPARK_08_KUBERNETES = {
    "run_script": "leave it out, the task pod runs Kedro itself",
    "image": "write spark.kubernetes.container.image (default: the task's image)",
    "conf": "write its spark.* keys directly in cluster_config",
    "driver_port": "write spark.driver.port",
    "block_manager_port": "write spark.blockManager.port",
    "secrets": "write spark.kubernetes.executor.secrets.<secret>: <mount path> (the driver "
               "pod gets run_config.secrets)",
    "labels": "write spark.kubernetes.executor.label.<name>: <value>",
    "local_storage": "write spark.kubernetes.executor.volumes.persistentVolumeClaim."
                     "spark-local-dir-1.options.claimName: OnDemand (with .storageClass, "
                     ".sizeLimit and .mount.path)",
    "env_vars": "write spark.executorEnv.<NAME>: <value> (the driver pod gets "
                "run_config.env_vars)",
    "requests": "write spark.kubernetes.executor.request.cores (the driver pod: "
                "run_config.resources)",
    "limits": "write spark.kubernetes.executor.limit.cores and spark.executor.memory",
    "num_executors": "write spark.executor.instances",
    "jars": "write spark.jars",
    "repositories": "write spark.jars.repositories",
    "packages": "write spark.jars.packages",
}


class SparkConfig(_Model):
    type: Literal["dataproc", "kubernetes", "k8s", "custom"] = Field(
        description="Where Spark node groups run: dataproc (an ephemeral cluster per DAG "
        "run), kubernetes (Spark executors as pods; k8s is the same), custom "
        "(operator_factory builds the tasks)."
    )
    operator_factory: str | None = Field(
        None, description="With type custom: module.Class of a kedro_airflow_k8s.spark."
        "SparkFactory subclass, imported at compile time."
    )
    region: str | None = Field(None, description="Dataproc: region of the cluster.")
    project_id: str | None = Field(None, description="Dataproc: Google Cloud project.")
    cluster_name: str | None = Field(
        None, description="Dataproc: cluster name prefix; each DAG run appends its own hash "
        "(lowercase letters, digits, '-'; at most 34)."
    )
    artifacts_path: str | None = Field(
        None, description="Dataproc: gs:// folder the project package, job script and init "
        "script are uploaded to (under <dag id>/<version>/)."
    )
    user_init_path: str | None = Field(
        None, description="Dataproc: shell script (path in the project) prepended to the "
        "cluster init script."
    )
    user_post_init_path: str | None = Field(
        None, description="Dataproc: shell script (path in the project) appended to the "
        "cluster init script."
    )
    cluster_config: dict[str, Any] = Field(
        default_factory=dict,
        description="dataproc: the ClusterConfig of the Dataproc API (snake_case keys); "
        "kubernetes: Spark properties (spark.executor.instances: 2, ...); custom: passed to "
        "the factory.",
    )

    @model_validator(mode="before")
    @classmethod
    def _not_the_08_kubernetes_block(cls, raw: Any) -> Any:
        if not isinstance(raw, dict) or raw.get("type") not in ("kubernetes", "k8s"):
            return raw
        if raw.get("cluster_name") is not None:
            raise ValueError("cluster_name: 0.8's Airflow connection for spark-submit is not "
                             "used with type kubernetes (the task pod is the Spark driver, "
                             "with run_config.service_account_name): leave it out")
        cluster_config = raw.get("cluster_config")
        for key in SPARK_08_KUBERNETES:  # run_script first: the key that says "0.8" most
            if isinstance(cluster_config, dict) and key in cluster_config:
                raise ValueError(f"cluster_config.{key} is the 0.8 spelling (cluster_config "
                                 f"now holds Spark properties): {SPARK_08_KUBERNETES[key]}")
        return raw

    @field_validator("type")
    @classmethod
    def _one_spelling(cls, value: str) -> str:
        return "kubernetes" if value == "k8s" else value

    @field_validator("cluster_name")
    @classmethod
    def _cluster_name(cls, value: str | None) -> str | None:
        if value is not None and not _DATAPROC_CLUSTER.match(value):
            raise ValueError("expected lowercase letters, digits and '-', starting with a "
                             f"letter, at most 34 characters, got {value!r}")
        return value

    @field_validator("operator_factory")
    @classmethod
    def _dotted_path(cls, value: str | None) -> str | None:
        if value is not None and not _FACTORY.match(value):
            raise ValueError(f"expected module.Class, got {value!r}")
        return value

    @model_validator(mode="after")
    def _keys_of_type(self) -> SparkConfig:
        for key in _SPARK_REQUIRED[self.type]:
            if not getattr(self, key):
                raise ValueError(f"type {self.type} needs {key}")
        if self.operator_factory and self.type != "custom":
            raise ValueError("operator_factory is used with type custom only")
        if self.type == "dataproc" and not str(self.artifacts_path).startswith("gs://"):
            raise ValueError(f"artifacts_path must be a gs:// folder for Dataproc, got "
                             f"{self.artifacts_path!r}")
        if self.type == "kubernetes":
            for key, value in self.cluster_config.items():
                if not key.startswith("spark.") or isinstance(value, (dict, list)):
                    raise ValueError(f"cluster_config.{key}: with type kubernetes, keys are "
                                     "Spark properties (spark.*) with plain values")
        return self


class MlflowConfig(_Model):
    tracking_uri: str = Field(min_length=1, description="MLflow tracking server URI.")
    experiment_name: str | None = Field(
        None, description="MLflow experiment; default: run_config.experiment_name."
    )


class LocalConfig(_Model):
    project_path: str | None = Field(
        None, description="Project directory on the Airflow worker (local execution); "
        "default: where compile ran."
    )
    python: str | None = Field(
        None, description="Python with the project installed, on the Airflow worker (local "
        "execution); default: the one compile ran with."
    )


class AssetsConfig(_Model):
    enabled: bool = Field(
        True, description="Declare the persisted datasets as Airflow Assets: an outlet of the "
        "task that writes one, an inlet of the tasks that read it (docs: Assets)."
    )
    include: list[str] = Field(
        default_factory=list, description="Dataset name patterns (fnmatch: *, ?, [...]) to "
        "declare; empty: every persisted dataset."
    )
    exclude: list[str] = Field(
        default_factory=list, description="Dataset name patterns never declared; they win "
        "over include."
    )
    layers: list[str] = Field(
        default_factory=list, description="Declare only datasets of these layers (catalog "
        "metadata: kedro-viz: layer); empty: any layer or none."
    )

    @field_validator("include", "exclude")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        from kedro_airflow_k8s.assets import pattern_problem

        return each_checked(value, pattern_problem)
