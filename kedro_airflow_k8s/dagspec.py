"""The model of one generated DAG: plain data the compiler fills and the template prints."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any, Literal

from kedro_airflow_k8s.dag_runtime import filters
from kedro_airflow_k8s.options import Execution

TaskKind = Literal["node", "producer", "spark", "sensor", "volume-create", "volume-init",
                   "volume-delete", "result", "mlflow-start", "mlflow-end", "spark-create",
                   "spark-delete"]
# A Jinja filter the DAG file defines: 16 hex characters unique to a DAG run, for the names of
# per-run resources (run ids hold ':' and '+', which Kubernetes and cloud names refuse).
RUN_HASH_FILTER = filters.kedro_run_hash.__name__
RUN_HASH = f"{{{{ run_id | {RUN_HASH_FILTER} }}}}"
# A Jinja filter the DAG file defines: a macro or Variable value as `kedro run --params` takes
# it intact (Kedro splits the option at every ',' and reads each value as YAML).
PARAM_FILTER = filters.kedro_param.__name__
# A Jinja filter the DAG file defines: the run's Params that differ from the parameters files'
# values (KEDRO_PARAMETERS in the file), as `kedro run --params` pairs.
CHANGED_PARAMS_FILTER = filters.kedro_changed_params.__name__
# What CHANGED_PARAMS_FILTER writes each value with.
KEDRO_YAML = filters.kedro_yaml.__name__
# The names the DAG file defines once for many tasks, as the compiler refers to them (Ref, Call).
POD_ARGUMENTS = "pod_arguments"
ASSETS = "ASSETS"
KEDRO_PARAMETERS = "KEDRO_PARAMETERS"
KEDRO_RUN = "KEDRO_RUN"
VOLUME_CLAIM = "VOLUME_CLAIM"


def variable_expression(name: str) -> str:
    """The Jinja expression of an Airflow Variable's value. A missing one fails the task,
    naming it (`VARIABLE_NOT_FOUND: ... Variable <name> not found`); `var.value.get` would
    pass the string NOTSET on instead."""
    return f"var.value.{name}" if name.isidentifier() else f"var.value[{name!r}]"


def variable_value(name: str) -> str:
    """An Airflow Variable's value, rendered when the task runs."""
    return f"{{{{ {variable_expression(name)} }}}}"


@dataclass(frozen=True)
class Verbatim:
    """A string Airflow must not render as Jinja (it holds user text, e.g. a node name)."""

    text: str


@dataclass(frozen=True)
class Ref:
    """A name the DAG file defines once for many tasks (`RESOURCES`), or an item of it
    (`RESOURCES["huge"]`): printed as code, not as a value."""

    name: str
    key: str | None = None


@dataclass(frozen=True)
class Call:
    """A call of a function the DAG file binds (`pod_arguments(labels=...)`,
    `datetime.timedelta(minutes=5)`), printed as code; its arguments are values too."""

    function: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


def check_value(value: Any) -> None:
    """Raise TypeError unless `value` is one the DAG file can print: str, int, float, bool,
    None, a date, lists, tuples and dicts of them, Verbatim, Ref or Call."""
    py(value)


def py(value: Any, indent: int = 0) -> str:
    """Python source for a plain value; user text can never escape its string literal.
    The one dispatch on what a DAG file can print (check_value is this, its text unused)."""
    if isinstance(value, Verbatim):
        return f"literal({py(value.text)})"
    if isinstance(value, Ref):
        return value.name if value.key is None else f"{value.name}[{py(value.key)}]"
    if isinstance(value, Call):
        return _call(value, indent)
    if isinstance(value, (dict, list, tuple)):
        return _collection(value, indent)
    if isinstance(value, str) and _fits_triple_quotes(value):
        return f'"""{value}"""'
    if isinstance(value, (str, int, float, bool)) or value is None:
        return repr(value)
    if isinstance(value, datetime.date):
        return (f"datetime.datetime({value.year}, {value.month}, {value.day}, "
                "tzinfo=datetime.timezone.utc)")
    raise TypeError(f"cannot print {type(value).__name__} into a DAG file")


def _collection(value: dict[Any, Any] | list[Any] | tuple[Any, ...], indent: int) -> str:
    """A dict, list or tuple (as a list): inline when it fits, else an item a line."""
    brackets = "{}" if isinstance(value, dict) else "[]"
    if not value:
        return brackets

    def items(at: int) -> list[str]:
        if isinstance(value, dict):
            return [f"{py(k)}: {py(v, at)}" for k, v in value.items()]
        return [py(v, at) for v in value]

    inline = brackets[0] + ", ".join(items(indent)) + brackets[1]
    if len(inline) <= 88 - indent and "\n" not in inline:
        return inline
    pad = " " * (indent + 4)
    return (brackets[0] + "\n" + "\n".join(f"{pad}{item}," for item in items(indent + 4))
            + "\n" + " " * indent + brackets[1])


def _call(call: Call, indent: int) -> str:
    parts = [py(a, indent + 4) for a in call.args]
    parts += [f"{key}={py(item, indent + 4)}" for key, item in call.kwargs.items()]
    inline = f"{call.function}({', '.join(parts)})"
    if len(inline) <= 88 - indent and "\n" not in inline:
        return inline
    pad = " " * (indent + 4)
    return f"{call.function}(\n" + "".join(f"{pad}{part},\n" for part in parts) + \
        " " * indent + ")"


def _fits_triple_quotes(text: str) -> bool:
    """Multi-line text that reads the same inside triple quotes (no escapes needed)."""
    return ("\n" in text and text.isascii() and '"""' not in text and "\\" not in text
            and not text.endswith('"') and all(c.isprintable() or c == "\n" for c in text))


@dataclass(frozen=True)
class ResourceSpec:
    """A resource profile as the pods use it (from `run_config.resources.<name>`)."""

    name: str
    requests: dict[str, str]
    limits: dict[str, str]
    node_selector: dict[str, str]
    tolerations: list[dict[str, Any]]


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
    on_finish_action: str = "delete_pod"
    # The DAG-wide KubernetesPodOperator settings besides those two (task_defaults).
    operation: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LocalDefaults:
    """Local execution: where the project and its Python are on the Airflow worker."""

    project_path: str
    python: str
    env_vars: dict[str, str]
    bash_command: str  # the same for every task; holds no Jinja, printed as a literal


@dataclass(frozen=True)
class SensorSpec:
    external_dag_id: str
    external_task_id: str | None
    check_existence: bool
    execution_delta_minutes: int
    timeout_seconds: int


@dataclass(frozen=True)
class Operator:
    """An operator class of the DAG file: `from module import name`; module None: the file
    defines it (NODE_POD)."""

    module: str | None
    name: str


# The operator the DAG file defines for node pods whose retries are for infrastructure
# failures only (retry_on: infrastructure): a KubernetesPodOperator that fails the task
# without retrying when the node's own code failed.
NODE_POD = Operator(None, "NodePodOperator")
# The same for local execution: a BashOperator that fails the task without retrying when
# `kedro run` exited with an error of the node's code rather than being killed.
NODE_BASH = Operator(None, "NodeBashOperator")
# A watched group's producer: one `kedro run` of the group's nodes whose lines hand each
# node's end to that node's own task; on the worker (local execution) or in a pod.
WATCHED_GROUP = Operator(None, "WatchedGroupBashOperator")
WATCHED_GROUP_POD = Operator(None, "WatchedGroupPodOperator")
# A node of a watched group: takes its state from the producer, or runs the node itself when
# it is retried or cleared (as NODE_BASH or NODE_POD do).
WATCHED_NODE = Operator(None, "WatchedNodeBashOperator")
WATCHED_NODE_POD = Operator(None, "WatchedNodePodOperator")
_FAIL_AT_ONCE = (("airflow.sdk.exceptions", "AirflowException"),
                 ("airflow.sdk.exceptions", "AirflowFailException"))
_BASH = ("airflow.providers.standard.operators.bash", "BashOperator")
_POD = ("airflow.providers.cncf.kubernetes.operators.pod", "KubernetesPodOperator")
_BASE = ("airflow.sdk", "BaseOperator")
_CALLBACK = ("airflow.providers.cncf.kubernetes.callbacks", "KubernetesPodOperatorCallback")
# What each operator the file defines imports
DEFINED_OPERATORS = {
    NODE_POD: (_POD, *_FAIL_AT_ONCE),
    NODE_BASH: (_BASH, *_FAIL_AT_ONCE),
    WATCHED_GROUP: (_BASH, *_FAIL_AT_ONCE),
    WATCHED_NODE: (_BASH, _BASE, *_FAIL_AT_ONCE),
    WATCHED_GROUP_POD: (_POD, _CALLBACK, *_FAIL_AT_ONCE),
    WATCHED_NODE_POD: (_POD, _BASE, *_FAIL_AT_ONCE),
}
# The other pieces of dag_runtime.operators each of them builds on
_BUILDS_ON = {
    WATCHED_GROUP: ("NodeEvents",),
    WATCHED_NODE: (NODE_BASH.name, "NodeEvents", "WatchedNode"),
    WATCHED_GROUP_POD: (NODE_POD.name, "NodeEvents", "WatchedLines"),
    WATCHED_NODE_POD: (NODE_POD.name, "NodeEvents", "WatchedNode"),
}
# Every piece of dag_runtime.operators, in the order a file defines them (each after those it
# builds on: tests/test_watched.py checks it is the module's order)
RUNTIME_PIECES = (NODE_POD.name, NODE_BASH.name, "NodeEvents", WATCHED_GROUP.name,
                  "WatchedNode", WATCHED_NODE.name, "WatchedLines", WATCHED_GROUP_POD.name,
                  WATCHED_NODE_POD.name)


@dataclass(frozen=True)
class TaskSpec:
    """One task of the DAG: every task, whatever it runs, is printed from these fields.

    `arguments` are the operator's keyword arguments: plain values (Airflow renders the
    strings of its template fields as Jinja), `Verbatim` text it must not render, or
    `Ref`/`Call` to what the file defines once for many tasks; `spread` is such shared
    argument sets, passed as `**` before the task's own arguments.
    """

    task_id: str  # full Airflow id, group prefix included
    local_id: str  # id inside its TaskGroup
    group: str | None  # full id of the TaskGroup, None at top level
    kind: TaskKind  # what the task stands for (notes, tests); the file does not depend on it
    operator: Operator
    arguments: dict[str, Any] = field(default_factory=dict)
    spread: tuple[Any, ...] = ()
    upstream: tuple[str, ...] = ()  # full ids of the tasks it waits for, sorted
    doc: str | None = None
    node_names: list[str] = field(default_factory=list)

    @property
    def trigger_rule(self) -> str | None:
        return self.arguments.get("trigger_rule")


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


# The names the DAG file always imports from Airflow's SDK.
SDK_IMPORTS = (("airflow.sdk", "DAG"), ("airflow.sdk", "TaskGroup"), ("airflow.sdk", "literal"))
PARAM = ("airflow.sdk", "Param")
SECRET = ("airflow.providers.cncf.kubernetes.secret", "Secret")
ASSET = ("airflow.sdk", "Asset")
SLACK_NOTIFIER = ("airflow.providers.slack.notifications.slack_webhook", "SlackWebhookNotifier")
# What a schedule on data calls (asset_schedule.schedule_value), by the name it calls
SCHEDULE_CALLS = {
    "Asset": ASSET,
    "AssetAll": ("airflow.sdk", "AssetAll"),
    "AssetAny": ("airflow.sdk", "AssetAny"),
    "AssetOrTimeSchedule": ("airflow.timetables.assets", "AssetOrTimeSchedule"),
    "CronTriggerTimetable": ("airflow.timetables.trigger", "CronTriggerTimetable"),
}


@dataclass
class DagSpec:
    dag_id: str
    description: str | None
    schedule: Any  # a cron or preset; a schedule on data (asset_schedule); None: triggered
    start_date: datetime.date
    tags: list[str]
    project: str
    pipeline: str
    env: str
    execution: Execution
    mlflow: Any  # mlflow_run.MlflowSettings, or None when MLflow is off
    pod_defaults: PodDefaults | None  # None: no task runs in a pod
    local: LocalDefaults | None
    resources: dict[str, ResourceSpec]
    pod_templates: dict[str, dict[str, Any]]
    groups: list[GroupSpec]
    tasks: list[TaskSpec]
    failure_notifiers: list[SlackNotifierSpec]
    version: str
    artifacts_version: str | None = None  # the folder of the Spark artifacts it names
    project_version: str | None = None  # project_version of the code and conf it runs
    commit_sha: str | None = None  # the project's git commit, "-dirty" when files differ
    paused_upon_creation: bool | None = None  # None: Airflow's own default
    max_active_runs: int | None = None  # None: Airflow's default
    catchup: bool = False
    dag_arguments: dict[str, Any] = field(default_factory=dict)  # more of DAG(...)'s, if set
    default_args: dict[str, Any] = field(default_factory=dict)  # every task's, if set
    kedro_params: bool = False  # whether tasks pass macros or Variables to --params
    # the Airflow Variables its tasks read -> the config key that names each
    variables: dict[str, str] = field(default_factory=dict)
    # Kedro parameter (dotted name) -> (value in the parameters files, Param schema): the
    # DAG's Params, whose changed values tasks pass to --params
    trigger_params: dict[str, tuple[Any, dict[str, Any]]] = field(default_factory=dict)
    field_env: bool = False  # whether some pod reads fields of itself into its environment
    threads: bool = False  # whether some pod runs its nodes in threads (group_threads)
    uses_run_hash: bool = False  # whether some argument names per-run resources (RUN_HASH)
    # task_settings profile(s) -> the pod arguments they set over the DAG's (operation=)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    assets: dict[str, str] = field(default_factory=dict)  # dataset -> URI, the file's ASSETS
    # schedule on data: reference (as schedule_on / --on-assets write it) -> Asset URI
    schedule_assets: dict[str, str] = field(default_factory=dict)

    @property
    def upstream(self) -> dict[str, list[str]]:
        """Task id -> ids of the tasks it waits for (tasks that wait for none left out)."""
        return {t.task_id: list(t.upstream) for t in self.tasks if t.upstream}

    @property
    def source_line(self) -> str | None:
        """The DAG's doc line naming the project's version and commit, when known."""
        parts = []
        if self.project_version:
            parts.append(f"Project version `{self.project_version}` (a hash of its code and "
                         "configuration)")
        if self.commit_sha:
            parts.append(f"git commit `{self.commit_sha}`")
        if not parts:
            return None
        line = ",\n".join(parts) + "."  # one line each: the file stays within 100 columns
        return line[0].upper() + line[1:]

    @property
    def filters(self) -> list[str]:
        """The Jinja filters the DAG file defines and registers."""
        return [name for name, used in ((RUN_HASH_FILTER, self.uses_run_hash),
                                        (PARAM_FILTER, self.kedro_params),
                                        (CHANGED_PARAMS_FILTER, bool(self.trigger_params)))
                if used]

    @property
    def parameter_defaults(self) -> dict[str, Any]:
        """Kedro parameter -> its value in the parameters files (the Params' defaults)."""
        return {name: default for name, (default, _) in self.trigger_params.items()}

    @property
    def filter_functions(self) -> dict[str, Ref]:
        """user_defined_filters: each filter by name, the file's function of that name."""
        return {name: Ref(name) for name in self.filters}

    @property
    def node_pod_operator(self) -> bool:
        """Whether the file defines NODE_POD (some node task uses it)."""
        return NODE_POD in self.defined_operators

    @property
    def node_bash_operator(self) -> bool:
        """Whether the file defines NODE_BASH (some local node task uses it)."""
        return NODE_BASH in self.defined_operators

    @property
    def runtime_pieces(self) -> list[str]:
        """The pieces of dag_runtime.operators the file defines (its tasks' operators and
        what they build on), in order, but NODE_POD and NODE_BASH (the template's own)."""
        used = {t.operator.name for t in self.tasks if t.operator.module is None}
        used |= {piece for op, pieces in _BUILDS_ON.items() if op.name in used
                 for piece in pieces}
        return [piece for piece in RUNTIME_PIECES if piece in used]

    @property
    def defined_operators(self) -> list[Operator]:
        """The operators of DEFINED_OPERATORS the file defines."""
        return [op for op in DEFINED_OPERATORS if op.name in self.runtime_pieces]

    @property
    def task_ids(self) -> list[str]:
        return [task.task_id for task in self.tasks]

    def task(self, task_id: str) -> TaskSpec:
        return next(task for task in self.tasks if task.task_id == task_id)

    def tasks_of(self, kind: TaskKind) -> list[TaskSpec]:
        return [task for task in self.tasks if task.kind == kind]

    @property
    def imports(self) -> list[tuple[str, str]]:
        """(module, name) of every class the file imports: the tasks' operators, and what the
        DAG's own arguments and the pods' shared settings print."""
        found = {(t.operator.module, t.operator.name) for t in self.tasks
                 if t.operator.module is not None}
        found.update(SDK_IMPORTS)
        for defined in self.defined_operators:
            found.update(DEFINED_OPERATORS[defined])
        if self.pod_defaults and self.pod_defaults.secrets:
            found.add(SECRET)
        if self.failure_notifiers:
            found.add(SLACK_NOTIFIER)
        if self.assets:
            found.add(ASSET)
        if self.trigger_params:
            found.add(PARAM)
        found.update(SCHEDULE_CALLS[name] for name in _calls(self.schedule))
        return sorted(found)


def _calls(value: Any) -> set[str]:
    """The names a value printed as code calls."""
    if isinstance(value, Call):
        return {value.function}.union(*map(_calls, (*value.args, *value.kwargs.values())))
    if isinstance(value, (list, tuple)):
        return set().union(*map(_calls, value))
    return set()
