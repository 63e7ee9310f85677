"""The shipping commands against a real Airflow 3 (`airflow standalone` on 127.0.0.1).

No Kubernetes cluster exists here, so every pod task of a generated DAG fails fast (no
kube config): that is the failing run `run-once --wait` must report. A succeeding run is
followed on a DAG of EmptyOperators written in the test.
"""

import datetime
import io
import json
import re
import time

import pytest
import yaml

from kedro_airflow_k8s.airflow_client import AirflowClient
from kedro_airflow_k8s.context import KedroProject
from kedro_airflow_k8s.display import RunDisplay
from kedro_airflow_k8s.errors import AirflowApiError, ConfigError, RunFailed
from kedro_airflow_k8s.ship import backfill, drive, follow_run, wait_for_version
from tests.conftest import POLICY_MARK, commit_all, run_kedro, write_config

pytestmark = pytest.mark.e2e


def point_at(project, server, run_name, **run_changes):
    config = yaml.safe_load((project / "conf/base/airflow-k8s.yaml").read_text())
    config["host"] = server.url
    config["output"] = str(server.dags)
    config["run_config"]["run_name"] = run_name
    config["run_config"].update(run_changes)
    write_config(project, config)


def client(server, **env):
    return AirflowClient(server.url, environ=env or server.auth_env())


def test_upload_then_list_shows_the_dag(demo_project, airflow_server):
    point_at(demo_project, airflow_server, "listed-demo")
    head = commit_all(demo_project)
    version = KedroProject.at(path=demo_project).project_version
    result = run_kedro(demo_project, "airflow-k8s", "upload-pipeline",
                       env=airflow_server.auth_env())
    assert result.returncode == 0, result.stderr
    assert (airflow_server.dags / "listed-demo.py").exists()
    text = (airflow_server.dags / "listed-demo.py").read_text()
    wait_for_version(client(airflow_server), "listed-demo", text, timeout=120)
    result = run_kedro(demo_project, "airflow-k8s", "list-pipelines",
                       env=airflow_server.auth_env())
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "listed-demo" in line)
    # experiment: the run name; the version of the code and conf, the commit as Airflow's
    # tags hold them
    assert row.split() == ["listed-demo", "listed-demo", version, head[:12], "yes", "-"]


def test_run_once_matches_each_uploaded_version_and_wait_reports_failure(
        demo_project, airflow_server):
    point_at(demo_project, airflow_server, "run-once-demo", description="first version")
    airflow = client(airflow_server)
    result = run_kedro(demo_project, "airflow-k8s", "run-once",
                       env=airflow_server.auth_env())
    assert result.returncode == 0, result.stderr
    first_run = re.search(r"Triggered run (\S+), see ", result.stdout).group(1)
    assert f"{airflow_server.url}/dags/run-once-demo/runs/" in result.stdout
    # the wait says what it waits for: a new file, found at the DAG folder's next scan
    assert ("Waiting for Airflow to find the new file run-once-demo.py: its DAG processor "
            "looks for new files in the DAG folder every [dag_processor] refresh_interval"
            in result.stdout), result.stdout
    # outside git: the version alone
    first_version = KedroProject.at(path=demo_project).project_version
    assert re.search(rf"Triggered run {first_run}, see \S+ \(project version "
                     rf"{first_version}\)$", result.stdout, re.M), result.stdout

    point_at(demo_project, airflow_server, "run-once-demo", description="second version")
    result = run_kedro(demo_project, "airflow-k8s", "run-once", "--wait", "--timeout", "5",
                       env=airflow_server.auth_env())
    # no cluster here: the volume's creation fails, every node is upstream_failed
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    second_run = re.search(r"Triggered run (\S+), see ", result.stdout).group(1)
    assert second_run != first_run
    assert ("Waiting for Airflow to load this version of run-once-demo.py: asked its DAG "
            "processor to parse the file again." in result.stdout), result.stdout
    second_version = KedroProject.at(path=demo_project).project_version
    assert second_version != first_version  # conf/base/airflow-k8s.yaml changed
    assert f"(project version {second_version})" in result.stdout
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"Error: run {second_run} of DAG 'run-once-demo' failed; "
                            "failed tasks: create-data-volume")
    # --execution local forgotten: the error says what to do
    assert error.endswith(
        " (its pods found no Kubernetes cluster where Airflow runs them: without one, upload "
        "with --execution local to run the tasks as subprocesses on the Airflow worker; with "
        "one, set run_config.kubernetes_connection)")
    assert "tasks done" in result.stdout  # plain progress lines: stdout is not a terminal
    # the last progress line counts as failed the tasks the error names ("9 failed" beside
    # 2 named tasks before: the tasks that never ran for them are counted apart)
    named = error.split("failed tasks: ")[1].split(" (")[0].split(", ")
    last = [line for line in result.stdout.splitlines() if "tasks done" in line][-1]
    assert re.search(rf", {len(named)} failed, [1-9]\d* upstream failed, run failed$",
                     last), (last, named)
    tail = result.stdout[result.stdout.index("Last lines of the log of create-data-volume"):]
    # the exception's type and message come from the log event's error detail
    assert re.search(r"^ +\w+(Exception|Error): \S", tail, re.M), tail

    source = airflow.dag_source("run-once-demo")
    assert "second version" in source
    # the second run ran the version holding the second upload, not a stale parse
    from airflow_client.client.api.dag_run_api import DagRunApi
    from airflow_client.client.api.dag_source_api import DagSourceApi
    used = DagRunApi(airflow.api).get_dag_run("run-once-demo", second_run).dag_versions[-1]
    used_source = DagSourceApi(airflow.api).get_dag_source(
        "run-once-demo", version_number=used.version_number, accept="application/json")
    assert "second version" in used_source.content
    assert not airflow.dag("run-once-demo").is_paused


def trigger_hand_written(server, dag_id, imports, tasks, tags=()):
    """Write a small DAG into Airflow's folder, wait until it is loaded, start one run."""
    dag = server.dags / f"{dag_id}.py"
    dag.write_text(
        f"import datetime\n{imports}\nfrom airflow.sdk import DAG\n"
        f"with DAG({dag_id!r}, schedule=None, start_date=datetime.datetime(2024, 1, 1), "
        f"tags={list(tags)!r}):\n    {tasks}\n")
    airflow = client(server)
    wait_for_version(airflow, dag_id, dag.read_text(), timeout=120)
    airflow.set_paused(dag_id, False)
    return airflow, airflow.trigger(dag_id, f"test-{dag_id}-1")


def test_follow_run_to_success(airflow_server):
    airflow, run_id = trigger_hand_written(
        airflow_server, "quick_success",
        "from airflow.providers.standard.operators.empty import EmptyOperator",
        "EmptyOperator(task_id='a') >> EmptyOperator(task_id='b')",
        tags=["generated_with_kedro_airflow_k8s:test"])
    out = io.StringIO()
    with RunDisplay(out) as display:
        progress = drive(follow_run(airflow, "quick_success", run_id, timeout=180,
                                    interval=1), display.show)
    assert progress.state == "success"
    assert progress.tasks == {"a": "success", "b": "success"}
    assert out.getvalue().splitlines()[-1] == "2/2 tasks done, 0 running, 0 failed, run success"
    # one item per page: the listings follow Airflow's offset and total_entries to the end
    paged = AirflowClient(airflow_server.url, environ=airflow_server.auth_env(), page_size=1)
    assert paged.progress("quick_success", run_id) == progress
    assert paged.generated_dags() == airflow.generated_dags()
    # a DAG with the plugin's tag but no experiment tag is listed, not a crash
    listed = {d.dag_id: d for d in airflow.generated_dags()}
    assert listed["quick_success"].experiment is None
    assert listed["quick_success"].last_run_state == "success"


def test_follow_run_times_out_with_exit_3(airflow_server):
    airflow, run_id = trigger_hand_written(
        airflow_server, "slow_dag",
        "from airflow.providers.standard.operators.bash import BashOperator",
        "BashOperator(task_id='sleep', bash_command='sleep 60')")
    with pytest.raises(RunFailed) as error:
        drive(follow_run(airflow, "slow_dag", run_id, timeout=3, interval=1))
    assert error.value.exit_code == 3
    assert "had not finished after 0.05 min" in str(error.value)


def test_token_auth_works(airflow_server):
    airflow = AirflowClient(airflow_server.url,
                            environ={"AIRFLOW_API_TOKEN": airflow_server.token()})
    assert airflow.health()["metadatabase"]["status"] == "healthy"
    assert isinstance(airflow.generated_dags(), list)


def test_wrong_password_gives_the_401_line(demo_project, airflow_server):
    point_at(demo_project, airflow_server, "denied-demo")
    result = run_kedro(demo_project, "airflow-k8s", "list-pipelines",
                       env={"AIRFLOW_API_USERNAME": airflow_server.username,
                            "AIRFLOW_API_PASSWORD": "wrong"})
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Error: Airflow at {airflow_server.url} refused AIRFLOW_API_USERNAME / "
        "AIRFLOW_API_PASSWORD (HTTP 401): check them")
    assert "wrong" not in result.stdout + result.stderr


def test_bad_token_names_the_token(airflow_server):
    airflow = AirflowClient(airflow_server.url, environ={"AIRFLOW_API_TOKEN": "not-a-jwt"})
    with pytest.raises(AirflowApiError) as error:
        airflow.generated_dags()
    # Airflow 3 answers an unreadable JWT with 403, not 401
    assert str(error.value).startswith(f"Airflow at {airflow_server.url} denied listing DAGs "
                                       "(HTTP 403")
    assert str(error.value).endswith("check AIRFLOW_API_TOKEN (or its user's permissions)")
    assert "not-a-jwt" not in str(error.value)


def test_no_credentials_gives_the_401_line(airflow_server):
    airflow = AirflowClient(airflow_server.url, environ={})
    with pytest.raises(AirflowApiError) as error:
        airflow.generated_dags()
    assert str(error.value) == (
        f"Airflow at {airflow_server.url} needs valid credentials (HTTP 401): set "
        "AIRFLOW_API_TOKEN, or AIRFLOW_API_USERNAME and AIRFLOW_API_PASSWORD")


def test_unknown_dag_is_named(airflow_server):
    with pytest.raises(AirflowApiError) as error:
        client(airflow_server).dag("no-such-dag")
    assert str(error.value) == (f"DAG 'no-such-dag' is not (yet) known to Airflow at "
                                f"{airflow_server.url}")


def test_schedule_sets_the_cron_and_unpauses(demo_project, airflow_server):
    point_at(demo_project, airflow_server, "scheduled-demo")
    result = run_kedro(demo_project, "airflow-k8s", "schedule", "-c", "0 3 * * *",
                       env=airflow_server.auth_env())
    assert result.returncode == 0, result.stderr
    text = (airflow_server.dags / "scheduled-demo.py").read_text()
    assert "schedule='0 3 * * *'," in text
    assert result.stdout.splitlines()[-1] == (
        f"Airflow loaded it; DAG 'scheduled-demo' is unpaused: "
        f"{airflow_server.url}/dags/scheduled-demo")
    airflow = client(airflow_server)
    dag = airflow.dag("scheduled-demo")  # schedule returned once Airflow served this text
    assert airflow.dag_source("scheduled-demo") == text
    assert dag.timetable_summary == "0 3 * * *" and not dag.is_paused

    result = run_kedro(demo_project, "airflow-k8s", "schedule", "-c", "0 4 * * *", "--paused",
                       env=airflow_server.auth_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith(
        "Airflow loaded it; DAG 'scheduled-demo' is paused: ")
    dag = airflow.dag("scheduled-demo")
    assert dag.timetable_summary == "0 4 * * *" and dag.is_paused
    json.dumps(airflow.health())  # the server is still answering


def test_run_once_refuses_to_replace_a_scheduled_dag(demo_project, airflow_server):
    """run-once uploads its DAG without a schedule: under the id of a scheduled DAG that
    would end the schedule, so it is refused, nothing uploaded, unless --replace-scheduled."""
    point_at(demo_project, airflow_server, "scheduled-once")
    result = run_kedro(demo_project, "airflow-k8s", "schedule", "-c", "0 3 * * *",
                       env=airflow_server.auth_env())
    assert result.returncode == 0, result.stdout + result.stderr
    dag_file = airflow_server.dags / "scheduled-once.py"
    scheduled = dag_file.read_text()
    airflow = client(airflow_server)
    result = run_kedro(demo_project, "airflow-k8s", "run-once", env=airflow_server.auth_env())
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        f"Error: DAG 'scheduled-once' runs on a schedule in Airflow at {airflow_server.url} "
        "(0 3 * * *): run-once uploads it without one, which would end that schedule until "
        "the next `schedule`; run it under another id (-d scheduled-once-once) or pass "
        "--replace-scheduled"]
    assert dag_file.read_text() == scheduled
    assert airflow.dag("scheduled-once").timetable_summary == "0 3 * * *"
    runs = api_get(airflow_server, "/api/v2/dags/scheduled-once/dagRuns")["dag_runs"]
    assert [run for run in runs if run["run_type"] != "scheduled"] == []  # none triggered

    result = run_kedro(demo_project, "airflow-k8s", "run-once", "--replace-scheduled",
                       env=airflow_server.auth_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "schedule=None," in dag_file.read_text()
    assert airflow.dag("scheduled-once").timetable_summary in (None, "None")


def test_schedule_all_unpauses_every_pipelines_dag(demo_project, airflow_server):
    point_at(demo_project, airflow_server, "all-demo")
    result = run_kedro(demo_project, "airflow-k8s", "schedule", "--all", "-c", "0 5 * * *",
                       env=airflow_server.auth_env())
    assert result.returncode == 0, result.stderr
    dag_ids = ["all-demo-features", "all-demo-ingest", "all-demo-modelling"]
    lines = [line for line in result.stdout.splitlines()
             if not line.startswith("Still waiting: ")]
    assert lines[-6:] == [line for dag_id in dag_ids for line in (
        f"Waiting for Airflow to find the new file {dag_id}.py: its DAG processor looks for "
        "new files in the DAG folder every [dag_processor] refresh_interval (300 s by "
        "default, a deployment may set it lower: see Troubleshooting in the docs), then "
        "parses them.",
        f"Airflow loaded it; DAG '{dag_id}' is unpaused: {airflow_server.url}/dags/{dag_id}")]
    airflow = client(airflow_server)
    for dag_id in dag_ids:
        dag = airflow.dag(dag_id)
        assert airflow.dag_source(dag_id) == (airflow_server.dags / f"{dag_id}.py").read_text()
        assert dag.timetable_summary == "0 5 * * *" and not dag.is_paused
    assert not (airflow_server.dags / "all-demo.py").exists()  # no --with-default


def test_run_once_fails_fast_on_an_import_error(demo_project, airflow_server):
    """The server's cluster policy rejects this DAG: Airflow records an import error for the
    uploaded file, and run-once reports it instead of waiting for a parse that never comes."""
    point_at(demo_project, airflow_server, "rejected-demo",
             description=f"an {POLICY_MARK} pipeline")
    started = time.monotonic()
    result = run_kedro(demo_project, "airflow-k8s", "run-once",
                       env=airflow_server.auth_env())
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip() == (
        "Error: Airflow cannot import rejected-demo.py: AirflowClusterPolicyViolation: "
        f"DAGs described as {POLICY_MARK} are not allowed"), result.stderr
    assert "Airflow's import error for rejected-demo.py:" in result.stdout
    assert elapsed < 120, elapsed  # seconds, not the 600 s parse timeout


def test_a_replayed_trigger_is_the_same_run(airflow_server):
    """As urllib3 replays a POST whose answer was lost: the same run id a second time."""
    airflow, run_id = trigger_hand_written(
        airflow_server, "replayed_trigger",
        "from airflow.providers.standard.operators.empty import EmptyOperator",
        "EmptyOperator(task_id='a')")
    assert airflow.trigger("replayed_trigger", run_id) == run_id
    progress = drive(follow_run(airflow, "replayed_trigger", run_id, timeout=180, interval=1))
    assert progress.state == "success"
    from airflow_client.client.api.dag_run_api import DagRunApi
    runs = DagRunApi(airflow.api).get_dag_runs("replayed_trigger").dag_runs
    assert [r.dag_run_id for r in runs] == [run_id]


def test_local_execution_runs_the_demo_to_success(demo_project, airflow_server):
    point_at(demo_project, airflow_server, "local-demo", execution="local")
    result = run_kedro(demo_project, "airflow-k8s", "run-once", "--wait", "--timeout", "10",
                       env=airflow_server.auth_env())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert re.search(r"Run kedro_airflow_k8s__\S+ succeeded\.", result.stdout)
    assert "6/6 tasks done, 0 running, 0 failed, run success" in result.stdout
    report = json.loads((demo_project / "data/08_reporting/report.json").read_text())
    assert report == {"customers": 3, "intercept": report["intercept"], "slope": 0.25,
                      "trend": "up"}
    # each task that succeeded recorded an event of every asset it writes (its outlets)
    events = api_get(airflow_server, "/api/v2/assets/events?source_dag_id=local-demo"
                     "&limit=100")["asset_events"]
    written = {(event["source_task_id"], event["uri"]) for event in events}
    assert written == {
        ("clean_orders", "kedro://demo/orders"),
        ("count_customers", "kedro://demo/customer_count"),
        ("features.daily_totals", "kedro://demo/features.daily_totals"),
        ("features.scale", "kedro://demo/scaled_totals"),
        ("train", "kedro://demo/model"), ("report", "kedro://demo/report")}
    assets = api_get(airflow_server, "/api/v2/assets?uri_pattern=kedro://demo/&limit=100")
    # other tests of the module upload the demo under other DAG ids: only this DAG's readers
    consumers = {a["uri"]: sorted(ref["task_id"] for ref in a["consuming_tasks"]
                                  if ref["dag_id"] == "local-demo")
                 for a in assets["assets"]}
    assert consumers["kedro://demo/raw_orders"] == ["clean_orders"]
    assert consumers["kedro://demo/model"] == ["report"]


def test_local_execution_fails_a_node_that_raises_at_once(demo_project, airflow_server):
    """A node whose code raises (here: its input file is gone, Kedro's DatasetError) fails the
    task on its first try, its retries unspent; a retry would leave the run waiting 10 min."""
    point_at(demo_project, airflow_server, "local-raises", execution="local",
             task_defaults={"retries": 3, "retry_delay": "10m"})
    (demo_project / "data/01_raw/orders.json").unlink()
    started = time.monotonic()
    result = run_kedro(demo_project, "airflow-k8s", "run-once", "--wait", "--timeout", "5",
                       env=airflow_server.auth_env())
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr
    run_id = re.search(r"Triggered run (\S+), see ", result.stdout).group(1)
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: run {run_id} of DAG 'local-raises' failed; failed tasks: clean_orders")
    assert time.monotonic() - started < 240
    ti = api_get(airflow_server, f"/api/v2/dags/local-raises/dagRuns/{run_id}/taskInstances/"
                 "clean_orders")
    assert (ti["state"], ti["try_number"], ti["max_tries"]) == ("failed", 1, 3)
    assert "Not retried: the node's code failed: exit code 1" in result.stdout, result.stdout


def test_a_dag_scheduled_on_data_runs_after_the_dag_that_writes_it(demo_project,
                                                                     airflow_server):
    # the runs a schedule on data starts have no logical date, so no `ds` of their own: the
    # demo's macro_params [ds] passes the day the run was due (run_after) instead
    point_at(demo_project, airflow_server, "on-data", execution="local")
    # B: the features pipeline, on the two datasets the ingest pipeline writes
    result = run_kedro(demo_project, "airflow-k8s", "-p", "features", "schedule",
                       "--on-assets", "orders,customer_count", env=airflow_server.auth_env())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert ("scheduled on updates of kedro://demo/orders, kedro://demo/customer_count."
            in result.stdout)
    assert "DAG 'on-data-features' is unpaused" in result.stdout
    # A: one run of the ingest pipeline
    result = run_kedro(demo_project, "airflow-k8s", "-p", "ingest", "run-once", "--wait",
                       "--timeout", "10", env=airflow_server.auth_env())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    deadline = time.monotonic() + 300
    while True:  # B starts by itself once A's run recorded both asset events
        runs = api_get(airflow_server, "/api/v2/dags/on-data-features/dagRuns")["dag_runs"]
        if runs and all(run["state"] in ("success", "failed") for run in runs):
            break
        assert time.monotonic() < deadline, runs
        time.sleep(3)
    airflow = client(airflow_server)
    failed = [task for task, state in airflow.progress(
        "on-data-features", runs[0]["dag_run_id"]).tasks.items() if state == "failed"]
    assert [(run["run_type"], run["state"]) for run in runs] == [
        ("asset_triggered", "success")], failed and airflow.log_tail(
            "on-data-features", runs[0]["dag_run_id"], failed[0])
    scaled = json.loads((demo_project / "data/03_features/scaled_totals.json").read_text())
    assert max(scaled.values()) == 1.0
    assert_ds_is_run_after(airflow_server, "on-data-features", runs[0]["dag_run_id"])

    # a run triggered through the API without a logical date: the same fallback
    manual = api_post(airflow_server, "/api/v2/dags/on-data-features/dagRuns",
                      {"dag_run_id": "no-logical-date", "logical_date": None})
    assert manual["logical_date"] is None
    progress = drive(follow_run(airflow, "on-data-features", "no-logical-date", timeout=300,
                                interval=2))
    assert progress.state == "success", progress
    assert_ds_is_run_after(airflow_server, "on-data-features", "no-logical-date")


def assert_ds_is_run_after(server, dag_id, run_id):
    """The run has no logical date, and its node tasks passed `ds` of its run_after."""
    run = api_get(server, f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
    assert run["logical_date"] is None, run
    day = datetime.datetime.fromisoformat(run["run_after"]).strftime("%Y-%m-%d")
    ti = api_get(server, f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/"
                 "features.scale")
    assert ti["state"] == "success", ti
    assert ti["rendered_fields"]["env"]["KEDRO_PARAMS"] == f"ds={day}", ti["rendered_fields"]


def api_post(server, path, body):
    import urllib.request

    request = urllib.request.Request(
        f"{server.url}{path}", method="POST", data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {server.token()}",
                 "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def api_get(server, path):
    import urllib.request

    request = urllib.request.Request(f"{server.url}{path}",
                                     headers={"Authorization": f"Bearer {server.token()}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def write_scheduled(server, dag_id, tasks, schedule="@daily"):
    """A small DAG of BashOperators in Airflow's folder, loaded (and paused, as new DAGs are)."""
    dag = server.dags / f"{dag_id}.py"
    dag.write_text(
        "import datetime\nfrom airflow.providers.standard.operators.bash import BashOperator\n"
        f"from airflow.sdk import DAG\nwith DAG({dag_id!r}, schedule={schedule!r}, "
        "start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc), "
        f"catchup=False):\n    {tasks}\n")
    airflow = client(server)
    wait_for_version(airflow, dag_id, dag.read_text(), timeout=120)
    return airflow


JAN = [datetime.datetime(2024, 1, day, tzinfo=datetime.timezone.utc) for day in (1, 2, 3, 4)]


def test_backfill_follows_every_run_to_success(airflow_server):
    airflow = write_scheduled(
        airflow_server, "backfilled",
        "BashOperator(task_id='a', bash_command='echo {{ ds }}') >> "
        "BashOperator(task_id='b', bash_command='true')")
    with pytest.raises(AirflowApiError, match="^DAG 'backfilled' is paused: "):
        drive(backfill(airflow, "backfilled", JAN[0], JAN[2]))
    airflow.set_paused("backfilled", False)
    out = io.StringIO()
    with RunDisplay(out) as display:
        backfill_id = drive(backfill(airflow, "backfilled", JAN[0], JAN[2], max_active_runs=2,
                                     follow_minutes=4, interval=1), display.show)
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "Backfill of DAG 'backfilled' from 2024-01-01T00:00:00+00:00 to "
        "2024-01-03T00:00:00+00:00: 3 runs, at 2024-01-01T00:00:00+00:00, "
        "2024-01-02T00:00:00+00:00, 2024-01-03T00:00:00+00:00.")
    assert lines[1] == f"Started backfill {backfill_id}, see {airflow_server.url}/dags/backfilled"
    assert lines[-2] == "6/6 tasks done, 0 running, 0 failed, 3/3 runs ended, backfill success"
    assert lines[-1] == f"Backfill {backfill_id}: all 3 runs succeeded."
    from airflow_client.client.api.backfill_api import BackfillApi
    from airflow_client.client.api.dag_run_api import DagRunApi
    made = BackfillApi(airflow.api).get_backfill(backfill_id)
    assert made.max_active_runs == 2 and made.reprocess_behavior.value == "none"
    runs = DagRunApi(airflow.api).get_dag_runs("backfilled", run_type=["backfill"]).dag_runs
    assert sorted((r.logical_date, r.state.value) for r in runs) == [
        (day, "success") for day in JAN[:3]]
    # the done dates are skipped unless reprocessed
    assert drive(backfill(airflow, "backfilled", JAN[0], JAN[2])) is None
    assert airflow.backfill_dry_run("backfilled", JAN[0], JAN[3]) == [JAN[3]]
    assert airflow.backfill_dry_run("backfilled", JAN[0], JAN[1], "completed") == JAN[:2]


def test_backfill_refuses_unknown_and_unscheduled_dags(airflow_server):
    airflow = write_scheduled(airflow_server, "never_scheduled",
                              "BashOperator(task_id='a', bash_command='true')", schedule=None)
    with pytest.raises(AirflowApiError) as error:
        drive(backfill(airflow, "never_scheduled", JAN[0], JAN[1]))
    assert str(error.value) == (
        "DAG 'never_scheduled' has no periodic schedule (None): Airflow backfills only "
        "scheduled DAGs, upload it with `schedule` first")
    with pytest.raises(AirflowApiError) as error:
        drive(backfill(airflow, "no-such-dag", JAN[0], JAN[1]))
    assert str(error.value) == (
        f"DAG 'no-such-dag' is not known to Airflow at {airflow_server.url}: backfill does not "
        "upload it, run upload-pipeline or schedule first")


def test_backfill_of_a_dag_scheduled_on_assets_says_so(airflow_server):
    """It was uploaded with `schedule`: "upload it with schedule first" was wrong."""
    dag = airflow_server.dags / "on_assets.py"
    dag.write_text(
        "import datetime\nfrom airflow.providers.standard.operators.empty import EmptyOperator\n"
        "from airflow.sdk import DAG, Asset\nwith DAG('on_assets', schedule=[Asset("
        "'s3://lake/orders')], start_date=datetime.datetime(2024, 1, 1, tzinfo="
        "datetime.timezone.utc)):\n    EmptyOperator(task_id='a')\n")
    airflow = client(airflow_server)
    wait_for_version(airflow, "on_assets", dag.read_text(), timeout=120)
    with pytest.raises(AirflowApiError) as error:
        drive(backfill(airflow, "on_assets", JAN[0], JAN[1]))
    assert str(error.value) == (
        "DAG 'on_assets' runs on asset updates (Asset) and has no periodic schedule: Airflow "
        "backfills only DAGs scheduled by time; `schedule -c CRON` uploads it with one (with "
        "--on-assets too: on either)")


def test_backfill_wait_exits_1_naming_the_failed_run(demo_project, airflow_server):
    airflow = write_scheduled(
        airflow_server, "backfill_fails",
        "BashOperator(task_id='check', bash_command='test {{ ds }} != 2024-01-02')")
    airflow.set_paused("backfill_fails", False)
    point_at(demo_project, airflow_server, "demo")
    result = run_kedro(demo_project, "airflow-k8s", "backfill", "-d", "backfill_fails",
                       "--from", "2024-01-01", "--to", "2024-01-02", "--wait", "--timeout", "4",
                       env=airflow_server.auth_env())
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    backfill_id = re.search(r"Started backfill (\d+), see ", result.stdout).group(1)
    assert "2/2 runs ended, backfill failed" in result.stdout
    assert result.stderr.strip().splitlines() == [
        f"Error: backfill {backfill_id} of DAG 'backfill_fails': 1 of 2 runs failed: "
        "backfill__2024-01-02T00:00:00+00:00 (failed tasks: check)"]
    assert ("Last lines of the log of check in run backfill__2024-01-02T00:00:00+00:00:"
            in result.stdout)
    # the failed date alone runs again with --reprocess failed
    assert airflow.backfill_dry_run("backfill_fails", JAN[0], JAN[1], "failed") == [JAN[1]]


def test_backfill_wait_times_out_with_exit_3(airflow_server):
    airflow = write_scheduled(airflow_server, "slow_backfill",
                              "BashOperator(task_id='sleep', bash_command='sleep 30')")
    airflow.set_paused("slow_backfill", False)
    with pytest.raises(RunFailed) as error:
        drive(backfill(airflow, "slow_backfill", JAN[0], JAN[0], follow_minutes=0.05,
                       interval=1))
    assert error.value.exit_code == 3
    backfill_id = re.match(r"backfill (\d+) ", str(error.value)).group(1)
    assert str(error.value) == (
        f"backfill {backfill_id} of DAG 'slow_backfill' had not finished after 0.05 min "
        f"(0 of 1 runs ended); it goes on in Airflow: cancel it in its UI or with POST "
        f"{airflow_server.url}/api/v2/backfills/{backfill_id}/cancel (--cancel-on-timeout "
        "does)")


def _error_frames(airflow, dag_id, run_id, task_id):
    """The function names of the stack of the exception a task's latest try logged."""
    from airflow_client.client.api.task_instance_api import TaskInstanceApi

    api = TaskInstanceApi(airflow.api)
    ti = api.get_task_instance(dag_id, run_id, task_id)
    response = api.get_log_without_preload_content(
        dag_id, run_id, task_id, max(ti.try_number, 1), full_content=True,
        accept="application/json")
    events = json.loads(response.data)["content"]
    return [frame.get("name") for event in events if isinstance(event, dict)
            for error in event.get("error_detail") or [] for frame in error.get("frames", [])]


def test_deferrable_pods_are_accepted_and_run_deferrable(demo_project, airflow_server):
    """Airflow imports the DAG of deferrable pods without an import error, and its worker
    runs a node task the deferrable way (KubernetesPodOperator.execute_async). No cluster
    exists here, so the pod is never created and the trigger never starts: the try fails
    where execute_async asks the Kubernetes API for the pod."""
    point_at(demo_project, airflow_server, "deferrable-demo", volume={"disabled": True},
             task_defaults={"deferrable": True, "logging_interval": "1m",
                            "on_finish_action": "keep_pod", "startup_timeout": "2m"})
    airflow = client(airflow_server)
    result = run_kedro(demo_project, "airflow-k8s", "run-once", "--wait", "--timeout", "240",
                       env=airflow_server.auth_env())
    assert result.returncode == 1, result.stdout + result.stderr
    assert airflow.import_problems("deferrable-demo.py") == []
    source = airflow.dag_source("deferrable-demo")
    assert "deferrable=True" in source and "logging_interval=60" in source
    run_id = re.search(r"Triggered run (\S+), see ", result.stdout).group(1)
    failed = airflow.progress("deferrable-demo", run_id).failed_tasks
    assert failed, result.stdout
    frames = _error_frames(airflow, "deferrable-demo", run_id, failed[0])
    assert "execute_async" in frames and "execute_sync" not in frames, frames


def test_a_missing_or_too_small_pool_is_refused_before_upload(demo_project, airflow_server):
    """Airflow's scheduler never runs a task whose pool does not exist, or that takes more
    slots than its pool has: such a DAG is refused, nothing uploaded, until the pool is."""
    from airflow_client.client.api.pool_api import PoolApi
    from airflow_client.client.models.pool_body import PoolBody
    from airflow_client.client.models.pool_patch_body import PoolPatchBody

    pool = "kat_e2e_gpu"
    point_at(demo_project, airflow_server, "pool-demo",
             task_defaults={"pool": pool, "pool_slots": 2})
    dag_file = airflow_server.dags / "pool-demo.py"
    for command in (["upload-pipeline"], ["run-once"], ["schedule", "-c", "0 3 * * *"]):
        result = run_kedro(demo_project, "airflow-k8s", *command,
                           env=airflow_server.auth_env())
        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        errors = [e for e in result.stderr.splitlines() if e.startswith("Error")]
        assert len(errors) == 1, result.stderr
        line = errors[0]
        assert line.startswith(f"Error: run_config.task_defaults.pool: pool '{pool}' does "
                               f"not exist in Airflow at {airflow_server.url}"), line
        assert f'`airflow pools set {pool} <slots> "<description>"`' in line
        assert not dag_file.exists()

    airflow = client(airflow_server)
    pools = PoolApi(airflow.api)
    pools.post_pool(PoolBody(name=pool, slots=1, description="e2e"))
    result = run_kedro(demo_project, "airflow-k8s", "upload-pipeline",
                       env=airflow_server.auth_env())
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Error: run_config.task_defaults.pool_slots: task(s) " in result.stderr
    assert f"take 2 slots of pool '{pool}', which has 1 in Airflow" in result.stderr
    assert not dag_file.exists()

    pools.patch_pool(pool, PoolPatchBody(pool=pool, slots=2, include_deferred=False))
    result = run_kedro(demo_project, "airflow-k8s", "upload-pipeline",
                       env=airflow_server.auth_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert dag_file.exists()
    # the listing is read page by page: a pool past the first page is still found
    pools.post_pool(PoolBody(name="kat_e2e_other", slots=-1))
    paged = AirflowClient(airflow_server.url, environ=airflow_server.auth_env(), page_size=1)
    found = paged.pools()
    assert found[pool] == 2 and found["kat_e2e_other"] == float("inf")
    assert found["default_pool"] > 0


def test_a_variable_airflow_lacks_is_refused_before_anything_is_uploaded(demo_project,
                                                                         airflow_server):
    """Every task passing a variables_params name renders its Variable when it runs: one
    Airflow lacks would fail them all (VARIABLE_NOT_FOUND). The commands refuse first."""
    from airflow_client.client.api.variable_api import VariableApi
    from airflow_client.client.models.variable_body import VariableBody

    point_at(demo_project, airflow_server, "variable-demo",
             variables_params=["kat_region", "kat_bucket"])
    dag_file = airflow_server.dags / "variable-demo.py"
    missing = (
        f"Error: run_config.variables_params: Airflow Variables 'kat_bucket', 'kat_region' do "
        f"not exist in Airflow at {airflow_server.url}, so every task reading them would fail "
        "when it runs (VARIABLE_NOT_FOUND): create them with `airflow variables set "
        "kat_bucket <value>`, `airflow variables set kat_region <value>` (or Admin > Variables "
        "in the UI), or remove them from run_config.variables_params")
    for command in (["upload-pipeline"], ["run-once"], ["schedule", "-c", "0 3 * * *"]):
        result = run_kedro(demo_project, "airflow-k8s", *command,
                           env=airflow_server.auth_env())
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr.strip().splitlines() == [missing], command
        assert not dag_file.exists()
    # backfill uploads nothing: it checks the Variables of the DAG the project compiles to
    airflow = write_scheduled(airflow_server, "variable_backfill",
                              "BashOperator(task_id='a', bash_command='true')")
    airflow.set_paused("variable_backfill", False)
    result = run_kedro(demo_project, "airflow-k8s", "backfill", "-d", "variable_backfill",
                       "--from", "2024-01-01", "--to", "2024-01-01",
                       env=airflow_server.auth_env())
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [missing]
    assert airflow.backfill_runs("variable_backfill", JAN[:1]) == []

    variables = VariableApi(airflow.api)
    variables.post_variable(VariableBody(key="kat_region", value="eu"))
    result = run_kedro(demo_project, "airflow-k8s", "upload-pipeline",
                       env=airflow_server.auth_env())
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Airflow Variable 'kat_bucket' does not exist in Airflow at " in result.stderr
    variables.post_variable(VariableBody(key="kat_bucket", value="b"))
    result = run_kedro(demo_project, "airflow-k8s", "upload-pipeline",
                       env=airflow_server.auth_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert dag_file.exists()


def test_backfill_refuses_a_dag_whose_pool_is_missing_or_too_small(airflow_server):
    """backfill uploads nothing: it reads the pools of the DAG's tasks as Airflow serves them
    and starts no run that Airflow's scheduler would never run."""
    from airflow_client.client.api.pool_api import PoolApi
    from airflow_client.client.models.pool_body import PoolBody

    airflow = write_scheduled(
        airflow_server, "pooled",
        "BashOperator(task_id='a', bash_command='true', pool='kat_bf_pool', pool_slots=3) >> "
        "BashOperator(task_id='b', bash_command='true')")
    airflow.set_paused("pooled", False)
    with pytest.raises(ConfigError) as error:
        drive(backfill(airflow, "pooled", JAN[0], JAN[1]))
    assert str(error.value).startswith(
        f"DAG 'pooled': pool: pool 'kat_bf_pool' does not exist in Airflow at "
        f"{airflow_server.url}, so task(s) a would stay scheduled forever: create it with ")
    PoolApi(airflow.api).post_pool(PoolBody(name="kat_bf_pool", slots=2))
    with pytest.raises(ConfigError) as error:
        drive(backfill(airflow, "pooled", JAN[0], JAN[1]))
    assert str(error.value).startswith(
        "DAG 'pooled': pool_slots: task(s) a take 3 slots of pool 'kat_bf_pool', which has 2 ")
    assert airflow.backfill_runs("pooled", JAN[:2]) == []  # nothing started


def test_backfill_run_backwards_starts_the_newest_date_first(airflow_server):
    airflow = write_scheduled(airflow_server, "backwards",
                              "BashOperator(task_id='a', bash_command='echo {{ ds }}')")
    airflow.set_paused("backwards", False)
    out = io.StringIO()
    with RunDisplay(out) as display:
        drive(backfill(airflow, "backwards", JAN[0], JAN[2], max_active_runs=1,
                       run_backwards=True, follow_minutes=4, interval=1), display.show)
    assert out.getvalue().splitlines()[0].startswith(
        "Backfill of DAG 'backwards' from 2024-01-01T00:00:00+00:00 to "
        "2024-01-03T00:00:00+00:00: 3 runs, newest first, at ")
    runs = api_get(airflow_server, "/api/v2/dags/backwards/dagRuns?run_type=backfill"
                   "&order_by=start_date")["dag_runs"]
    # one run at a time: the order they started in is the order Airflow ran the dates
    assert [run["logical_date"][:10] for run in runs] == [
        "2024-01-03", "2024-01-02", "2024-01-01"]
    # Airflow refuses to run a DAG with depends_on_past backwards: one line, naming the option
    airflow = write_scheduled(airflow_server, "backwards_past",
                              "BashOperator(task_id='a', bash_command='true', "
                              "depends_on_past=True)")
    airflow.set_paused("backwards_past", False)
    with pytest.raises(ConfigError) as error:
        drive(backfill(airflow, "backwards_past", JAN[0], JAN[1], reprocess="failed",
                       run_backwards=True))
    assert str(error.value) == (
        "--run-backwards: DAG 'backwards_past' has tasks with depends_on_past=True, which "
        "Airflow backfills oldest date first only: drop --run-backwards")


def test_backfill_params_reach_every_run(demo_project, airflow_server):
    point_at(demo_project, airflow_server, "backfill-params", execution="local")
    result = run_kedro(demo_project, "airflow-k8s", "schedule", "-c", "0 0 * * *",
                       env=airflow_server.auth_env())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    result = run_kedro(demo_project, "airflow-k8s", "backfill", "--from", "2024-01-01",
                       "--to", "2024-01-01", "--params", "min_amount=10", "--wait",
                       "--timeout", "10", env=airflow_server.auth_env())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    runs = api_get(airflow_server,
                   "/api/v2/dags/backfill-params/dagRuns?run_type=backfill")["dag_runs"]
    assert [(run["logical_date"][:10], run["conf"]) for run in runs] == [
        ("2024-01-01", {"min_amount": 10})]
    orders = json.loads((demo_project / "data/02_intermediate/orders.json").read_text())
    assert [o["amount"] for o in orders] == [12.5, 20.0, 31.0]  # 3.0 is under min_amount


def test_backfill_bad_params_are_one_line(demo_project, airflow_server):
    point_at(demo_project, airflow_server, "backfill-bad-params", execution="local")
    for params, error in (
            ("max_amount=3", "--params: the DAG has no parameter max_amount (it has "
                             "min_amount: Kedro parameters its nodes read)"),
            ("ds=2024-01-01", "--params: ds cannot be set by a run: run_config.macro_params "
                              "sets it from the Airflow macro of that name when the run "
                              "starts; remove it from --params")):
        result = run_kedro(demo_project, "airflow-k8s", "backfill", "--from", "2024-01-01",
                           "--to", "2024-01-02", "--params", params,
                           env=airflow_server.auth_env())
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr.strip().splitlines() == [f"Error: {error}"]
    result = run_kedro(demo_project, "airflow-k8s", "backfill", "--from", "2024-01-01",
                       "--to", "2024-01-02", "--cancel-on-timeout",
                       env=airflow_server.auth_env())
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Error: --cancel-on-timeout: only with --wait (without it nothing follows the "
        "backfill to a timeout)"]


def test_backfill_timeout_exits_3_and_cancels_when_asked(demo_project, airflow_server):
    airflow = write_scheduled(airflow_server, "backfill_slow",
                              "BashOperator(task_id='slow', bash_command='sleep 90')")
    airflow.set_paused("backfill_slow", False)
    point_at(demo_project, airflow_server, "demo")
    backfill_args = ("airflow-k8s", "backfill", "-d", "backfill_slow", "--max-active-runs", "1",
                     "--wait", "--timeout", "0.1")
    result = run_kedro(demo_project, *backfill_args, "--from", "2024-01-01", "--to",
                       "2024-01-02", env=airflow_server.auth_env())
    assert result.returncode == 3, result.stdout + result.stderr
    first = re.search(r"Started backfill (\d+), see ", result.stdout).group(1)
    assert result.stderr.strip().splitlines() == [
        f"Error: backfill {first} of DAG 'backfill_slow' had not finished after 0.1 min "
        f"(0 of 2 runs ended); it goes on in Airflow: cancel it in its UI or with POST "
        f"{airflow_server.url}/api/v2/backfills/{first}/cancel (--cancel-on-timeout does)"]
    assert api_get(airflow_server, f"/api/v2/backfills/{first}")["completed_at"] is None
    # a DAG has one backfill at a time: cancel the first to start the next
    airflow.cancel_backfill(int(first))
    result = run_kedro(demo_project, *backfill_args, "--cancel-on-timeout", "--from",
                       "2024-01-03", "--to", "2024-01-04", env=airflow_server.auth_env())
    assert result.returncode == 3, result.stdout + result.stderr
    second = re.search(r"Started backfill (\d+), see ", result.stdout).group(1)
    assert result.stderr.strip().splitlines() == [
        f"Error: backfill {second} of DAG 'backfill_slow' had not finished after 0.1 min "
        "(0 of 2 runs ended); cancelled it: its queued runs failed, its running ones go on "
        "to their end"]
    cancelled = api_get(airflow_server, f"/api/v2/backfills/{second}")
    assert cancelled["completed_at"] is not None and cancelled["is_paused"] is True
    runs = api_get(airflow_server, "/api/v2/dags/backfill_slow/dagRuns?run_type=backfill"
                   "&logical_date_gte=2024-01-03T00:00:00Z")["dag_runs"]
    # the date not yet started failed with the cancel; the running one was left to its end
    states = {run["logical_date"][:10]: run["state"] for run in runs}
    assert states["2024-01-04"] == "failed" and states["2024-01-03"] in ("running", "queued")


def test_backfill_ctrl_c_cancels_when_asked(demo_project, airflow_server):
    import os
    import signal
    import subprocess

    from tests.conftest import KEDRO

    airflow = write_scheduled(airflow_server, "backfill_interrupted",
                              "BashOperator(task_id='slow', bash_command='sleep 90')")
    airflow.set_paused("backfill_interrupted", False)
    point_at(demo_project, airflow_server, "demo")
    child = subprocess.Popen(
        [KEDRO, "airflow-k8s", "backfill", "-d", "backfill_interrupted", "--from", "2024-01-01",
         "--to", "2024-01-02", "--max-active-runs", "1", "--wait", "--cancel-on-timeout"],
        cwd=demo_project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **airflow_server.auth_env(), "PYTHONUNBUFFERED": "1"})
    try:
        started = None
        for line in child.stdout:
            started = re.search(r"Started backfill (\d+), see ", line)
            if started:
                break
        assert started, child.stderr.read()
        time.sleep(3)  # following the runs
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    backfill_id = started.group(1)
    assert child.returncode == 130, out + err
    assert err.strip().splitlines() == [
        f"Error: backfill {backfill_id} of DAG 'backfill_interrupted': not followed after "
        "Ctrl-C; cancelled it: its queued runs failed, its running ones go on to their end"]
    assert api_get(airflow_server, f"/api/v2/backfills/{backfill_id}")["completed_at"]
