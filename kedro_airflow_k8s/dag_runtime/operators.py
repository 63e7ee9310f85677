"""The operators a DAG file defines, copied into it by their source (see `source`)."""

from __future__ import annotations

from typing import Any

from airflow.providers.cncf.kubernetes.callbacks import KubernetesPodOperatorCallback
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import BaseOperator
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


class NodeEvents:
    """The lines of a watched group's `kedro run` (kedro_airflow_k8s.watched.WatchedRunner),
    fed one at a time: each node's end goes to XCom under `key(node)` with the lines the run
    wrote while the node ran, for the node's own task (WatchedNode)."""

    MARKER = "kedro-airflow-k8s:node "  # watched.MARKER
    LOG_LINES = 200  # of a node's lines, the last ones its task logs

    def __init__(self, ti: Any, clear_number: int) -> None:
        self.ti = ti
        self.clear_number = clear_number
        self.started: dict[str, float] = {}
        self.lines: list[str] = []

    @staticmethod
    def key(node: str) -> str:
        return "kedro_node." + node

    def feed(self, line: str) -> bool:
        """Take one line of the run; whether it was one of the protocol's."""
        import json

        if not line.startswith(self.MARKER):
            self.lines.append(line)
            del self.lines[:-self.LOG_LINES]
            return False
        event = json.loads(line[len(self.MARKER):])
        node = event["node"]
        if event["event"] == "start":
            self.started[node] = event["time"]
        else:
            # run in threads, an end carries its node's lines; run one at a time, they are
            # the lines between its start and its end
            lines = self.lines if node in self.started else []
            self.ti.xcom_push(key=self.key(node), value={
                **event, "start": self.started.get(node), "clear_number": self.clear_number,
                "lines": event.get("lines", lines)[-self.LOG_LINES:]})
        self.lines = []
        return True

    @classmethod
    def failed(cls, ti: Any, nodes: list[str], clear_number: int) -> list[str]:
        """The nodes whose failure this clearing of the run's producer reported."""
        ends = [(node, ti.xcom_pull(task_ids=ti.task_id, key=cls.key(node))) for node in nodes]
        return [node for node, end in ends if end and end["event"] == "failed"
                and end.get("clear_number") == clear_number]


class WatchedGroupBashOperator(BashOperator):
    """The producer of a watched group (local execution): one `kedro run` of the group's
    `nodes` by kedro_airflow_k8s.watched.WatchedRunner (`runner`), whose lines it logs as it
    reads them and feeds to NodeEvents. A node's failure is its task's to report: the
    producer fails only when `kedro run` failed outside the nodes (or was killed)."""

    def __init__(self, *, nodes: list[str], runner: str, workers: int = 1,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.nodes = nodes
        self.runner = runner + (f" --runner-params max_workers={workers}" if workers > 1
                                else "")

    def execute(self, context: Any) -> Any:
        import os
        import subprocess

        if self.cwd is not None and not os.path.isdir(self.cwd):
            raise AirflowException(f"the project's folder {self.cwd} is not on this worker")
        env = {**self.get_env(context), "PYTHONUNBUFFERED": "1"}
        clear_number = getattr(context["dag_run"], "clear_number", 0)
        events = NodeEvents(context["ti"], clear_number)
        self.process = subprocess.Popen(
            ["bash", "-c", f"{self.bash_command} --runner {self.runner}"], cwd=self.cwd,
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        assert self.process.stdout is not None
        for raw in iter(self.process.stdout.readline, b""):
            line = raw.decode("utf-8", errors="backslashreplace").rstrip()
            if events.feed(line):
                self.log.info("Node event: %s", line[len(NodeEvents.MARKER):])
            else:
                self.log.info("%s", line)
        code = self.process.wait()
        self.log.info("kedro run exited with %s", code)
        failed = NodeEvents.failed(context["ti"], self.nodes, clear_number) if code else []
        if code > 0 and failed:
            self.log.warning("Nodes %s failed: their own tasks fail; the others ran",
                             ", ".join(failed))
        elif code:
            raise AirflowException(f"kedro run failed outside the nodes: exit code {code}")

    def on_kill(self) -> None:
        import os
        import signal

        process = getattr(self, "process", None)
        if process is not None and process.poll() is None:
            os.killpg(os.getpgid(process.pid), signal.SIGTERM)


class WatchedNode(BaseOperator):
    """A Kedro node of a watched group: its state is the one the group's `producer` reports
    for it. While the producer runs (or is yet to), the task waits for the node's end in
    XCom and takes its state and lines; a producer that ends first (lost to the worker or
    the cluster) fails the task as a retryable failure. A task that starts when the producer
    has ended without running the node in this clearing of the run (a retry, or a cleared
    task) runs the node itself, as its operator does: the node alone, or with the nodes it
    shares MemoryDatasets with. `infrastructure_only`: code errors fail at once (retry_on:
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

    def watch(self, context: Any) -> bool:
        """Whether the producer ran the node in this clearing of the run (its task ends as
        the node did); False: the task runs the node itself."""
        import time

        ti = context["ti"]
        clear_number = getattr(context["dag_run"], "clear_number", 0)
        polls = 0
        while True:
            # the state first: a producer that has ended pushed every end before it did
            state = self.producer_state(ti) if polls % self.STATE_EVERY == 0 else None
            end = ti.xcom_pull(task_ids=self.producer, key=NodeEvents.key(self.node))
            if end and end.get("clear_number") == clear_number and end["event"] != "not run":
                self.report(end)
                return True
            if state in self.ENDED:
                if polls:
                    raise AirflowException(f"the group's task {self.producer} ended ({state}) "
                                           f"before node {self.node} did")
                self.log.info("The group's task %s did not run node %s in this clearing of "
                              "the run: the task runs it", self.producer, self.node)
                return False
            polls += 1
            time.sleep(self.POLL_SECONDS)

    def producer_state(self, ti: Any) -> str | None:
        states = ti.get_task_states(dag_id=ti.dag_id, task_ids=[self.producer],
                                    run_ids=[ti.run_id])
        state = states.get(ti.run_id, {}).get(self.producer)
        return str(getattr(state, "value", state)) if state else None

    def report(self, end: dict[str, Any]) -> None:
        took = end["time"] - end["start"] if end.get("start") else None
        self.log.info("Node %s ran in task %s%s; its lines:", self.node, self.producer,
                      f" for {took:.1f} s" if took is not None else "")
        for line in end.get("lines", []):
            self.log.info("%s", line)
        if end["event"] == "success":
            return
        self.log.error("Node %s failed:\n%s", self.node, "\n".join(end.get("error", [])))
        message = f"node {self.node} failed: {(end.get('error') or ['?'])[-1]}"
        if self.infrastructure_only:
            self.log.error("Not retried: the node's code failed")
            raise AirflowFailException(message)
        raise AirflowException(message)


class WatchedNodeBashOperator(WatchedNode, NodeBashOperator):
    """A node of a watched group (local execution), see WatchedNode; it runs the node itself
    as a NodeBashOperator (`infrastructure_only`) or a BashOperator."""

    def execute(self, context: Any) -> Any:
        if self.watch(context):
            return None
        if self.infrastructure_only:
            return super().execute(context)
        return BashOperator.execute(self, context)


class WatchedLines(KubernetesPodOperatorCallback):
    """Feeds the log lines of a watched group's pod to NodeEvents (one per pod in this
    process): as the provider follows the log (sync), or, when the pod has ended, its whole
    log at once (deferrable: the provider reads the log after the trigger without calling
    `progress_callback`)."""

    events: dict[str, NodeEvents] = {}

    @classmethod
    def progress_callback(cls, *, line: str, client: Any, mode: str, container_name: str,
                          timestamp: Any, pod: k8s.V1Pod, **kwargs: Any) -> None:
        if container_name != "base":
            return
        name = pod.metadata.name
        if name not in cls.events:
            from airflow.sdk import get_current_context

            context = get_current_context()
            cls.events[name] = NodeEvents(context["ti"],
                                          getattr(context["dag_run"], "clear_number", 0))
        for part in line.splitlines():
            cls.events[name].feed(part)

    @classmethod
    def on_pod_completion(cls, *, pod: k8s.V1Pod, client: Any, mode: str, operator: Any,
                          context: Any, **kwargs: Any) -> None:
        name = pod.metadata.name
        if name in cls.events:  # followed line by line already
            return
        events = cls.events[name] = NodeEvents(context["ti"],
                                               getattr(context["dag_run"], "clear_number", 0))
        log = client.read_namespaced_pod_log(
            name=name, namespace=pod.metadata.namespace,
            container=operator.base_container_name, _preload_content=False)
        for raw in log:
            events.feed(raw.decode("utf-8", errors="backslashreplace").rstrip("\n"))


class WatchedGroupPodOperator(NodePodOperator):
    """The producer of a watched group (Kubernetes): one pod runs `kedro run` of the group's
    `nodes` by kedro_airflow_k8s.watched.WatchedRunner (`runner`); WatchedLines hands each
    node's end to the node's task as the pod's log comes in. A node's failure is its task's
    to report: the producer fails when the pod failed outside the nodes, or the cluster
    ended it (then the tasks of the nodes it had not finished fail, retryable)."""

    def __init__(self, *, nodes: list[str], runner: str, workers: int = 1,
                 **kwargs: Any) -> None:
        kwargs["arguments"] = [*kwargs.get("arguments", []), "--runner", runner, *(
            ["--runner-params", f"max_workers={workers}"] if workers > 1 else [])]
        super().__init__(callbacks=[WatchedLines], **kwargs)
        self.nodes = nodes

    def cleanup(self, pod: k8s.V1Pod, remote_pod: k8s.V1Pod | None, xcom_result: Any = None,
                context: Any = None) -> None:
        try:
            super().cleanup(pod, remote_pod, xcom_result=xcom_result, context=context)
        except AirflowException:
            if self.node_error(remote_pod) is None:
                raise
            from airflow.sdk import get_current_context

            context = context or get_current_context()
            failed = NodeEvents.failed(context["ti"], self.nodes,
                                       getattr(context["dag_run"], "clear_number", 0))
            if not failed:
                raise
            self.log.warning("Nodes %s failed: their own tasks fail; the others ran",
                             ", ".join(failed))


class WatchedNodePodOperator(WatchedNode, NodePodOperator):
    """A node of a watched group (Kubernetes), see WatchedNode; it runs the node itself in
    a pod of its own, whose code errors fail at once only when `infrastructure_only`."""

    def execute(self, context: Any) -> Any:
        if self.watch(context):
            return None
        return super().execute(context)

    def cleanup(self, pod: k8s.V1Pod, remote_pod: k8s.V1Pod | None, xcom_result: Any = None,
                context: Any = None) -> None:
        if self.infrastructure_only:
            return super().cleanup(pod, remote_pod, xcom_result=xcom_result, context=context)
        return KubernetesPodOperator.cleanup(self, pod, remote_pod, xcom_result=xcom_result,
                                             context=context)
