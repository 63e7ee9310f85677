"""The DAG file's runtime code (kedro_airflow_k8s.dag_runtime), run directly: the Jinja filters,
the operators (the real KubernetesPodOperator and BashOperator, real kubernetes client models),
and the copy of their source into a DAG file. tests/test_node_pod.py and tests/test_node_bash.py
run the same code through generated files."""

from __future__ import annotations

import ast
import datetime
from typing import Any

import pytest
import yaml
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from kubernetes.client import models as k8s

from kedro_airflow_k8s import dag_runtime, dagspec, validate
from kedro_airflow_k8s.dag_runtime import filters, operators
from kedro_airflow_k8s.dag_runtime import source as runtime_source
from kedro_airflow_k8s.render import render_dag
from tests.golden.configs import chain, compiled, run


def test_the_run_hash_is_16_hex_characters_of_the_run_id():
    one = filters.kedro_run_hash("manual__2026-01-01T00:00:00+00:00")
    assert len(one) == 16 and int(one, 16) >= 0
    assert one == filters.kedro_run_hash("manual__2026-01-01T00:00:00+00:00")
    assert one != filters.kedro_run_hash("manual__2026-01-01T00:00:01+00:00")


@pytest.mark.parametrize("value", ["plain_word-1.5+", "a, b", "x=${y}", "naïve", "", 3, True,
                                   "line\nbreak", '"quoted"'])
def test_a_param_reads_back_as_its_text_and_holds_no_comma(value):
    """Kedro splits `--params` at every ',' and reads each value as YAML."""
    text = filters.kedro_param(value)
    assert "," not in text
    assert str(yaml.safe_load(text) if text else "") == str(value).replace("${", "\\${")


def test_a_plain_word_param_goes_as_it_is():
    assert filters.kedro_param("model_v2.1") == "model_v2.1"


@pytest.mark.parametrize("value", ["a, b", 1.5, None, False, [1, "x, y", {"k": [2]}],
                                   {"a": {"b": "c,d"}, "1": []}, [], {}])
def test_kedro_yaml_reads_back_as_the_value_and_holds_no_comma(value):
    text = filters.kedro_yaml(value)
    assert "," not in text
    assert yaml.safe_load(text) == value


def test_only_the_changed_params_go_to_kedro_run(monkeypatch):
    monkeypatch.setattr(filters, "KEDRO_PARAMETERS", {"rate": 0.1, "name": "a", "sizes": [1]})
    assert filters.kedro_changed_params({"rate": 0.1, "name": "a", "sizes": [1]}) == ""
    assert filters.kedro_changed_params({"rate": 0.2, "name": "b, c", "other": 1}, ",") == \
        ',rate=0.2,name="b\\u002c c"'
    assert filters.kedro_changed_params({"sizes": [1, 2]}) == "sizes=\n- 1\n- 2"


def test_the_names_the_compiler_uses_are_the_runtime_code_s_own():
    assert dagspec.RUN_HASH_FILTER == "kedro_run_hash" == filters.kedro_run_hash.__name__
    assert dagspec.PARAM_FILTER == filters.kedro_param.__name__
    assert dagspec.CHANGED_PARAMS_FILTER == filters.kedro_changed_params.__name__
    read = {node.id for node in ast.walk(ast.parse(runtime_source(dagspec.CHANGED_PARAMS_FILTER)))
            if isinstance(node, ast.Name)}
    assert {dagspec.KEDRO_PARAMETERS, dagspec.KEDRO_YAML} <= read
    assert dagspec.NODE_POD.name == operators.NodePodOperator.__name__
    assert dagspec.NODE_BASH.name == operators.NodeBashOperator.__name__


def test_an_operator_s_copy_needs_only_the_imports_the_dag_file_has():
    """What the copied classes name from Airflow is what DEFINED_OPERATORS imports for them."""
    tree = ast.parse(dag_runtime.MODULES[1].read_text())
    imported = {(node.module, alias.name) for node in tree.body
                if isinstance(node, ast.ImportFrom) and node.module.startswith("airflow")
                for alias in node.names}
    assert imported == {pair for pairs in dagspec.DEFINED_OPERATORS.values() for pair in pairs}


@pytest.mark.parametrize("name", ["kedro_run_hash", "kedro_param", "kedro_changed_params",
                                  "kedro_yaml", *dagspec.RUNTIME_PIECES])
def test_the_copy_is_the_source_without_annotations(name):
    text = runtime_source(name)
    tree = ast.parse(text)
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    assert functions and all(n.returns is None for n in functions)
    assert all(a.annotation is None for n in functions for a in _parameters(n))
    assert ast.get_docstring(tree.body[0])  # docstrings and comments stay
    # the same statements as the module's, annotations aside
    module = next(n for n in ast.parse(next(
        m.read_text() for m in dag_runtime.MODULES if f" {name}(" in m.read_text())).body
        if getattr(n, "name", None) == name)
    for node in ast.walk(module):
        if isinstance(node, ast.FunctionDef):
            node.returns = None
            for a in _parameters(node):
                a.annotation = None
    assert ast.dump(module) == ast.dump(tree.body[0])


def _parameters(function: ast.FunctionDef) -> list[ast.arg]:
    arguments = function.args
    return [*arguments.args, *arguments.kwonlyargs,
            *(a for a in (arguments.vararg, arguments.kwarg) if a is not None)]


def test_the_copy_of_a_filter_is_the_text_dag_files_hold():
    assert runtime_source("kedro_changed_params") == '''\
def kedro_changed_params(params, before=""):
    """The run's Params that differ from KEDRO_PARAMETERS, as `kedro run --params` pairs
    (after `before`, when there are some)."""
    pairs = ",".join(f"{name}={kedro_yaml(params[name])}" for name, default in
                     KEDRO_PARAMETERS.items() if name in params and params[name] != default)
    return before + pairs if pairs else ""'''


def test_an_unknown_piece_is_refused():
    with pytest.raises(LookupError, match="defines no nothing_here"):
        runtime_source("nothing_here")


def test_the_dag_file_imports_nothing_of_the_plugin():
    spec = compiled(chain(), run(task_defaults={"retries": 1, "retry_on": "infrastructure"}))
    assert spec.node_pod_operator
    text = render_dag(spec)
    assert "class NodePodOperator(KubernetesPodOperator):" in text
    imported = {node.module if isinstance(node, ast.ImportFrom) else alias.name
                for node in ast.walk(ast.parse(text)) if isinstance(node, (ast.Import,
                                                                        ast.ImportFrom))
                for alias in node.names}
    assert not [name for name in imported if name.startswith("kedro_airflow_k8s")]


def _pod(*, reason: str | None = None, conditions: list[k8s.V1PodCondition] | None = None,
         container: str = "base", exit_code: int = 1,
         ended_reason: str = "Error") -> k8s.V1Pod:
    terminated = k8s.V1ContainerStateTerminated(exit_code=exit_code, reason=ended_reason)
    return k8s.V1Pod(status=k8s.V1PodStatus(
        reason=reason, conditions=conditions, container_statuses=[k8s.V1ContainerStatus(
            name=container, image="demo:1", image_id="", ready=False, restart_count=0,
            state=k8s.V1ContainerState(terminated=terminated))]))


def _pod_operator() -> operators.NodePodOperator:
    return operators.NodePodOperator(task_id="node", image="demo:1", name="node")


def test_the_node_s_own_exit_code_is_its_error():
    assert _pod_operator().node_error(_pod(exit_code=2)) == \
        "the node's code failed: exit code 2"


@pytest.mark.parametrize("pod", [
    None,
    k8s.V1Pod(),
    _pod(reason="Evicted"),
    _pod(conditions=[k8s.V1PodCondition(type="DisruptionTarget", status="True")]),
    _pod(exit_code=137, ended_reason="OOMKilled"),
    _pod(exit_code=137),
    _pod(exit_code=143),
    _pod(container="sidecar"),
    k8s.V1Pod(status=k8s.V1PodStatus(phase="Pending")),
], ids=["no-pod", "no-status", "evicted", "disrupted", "oom", "killed", "terminated",
        "other-container", "never-ran"])
def test_what_the_cluster_ended_is_no_error_of_the_node(pod):
    assert _pod_operator().node_error(pod) is None


def _bash(command: str) -> tuple[Any, operators.NodeBashOperator]:
    with DAG("runtime", schedule=None, start_date=datetime.datetime(2026, 1, 1)) as dag:
        task = operators.NodeBashOperator(task_id="node", bash_command=command)
    return dag, task


def _execute(command: str) -> Any:
    dag, task = _bash(command)
    context = validate.render_task(dag, task)
    context.pop("task_state_store", None)  # Airflow's database
    return task.execute(context)


@pytest.mark.parametrize("command", ["exit 1", "exit 2", "exit 125"])
def test_an_error_exit_fails_the_task_at_once(command):
    with pytest.raises(AirflowFailException, match="exit code"):
        _execute(command)


@pytest.mark.parametrize("command", ["kill -KILL $$", "exit 137", "exit 126", "exit 127"])
def test_a_killed_or_unstarted_process_fails_the_try(command):
    with pytest.raises(AirflowException) as failure:
        _execute(command)
    assert type(failure.value) is AirflowException


def test_a_process_that_succeeds_returns_its_output():
    assert _execute("echo done") == "done"
