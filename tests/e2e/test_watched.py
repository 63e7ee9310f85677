"""Watched groups on a real Airflow 3 (`airflow standalone`, local execution): one producer
task runs a group's nodes in one `kedro run`, and every node is an Airflow task of its own
whose state, log lines and retries are that node's. The pipeline is tests/flights.py: eight
nodes in one group (grouping: pipeline), two of them independent of the model chain."""

import json
import os
import re
import subprocess
import time
import urllib.error

import pytest

from tests.conftest import KEDRO
from tests.e2e.test_airflow import api_get, api_post, point_at
from tests.flights import NODES, add_flights_pipeline, fail

pytestmark = pytest.mark.e2e

PRODUCER = "run__preprocess_companies__and_7_more"


def _watched(project, server, run_name, step_seconds):
    add_flights_pipeline(project)
    point_at(project, server, run_name, execution="local", grouping="pipeline",
             grouping_mode="watched", env_vars={"FLIGHTS_STEP_SECONDS": str(step_seconds)})


def _run_once(project, server, *extra):
    return subprocess.Popen(
        [KEDRO, "airflow-k8s", "-p", "flights", "run-once", "--wait", "--timeout", "10",
         *extra], cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **server.auth_env()})


def _states(server, dag_id, run_id):
    tis = api_get(server, f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")
    return {ti["task_id"]: ti for ti in tis["task_instances"]}


def _latest_run(server, dag_id, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            runs = api_get(server, f"/api/v2/dags/{dag_id}/dagRuns?order_by=-run_after"
                           "&limit=1")["dag_runs"]
        except urllib.error.HTTPError as error:  # 404 until Airflow has parsed the file
            if error.code != 404:
                raise
            runs = []
        if runs:
            return runs[0]["dag_run_id"]
        time.sleep(0.5)
    raise AssertionError(f"no run of {dag_id} started")


def _log(server, dag_id, run_id, task_id, try_number):
    text = api_get(server, f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
                   f"/logs/{try_number}?full_content=true")
    return "\n".join(event.get("event", "") if isinstance(event, dict) else str(event)
                     for event in text["content"])


def test_node_tasks_turn_green_one_by_one_while_the_producer_runs(demo_project,
                                                                  airflow_server):
    _watched(demo_project, airflow_server, "watched", step_seconds=3)
    process = _run_once(demo_project, airflow_server)
    run_id = _latest_run(airflow_server, "watched-flights")
    seen = []  # (producer state, node tasks in success) while the run goes on
    while process.poll() is None:
        states = _states(airflow_server, "watched-flights", run_id)
        if PRODUCER in states:
            seen.append((states[PRODUCER]["state"],
                         frozenset(n for n in NODES if states.get(n, {}).get("state")
                                   == "success")))
        time.sleep(0.5)
    out, err = process.communicate()
    assert process.returncode == 0, out[-3000:] + err
    # while the producer ran, the node tasks went green a few at a time, not all at the end
    while_running = [done for state, done in seen if state == "running"]
    assert len({len(done) for done in while_running}) >= 4, seen
    assert any(0 < len(done) < len(NODES) for done in while_running), seen
    states = _states(airflow_server, "watched-flights", run_id)
    assert {task: ti["state"] for task, ti in states.items()} == {
        **{node: "success" for node in NODES}, PRODUCER: "success"}
    # progress counts every node task and the producer
    assert f"{len(NODES) + 1}/{len(NODES) + 1} tasks done, 0 running, 0 failed, run " \
           "success" in out
    # each node task's log holds that node's lines, not its siblings'
    log = _log(airflow_server, "watched-flights", run_id, "train_model", 1)
    assert "flights: train_model read 1 inputs" in log, log
    assert "flights: split_data" not in log
    # the node's own duration, not the group's: it started after its upstream node ended
    train, split = states["train_model"], states["split_data"]
    assert train["start_date"] >= split["end_date"]
    assert json.loads((demo_project / "data/flights/metrics.json").read_text())["node"] == \
        "evaluate_model"
    # each node task recorded the Assets its node wrote; the producer, none
    events = api_get(airflow_server, "/api/v2/assets/events?source_dag_id=watched-flights"
                     "&limit=100")["asset_events"]
    written = {(event["source_task_id"], event["uri"]) for event in events}
    assert {task for task, _ in written} == set(NODES)
    assert {("train_model", "kedro://demo/regressor"),
            ("split_data", "kedro://demo/train_rows"),
            ("split_data", "kedro://demo/test_rows")} <= written


def test_a_failed_node_fails_alone_and_clearing_it_reruns_that_node_alone(demo_project,
                                                                           airflow_server):
    _watched(demo_project, airflow_server, "watched-fail", step_seconds=0)
    fail(demo_project, "train_model")
    process = _run_once(demo_project, airflow_server)
    out, err = process.communicate(timeout=400)
    assert process.returncode == 1, out[-3000:] + err
    run_id = re.search(r"Triggered run (\S+), see ", out).group(1)
    dag_id = "watched-fail-flights"
    states = {task: ti["state"] for task, ti in _states(airflow_server, dag_id,
                                                        run_id).items()}
    assert states == {
        "preprocess_companies": "success", "preprocess_shuttles": "success",
        "create_model_input_table": "success", "split_data": "success",
        "train_model": "failed", "evaluate_model": "upstream_failed",
        # independent of the failed node: they ran in the same producer and went green
        "report_companies": "success", "report_shuttles": "success",
        PRODUCER: "success"}, states
    log = _log(airflow_server, dag_id, run_id, "train_model", 1)
    assert "ValueError: flights: train_model failed on purpose" in log, log
    assert err.strip().splitlines()[-1].endswith("failed tasks: train_model")

    # fix the input, clear the failed node task and what follows it: it runs alone
    fail(demo_project, "train_model", failing=False)
    written = (demo_project / "data/flights/companies.json").stat().st_mtime_ns
    api_post(airflow_server, f"/api/v2/dags/{dag_id}/clearTaskInstances", {
        "dry_run": False, "dag_run_id": run_id, "task_ids": ["train_model"],
        "include_downstream": True, "only_failed": False, "reset_dag_runs": True})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        run = api_get(airflow_server, f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        if run["state"] in ("success", "failed"):
            break
        time.sleep(1)
    assert run["state"] == "success", _states(airflow_server, dag_id, run_id)
    tis = _states(airflow_server, dag_id, run_id)
    assert tis[PRODUCER]["try_number"] == 1  # the group did not run again
    assert tis["train_model"]["try_number"] == 2
    log = _log(airflow_server, dag_id, run_id, "train_model", 2)
    assert f"The group's task {PRODUCER} did not run node train_model" in log, log
    assert "flights: train_model read 1 inputs" in log
    # only the cleared nodes ran: the others' outputs are as the first run left them
    assert (demo_project / "data/flights/companies.json").stat().st_mtime_ns == written
    assert json.loads((demo_project / "data/flights/metrics.json").read_text())["node"] == \
        "evaluate_model"


def test_a_producer_with_threads_runs_independent_nodes_side_by_side(demo_project,
                                                                     airflow_server):
    """group_threads: 4: the producer's runner runs the nodes whose inputs are ready at once
    in threads; each node task still logs its own node's lines and only those."""
    add_flights_pipeline(demo_project)
    point_at(demo_project, airflow_server, "watched-threads", execution="local",
             grouping="pipeline", grouping_mode="watched", group_threads=4,
             env_vars={"FLIGHTS_STEP_SECONDS": "2"})
    process = _run_once(demo_project, airflow_server)
    out, err = process.communicate(timeout=400)
    assert process.returncode == 0, out[-3000:] + err
    run_id = re.search(r"Triggered run (\S+), see ", out).group(1)
    dag_id = "watched-threads-flights"
    states = _states(airflow_server, dag_id, run_id)
    assert {task: ti["state"] for task, ti in states.items()} == {
        **{node: "success" for node in NODES}, PRODUCER: "success"}
    ends = {}
    for node in NODES:
        value = api_get(airflow_server, f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/"
                        f"taskInstances/{PRODUCER}/xcomEntries/kedro_node.{node}")["value"]
        ends[node] = json.loads(value) if isinstance(value, str) else value  # as stored
    # the two preprocessing nodes (2 s each) ran at the same time in the producer
    companies, shuttles = ends["preprocess_companies"], ends["preprocess_shuttles"]
    assert companies["start"] < shuttles["time"] and shuttles["start"] < companies["time"]
    for node in NODES:
        log = _log(airflow_server, dag_id, run_id, node, 1)
        assert f"flights: {node} read" in log, log
        others = [other for other in NODES if other != node and f"flights: {other} read"
                  in log]
        assert not others, (node, others, log)
