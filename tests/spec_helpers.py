"""Shorthands the tests use to compile and to read the model."""

from __future__ import annotations

from typing import Any

from kedro_airflow_k8s.dagspec import Call, TaskSpec
from kedro_airflow_k8s.options import CompileOptions, ProjectSource


def split(keywords: dict[str, Any], **source: Any) -> tuple[ProjectSource, CompileOptions]:
    """Keyword arguments as the project's facts and the command's options."""
    fields = set(CompileOptions.__dataclass_fields__)
    options = {k: v for k, v in keywords.items() if k in fields}
    source.update({k: v for k, v in keywords.items() if k not in fields})
    return ProjectSource(**source), CompileOptions(**options)


def pod_settings(task: TaskSpec) -> dict[str, Any]:
    """What a pod task passes to the file's pod_arguments() (labels, nodes, resources, ...)."""
    return next(s.kwargs for s in task.spread if isinstance(s, Call))


def profile_of(task: TaskSpec) -> str | None:
    """The RESOURCES entry a pod task uses, None without one."""
    return pod_settings(task).get("resources")


def template_of(task: TaskSpec) -> str | None:
    """The POD_TEMPLATES entry a pod task starts from, None without one."""
    return pod_settings(task).get("pod_template")
