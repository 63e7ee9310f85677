"""Kedro pipeline + plugin config -> DagSpec. Knows nothing of Jinja or of the DAG file.

It compiles in phases, each a function that returns a value:

1. `plan_dag`: checks the pipeline, finds Spark nodes, groups nodes into tasks, claims every
   id (ids.assign_ids);
2. `shared_settings`: what the tasks share (pods, local execution, volume, MLflow
   environment, Spark target);
3. `node_tasks`: one record per node task (tasks.py builds each record);
4. `lifecycle`: the tasks around the nodes (volume, MLflow run, Spark cluster, result,
   sensors) and the upstream of every task;
5. `assemble`: the DagSpec.
"""

from __future__ import annotations

import datetime
import re
import shlex
import string
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from kedro_airflow_k8s import __version__
from kedro_airflow_k8s.config import PluginConfig, ResourceProfile, RunConfig
from kedro_airflow_k8s.dagspec import (
    PARAM_FILTER,
    RUN_HASH,
    Call,
    DagSpec,
    LocalDefaults,
    PodDefaults,
    SecretSpec,
    SensorSpec,
    SlackNotifierSpec,
    TaskSpec,
    Verbatim,
    VolumeSpec,
    check_value,
    variable_expression,
)
from kedro_airflow_k8s.errors import CompileError, ConfigError
from kedro_airflow_k8s.grouping import NodeGroup, group_nodes, memory_edges
from kedro_airflow_k8s.ids import (  # noqa: F401 - airflow_id, k8s_label: public here too
    RESERVED_IDS,
    Ids,
    airflow_id,
    assign_ids,
    check_ids,
    k8s_label,
)
from kedro_airflow_k8s.mlflow_run import END_TASK as MLFLOW_END
from kedro_airflow_k8s.mlflow_run import KEEP_OPEN_ENV, RUN_ID_TEMPLATE
from kedro_airflow_k8s.mlflow_run import START_TASK as MLFLOW_START
from kedro_airflow_k8s.mlflow_run import task_environment
from kedro_airflow_k8s.options import CompileOptions, Execution, ProjectSource
from kedro_airflow_k8s.profiles import (
    group_profile,
    group_template,
    resource_spec,
    with_template,
)
from kedro_airflow_k8s.spark import (
    DRIVER_FIELD_ENV,
    KubernetesSpark,
    SparkDag,
    SparkFactory,
    SparkJob,
    checked_call,
    is_spark_node,
    load_factory,
    spark_edges,
)
from kedro_airflow_k8s.tasks import (
    BASH,
    LABEL_PREFIX,
    POD,
    bash_arguments,
    factory_task,
    mlflow_end_task,
    mlflow_start_task,
    pod_arguments,
    result_task,
    sensor_task,
    top_level,
    volume_tasks,
)

if TYPE_CHECKING:
    from kedro_airflow_k8s.context import KedroProject

DEFAULT_START_DATE = datetime.date(2024, 1, 1)
_DAG_ID = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
_SLACK_FIELDS = {
    "task": "{{ ti.task_id }}",
    "dag": "{{ dag.dag_id }}",
    "execution_time": "{{ logical_date or dag_run.run_after }}",
    "url": "{{ ti.log_url }}",
}
Notify = Callable[[str], None]


def _quiet(line: str) -> None:
    """A `notify` that drops the notes."""


# -- phase 1: plan -----------------------------------------------------------------------


@dataclass(frozen=True)
class NodeTask:
    """One task that runs Kedro nodes: a node group and its ids."""

    nodes: list[Any]
    group: NodeGroup
    task_id: str
    local_id: str
    task_group: str | None
    on_spark: bool  # runs on the Spark target (when there is one)

    @property
    def names(self) -> list[str]:
        return [node.name for node in self.nodes]


@dataclass(frozen=True)
class Plan:
    pipeline: Any
    run: RunConfig
    source: ProjectSource
    options: CompileOptions
    dag_id: str
    execution: Execution
    node_tasks: list[NodeTask]
    ids: Ids
    params: str | None  # the --params value, None without macro or Variable params

    @property
    def env(self) -> str:
        return self.source.env

    @property
    def image(self) -> str:
        return self.options.image or self.run.image


def plan_dag(pipeline: Any, config: PluginConfig, source: ProjectSource,
             options: CompileOptions, notify: Notify = _quiet) -> Plan:
    """Check the pipeline, group its nodes into tasks and give every task its id."""
    run = config.run_config
    nodes = {node.name: node for node in pipeline.nodes}
    _check_node_names(list(nodes.values()))
    _check_inputs(pipeline, source.is_persisted)
    spark_nodes = {name for name, node in nodes.items()
                   if is_spark_node(node, source.dataset_type)} if run.spark else set()
    if run.spark and not spark_nodes:
        notify("Note: run_config.spark is set, but no node is a Spark node (tag "
               "kedro-airflow-k8s.group.pyspark, or a kedro_datasets.spark dataset).")
    node_groups = _node_groups(pipeline, run, source, options, spark_nodes)
    for group in node_groups:
        if len(group.nodes) > 1:
            notify(f"One task runs {', '.join(group.nodes)} ({'; '.join(_reasons(group))}).")
    members = {group.nodes[0]: [nodes[name] for name in group.nodes] for group in node_groups}
    ids = assign_ids(members, run, options.with_sensors)
    planned = [NodeTask(nodes=members[group.nodes[0]], group=group,
                        task_id=ids.task_id(group.nodes[0]), local_id=ids.local[group.nodes[0]],
                        task_group=ids.group_of[group.nodes[0]],
                        on_spark=not spark_nodes.isdisjoint(group.nodes))
               for group in node_groups]
    return Plan(pipeline=pipeline, run=run, source=source, options=options,
                dag_id=dag_id_for(config, source.package, source.pipeline_name,
                                  options.dag_id),
                execution=options.execution or run.execution, node_tasks=planned, ids=ids,
                params=_params_value(run))


def _node_groups(pipeline: Any, run: RunConfig, source: ProjectSource,
                 options: CompileOptions, spark_nodes: set[str]) -> list[NodeGroup]:
    memory = run.group_memory_nodes if options.group_memory is None else options.group_memory
    if not memory:
        _refuse_memory_edges(pipeline, source.is_persisted)
    joined = spark_edges(pipeline, spark_nodes) if run.group_spark_nodes else []
    return group_nodes(pipeline, source.is_persisted, memory=memory, joined=joined)


def _check_node_names(nodes: list[Any]) -> None:
    from kedro.framework.cli.utils import split_node_names

    for node in nodes:
        if split_node_names(None, None, node.name) != [node.name]:
            raise CompileError(
                f"node '{node.name}': `kedro run --nodes` cannot take this name (a comma "
                "outside brackets, or spaces at its ends); rename the node or its namespace"
            )


def _refuse_memory_edges(pipeline: Any, is_persisted: Callable[[str], bool]) -> None:
    in_memory = sorted({d for names in memory_edges(pipeline, is_persisted).values()
                        for d in names})
    if in_memory:
        raise CompileError(
            f"datasets {', '.join(in_memory)} pass between nodes that run in separate tasks "
            "but are not persisted (MemoryDatasets): add them to catalog.yml, or let "
            "run_config.group_memory_nodes run those nodes in one task"
        )


def _check_inputs(pipeline: Any, is_persisted: Callable[[str], bool]) -> None:
    missing = sorted(name for name in pipeline.inputs() if not is_persisted(name))
    if missing:
        raise CompileError(
            f"pipeline inputs {', '.join(missing)} are produced by no node and are not in "
            "the catalog"
        )


def _params_value(run: RunConfig) -> str | None:
    """The `--params` value: Airflow macros and Variables, rendered by Airflow at run time,
    each through the DAG's filter that keeps ',' '=' and the like intact for Kedro. A
    missing Variable fails the task, naming it."""
    pairs = [f"{name}={{{{ {name} | {PARAM_FILTER} }}}}" for name in run.macro_params]
    pairs += [f"{name}={{{{ {variable_expression(name)} | {PARAM_FILTER} }}}}"
              for name in run.variables_params]
    return ",".join(pairs) or None


def dag_id_for(config: PluginConfig, project: str, pipeline_name: str,
               override: str | None = None) -> str:
    """The DAG id: --dag-name, else run_config.run_name (else the package name), followed by
    `-<pipeline>` for a pipeline other than __default__ (one DAG per pipeline)."""
    dag_id = override or config.run_config.run_name or project
    if not override and pipeline_name != "__default__":
        dag_id = f"{dag_id}-{airflow_id(pipeline_name)}"
    if not _DAG_ID.match(dag_id):
        source = "--dag-name" if override else "run_config.run_name"
        raise CompileError(
            f"{source}: {dag_id!r} is not a valid Airflow DAG id "
            "(letters, digits, '_', '-', '.'; at most 200)"
        )
    return dag_id


def project_dag_id(project: KedroProject, dag_name: str | None = None) -> str:
    """The id a `context.KedroProject`'s pipeline compiles to, without compiling it."""
    return dag_id_for(project.config, project.package_name, project.pipeline_name, dag_name)


def _reasons(group: NodeGroup) -> list[str]:
    """Why the nodes of a group share one task, for notes and task docs."""
    reasons = []
    if group.memory_datasets:
        reasons.append(f"MemoryDatasets {', '.join(group.memory_datasets)}")
    if group.joined:
        reasons.append(f"connected Spark nodes {', '.join(group.joined)}")
    if group.widened:
        reasons.append(f"{', '.join(group.widened)} joined to keep the DAG acyclic")
    return reasons


# -- phase 2: what the tasks share ---------------------------------------------------------


@dataclass(frozen=True)
class SparkTarget:
    title: str  # how task docs name it
    runner: SparkFactory | KubernetesSpark


@dataclass(frozen=True)
class Shared:
    identity: dict[str, str]  # labels naming the project and the DAG, on every pod
    pods: PodDefaults | None  # None: local execution
    local: LocalDefaults | None  # None: Kubernetes execution
    node_arguments: list[Any]  # `kedro run` up to --nodes
    mlflow_env: dict[str, str]  # what every node task needs to log into the DAG run's run
    auth_env: dict[str, str]  # what the MLflow tasks need to reach the server
    spark: SparkTarget | None


def shared_settings(plan: Plan, notify: Notify = _quiet) -> Shared:
    run, source = plan.run, plan.source
    identity = {
        "app.kubernetes.io/managed-by": "kedro-airflow-k8s",
        f"{LABEL_PREFIX}project": k8s_label(source.package),
        f"{LABEL_PREFIX}dag": k8s_label(plan.dag_id),
    }
    local = _local_defaults(plan, notify) if plan.execution == "local" else None
    pods = _pod_defaults(plan, identity) if plan.execution == "kubernetes" else None
    # set up even without Spark nodes: a factory that cannot load fails now, not later
    spark = _spark_setup(plan, identity) if run.spark and pods else None
    mlflow = source.mlflow
    auth_env = task_environment(run.authentication) if mlflow else {}
    mlflow_env = {} if mlflow is None else {
        "MLFLOW_TRACKING_URI": mlflow.tracking_uri,
        "MLFLOW_RUN_ID": RUN_ID_TEMPLATE,
        **({KEEP_OPEN_ENV: "1"} if mlflow.kedro_mlflow else {}),
        **auth_env,
    }
    return Shared(identity=identity, pods=pods, local=local,
                  node_arguments=["run", "--env", plan.env, "--pipeline",
                                  source.pipeline_name, "--nodes"],
                  mlflow_env=mlflow_env, auth_env=auth_env, spark=spark)


def _local_defaults(plan: Plan, notify: Notify) -> LocalDefaults:
    notify("Note: local execution runs each task as a subprocess on the Airflow worker; "
           "the volume, pod templates, resources, secrets and Spark clusters are left out.")
    run = plan.run
    interpreter = run.local.python or plan.source.python or "python"
    command = shlex.join([interpreter, "-m", "kedro", "run", "--env", plan.env, "--pipeline",
                          plan.source.pipeline_name]) + ' --nodes "$KEDRO_NODES"'
    if plan.params:
        command += ' --params "$KEDRO_PARAMS"'
    return LocalDefaults(project_path=run.local.project_path or plan.source.path or ".",
                         python=interpreter, env_vars=dict(sorted(run.env_vars.items())),
                         bash_command=command)


def _pod_defaults(plan: Plan, identity: dict[str, str]) -> PodDefaults:
    run = plan.run
    volume = _volume(run, plan.dag_id, identity)
    return PodDefaults(
        namespace=run.namespace,
        image=plan.image,
        image_pull_policy=run.image_pull_policy,
        startup_timeout_seconds=run.startup_time,
        service_account_name=run.service_account_name,
        image_pull_secrets=list(run.image_pull_secrets),
        secrets=[SecretSpec(**s.model_dump()) for s in run.secrets],
        env_vars=dict(sorted(run.env_vars.items())),
        fs_group=run.volume.owner if volume else None,
        volume=volume,
        labels=identity,
        node_arguments=["run", "--env", plan.env, "--pipeline", plan.source.pipeline_name,
                        "--nodes"],
        node_params=["--params", plan.params] if plan.params else [],
        pod_connection=run.kubernetes_connection.pod_arguments(),
        volume_connection=run.kubernetes_connection.resource_arguments(),
    )


def _volume(run: RunConfig, dag_id: str, project_labels: dict[str, str]) -> VolumeSpec | None:
    if run.volume.disabled:
        return None
    prefix = f"{k8s_label(dag_id)[:40].rstrip('-')}-data-"
    spec: dict[str, Any] = {
        "accessModes": list(run.volume.access_modes),
        "resources": {"requests": {"storage": run.volume.size}},
    }
    if run.volume.storageclass is not None:
        spec["storageClassName"] = run.volume.storageclass
    manifest = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": prefix + RUN_HASH,
            "namespace": run.namespace,
            "labels": project_labels,
        },
        "spec": spec,
    }
    return VolumeSpec(claim_name=prefix + RUN_HASH, mount_path=run.volume.mount_path,
                      manifest=manifest)


def _spark_setup(plan: Plan, identity: dict[str, str]) -> SparkTarget:
    run, spark = plan.run, plan.run.spark
    assert spark is not None
    if spark.type == "kubernetes":
        return SparkTarget("Kubernetes", KubernetesSpark(
            namespace=run.namespace, image_pull_policy=run.image_pull_policy,
            image_pull_secrets=list(run.image_pull_secrets),
            service_account_name=run.service_account_name,
            properties=dict(spark.cluster_config)))
    labels = {"managed-by": "kedro-airflow-k8s",
              "kedro-project": k8s_label(plan.source.package),
              "kedro-dag": k8s_label(plan.dag_id)}
    dag = SparkDag(dag_id=plan.dag_id, project=plan.source.package, env=plan.env,
                   pipeline=plan.source.pipeline_name, image=plan.image, config=spark,
                   labels=labels, artifacts_version=plan.source.spark_artifacts_version)
    factory = load_factory(spark, dag)
    assert factory is not None
    return SparkTarget("Dataproc" if spark.type == "dataproc" else type(factory).__name__,
                       factory)


# -- phase 3: the node tasks ---------------------------------------------------------------


@dataclass(frozen=True)
class BuiltNode:
    task: TaskSpec
    profile: tuple[str, ResourceProfile] | None  # the resource profile its pod uses


def node_tasks(plan: Plan, shared: Shared) -> list[BuiltNode]:
    return [_node_task(item, plan, shared) for item in plan.node_tasks]


def _node_task(item: NodeTask, plan: Plan, shared: Shared) -> BuiltNode:
    names = item.names
    doc = (f"Kedro node `{names[0]}`" if len(names) == 1 else
           "Kedro nodes " + ", ".join(f"`{n}`" for n in names) +
           f" ({'; '.join(_reasons(item.group))})")
    spark = shared.spark if item.on_spark else None
    task = TaskSpec(task_id=item.task_id, local_id=item.local_id, group=item.task_group,
                    kind="spark" if spark else "node", operator=POD, node_names=names,
                    doc=f"Spark job ({spark.title}): {doc}" if spark else doc)
    kedro_args = [*shared.node_arguments, Verbatim(",".join(names)),
                  *(["--params", plan.params] if plan.params else [])]
    if shared.local:
        return BuiltNode(_local_node(task, shared.local, plan.params, shared.mlflow_env), None)
    if spark and isinstance(spark.runner, SparkFactory):
        assert shared.pods is not None
        job = SparkJob(task_id=task.task_id, node_names=tuple(names),
                       kedro_arguments=kedro_args[1:],
                       environment={**shared.pods.env_vars, **shared.mlflow_env})
        call = checked_call(spark.runner, "submit", job, printable=check_value)
        assert call is not None
        return BuiltNode(factory_task(task, call), None)
    return _pod_node(task, item, plan, shared, kedro_args)


def _local_node(task: TaskSpec, local: LocalDefaults, params: str | None,
                extra_env: dict[str, str]) -> TaskSpec:
    """Node names and params travel in the environment: no quoting, no Jinja on names."""
    env: dict[str, Any] = {**local.env_vars, **extra_env,
                           "KEDRO_NODES": Verbatim(",".join(task.node_names))}
    if params:
        env["KEDRO_PARAMS"] = params
    return replace(task, operator=BASH, arguments={**task.arguments,
                                                   **bash_arguments(local, env)})


def _pod_node(task: TaskSpec, item: NodeTask, plan: Plan, shared: Shared,
              kedro_args: list[Any]) -> BuiltNode:
    run, pods = plan.run, shared.pods
    assert pods is not None
    profile_name, profile = group_profile(item.nodes, run)
    template = group_template(item.nodes, run)
    if profile_name and template:
        profile_name, profile = with_template(
            profile_name, profile, template, run.kubernetes_pod_templates[template].template,
            task.task_id)
    labels = {**profile.labels, f"{LABEL_PREFIX}task": k8s_label(task.task_id)}
    image = run.kubernetes_pod_templates[template].image if template else None
    env = dict(shared.mlflow_env)
    if shared.spark and item.on_spark:
        assert isinstance(shared.spark.runner, KubernetesSpark)
        env["PYSPARK_SUBMIT_ARGS"] = shared.spark.runner.submit_args(
            image or pods.image, {**labels, **shared.identity}, _executor_volume(run, pods))
    # the command and the annotation naming the nodes are built by the file's pod_arguments()
    spread = pod_arguments(labels, image=image, extra_env=env,
                           field_env=DRIVER_FIELD_ENV if task.kind == "spark" else None,
                           nodes=kedro_args[len(shared.node_arguments)],
                           annotations=dict(profile.annotations), resources=profile_name,
                           pod_template=template)
    return BuiltNode(replace(task, spread=spread),
                     (profile_name, profile) if profile_name else None)


def _executor_volume(run: RunConfig, pods: PodDefaults) -> tuple[str, str] | None:
    """The shared volume for Spark executors too, when pods on many nodes can mount it."""
    volume = pods.volume
    if volume is None or "ReadWriteMany" not in run.volume.access_modes:
        return None
    return volume.claim_name, volume.mount_path


# -- phase 4: the lifecycle around the nodes, and every task's upstream --------------------


@dataclass(frozen=True)
class NodeGraph:
    upstream: dict[str, set[str]]  # node task id -> node task ids it waits for
    roots: list[str]  # node tasks that wait for no node task
    leaves: list[str]  # node tasks no node task waits for


def node_graph(plan: Plan) -> NodeGraph:
    node_task = {name: item.task_id for item in plan.node_tasks for name in item.names}
    upstream: dict[str, set[str]] = defaultdict(set)
    for child, parents in plan.pipeline.node_dependencies.items():
        for parent in parents:
            if node_task[parent.name] != node_task[child.name]:
                upstream[node_task[child.name]].add(node_task[parent.name])
    ids = sorted(set(node_task.values()))
    has_children = {p for parents in upstream.values() for p in parents}
    return NodeGraph(upstream=dict(upstream), roots=[t for t in ids if t not in upstream],
                     leaves=[t for t in ids if t not in has_children])


@dataclass
class Lifecycle:
    """The tasks around the node tasks, and who waits for whom."""

    tasks: list[TaskSpec]
    upstream: dict[str, set[str]]
    first: list[str]  # the tasks a DAG run starts with: the sensors gate them
    cleanup: list[str]  # tasks that run whatever happened: the result task checks the nodes

    def wait(self, task_id: str, *others: str) -> None:
        self.upstream.setdefault(task_id, set()).update(others)


def lifecycle(plan: Plan, shared: Shared, graph: NodeGraph,
              nodes: list[TaskSpec]) -> Lifecycle:
    """Volume, MLflow run, Spark cluster, result and sensors, in that order: each step
    reads only what the steps before it set (`first`, `cleanup`)."""
    life = Lifecycle(tasks=[], upstream={k: set(v) for k, v in graph.upstream.items()},
                     first=list(graph.roots), cleanup=[])
    start = _add_mlflow_start(life, plan, shared, graph)
    _add_volume(life, plan, shared, graph, mlflow=start is not None)
    if start is not None and not (shared.pods and shared.pods.volume):
        life.first = [start]
    _add_cluster(life, shared, nodes)
    if start is not None:
        _add_mlflow_end(life, plan, shared, graph)
    if life.cleanup:
        life.tasks.append(result_task())
        life.wait(RESERVED_IDS["result"], *(sorted(graph.leaves) or sorted(life.cleanup)))
    if plan.options.with_sensors:
        _add_sensors(life, plan)
    return life


def _add_mlflow_start(life: Lifecycle, plan: Plan, shared: Shared,
                      graph: NodeGraph) -> str | None:
    """The DAG run's MLflow run starts before every node (after the volume exists)."""
    if plan.source.mlflow is None:
        return None
    life.tasks.append(mlflow_start_task(plan.dag_id, plan.env, plan.image, shared.local,
                                        shared.auth_env))
    life.upstream.setdefault(MLFLOW_START, set())
    for root in graph.roots:
        life.wait(root, MLFLOW_START)
    return MLFLOW_START


def _add_volume(life: Lifecycle, plan: Plan, shared: Shared, graph: NodeGraph,
                mlflow: bool) -> None:
    """create -> init -> the first nodes; delete after the last ones, whatever happened.
    With MLflow, the start task waits for the volume to exist (its pod mounts it)."""
    volume = shared.pods.volume if shared.pods else None
    if volume is None:
        return
    assert shared.pods is not None
    run = plan.run
    life.tasks += volume_tasks(run.namespace, shared.pods.volume_connection,
                               volume.mount_path, run.volume.skip_init)
    create, delete = RESERVED_IDS["volume-create"], RESERVED_IDS["volume-delete"]
    ready = create if run.volume.skip_init else RESERVED_IDS["volume-init"]
    if ready != create:
        life.wait(ready, create)
    if mlflow:
        life.wait(MLFLOW_START, create)
    for root in graph.roots:
        if not (mlflow and ready == create):  # the MLflow start task waits for it already
            life.wait(root, ready)
    life.wait(delete, *(graph.leaves or [ready]))
    life.first = [create]
    life.cleanup.append(delete)


def _add_cluster(life: Lifecycle, shared: Shared, nodes: list[TaskSpec]) -> None:
    """A factory's cluster: created before the first Spark job, deleted after the last one
    whatever happened."""
    factory = shared.spark.runner if shared.spark else None
    jobs = sorted(t.task_id for t in nodes if t.kind == "spark")
    if not isinstance(factory, SparkFactory) or not jobs:
        return
    create = delete = None
    call = checked_call(factory, "create_cluster", printable=check_value)
    if call:
        create = RESERVED_IDS["spark-create"]
        life.tasks.append(factory_task(top_level(
            create, "spark-create", POD, "Creates the Spark cluster of this DAG run.", {}), call))
        for job in jobs:
            life.wait(job, create)
        life.first.append(create)
    call = checked_call(factory, "delete_cluster", printable=check_value)
    if call:
        delete = RESERVED_IDS["spark-delete"]
        life.tasks.append(factory_task(top_level(
            delete, "spark-delete", POD,
            "Deletes the Spark cluster, whatever happened to the jobs.",
            {"trigger_rule": "all_done"}), call))
        life.wait(delete, *jobs, *([create] if create else []))
        life.cleanup.append(delete)


def _add_mlflow_end(life: Lifecycle, plan: Plan, shared: Shared, graph: NodeGraph) -> None:
    """The MLflow run ends after the nodes and the cluster; the volume after it (its pod
    mounts the volume)."""
    life.tasks.append(mlflow_end_task(plan.env, shared.local, shared.auth_env))
    volume_delete = RESERVED_IDS["volume-delete"]
    life.wait(MLFLOW_END, *({*graph.leaves, *life.cleanup, MLFLOW_START} - {volume_delete}))
    if volume_delete in life.cleanup:
        life.wait(volume_delete, MLFLOW_END)
    life.cleanup.append(MLFLOW_END)


def _add_sensors(life: Lifecycle, plan: Plan) -> None:
    for index, dep in enumerate(plan.run.external_dependencies):
        task_id = plan.ids.sensors[str(index)]
        life.tasks.append(sensor_task(task_id, SensorSpec(
            dep.dag_id, dep.task_id, dep.check_existence, dep.execution_delta,
            dep.timeout * 60)))
        for task in life.first:
            life.wait(task, task_id)


# -- phase 5: assemble ---------------------------------------------------------------------


def assemble(plan: Plan, shared: Shared, built: list[BuiltNode], life: Lifecycle) -> DagSpec:
    run, mlflow = plan.run, plan.source.mlflow
    tasks = sorted((replace(t, upstream=tuple(sorted(life.upstream.get(t.task_id, ()))))
                    for t in [*(b.task for b in built), *life.tasks]),
                   key=lambda t: t.task_id)
    check_ids(tasks, plan.ids.groups.values())
    profiles = dict(b.profile for b in built if b.profile)
    pods = [shared.kwargs for t in tasks for shared in t.spread if isinstance(shared, Call)]
    templates = sorted({pod["pod_template"] for pod in pods if pod.get("pod_template")})
    return DagSpec(
        dag_id=plan.dag_id,
        description=run.description,
        schedule=plan.options.schedule,
        start_date=run.start_date or DEFAULT_START_DATE,
        tags=_tags(plan),
        project=plan.source.package,
        pipeline=plan.source.pipeline_name,
        env=plan.env,
        execution=plan.execution,
        mlflow=mlflow,
        pod_defaults=shared.pods,
        local=shared.local,
        resources={name: resource_spec(name, profiles[name]) for name in sorted(profiles)},
        pod_templates={name: run.kubernetes_pod_templates[name].template for name in templates},
        groups=sorted(plan.ids.groups.values(), key=lambda g: g.group_id),
        tasks=tasks,
        failure_notifiers=[SlackNotifierSpec(h.connection_id, _slack_text(h.message_template))
                           for h in run.failure_handlers],
        version=__version__,
        artifacts_version=plan.source.spark_artifacts_version,
        paused_upon_creation=plan.options.paused_upon_creation,
        # Airflow requires one active run at most for @continuous
        max_active_runs=1 if plan.options.schedule == "@continuous" else None,
        kedro_params=plan.params is not None,
        field_env=any("field_env" in pod for pod in pods),
        # a Spark factory's tasks may name per-run resources (its cluster)
        uses_run_hash=bool(shared.pods and shared.pods.volume) or (
            shared.spark is not None and isinstance(shared.spark.runner, SparkFactory)
            and any(t.kind == "spark" for t in tasks)),
    )


def _tags(plan: Plan) -> list[str]:
    mlflow = plan.source.mlflow
    experiment = (mlflow.experiment_name if mlflow else None) or plan.run.experiment_name or \
        plan.dag_id
    tags = [f"generated_with_kedro_airflow_k8s:{__version__}", f"experiment_name:{experiment}"]
    if plan.source.commit_sha:
        tags.append(f"commit_sha:{plan.source.commit_sha}")
    for tag in tags:
        if len(tag) > 100:
            raise CompileError(f"DAG tag {tag[:40]!r}... is longer than Airflow's 100 characters")
    return tags


def _slack_text(template: str) -> str:
    """Turn `{task}`-style placeholders into Airflow Jinja; other text stays literal."""
    parts = []
    for literal, field, _, _ in string.Formatter().parse(template):
        parts.append(literal.replace("{", "{{ '{' }}"))
        if field is not None:
            parts.append(_SLACK_FIELDS[field])
    return "".join(parts)


# -- the whole ---------------------------------------------------------------------------


def compile_dag(pipeline: Any, config: PluginConfig, source: ProjectSource,
                options: CompileOptions = CompileOptions(),
                notify: Notify = _quiet) -> DagSpec:
    """Build the model of the DAG that runs `pipeline`: one task per node or node group."""
    plan = plan_dag(pipeline, config, source, options, notify)
    shared = shared_settings(plan, notify)
    built = node_tasks(plan, shared)
    life = lifecycle(plan, shared, node_graph(plan), [b.task for b in built])
    return assemble(plan, shared, built, life)


def compile_project(project: KedroProject, options: CompileOptions = CompileOptions(),
                    notify: Notify = _quiet) -> DagSpec:
    """Compile a `context.KedroProject`: its pipeline, config, catalog, git commit and
    MLflow server."""
    import sys

    from kedro_airflow_k8s.mlflow_run import settings_for

    config = project.config
    spark = config.run_config.spark
    for key in ("user_init_path", "user_post_init_path"):
        relative = getattr(spark, key, None)
        if relative and not (project.path / relative).is_file():
            raise ConfigError(f"run_config.spark.{key}: no file {relative} in the project "
                              f"({project.path})")
    artifacts_version = None
    if spark is not None and spark.type == "dataproc":
        from kedro_airflow_k8s.spark_artifacts import artifacts_version as version_of

        artifacts_version = version_of(project)
    source = ProjectSource(
        package=project.package_name, env=project.run_env,
        pipeline_name=project.pipeline_name, is_persisted=project.is_persisted,
        dataset_type=project.dataset_type, commit_sha=project.commit_sha,
        path=str(project.path.resolve()), python=sys.executable,
        mlflow=settings_for(project, notify=notify),
        spark_artifacts_version=artifacts_version)
    return compile_dag(project.pipeline, config, source, options, notify)
