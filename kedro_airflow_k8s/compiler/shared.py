"""Phase 2 of compiling: what the tasks share (pods or local execution, the volume, the
MLflow environment, the Spark target)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from kedro_airflow_k8s.compiler.plan import Notify, Plan, quiet
from kedro_airflow_k8s.config import POD_OPERATION, RunConfig
from kedro_airflow_k8s.dagspec import RUN_HASH, LocalDefaults, PodDefaults, SecretSpec, VolumeSpec
from kedro_airflow_k8s.ids import k8s_label
from kedro_airflow_k8s.mlflow_run import KEEP_OPEN_ENV, RUN_ID_TEMPLATE, task_environment
from kedro_airflow_k8s.spark import KubernetesSpark, SparkDag, SparkFactory, load_factory
from kedro_airflow_k8s.tasks import LABEL_PREFIX


@dataclass(frozen=True)
class SparkTarget:
    title: str  # how task docs name it
    runner: SparkFactory | KubernetesSpark


@dataclass(frozen=True)
class Shared:
    identity: dict[str, str]  # labels naming the project and the DAG, on every pod
    pods: PodDefaults | None  # None: local execution
    local: LocalDefaults | None  # None: Kubernetes execution
    node_arguments: list[Any]  # `kedro run` up to --nodes
    mlflow_env: dict[str, str]  # what every node task needs to log into the DAG run's run
    auth_env: dict[str, str]  # what the MLflow tasks need to reach the server
    spark: SparkTarget | None


def shared_settings(plan: Plan, notify: Notify = quiet) -> Shared:
    run, source = plan.run, plan.source
    identity = {
        "app.kubernetes.io/managed-by": "kedro-airflow-k8s",
        f"{LABEL_PREFIX}project": k8s_label(source.package),
        f"{LABEL_PREFIX}dag": k8s_label(plan.dag_id),
    }
    local = _local_defaults(plan, notify) if plan.execution == "local" else None
    pods = _pod_defaults(plan, identity) if plan.execution == "kubernetes" else None
    # set up even without Spark nodes: a factory that cannot load fails now, not later
    spark = _spark_setup(plan, identity) if run.spark and pods else None
    mlflow = source.mlflow
    auth_env = task_environment(run.authentication) if mlflow else {}
    mlflow_env = {} if mlflow is None else {
        "MLFLOW_TRACKING_URI": mlflow.tracking_uri,
        "MLFLOW_RUN_ID": RUN_ID_TEMPLATE,
        **({KEEP_OPEN_ENV: "1"} if mlflow.kedro_mlflow else {}),
        **auth_env,
    }
    return Shared(identity=identity, pods=pods, local=local,
                  node_arguments=_node_arguments(plan),
                  mlflow_env=mlflow_env, auth_env=auth_env, spark=spark)


def _node_arguments(plan: Plan) -> list[str]:
    """`kedro run` up to --nodes, whose value each task adds."""
    return ["run", "--env", plan.env, "--pipeline", plan.source.pipeline_name, "--nodes"]


def _local_defaults(plan: Plan, notify: Notify) -> LocalDefaults:
    notify("Note: local execution runs each task as a subprocess on the Airflow worker; "
           "the volume, pod templates, resources, secrets and Spark clusters are left out.")
    run = plan.run
    ignored = sorted({key for settings in [run.task_defaults, *run.task_settings.values()]
                      for key in settings.model_dump(include=set(POD_OPERATION),
                                                     exclude_none=True)})
    if ignored:
        notify(f"Note: local execution runs no pods: task_settings/task_defaults keys "
               f"{', '.join(ignored)} are left out.")
    interpreter = run.local.python or plan.source.python or "python"
    command = shlex.join([interpreter, "-m", "kedro", *_node_arguments(plan)]) \
        + ' "$KEDRO_NODES"'
    if plan.params:
        command += ' --params "$KEDRO_PARAMS"'
    return LocalDefaults(project_path=run.local.project_path or plan.source.path or ".",
                         python=interpreter, env_vars=dict(sorted(run.env_vars.items())),
                         bash_command=command)


def _pod_defaults(plan: Plan, identity: dict[str, str]) -> PodDefaults:
    run = plan.run
    volume = _volume(run, plan.dag_id, identity)
    operation = run.pod_operation()
    return PodDefaults(
        namespace=run.namespace,
        image=plan.image,
        image_pull_policy=run.image_pull_policy,
        startup_timeout_seconds=operation.pop("startup_timeout_seconds"),
        on_finish_action=operation.pop("on_finish_action"),
        operation=operation,
        service_account_name=run.service_account_name,
        image_pull_secrets=list(run.image_pull_secrets),
        secrets=[SecretSpec(**s.model_dump()) for s in run.secrets],
        env_vars=dict(sorted(run.env_vars.items())),
        fs_group=run.volume.owner if volume else None,
        volume=volume,
        labels=identity,
        node_arguments=_node_arguments(plan),
        node_params=["--params", plan.params] if plan.params else [],
        pod_connection=run.kubernetes_connection.pod_arguments(),
        volume_connection=run.kubernetes_connection.resource_arguments(),
    )


def _volume(run: RunConfig, dag_id: str, project_labels: dict[str, str]) -> VolumeSpec | None:
    if run.volume.disabled:
        return None
    prefix = f"{k8s_label(dag_id)[:40].rstrip('-')}-data-"
    spec: dict[str, Any] = {
        "accessModes": list(run.volume.access_modes),
        "resources": {"requests": {"storage": run.volume.size}},
    }
    if run.volume.storageclass is not None:
        spec["storageClassName"] = run.volume.storageclass
    manifest = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": prefix + RUN_HASH,
            "namespace": run.namespace,
            "labels": project_labels,
        },
        "spec": spec,
    }
    return VolumeSpec(claim_name=prefix + RUN_HASH, mount_path=run.volume.mount_path,
                      manifest=manifest)


def _spark_setup(plan: Plan, identity: dict[str, str]) -> SparkTarget:
    run, spark = plan.run, plan.run.spark
    assert spark is not None
    if spark.type == "kubernetes":
        return SparkTarget("Kubernetes", KubernetesSpark(
            namespace=run.namespace, image_pull_policy=run.image_pull_policy,
            image_pull_secrets=list(run.image_pull_secrets),
            service_account_name=run.service_account_name,
            properties=dict(spark.cluster_config)))
    labels = {"managed-by": "kedro-airflow-k8s",
              "kedro-project": k8s_label(plan.source.package),
              "kedro-dag": k8s_label(plan.dag_id)}
    dag = SparkDag(dag_id=plan.dag_id, project=plan.source.package, env=plan.env,
                   pipeline=plan.source.pipeline_name, image=plan.image, config=spark,
                   labels=labels, artifacts_version=plan.source.spark_artifacts_version)
    factory = load_factory(spark, dag)
    assert factory is not None
    return SparkTarget("Dataproc" if spark.type == "dataproc" else type(factory).__name__,
                       factory)
