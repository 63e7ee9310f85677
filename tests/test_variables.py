"""The Airflow Variables a DAG's tasks read, checked against Airflow before the upload (the
REST side runs against a real Airflow in tests/e2e/test_airflow.py)."""

import pytest
from kedro.pipeline import Pipeline, node

from kedro_airflow_k8s.config import parse_config
from kedro_airflow_k8s.errors import ConfigError
from kedro_airflow_k8s.variables import check_variables, used_variables
from tests.test_compiler import compile_pipeline
from tests.test_config import with_run

MLFLOW = {"tracking_uri": "http://mlflow.example.com"}


def identity(x):
    return x


@pytest.mark.parametrize("changes, expected", [
    ({}, {}),
    ({"variables_params": ["region", "bucket"]},
     {"region": "run_config.variables_params", "bucket": "run_config.variables_params"}),
    # Vars authentication: read by the MLflow tasks, only when MLflow is configured
    ({"variables_params": ["region"], "mlflow": MLFLOW,
      "authentication": {"type": "Vars", "params": ["MLFLOW_TRACKING_TOKEN", "region"]}},
     {"region": "run_config.variables_params",
      "MLFLOW_TRACKING_TOKEN": "run_config.authentication.params"}),
    ({"authentication": {"type": "Vars", "params": ["MLFLOW_TRACKING_TOKEN"]}}, {}),
])
def test_the_dag_names_the_variables_its_tasks_read(changes, expected):
    from kedro_airflow_k8s.mlflow_run import MlflowSettings

    mlflow = MlflowSettings(MLFLOW["tracking_uri"], "e") if "mlflow" in changes else None
    spec = compile_pipeline(Pipeline([node(identity, "a", "b", name="n")]), with_run(**changes),
                            mlflow=mlflow)
    assert spec.variables == expected
    run = parse_config(with_run(**changes)).run_config
    assert used_variables(run, "mlflow" in changes) == expected


def test_missing_variables_are_one_line_and_a_403_is_a_note(httpserver):
    """A stand-in for Airflow (pytest-httpserver): the suite's `airflow standalone` has one
    user, an admin, who may read every Variable, so the real one answers no 403 here."""
    from tests.test_airflow_client import fast_client

    url = httpserver.url_for("").rstrip("/")
    client = fast_client(url, AIRFLOW_API_TOKEN="t")
    httpserver.expect_request("/api/v2/variables/there").respond_with_json(
        {"key": "there", "value": "v", "description": None, "is_encrypted": False})
    for name in ("bucket", "region", "token"):
        httpserver.expect_request(f"/api/v2/variables/{name}").respond_with_json(
            {"detail": f"The Variable with key: `{name}` was not found"}, status=404)
    with pytest.raises(ConfigError) as error:
        list(check_variables(client, {"there": "run_config.variables_params",
                                      "region": "run_config.variables_params",
                                      "bucket": "run_config.variables_params",
                                      "token": "run_config.authentication.params"}))
    assert str(error.value) == (
        f"run_config.authentication.params: Airflow Variable 'token' does not exist in "
        f"Airflow at {url}, so every task reading it would fail when it runs "
        "(VARIABLE_NOT_FOUND): create it with `airflow variables set token <value>` (or "
        "Admin > Variables in the UI), or remove it from run_config.authentication.params; "
        f"run_config.variables_params: Airflow Variables 'bucket', 'region' do not exist in "
        f"Airflow at {url}, so every task reading them would fail when it runs "
        "(VARIABLE_NOT_FOUND): create them with `airflow variables set bucket <value>`, "
        "`airflow variables set region <value>` (or Admin > Variables in the UI), or remove "
        "them from run_config.variables_params")
    assert list(check_variables(client, {"there": "run_config.variables_params"})) == []

    httpserver.clear()
    httpserver.expect_request("/api/v2/variables/region").respond_with_json(
        {"detail": "Forbidden"}, status=403)
    notes = list(check_variables(client, {"region": "run_config.variables_params"}))
    assert notes == [f"Note: Variables not checked: Airflow at {url} denied reading them "
                     "(HTTP 403); the credential's role needs the Variables read permission "
                     "(can_read on Variables) for this check."]
