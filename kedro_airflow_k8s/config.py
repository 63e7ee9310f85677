"""The typed model of `conf/<env>/airflow-k8s.yaml` and its validation.

Field descriptions are the documentation: `init` writes them into the commented
config file, and the docs page is generated from them.
"""

from __future__ import annotations

import datetime
import json
import re
from decimal import Decimal
from typing import Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from kedro_airflow_k8s.errors import ConfigError

CONFIG_FILE = "airflow-k8s.yaml"

# Kubernetes resource.Quantity, as the API server parses it.
_QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE])?$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CRON_PRESETS = {"@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly",
                 "@quarterly", "@yearly", "@annually"}
DEFAULT_SLACK_MESSAGE = (
    ":red_circle: Task Failed.\n*Task*: {task}\n*Dag*: {dag}\n"
    "*Execution Time*: {execution_time}\n*Log Url*: {url}\n"
)
SLACK_PLACEHOLDERS = ("task", "dag", "execution_time", "url")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


_SUFFIXES = {suffix: Decimal(factor) for suffix, factor in {
    "": "1", "n": "1e-9", "u": "1e-6", "m": "1e-3", "k": "1e3", "M": "1e6", "G": "1e9",
    "T": "1e12", "P": "1e15", "E": "1e18", "Ki": 2**10, "Mi": 2**20, "Gi": 2**30,
    "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}.items()}


def quantity_value(text: str) -> Decimal:
    """The number a Kubernetes quantity stands for ("500m" -> 0.5, "1Gi" -> 1073741824)."""
    match = _QUANTITY.match(text)
    if match is None:
        raise ValueError(f"expected a Kubernetes quantity, got {text!r}")
    number, suffix = text[:match.start(3)] if match.group(3) else text, match.group(3) or ""
    if suffix[:1] in ("e", "E") and suffix not in _SUFFIXES:
        return Decimal(text)
    return Decimal(number) * _SUFFIXES[suffix]


def _quantity(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"expected a Kubernetes quantity, got {value!r}")
    text = str(value)
    if not _QUANTITY.match(text):
        raise ValueError(f"expected a Kubernetes quantity, got {text!r}")
    return text


class ResourceAmounts(_Model):
    cpu: str | None = Field(None, description='CPU amount, a Kubernetes quantity ("500m", "2").')
    memory: str | None = Field(None, description='Memory amount, a Kubernetes quantity ("1Gi").')

    _check = field_validator("cpu", "memory", mode="before")(lambda v: _quantity(v))


class Toleration(_Model):
    key: str | None = Field(None, description="Taint key the toleration matches.")
    operator: Literal["Exists", "Equal"] = Field("Equal", description="Exists or Equal.")
    value: str | None = Field(None, description="Taint value (with operator Equal).")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        None, description="Taint effect to tolerate; empty tolerates every effect."
    )
    toleration_seconds: int | None = Field(
        None, description="How long a NoExecute taint is tolerated."
    )


class ResourceProfile(_Model):
    node_selectors: dict[str, str] = Field(
        default_factory=dict, description="Node labels the pod must be scheduled on."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Labels put on the pod.")
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Annotations put on the pod."
    )
    tolerations: list[Toleration] = Field(
        default_factory=list, description="Kubernetes tolerations of the pod."
    )
    requests: ResourceAmounts = Field(
        default_factory=ResourceAmounts, description="Resources requested for the container."
    )
    limits: ResourceAmounts = Field(
        default_factory=ResourceAmounts, description="Resource limits of the container."
    )


class VolumeConfig(_Model):
    storageclass: str | None = Field(
        None, description="Storage class of the per-run volume; null means the cluster default."
    )
    size: str = Field("1Gi", description="Size of the per-run volume.")
    access_modes: list[Literal["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany",
                               "ReadWriteOncePod"]] = Field(
        default_factory=lambda: ["ReadWriteOnce"],
        description="Access modes of the volume; ReadWriteMany where the cluster supports it.",
    )
    skip_init: bool = Field(
        False, description="Skip the data-volume-init task that copies the image's data in."
    )
    owner: int = Field(0, ge=0, description="fsGroup of every pod (0: root group, works on GKE).")
    disabled: bool = Field(
        False, description="No shared volume at all; the other volume keys are then ignored."
    )
    mount_path: str = Field(
        "/home/kedro/data", description="Where the volume is mounted (the project's data/ dir)."
    )

    _check_size = field_validator("size", mode="before")(lambda v: _quantity(v))

    @field_validator("mount_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or value.rstrip("/") == "":
            raise ValueError(f"expected an absolute path other than /, got {value!r}")
        return value.rstrip("/")


class SecretConfig(_Model):
    deploy_type: Literal["env", "volume"] = Field(
        "env", description="env: environment variables; volume: files under deploy_target."
    )
    deploy_target: str | None = Field(
        None,
        description="Variable name (env) or mount path (volume); empty with env and no key "
        "exposes every key of the secret.",
    )
    secret: str = Field(description="Name of the Kubernetes Secret.")
    key: str | None = Field(None, description="One key of the Secret; empty means all keys.")

    @model_validator(mode="after")
    def _target_fits_type(self) -> SecretConfig:
        if self.deploy_type == "volume" and not self.deploy_target:
            raise ValueError("deploy_type volume needs deploy_target (the mount path)")
        if self.deploy_type == "env" and self.key and not self.deploy_target:
            raise ValueError("deploy_type env with a key needs deploy_target (the variable name)")
        if self.deploy_type == "env" and self.deploy_target and not self.key:
            raise ValueError("deploy_type env with deploy_target needs the key to expose")
        return self


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


class PodTemplateConfig(_Model):
    template: dict[str, Any] = Field(
        description="A Kubernetes Pod manifest (a YAML string or a mapping) the node pods start "
        "from; plugin settings win on conflict."
    )
    image: str | None = Field(None, description="Image for the nodes using this template.")

    @field_validator("template", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError as exc:
                raise ValueError(f"not valid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(value, dict):
            raise ValueError("expected a Pod manifest (a mapping)")
        return value


_DATAPROC_CLUSTER = re.compile(r"^[a-z]([-a-z0-9]{0,32}[a-z0-9])?$")
_FACTORY = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\.[A-Za-z_]\w*$")
_SPARK_REQUIRED = {
    "dataproc": ("project_id", "region", "cluster_name", "artifacts_path"),
    "kubernetes": (),
    "custom": ("operator_factory",),
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


class RunConfig(_Model):
    image: str = Field(min_length=1, description="Image the node pods run (the project's image).")
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        "IfNotPresent", description="Always when you push the same tag again; Never: local only."
    )
    startup_time: int = Field(
        600,
        gt=0,
        validation_alias=AliasChoices("startup_time", "startup_timeout"),
        description="Seconds a pod may take to start before the task fails.",
    )
    namespace: str = Field("default", description="Kubernetes namespace of the pods.")
    experiment_name: str | None = Field(
        None, description="Experiment name (MLflow, DAG tag); default: run_name."
    )
    run_name: str | None = Field(
        None, description="DAG id as shown in Airflow; default: the project's package name."
    )
    cron_expression: str = Field("@daily", description="Schedule used by `schedule`.")
    start_date: datetime.date | None = Field(
        None, description="First logical date, YYYYMMDD; default 2024-01-01 (no backfill)."
    )
    description: str | None = Field(None, description="DAG description.")
    image_pull_secrets: list[str] = Field(
        default_factory=list, description="Comma-separated names of image pull secrets."
    )
    service_account_name: str | None = Field(None, description="Service account of the pods.")
    failure_handlers: list[FailureHandler] = Field(
        default_factory=list, description="What runs when a task fails."
    )
    volume: VolumeConfig = Field(
        default_factory=VolumeConfig, description="Volume shared by the pods of one DAG run."
    )
    secrets: list[SecretConfig] = Field(
        default_factory=list, description="Kubernetes Secrets exposed to every node pod."
    )
    macro_params: list[str] = Field(
        default_factory=list, description="Airflow macros passed as Kedro params (e.g. ds)."
    )
    variables_params: list[str] = Field(
        default_factory=list, description="Airflow Variables passed as Kedro params."
    )
    resources: dict[str, ResourceProfile] = Field(
        default_factory=dict,
        description="Pod profiles; a node tagged resources:<name> uses <name>, others "
        "__default__.",
    )
    external_dependencies: list[ExternalDependency] = Field(
        default_factory=list, description="Other DAGs' runs to wait for before the first node."
    )
    authentication: AuthenticationConfig = Field(
        default_factory=AuthenticationConfig, description="Authentication of the MLflow API."
    )
    kubernetes_pod_templates: dict[str, PodTemplateConfig] = Field(
        default_factory=dict,
        description="Pod templates; a node tagged k8s_template:<name> uses <name>, others "
        "__default__.",
    )
    spark: SparkConfig | None = Field(
        None, description="Run Spark nodes (tagged kedro-airflow-k8s.group.pyspark or using "
        "kedro_datasets.spark datasets) as Spark jobs."
    )
    group_spark_nodes: bool = Field(
        True, description="With spark: connected Spark nodes run as one Spark job; false: "
        "one job per Spark node."
    )
    mlflow: MlflowConfig | None = Field(
        None, description="One MLflow run per DAG run; also switched on by kedro-mlflow's "
        "mlflow.yml."
    )
    env_vars: dict[str, str] = Field(
        default_factory=dict, description="Environment variables set in every node pod."
    )
    execution: Literal["kubernetes", "local"] = Field(
        "kubernetes", description="kubernetes: a pod per task; local: a subprocess on the "
        "Airflow worker (no cluster needed)."
    )
    local: LocalConfig = Field(
        default_factory=LocalConfig, description="Where local execution finds the project."
    )
    group_memory_nodes: bool = Field(
        True, description="Run nodes joined by MemoryDatasets in one task; false makes such "
        "a dataset a compile error."
    )

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if len(value) > 63 or not _DNS1123_LABEL.match(value):
            raise ValueError(f"expected a DNS-1123 label (a Kubernetes namespace), got {value!r}")
        return value

    @field_validator("cron_expression")
    @classmethod
    def _cron(cls, value: str) -> str:
        return validate_cron(value)

    @field_validator("start_date", mode="before")
    @classmethod
    def _yyyymmdd(cls, value: Any) -> Any:
        if value is None or isinstance(value, datetime.date):
            return value
        text = str(value)
        try:
            return datetime.datetime.strptime(text, "%Y%m%d").date()
        except ValueError:
            raise ValueError(f"expected a date as YYYYMMDD, got {text!r}") from None

    @field_validator("image_pull_secrets", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("macro_params", "variables_params")
    @classmethod
    def _param_names(cls, values: list[str]) -> list[str]:
        for name in values:
            if not _IDENTIFIER.match(name):
                raise ValueError(f"expected identifiers, got {name!r}")
        return values

    @field_validator("env_vars", mode="before")
    @classmethod
    def _env_values_as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}
        return value


class PluginConfig(_Model):
    host: str | None = Field(None, description="Airflow base URL, with http(s)://.")
    output: str | None = Field(
        None, description="Where Airflow reads DAG files: a local path, gs:// or s3://."
    )
    run_config: RunConfig = Field(description="How the pipeline runs.")


def validate_cron(value: str) -> str:
    """Return `value` when Airflow accepts it as a schedule, else raise ValueError."""
    from croniter import croniter

    if value in _CRON_PRESETS or croniter.is_valid(value):
        return value
    raise ValueError(f"expected a cron expression or a preset like @daily, got {value!r}")


def _describe(error: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{location}: unknown key"
    if kind == "missing":
        return f"{location}: required key is missing"
    message = error["msg"].removeprefix("Value error, ")
    if kind == "literal_error":
        message = f"{message}, got {error['input']!r}"
    return f"{location}: {message}" if location else message


def parse_config(raw: Any, source: str = CONFIG_FILE) -> PluginConfig:
    """Validate the merged config mapping; raise ConfigError naming the first bad key."""
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{source}: expected a mapping with run_config, got {raw!r:.60}")
    try:
        return PluginConfig.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(f"{source}: {_describe(errors[0])}{more}") from None
