"""Phase 4 of compiling: the tasks around the node tasks (volume, MLflow run, Spark cluster,
result, sensors) and the upstream ids of every task."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from kedro_airflow_k8s.compiler.plan import Plan
from kedro_airflow_k8s.compiler.shared import Shared
from kedro_airflow_k8s.dagspec import SensorSpec, TaskSpec, check_value
from kedro_airflow_k8s.ids import RESERVED_IDS
from kedro_airflow_k8s.mlflow_run import END_TASK as MLFLOW_END
from kedro_airflow_k8s.mlflow_run import START_TASK as MLFLOW_START
from kedro_airflow_k8s.spark import SparkFactory, checked_call
from kedro_airflow_k8s.tasks import (
    POD,
    factory_task,
    mlflow_end_task,
    mlflow_start_task,
    result_task,
    sensor_task,
    top_level,
    volume_tasks,
)


@dataclass(frozen=True)
class NodeGraph:
    upstream: dict[str, set[str]]  # node task id -> node task ids it waits for
    roots: list[str]  # node tasks that wait for no node task
    leaves: list[str]  # node tasks no node task waits for


def node_graph(plan: Plan) -> NodeGraph:
    """Who waits for whom among the node tasks. A watched group's nodes wait for their own
    upstream nodes' tasks, its producer for the tasks of the nodes its nodes read from
    outside the group (nothing waits for the producer: it is a leaf)."""
    node_task = {name: item.watched[name].task_id if item.watched else item.task_id
                 for item in plan.node_tasks for name in item.names}
    producer = {name: item.task_id for item in plan.node_tasks if item.watched
                for name in item.names}
    upstream: dict[str, set[str]] = defaultdict(set)
    for child, parents in plan.pipeline.node_dependencies.items():
        for parent in parents:
            if node_task[parent.name] != node_task[child.name]:
                upstream[node_task[child.name]].add(node_task[parent.name])
            if child.name in producer and producer.get(parent.name) != producer[child.name]:
                upstream[producer[child.name]].add(node_task[parent.name])
    ids = sorted({*node_task.values(), *producer.values()})
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
