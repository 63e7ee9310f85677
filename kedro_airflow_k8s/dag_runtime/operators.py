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
