"""Kedro parameters as the DAG's Params, on a real Airflow 3 (`airflow standalone`, local
execution: each task a `kedro run` subprocess on the Airflow worker)."""

import json
import re

import pytest
from airflow_client.client.api.dag_api import DAGApi
from airflow_client.client.api.dag_run_api import DagRunApi

from kedro_airflow_k8s.airflow_client import AirflowClient
from tests.conftest import run_kedro
from tests.e2e.test_airflow import point_at

pytestmark = pytest.mark.e2e


def run_once(project, server, *args):
    result = run_kedro(project, "airflow-k8s", "run-once", "--wait", "--timeout", "10",
                       *args, env=server.auth_env())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    run_id = re.search(r"Run (kedro_airflow_k8s__\S+) succeeded\.", result.stdout).group(1)
    orders = json.loads((project / "data/02_intermediate/orders.json").read_text())
    return run_id, orders


def test_a_run_with_a_changed_parameter_writes_a_different_output(demo_project,
                                                                   airflow_server):
    point_at(demo_project, airflow_server, "params-demo", execution="local")
    first, default_orders = run_once(demo_project, airflow_server)
    # the parameters file's min_amount (1.0) drops the 0.5 order and the one without amount
    assert [o["amount"] for o in default_orders] == [12.5, 3.0, 20.0, 31.0]

    changed, orders = run_once(demo_project, airflow_server, "--params", "min_amount=10")
    assert [o["amount"] for o in orders] == [12.5, 20.0, 31.0]

    airflow = AirflowClient(airflow_server.url, environ=airflow_server.auth_env())
    param = DAGApi(airflow.api).get_dag_details("params-demo").params["min_amount"]
    assert (param["value"], param["schema"]) == (1.0, {"type": "number"})  # the form's field
    runs = DagRunApi(airflow.api)
    assert runs.get_dag_run("params-demo", first).conf in ({}, None)
    assert runs.get_dag_run("params-demo", changed).conf == {"min_amount": 10}


def test_run_once_params_errors_are_one_line(demo_project, airflow_server):
    point_at(demo_project, airflow_server, "params-errors", execution="local")
    result = run_kedro(demo_project, "airflow-k8s", "run-once", "--params", "max_amount=3",
                       env=airflow_server.auth_env())
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: --params: the DAG has no parameter max_amount (it has min_amount: Kedro "
        "parameters its nodes read)")
    assert not (airflow_server.dags / "params-errors.py").exists()  # refused before upload

    # the Param's type is checked before the upload too, as Airflow would check it
    result = run_kedro(demo_project, "airflow-k8s", "run-once", "--params", "min_amount=many",
                       env=airflow_server.auth_env())
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Error: --params: min_amount='many' is not a number (the type of its value in the "
        "parameters files, which the DAG's Param requires)"]
    assert not (airflow_server.dags / "params-errors.py").exists()
