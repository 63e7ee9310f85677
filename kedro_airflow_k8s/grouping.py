"""Which Kedro nodes share a task: the ones joined by datasets that cannot leave memory,
connected Spark nodes, and the ones the user chose to run together (`run_config.grouping`,
tag `kedro-airflow-k8s.group.<name>`).

Nodes joined by a MemoryDataset (a dataset the catalog does not persist) must run in one
`kedro run --nodes a,b,c`; connected Spark nodes run as one Spark job. Grouping them can
close a cycle between tasks (a -mem-> c with a -> b -> c through persisted data and b outside
the group); every cycle is then merged into one task, which keeps the task graph acyclic.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kedro_airflow_k8s.errors import CompileError
from kedro_airflow_k8s.spark import SPARK_TAGS

GROUP_TAG = "kedro-airflow-k8s.group"
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


def chosen_groups(pipeline: Any, grouping: str, spark_nodes: set[str]) -> dict[
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


def memory_edges(pipeline: Any, is_persisted: Callable[[str], bool]) -> dict[
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


def group_nodes(pipeline: Any, is_persisted: Callable[[str], bool], *, memory: bool = True,
                joined: Iterable[tuple[str, str]] = (),
                chosen: Mapping[str, list[str]] | None = None) -> list[NodeGroup]:
    """Partition the pipeline's nodes into tasks: every memory edge (unless `memory` is
    false), every `joined` edge and every `chosen` set of nodes ends inside one task; cycles
    between tasks are merged."""
    order = [node.name for node in pipeline.nodes]  # Kedro keeps them topologically sorted
    position = {name: i for i, name in enumerate(order)}
    leader = {name: name for name in order}

    def find(name: str) -> str:
        while leader[name] != name:
            leader[name] = leader[leader[name]]
            name = leader[name]
        return name

    def union(a: str, b: str) -> None:
        a, b = find(a), find(b)
        if a != b:
            leader[max(a, b, key=position.get)] = min(a, b, key=position.get)

    edges = memory_edges(pipeline, is_persisted) if memory else {}
    joined = list(joined)
    chosen = chosen or {}
    for producer, consumer in [*edges, *joined]:
        union(producer, consumer)
    for names in chosen.values():
        for name in names[1:]:
            union(names[0], name)
    before = {name: find(name) for name in order}

    successors: dict[str, set[str]] = defaultdict(set)
    for child, parents in pipeline.node_dependencies.items():
        for parent in parents:
            if find(parent.name) != find(child.name):
                successors[find(parent.name)].add(find(child.name))
    for component in strongly_connected(sorted(set(before.values()), key=position.get),
                                        successors):
        for other in component[1:]:
            union(component[0], other)

    members: dict[str, list[str]] = defaultdict(list)
    for name in order:
        members[find(name)].append(name)
    datasets: dict[str, set[str]] = defaultdict(set)
    for (producer, _), names in edges.items():
        datasets[find(producer)] |= names
    joined_nodes: dict[str, set[str]] = defaultdict(set)
    for producer, consumer in joined:
        joined_nodes[find(producer)] |= {producer, consumer}
    reasons: dict[str, list[str]] = defaultdict(list)
    for why, names in chosen.items():
        reasons[find(names[0])].append(why)
    before_size: dict[str, int] = defaultdict(int)
    for name in order:
        before_size[before[name]] += 1
    groups = []
    for lead, names in sorted(members.items(), key=lambda item: position[item[0]]):
        widened = tuple(n for n in names if before_size[before[n]] == 1) if len(names) > 1 \
            else ()
        kept = joined_nodes[lead] if len(names) > 1 else set()
        parts = {before[n] for n in names if before_size[before[n]] > 1}
        groups.append(NodeGroup(tuple(names), tuple(sorted(datasets[lead])),
                                tuple(n for n in names if n in kept), widened,
                                tuple(reasons[lead]), len(parts) > 1))
    return groups


def strongly_connected(vertices: list[str], successors: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one vertex (Kosaraju, iterative)."""
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
    predecessors: dict[str, set[str]] = defaultdict(set)
    for vertex, targets in successors.items():
        for target in targets:
            predecessors[target].add(vertex)
    index = {vertex: i for i, vertex in enumerate(vertices)}
    assigned: set[str] = set()
    components = []
    for root in reversed(finished):
        if root in assigned:
            continue
        component, stack = [], [root]
        assigned.add(root)
        while stack:
            vertex = stack.pop()
            component.append(vertex)
            for previous in predecessors.get(vertex, ()):
                if previous not in assigned:
                    assigned.add(previous)
                    stack.append(previous)
        if len(component) > 1:
            components.append(sorted(component, key=index.__getitem__))
    return components
