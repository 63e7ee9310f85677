"""Preflight of a generated DAG file: Airflow's DagBag imports it, every pod and the volume
claim are built as Airflow would at run time and validated against the Kubernetes schema.

Runs in a child process (`python -m kedro_airflow_k8s.validate FILE --k8s-version V`) so
that importing Airflow never slows or disturbs the CLI; needs the `validate` extra.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from kedro_airflow_k8s.errors import CompileError

SAMPLE_RUN_ID = "manual__2026-01-01T00:00:00.000000+00:00"
_EXTRA_HINT = "pip install 'kedro-airflow-k8s[validate]'"


class _VariableValues:
    """Stands in for Airflow's `var.value` (`.get(name)`, `.name`, `[name]`): Variables live
    in the metadata database."""

    def get(self, name: str, default: Any = None) -> str:
        return f"variable-{name}"

    def __getattr__(self, name: str) -> str:
        return self.get(name)

    __getitem__ = __getattr__


_Variables = SimpleNamespace(value=_VariableValues())


def load_dag(path: Path) -> tuple[Any, list[str]]:
    """The DAG in `path` and the problems Airflow reports while importing it."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(path))
    problems = [f"import error: {error.strip().splitlines()[-1]}"
                for error in bag.import_errors.values()]
    problems += [f"DAG warning: {warning.message}" for warning in bag.dag_warnings]
    dag = next(iter(bag.dags.values()), None)
    if dag is None and not problems:
        problems.append("no DAG in the file")
    return dag, problems


def render_task(dag: Any, task: Any, run_id: str = SAMPLE_RUN_ID) -> dict[str, Any]:
    """Render the task's templates as Airflow does at run time; the context used."""
    ti = SimpleNamespace(dag_id=dag.dag_id, task_id=task.task_id, map_index=-1, try_number=1,
                         xcom_pull=lambda task_ids=None, **_: f"xcom-of-{task_ids}",
                         get_ti_count=lambda **_: 0)  # task states live in the database
    context = {"ti": ti, "task": task, "dag": dag, "run_id": run_id, "ds": "2026-01-01",
               "prev_ds": "2025-12-31", "ds_nodash": "20260101", "ts": "2026-01-01T00:00:00",
               "var": _Variables}
    task.render_template_fields(context, dag.get_template_env())
    return context


def manifest(dag: Any, task: Any, run_id: str = SAMPLE_RUN_ID) -> dict[str, Any] | None:
    """What the task sends to Kubernetes: its pod, or its volume claim; None for others
    (operators of other services, custom resources).

    Pods are built with `dry_run=True`, which skips only the probe of a live Kubernetes API.
    """
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.providers.cncf.kubernetes.operators.resource import (
        KubernetesCreateResourceOperator,
    )
    from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import (
        SparkKubernetesOperator,  # sends a SparkApplication, which has no schema here
    )
    from kubernetes.client import ApiClient

    if isinstance(task, KubernetesPodOperator) and not isinstance(task, SparkKubernetesOperator):
        pod = task.build_pod_request_obj(render_task(dag, task, run_id), dry_run=True)
        return ApiClient().sanitize_for_serialization(pod)
    if isinstance(task, KubernetesCreateResourceOperator):
        render_task(dag, task, run_id)
        return json.loads(task.yaml_conf)
    return None


def manifests(dag: Any, run_id: str = SAMPLE_RUN_ID) -> dict[str, dict[str, Any]]:
    """The manifest of every task that sends one to Kubernetes, by task id."""
    found = {task.task_id: manifest(dag, task, run_id) for task in dag.tasks}
    return {task_id: m for task_id, m in found.items() if m is not None}


def schema_problems(manifest: dict[str, Any], k8s_version: str) -> list[str]:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(manifest, k8s_version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        field = ".".join(str(part) for part in exc.path) or "(top level)"
        return [f"{field}: {exc.message}"]
    return []


def check_file(path: Path, k8s_version: str) -> list[str]:
    """Every problem found in the DAG file, each naming the task and the field."""
    dag, problems = load_dag(path)
    if dag is None or problems:
        return problems
    for task in dag.tasks:
        try:
            built = manifest(dag, task)
        except Exception as exc:  # the operator's own failure, reported per task
            problems.append(f"task {task.task_id}: cannot build the pod: "
                            f"{type(exc).__name__}: {exc}")
            continue
        if built is not None:
            problems += [f"task {task.task_id}: {p}" for p in schema_problems(built, k8s_version)]
    return problems


def default_k8s_version() -> str:
    try:
        import kubernetes_validate
    except ImportError:
        raise CompileError(f"--validate needs the 'validate' extra: run {_EXTRA_HINT}") from None
    return ".".join(kubernetes_validate.latest_version().split(".")[:2])


def validate_in_subprocess(path: Path, k8s_version: str | None) -> str:
    """Raise CompileError naming the first problem; the Kubernetes version checked against."""
    version = k8s_version or default_k8s_version()
    result = subprocess.run(
        [sys.executable, "-m", "kedro_airflow_k8s.validate", str(path), "--k8s-version",
         version], capture_output=True, text=True, timeout=600,
    )
    if result.returncode == 3:
        raise CompileError(f"--validate needs the 'validate' extra: run {_EXTRA_HINT}")
    try:
        problems = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise CompileError(f"--validate: the check of {path} failed: {tail}") from None
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CompileError(f"--validate: {path.name}: {problems[0]}{more}")
    return version


def validate_text(text: str, filename: str, k8s_version: str | None) -> str:
    """Check a DAG file's text before it is written anywhere; the Kubernetes version used."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="kedro-airflow-k8s-validate-") as folder:
        path = Path(folder) / filename
        path.write_text(text, encoding="utf-8")
        return validate_in_subprocess(path, k8s_version)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--k8s-version", required=True)
    args = parser.parse_args(argv)
    try:
        import airflow.providers.cncf.kubernetes  # noqa: F401
        import kubernetes_validate  # noqa: F401
    except ImportError:
        return 3
    problems = check_file(args.path, args.k8s_version)
    print(json.dumps(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
