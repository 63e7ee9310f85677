"""Which Kedro nodes share a task: the ones joined by datasets that cannot leave memory,
connected Spark nodes, and the ones the user chose to run together (`run_config.grouping`,
tag `kedro-airflow-k8s.group.<name>`).

Nodes joined by a MemoryDataset (a dataset the catalog does not persist) must run in one
`kedro run --nodes a,b,c`; connected Spark nodes run as one Spark job. Grouping them can
close a cycle between tasks (a -mem-> c with a -> b -> c through persisted data and b outside
the group); every cycle is then merged into one task, which keeps the task graph acyclic.

A namespace or pipeline group (`grouping`) never takes a Spark task into a cycle, so it never
moves a pandas node onto Spark: it is split by the Spark tasks upstream of its nodes (see
`_split_around_spark`). Memory groups, connected Spark nodes and group tags are kept whole.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from graphlib import TopologicalSorter
from typing import TYPE_CHECKING

from kedro_airflow_k8s.errors import CompileError
from kedro_airflow_k8s.spark import SPARK_TAGS

if TYPE_CHECKING:
    from kedro.pipeline import Pipeline

GROUP_TAG = "kedro-airflow-k8s.group"
# On a node of a task that runs several nodes: every node of it is an Airflow task of its own
# (run_config.grouping_mode: watched, for that task alone).
WATCHED_TAG = "kedro-airflow-k8s.watched"
_GROUP_NAME = re.compile(r"^[\w-]+(\.[\w-]+)*$")


@dataclass(frozen=True)
class NodeGroup:
    """The nodes one task runs, in the pipeline's topological order."""

    nodes: tuple[str, ...]
    memory_datasets: tuple[str, ...] = ()  # what kept them together
    joined: tuple[str, ...] = ()  # nodes joined by `joined` edges (Spark nodes)
    widened: tuple[str, ...] = ()  # nodes merged in only to keep the task graph acyclic
    chosen: tuple[str, ...] = ()  # the user's choices that joined them ("namespace etl", ...)
    merged: bool = False  # groups of their own, merged to keep the task graph acyclic
    split_around: tuple[str, ...] = ()  # Spark nodes a chosen group was split around


def chosen_groups(pipeline: Pipeline, grouping: str, spark_nodes: set[str]) -> dict[
        str, list[str]]:
    """Why -> the nodes the user asked to run in one task: `grouping` (namespace: each
    top-level namespace; pipeline: every node; Spark nodes keep their own tasks) and the tag
    `kedro-airflow-k8s.group.<name>` (on any node, whatever `grouping` says)."""
    chosen: dict[str, list[str]] = defaultdict(list)
    for node in pipeline.nodes:
        for tag in sorted(node.tags):
            if tag.startswith(GROUP_TAG) and tag not in SPARK_TAGS:
                name = tag.removeprefix(GROUP_TAG + ".")
                if name == tag or not _GROUP_NAME.match(name):
                    raise CompileError(
                        f"node '{node.name}': tag '{tag}' is not {GROUP_TAG}.<name> (letters, "
                        "digits, '_', '-', dots between them); fix or remove the tag")
                chosen[f"tag {tag}"].append(node.name)
        if node.name in spark_nodes:
            continue
        if grouping == "namespace" and node.namespace:
            chosen[f"namespace {node.namespace.split('.')[0]}"].append(node.name)
        elif grouping == "pipeline":
            chosen["grouping: pipeline"].append(node.name)
    return {why: names for why, names in sorted(chosen.items(), key=lambda item: item[0]
                                                  .startswith("tag ")) if len(names) > 1}


def memory_edges(pipeline: Pipeline, is_persisted: Callable[[str], bool]) -> dict[
        tuple[str, str], set[str]]:
    """(producer, consumer) -> the in-memory datasets passing between them."""
    edges: dict[tuple[str, str], set[str]] = {}
    for child, parents in pipeline.node_dependencies.items():
        for parent in parents:
            datasets = {d for d in set(parent.outputs) & set(child.inputs)
                        if not is_persisted(d)}
            if datasets:
                edges[(parent.name, child.name)] = datasets
    return edges


def is_tag_group(why: str) -> bool:
    """A chosen group the user asked for by name (a group tag), kept whole; the others
    (namespace, pipeline) are split around Spark tasks."""
    return why.startswith("tag ")


class _Partition:
    """Union-find over the pipeline's node names; a class leads by its earliest node."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.order = [node.name for node in pipeline.nodes]  # Kedro sorts them topologically
        self.position = {name: i for i, name in enumerate(self.order)}
        self.leader = {name: name for name in self.order}

    def find(self, name: str) -> str:
        leader = self.leader
        while leader[name] != name:
            leader[name] = leader[leader[name]]
            name = leader[name]
        return name

    def union(self, a: str, b: str) -> None:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.leader[max(a, b, key=self.position.__getitem__)] = min(
                a, b, key=self.position.__getitem__)

    def union_all(self, names: Iterable[str]) -> None:
        names = list(names)
        for name in names[1:]:
            self.union(names[0], name)

    def successors(self) -> dict[str, set[str]]:
        """Class -> the classes that depend on it."""
        successors: dict[str, set[str]] = defaultdict(set)
        for child, parents in self.pipeline.node_dependencies.items():
            for parent in parents:
                if self.find(parent.name) != self.find(child.name):
                    successors[self.find(parent.name)].add(self.find(child.name))
        return successors

    def merge_cycles(self) -> None:
        leaders = sorted({self.find(name) for name in self.order},
                         key=self.position.__getitem__)
        for component in strongly_connected(leaders, self.successors()):
            self.union_all(component)


def group_nodes(pipeline: Pipeline, is_persisted: Callable[[str], bool], *, memory: bool = True,
                joined: Iterable[tuple[str, str]] = (),
                chosen: Mapping[str, list[str]] | None = None,
                spark: Iterable[str] = ()) -> list[NodeGroup]:
    """Partition the pipeline's nodes into tasks: every memory edge (unless `memory` is
    false), every `joined` edge and every `chosen` set of nodes ends inside one task, except
    that a namespace or pipeline group is split around the tasks of `spark` nodes; cycles
    between tasks are merged."""
    edges = memory_edges(pipeline, is_persisted) if memory else {}
    joined = list(joined)
    chosen_parts = _split_around_spark(pipeline, [*edges, *joined], chosen or {}, set(spark))
    partition = _Partition(pipeline)
    for producer, consumer in [*edges, *joined]:
        partition.union(producer, consumer)
    for _, names, _ in chosen_parts:
        partition.union_all(names)
    before = {name: partition.find(name) for name in partition.order}
    partition.merge_cycles()
    return _described(partition, before, _Reasons.of(partition.find, edges, joined,
                                                       chosen_parts))


@dataclass
class _Reasons:
    """Per task (its leader): what joined its nodes."""

    datasets: dict[str, set[str]]  # the in-memory datasets between its nodes
    joined_nodes: dict[str, set[str]]  # its nodes on `joined` edges
    chosen: dict[str, list[str]]  # the user's choices that joined them
    split: dict[str, set[str]]  # Spark nodes its chosen groups were split around

    @classmethod
    def of(cls, find: Callable[[str], str], edges: dict[tuple[str, str], set[str]],
           joined: list[tuple[str, str]],
           chosen_parts: list[tuple[str, list[str], set[str]]]) -> _Reasons:
        reasons = cls(defaultdict(set), defaultdict(set), defaultdict(list), defaultdict(set))
        for (producer, _), names in edges.items():
            reasons.datasets[find(producer)] |= names
        for producer, consumer in joined:
            reasons.joined_nodes[find(producer)] |= {producer, consumer}
        for why, part, around in chosen_parts:
            lead = find(part[0])
            if why not in reasons.chosen[lead]:
                reasons.chosen[lead].append(why)
            reasons.split[lead] |= around
        return reasons


def _described(partition: _Partition, before: dict[str, str], reasons: _Reasons,
               ) -> list[NodeGroup]:
    """The partition's classes as NodeGroups; `before`: each node's class before the cycles
    were merged."""
    position = partition.position
    members: dict[str, list[str]] = defaultdict(list)
    for name in partition.order:
        members[partition.find(name)].append(name)
    before_size = Counter(before.values())
    groups = []
    for lead, names in sorted(members.items(), key=lambda item: position[item[0]]):
        several = len(names) > 1
        widened = tuple(n for n in names if before_size[before[n]] == 1) if several else ()
        kept = reasons.joined_nodes[lead] if several else set()
        parts = {before[n] for n in names if before_size[before[n]] > 1}
        groups.append(NodeGroup(tuple(names), tuple(sorted(reasons.datasets[lead])),
                                tuple(n for n in names if n in kept), widened,
                                tuple(reasons.chosen[lead]), len(parts) > 1,
                                tuple(sorted(reasons.split[lead], key=position.__getitem__))))
    return groups


def _split_around_spark(pipeline: Pipeline, hard: list[tuple[str, str]],
                        chosen: Mapping[str, list[str]], spark: set[str]) -> list[
                            tuple[str, list[str], set[str]]]:
    """The chosen groups as (why, nodes, Spark nodes it was split around). A group tag is
    kept whole. A namespace or pipeline group leaves out the nodes already in a Spark task
    (joined to a Spark node in memory, by a tag or by a cycle) and is split by the set of
    Spark tasks upstream of each node: nodes with the same set share a task. No path
    a -> S -> b joins two nodes of one part through a Spark task S: S would be upstream of
    b, so of a (the same set), and downstream of a, a cycle. So no part forms a cycle with a
    Spark task, and the cycles merged afterwards never take one in."""
    soft = {why: names for why, names in chosen.items() if not is_tag_group(why)}
    parts: list[tuple[str, list[str], set[str]]] = [
        (why, list(names), set()) for why, names in chosen.items() if is_tag_group(why)]
    if not spark or not soft:
        return [*((why, list(names), set()) for why, names in soft.items()), *parts]
    tasks = _hard_tasks(pipeline, hard, parts)
    spark_nodes: dict[str, set[str]] = defaultdict(set)  # Spark task -> its Spark nodes
    for name in spark:
        spark_nodes[tasks.find(name)].add(name)
    upstream = _spark_upstream(tasks, set(spark_nodes))
    split = []
    for why, names in soft.items():
        split += [(why, part, around)
                  for part, around in _split_group(names, tasks.find, upstream, spark_nodes)]
    return [*split, *parts]


def _hard_tasks(pipeline: Pipeline, hard: list[tuple[str, str]],
                parts: list[tuple[str, list[str], set[str]]]) -> _Partition:
    """The tasks as memory and Spark edges (`hard`) and group tags (`parts`) make them, their
    cycles merged."""
    tasks = _Partition(pipeline)
    for producer, consumer in hard:
        tasks.union(producer, consumer)
    for _, names, _ in parts:
        tasks.union_all(names)
    tasks.merge_cycles()
    return tasks


def _spark_upstream(tasks: _Partition, on_spark: set[str]) -> dict[str, frozenset[str]]:
    """Task -> the Spark tasks (`on_spark`) upstream of it."""
    parents: dict[str, set[str]] = defaultdict(set)
    for task, children in tasks.successors().items():
        for child in children:
            parents[child].add(task)
    graph = {tasks.find(name): parents[tasks.find(name)] for name in tasks.order}
    upstream: dict[str, frozenset[str]] = {}
    for task in TopologicalSorter(graph).static_order():  # acyclic: cycles are merged
        upstream[task] = frozenset().union(
            *(upstream[p] | ({p} if p in on_spark else set()) for p in parents[task]))
    return upstream


def _split_group(names: list[str], find: Callable[[str], str],
                 upstream: dict[str, frozenset[str]], spark_nodes: dict[str, set[str]],
                 ) -> list[tuple[list[str], set[str]]]:
    """A namespace or pipeline group's parts (nodes with the same Spark tasks upstream), each
    with the Spark nodes the group was split around; its nodes in Spark tasks left out."""
    by_upstream: dict[frozenset[str], list[str]] = defaultdict(list)
    for name in names:
        if find(name) not in spark_nodes:
            by_upstream[upstream[find(name)]].append(name)
    sets = list(by_upstream)
    around = set().union(*sets) - frozenset.intersection(*sets) if sets else set()
    names_around: set[str] = set().union(*(spark_nodes[task] for task in around))
    return [(part, names_around) for part in by_upstream.values()
            if len(part) > 1 or names_around]


def strongly_connected(vertices: list[str], successors: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one vertex (Kosaraju, iterative)."""
    predecessors: dict[str, set[str]] = defaultdict(set)
    for vertex, targets in successors.items():
        for target in targets:
            predecessors[target].add(vertex)
    index = {vertex: i for i, vertex in enumerate(vertices)}
    assigned: set[str] = set()
    components = []
    for root in reversed(_finish_order(vertices, successors)):
        if root in assigned:
            continue
        component = _reached(root, predecessors, assigned)
        if len(component) > 1:
            components.append(sorted(component, key=index.__getitem__))
    return components


def _finish_order(vertices: list[str], successors: dict[str, set[str]]) -> list[str]:
    """The vertices in the order a depth-first search (children sorted) finishes them."""
    seen: set[str] = set()
    finished: list[str] = []
    for start in vertices:
        if start in seen:
            continue
        seen.add(start)
        stack = [(start, iter(sorted(successors.get(start, ()))))]
        while stack:
            vertex, children = stack[-1]
            child = next((c for c in children if c not in seen), None)
            if child is None:
                stack.pop()
                finished.append(vertex)
            else:
                seen.add(child)
                stack.append((child, iter(sorted(successors.get(child, ())))))
    return finished


def _reached(root: str, predecessors: dict[str, set[str]], assigned: set[str]) -> list[str]:
    """The vertices not yet `assigned` that reach `root`, root first; marks them assigned."""
    component, stack = [], [root]
    assigned.add(root)
    while stack:
        vertex = stack.pop()
        component.append(vertex)
        for previous in predecessors.get(vertex, ()):
            if previous not in assigned:
                assigned.add(previous)
                stack.append(previous)
    return component
