"""The Airflow ids of one DAG, in one registry: every task and TaskGroup id is claimed here,
in a fixed order (plugin tasks, sensors, TaskGroups, node tasks), and checked against
Airflow's rules before the DAG is assembled."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from slugify import slugify

from kedro_airflow_k8s.config import RunConfig
from kedro_airflow_k8s.dagspec import GroupSpec, TaskSpec
from kedro_airflow_k8s.errors import CompileError

if TYPE_CHECKING:
    from kedro.pipeline import Node

RESERVED_IDS = {
    "mlflow-start": "start-mlflow-run",
    "mlflow-end": "end-mlflow-run",
    "volume-create": "create-data-volume",
    "volume-init": "init-data-volume",
    "volume-delete": "delete-data-volume",
    "result": "pipeline-result",
    "spark-create": "create-spark-cluster",
    "spark-delete": "delete-spark-cluster",
}
_MAX_ID = 100
_MAX_TASK_ID = 250  # Airflow's limit on a task's full id, its TaskGroups' ids included
_MAX_GROUP_ID = 200  # a TaskGroup's full id: leaves its tasks at least 49 characters
_AIRFLOW_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class Ids:
    """The ids of a DAG's sensors, TaskGroups and node tasks."""

    sensors: dict[str, str]  # index in run_config.external_dependencies -> id
    groups: dict[str, GroupSpec]  # Kedro namespace -> its TaskGroup
    group_of: dict[str, str | None]  # node task key -> full id of its TaskGroup
    local: dict[str, str]  # node task key -> id inside its TaskGroup

    def task_id(self, key: str) -> str:
        group = self.group_of[key]
        return f"{group}.{self.local[key]}" if group else self.local[key]


def assign_ids(members: dict[str, list[Node]], run: RunConfig, with_sensors: bool,
               producers: Collection[str] = ()) -> Ids:
    """Claim every id: plugin tasks, then sensors, TaskGroups, node tasks (by member key;
    `producers`: the keys of watched groups' producer tasks, named `run__<nodes>`)."""
    namespaces = {key: _common_namespace(nodes) for key, nodes in members.items()}
    sensor_ids = _sensor_ids(run) if with_sensors else {}
    plugin_ids = {*RESERVED_IDS.values(), *sensor_ids.values()}
    groups = _groups(sorted({ns for ns in namespaces.values() if ns}), plugin_ids)
    group_of = {key: groups[ns].group_id if ns else None for key, ns in namespaces.items()}
    local = _local_ids(members, namespaces, group_of, groups, plugin_ids, producers)
    return Ids(sensors=sensor_ids, groups=groups, group_of=group_of, local=local)


def _short_hash(text: str, length: int = 6) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def airflow_id(text: str) -> str:
    """An Airflow task or group id made from arbitrary text (ASCII, no dots)."""
    slug = slugify(text, lowercase=False, separator="-", regex_pattern=r"[^A-Za-z0-9_-]+")
    if not slug:
        return f"node_{_short_hash(text)}"
    if len(slug) > _MAX_ID:
        return f"{slug[:_MAX_ID - 7]}_{_short_hash(text)}"
    return slug


def k8s_label(text: str) -> str:
    """A Kubernetes label value made from arbitrary text."""
    slug = slugify(text, separator="-", regex_pattern=r"[^a-z0-9-]+")
    if len(slug) > 63:
        slug = f"{slug[:56].rstrip('-')}-{_short_hash(text)}"
    return slug or _short_hash(text)


def _fit(local_id: str, key: str, room: int) -> str:
    """`local_id`, cut to `room` characters with a hash of `key` when it is longer."""
    return local_id if len(local_id) <= room else f"{local_id[:room - 7]}_{_short_hash(key)}"


def _unique_ids(wanted: dict[str, str], taken: Iterable[str]) -> dict[str, str]:
    """Give every key its wanted id; ids wanted twice (or taken) all get a hash suffix."""
    counts: dict[str, int] = defaultdict(int)
    for value in wanted.values():
        counts[value] += 1
    taken = set(taken)
    result = {}
    for key, value in wanted.items():
        if counts[value] > 1 or value in taken:
            value = f"{value[:_MAX_ID - 7]}_{_short_hash(key)}"
        result[key] = value
    if len(set(result.values())) != len(result) or not taken.isdisjoint(result.values()):
        # a hash collision: refuse, never overwrite
        raise CompileError("task ids collide even after adding hashes; rename the nodes")
    return result


def _common_namespace(nodes: list[Node]) -> str | None:
    parts = [node.namespace.split(".") if node.namespace else [] for node in nodes]
    common = []
    for level in zip(*parts, strict=False):  # the shortest namespace bounds the prefix
        if len(set(level)) > 1:
            break
        common.append(level[0])
    return ".".join(common) or None


def _local_ids(members: dict[str, list[Node]], namespaces: dict[str, str | None],
               group_of: dict[str, str | None], task_groups: dict[str, GroupSpec],
               plugin_ids: set[str], producers: Collection[str] = ()) -> dict[str, str]:
    """Task ids inside their TaskGroup: readable, unique, never a plugin task's or a sensor's
    id, and short enough that the full id fits Airflow's 250 characters."""
    wanted: dict[str | None, dict[str, str]] = defaultdict(dict)
    for key, nodes in members.items():
        prefix = f"{namespaces[key]}." if namespaces[key] else ""
        short = [airflow_id(node.name.removeprefix(prefix)) for node in nodes]
        joined = "__".join(short)
        wanted[group_of[key]][key] = ("run__" if key in producers else "") + (
            joined if len(short) == 1 or len(joined) <= 60 else
            f"{short[0]}__and_{len(short) - 1}_more")
    local_ids: dict[str, str] = {}
    for group, ids in wanted.items():
        taken = {g.local_id for g in task_groups.values() if g.parent == group}
        if group is None:
            taken |= plugin_ids
        room = _MAX_TASK_ID - len(group) - 1 if group else _MAX_ID
        fitted = {key: _fit(value, key, room) for key, value in _unique_ids(ids, taken).items()}
        if len(set(fitted.values())) != len(fitted):  # a hash collision: refuse, never overwrite
            raise CompileError(f"TaskGroup '{group}': task ids collide after shortening them "
                               "to Airflow's 250 characters; shorten the node names")
        local_ids.update(fitted)
    return local_ids


def _groups(namespaces: list[str], plugin_ids: set[str]) -> dict[str, GroupSpec]:
    """One TaskGroup per Kedro namespace level, keyed by namespace. A top-level group never
    takes a plugin task's or a sensor's id; a full group id fits in 200 characters."""
    groups: dict[str, GroupSpec] = {}
    for namespace_ in namespaces:
        parts = namespace_.split(".")
        for depth in range(1, len(parts) + 1):
            namespace = ".".join(parts[:depth])
            if namespace in groups:
                continue
            parent = groups[".".join(parts[:depth - 1])].group_id if depth > 1 else None
            room = _MAX_GROUP_ID - (len(parent) + 1 if parent else 0)
            if room < 8:
                raise CompileError(
                    f"namespace '{namespace}': nested too deep for Airflow (a TaskGroup id "
                    f"holds at most {_MAX_GROUP_ID} characters); shorten the namespace names")
            local_id = airflow_id(parts[depth - 1])
            if parent is None and local_id in plugin_ids:
                # hashed apart from a node of the same name, which gives way to the group
                local_id = f"{local_id[:_MAX_ID - 7]}_{_short_hash('namespace ' + namespace)}"
            local_id = _fit(local_id, namespace, room)
            groups[namespace] = GroupSpec(
                group_id=f"{parent}.{local_id}" if parent else local_id,
                local_id=local_id, parent=parent, namespace=namespace,
            )
    seen: dict[str, str] = {}
    for namespace, group in groups.items():
        other = seen.setdefault(group.group_id, namespace)
        if other != namespace:
            raise CompileError(
                f"namespaces '{other}' and '{namespace}' give the same TaskGroup id "
                f"'{group.group_id}'; rename one"
            )
    return groups


def _sensor_ids(run: RunConfig) -> dict[str, str]:
    """The sensors' ids, by index in run_config.external_dependencies."""
    wanted = {}
    for index, dep in enumerate(run.external_dependencies):
        name = f"wait-for-{dep.dag_id}" + (f"-{dep.task_id}" if dep.task_id else "")
        wanted[str(index)] = airflow_id(name)
    return _unique_ids(wanted, RESERVED_IDS.values())


def check_ids(tasks: list[TaskSpec], groups: Iterable[GroupSpec]) -> None:
    """Every id the DAG file defines, in one registry: Airflow refuses a file where a task and
    a TaskGroup share an id, or where an id is too long (the compiler avoids both; this is
    the last guard, never a DAG that DagBag refuses)."""
    owners: dict[str, str] = {}
    for full_id, limit, what in (
            *((t.task_id, _MAX_TASK_ID, ", ".join(t.node_names) or t.kind)
              for t in tasks),
            *((g.group_id, _MAX_GROUP_ID, f"namespace {g.namespace}")
              for g in groups)):
        if len(full_id) > limit or not _AIRFLOW_KEY.match(full_id):
            raise CompileError(f"{what}: id '{full_id[:60]}...' does not fit Airflow's ids "
                               f"(at most {limit} characters); shorten its names")
        other = owners.setdefault(full_id, what)
        if other != what:
            raise CompileError(f"{other} and {what} both want the Airflow id '{full_id}'; "
                               "rename one")
