"""Load a generated DAG with Airflow's own DagBag and validate what it would send to Kubernetes.

No cluster exists here: pods are built by the real KubernetesPodOperator with `dry_run=True`
(which skips only the in-cluster probe of the Kubernetes API) after Airflow renders the
task's templates, and every manifest is validated against the Kubernetes OpenAPI schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import kubernetes_validate

K8S_VERSION = "1.37"
RUN_ID = "manual__2026-11-24T10:00:00.123456+00:00"


def load_dag(path: Path) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(path))
    assert bag.import_errors == {}, bag.import_errors
    assert len(bag.dags) == 1, bag.dags
    return next(iter(bag.dags.values()))


class _Variables:
    """Stands in for Airflow's `var` accessor: Variables live in the metadata DB."""

    class value:  # noqa: N801 - mirrors Airflow's `var.value`
        @staticmethod
        def get(name: str, default: Any = None) -> str:
            return f"variable-{name}"


def render_task(dag: Any, task: Any, run_id: str = RUN_ID) -> dict[str, Any]:
    """Render the task's templates as Airflow would at run time; return the context used."""
    ti = SimpleNamespace(dag_id=dag.dag_id, task_id=task.task_id, map_index=-1, try_number=1)
    context = {"ti": ti, "task": task, "dag": dag, "run_id": run_id, "ds": "2026-11-24",
               "prev_ds": "2026-11-23", "ds_nodash": "20261124", "var": _Variables}
    task.render_template_fields(context, dag.get_template_env())
    return context


def pod_manifest(dag: Any, task: Any, run_id: str = RUN_ID) -> dict[str, Any]:
    from kubernetes.client import ApiClient

    context = render_task(dag, task, run_id)
    pod = task.build_pod_request_obj(context, dry_run=True)
    return ApiClient().sanitize_for_serialization(pod)


def volume_manifest(dag: Any, task: Any, run_id: str = RUN_ID) -> dict[str, Any]:
    render_task(dag, task, run_id)
    return json.loads(task.yaml_conf)


def validate(manifest: dict[str, Any]) -> None:
    """Raise when Kubernetes would reject the manifest (strict: unknown fields too)."""
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


def validate_all(dag: Any, run_id: str = RUN_ID) -> dict[str, dict[str, Any]]:
    """Every pod and volume manifest of the DAG, each validated; keyed by task id."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.providers.cncf.kubernetes.operators.resource import (
        KubernetesCreateResourceOperator,
    )

    manifests = {}
    for task in dag.tasks:
        if isinstance(task, KubernetesPodOperator):
            manifests[task.task_id] = pod_manifest(dag, task, run_id)
        elif isinstance(task, KubernetesCreateResourceOperator):
            manifests[task.task_id] = volume_manifest(dag, task, run_id)
        else:
            continue
        validate(manifests[task.task_id])
    return manifests
