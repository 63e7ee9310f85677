"""The task records of a DAG, one builder per thing a task does. Each returns a `TaskSpec`
(operator, arguments, doc); upstream ids are set when the DAG is assembled."""

from __future__ import annotations

import shlex
from typing import Any

from kedro_airflow_k8s.dagspec import (
    KEDRO_RUN,
    POD_ARGUMENTS,
    VOLUME_CLAIM,
    Call,
    LocalDefaults,
    Operator,
    Ref,
    SensorSpec,
    TaskKind,
    TaskSpec,
    Verbatim,
)
from kedro_airflow_k8s.ids import RESERVED_IDS
from kedro_airflow_k8s.mlflow_run import END_TASK as MLFLOW_END
from kedro_airflow_k8s.mlflow_run import RUN_ID_TEMPLATE, STATUS_TEMPLATE
from kedro_airflow_k8s.mlflow_run import START_TASK as MLFLOW_START
from kedro_airflow_k8s.spark import OperatorCall

LABEL_PREFIX = "kedro-airflow-k8s/"
INIT_MOUNT_PATH = "/mnt/kedro-data"
POD = Operator("airflow.providers.cncf.kubernetes.operators.pod", "KubernetesPodOperator")
_RESOURCE = "airflow.providers.cncf.kubernetes.operators.resource"
CREATE_RESOURCE = Operator(_RESOURCE, "KubernetesCreateResourceOperator")
DELETE_RESOURCE = Operator(_RESOURCE, "KubernetesDeleteResourceOperator")
BASH = Operator("airflow.providers.standard.operators.bash", "BashOperator")
EMPTY = Operator("airflow.providers.standard.operators.empty", "EmptyOperator")
EXTERNAL_TASK_SENSOR = Operator("airflow.providers.standard.sensors.external_task",
                                "ExternalTaskSensor")


def top_level(task_id: str, kind: TaskKind, operator: Operator, doc: str,
              arguments: dict[str, Any], spread: tuple[Any, ...] = ()) -> TaskSpec:
    """A task outside every TaskGroup."""
    return TaskSpec(task_id=task_id, local_id=task_id, group=None, kind=kind,
                    operator=operator, arguments=arguments, spread=spread, doc=doc)


def pod_arguments(labels: dict[str, str], **options: Any) -> tuple[Call]:
    """What a pod takes of the settings the file defines once for all pods: the arguments of
    its `pod_arguments()` (labels, image, volume_mount_path, extra_env, field_env; for a pod
    running Kedro nodes, nodes, threads and annotations; resources, pod_template and
    operation by name), as the one argument set it spreads in. None and empty: the DAG's
    defaults."""
    return (Call(POD_ARGUMENTS, kwargs={"labels": labels,
                                        **{k: v for k, v in options.items() if v}}),)


def pod_command(cmds: list[str], arguments: list[Any]) -> dict[str, Any]:
    """The command of a pod that runs no Kedro node."""
    return {"cmds": cmds, "arguments": arguments, "annotations": {}}


def bash_arguments(local: LocalDefaults, env: dict[str, Any], command: str | None = None,
                   xcom: bool = False) -> dict[str, Any]:
    """A subprocess on the Airflow worker (local execution), in the project's folder."""
    return {"bash_command": Verbatim(command) if command else Ref(KEDRO_RUN), "env": env,
            "append_env": True, "cwd": local.project_path, "do_xcom_push": xcom}


def factory_task(task: TaskSpec, call: OperatorCall) -> TaskSpec:
    """`task` run by an operator a Spark factory chose: the record's own arguments (its
    trigger rule) first, then the factory's."""
    arguments = {**task.arguments, **call.arguments}
    return TaskSpec(task_id=task.task_id, local_id=task.local_id, group=task.group,
                    kind=task.kind, operator=Operator(call.module, call.name),
                    arguments=arguments, doc=task.doc, node_names=task.node_names)


def volume_tasks(namespace: str, connection: dict[str, Any], mount_path: str,
                 skip_init: bool) -> list[TaskSpec]:
    """Create the run's volume, copy the image's data into it, delete it whatever happened."""
    claim = {"namespace": namespace, **connection,
             "yaml_conf": Call("json.dumps", (Ref(VOLUME_CLAIM),))}
    tasks = [top_level(RESERVED_IDS["volume-create"], "volume-create", CREATE_RESOURCE,
                       "Creates the volume this DAG run's pods share.", claim)]
    if not skip_init:
        init = RESERVED_IDS["volume-init"]
        source = shlex.quote(mount_path)
        copy = (f"if [ -d {source} ]; then cp -a {source}/. {INIT_MOUNT_PATH}/; fi; "
                f"chmod -R g+rwX {INIT_MOUNT_PATH}")
        tasks.append(top_level(
            init, "volume-init", POD, "Copies the image's data directory into the shared volume.",
            pod_command(["sh", "-c"], [copy]),
            pod_arguments({f"{LABEL_PREFIX}task": init}, volume_mount_path=INIT_MOUNT_PATH)))
    tasks.append(top_level(RESERVED_IDS["volume-delete"], "volume-delete", DELETE_RESOURCE,
                           "Deletes the shared volume, whatever happened to the nodes.",
                           {**claim, "trigger_rule": "all_done"}))
    return tasks


def mlflow_start_task(dag_id: str, env: str, image: str, local: LocalDefaults | None,
                      auth_env: dict[str, str]) -> TaskSpec:
    """Starts this DAG run's MLflow run in the project's image; its XCom is the run id."""
    args = ["airflow-k8s", "-e", env, "mlflow-start", "--dag-id", dag_id, "--image", image,
            "--airflow-run-id"]
    doc = "Starts the MLflow run every node logs into."
    if local:
        command = shlex.join([local.python, "-m", "kedro", *args]) + ' "$AIRFLOW_RUN_ID"'
        environment = {**local.env_vars, **auth_env, "AIRFLOW_RUN_ID": "{{ run_id }}"}
        return top_level(MLFLOW_START, "mlflow-start", BASH, doc,
                         bash_arguments(local, environment, command, xcom=True))
    return top_level(MLFLOW_START, "mlflow-start", POD, doc,
                     {"do_xcom_push": True,
                      **pod_command(["kedro"], [*args, "{{ run_id }}"])},
                     pod_arguments({f"{LABEL_PREFIX}task": MLFLOW_START}, extra_env=auth_env))


def mlflow_end_task(env: str, local: LocalDefaults | None,
                    auth_env: dict[str, str]) -> TaskSpec:
    """Ends the MLflow run once every task is done: FAILED when one failed, else FINISHED."""
    args = ["airflow-k8s", "-e", env, "mlflow-end", "--run-id"]
    doc = "Ends the MLflow run: FAILED when a task failed, else FINISHED."
    if local:
        command = (shlex.join([local.python, "-m", "kedro", *args]) +
                   ' "$MLFLOW_RUN_ID" --status "$MLFLOW_RUN_STATUS"')
        environment = {**local.env_vars, **auth_env, "MLFLOW_RUN_ID": RUN_ID_TEMPLATE,
                       "MLFLOW_RUN_STATUS": STATUS_TEMPLATE}
        return top_level(MLFLOW_END, "mlflow-end", BASH, doc,
                         {"trigger_rule": "all_done",
                          **bash_arguments(local, environment, command)})
    pod = pod_command(["kedro"], [*args, RUN_ID_TEMPLATE, "--status", STATUS_TEMPLATE])
    return top_level(MLFLOW_END, "mlflow-end", POD, doc, {"trigger_rule": "all_done", **pod},
                     pod_arguments({f"{LABEL_PREFIX}task": MLFLOW_END}, extra_env=auth_env))


def sensor_task(task_id: str, sensor: SensorSpec) -> TaskSpec:
    """Waits for a run of another DAG (run_config.external_dependencies)."""
    return top_level(task_id, "sensor", EXTERNAL_TASK_SENSOR,
                     f"Waits for {sensor.external_dag_id}" +
                     (f".{sensor.external_task_id}" if sensor.external_task_id else ""), {
                         "external_dag_id": sensor.external_dag_id,
                         "external_task_id": sensor.external_task_id,
                         "check_existence": sensor.check_existence,
                         "execution_delta": Call("datetime.timedelta", kwargs={
                             "minutes": sensor.execution_delta_minutes}),
                         "timeout": sensor.timeout_seconds,
                         "mode": "reschedule",
                     })


def result_task() -> TaskSpec:
    return top_level(RESERVED_IDS["result"], "result", EMPTY,
                     "Fails the run when any node failed (the cleanup succeeds regardless).", {})
