"""Test helpers over kedro_airflow_k8s.validate: Airflow's DagBag and the Kubernetes schema.

No cluster exists here: pods are built by the real KubernetesPodOperator with `dry_run=True`
(which skips only the in-cluster probe of the Kubernetes API) after Airflow renders the
task's templates, and every manifest is validated against the Kubernetes OpenAPI schema and
the API server's own rules (kedro_airflow_k8s.apiserver_checks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro_airflow_k8s import validate as preflight
from kedro_airflow_k8s.apiserver_checks import check_manifest

K8S_VERSION = "1.37"
RUN_ID = preflight.SAMPLE_RUN_ID
render_task = preflight.render_task


def load_dag(path: Path) -> Any:
    dag, problems = preflight.load_dag(path)
    assert problems == [], problems
    return dag


def validate_all(dag: Any, run_id: str = RUN_ID) -> dict[str, dict[str, Any]]:
    """Every pod and volume manifest of the DAG, each validated (strict); by task id."""
    found = preflight.manifests(dag, run_id)
    for task_id, manifest in found.items():
        assert preflight.schema_problems(manifest, K8S_VERSION) == [], (task_id, manifest)
        assert check_manifest(manifest, K8S_VERSION) == [], (task_id, manifest)
    return found
