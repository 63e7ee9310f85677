"""Against a real Kubernetes control plane (tests/cluster: kube-apiserver 1.37, etcd,
kube-controller-manager, kube-scheduler, kwok nodes):

- every pod and volume claim of the golden corpus is admitted by the API server, and
  `--validate` agrees with the API server's verdict on pods and claims at the edges of its rules;
- the example project runs in Kubernetes mode on the suite's real `airflow standalone`: the
  run's claim is provisioned and bound, every pod is created, scheduled and ends, the claim is
  deleted, and a second run gets a claim of its own;
- the failure rules hold for real: a node's own error fails its task at once, a pod the cluster
  ended (OOMKilled, Evicted, never scheduled) is retried, sync and deferrable; a claim that
  cannot bind says why in the failed task's log.

Only the kubelet is kwok's: it does not run the image, it moves each pod to the end the pod's
annotations ask for (tests/cluster/stages.yaml) and serves the log the namespace was given.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time

import pytest
import yaml

from kedro_airflow_k8s import apiserver_checks, kubernetes_rules
from kedro_airflow_k8s import validate as preflight
from tests.cluster import controlplane, edge_cases
from tests.conftest import CLUSTER_LOGS, WATCHED_DEMO_NODES, run_kedro
from tests.e2e.test_airflow import api_get, client, point_at

pytestmark = pytest.mark.e2e

K8S = controlplane.K8S_VERSION
GOLDEN = edge_cases.golden_manifests()
GOLDEN_CONFIGS = sorted({name.split("/")[0] for name, _ in GOLDEN})


def _prepare(plane, manifest) -> None:
    """What a cluster the user deploys to has before the DAG runs: the namespace, and the
    service account the pods name (the API server refuses a pod naming a missing one)."""
    namespace = manifest["metadata"].get("namespace", "default")
    plane.ensure_namespace(namespace)
    account = manifest.get("spec", {}).get("serviceAccountName")
    if account and not kubernetes_rules.dns1123_subdomain(account):  # else none can exist
        plane.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                     "metadata": {"name": account, "namespace": namespace}})


def _our_problems(manifest) -> list[str]:
    return preflight.schema_problems(manifest, K8S) + apiserver_checks.check_manifest(
        manifest, K8S)


@pytest.mark.parametrize("config", GOLDEN_CONFIGS)
def test_every_golden_pod_and_claim_is_admitted_by_the_api_server(control_plane, config):
    checked = 0
    for name, manifest in GOLDEN:
        if not name.startswith(f"{config}/"):
            continue
        _prepare(control_plane, manifest)
        assert _our_problems(manifest) == [], name
        status, answer = control_plane.dry_run_create(manifest)
        assert status == 201, f"{name}: {status} {answer.get('message')}"
        # the server's own defaults and mutations keep what the operator asked for
        assert answer["metadata"]["name"] == manifest["metadata"]["name"]
        checked += 1
    assert checked


@pytest.mark.parametrize("description, manifest, accepted", edge_cases.cases(),
                         ids=[case[0] for case in edge_cases.cases()])
def test_validate_gives_the_api_servers_verdict(control_plane, description, manifest,
                                                accepted):
    _prepare(control_plane, manifest)
    status, answer = control_plane.dry_run_create(manifest)
    assert (status == 201) is accepted, f"the API server: {status} {answer.get('message')}"
    problems = _our_problems(manifest)
    assert (problems == []) is accepted, problems


def test_the_harness_sees_a_label_value_over_63_characters(control_plane):
    """The server refuses what it should: a run id made into a label value of 64 characters."""
    manifest = edge_cases.base_pod()
    _prepare(control_plane, manifest)
    manifest["metadata"]["labels"]["run_id"] = "r" * 64
    status, answer = control_plane.dry_run_create(manifest)
    assert status == 422 and "must be no more than 63" in answer["message"]
    manifest["metadata"]["labels"]["run_id"] = "r" * 63
    assert control_plane.dry_run_create(manifest)[0] == 201


# --- runs on the real Airflow against the real control plane ---------------------------------

def _events(plane, namespace: str) -> list[dict]:
    return plane.ok("GET", f"/api/v1/namespaces/{namespace}/events?limit=2000")["items"]


def _cluster_config(project, server, connection, run_name: str, **run_changes) -> None:
    point_at(project, server, run_name, execution="kubernetes",
             image="registry.example.com/demo:1.0",
             kubernetes_connection={"kubernetes_conn_id": connection}, **run_changes)


def _task_instances(server, dag_id: str, run_id: str) -> dict[str, dict]:
    found = api_get(server, f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")
    return {ti["task_id"]: ti for ti in found["task_instances"]}


def _run_id(stdout: str) -> str:
    return re.search(r"Triggered run (\S+),", stdout).group(1)


def test_the_example_project_runs_on_the_cluster(demo_project, airflow_server,
                                                 cluster_connection, control_plane):
    _cluster_config(demo_project, airflow_server, cluster_connection, "k8s-demo")
    claims = []
    for _ in range(2):  # a second run gets a claim of its own
        result = run_kedro(demo_project, "airflow-k8s", "run-once", "--wait", "--timeout",
                           "15", env=airflow_server.auth_env())
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr
        assert re.search(r"\d+/\d+ tasks done, 0 running, 0 failed, run success",
                         result.stdout), result.stdout[-2000:]
        run_id = _run_id(result.stdout)
        events = [e for e in _events(control_plane, "kedro")
                  if e["involvedObject"].get("kind") in ("Pod", "PersistentVolumeClaim")]
        claim = next(e["involvedObject"]["name"] for e in events
                     if e["reason"] == "ProvisioningSucceeded"
                     and e["involvedObject"]["name"] not in claims)
        claims.append(claim)
        # every node pod was scheduled by the real scheduler; `train` (profile huge: a node
        # selector and a toleration) onto the high-memory pool, the others off its taint
        scheduled = {e["involvedObject"]["name"]: e["message"] for e in events
                     if e["reason"] == "Scheduled"}
        tasks = _task_instances(airflow_server, "k8s-demo", run_id)
        for task_id in ("clean_orders", "count_customers", "train", "report"):
            assert tasks[task_id]["state"] == "success"
            pod = next((p for p in scheduled if p.startswith(task_id.replace("_", "-"))), None)
            assert pod, f"no pod of {task_id} scheduled: {sorted(scheduled)}"
        train = [m for p, m in scheduled.items() if p.startswith("train-")]
        assert train and all("kwok-highmem-0" in m for m in train), train
        report = [m for p, m in scheduled.items() if p.startswith("report-")]
        assert report and all("kwok-general-0" in m for m in report), report
        # the pod's output is the task's log
        log = "\n".join(client(airflow_server).log_tail("k8s-demo", run_id, "report", 200))
        assert "kak-test: every node of this namespace succeeds" in log
    assert len(set(claims)) == 2, claims
    # both claims and their volumes are gone: deleted by the DAG, released by the controller
    names = {c["metadata"]["name"] for c in control_plane.ok(
        "GET", "/api/v1/namespaces/kedro/persistentvolumeclaims")["items"]}
    assert not names & set(claims)
    control_plane.wait_for(lambda: not [
        v for v in control_plane.ok("GET", "/api/v1/persistentvolumes")["items"]
        if v["spec"].get("claimRef", {}).get("name") in claims], "the runs' volumes deleted")
    # no pod is left behind
    pods = control_plane.ok("GET", "/api/v1/namespaces/kedro/pods")["items"]
    assert not [p["metadata"]["name"] for p in pods
                if p["metadata"].get("labels", {}).get("dag_id") == "k8s-demo"]


# The failure cases: node -> (profile annotations, expected state, expected tries).
OUTCOMES = {
    "code_error": ({"kak.test/outcome": "error"}, "failed", 1),
    "oom": ({"kak.test/outcome": "oom"}, "failed", 2),
    "evicted": ({"kak.test/outcome": "evicted"}, "failed", 2),
    "fine": ({}, "success", 1),
}


def _outcome_pipeline(project, deferrable: bool) -> dict:
    """Pipeline `outcomes`: one independent node per case of OUTCOMES and one that is never
    scheduled, each with its profile and two tries."""
    registry = project / "src/demo/pipeline_registry.py"
    nodes = [f'node(lambda: 1, None, "{name}_out", name="{name}", '
             f'tags=["resources.{name}", "task_settings.twice"])' for name in OUTCOMES]
    nodes.append('node(lambda: 1, None, "nowhere_out", name="unschedulable", '
                 'tags=["resources.nowhere", "task_settings.twice"])')
    registry.write_text(registry.read_text().replace(
        '    pipelines["__default__"]',
        '    from kedro.pipeline import node\n'
        f'    pipelines["outcomes"] = Pipeline([{", ".join(nodes)}])\n'
        '    pipelines["__default__"]'))
    resources = {name: {"annotations": annotations} for name, (annotations, _, _)
                 in OUTCOMES.items()}
    resources["nowhere"] = {"node_selectors": {"pool": "none-of-these"}}
    twice = {"retries": 1, "retry_delay": "1s", "schedule_timeout": "15s",
             "deferrable": deferrable}
    if deferrable:
        # kwok's log stream of a finished container never ends (a kubelet's does): a
        # deferrable task without logging_interval reads the log following it, and would wait
        # out the client's read timeout; with it, the read after the trigger does not follow
        twice["logging_interval"] = "30s"
    return {"resources": resources, "task_settings": {"twice": twice}}


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_a_nodes_error_fails_at_once_and_a_pod_the_cluster_ended_is_retried(
        demo_project, airflow_server, cluster_connection, control_plane, deferrable):
    run_name = f"k8s-{'deferrable' if deferrable else 'sync'}"
    dag_id = f"{run_name}-outcomes"
    run = _outcome_pipeline(demo_project, deferrable)
    _cluster_config(demo_project, airflow_server, cluster_connection, run_name,
                    namespace="kedro-fail", volume={"disabled": True}, macro_params=[],
                    resources=run["resources"], task_settings=run["task_settings"])
    result = run_kedro(demo_project, "airflow-k8s", "-p", "outcomes", "run-once", "--wait",
                       "--timeout", "15", env=airflow_server.auth_env())
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr
    tasks = _task_instances(airflow_server, dag_id, _run_id(result.stdout))
    got = {task: (tasks[task]["state"], tasks[task]["try_number"])
           for task in [*OUTCOMES, "unschedulable"]}
    assert got == {**{task: (state, tries) for task, (_, state, tries) in OUTCOMES.items()},
                   "unschedulable": ("failed", 2)}
    # the node's own output is in its task's log
    log = "\n".join(client(airflow_server).log_tail(dag_id, _run_id(result.stdout),
                                                    "code_error", 300))
    assert CLUSTER_LOGS["kedro-fail"].splitlines()[-1] in log


def test_a_claim_that_cannot_bind_says_why(demo_project, airflow_server, cluster_connection,
                                           control_plane):
    _cluster_config(demo_project, airflow_server, cluster_connection, "k8s-unbound",
                    volume={"storageclass": "no-such-class"}, macro_params=[],
                    task_defaults={"schedule_timeout": "20s"})
    result = run_kedro(demo_project, "airflow-k8s", "-p", "ingest", "run-once", "--wait",
                       "--timeout", "15", env=airflow_server.auth_env())
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr
    run_id = _run_id(result.stdout)
    tasks = _task_instances(airflow_server, "k8s-unbound-ingest", run_id)
    failed = sorted(t for t, ti in tasks.items() if ti["state"] == "failed")
    assert failed, tasks
    log = "\n".join(client(airflow_server).log_tail("k8s-unbound-ingest", run_id, failed[0],
                                                    400))
    assert "unbound immediate PersistentVolumeClaims" in log, log[-3000:]
    # the claim is deleted at the end all the same
    claims = control_plane.ok("GET", "/api/v1/namespaces/kedro/persistentvolumeclaims")["items"]
    assert not [c for c in claims if c["spec"].get("storageClassName") == "no-such-class"]


def test_a_retry_after_the_worker_died_reattaches_to_the_running_pod(
        demo_project, airflow_server, cluster_connection, control_plane):
    """The task's process is killed while its pod runs (a worker lost): the retry finds the
    pod by its labels (`durable`, from `reattach_on_restart`) and follows it to the end
    instead of starting a second one."""
    registry = demo_project / "src/demo/pipeline_registry.py"
    registry.write_text(registry.read_text().replace(
        '    pipelines["__default__"]',
        '    from kedro.pipeline import node\n'
        '    pipelines["slow"] = Pipeline([node(lambda: 1, None, "slow_out", name="slow", '
        'tags=["resources.slow", "task_settings.durable"])])\n'
        '    pipelines["__default__"]'))
    _cluster_config(demo_project, airflow_server, cluster_connection, "k8s-reattach",
                    volume={"disabled": True}, macro_params=[],
                    resources={"slow": {"annotations": {"kak.test/runs-for": "45s"}}},
                    task_settings={"durable": {"retries": 1, "retry_delay": "1s",
                                               "reattach_on_restart": True}})
    result = run_kedro(demo_project, "airflow-k8s", "-p", "slow", "run-once",
                       env=airflow_server.auth_env())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    dag_id, run_id = "k8s-reattach-slow", _run_id(result.stdout)

    def running_pods():
        pods = control_plane.ok("GET", "/api/v1/namespaces/kedro/pods?labelSelector="
                                       "dag_id%3Dk8s-reattach-slow")["items"]
        return [p for p in pods if p["status"].get("phase") == "Running"]

    control_plane.wait_for(running_pods, "the pod of task slow running", timeout=120)
    first = _task_instances(airflow_server, dag_id, run_id)["slow"]
    assert first["try_number"] == 1 and first["pid"], first
    os.kill(first["pid"], signal.SIGKILL)  # the worker's task process is gone, its pod is not
    deadline = time.monotonic() + 240
    while _task_instances(airflow_server, dag_id, run_id)["slow"]["state"] not in (
            "success", "failed"):
        assert time.monotonic() < deadline, _task_instances(airflow_server, dag_id, run_id)
        time.sleep(3)
    last = _task_instances(airflow_server, dag_id, run_id)["slow"]
    assert (last["state"], last["try_number"]) == ("success", 2), last
    scheduled = [e for e in _events(control_plane, "kedro") if e["reason"] == "Scheduled"
                 and e["involvedObject"]["name"].startswith("slow-")]
    assert len(scheduled) == 1, [e["involvedObject"]["name"] for e in scheduled]


WATCHED_PRODUCER = "run__clean_orders__and_5_more"


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_a_watched_group_s_pod_log_gives_every_node_task_its_state(
        demo_project, airflow_server, cluster_connection, control_plane, deferrable):
    """One pod runs the example project's six nodes; the real KubernetesPodOperator reads its
    log (kwok serves what WatchedRunner prints) and each node's task takes its node's end."""
    run_name = f"k8s-watched-{'deferrable' if deferrable else 'sync'}"
    defaults = {"deferrable": True, "logging_interval": "30s"} if deferrable else {}
    _cluster_config(demo_project, airflow_server, cluster_connection, run_name,
                    namespace="kedro-watched", volume={"disabled": True}, macro_params=[],
                    grouping="pipeline", grouping_mode="watched", task_defaults=defaults)
    result = run_kedro(demo_project, "airflow-k8s", "run-once", "--wait", "--timeout", "15",
                       env=airflow_server.auth_env())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    run_id = _run_id(result.stdout)
    tasks = _task_instances(airflow_server, run_name, run_id)
    assert {task: ti["state"] for task, ti in tasks.items()} == {
        **{node: "success" for node in WATCHED_DEMO_NODES}, WATCHED_PRODUCER: "success"}
    # one pod ran the nodes: no node task made one of its own
    pods = [e["involvedObject"]["name"] for e in _events(control_plane, "kedro-watched")
            if e["reason"] == "Scheduled"]
    assert [p for p in pods if p.startswith("run-clean-orders")] and not [
        p for p in pods if not p.startswith("run-clean-orders")], pods
    # each node's task logs its node's lines, not its siblings'
    log = "\n".join(client(airflow_server).log_tail(run_name, run_id, "train", 200))
    assert "kak-test: node train ran" in log and "kak-test: node report ran" not in log, log


def test_a_watched_node_that_failed_in_the_pod_fails_its_own_task(
        demo_project, airflow_server, cluster_connection, control_plane):
    """The pod exits 1 (WatchedRunner ends so when a node failed): the failed node's task
    fails with its error, the node after it is upstream_failed, the others and the producer
    succeed."""
    config = yaml.safe_load((demo_project / "conf/base/airflow-k8s.yaml").read_text())
    resources = config["run_config"]["resources"]
    for profile in resources.values():  # the group's pod merges its nodes' profiles
        profile["annotations"] = {"kak.test/outcome": "error"}
    _cluster_config(demo_project, airflow_server, cluster_connection, "k8s-watched-fail",
                    namespace="kedro-watched-fail", volume={"disabled": True},
                    macro_params=[], grouping="pipeline", grouping_mode="watched",
                    resources=resources)
    result = run_kedro(demo_project, "airflow-k8s", "run-once", "--wait", "--timeout", "15",
                       env=airflow_server.auth_env())
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr
    run_id = _run_id(result.stdout)
    tasks = _task_instances(airflow_server, "k8s-watched-fail", run_id)
    assert {task: ti["state"] for task, ti in tasks.items()} == {
        **{node: "success" for node in WATCHED_DEMO_NODES}, "train": "failed",
        "report": "upstream_failed", WATCHED_PRODUCER: "success"}
    assert tasks["train"]["try_number"] == 1
    log = "\n".join(client(airflow_server).log_tail("k8s-watched-fail", run_id, "train", 200))
    assert "ValueError: kak-test: train failed" in log, log


def test_a_lost_watched_producer_fails_its_unfinished_nodes_for_a_retry_of_their_own(
        demo_project, airflow_server, cluster_connection, control_plane):
    """The group's pod is evicted while its first node, clean_orders, runs (its log stops
    there). clean_orders' task, waiting for it, fails as a retryable failure and its retry
    runs the node alone in a pod of its own; the tasks after it find the producer ended and
    run their nodes themselves, each in its own pod; train's pods (profile `huge`, evicted
    wherever they run) spend its two tries; report is upstream_failed."""
    config = yaml.safe_load((demo_project / "conf/base/airflow-k8s.yaml").read_text())
    resources = config["run_config"]["resources"]
    # the group's pod merges its nodes' profiles: it is evicted with train's
    resources["huge"]["annotations"] = {"kak.test/outcome": "evicted"}
    _cluster_config(demo_project, airflow_server, cluster_connection, "k8s-watched-lost",
                    namespace="kedro-watched-lost", volume={"disabled": True},
                    macro_params=[], grouping="pipeline", grouping_mode="watched",
                    resources=resources,
                    task_defaults={"retries": 1, "retry_delay": "1s", "retry_on":
                                   "infrastructure"})
    result = run_kedro(demo_project, "airflow-k8s", "run-once", "--wait", "--timeout", "15",
                       env=airflow_server.auth_env())
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr
    run_id = _run_id(result.stdout)
    tasks = _task_instances(airflow_server, "k8s-watched-lost", run_id)
    got = {task: (ti["state"], ti["try_number"]) for task, ti in tasks.items()}
    assert got == {
        "clean_orders": ("success", 2), "count_customers": ("success", 1),
        "features.daily_totals": ("success", 1), "features.scale": ("success", 1),
        "train": ("failed", 2), "report": ("upstream_failed", 0),
        WATCHED_PRODUCER: ("failed", 1)}, got
    scheduled = sorted(e["involvedObject"]["name"].rsplit("-", 1)[0] for e in _events(
        control_plane, "kedro-watched-lost") if e["reason"] == "Scheduled")
    # the producer's pod, then one pod per node run again, two of train (its two tries)
    assert scheduled == ["clean-orders", "count-customers", "features-daily-totals",
                         "features-scale", "run-clean-orders-and-5-more", "train",
                         "train"], scheduled
    # clean_orders' first try waited for the producer and failed when it was lost
    first = api_get(airflow_server, f"/api/v2/dags/k8s-watched-lost/dagRuns/{run_id}/"
                    "taskInstances/clean_orders/logs/1?full_content=true")
    events = json.dumps(first["content"])
    assert f"the group's task {WATCHED_PRODUCER} ended (failed) before node clean_orders" \
        in events, events[-3000:]
