"""Which Kedro nodes share a task: the ones joined by datasets that cannot leave memory, and
connected Spark nodes.

Nodes joined by a MemoryDataset (a dataset the catalog does not persist) must run in one
`kedro run --nodes a,b,c`; connected Spark nodes run as one Spark job. Grouping them can
close a cycle between tasks (a -mem-> c with a -> b -> c through persisted data and b outside
the group); every cycle is then merged into one task, which keeps the task graph acyclic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NodeGroup:
    """The nodes one task runs, in the pipeline's topological order."""

    nodes: tuple[str, ...]
    memory_datasets: tuple[str, ...] = ()  # what kept them together
    joined: tuple[str, ...] = ()  # nodes joined by `joined` edges (Spark nodes)
    widened: tuple[str, ...] = ()  # nodes merged in only to keep the task graph acyclic


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
                joined: Iterable[tuple[str, str]] = ()) -> list[NodeGroup]:
    """Partition the pipeline's nodes into tasks: every memory edge (unless `memory` is
    false) and every `joined` edge ends inside one task; cycles between tasks are merged."""
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
    for producer, consumer in [*edges, *joined]:
        union(producer, consumer)
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
    before_size: dict[str, int] = defaultdict(int)
    for name in order:
        before_size[before[name]] += 1
    groups = []
    for lead, names in sorted(members.items(), key=lambda item: position[item[0]]):
        widened = tuple(n for n in names if before_size[before[n]] == 1) if len(names) > 1 \
            else ()
        kept = joined_nodes[lead] if len(names) > 1 else set()
        groups.append(NodeGroup(tuple(names), tuple(sorted(datasets[lead])),
                                tuple(n for n in names if n in kept), widened))
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
