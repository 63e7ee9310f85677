"""retry_on: the DAG file's NodePodOperator spends retries on infrastructure failures only.

The generated file is imported with Airflow's DagBag and its node task runs, unchanged, through
the real KubernetesPodOperator code and the real kubernetes client (and, deferred, the real
KubernetesPodTrigger with kubernetes_asyncio). Only the Kubernetes API is stood in: a local
HTTP server answering the pod, pod log and event calls as an API server does, with JSON shaped
like the API's V1Pod, reached through a kubeconfig file (the operators' `config_file`). Airflow's
task runner fails a task without retrying on AirflowFailException and retries one that raised
any other AirflowException while tries remain, so the exception class is the outcome.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from kedro_airflow_k8s import validate
from kedro_airflow_k8s.render import render_dag, write_atomically
from tests.golden.configs import chain, compiled, run

STARTED = "2026-01-01T00:00:05Z"
FINISHED = "2026-01-01T00:01:00Z"
_POD = re.compile(r"^/api/v1/namespaces/([^/]+)/pods(?:/([^/]+))?(/log)?$")
_EVENTS = re.compile(r"^/api/v1/namespaces/([^/]+)/events$")


def _condition(kind: str, status: str, reason: str | None = None,
               message: str | None = None) -> dict[str, Any]:
    found = {"type": kind, "status": status, "lastTransitionTime": STARTED}
    return {**found, **({"reason": reason} if reason else {}),
            **({"message": message} if message else {})}


def _ended(exit_code: int, reason: str, *, pod_reason: str | None = None,
           conditions: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    """A pod whose container `base` terminated."""
    terminated = {"exitCode": exit_code, "reason": reason, "startedAt": STARTED,
                  "finishedAt": FINISHED, "containerID": "containerd://0123"}
    return {"phase": "Succeeded" if exit_code == 0 and pod_reason is None else "Failed",
            **({"reason": pod_reason, "message": f"The pod was {pod_reason}."}
               if pod_reason else {}),
            "conditions": [_condition("PodScheduled", "True"), *conditions],
            "containerStatuses": [{"name": "base", "image": "demo:1", "imageID": "demo@sha256:0",
                                   "ready": False, "restartCount": 0, "started": False,
                                   "state": {"terminated": terminated}}]}


CODE_ERROR = _ended(1, "Error")
SUCCEEDED = _ended(0, "Completed")
OOM_KILLED = _ended(137, "OOMKilled")
# the node's process may exit 1 on SIGTERM; the pod's reason says the kubelet evicted it
EVICTED = _ended(1, "Error", pod_reason="Evicted")
PREEMPTED = _ended(1, "Error", conditions=(_condition(
    "DisruptionTarget", "True", "PreemptionByScheduler", "Preempted by a higher priority pod"),))
KILLED = _ended(137, "Error")
IMAGE_PULL_BACK_OFF = {
    "phase": "Pending", "conditions": [_condition("PodScheduled", "True")],
    "containerStatuses": [{"name": "base", "image": "demo:1", "imageID": "", "ready": False,
                           "restartCount": 0, "started": False, "state": {"waiting": {
                               "reason": "ImagePullBackOff",
                               "message": 'Back-off pulling image "demo:1": not found'}}}]}
UNSCHEDULABLE = {"phase": "Pending", "conditions": [_condition(
    "PodScheduled", "False", "Unschedulable", "0/3 nodes are available: 3 Insufficient cpu.")]}


class KubernetesStandIn(ThreadingHTTPServer):
    """The pod calls of a Kubernetes API server: every pod created takes `status` at once."""

    daemon_threads = True

    def __init__(self, status: dict[str, Any]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status = status
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[str] = []
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: KubernetesStandIn

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, code: int, body: Any, content_type: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _not_found(self, name: str) -> None:
        self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                         "message": f'pods "{name}" not found', "reason": "NotFound",
                         "code": 404})

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        server = self.server
        with server.lock:
            server.calls.append(f"{method} {url.path}")
            pod_match, events_match = _POD.match(url.path), _EVENTS.match(url.path)
            if events_match and method == "GET":
                return self._send(200, {"kind": "EventList", "apiVersion": "v1",
                                        "metadata": {"resourceVersion": "1"}, "items": [{
                                            "metadata": {"name": "e1", "namespace":
                                                         events_match[1]},
                                            "involvedObject": {"kind": "Pod"},
                                            "reason": "Scheduled", "message": "stand-in event",
                                            "type": "Normal"}]})
            if not pod_match:
                return self._send(404, {"kind": "Status", "code": 404, "message": url.path})
            namespace, name, log = pod_match.groups()
            if name is None and method == "GET":
                selector = query.get("labelSelector", [""])[0]
                items = [pod for (ns, _), pod in server.pods.items()
                         if ns == namespace and _selects(selector, pod["metadata"]["labels"])]
                return self._send(200, {"kind": "PodList", "apiVersion": "v1",
                                        "metadata": {"resourceVersion": "1"}, "items": items})
            if name is None and method == "POST":
                pod = self._body()
                pod["metadata"].update(namespace=namespace, uid=f"uid-{len(server.pods)}",
                                       resourceVersion="1", creationTimestamp=STARTED)
                pod["status"] = copy.deepcopy(server.status)
                server.pods[namespace, pod["metadata"]["name"]] = pod
                return self._send(201, {**pod, "status": {"phase": "Pending"}})
            pod = server.pods.get((namespace, name))
            if pod is None:
                return self._not_found(name)
            if log:
                return self._send(200, "kedro run: the node's log\n", "text/plain")
            if method == "PATCH":
                pod["metadata"]["labels"].update(self._body()["metadata"]["labels"])
            if method == "DELETE":
                del server.pods[namespace, name]
            return self._send(200, pod)

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def do_DELETE(self) -> None:
        self._route("DELETE")


def _selects(selector: str, labels: dict[str, str]) -> bool:
    """Kubernetes label selector terms: key=value, key!=value, !key, key."""
    for term in filter(None, selector.split(",")):
        if "!=" in term:
            key, value = term.split("!=")
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key) != value.lstrip("="):
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


@pytest.fixture
def kubernetes(tmp_path):
    """Start a stand-in for `status`; yields (server, kubeconfig path)."""
    servers: list[KubernetesStandIn] = []

    def start(status: dict[str, Any]) -> tuple[KubernetesStandIn, Path]:
        server = KubernetesStandIn(status)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        config = tmp_path / "kubeconfig"
        config.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "stand-in",
            "clusters": [{"name": "stand-in", "cluster": {
                "server": f"http://127.0.0.1:{server.server_address[1]}"}}],
            "users": [{"name": "stand-in", "user": {"token": "stand-in"}}],
            "contexts": [{"name": "stand-in", "context": {"cluster": "stand-in",
                                                          "user": "stand-in"}}]}))
        return server, config

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _node_task(tmp_path: Path, config_file: Path, **settings: Any) -> tuple[Any, Any]:
    """The DAG file of a two-node chain with `settings` as run_config, imported by DagBag."""
    spec = compiled(chain(), run(volume={"disabled": True}, startup_time=1,
                                 kubernetes_connection={"config_file": str(config_file)},
                                 **settings))
    path = tmp_path / "dags" / "demo.py"
    write_atomically(path, render_dag(spec))
    dag, problems = validate.load_dag(path)
    assert problems == []
    return dag, dag.get_task("clean_orders")


def _context(dag: Any, task: Any) -> dict[str, Any]:
    """The context Airflow builds for the try, its templates rendered; XComs (in Airflow's
    database) are kept in a dict."""
    context = validate.render_task(dag, task)
    pushed: dict[str, Any] = {}
    object.__setattr__(context["ti"], "xcom_push",
                       lambda key, value, **_: pushed.__setitem__(key, value))
    context.pop("task_state_store", None)  # Airflow's database too
    return context


def _execute(dag: Any, task: Any, deferrable: bool) -> None:
    """One try of the task, as a worker (and, deferred, the triggerer) runs it."""
    from airflow.sdk.exceptions import TaskDeferred

    context = _context(dag, task)
    if not deferrable:
        task.execute(context)
        return
    task.deferrable = True
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context)

    async def first_event() -> Any:
        return await anext(deferred.value.trigger.run())

    event = asyncio.run(first_event())
    getattr(task, deferred.value.method_name)(context, event.payload)


RETRIES = {"task_defaults": {"retries": 2}}
INFRASTRUCTURE = [("oom-killed", OOM_KILLED), ("evicted", EVICTED), ("preempted", PREEMPTED),
                  ("killed", KILLED), ("image-pull-back-off", IMAGE_PULL_BACK_OFF),
                  ("never-scheduled", UNSCHEDULABLE)]


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_a_failure_of_the_nodes_code_fails_the_task_without_retrying(
        tmp_path, kubernetes, deferrable):
    from airflow.sdk.exceptions import AirflowFailException

    server, config = kubernetes(CODE_ERROR)
    dag, task = _node_task(tmp_path, config, **RETRIES)
    assert type(task).__name__ == "NodePodOperator" and task.retries == 2
    with pytest.raises(AirflowFailException, match=r"Pod clean-orders-\w+ returned a failure"):
        _execute(dag, task, deferrable)
    assert any(call.startswith("DELETE") for call in server.calls)  # cleaned up as before


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
@pytest.mark.parametrize("status", [s for _, s in INFRASTRUCTURE],
                         ids=[name for name, _ in INFRASTRUCTURE])
def test_a_pod_the_cluster_ended_fails_the_try_and_is_retried(
        tmp_path, kubernetes, status, deferrable):
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    server, config = kubernetes(status)
    dag, task = _node_task(tmp_path, config, **RETRIES)
    with pytest.raises(AirflowException) as failed:
        _execute(dag, task, deferrable)
    assert not isinstance(failed.value, AirflowFailException), failed.value
    assert any(call.startswith("POST") for call in server.calls)


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_a_pod_that_succeeds_succeeds(tmp_path, kubernetes, deferrable):
    server, config = kubernetes(SUCCEEDED)
    dag, task = _node_task(tmp_path, config, **RETRIES)
    _execute(dag, task, deferrable)
    assert server.pods == {}  # deleted, as on_finish_action says


def test_retry_on_any_retries_a_failure_of_the_nodes_code(tmp_path, kubernetes):
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    _, config = kubernetes(CODE_ERROR)
    dag, task = _node_task(tmp_path, config, task_defaults={"retries": 2, "retry_on": "any"})
    assert type(task) is KubernetesPodOperator
    with pytest.raises(AirflowException) as failed:
        _execute(dag, task, deferrable=False)
    assert not isinstance(failed.value, AirflowFailException)
