"""Secrets are referenced by name: no value of a token, password or Secret reaches a DAG."""

import yaml

from tests.conftest import SECRET_VALUES, run_kedro, write_config


def test_credentials_in_the_environment_never_reach_the_dag(demo_project):
    config = yaml.safe_load((demo_project / "conf/base/airflow-k8s.yaml").read_text())
    config["run_config"].update({
        "secrets": [{"deploy_type": "env", "deploy_target": "DB_PASSWORD",
                     "secret": "db-credentials", "key": "password"}],
        "authentication": {"type": "Vars", "params": ["MLFLOW_TRACKING_PASSWORD"]},
        "variables_params": ["api_key"],
    })
    write_config(demo_project, config)
    env = {"AIRFLOW_API_TOKEN": "tok-s3cr3t-value", "AIRFLOW_API_PASSWORD": "pw-s3cr3t-value",
           "MLFLOW_TRACKING_PASSWORD": "pw-s3cr3t-value"}
    assert set(env.values()) <= SECRET_VALUES
    for execution in ("kubernetes", "local"):
        result = run_kedro(demo_project, "airflow-k8s", "compile", "--execution", execution,
                           "-o", f"dags/{execution}", env=env)
        assert result.returncode == 0, result.stderr
        text = (demo_project / "dags" / execution / "demo.py").read_text()
        for value in env.values():
            assert value not in text
            assert value not in result.stdout + result.stderr
    # the Secret and the Variable are there by name, for Kubernetes and Airflow to resolve
    text = (demo_project / "dags" / "kubernetes" / "demo.py").read_text()
    assert "Secret('env', 'DB_PASSWORD', 'db-credentials', 'password')" in text
    assert "var.value.api_key" in text
