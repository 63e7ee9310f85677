"""Which MLflow server a DAG uses, and what its tasks get to authenticate."""

import importlib.metadata

import pytest
import yaml

from kedro_airflow_k8s.config import AuthenticationConfig
from kedro_airflow_k8s.context import KedroProject
from kedro_airflow_k8s.mlflow_run import (
    STATUS_TEMPLATE,
    MlflowError,
    MlflowSettings,
    hand_over,
    settings_for,
    task_environment,
)
from kedro_airflow_k8s.mlflow_run.commands import _google_id_token
from tests import airflow_check
from tests.conftest import ROOT, run_kedro, use_kedro_mlflow, write_config


def test_mlflow_is_off_without_config_or_kedro_mlflow(demo_project):
    assert settings_for(KedroProject.at(path=demo_project), "demo") is None


def kedro_mlflow_installed():
    """These tests mean something only with the real kedro-mlflow (extra `test`)."""
    return importlib.metadata.distribution("kedro-mlflow").metadata["Name"] == "kedro_mlflow"


def compile_demo(project, **run_changes):
    """`kedro airflow-k8s compile` in a child process: Kedro's settings are read once per
    process, and these tests change the project's settings.py."""
    config = yaml.safe_load((project / "conf/base/airflow-k8s.yaml").read_text())
    config["run_config"].update(run_changes)
    write_config(project, config)
    result = run_kedro(project, "airflow-k8s", "compile")
    assert result.returncode == 0, result.stderr
    dag_id = run_changes.get("run_name", "demo")
    return result.stdout, airflow_check.load_dag(project / "dags" / f"{dag_id}.py")


def test_kedro_mlflow_names_the_experiment_and_compile_says_which(demo_project):
    assert kedro_mlflow_installed()
    use_kedro_mlflow(demo_project, {
        "server": {"mlflow_tracking_uri": "http://mlflow.example.com"},
        "tracking": {"experiment": {"name": "orders-tracking"},
                     "run": {"name": "${km.random_name:}"}}})
    out, dag = compile_demo(demo_project, experiment_name="orders", execution="local")
    notes = [line for line in out.splitlines() if "MLflow" in line]
    assert notes == ["Note: MLflow runs go to experiment 'orders-tracking', kedro-mlflow's "
                     "tracking.experiment.name, where its hooks log; not "
                     "run_config.experiment_name 'orders'."]
    assert "experiment_name:orders-tracking" in dag.tags
    train = dag.get_task("train")
    assert train.env["MLFLOW_TRACKING_URI"] == "http://mlflow.example.com"
    assert train.env["KEDRO_AIRFLOW_K8S_MLFLOW_RUN"] == "1"


def test_kedro_mlflow_default_experiment_is_the_package_name(demo_project):
    assert kedro_mlflow_installed()
    use_kedro_mlflow(demo_project, {"server": {"mlflow_tracking_uri": "http://m:5000"}})
    out, dag = compile_demo(demo_project, run_name="nightly",
                            mlflow={"tracking_uri": "http://plugin:5000"})
    assert "MLflow" not in out  # no experiment named in run_config: nothing to choose between
    assert "experiment_name:demo" in dag.tags  # the package name, as kedro-mlflow's default
    manifests = airflow_check.validate_all(dag)
    env = {e["name"]: e.get("value") for e in
           manifests["train"]["spec"]["containers"][0]["env"]}
    assert env["MLFLOW_TRACKING_URI"] == "http://plugin:5000"  # run_config.mlflow wins
    assert env["KEDRO_AIRFLOW_K8S_MLFLOW_RUN"] == "1"


def test_kedro_mlflow_disabled_in_settings_is_left_alone(demo_project):
    assert kedro_mlflow_installed()
    (demo_project / "conf/base/mlflow.yml").write_text(
        "server:\n  mlflow_tracking_uri: http://mlflow.example.com\n")
    out, dag = compile_demo(demo_project)  # the demo names kedro_mlflow in DISABLE_HOOKS...
    assert "MLflow" not in out and "start-mlflow-run" not in dag.task_ids
    _, dag = compile_demo(demo_project, mlflow={"tracking_uri": "http://m:5000"},
                          execution="local")
    assert "KEDRO_AIRFLOW_K8S_MLFLOW_RUN" not in dag.get_task("train").env
    assert "experiment_name:demo" in dag.tags


def test_kedro_mlflow_init_without_a_server_says_tracking_is_off(demo_project):
    assert kedro_mlflow_installed()
    use_kedro_mlflow(demo_project)
    init = run_kedro(demo_project, "mlflow", "init")
    assert init.returncode == 0, init.stdout + init.stderr
    written = yaml.safe_load((demo_project / "conf/local/mlflow.yml").read_text())
    assert written["server"]["mlflow_tracking_uri"] is None
    result = run_kedro(demo_project, "airflow-k8s", "compile")
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stdout.splitlines() if "MLflow" in line]
    assert notes == ["Note: MLflow tracking is off for this DAG: kedro-mlflow is installed, "
                     "but its mlflow.yml (conf, env 'local') sets no "
                     "server.mlflow_tracking_uri and run_config.mlflow is not set; set either "
                     "to your tracking server for one MLflow run per DAG run."]
    assert "mlflow" not in (demo_project / "dags" / "demo.py").read_text().lower()


def test_run_config_mlflow_wins_and_names_the_experiment(demo_project):
    config = yaml.safe_load((demo_project / "conf/base/airflow-k8s.yaml").read_text())
    config["run_config"]["experiment_name"] = "orders"
    config["run_config"]["mlflow"] = {"tracking_uri": "http://m:5000"}
    write_config(demo_project, config)
    assert settings_for(KedroProject.at(path=demo_project), "demo") == MlflowSettings(
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


@pytest.mark.parametrize("execution", ["kubernetes", "local"])
def test_the_dag_ends_the_run_with_the_dag_runs_outcome(demo_project, execution, monkeypatch):
    """One task, trigger rule all_done, sets FINISHED or FAILED from the DAG run's task
    states; the nodes of a kedro-mlflow project are told to leave the run open."""
    assert kedro_mlflow_installed()
    use_kedro_mlflow(demo_project)
    _, dag = compile_demo(demo_project, mlflow={"tracking_uri": "http://mlflow.example.com"},
                          execution=execution)
    end = dag.get_task("end-mlflow-run")
    assert end.trigger_rule == "all_done"
    assert end.upstream_task_ids == {"report", "start-mlflow-run"}
    result = dag.get_task("pipeline-result")  # the DAG run still fails when a node failed
    assert result.trigger_rule == "all_success" and result.upstream_task_ids == {"report"}

    asked = []

    def get_ti_count(**query):
        asked.append(query)
        return failed

    for failed, status in ((0, "FINISHED"), (2, "FAILED")):  # noqa: B007 - read by the closure above
        context = airflow_check.render_task(dag, end)
        # task states live in Airflow's database: the count is answered here
        monkeypatch.setattr(type(context["ti"]), "get_ti_count", staticmethod(get_ti_count))
        end = dag.get_task("end-mlflow-run")
        rendered = end.render_template(STATUS_TEMPLATE, context)
        assert rendered == status
    assert asked[-1] == {"dag_id": dag.dag_id, "run_ids": [airflow_check.RUN_ID],
                         "states": ["failed", "upstream_failed"]}

    if execution == "kubernetes":
        assert "end-mlflow-run" in dag.get_task("delete-data-volume").upstream_task_ids
        pods = airflow_check.validate_all(dag)
        args = pods["end-mlflow-run"]["spec"]["containers"][0]["args"]
        assert args == ["airflow-k8s", "-e", "local", "mlflow-end", "--run-id",
                        "xcom-of-start-mlflow-run", "--status", "FINISHED"]
        node_env = {e["name"]: e.get("value")
                    for e in pods["train"]["spec"]["containers"][0]["env"]}
    else:
        assert end.env["MLFLOW_RUN_STATUS"] == "FINISHED"  # rendered above
        assert end.env["MLFLOW_RUN_ID"] == "xcom-of-start-mlflow-run"
        assert ' mlflow-end --run-id "$MLFLOW_RUN_ID" --status "$MLFLOW_RUN_STATUS"' in \
            end.bash_command
        train = dag.get_task("train")
        airflow_check.render_task(dag, train)
        node_env = train.env
    assert node_env["KEDRO_AIRFLOW_K8S_MLFLOW_RUN"] == "1"
    assert node_env["MLFLOW_RUN_ID"] == "xcom-of-start-mlflow-run"


def test_the_hook_that_keeps_the_run_open_is_a_kedro_hooks_entry_point():
    import configparser

    from kedro.framework.hooks.markers import HOOK_NAMESPACE

    from kedro_airflow_k8s.mlflow_run.hook import DagRunHook, dag_run_hook

    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    hooks = setup["options.entry_points"]["kedro.hooks"].split()
    assert hooks == ["airflow_k8s_mlflow", "=", "kedro_airflow_k8s.mlflow_run.hook:dag_run_hook"]
    assert isinstance(dag_run_hook, DagRunHook)
    for name, option in (("after_context_created", "tryfirst"),
                         ("after_pipeline_run", "trylast"), ("on_pipeline_error", "trylast")):
        marker = getattr(getattr(DagRunHook, name), f"{HOOK_NAMESPACE}_impl")
        assert marker[option] is True, name


def test_the_hook_entry_point_loads_and_the_mlflow_package_leaves_mlflow_unimported():
    import subprocess
    import sys

    code = ("import sys; from importlib.metadata import entry_points; "
            "hook = [e for e in entry_points(group='kedro.hooks') "
            "if e.name == 'airflow_k8s_mlflow'][0].load(); "
            "import kedro_airflow_k8s.mlflow_run as m; "
            "assert m.START_TASK == 'start-mlflow-run' and m.END_TASK == 'end-mlflow-run'; "
            "print(type(hook).__name__, 'mlflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["DagRunHook", "False"]
