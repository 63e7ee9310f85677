"""Phase 1 of compiling: check the pipeline, find Spark nodes, group nodes into tasks and
claim every id (ids.assign_ids)."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kedro_airflow_k8s.airflow_context import macro_expression
from kedro_airflow_k8s.asset_schedule import reference_uri
from kedro_airflow_k8s.assets import declared, run_scoped
from kedro_airflow_k8s.config import PluginConfig, RunConfig, image_problem, placeholder_image
from kedro_airflow_k8s.dagspec import CHANGED_PARAMS_FILTER, PARAM_FILTER, variable_expression
from kedro_airflow_k8s.errors import CompileError, ConfigError
from kedro_airflow_k8s.grouping import (
    WATCHED_TAG,
    NodeGroup,
    chosen_groups,
    group_nodes,
    memory_edges,
)
from kedro_airflow_k8s.ids import Ids, airflow_id, assign_ids
from kedro_airflow_k8s.options import CompileOptions, Execution, ProjectSource
from kedro_airflow_k8s.params import TriggerParam, trigger_params
from kedro_airflow_k8s.spark import is_spark_node, spark_edges

if TYPE_CHECKING:
    from kedro.pipeline import Node, Pipeline

    from kedro_airflow_k8s.context import KedroProject

_DAG_ID = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
_GROUP_LINES = 20  # compile's notes on shared tasks stop here; each task's doc says the rest
_LISTED = 6  # node and dataset names a note lists before "and N more"
Notify = Callable[[str], None]


def quiet(line: str) -> None:
    """A `notify` that drops the notes."""


@dataclass(frozen=True)
class WatchedNode:
    """A node of a watched group: its own Airflow task beside the group's producer task."""

    task_id: str
    local_id: str
    task_group: str | None
    rerun: tuple[str, ...]  # what `kedro run --nodes` its task runs when it runs the node


@dataclass(frozen=True)
class NodeTask:
    """One task that runs Kedro nodes: a node group and its ids."""

    nodes: list[Node]
    group: NodeGroup
    task_id: str
    local_id: str
    task_group: str | None
    on_spark: bool  # runs on the Spark target (when there is one)
    # a watched group: node -> its own task (full id, local id, TaskGroup) and the nodes a
    # re-run of it runs (it and those it shares MemoryDatasets with); empty: a plain task
    watched: dict[str, WatchedNode] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [node.name for node in self.nodes]


@dataclass(frozen=True)
class Plan:
    pipeline: Pipeline
    run: RunConfig
    source: ProjectSource
    options: CompileOptions
    dag_id: str
    execution: Execution
    node_tasks: list[NodeTask]
    ids: Ids
    params: str | None  # the --params value, None without macros, Variables or Params
    trigger_params: list[TriggerParam]  # the DAG's Params: Kedro parameters nodes read
    assets: dict[str, str]  # dataset -> Asset URI (assets.declared)
    # declared datasets gone once the run ends (assets.run_scoped): no task's outlets
    run_scoped: frozenset[str]
    schedule_assets: dict[str, str]  # schedule_on's reference -> Asset URI

    @property
    def env(self) -> str:
        return self.source.env

    @property
    def image(self) -> str:
        return self.options.image or self.run.image


def plan_dag(pipeline: Pipeline, config: PluginConfig, source: ProjectSource,
             options: CompileOptions, notify: Notify = quiet) -> Plan:
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
    _note_groups(node_groups, notify)
    form = trigger_params(pipeline, source.parameters or {},
                          [*run.macro_params, *run.variables_params],
                          notify) if run.params_form else []
    execution = options.execution or run.execution
    watched = _watched_groups(node_groups, nodes, run, spark_nodes)
    members = {_key(group, watched): [nodes[name] for name in group.nodes]
               for group in node_groups}
    members.update({name: [nodes[name]] for group in watched for name in group.nodes})
    ids = assign_ids(members, run, options.with_sensors,
                     producers={_key(group, watched) for group in watched})
    reruns = _reruns(pipeline, source.is_persisted, watched)
    planned = [NodeTask(nodes=members[_key(group, watched)], group=group,
                        task_id=ids.task_id(_key(group, watched)),
                        local_id=ids.local[_key(group, watched)],
                        task_group=ids.group_of[_key(group, watched)],
                        on_spark=not spark_nodes.isdisjoint(group.nodes),
                        watched={name: WatchedNode(ids.task_id(name), ids.local[name],
                                                   ids.group_of[name], reruns[name])
                                 for name in group.nodes} if group in watched else {})
               for group in node_groups]
    _check_image(run, source, options, execution, notify)
    per_run = _per_run_root(run, execution)
    assets = declared(sorted(pipeline.datasets()), run.assets, source.package,
                      source.is_persisted, source.dataset_location, source.dataset_layer,
                      notify, per_run)
    scoped = frozenset(name for name in assets if run_scoped(
        source.dataset_location(name), per_run, execution == "kubernetes"))
    _note_run_scoped(scoped, notify)
    return Plan(pipeline=pipeline, run=run, source=source, options=options,
                dag_id=dag_id_for(config, source.package, source.pipeline_name,
                                  options.dag_id),
                execution=execution, node_tasks=planned, ids=ids,
                params=_params_value(run, bool(form)), trigger_params=form,
                assets=assets, run_scoped=scoped,
                schedule_assets=_schedule_assets(source, options, per_run,
                                                 execution == "kubernetes"))


def _key(group: NodeGroup, watched: Collection[NodeGroup]) -> str:
    """The id key of a group's task: its first node's name, or, for a watched group's
    producer, a name no node can have (node names hold no spaces)."""
    return f"run {group.nodes[0]}" if group in watched else group.nodes[0]


def _watched_groups(groups: list[NodeGroup], nodes: dict[str, Node], run: RunConfig,
                    spark_nodes: set[str]) -> list[NodeGroup]:
    """The groups of several nodes run_config.grouping_mode or a WATCHED_TAG makes watched
    (never a Spark job: its driver runs the nodes as one job)."""
    watched = [group for group in groups if len(group.nodes) > 1 and spark_nodes.isdisjoint(
        group.nodes) and (run.grouping_mode == "watched" or any(
            WATCHED_TAG in nodes[name].tags for name in group.nodes))]
    return watched


def _reruns(pipeline: Pipeline, is_persisted: Callable[[str], bool],
            watched: list[NodeGroup]) -> dict[str, tuple[str, ...]]:
    """Node of a watched group -> the nodes a re-run of it runs: it and the nodes of its
    group it shares MemoryDatasets with, directly or through others (one `kedro run`)."""
    if not watched:
        return {}
    edges = memory_edges(pipeline, is_persisted)
    result = {}
    for group in watched:
        component = {name: {name} for name in group.nodes}
        for producer, consumer in edges:
            if producer in component and consumer in component and \
                    component[producer] is not component[consumer]:
                joined = component[producer] | component[consumer]
                for name in joined:
                    component[name] = joined
        result.update({name: tuple(n for n in group.nodes if n in component[name])
                       for name in group.nodes})
    return result


def _check_image(run: RunConfig, source: ProjectSource, options: CompileOptions,
                 execution: Execution, notify: Notify) -> None:
    """--image must be a reference the kubelet can pull (run_config.image is checked when the
    config is read); a note while run_config.image is still the placeholder init wrote."""
    if options.image is not None:
        problem = image_problem(options.image)
        if problem:
            raise ConfigError(f"--image: {problem}")
    elif execution == "kubernetes" and run.image == placeholder_image(source.package):
        notify(f"Note: run_config.image is still {run.image!r}, the placeholder `init` "
               "wrote: build and push the project's image, then set run_config.image to it "
               "or pass --image.")


def _note_run_scoped(names: frozenset[str], notify: Notify) -> None:
    if names:
        notify(f"Note: {_listed(tuple(sorted(names)))} live in the pods (the per-run volume "
               "or the pod's own disk), gone after each run: assets read as inlets, no "
               "task's outlets, so Airflow records no update of them.")


def _schedule_assets(source: ProjectSource, options: CompileOptions, per_run: str | None,
                     in_pods: bool) -> dict[str, str]:
    """The Asset URI of every reference of the schedule on data."""
    if options.schedule_on is None:
        return {}
    return {reference: reference_uri(reference, source.package, source.is_persisted,
                                     source.dataset_location, per_run, "schedule_on",
                                     in_pods)
            for reference in options.schedule_on.references()}


def _per_run_root(run: RunConfig, execution: Execution) -> str | None:
    """Where the per-run volume is mounted in the pods, when there is one."""
    return None if execution != "kubernetes" or run.volume.disabled else run.volume.mount_path


def _node_groups(pipeline: Pipeline, run: RunConfig, source: ProjectSource,
                 options: CompileOptions, spark_nodes: set[str]) -> list[NodeGroup]:
    memory = run.group_memory_nodes if options.group_memory is None else options.group_memory
    joined = spark_edges(pipeline, spark_nodes) if run.group_spark_nodes else []
    chosen = chosen_groups(pipeline, run.grouping, spark_nodes)
    groups = group_nodes(pipeline, source.is_persisted, memory=memory, joined=joined,
                         chosen=chosen, spark=spark_nodes)
    if not memory:
        _refuse_memory_edges(pipeline, source.is_persisted, groups)
    return groups


def _note_groups(groups: list[NodeGroup], notify: Notify) -> None:
    """One line per task that runs several nodes, a few names each, at most _GROUP_LINES."""
    shared = [group for group in groups if len(group.nodes) > 1 or group.split_around]
    for group in shared[:_GROUP_LINES]:
        runs = f"One task runs {_listed(group.nodes)}" if len(group.nodes) > 1 else \
            f"{group.nodes[0]} runs in a task of its own"
        notify(f"{runs} ({'; '.join(reasons(group, _LISTED))}).")
    if len(shared) > _GROUP_LINES:
        notify(f"... and {len(shared) - _GROUP_LINES} more tasks run several nodes (each "
               "task's doc says which and why).")


def _listed(names: tuple[str, ...], limit: int | None = _LISTED) -> str:
    if limit is None or len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit - 1])} and {len(names) - limit + 1} more"


def _check_node_names(nodes: list[Node]) -> None:
    import click
    from kedro.framework.cli.utils import split_node_names

    run = click.Context(click.Command("run"))  # the click callback of `kedro run --nodes`
    for node in nodes:
        if split_node_names(run, None, node.name) != [node.name]:
            raise CompileError(
                f"node '{node.name}': `kedro run --nodes` cannot take this name (a comma "
                "outside brackets, or spaces at its ends); rename the node or its namespace"
            )


def _refuse_memory_edges(pipeline: Pipeline, is_persisted: Callable[[str], bool],
                         groups: list[NodeGroup]) -> None:
    task_of = {name: group.nodes[0] for group in groups for name in group.nodes}
    in_memory = sorted({d for (producer, consumer), names in
                        memory_edges(pipeline, is_persisted).items()
                        if task_of[producer] != task_of[consumer] for d in names})
    if in_memory:
        raise CompileError(
            f"datasets {', '.join(in_memory)} pass between nodes that run in separate tasks "
            "but are not persisted (MemoryDatasets): add them to catalog.yml, or let "
            "run_config.group_memory_nodes run those nodes in one task"
        )


def _check_inputs(pipeline: Pipeline, is_persisted: Callable[[str], bool]) -> None:
    missing = sorted(name for name in pipeline.inputs() if not is_persisted(name))
    if missing:
        raise CompileError(
            f"pipeline inputs {', '.join(missing)} are produced by no node and are not in "
            "the catalog"
        )


def _params_value(run: RunConfig, form: bool) -> str | None:
    """The `--params` value: Airflow macros and Variables, rendered by Airflow at run time,
    each through the DAG's filter that keeps ',' '=' and the like intact for Kedro (a
    missing Variable fails the task, naming it), then the Params (`form`) a run changed."""
    pairs = [f"{name}={{{{ {macro_expression(name)} | {PARAM_FILTER} }}}}"
             for name in run.macro_params]
    pairs += [f"{name}={{{{ {variable_expression(name)} | {PARAM_FILTER} }}}}"
              for name in run.variables_params]
    text = ",".join(pairs)
    if form:  # the filter puts the ',' before the changed ones, if any, after the others
        after = "(',')" if pairs else ""
        text += f"{{{{ params | {CHANGED_PARAMS_FILTER}{after} }}}}"
    return text or None


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


def reasons(group: NodeGroup, limit: int | None = None) -> list[str]:
    """Why the nodes of a group share one task, for notes and task docs (`limit`: names
    listed per reason before "and N more")."""
    reasons = [f"run_config.{why}" if why.startswith("grouping:") else why
               for why in group.chosen]
    if group.split_around:
        spark = _listed(group.split_around, limit)
        reasons.append(f"split around Spark node {spark} to keep it on its own"
                       if len(group.split_around) == 1 else
                       f"split around Spark nodes {spark} to keep them on their own")
    if group.memory_datasets:
        reasons.append(f"MemoryDatasets {_listed(group.memory_datasets, limit)}")
    if group.joined:
        reasons.append(f"connected Spark nodes {_listed(group.joined, limit)}")
    if group.widened:
        reasons.append(f"{_listed(group.widened, limit)} joined to keep the DAG acyclic")
    elif group.merged:
        reasons.append("merged to keep the DAG acyclic")
    return reasons
