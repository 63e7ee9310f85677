"""One configuration's DAG as Airflow renders it, as plain JSON-able data."""

from __future__ import annotations

import datetime
import enum
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

from kedro_airflow_k8s import validate
from kedro_airflow_k8s.dagspec import DagSpec
from kedro_airflow_k8s.render import render_dag, write_atomically

# Operator settings that reach no manifest and no template field, when the operator has them.
ATTRIBUTES = ("trigger_rule", "doc_md", "do_xcom_push", "on_finish_action",
              "startup_timeout_seconds", "kubernetes_conn_id", "in_cluster", "config_file",
              "cluster_context", "append_env", "mode", "timeout", "execution_delta",
              "check_existence", "poke_interval", "reattach_on_restart", "task_display_name")
# Airflow's task settings (run_config.task_settings), recorded where they differ from
# Airflow's defaults so that the records of configurations that set none stay as they were.
SETTINGS = {"retries": 0, "retry_delay": datetime.timedelta(seconds=300),
            "retry_exponential_backoff": 0, "max_retry_delay": None, "execution_timeout": None,
            "pool": "default_pool", "pool_slots": 1, "queue": "default", "priority_weight": 1,
            "weight_rule": "downstream", "owner": "airflow"}
# How a KubernetesPodOperator runs its pod (run_config.task_settings, task_defaults), where
# it differs from the provider's defaults (the schedule timeout's is the startup timeout).
POD_OPERATION = {"deferrable": False, "logging_interval": None, "poll_interval": 2}
# The same for the DAG's own (max_active_tasks: Airflow's default_max_active_tasks_per_dag).
DAG_SETTINGS = {"max_active_tasks": 16, "dagrun_timeout": None}
# The KubernetesPodOperator adds a random suffix to every pod's name.
_POD_SUFFIX = re.compile(r"-[a-z0-9]{8}$")


def plain(value: Any) -> Any:
    """JSON-able data; anything whose printed form could change from run to run is refused."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    for kinds, form in _BUILTIN_FORMS:
        if isinstance(value, kinds):
            return form(value)
    return _airflow_form(value)


# Python's own types -> their stable form (bool, int, float, str and None are their own).
_BUILTIN_FORMS: tuple[tuple[type | tuple[type, ...], Callable[[Any], Any]], ...] = (
    (enum.Enum, lambda value: plain(value.value)),
    (dict, lambda value: {str(key): plain(item) for key, item in value.items()}),
    ((list, tuple), lambda value: [plain(item) for item in value]),
    ((set, frozenset), lambda value: sorted(plain(item) for item in value)),
    ((datetime.date, datetime.datetime), lambda value: value.isoformat()),
    (datetime.timedelta, lambda value: f"timedelta(seconds={value.total_seconds()})"),
)


def _airflow_form(value: Any) -> Any:
    """The stable form of an Airflow, Kubernetes client or notifier object."""
    kind = type(value).__name__.removeprefix("Serialized")
    if kind in ("AssetAll", "AssetAny"):  # a schedule on data
        return {kind[5:].lower(): [plain(item) for item in value.objects]}
    if kind == "Asset":
        return {"asset": value.uri, "name": value.name}
    if hasattr(value, "asset_condition") and hasattr(value, "summary"):  # asset-or-time
        return {"class": _class_name(value), "summary": value.summary,
                "assets": plain(value.asset_condition)}
    if hasattr(value, "to_dict"):  # kubernetes client models
        return plain(value.to_dict())
    if hasattr(value, "template_fields"):  # notifiers
        return {"class": _class_name(value),
                **{name: plain(getattr(value, name)) for name in value.template_fields}}
    raise TypeError(f"no stable form for {type(value).__name__}: {value!r:.80}")


def _class_name(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _operator(dag: Any, task: Any) -> str:
    """The task's class; one the DAG file defines is named by the file and its base class
    (the module Airflow imports the file as is named after the file's temporary path)."""
    cls = type(task)
    if getattr(sys.modules.get(cls.__module__), "__file__", None) == dag.fileloc:
        return _defined(dag, cls)
    return _class_name(task)


def _defined(dag: Any, cls: type) -> str:
    """A class the DAG file defines, with its bases, those it defines too named alike."""
    if getattr(sys.modules.get(cls.__module__), "__file__", None) != dag.fileloc:
        return f"{cls.__module__}.{cls.__qualname__}"
    bases = ", ".join(_defined(dag, base) for base in cls.__bases__)
    return f"<dag file>.{cls.__qualname__}({bases})"


def _task(dag: Any, task: Any) -> dict[str, Any]:
    group = task.task_group
    record: dict[str, Any] = {
        "operator": _operator(dag, task),
        "group": None if group is None or group.is_root else group.group_id,
        "upstream": sorted(task.upstream_task_ids),
    }
    record.update({name: plain(getattr(task, name)) for name in ATTRIBUTES
                   if hasattr(task, name)})
    record.update({name: plain(getattr(task, name)) for name, default in SETTINGS.items()
                   if plain(getattr(task, name)) != plain(default)})
    # the provider's class or the file's own subclass (NodePodOperator), not a Spark factory's
    if type(task) is KubernetesPodOperator or (_operator(dag, task).startswith("<dag file>.")
                                               and isinstance(task, KubernetesPodOperator)):
        record.update({name: plain(getattr(task, name)) for name, default in
                       POD_OPERATION.items() if getattr(task, name) != default})
        if task.schedule_timeout_seconds != task.startup_timeout_seconds:
            record["schedule_timeout_seconds"] = task.schedule_timeout_seconds
    for key in ("inlets", "outlets"):  # Assets, as Airflow holds them
        if getattr(task, key, None):
            record[key] = [{"name": asset.name, "uri": asset.uri} for asset in getattr(task, key)]
    built = validate.manifest(dag, task)
    if built is not None and built.get("kind") == "Pod":
        name = built["metadata"]["name"]
        built["metadata"]["name"] = _POD_SUFFIX.sub("-<suffix>", name)
        record["manifest"] = plain(built)
        return record
    if built is not None:
        record["manifest"] = plain(built)
    else:
        validate.render_task(dag, task)
    record["fields"] = {name: plain(getattr(task, name)) for name in task.template_fields}
    return record


def _dag(dag: Any) -> dict[str, Any]:
    settings = {name: plain(getattr(dag, name)) for name, default in DAG_SETTINGS.items()
                if getattr(dag, name) != default}
    if dag.params:  # the trigger form's Params (Kedro parameters), when the DAG has some
        settings["params"] = {name: {"default": plain(dag.params[name]),
                                     "schema": plain(dag.params.get_param(name).schema)}
                              for name in sorted(dag.params)}
    return settings | {
        "dag_id": dag.dag_id,
        "description": dag.description,
        "schedule": plain(dag.schedule),
        "timetable": type(dag.timetable).__name__,
        "timetable_description": getattr(dag.timetable, "description", None),
        "max_active_runs": dag.max_active_runs,
        "is_paused_upon_creation": dag.is_paused_upon_creation,
        "catchup": dag.catchup,
        "start_date": plain(dag.start_date),
        "tags": sorted(dag.tags),
        "doc_md": dag.doc_md,
        "filters": sorted(dag.user_defined_filters or {}),
        "default_args": plain(dag.default_args),
        "task_groups": {
            group_id: {"parent": None if g.parent_group is None or g.parent_group.is_root
                       else g.parent_group.group_id, "tooltip": g.tooltip}
            for group_id, g in sorted((key, value) for key, value in
                                      dag.task_group.get_task_group_dict().items()
                                      if key is not None)},
    }


def snapshot(spec: DagSpec, folder: Path) -> dict[str, Any]:
    """Render `spec`, import the file in Airflow's DagBag, render every task as at run time."""
    path = folder / f"{spec.dag_id}.py"
    write_atomically(path, render_dag(spec))
    dag, problems = validate.load_dag(path)
    assert problems == [], problems
    return {"dag": _dag(dag),
            "tasks": {task.task_id: _task(dag, task)
                      for task in sorted(dag.tasks, key=lambda t: t.task_id)}}
