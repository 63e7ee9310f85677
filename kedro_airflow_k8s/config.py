"""The typed model of `conf/<env>/airflow-k8s.yaml` and its validation.

Field descriptions are the documentation: `init` writes them into the commented
config file, and the docs page is generated from them.
"""

from __future__ import annotations

import datetime
import json
import re
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from kedro_airflow_k8s import kubernetes_rules
from kedro_airflow_k8s.errors import ConfigError

CONFIG_FILE = "airflow-k8s.yaml"

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


def _quantity(value: Any) -> str | None:
    if value is None:
        return None
    kubernetes_rules.parse_quantity(value)
    return str(value)


def _amount(value: Any) -> str:
    text = str(_quantity(value))
    if kubernetes_rules.parse_quantity(text) < 0:
        raise ValueError(f"must not be negative, got {text!r}")
    return text


def _resource_name(name: str) -> str:
    problems = kubernetes_rules.container_resource_name(name)
    if problems:
        raise ValueError(problems[0])
    return name


# Any resource name Kubernetes accepts for a container: cpu, memory, ephemeral-storage,
# hugepages-<size>, or domain-qualified (nvidia.com/gpu).
ResourceAmounts = dict[Annotated[str, AfterValidator(_resource_name)],
                       Annotated[str, BeforeValidator(_amount)]]


class Toleration(_Model):
    key: str | None = Field(
        None, description="Taint key the toleration matches; empty (with operator Exists) "
        "matches every taint."
    )
    operator: Literal["Exists", "Equal"] = Field(
        "Equal", description="Equal: the taint's value is `value`; Exists: any value."
    )
    value: str | None = Field(None, description="Taint value (with operator Equal).")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        None, description="Taint effect to tolerate; empty tolerates every effect."
    )
    toleration_seconds: int | None = Field(
        None, description="How long a NoExecute taint is tolerated (needs effect NoExecute)."
    )

    @model_validator(mode="after")
    def _kubernetes_accepts(self) -> Toleration:
        problems = kubernetes_rules.toleration(self.key, self.operator, self.value,
                                               self.effect, self.toleration_seconds)
        if problems:
            raise ValueError(problems[0])
        return self


def _label_problems(labels: dict[str, str], values: bool = True) -> list[str]:
    problems = []
    for key, value in labels.items():
        problems += [f"{key!r}: {p}" for p in kubernetes_rules.qualified_name(key)]
        if values:
            problems += [f"{key}: value {value!r} {p}"
                         for p in kubernetes_rules.label_value(value)]
    return problems


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
        default_factory=dict,
        description="Resources requested for the container, by Kubernetes resource name: "
        "cpu, memory, ephemeral-storage, hugepages-<size>, or a device like nvidia.com/gpu "
        "(Kubernetes quantities: 500m, 2, 1Gi).",
    )
    limits: ResourceAmounts = Field(
        default_factory=dict,
        description="Resource limits of the container, by resource name as in requests; "
        "each request must be at most its limit, and equal to it for devices (nvidia.com/gpu) "
        "and hugepages.",
    )

    @field_validator("node_selectors", "labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        problems = _label_problems(value)
        if problems:
            raise ValueError(problems[0])
        return value

    @field_validator("annotations")
    @classmethod
    def _annotation_keys(cls, value: dict[str, str]) -> dict[str, str]:
        problems = _label_problems(value, values=False)
        if problems:
            raise ValueError(problems[0])
        return value

    @model_validator(mode="after")
    def _kubernetes_accepts(self) -> ResourceProfile:
        problems = kubernetes_rules.resource_requirements(self.requests, self.limits)
        if problems:
            raise ValueError(problems[0])
        return self


_COMPACT_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_DURATION_UNITS = ("days", "hours", "minutes", "seconds")
_TIMEDELTA = TypeAdapter(datetime.timedelta)  # seconds, ISO 8601, [-][DD]D[,][HH:MM:]SS
# Airflow's pool table holds names of up to 256 characters (Pool.pool, the REST API's PoolBody).
POOL_NAME_LENGTH = 256


def _duration(value: Any) -> Any:
    """`1h30m`, `5m`, `2d` (compact form) before pydantic's own: seconds, ISO 8601 `PT5M`,
    `HH:MM:SS`."""
    problem = f"expected a duration (seconds, 30s, 5m, 1h30m, ISO 8601 PT5M), got {value!r}"
    if isinstance(value, bool):
        raise ValueError(problem)
    if isinstance(value, str):
        match = _COMPACT_DURATION.match(value.strip())
        if match and any(match.groups()):
            return datetime.timedelta(**{unit: int(amount) for unit, amount in
                                         zip(_DURATION_UNITS, match.groups()) if amount})
    try:
        return _TIMEDELTA.validate_python(value)
    except ValidationError:
        raise ValueError(problem) from None


def _positive_duration(value: datetime.timedelta) -> datetime.timedelta:
    if value <= datetime.timedelta(0):
        raise ValueError(f"must be a positive duration, got {value.total_seconds():g} seconds")
    return value


# A duration: seconds, `5m`, `1h30m`, `2d`, ISO 8601 (`PT1H30M`); printed as a timedelta.
Duration = Annotated[datetime.timedelta, BeforeValidator(_duration),
                     AfterValidator(_positive_duration)]


def _pool_name(name: str) -> str:
    if not name.strip():
        raise ValueError("a pool name must not be empty")
    if len(name) > POOL_NAME_LENGTH:
        raise ValueError(f"a pool name has at most {POOL_NAME_LENGTH} characters, got "
                         f"{len(name)}")
    return name


def _seconds(value: Any) -> Any:
    """A duration (as Duration) as the number of seconds the provider takes."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return _duration(value).total_seconds()


def _whole(value: float) -> int:
    if value != int(value):
        raise ValueError(f"must be whole seconds, got {value:g}")
    return int(value)


# Seconds of the KubernetesPodOperator: 90, 90s, 5m, 1h30m, PT5M.
WholeSeconds = Annotated[float, BeforeValidator(_seconds), AfterValidator(_whole)]
Seconds = Annotated[float, BeforeValidator(_seconds),
                    AfterValidator(lambda value: int(value) if value == int(value) else value)]
# The key -> the KubernetesPodOperator's argument (reattach_on_restart: `durable`, which
# supersedes it in the provider on Airflow 3.3).
POD_OPERATION = {"deferrable": "deferrable", "reattach_on_restart": "durable",
                 "on_finish_action": "on_finish_action",
                 "startup_timeout": "startup_timeout_seconds",
                 "schedule_timeout": "schedule_timeout_seconds",
                 "termination_grace_period": "termination_grace_period",
                 "active_deadline": "active_deadline_seconds",
                 "logging_interval": "logging_interval", "poll_interval": "poll_interval"}


class PodOperation(_Model):
    """How the KubernetesPodOperator runs a node pod; unset keys: the DAG's, else the
    provider's."""

    deferrable: bool | None = Field(
        None, description="Wait for the pod in Airflow's triggerer, not in a worker slot "
        "(needs a running triggerer); default: Airflow's [operators] default_deferrable."
    )
    reattach_on_restart: bool | None = Field(
        None, validation_alias=AliasChoices("reattach_on_restart", "durable"),
        description="A new try finds the pod of the try that lost its worker instead of "
        "starting another (the provider's durable; default true)."
    )
    on_finish_action: Literal["delete_pod", "delete_succeeded_pod", "delete_active_pod",
                              "keep_pod"] | None = Field(
        None, description="What becomes of a finished pod: delete_pod (default), "
        "delete_succeeded_pod (keeps failed pods to debug), delete_active_pod, keep_pod."
    )
    startup_timeout: WholeSeconds | None = Field(
        None, ge=1, validation_alias=AliasChoices("startup_timeout", "startup_timeout_seconds"),
        description="Longest a scheduled pod may take to start (as retry_delay, whole "
        "seconds); default: run_config.startup_time."
    )
    schedule_timeout: WholeSeconds | None = Field(
        None, ge=1,
        validation_alias=AliasChoices("schedule_timeout", "schedule_timeout_seconds"),
        description="Longest a pod may wait to be scheduled on a node; default: the startup "
        "timeout."
    )
    termination_grace_period: WholeSeconds | None = Field(
        None, ge=0, description="Seconds a stopped pod gets between SIGTERM and SIGKILL "
        "(the pod's terminationGracePeriodSeconds; Kubernetes' default 30)."
    )
    active_deadline: WholeSeconds | None = Field(
        None, ge=1, validation_alias=AliasChoices("active_deadline", "active_deadline_seconds"),
        description="Longest a pod may run before Kubernetes stops it (the pod's "
        "activeDeadlineSeconds)."
    )
    logging_interval: WholeSeconds | None = Field(
        None, ge=1, description="With deferrable: how often the task leaves the triggerer "
        "to fetch the pod's logs; default: logs once the pod is done."
    )
    poll_interval: Seconds | None = Field(
        None, gt=0, description="With deferrable: how often the triggerer checks the pod "
        "(seconds, provider default 2)."
    )

    @model_validator(mode="after")
    def _intervals_need_deferrable(self) -> PodOperation:
        check_deferrable_intervals(self.deferrable, self.logging_interval, self.poll_interval)
        return self

    def operator_arguments(self) -> dict[str, Any]:
        """The keys set, by the KubernetesPodOperator's argument names."""
        return {POD_OPERATION[key]: value for key, value in
                self.model_dump(include=set(POD_OPERATION), exclude_none=True).items()}


def check_deferrable_intervals(deferrable: bool | None, logging_interval: Any,
                               poll_interval: Any) -> None:
    """logging_interval and poll_interval act only in deferrable mode."""
    for key, value in (("logging_interval", logging_interval), ("poll_interval", poll_interval)):
        if deferrable is False and value is not None:
            raise ValueError(f"{key} acts only on deferrable pods, but deferrable is false")


class TaskSettings(PodOperation):
    """Airflow's own settings of a task (BaseOperator arguments) and how the
    KubernetesPodOperator runs its pod; unset keys: Airflow's."""

    retries: int | None = Field(None, ge=0, description="Retries before the task fails.")
    retry_delay: Duration | None = Field(
        None, description="Wait before a retry: seconds, 30s, 5m, 1h30m or ISO 8601 (PT5M)."
    )
    retry_exponential_backoff: float | None = Field(
        None, ge=0, description="Multiplier of the retry delay per retry (Airflow 3.3: 2 "
        "doubles it each time; 0 keeps it constant)."
    )
    max_retry_delay: Duration | None = Field(
        None, description="Longest wait between retries with exponential backoff."
    )
    execution_timeout: Duration | None = Field(
        None, description="Longest a try may run before Airflow fails it."
    )
    retry_on: Literal["infrastructure", "any"] | None = Field(
        None, description="Failures of a node pod that spend retries: infrastructure (the "
        "default) only a pod the cluster ended (evicted, OOMKilled, image pull, unscheduled), "
        "a node's own error fails at once; any: every failure."
    )
    pool: Annotated[str, AfterValidator(_pool_name)] | None = Field(
        None, description="Airflow pool the task takes slots of (created in Airflow)."
    )
    pool_slots: int | None = Field(None, ge=1, description="Slots of the pool it takes.")
    queue: str | None = Field(
        None, min_length=1, description="Executor queue (Celery queue) it runs on."
    )
    priority_weight: int | None = Field(
        None, ge=-(2**31), lt=2**31, description="Priority against other queued tasks."
    )
    weight_rule: Literal["downstream", "upstream", "absolute"] | None = Field(
        None, description="How the effective priority adds up: downstream, upstream or "
        "absolute."
    )

    def arguments(self) -> dict[str, Any]:
        """The keys set, as the operator takes them (durations still timedeltas); not the
        pod keys (operator_arguments), nor retry_on, which picks the operator class."""
        return self.model_dump(exclude_none=True, exclude=set(POD_OPERATION) | {"retry_on"})


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

    @field_validator("size", mode="before")
    @classmethod
    def _positive_size(cls, value: Any) -> str:
        """The API server refuses a claim whose storage request is not above zero
        (ValidatePersistentVolumeClaimSpec)."""
        text = _amount(value)
        if kubernetes_rules.parse_quantity(text) == 0:
            raise ValueError(f"must be above zero, got {text!r}")
        return text

    @field_validator("storageclass")
    @classmethod
    def _storage_class_name(cls, value: str | None) -> str | None:
        """A StorageClass is an object name: a DNS-1123 subdomain (ValidateClassName)."""
        problems = kubernetes_rules.dns1123_subdomain(value) if value is not None else []
        if problems:
            raise ValueError(f"{value!r}: {'; '.join(problems)}")
        return value

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


# The top-level fields of a Kubernetes Pod (kubernetes.client.V1Pod.attribute_map); the
# kubernetes package is not a dependency of the compile path.
POD_FIELDS = ("apiVersion", "kind", "metadata", "spec", "status")
# 0.8 templates were Python format strings: `{image}`, `{self._pvc_name}`,
# `{PodGenerator.make_unique_pod_id(...)}`. Jinja's `{{ }}` and `{% %}` and a shell's `${VAR}`
# are not that; neither is a YAML flow mapping (`{a: b}`).
_FORMAT_FIELD = re.compile(r"(?<![{$])\{\s*[A-Za-z_][\w.]*\s*(\(.*?\)\s*)?\}(?!\})")
_FORMAT_NAME = re.compile(r"^[A-Za-z_][\w.]*(\(.*\))?$")


def _format_placeholder(value: Any) -> str | None:
    """The first 0.8-style `{expression}` in a template; a bare `{image}` in YAML is a
    mapping of one key to null. A container's command and args are scripts: not looked at."""
    if isinstance(value, str):
        match = _FORMAT_FIELD.search(value)
        return match.group(0) if match else None
    if isinstance(value, dict):
        if len(value) == 1:
            (key, item), = value.items()
            if item is None and isinstance(key, str) and _FORMAT_NAME.match(key):
                return f"{{{key}}}"
        values = [item for key, item in value.items() if key not in ("command", "args")]
    elif isinstance(value, list):
        values = value
    else:
        return None
    for item in values:
        found = _format_placeholder(item)
        if found:
            return found
    return None


def _placeholder_08(placeholder: str) -> str:
    return (f"{placeholder} is a placeholder of 0.8 templates, which are no longer filled in: "
            "write the value, or leave the field out (the plugin sets the pod's name, image, "
            "namespace, data volume and MLflow run itself)")


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
                # 0.8's templates are seldom valid YAML: say what makes them 0.8's
                placeholder = _FORMAT_FIELD.search(value)
                if placeholder:
                    raise ValueError(_placeholder_08(placeholder.group(0))) from None
                raise ValueError(f"not valid YAML ({str(exc).splitlines()[0]})") from None
        placeholder = _format_placeholder(value)
        if placeholder:
            raise ValueError(_placeholder_08(placeholder))
        if not isinstance(value, dict):
            raise ValueError("expected a Pod manifest (a mapping)")
        for key in value:
            if key not in POD_FIELDS:
                fix = ("write `kind: Pod` (0.8 templates said `type: Pod`)" if key == "type"
                       else "move it under spec or metadata")
                raise ValueError(f"{key!r} is not a field of a Pod ({', '.join(POD_FIELDS)}): "
                                 f"{fix}")
        if value.get("kind", "Pod") != "Pod":
            raise ValueError(f"kind: expected Pod, got {value['kind']!r}")
        return value


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

        for pattern in value:
            problem = pattern_problem(pattern)
            if problem:
                raise ValueError(problem)
        return value


_CONN_ID = re.compile(r"[\w#!()\-.:/\\]{1,250}")  # airflow.models.connection.sanitize_conn_id


class KubernetesConnection(_Model):
    kubernetes_conn_id: str | None = Field(
        None, description="Airflow connection (type Kubernetes) of the cluster; empty: the "
        "provider's default, kubernetes_default."
    )
    in_cluster: bool | None = Field(
        None, description="true: the Airflow worker's own cluster (its service account); "
        "false: a kubeconfig; empty: the connection's setting. Pods only: the volume tasks "
        "take it from the connection."
    )
    config_file: str | None = Field(
        None, description="Path of a kubeconfig on the Airflow worker; empty: the "
        "connection's, else $KUBECONFIG or ~/.kube/config."
    )
    cluster_context: str | None = Field(
        None, description="Context of the kubeconfig to use; empty: its current context. Pods "
        "only: the volume tasks take it from the connection."
    )

    @field_validator("kubernetes_conn_id")
    @classmethod
    def _conn_id(cls, value: str | None) -> str | None:
        if value is not None and not _CONN_ID.fullmatch(value):
            raise ValueError("expected an Airflow connection id (at most 250 letters, digits "
                             f"and #!()-.:/\\_), got {value!r}")
        return value

    @field_validator("config_file", "cluster_context")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("expected a non-empty string, or no key")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> KubernetesConnection:
        if self.in_cluster and (self.config_file or self.cluster_context):
            raise ValueError("in_cluster: true ignores config_file and cluster_context; set "
                             "one or the other")
        return self

    def pod_arguments(self) -> dict[str, Any]:
        """What the KubernetesPodOperator takes: the keys set, by the operator's names."""
        return self.model_dump(exclude_none=True)

    def resource_arguments(self) -> dict[str, Any]:
        """What the resource operators (the volume tasks) take: no in_cluster or context."""
        return {k: v for k, v in self.pod_arguments().items()
                if k in ("kubernetes_conn_id", "config_file")}


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
        None, description="DAG id as shown in Airflow (-<pipeline> is appended for a pipeline "
        "other than __default__); default: the project's package name."
    )
    cron_expression: str = Field("@daily", description="Schedule used by `schedule`.")
    schedule_on: str | list[str | dict[str, Any]] | dict[str, Any] | None = Field(
        None, description="Schedule on data, used by `schedule` in place of cron_expression: "
        "the DAG runs when these datasets were updated (docs: Assets). A list (all of), "
        "{all: [...]} or {any: [...]}, nested at will; each item a dataset of this project's "
        "catalog, <package>:<dataset> of another Kedro project, or an asset URI."
    )
    schedule_on_or_cron: bool = Field(
        False, description="With schedule_on: also run on cron_expression, whichever comes "
        "first (Airflow's AssetOrTimeSchedule)."
    )
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
    params_form: bool = Field(
        True, description="Airflow Params of the Kedro parameters the pipeline reads (the "
        "trigger form); a run passes the changed ones to `kedro run --params`."
    )
    resources: dict[str, ResourceProfile] = Field(
        default_factory=dict,
        description="Pod profiles; a node tagged resources.<name> uses <name>, others "
        "__default__ (when set).",
    )
    task_settings: dict[str, TaskSettings] = Field(
        default_factory=dict,
        description="Airflow settings of node tasks (retries, timeouts, pool, queue, "
        "priority) and of their pods (deferrable, pod timeouts, on_finish_action); a node "
        "tagged task_settings.<name> uses <name>, others __default__ (when set). Keys a "
        "profile leaves unset come from task_defaults.",
    )
    task_defaults: TaskSettings = Field(
        default_factory=TaskSettings,
        description="The same settings for every task of the DAG, the plugin's own tasks too "
        "(the DAG's default_args; the pod settings: every pod's).",
    )
    owner: str | None = Field(
        None, min_length=1, description="Owner of every task, as Airflow lists it."
    )
    max_active_runs: int | None = Field(
        None, ge=1, description="Runs of the DAG at once; with @continuous it must be 1."
    )
    max_active_tasks: int | None = Field(
        None, ge=1, description="Tasks of one run at once."
    )
    catchup: bool = Field(
        False, description="Create the runs missed since start_date when the DAG is switched on."
    )
    dagrun_timeout: Duration | None = Field(
        None, description="Longest a run may take before Airflow fails it (as retry_delay)."
    )
    tags: list[str] = Field(
        default_factory=list, description="More DAG tags, after the plugin's own."
    )
    external_dependencies: list[ExternalDependency] = Field(
        default_factory=list, description="Other DAGs' runs to wait for before the first node."
    )
    authentication: AuthenticationConfig = Field(
        default_factory=AuthenticationConfig, description="Authentication of the MLflow API."
    )
    kubernetes_pod_templates: dict[str, PodTemplateConfig] = Field(
        default_factory=dict,
        description="Pod templates; a node tagged k8s_template.<name> uses <name>, others "
        "__default__ (when set). A resource profile's requests and limits are merged into "
        "the template container's per resource name, the profile's winning.",
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
    kubernetes_connection: KubernetesConnection = Field(
        default_factory=KubernetesConnection,
        description="How the tasks reach Kubernetes (node, volume, MLflow and Spark pods, the "
        "volume itself), as the cncf provider's operators take it; unset keys keep the "
        "provider's defaults.",
    )
    group_memory_nodes: bool = Field(
        True, description="Run nodes joined by MemoryDatasets in one task; false makes such "
        "a dataset a compile error."
    )
    assets: AssetsConfig = Field(
        default_factory=AssetsConfig, description="Kedro datasets as Airflow Assets (inlets "
        "and outlets of the tasks)."
    )
    grouping: Literal["node", "namespace", "pipeline"] = Field(
        "node", description="What shares a task besides MemoryDataset groups: node (a task "
        "per node), namespace (a task per top-level Kedro namespace; nodes without one keep "
        "their own) or pipeline (one task). A tag kedro-airflow-k8s.group.<name> joins the "
        "nodes carrying it in any case; Spark nodes keep their own tasks."
    )

    @model_validator(mode="after")
    def _volume_reaches_the_pods_cluster(self) -> RunConfig:
        connection = self.kubernetes_connection
        if self.execution == "kubernetes" and not self.volume.disabled and (
                connection.in_cluster is not None or connection.cluster_context):
            key = "in_cluster" if connection.in_cluster is not None else "cluster_context"
            raise ValueError(
                f"kubernetes_connection.{key}: the volume tasks cannot take it (the provider's "
                "resource operators read it from the connection): set it in the extras of "
                "the connection named by kubernetes_conn_id, or disable the volume")
        return self

    @model_validator(mode="after")
    def _one_dag_wide_startup_timeout(self) -> RunConfig:
        given = self.task_defaults.startup_timeout
        if (given is not None and "startup_time" in self.model_fields_set
                and given != self.startup_time):
            raise ValueError(
                f"task_defaults.startup_timeout ({given}) and startup_time "
                f"({self.startup_time}) both set the DAG's startup timeout: keep one")
        return self

    @model_validator(mode="after")
    def _intervals_on_deferrable_pods(self) -> RunConfig:
        defaults = self.task_defaults
        for name, profile in self.task_settings.items():
            deferrable = defaults.deferrable if profile.deferrable is None else profile.deferrable
            try:
                check_deferrable_intervals(deferrable, profile.logging_interval,
                                           profile.poll_interval)
            except ValueError as problem:
                raise ValueError(f"task_settings.{name}: {problem} (task_defaults)") from None
        return self

    def pod_operation(self) -> dict[str, Any]:
        """What every pod of the DAG takes, by the operator's argument names."""
        return {"startup_timeout_seconds": self.startup_time, "on_finish_action": "delete_pod",
                **self.task_defaults.operator_arguments()}

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if kubernetes_rules.dns1123_label(value):
            raise ValueError(f"expected a DNS-1123 label (a Kubernetes namespace), got {value!r}")
        return value

    @field_validator("cron_expression")
    @classmethod
    def _cron(cls, value: str) -> str:
        return validate_cron(value)

    @field_validator("schedule_on", mode="before")
    @classmethod
    def _schedule_on(cls, value: Any) -> Any:
        from kedro_airflow_k8s.asset_schedule import from_config

        from_config(value)
        return value

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

    @field_validator("tags")
    @classmethod
    def _dag_tags(cls, values: list[str]) -> list[str]:
        for tag in values:
            if not tag or len(tag) > 100:
                raise ValueError(f"a DAG tag has 1 to 100 characters (Airflow), got {tag!r}")
        return values

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

    @field_validator("macro_params")
    @classmethod
    def _airflow_3_names(cls, values: list[str]) -> list[str]:
        from kedro_airflow_k8s.airflow_context import unknown_name

        for name in values:
            problem = unknown_name(name)
            if problem:
                raise ValueError(problem)
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
    location = ".".join(str(part) for part in error["loc"] if part != "[key]")
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
