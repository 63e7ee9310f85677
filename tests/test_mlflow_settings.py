"""Which MLflow server a DAG uses, and what its tasks get to authenticate."""

import importlib.util

import pytest

from kedro_airflow_k8s.config import AuthenticationConfig
from kedro_airflow_k8s.context import KedroProject
from kedro_airflow_k8s.mlflow_run import (
    MlflowError,
    MlflowSettings,
    _google_id_token,
    hand_over,
    settings_for,
    task_environment,
)
from tests.conftest import write_config


def test_mlflow_is_off_without_config_or_kedro_mlflow(demo_project):
    assert settings_for(KedroProject(path=demo_project), "demo") is None


def test_kedro_mlflow_config_switches_it_on(demo_project, monkeypatch):
    # kedro-mlflow itself is not installed here: only its presence is simulated; its
    # mlflow.yml is read through Kedro's config loader for real
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name == "kedro_mlflow" else real(name, *a))
    (demo_project / "conf/base/mlflow.yml").write_text(
        "server:\n  mlflow_tracking_uri: http://mlflow.example.com\n")
    settings = settings_for(KedroProject(path=demo_project), "demo")
    assert settings == MlflowSettings("http://mlflow.example.com", "demo")


def test_run_config_mlflow_wins_and_names_the_experiment(demo_project):
    import yaml

    config = yaml.safe_load((demo_project / "conf/base/airflow-k8s.yaml").read_text())
    config["run_config"]["experiment_name"] = "orders"
    config["run_config"]["mlflow"] = {"tracking_uri": "http://m:5000"}
    write_config(demo_project, config)
    assert settings_for(KedroProject(path=demo_project), "demo") == MlflowSettings(
        "http://m:5000", "orders")


def test_task_environment_by_auth_type():
    assert task_environment(AuthenticationConfig()) == {}
    assert task_environment(AuthenticationConfig(type="GoogleOAuth2")) == {}
    assert task_environment(AuthenticationConfig(type="Vars", params=["A", "B-2"])) == {
        "A": "{{ var.value.A }}", "B-2": "{{ var.value['B-2'] }}"}


def test_google_auth_needs_an_audience():
    with pytest.raises(MlflowError, match="GoogleOAuth2 needs GOOGLE_AUDIENCE"):
        _google_id_token({})


def test_hand_over_writes_the_pod_xcom_file(tmp_path, capsys):
    xcom = tmp_path / "xcom" / "return.json"
    hand_over("abc", xcom)  # no /airflow/xcom here: stdout only
    assert not xcom.exists() and capsys.readouterr().out == "abc\n"
    xcom.parent.mkdir()
    hand_over("abc", xcom)
    assert xcom.read_text() == '"abc"'
