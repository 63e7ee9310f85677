"""The model of one generated DAG: plain data the compiler fills and the template prints."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any, Literal

TaskKind = Literal["node", "spark", "sensor", "volume-create", "volume-init", "volume-delete",
                   "result", "mlflow-start", "mlflow-end", "spark-create", "spark-delete"]
# A Jinja filter the DAG file defines: 16 hex characters unique to a DAG run, for the names of
# per-run resources (run ids hold ':' and '+', which Kubernetes and cloud names refuse).
RUN_HASH_FILTER = "kedro_run_hash"
RUN_HASH = "{{ run_id | %s }}" % RUN_HASH_FILTER
# A Jinja filter the DAG file defines: a macro or Variable value as `kedro run --params` takes
# it intact (Kedro splits the option at every ',' and reads each value as YAML).
PARAM_FILTER = "kedro_param"


def variable_expression(name: str) -> str:
    """The Jinja expression of an Airflow Variable's value. A missing one fails the task,
    naming it (`VARIABLE_NOT_FOUND: ... Variable <name> not found`); `var.value.get` would
    pass the string NOTSET on instead."""
    return f"var.value.{name}" if name.isidentifier() else "var.value[%r]" % name


def variable_value(name: str) -> str:
    """An Airflow Variable's value, rendered when the task runs."""
    return f"{{{{ {variable_expression(name)} }}}}"


@dataclass(frozen=True)
class Verbatim:
    """A string Airflow must not render as Jinja (it holds user text, e.g. a node name)."""

    text: str


@dataclass(frozen=True)
class ResourceSpec:
    """A resource profile as the pods use it (from `run_config.resources.<name>`)."""

    name: str
    requests: dict[str, str]
    limits: dict[str, str]
    node_selector: dict[str, str]
    tolerations: list[dict[str, Any]]


@dataclass(frozen=True)
class PodSpec:
    """What differs between the pods of one DAG; shared settings are in `PodDefaults`."""

    cmds: list[str]
    arguments: list[str | Verbatim]
    labels: dict[str, str]  # the pod's own; PodDefaults.labels are set on top of them
    annotations: dict[str, str | Verbatim]
    resources: str | None = None  # key into DagSpec.resources
    pod_template: str | None = None  # key into DagSpec.pod_templates
    image: str | None = None  # None: PodDefaults.image
    volume_mount_path: str | None = None  # None: PodDefaults.volume.mount_path
    env: dict[str, str] = field(default_factory=dict)  # on top of PodDefaults.env_vars
    field_env: dict[str, str] = field(default_factory=dict)  # name -> pod field (downward API)


@dataclass(frozen=True)
class SecretSpec:
    deploy_type: str
    deploy_target: str | None
    secret: str
    key: str | None


@dataclass(frozen=True)
class VolumeSpec:
    """The PersistentVolumeClaim shared by the pods of one DAG run."""

    claim_name: str  # Jinja: a prefix and the run's hash
    mount_path: str
    manifest: dict[str, Any]


@dataclass(frozen=True)
class PodDefaults:
    namespace: str
    image: str
    image_pull_policy: str
    startup_timeout_seconds: int
    service_account_name: str | None
    image_pull_secrets: list[str]
    secrets: list[SecretSpec]
    env_vars: dict[str, str]
    fs_group: int | None
    volume: VolumeSpec | None
    labels: dict[str, str] = field(default_factory=dict)  # on every pod; they win
    # A node pod's arguments: node_arguments, the node names, node_params.
    node_arguments: list[str] = field(default_factory=list)
    node_params: list[str] = field(default_factory=list)
    # How the tasks reach the cluster, by the operators' argument names; empty: the
    # provider's defaults. The volume tasks' operators take fewer arguments than pods.
    pod_connection: dict[str, Any] = field(default_factory=dict)
    volume_connection: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LocalDefaults:
    """Local execution: where the project and its Python are on the Airflow worker."""

    project_path: str
    python: str
    env_vars: dict[str, str]
    bash_command: str  # the same for every task; holds no Jinja, printed as a literal


@dataclass(frozen=True)
class LocalCommand:
    """A task run as a subprocess on the Airflow worker (local execution)."""

    env: dict[str, str | Verbatim]  # the node names and params `bash_command` reads
    bash_command: str | None = None  # None: LocalDefaults.bash_command


@dataclass(frozen=True)
class SensorSpec:
    external_dag_id: str
    external_task_id: str | None
    check_existence: bool
    execution_delta_minutes: int
    timeout_seconds: int


@dataclass(frozen=True)
class TaskSpec:
    task_id: str  # full Airflow id, group prefix included
    local_id: str  # id inside its TaskGroup
    group: str | None  # full id of the TaskGroup, None at top level
    kind: TaskKind
    node_names: list[str] = field(default_factory=list)
    pod: PodSpec | None = None
    local: LocalCommand | None = None
    sensor: SensorSpec | None = None
    operator: Any = None  # spark.OperatorCall: an operator printed from plain data
    trigger_rule: str | None = None
    doc: str | None = None


@dataclass(frozen=True)
class GroupSpec:
    group_id: str  # full id
    local_id: str
    parent: str | None
    namespace: str  # the Kedro namespace it stands for


@dataclass(frozen=True)
class SlackNotifierSpec:
    connection_id: str
    text: str  # Jinja, rendered by Airflow when the callback fires


@dataclass
class DagSpec:
    dag_id: str
    description: str | None
    schedule: str | None
    start_date: datetime.date
    tags: list[str]
    project: str
    pipeline: str
    env: str
    execution: str  # kubernetes | local
    mlflow: Any  # mlflow_run.MlflowSettings, or None when MLflow is off
    pod_defaults: PodDefaults
    local: LocalDefaults | None
    resources: dict[str, ResourceSpec]
    pod_templates: dict[str, dict[str, Any]]
    groups: list[GroupSpec]
    tasks: list[TaskSpec]
    upstream: dict[str, list[str]]  # task id -> ids of the tasks it waits for
    failure_notifiers: list[SlackNotifierSpec]
    version: str
    artifacts_version: str | None = None  # the folder of the Spark artifacts it names
    paused_upon_creation: bool | None = None  # None: Airflow's own default
    max_active_runs: int | None = None  # None: Airflow's default
    kedro_params: bool = False  # whether tasks pass macros or Variables to --params

    @property
    def filters(self) -> list[str]:
        """The Jinja filters the DAG file defines and registers."""
        return [name for name, used in ((RUN_HASH_FILTER, self.uses_run_hash),
                                        (PARAM_FILTER, self.kedro_params)) if used]

    @property
    def task_ids(self) -> list[str]:
        return [task.task_id for task in self.tasks]

    def task(self, task_id: str) -> TaskSpec:
        return next(task for task in self.tasks if task.task_id == task_id)

    def tasks_of(self, kind: TaskKind) -> list[TaskSpec]:
        return [task for task in self.tasks if task.kind == kind]

    @property
    def operator_imports(self) -> list[tuple[str, str]]:
        """(module, class) of the operators printed from `TaskSpec.operator`."""
        return sorted({(t.operator.module, t.operator.name) for t in self.tasks if t.operator})

    @property
    def uses_run_hash(self) -> bool:
        return self.pod_defaults.volume is not None or bool(self.operator_imports)

    @property
    def node_pods(self) -> bool:
        """Whether some task runs Kedro nodes in a pod (printed through node_pod())."""
        return any(t.pod and t.kind in ("node", "spark") for t in self.tasks)

    @property
    def field_env(self) -> bool:
        """Whether some pod reads fields of itself into its environment."""
        return any(t.pod and t.pod.field_env for t in self.tasks)
