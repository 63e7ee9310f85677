"""retry_on in local execution: the DAG file's NodeBashOperator spends retries on a `kedro run`
the worker killed, not on an error of the node's code.

The generated file is imported with Airflow's DagBag and its node task runs, unchanged,
through the real BashOperator and SubprocessHook; only the interpreter
(`run_config.local.python`) is a small script that ends as `python -m kedro run` would: a
Python exception (exit 1), a SIGKILL or SIGTERM, an exit code 137, no interpreter at all.
Airflow's task runner fails a task without retrying on AirflowFailException and retries one
that raised any other AirflowException while tries remain, so the exception class is the
outcome (tests/e2e/test_airflow.py shows it on a real Airflow).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kedro_airflow_k8s import validate
from kedro_airflow_k8s.render import render_dag, write_atomically
from tests.golden.configs import chain, compiled, run

ENDINGS = {
    "raises": "exec python3 -c 'raise ValueError(\"the node failed\")'",
    "usage-error": "exit 2",
    "sigkill": "kill -KILL $$",
    "sigterm": "kill -TERM $$",
    "exit-137": "exit 137",
    "succeeds": "exit 0",
}


def _node_task(tmp_path: Path, ending: str | None, **settings: Any) -> tuple[Any, Any]:
    """The local DAG of a two-node chain whose `kedro run` ends as ENDINGS[ending] says
    (None: its interpreter does not exist), imported by DagBag."""
    python = tmp_path / "python"
    if ending is not None:
        python.write_text(f"#!/bin/sh\n{ENDINGS[ending]}\n")
        python.chmod(0o755)
    spec = compiled(chain(), run(execution="local", local={
        "project_path": str(tmp_path), "python": str(python)}, **settings))
    path = tmp_path / "dags" / "demo.py"
    write_atomically(path, render_dag(spec))
    dag, problems = validate.load_dag(path)
    assert problems == []
    return dag, dag.get_task("clean_orders")


def _execute(dag: Any, task: Any) -> Any:
    """One try of the task, as a worker runs it."""
    context = validate.render_task(dag, task)
    context.pop("task_state_store", None)  # Airflow's database
    return task.execute(context)


RETRIES = {"task_defaults": {"retries": 2}}


@pytest.mark.parametrize("ending", ["raises", "usage-error"])
def test_an_error_of_the_nodes_code_fails_the_task_without_retrying(tmp_path, ending):
    from airflow.sdk.exceptions import AirflowFailException

    dag, task = _node_task(tmp_path, ending, **RETRIES)
    assert type(task).__name__ == "NodeBashOperator" and task.retries == 2
    with pytest.raises(AirflowFailException, match="non-zero exit code [12]"):
        _execute(dag, task)


@pytest.mark.parametrize("ending", ["sigkill", "sigterm", "exit-137", None],
                         ids=["sigkill", "sigterm", "exit-137", "no-interpreter"])
def test_a_killed_or_unstarted_process_fails_the_try_and_is_retried(tmp_path, ending):
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    dag, task = _node_task(tmp_path, ending, **RETRIES)
    with pytest.raises(AirflowException) as failed:
        _execute(dag, task)
    assert not isinstance(failed.value, AirflowFailException), failed.value


def test_a_process_that_succeeds_succeeds(tmp_path):
    dag, task = _node_task(tmp_path, "succeeds", **RETRIES)
    _execute(dag, task)


def test_retry_on_any_and_no_retries_keep_the_plain_bash_operator(tmp_path):
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    dag, task = _node_task(tmp_path, "raises",
                           task_defaults={"retries": 2, "retry_on": "any"})
    assert type(task) is BashOperator
    with pytest.raises(AirflowException) as failed:
        _execute(dag, task)
    assert not isinstance(failed.value, AirflowFailException)
    dag, task = _node_task(tmp_path, "raises")
    assert type(task) is BashOperator
