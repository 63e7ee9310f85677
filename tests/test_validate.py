"""`--validate`: the preflight that runs Airflow's DagBag and the Kubernetes schema."""

import sys

import pytest
import yaml

from kedro_airflow_k8s import validate as preflight
from kedro_airflow_k8s.errors import CompileError
from tests.conftest import run_kedro, write_config


def test_compile_validate_passes_the_demo(demo_project):
    result = run_kedro(demo_project, "airflow-k8s", "compile", "--validate",
                       "--k8s-version", "1.35")
    assert result.returncode == 0, result.stderr
    assert ("Validated demo: Airflow imports it, every pod fits Kubernetes 1.35."
            in result.stdout)
    assert (demo_project / "dags" / "demo.py").exists()


def test_compile_validate_names_the_task_and_writes_nothing(demo_project):
    config = yaml.safe_load((demo_project / "conf/base/airflow-k8s.yaml").read_text())
    config["run_config"]["kubernetes_pod_templates"]["gpu"]["template"] = {
        "apiVersion": "v1", "kind": "Pod",
        "spec": {"containers": [{"name": "base", "ports": [{"containerPort": "http"}]}]}}
    write_config(demo_project, config)
    result = run_kedro(demo_project, "airflow-k8s", "compile", "--validate")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "Error: --validate: demo.py: task train: cannot build the pod: ValueError: invalid "
        "literal for int() with base 10: 'http'")
    assert not (demo_project / "dags").exists()


def test_import_errors_are_reported(tmp_path):
    with pytest.raises(CompileError) as error:
        preflight.validate_text("from airflow.sdk import DAG\nDAG(\n", "broken.py", "1.37")
    assert str(error.value).startswith("--validate: broken.py: import error: ")
    assert "SyntaxError" in str(error.value)


def test_schema_problems_name_the_field():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "base", "image": "i", "args": "not-a-list"}]}}
    problems = preflight.schema_problems(pod, "1.37")
    assert problems == ["spec.containers.0.args: 'not-a-list' is not of type 'array', 'null'"]
    pod["spec"]["containers"][0]["args"] = ["ok"]
    pod["spec"]["bogus"] = True
    assert preflight.schema_problems(pod, "1.37")[0].startswith("spec: Additional properties")


def test_without_the_extra_a_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "kubernetes_validate", None)
    with pytest.raises(CompileError) as error:
        preflight.default_k8s_version()
    assert str(error.value) == ("--validate needs the 'validate' extra: run pip install "
                                "'kedro-airflow-k8s[validate]'")


def test_schedule_validates_before_uploading(demo_project, tmp_path):
    out = tmp_path / "dags"
    result = run_kedro(demo_project, "airflow-k8s", "schedule", "-c", "@continuous",
                       "-o", str(out), "--validate", "--k8s-version", "1.35")
    assert result.returncode == 0, result.stderr
    assert ("Validated demo: Airflow imports it, every pod fits Kubernetes 1.35."
            in result.stdout)
    assert "max_active_runs=1" in (out / "demo.py").read_text()


def test_the_plugins_list_of_context_names_is_the_installed_airflows(demo_project, tmp_path):
    """compile checks macro_params against a hand-kept list (it must not import Airflow):
    the list is exactly what Airflow's own RuntimeTaskInstance gives a task's templates."""
    from kedro_airflow_k8s.airflow_context import CONTEXT_KEYS, REMOVED
    from kedro_airflow_k8s.compiler import compile_project
    from kedro_airflow_k8s.context import KedroProject
    from kedro_airflow_k8s.render import render_dag
    from tests import airflow_check

    path = tmp_path / "demo.py"
    path.write_text(render_dag(compile_project(KedroProject(path=demo_project))))
    dag = airflow_check.load_dag(path)
    context = preflight.template_context(dag.get_task("train"))
    assert set(context) == CONTEXT_KEYS
    assert CONTEXT_KEYS.isdisjoint(REMOVED)


def test_validate_renders_with_airflows_context_only(demo_project):
    """A DAG file using an Airflow 2 name (written by hand or by an older plugin) fails the
    preflight, as it would fail every task on Airflow 3."""
    from kedro_airflow_k8s.compiler import compile_project
    from kedro_airflow_k8s.context import KedroProject
    from kedro_airflow_k8s.render import render_dag

    text = render_dag(compile_project(KedroProject(path=demo_project)))
    assert "ds={{ ds | kedro_param }}" in text
    with pytest.raises(CompileError) as error:
        preflight.validate_text(text.replace("{{ ds |", "{{ prev_ds |"), "demo.py",
                                "1.37")
    assert "'prev_ds' is undefined" in str(error.value)
