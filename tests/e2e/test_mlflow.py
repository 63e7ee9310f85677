"""MLflow: the start command against a real `mlflow server`, and one run per DAG run."""

import base64
import json
import re
import time
import urllib.request

import pytest
import yaml
from werkzeug import Response

from kedro_airflow_k8s.airflow_client import AirflowClient
from tests import airflow_check
from tests.conftest import SECRET_VALUES, run_kedro, use_kedro_mlflow, write_config

pytestmark = pytest.mark.e2e


def enable_mlflow(project, tracking_uri, **run_changes):
    config = yaml.safe_load((project / "conf/base/airflow-k8s.yaml").read_text())
    config["run_config"]["mlflow"] = {"tracking_uri": tracking_uri,
                                      "experiment_name": "demo-experiment"}
    config["run_config"].update(run_changes)
    write_config(project, config)
    return config


def client(url):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=url)


def start(project, run_id, env=None):
    return run_kedro(project, "airflow-k8s", "mlflow-start", "--dag-id", "demo",
                     "--airflow-run-id", run_id, "--image", "registry.example.com/demo:1",
                     env=env)


def test_start_creates_the_experiment_and_one_run_per_dag_run(demo_project, mlflow_server):
    enable_mlflow(demo_project, mlflow_server.url)
    first = start(demo_project, "manual__1")
    assert first.returncode == 0, first.stderr
    run_id = first.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"[0-9a-f]{32}", run_id)
    run = client(mlflow_server.url).get_run(run_id)
    assert run.data.tags["airflow.dag_id"] == "demo"
    assert run.data.tags["airflow.run_id"] == "manual__1"
    assert run.data.params == {"airflow.dag_id": "demo", "airflow.run_id": "manual__1",
                               "image": "registry.example.com/demo:1"}
    experiment = client(mlflow_server.url).get_experiment(run.info.experiment_id)
    assert experiment.name == "demo-experiment"
    second = start(demo_project, "manual__2")
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().splitlines()[-1] != run_id


def test_a_deleted_experiment_is_restored(demo_project, mlflow_server):
    enable_mlflow(demo_project, mlflow_server.url)
    mlflow = client(mlflow_server.url)
    experiment = mlflow.get_experiment_by_name("restored-experiment") or None
    config = yaml.safe_load((demo_project / "conf/base/airflow-k8s.yaml").read_text())
    config["run_config"]["mlflow"]["experiment_name"] = "restored-experiment"
    write_config(demo_project, config)
    experiment_id = experiment.experiment_id if experiment else \
        mlflow.create_experiment("restored-experiment")
    mlflow.delete_experiment(experiment_id)
    result = start(demo_project, "manual__3")
    assert result.returncode == 0, result.stderr
    assert mlflow.get_experiment(experiment_id).lifecycle_stage == "active"


def test_unreachable_mlflow_is_one_line(demo_project):
    from tests.conftest import free_port

    enable_mlflow(demo_project, f"http://127.0.0.1:{free_port()}")
    result = start(demo_project, "manual__4", env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: MLflow at http://127.0.0.1:")


def test_vars_authentication_through_a_checking_proxy(demo_project, mlflow_server, httpserver):
    """A loopback proxy in front of MLflow lets only the right basic-auth header through."""
    SECRET_VALUES.add("mlflow-s3cr3t-password")
    expected = "Basic " + base64.b64encode(b"kedro:mlflow-s3cr3t-password").decode()

    def proxy(request):
        if request.headers.get("Authorization") != expected:
            return Response("unauthorized", status=401)
        forwarded = urllib.request.Request(
            mlflow_server.url + request.full_path.rstrip("?"), method=request.method,
            data=request.get_data() or None,
            headers={"Content-Type": request.headers.get("Content-Type", "application/json")})
        with urllib.request.urlopen(forwarded) as answer:
            return Response(answer.read(), status=answer.status,
                            content_type=answer.headers.get("Content-Type"))

    httpserver.expect_request(re.compile(".*")).respond_with_handler(proxy)
    enable_mlflow(demo_project, httpserver.url_for("").rstrip("/"),
                  authentication={"type": "Vars", "params": ["MLFLOW_TRACKING_USERNAME",
                                                             "MLFLOW_TRACKING_PASSWORD"]})
    good = {"MLFLOW_TRACKING_USERNAME": "kedro",
            "MLFLOW_TRACKING_PASSWORD": "mlflow-s3cr3t-password"}
    result = start(demo_project, "manual__5", env=good)
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip().splitlines()[-1]
    assert client(mlflow_server.url).get_run(run_id).data.tags["airflow.run_id"] == "manual__5"
    bad = start(demo_project, "manual__6", env={**good, "MLFLOW_TRACKING_PASSWORD": "wrong",
                                                 "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
    assert bad.returncode == 1
    assert bad.stderr.strip().startswith(f"Error: MLflow at {httpserver.url_for('')}".rstrip("/"))
    assert "wrong" not in bad.stderr and "s3cr3t" not in bad.stdout + bad.stderr
    # the DAG passes the Variables by name, never their values
    compiled = run_kedro(demo_project, "airflow-k8s", "compile", env=good)
    assert compiled.returncode == 0, compiled.stderr
    text = (demo_project / "dags" / "demo.py").read_text()
    assert "var.value.MLFLOW_TRACKING_PASSWORD" in text
    assert "mlflow-s3cr3t-password" not in text


def test_kubernetes_dag_with_mlflow_imports_and_validates(demo_project, mlflow_server):
    enable_mlflow(demo_project, mlflow_server.url)
    result = run_kedro(demo_project, "airflow-k8s", "compile")
    assert result.returncode == 0, result.stderr
    dag = airflow_check.load_dag(demo_project / "dags" / "demo.py")
    start_task = dag.get_task("start-mlflow-run")
    assert start_task.do_xcom_push
    assert start_task.upstream_task_ids == {"create-data-volume"}
    assert "start-mlflow-run" in dag.get_task("clean_orders").upstream_task_ids
    manifests = airflow_check.validate_all(dag)
    env = {e["name"]: e.get("value") for e in
           manifests["train"]["spec"]["containers"][0]["env"]}
    assert env["MLFLOW_RUN_ID"] == "xcom-of-start-mlflow-run"
    assert env["MLFLOW_TRACKING_URI"] == mlflow_server.url
    assert env["TRAINING_DEVICE"] == "gpu"  # the pod template's env is kept beside it
    args = manifests["start-mlflow-run"]["spec"]["containers"][0]["args"]
    assert args[:6] == ["airflow-k8s", "-e", "local", "mlflow-start", "--dag-id", "demo"]
    end = manifests["end-mlflow-run"]["spec"]["containers"][0]
    assert end["args"] == ["airflow-k8s", "-e", "local", "mlflow-end", "--run-id",
                           "xcom-of-start-mlflow-run", "--status", "FINISHED"]
    assert dag.get_task("end-mlflow-run").trigger_rule == "all_done"
    assert dag.get_task("delete-data-volume").upstream_task_ids == {"end-mlflow-run",
                                                                    "report"}


@pytest.mark.parametrize("grouping", [{}, {"grouping": "pipeline", "grouping_mode": "watched"}],
                         ids=["per-node", "watched"])
def test_local_run_leaves_one_mlflow_run_with_every_nodes_metrics(
        demo_project, mlflow_server, airflow_server, grouping):
    """Every node's task logs into the DAG run's one MLflow run; in a watched group the
    producer's `kedro run` logs every node's."""
    config = enable_mlflow(demo_project, mlflow_server.url, execution="local",
                           run_name="mlflow-" + (grouping.get("grouping_mode") or "demo"),
                           **grouping)
    config["host"], config["output"] = airflow_server.url, str(airflow_server.dags)
    write_config(demo_project, config)
    result = run_kedro(demo_project, "airflow-k8s", "run-once", "--wait", "--timeout", "10",
                       env=airflow_server.auth_env())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    airflow_run = re.search(r"Triggered run (\S+), see ", result.stdout).group(1)
    mlflow = client(mlflow_server.url)
    experiment = mlflow.get_experiment_by_name("demo-experiment")
    runs = [r for r in mlflow.search_runs([experiment.experiment_id])
            if r.data.tags.get("airflow.run_id") == airflow_run]
    assert len(runs) == 1
    metrics = runs[0].data.metrics
    assert set(metrics) == {f"{name}.outputs" for name in (
        "clean_orders", "count_customers", "features.daily_totals", "features.scale",
        "train", "report")}
    json.dumps(metrics)
    assert runs[0].info.run_name == airflow_run
    assert runs[0].info.status == "FINISHED"  # set by end-mlflow-run


def airflow_request(server, method, path, body=None):
    request = urllib.request.Request(
        f"{server.url}{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json",
                 "Authorization": f"Bearer {server.token()}"})
    urllib.request.urlopen(request, timeout=30).close()


def airflow_run_id(result):
    return re.search(r"Triggered run (\S+), see ", result.stdout).group(1)


def runs_of(url, experiment_name, airflow_run):
    mlflow = client(url)
    experiment = mlflow.get_experiment_by_name(experiment_name)
    return [] if experiment is None else [
        r for r in mlflow.search_runs([experiment.experiment_id])
        if r.data.tags.get("airflow.run_id") == airflow_run]


def test_kedro_mlflow_logs_every_task_into_one_run_that_ends_with_the_dag_run(
        demo_project, mlflow_server, airflow_server):
    """The real kedro-mlflow, set up as a new user would (`kedro mlflow init`, then a server),
    its experiment named otherwise than run_config's. One node fails while a parallel one
    succeeds: every task still logs into the one run, which ends FAILED, named after the run.
    """
    use_kedro_mlflow(demo_project)
    init = run_kedro(demo_project, "mlflow", "init")
    assert init.returncode == 0, init.stdout + init.stderr
    mlflow_yml = demo_project / "conf/local/mlflow.yml"
    conf = yaml.safe_load(mlflow_yml.read_text())
    assert conf["tracking"]["experiment"]["name"] == "demo"
    conf["server"]["mlflow_tracking_uri"] = mlflow_server.url
    mlflow_yml.write_text(yaml.safe_dump(conf))
    # count_customers reads a parameter too: kedro-mlflow logs those of every task
    ingest = demo_project / "src/demo/pipelines/ingest/__init__.py"
    text = ingest.read_text()
    for old, new in (("def count_customers(orders: list[dict]) -> dict:",
                      "def count_customers(orders: list[dict], key: str) -> dict:"),
                     ('{o["customer"] for o in orders}', "{o[key] for o in orders}"),
                     ('node(count_customers, "orders",',
                      'node(count_customers, ["orders", "params:customer_key"],')):
        assert old in text
        text = text.replace(old, new)
    ingest.write_text(text)
    with (demo_project / "conf/base/parameters.yml").open("a") as params:
        params.write("customer_key: customer\n")
    # an order without a day: features.daily_totals fails, count_customers succeeds
    raw = demo_project / "data/01_raw/orders.json"
    raw.write_text(json.dumps([*json.loads(raw.read_text()),
                               {"customer": "dan", "amount": 7.0}]))
    config = yaml.safe_load((demo_project / "conf/base/airflow-k8s.yaml").read_text())
    config["host"], config["output"] = airflow_server.url, str(airflow_server.dags)
    config["run_config"].update(run_name="kedro-mlflow-demo", experiment_name="spaceflights",
                                execution="local")
    write_config(demo_project, config)

    result = run_kedro(demo_project, "airflow-k8s", "run-once", "--wait", "--timeout", "10",
                       env=airflow_server.auth_env())
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr
    assert "Note: MLflow runs go to experiment 'demo', kedro-mlflow's tracking.experiment" \
           ".name, where its hooks log; not run_config.experiment_name 'spaceflights'." \
           in result.stdout.splitlines()
    assert "failed tasks: features.daily_totals" in result.stderr
    airflow_run = airflow_run_id(result)
    assert runs_of(mlflow_server.url, "spaceflights", airflow_run) == []
    runs = runs_of(mlflow_server.url, "demo", airflow_run)
    assert len(runs) == 1
    run = runs[0]
    assert run.info.run_name == airflow_run
    assert run.info.status == "FAILED"
    assert run.data.params["min_amount"] == "1.0"  # clean_orders' task
    assert run.data.params["customer_key"] == "customer"  # count_customers' task
    assert {"clean_orders.outputs", "count_customers.outputs"} <= set(run.data.metrics)
    assert "features.daily_totals.outputs" not in run.data.metrics


def test_a_missing_variable_fails_the_task_naming_it(demo_project, mlflow_server,
                                                     airflow_server):
    """kedro-mlflow's experiment and run_config's agree; a Kedro param comes from an Airflow
    Variable nobody created: the node fails naming it, and the MLflow run ends FAILED."""
    use_kedro_mlflow(demo_project, {"server": {"mlflow_tracking_uri": mlflow_server.url}})
    config = yaml.safe_load((demo_project / "conf/base/airflow-k8s.yaml").read_text())
    config["host"], config["output"] = airflow_server.url, str(airflow_server.dags)
    config["run_config"].update(run_name="missing-variable-demo", experiment_name="demo",
                                execution="local", variables_params=["deploy_env"])
    write_config(demo_project, config)
    # with a reachable host the Variable is checked first: nothing is uploaded without it
    result = run_kedro(demo_project, "airflow-k8s", "run-once", "--wait", "--timeout", "10",
                       env=airflow_server.auth_env())
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr
    assert "airflow variables set deploy_env" in result.stderr
    assert not (airflow_server.dags / "missing-variable-demo.py").exists()
    # the Variable exists at upload and is deleted before the node runs: the run's own failure
    airflow = AirflowClient(airflow_server.url, environ=airflow_server.auth_env())
    airflow_request(airflow_server, "POST", "/api/v2/variables",
                    {"key": "deploy_env", "value": "prod"})
    result = run_kedro(demo_project, "airflow-k8s", "run-once", env=airflow_server.auth_env())
    airflow_request(airflow_server, "DELETE", "/api/v2/variables/deploy_env")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "MLflow" not in result.stdout  # the names agree: nothing to say
    airflow_run = airflow_run_id(result)
    progress = airflow.progress("missing-variable-demo", airflow_run)
    deadline = time.monotonic() + 600
    while progress.state not in ("success", "failed"):
        assert time.monotonic() < deadline, progress
        time.sleep(3)
        progress = airflow.progress("missing-variable-demo", airflow_run)
    assert progress.state == "failed" and progress.tasks["clean_orders"] == "failed", progress
    log = (airflow_server.home / "logs" / "dag_id=missing-variable-demo" /
           f"run_id={airflow_run}" / "task_id=clean_orders" / "attempt=1.log").read_text()
    assert "VARIABLE_NOT_FOUND: {'message': 'Variable deploy_env not found'}" in log
    assert "NOTSET" not in log and "not subscriptable" not in log
    runs = runs_of(mlflow_server.url, "demo", airflow_run)
    assert len(runs) == 1 and runs[0].info.status == "FAILED"
