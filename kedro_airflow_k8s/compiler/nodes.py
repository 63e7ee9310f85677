"""Phase 3 of compiling: one task record per node task (tasks.py builds the records)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from kedro_airflow_k8s.compiler.plan import NodeTask, Notify, Plan, quiet, reasons
from kedro_airflow_k8s.compiler.shared import Shared
from kedro_airflow_k8s.config import ResourceProfile, RunConfig, TaskSettings
from kedro_airflow_k8s.dagspec import (
    ASSETS,
    NODE_BASH,
    NODE_POD,
    WATCHED_GROUP,
    WATCHED_GROUP_POD,
    WATCHED_NODE,
    WATCHED_NODE_POD,
    Call,
    LocalDefaults,
    PodDefaults,
    Ref,
    TaskSpec,
    Verbatim,
    check_value,
)
from kedro_airflow_k8s.ids import k8s_label
from kedro_airflow_k8s.profiles import (
    check_tags,
    group_profile,
    group_settings,
    group_template,
    retries_infrastructure_only,
    settings_arguments,
    settings_name,
    settings_not_kept,
    with_template,
)
from kedro_airflow_k8s.spark import (
    DRIVER_FIELD_ENV,
    KubernetesSpark,
    SparkFactory,
    SparkJob,
    checked_call,
)
from kedro_airflow_k8s.tasks import (
    BASH,
    LABEL_PREFIX,
    POD,
    bash_arguments,
    factory_task,
    pod_arguments,
)
from kedro_airflow_k8s.watched import RUNNER

if TYPE_CHECKING:
    from kedro.pipeline import Node


# The arguments of a node task that come from its task_settings and its datasets
_SETTINGS_AND_ASSETS = frozenset(TaskSettings.model_fields) | {"inlets", "outlets"}


@dataclass(frozen=True)
class BuiltNode:
    task: TaskSpec
    profile: tuple[str, ResourceProfile] | None  # the resource profile its pod uses
    # the task_settings profile(s) its pod runs by, and the pod arguments they set
    operation: tuple[str, dict[str, Any]] | None = None


def node_tasks(plan: Plan, shared: Shared, notify: Notify = quiet) -> list[BuiltNode]:
    check_tags(list(plan.pipeline.nodes), plan.run)  # all unknown tags in one error
    return [built for item in plan.node_tasks for built in (
        _watched_tasks(item, plan, shared, notify) if item.watched else
        [_node_task(item, plan, shared, notify)])]


def _watched_tasks(item: NodeTask, plan: Plan, shared: Shared,
                   notify: Notify) -> list[BuiltNode]:
    """A watched group: the producer, one `kedro run` of all its nodes by
    watched.WatchedRunner, never retried (a node's task retries that node), and a task per
    node with the node's own settings and Assets, whose pod (or subprocess) runs the node
    again when the task is retried or cleared."""
    names = item.names
    plain = _node_task(item, plan, shared, notify, threads=False)  # the runner's own
    settings = group_settings(item.nodes, plan.run)
    deferrable = settings.deferrable if settings and settings.deferrable is not None \
        else plan.run.task_defaults.deferrable
    if deferrable and not shared.local:
        notify(f"Note: task {item.task_id} runs its watched group's pod deferrable: the "
               "provider reads a deferrable pod's log when the pod ends, so the tasks of its "
               "nodes take their ends together then, not one by one (deferrable: false in "
               "the task_settings of its nodes shows each as it ends).")
    spread = tuple(replace(call, kwargs={**call.kwargs, "extra_env": {
        **(call.kwargs.get("extra_env") or {}), "PYTHONUNBUFFERED": "1"}}) if isinstance(call, Call)
        else call for call in plain.task.spread)
    producer = replace(
        plain.task, kind="producer", spread=spread,
        operator=WATCHED_GROUP if shared.local else WATCHED_GROUP_POD,
        doc=f"Runs {plain.task.doc} in one `kedro run`; each node has a task of its own",
        arguments={**{key: value for key, value in plain.task.arguments.items()
                      if key not in ("inlets", "outlets")},
                   "retries": 0, "nodes": names, "runner": RUNNER,
                   **({"workers": plan.run.group_threads} if plan.run.group_threads > 1
                      else {})})
    built = [replace(plain, task=producer)]
    nodes = {node.name: node for node in item.nodes}
    for node in item.nodes:
        watched = item.watched[node.name]
        rerun = replace(item, nodes=[nodes[name] for name in watched.rerun], watched={},
                        task_id=watched.task_id, local_id=watched.local_id,
                        task_group=watched.task_group)
        again_built = _node_task(rerun, plan, shared, quiet)
        again = again_built.task
        own = group_settings([node], plan.run)
        task = replace(
            again, task_id=watched.task_id, local_id=watched.local_id,
            group=watched.task_group, node_names=[node.name],
            operator=WATCHED_NODE if shared.local else WATCHED_NODE_POD,
            doc=f"Kedro node `{node.name}`, run by task `{item.task_id}`",
            arguments={**(settings_arguments(own) if own else {}),
                       **asset_arguments([node], plan.assets, plan.run_scoped),
                       "producer": item.task_id, "node": node.name,
                       "infrastructure_only": retries_infrastructure_only(own, plan.run),
                       **{key: value for key, value in again.arguments.items()
                          if key not in _SETTINGS_AND_ASSETS}})
        built.append(replace(again_built, task=task))
    return built


def _node_task(item: NodeTask, plan: Plan, shared: Shared, notify: Notify,
               threads: bool = True) -> BuiltNode:
    names = item.names
    doc = (f"Kedro node `{names[0]}`" if len(names) == 1 else
           "Kedro nodes " + ", ".join(f"`{n}`" for n in names) +
           f" ({'; '.join(reasons(item.group))})")
    spark = shared.spark if item.on_spark else None
    settings = group_settings(item.nodes, plan.run)
    not_kept = settings_not_kept(item.nodes, plan.run, settings, pod=not shared.local)
    if not_kept:
        notify(f"Note: task {item.task_id} merges the task_settings of its nodes (the "
               "largest retries, delays and timeouts; an unset timeout is unlimited), which "
               f"changes {'; '.join(not_kept)}. Tag the nodes it runs alike to keep them.")
    task = TaskSpec(task_id=item.task_id, local_id=item.local_id, group=item.task_group,
                    kind="spark" if spark else "node", operator=POD, node_names=names,
                    arguments={**(settings_arguments(settings) if settings else {}),
                               **asset_arguments(item.nodes, plan.assets, plan.run_scoped)},
                    doc=f"Spark job ({spark.title}): {doc}" if spark else doc)
    # a Spark job's driver runs its nodes one after another (its executors are the parallelism)
    workers = plan.run.group_threads if threads and len(names) > 1 and not spark else 1
    kedro_args = [*shared.node_arguments, Verbatim(",".join(names)),
                  *(["--params", plan.params] if plan.params else [])]
    if shared.local:
        local = _local_node(task, shared.local, plan.params, shared.mlflow_env,
                            thread_runner(workers))
        if retries_infrastructure_only(settings, plan.run):
            local = replace(local, operator=NODE_BASH)
        return BuiltNode(local, None)
    if spark and isinstance(spark.runner, SparkFactory):
        assert shared.pods is not None
        job = SparkJob(task_id=task.task_id, node_names=tuple(names),
                       kedro_arguments=kedro_args[1:],
                       environment={**shared.pods.env_vars, **shared.mlflow_env})
        call = checked_call(spark.runner, "submit", job, printable=check_value)
        assert call is not None
        return BuiltNode(factory_task(task, call), None)
    # a Spark driver's pod cannot tell executors the cluster took from the node's error
    if retries_infrastructure_only(settings, plan.run) and not spark:
        task = replace(task, operator=NODE_POD)
    pod = settings.operator_arguments() if settings else {}
    name = settings_name(item.nodes, plan.run)  # a name wherever there are settings
    operation = (name, pod) if pod and name else None
    return _pod_node(task, item, plan, shared, kedro_args, operation, workers)


def asset_arguments(nodes: list[Node], assets: dict[str, str],
                    run_scoped: frozenset[str] = frozenset()) -> dict[str, Any]:
    """`inlets` (the declared datasets the task reads and does not write itself) and
    `outlets` (those it writes, but those gone after the run: `run_scoped`), each an item
    of the file's ASSETS, one per URI."""
    written = [name for node in nodes for name in node.outputs]
    read = [name for node in nodes for name in node.inputs if name not in written]
    arguments: dict[str, Any] = {}
    outlets = [name for name in written if name not in run_scoped]
    for key, names in (("inlets", read), ("outlets", outlets)):
        by_uri = {assets[name]: name for name in reversed(names) if name in assets}
        if by_uri:
            arguments[key] = [Ref(ASSETS, name) for name in sorted(by_uri.values())]
    return arguments


def thread_runner(threads: int) -> list[str]:
    """`kedro run` options of a task of several nodes run in `threads` threads
    (run_config.group_threads): none for one, Kedro's ThreadRunner for more."""
    return ["--runner", "ThreadRunner", "--runner-params", f"max_workers={threads}"] \
        if threads > 1 else []


def _local_node(task: TaskSpec, local: LocalDefaults, params: str | None,
                extra_env: dict[str, str], runner: list[str]) -> TaskSpec:
    env = _node_env(local, task.node_names, params, extra_env)
    command = f"{local.bash_command} {shlex.join(runner)}" if runner else None
    return replace(task, operator=BASH, arguments={**task.arguments,
                                                   **bash_arguments(local, env, command)})


def _node_env(local: LocalDefaults, names: list[str], params: str | None,
              extra_env: dict[str, str]) -> dict[str, Any]:
    """Node names and params travel in the environment: no quoting, no Jinja on names."""
    env: dict[str, Any] = {**local.env_vars, **extra_env, "KEDRO_NODES": Verbatim(",".join(names))}
    if params:
        env["KEDRO_PARAMS"] = params
    return env


def _pod_node(task: TaskSpec, item: NodeTask, plan: Plan, shared: Shared,
              kedro_args: list[Any], operation: tuple[str, dict[str, Any]] | None,
              workers: int) -> BuiltNode:
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
                           threads=workers if workers > 1 else None,
                           annotations=dict(profile.annotations), resources=profile_name,
                           pod_template=template,
                           operation=operation[0] if operation else None)
    return BuiltNode(replace(task, spread=spread),
                     (profile_name, profile) if profile_name else None, operation)


def _executor_volume(run: RunConfig, pods: PodDefaults) -> tuple[str, str] | None:
    """The shared volume for Spark executors too, when pods on many nodes can mount it."""
    volume = pods.volume
    if volume is None or "ReadWriteMany" not in run.volume.access_modes:
        return None
    return volume.claim_name, volume.mount_path
