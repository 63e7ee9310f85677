"""The whole file: run_config, the plugin config, and parsing it into one ConfigError."""

from __future__ import annotations

import datetime
import json
from typing import Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from kedro_airflow_k8s import kubernetes_rules
from kedro_airflow_k8s.config.base import (
    _IDENTIFIER,
    CONFIG_FILE,
    Duration,
    ImageReference,
    _Model,
    airflow_url_problem,
    each_checked,
    validate_cron,
)
from kedro_airflow_k8s.config.integrations import (
    AssetsConfig,
    AuthenticationConfig,
    ExternalDependency,
    FailureHandler,
    LocalConfig,
    MlflowConfig,
    SparkConfig,
)
from kedro_airflow_k8s.config.pods import (
    KubernetesConnection,
    PodTemplateConfig,
    ResourceProfile,
    SecretConfig,
    VolumeConfig,
)
from kedro_airflow_k8s.config.tasks import TaskSettings, check_deferrable_intervals
from kedro_airflow_k8s.errors import ConfigError


class RunConfig(_Model):
    image: ImageReference = Field(
        min_length=1, description="Image the node pods run (the project's image): "
        "[registry[:port]/]path[:tag][@digest]."
    )
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
    grouping_mode: Literal["plain", "watched"] = Field(
        "plain", description="How a task that runs several nodes shows them: plain (one "
        "task) or watched (one task runs them all in one `kedro run`, and every node is an "
        "Airflow task of its own with its state, log lines, Assets and retries). A tag "
        "kedro-airflow-k8s.watched on a node makes its group watched."
    )
    group_threads: int = Field(
        1, ge=1, le=256, description="Threads a task of several nodes runs them in: 1 runs "
        "them one after another (Kedro's SequentialRunner); more runs the nodes whose inputs "
        "are ready side by side (Kedro's ThreadRunner; a watched group's runner likewise, "
        "each node's own lines still its task's); a Spark job's nodes run one after another. "
        "The nodes must be safe to run in threads."
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

        return each_checked(values, unknown_name)

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

    @field_validator("host")
    @classmethod
    def _airflow_url(cls, value: str | None) -> str | None:
        # a ${...} left unresolved (a config read raw, as the docs' examples) is no URL yet
        unresolved = value is None or "${" in value
        problem = None if value is None or unresolved else airflow_url_problem(value)
        if problem:
            raise ValueError(problem)
        return value


def _describe(error: ErrorDetails) -> str:
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
