"""Preflight of a generated DAG file: Airflow's DagBag imports it, every pod and the volume
claim are built as Airflow would at run time and validated against the Kubernetes schema,
then against the API server's own rules (apiserver_checks).

Runs in a child process (`python -m kedro_airflow_k8s.validate FILE --k8s-version V`) so
that importing Airflow never slows or disturbs the CLI; needs the `validate` extra.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

from kedro_airflow_k8s.apiserver_checks import check_manifest
from kedro_airflow_k8s.errors import CompileError

if TYPE_CHECKING:
    from airflow.sdk import Context

SAMPLE_RUN_ID = "manual__2026-01-01T00:00:00.000000+00:00"
_EXTRA_HINT = "pip install 'kedro-airflow-k8s[validate]'"


class _VariableValues:
    """Stands in for Airflow's `var.value` (`.get(name)`, `.name`, `[name]`): Variables live in
    the metadata database, which a preflight has not. Airflow's own environment backend
    (AIRFLOW_VAR_<NAME>) answers first."""

    def get(self, name: str, default: Any = None) -> str:
        from airflow.secrets.environment_variables import EnvironmentVariablesBackend

        found = EnvironmentVariablesBackend().get_variable(name)
        return f"variable-{name}" if found is None else found

    def __getattr__(self, name: str) -> str:
        return self.get(name)

    __getitem__ = __getattr__


_Variables = SimpleNamespace(value=_VariableValues())


# Context values a task reads from the metadata database at run time (lazily): samples here.
_SAMPLE_PREVIOUS = ("prev_data_interval_start_success", "prev_data_interval_end_success",
                    "prev_start_date_success", "prev_end_date_success")
SAMPLE_LOGICAL_DATE = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def template_context(task: Any, run_id: str = SAMPLE_RUN_ID,
                     dated: bool = True) -> dict[str, Any]:
    """The context Airflow itself builds for `task` in a run with a logical date (without
    one, as an asset-triggered run, when not `dated`; its RuntimeTaskInstance), with
    stand-ins only for what needs the metadata database."""
    import uuid

    from airflow.sdk.api.datamodels._generated import DagRun, TIRunContext
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    date = SAMPLE_LOGICAL_DATE
    logical = date if dated else None
    run = DagRun(dag_id=task.dag_id, run_id=run_id, logical_date=logical,
                 data_interval_start=logical, data_interval_end=logical, run_after=date,
                 start_date=date, end_date=None,
                 run_type="manual" if dated else "asset_triggered", state="running",
                 consumed_asset_events=[], partition_key=None)
    class PreflightTaskInstance(RuntimeTaskInstance):
        def xcom_pull(self, task_ids: Any = None, *args: Any, **kwargs: Any) -> str:
            return f"xcom-of-{task_ids}"  # no XCom backend here

        @staticmethod
        def get_ti_count(*args: Any, **kwargs: Any) -> int:
            return 0  # task states live in the metadata database

    # set without validation, as model_construct is for: no DAG bundle exists at compile time
    fields: dict[str, Any] = {
        "id": uuid.UUID(int=0), "task_id": task.task_id, "dag_id": task.dag_id,
        "run_id": run_id, "try_number": 1, "dag_version_id": uuid.UUID(int=0),
        "map_index": -1, "task": task, "start_date": date, "max_tries": 0,
        "_ti_context_from_server": TIRunContext(dag_run=run, max_tries=0)}
    ti = PreflightTaskInstance.model_construct(**fields)
    context = dict(ti.get_template_context())
    context["var"] = _Variables
    for key in _SAMPLE_PREVIOUS:
        if key in context:
            context[key] = date - datetime.timedelta(days=1)
    return context


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
    context = template_context(task, run_id)
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
        _stand_in_connection(task.kubernetes_conn_id)
        # the template context Airflow itself builds, a plain dict once our stand-ins are in
        context = cast("Context", render_task(dag, task, run_id))
        pod = task.build_pod_request_obj(context, dry_run=True)
        sent: dict[str, Any] = ApiClient().sanitize_for_serialization(pod)
        return sent
    if isinstance(task, KubernetesCreateResourceOperator):
        render_task(dag, task, run_id)
        if task.yaml_conf is None:  # the compiler always writes the claim inline
            return None
        claim: dict[str, Any] = json.loads(task.yaml_conf)
        return claim
    return None


def _stand_in_connection(conn_id: str | None) -> None:
    """An empty Kubernetes connection for `conn_id` when none is defined here: connections
    live in Airflow's metadata database, and building a pod with an XCom sidecar reads one."""
    import os

    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    if not conn_id or conn_id == KubernetesHook.default_conn_name:  # the hook allows its absence
        return
    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps({"conn_type": "kubernetes"})


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


def asset_problems(assets: dict[str, str],
                   schedule: dict[str, str] | None = None) -> list[str]:
    """Each dataset (and reference of the schedule on data) whose Asset Airflow refuses, as
    it builds it from the file: the URI through the scheme's normaliser of every provider
    installed here."""
    import warnings

    from airflow.sdk import Asset

    problems = []
    for (kind, name), uri in [*(((None, k), v) for k, v in assets.items()),
                              *((("schedule", k), v) for k, v in (schedule or {}).items())]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # a dropped password is a problem too
                Asset(uri)
        except (ValueError, TypeError, UserWarning) as exc:
            if kind == "schedule":
                problems.append(f"schedule_on: {name!r}: Airflow refuses its asset URI "
                                f"{uri!r}: {exc} (change --on-assets or "
                                "run_config.schedule_on)")
                continue
            problems.append(f"dataset '{name}': Airflow refuses its asset URI {uri!r}: "
                            f"{exc} (change its location in the catalog or leave it out with "
                            "run_config.assets.exclude)")
    return problems


def check_file(path: Path, k8s_version: str, assets: dict[str, str] | None = None,
               schedule: dict[str, str] | None = None) -> list[str]:
    """Every problem found in the DAG file, each naming the task and the field; with
    `assets` (dataset -> URI, the file's ASSETS), each Airflow refuses, naming the dataset;
    with `schedule` (reference -> URI), each of the schedule on data."""
    problems = asset_problems(assets or {}, schedule)
    if problems:
        return problems
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
            found = schema_problems(built, k8s_version) or check_manifest(built, k8s_version)
            problems += [f"task {task.task_id}: {p}" for p in found]
    return problems


def default_k8s_version() -> str:
    try:
        import kubernetes_validate
    except ImportError:
        raise CompileError(f"--validate needs the 'validate' extra: run {_EXTRA_HINT}") from None
    return ".".join(kubernetes_validate.latest_version().split(".")[:2])


def validate_in_subprocess(path: Path, k8s_version: str | None,
                           assets: dict[str, str] | None = None,
                           schedule: dict[str, str] | None = None) -> str:
    """Raise CompileError naming the first problem; the Kubernetes version checked against."""
    version = k8s_version or default_k8s_version()
    result = subprocess.run(
        [sys.executable, "-m", "kedro_airflow_k8s.validate", str(path), "--k8s-version",
         version, "--assets", json.dumps(assets or {}),
         "--schedule-assets", json.dumps(schedule or {})], capture_output=True, text=True,
        timeout=600,
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


def validate_text(text: str, filename: str, k8s_version: str | None,
                  assets: dict[str, str] | None = None,
                  schedule: dict[str, str] | None = None) -> str:
    """Check a DAG file's text before it is written anywhere; the Kubernetes version used."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="kedro-airflow-k8s-validate-") as folder:
        path = Path(folder) / filename
        path.write_text(text, encoding="utf-8")
        return validate_in_subprocess(path, k8s_version, assets, schedule)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--k8s-version", required=True)
    parser.add_argument("--assets", type=json.loads, default={},
                        help="JSON: dataset name -> Asset URI, as the file declares them")
    parser.add_argument("--schedule-assets", type=json.loads, default={},
                        help="JSON: schedule_on reference -> Asset URI")
    args = parser.parse_args(argv)
    try:
        import airflow.providers.cncf.kubernetes  # noqa: F401 - only whether it is installed
        import kubernetes_validate  # noqa: F401 - only whether it is installed
    except ImportError:
        return 3
    problems = check_file(args.path, args.k8s_version, args.assets, args.schedule_assets)
    print(json.dumps(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
