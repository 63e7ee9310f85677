"""The operators a DAG file defines, copied into it by their source (see `source`)."""

from __future__ import annotations

from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from kubernetes.client import models as k8s


class NodePodOperator(KubernetesPodOperator):
    """A Kedro node's pod whose retries are for the cluster's failures (retry_on:
    infrastructure): a pod the cluster ended (evicted, preempted, node lost, out of memory,
    image not pulled, never scheduled) fails the try as usual; the node's own error fails
    the task at once, without spending its retries."""

    def cleanup(self, pod: k8s.V1Pod, remote_pod: k8s.V1Pod | None, xcom_result: Any = None,
                context: Any = None) -> None:
        error = self.node_error(remote_pod)
        try:
            super().cleanup(pod, remote_pod, xcom_result=xcom_result, context=context)
        except AirflowException as failure:
            if error is None or type(failure) is not AirflowException:
                raise
            self.log.error("Not retried: %s", error)
            raise AirflowFailException(str(failure)) from failure

    def node_error(self, pod: k8s.V1Pod | None) -> str | None:
        """Why the node's code failed, or None when the cluster ended the pod: a pod reason
        (Evicted, Preempted, NodeLost, DeadlineExceeded, ...) or a DisruptionTarget condition,
        a container killed (OOMKilled, exit 137 or 143) or never run."""
        status = pod.status if pod is not None else None
        if status is None or status.reason:
            return None
        for condition in status.conditions or []:
            if condition.type == "DisruptionTarget" and condition.status == "True":
                return None
        for container in status.container_statuses or []:
            ended = container.state.terminated if container.state else None
            if (
                container.name == self.base_container_name
                and ended is not None
                and ended.reason == "Error"
                and ended.exit_code not in (0, 137, 143)
            ):
                return f"the node's code failed: exit code {ended.exit_code}"
        return None


class NodeBashOperator(BashOperator):
    """A Kedro node's `kedro run` whose retries are for the worker's failures (retry_on:
    infrastructure): a process killed by a signal (out of memory, the worker stopping) or
    that could not start fails the try as usual; the node's own error (kedro exits 1 with
    its traceback) fails the task at once, without spending its retries."""

    def execute(self, context: Any) -> Any:
        try:
            return super().execute(context)
        except AirflowException as failure:
            ended = getattr(self.subprocess_hook, "sub_process", None)
            code = ended.returncode if ended is not None else None
            # negative: killed by a signal; 126, 127: not started; above 128: a signal too
            if type(failure) is not AirflowException or code is None or not 0 < code < 126:
                raise
            self.log.error("Not retried: the node's code failed: exit code %s", code)
            raise AirflowFailException(str(failure)) from failure


class WatchedGroupBashOperator(BashOperator):
    """The producer of a watched group (local execution): one `kedro run` of the group's
    nodes by kedro_airflow_k8s.watched.WatchedRunner, whose lines it logs as it reads them.
    Each node's end (with the lines logged while it ran) goes to XCom under `node_key`, for
    the node's own task (WatchedNodeBashOperator). A node's failure is its task's to report:
    the producer fails only when `kedro run` failed outside the nodes (or was killed)."""

    MARKER = "kedro-airflow-k8s:node "  # watched.MARKER
    LOG_LINES = 200  # of a node's lines, the last ones its task logs

    @staticmethod
    def node_key(node: str) -> str:
        return "kedro_node." + node

    def execute(self, context: Any) -> Any:
        import subprocess

        env = {**self.get_env(context), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            ["bash", "-c", str(self.bash_command)], cwd=self.cwd, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)
        ended = self.follow(self.process.stdout, context)
        code = self.process.wait()
        self.log.info("kedro run exited with %s", code)
        if code == 0:
            return None
        if code > 0 and ended and any(end["event"] == "failed" for end in ended.values()):
            failed = sorted(node for node, end in ended.items() if end["event"] == "failed")
            self.log.warning("Nodes %s failed: their own tasks fail; the others ran",
                             ", ".join(failed))
            return None
        raise AirflowException(f"kedro run failed outside the nodes: exit code {code}")

    def follow(self, stream: Any, context: Any) -> dict[str, dict[str, Any]]:
        """Log the run's lines; hand each node's end to XCom as it comes."""
        import json

        clear_number = getattr(context["dag_run"], "clear_number", 0)
        ended: dict[str, dict[str, Any]] = {}
        started: dict[str, Any] = {}
        lines: list[str] = []
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="backslashreplace").rstrip()
            if not line.startswith(self.MARKER):
                self.log.info("%s", line)
                lines.append(line)
                continue
            event = json.loads(line[len(self.MARKER):])
            node = event["node"]
            if event["event"] == "start":
                started[node] = event["time"]
                lines = []
                continue
            end = {**event, "start": started.get(node), "clear_number": clear_number,
                   "lines": lines[-self.LOG_LINES:] if node in started else []}
            self.log.info("Node %s: %s", node, event["event"])
            context["ti"].xcom_push(key=self.node_key(node), value=end)
            ended[node] = end
            lines = []
        return ended

    def on_kill(self) -> None:
        import os
        import signal

        process = getattr(self, "process", None)
        if process is not None and process.poll() is None:
            os.killpg(os.getpgid(process.pid), signal.SIGTERM)


class WatchedNodeBashOperator(NodeBashOperator):
    """A Kedro node of a watched group (local execution): its state is the one the group's
    producer reports for it. While the producer runs (or is yet to), the task waits for the
    node's end in XCom and takes its state and lines; a producer that ends first, lost to
    the worker, fails the task as a retryable failure. A task that starts when the producer
    has ended without running the node in this clearing of the run (a retry, or a cleared
    task) runs `kedro run --nodes` itself: the node alone, or with the nodes it shares
    MemoryDatasets with. `infrastructure_only`: code errors fail at once (retry_on:
    infrastructure), else they are retried as usual."""

    ENDED = ("success", "failed", "upstream_failed", "skipped", "removed")
    POLL_SECONDS = 1.0
    STATE_EVERY = 5  # polls between two looks at the producer's state

    def __init__(self, *, producer: str, node: str, infrastructure_only: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.producer = producer
        self.node = node
        self.infrastructure_only = infrastructure_only

    def execute(self, context: Any) -> Any:
        import time

        ti = context["ti"]
        clear_number = getattr(context["dag_run"], "clear_number", 0)
        polls = 0
        while True:
            # the state first: a producer that has ended pushed every end before it did
            state = self.producer_state(ti) if polls % self.STATE_EVERY == 0 else None
            end = ti.xcom_pull(task_ids=self.producer,
                               key=WatchedGroupBashOperator.node_key(self.node))
            if end and end.get("clear_number") == clear_number and end["event"] != "not run":
                return self.report(end)
            if state in self.ENDED:
                if polls:
                    raise AirflowException(f"the group's task {self.producer} ended ({state}) "
                                           f"before node {self.node} did")
                break
            polls += 1
            time.sleep(self.POLL_SECONDS)
        self.log.info("The group's task %s did not run node %s in this clearing of the run: "
                      "running %s", self.producer, self.node, (self.env or {}).get("KEDRO_NODES"))
        if self.infrastructure_only:
            return super().execute(context)
        return BashOperator.execute(self, context)

    def producer_state(self, ti: Any) -> str | None:
        states = ti.get_task_states(dag_id=ti.dag_id, task_ids=[self.producer],
                                    run_ids=[ti.run_id])
        state = states.get(ti.run_id, {}).get(self.producer)
        return str(state.value if hasattr(state, "value") else state) if state else None

    def report(self, end: dict[str, Any]) -> None:
        took = end["time"] - end["start"] if end.get("start") else None
        self.log.info("Node %s ran in task %s%s; its lines:", self.node, self.producer,
                      f" for {took:.1f} s" if took is not None else "")
        for line in end.get("lines", []):
            self.log.info("%s", line)
        if end["event"] == "success":
            return None
        error = "\n".join(end.get("error", []))
        self.log.error("Node %s failed:\n%s", self.node, error)
        message = f"node {self.node} failed: {(end.get('error') or ['?'])[-1]}"
        if self.infrastructure_only:
            self.log.error("Not retried: the node's code failed")
            raise AirflowFailException(message)
        raise AirflowException(message)
