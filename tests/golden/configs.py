"""The configurations of the golden corpus: each a function that compiles one DagSpec.

Everything that could vary between machines or runs is fixed here: the commit sha, the
project version (a hash of the demo's files), the project path and Python of local
execution, the Spark artifacts version.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from kedro.pipeline import Pipeline, node

from kedro_airflow_k8s.asset_schedule import from_config
from kedro_airflow_k8s.compiler import compile_dag
from kedro_airflow_k8s.config import parse_config
from kedro_airflow_k8s.dagspec import DagSpec
from kedro_airflow_k8s.mlflow_run import MlflowSettings
from tests.spec_helpers import split
from tests.test_config import FULL, MINIMAL
from tests.test_spark import spark_shaped

COMMIT_SHA = "0123456789abcdef0123456789abcdef01234567"
PROJECT_VERSION = "0123456789ab"
PROJECT_PATH = "/srv/kedro/demo"
PYTHON = "/opt/venv/bin/python"
ARTIFACTS_VERSION = "0.1.0-0123456789ab"


def step(*xs: Any) -> Any:
    return xs[0] if xs else None


def chain() -> Pipeline:
    """raw -> clean -> features -> train, report from clean and train: a root, a fan-in."""
    return Pipeline([
        node(step, "raw", "clean", name="clean_orders"),
        node(step, "clean", "features", name="build_features"),
        node(step, "features", "model", name="train", tags=["resources.huge"]),
        node(step, ["clean", "model"], "report", name="report"),
    ])


def namespaced() -> Pipeline:
    """Nested namespaces, a node named like a plugin task, names that slug alike."""
    return Pipeline([
        node(step, "raw", "a", name="ingest"),
        node(step, "a", "b", name="clean", namespace="etl"),
        node(step, "b", "c", name="scale", namespace="etl.inner"),
        node(step, "c", "d", name="scale-", namespace="etl.inner"),
        node(step, "d", "e", name="pipeline-result"),
        node(step, "a", "f", name="weekly", namespace="reports"),
    ])


def with_memory() -> Pipeline:
    """`tmp` and `tmp2` are MemoryDatasets (not persisted): their nodes share a task."""
    return Pipeline([
        node(step, "raw", "tmp", name="load", namespace="io"),
        node(step, "tmp", "tmp2", name="parse", namespace="io"),
        node(step, "tmp2", "clean", name="store", namespace="io"),
        node(step, "clean", "out", name="train"),
        node(step, "raw", "side", name="side"),
    ])


def grouped(tags: bool = True) -> Pipeline:
    """Two namespaces (one nested), nodes without one, different resources; with `tags`, two
    group tags: `head` (load, ingest.dedupe: ingest.clean between them is merged in to keep
    the DAG acyclic) and `tail` (ingest.audit, model.inner.score)."""
    head, tail = (["kedro-airflow-k8s.group.head"], ["kedro-airflow-k8s.group.tail"]) if tags \
        else ([], [])
    return Pipeline([
        node(step, "raw", "loaded", name="load", tags=head),
        node(step, "loaded", "clean", name="clean", namespace="ingest"),
        node(step, "clean", "unique", name="dedupe", namespace="ingest",
             tags=["resources.huge", *head]),
        node(step, "unique", "fitted", name="fit", namespace="model"),
        node(step, "fitted", "score", name="score", namespace="model.inner", tags=tail),
        node(step, "score", "report", name="report"),
        node(step, "clean", "audit", name="audit", namespace="ingest", tags=tail),
    ])


def with_params() -> Pipeline:
    """Nodes reading parameters: a leaf, a subtree, and a name macro_params passes too."""
    return Pipeline([
        node(step, ["raw", "params:threshold", "params:ds"], "clean", name="clean_orders"),
        node(step, ["clean", "params:model"], "model", name="train"),
    ])


PARAMETERS = {"threshold": 0.5, "ds": "2024-01-01", "unused": 1,
              "model": {"name": "mlp", "layers": [64, 32], "epochs": 3, "early_stop": True}}


def with_settings() -> Pipeline:
    """Nodes tagged with task_settings profiles; `parse` and `store` share a task (`tmp2` is
    a MemoryDataset) and merge theirs."""
    return Pipeline([
        node(step, "raw", "tmp", name="load"),
        node(step, "tmp", "tmp2", name="parse", tags=["task_settings.flaky"]),
        node(step, "tmp2", "clean", name="store", tags=["task_settings.slow"]),
        node(step, "clean", "out", name="train", tags=["task_settings.slow"]),
    ])


SETTINGS = {"__default__": {"retries": 1},
            "flaky": {"retries": 5, "retry_delay": "30s", "retry_exponential_backoff": 2,
                      "max_retry_delay": "PT10M", "queue": "io"},
            "slow": {"retries": 2, "execution_timeout": "1h30m", "pool": "gpu-pool",
                     "pool_slots": 2, "priority_weight": 10, "weight_rule": "absolute"}}
DAG_SETTINGS = {"task_settings": SETTINGS,
                "task_defaults": {"retries": 3, "retry_delay": 120, "execution_timeout": "2h"},
                "owner": "data-team", "max_active_runs": 2, "max_active_tasks": 8,
                "catchup": True, "dagrun_timeout": "PT6H", "tags": ["nightly", "team:data"]}
# parse (retry_on: any) shares a task with store: that task retries any failure; train
# retries (task_defaults) infrastructure failures only.
RETRY_ON = {"task_settings": {"flaky": {"retries": 5, "retry_on": "any"},
                              "slow": {"execution_timeout": "1h"}},
            "task_defaults": {"retries": 2}}
# KubernetesPodOperator settings: DAG-wide, per profile, and merged (`parse` + `store`).
POD_SETTINGS = {"__default__": {"on_finish_action": "delete_succeeded_pod"},
                "flaky": {"deferrable": True, "logging_interval": "1m", "poll_interval": 5,
                          "startup_timeout": "15m", "reattach_on_restart": False},
                "slow": {"deferrable": True, "schedule_timeout": "30m", "active_deadline": "6h",
                         "termination_grace_period": 120, "on_finish_action": "keep_pod",
                         "retries": 2}}
DAG_POD_SETTINGS = {"task_settings": POD_SETTINGS,
                    "task_defaults": {"startup_timeout": "20m", "termination_grace_period": 60,
                                      "deferrable": False, "retries": 1}}
# Every key of the new features at once (tests/test_combined.py): namespace grouping and a
# group tag, task_settings with retries, retry_on, deferrable and keep_pod, task_defaults,
# assets include/exclude, and Params from nested parameters.
def kitchen_sink() -> Pipeline:
    """Two namespaces (grouping: namespace makes a task of each), two nodes outside them
    sharing the group tag `tail`; `ingest.loaded` is written and read inside one task."""
    return Pipeline([
        node(step, ["raw", "params:ingest.min_rows"], "ingest.loaded", name="load",
             namespace="ingest", tags=["task_settings.flaky"]),
        node(step, ["ingest.loaded", "params:ingest.drop"], "clean", name="clean",
             namespace="ingest", tags=["task_settings.slow"]),
        node(step, ["clean", "params:model"], "model.fitted", name="fit", namespace="model",
             tags=["task_settings.flaky"]),
        node(step, "model.fitted", "scored", name="score", namespace="model"),
        node(step, ["scored", "params:threshold"], "report", name="report",
             tags=["kedro-airflow-k8s.group.tail", "task_settings.flaky"]),
        node(step, "clean", "audit", name="audit", tags=["kedro-airflow-k8s.group.tail"]),
    ])


SINK_PARAMETERS = {"threshold": 0.5, "unused": 1,
                   "ingest": {"min_rows": 10, "drop": ["a", "b"]},
                   "model": {"name": "mlp", "layers": [64, 32], "opt": {"lr": 0.01}}}
SINK_LOCATIONS = {"raw": "s3://lake/raw.csv", "clean": "gs://lake/clean",
                  "report": "/mnt/shared/report.html"}
SINK = {"grouping": "namespace",
        "task_settings": {"flaky": {"retries": 3, "retry_on": "infrastructure",
                                    "deferrable": True, "on_finish_action": "keep_pod",
                                    "poll_interval": 5},
                          "slow": {"retries": 1, "retry_on": "any",
                                   "execution_timeout": "1h"}},
        "task_defaults": {"retries": 2, "retry_delay": "1m", "deferrable": False,
                          "startup_timeout": "10m"},
        "assets": {"include": ["*"], "exclude": ["audit"]},
        "params_form": True}


SPARK_TYPES = {"events": "spark.SparkDataset", "sessions": "kedro_datasets.spark.SparkDataset",
               "features": "spark.SparkHiveDataset"}
DATAPROC = {"type": "dataproc", "project_id": "my-project", "region": "europe-west1",
            "cluster_name": "ephemeral", "artifacts_path": "gs://bucket/spark",
            "cluster_config": {"master_config": {"num_instances": 1}}}
KUBERNETES_SPARK = {"type": "k8s", "cluster_config": {"spark.executor.instances": 3}}
PLUGIN_MLFLOW = MlflowSettings(tracking_uri="http://mlflow.example.com:5000",
                               experiment_name="demo-experiment")
KEDRO_MLFLOW = MlflowSettings(tracking_uri="http://mlflow.example.com:5000",
                              experiment_name="demo", kedro_mlflow=True)
GPU_TEMPLATE = """apiVersion: v1
kind: Pod
spec:
  containers:
    - name: base
      resources:
        requests: {memory: 2Gi, ephemeral-storage: 1Gi}
        limits: {memory: 4Gi}
"""


# Where the datasets live, as context.KedroProject.dataset_location gives it (credentials
# are dropped from the Asset URIs), and their kedro-viz layers.
LOCATIONS = {"raw": "s3a://user:secret@Bucket/raw/orders.csv/", "clean": "gs://lake/clean",
             "out": "postgres://db.example.com:5432/shop/public/out",
             "side": "/mnt/shared/side.parquet", "features": "data/04_feature/features.pq"}
LAYERS = {"raw": "raw", "clean": "intermediate", "model": "models", "report": "reporting"}


RESOURCES = {"__default__": {"requests": {"cpu": "250m", "memory": "256Mi"},
                             "limits": {"memory": "512Mi"}},
             "huge": {"requests": {"cpu": "2", "memory": "4Gi"},
                      "limits": {"cpu": "4", "memory": "8Gi"},
                      "node_selectors": {"pool": "highmem"},
                      "tolerations": [{"key": "dedicated", "operator": "Equal",
                                       "value": "highmem", "effect": "NoSchedule"}]}}


def run(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(MINIMAL)
    raw["run_config"]["resources"] = copy.deepcopy(RESOURCES)
    raw["run_config"].update(changes)
    return raw


def compiled(pipeline: Pipeline, raw: dict[str, Any], *, persisted: set[str] | None = None,
             **options: Any) -> DagSpec:
    """compile_dag as the CLI calls it for a project at PROJECT_PATH, at commit COMMIT_SHA
    and version PROJECT_VERSION."""
    return compile_dag(pipeline, parse_config(raw), *split(
        options, package="demo", env="prod", commit_sha=COMMIT_SHA,
        project_version=PROJECT_VERSION, path=PROJECT_PATH,
        python=PYTHON, dataset_type=SPARK_TYPES.get,
        is_persisted=(lambda name: name in persisted) if persisted else (lambda name: True)))


def _full() -> dict[str, Any]:
    raw = copy.deepcopy(FULL)
    del raw["run_config"]["spark"]
    return raw


CONFIGS: dict[str, Callable[[], DagSpec]] = {
    "k8s-minimal": lambda: compiled(chain(), run()),
    "k8s-no-volume": lambda: compiled(chain(), run(volume={"disabled": True})),
    "k8s-volume-skip-init": lambda: compiled(chain(), run(volume={
        "skip_init": True, "storageclass": "fast", "size": "3Gi", "owner": 1000,
        "mount_path": "/data", "access_modes": ["ReadWriteMany"]})),
    "k8s-full-config": lambda: compiled(
        Pipeline([node(step, "a", "b", name="n", tags=["resources.huge"]),
                  node(step, "b", "c", name="m", tags=["k8s_template.spark"])]),
        _full(), image="override:2"),
    "k8s-secrets": lambda: compiled(chain(), run(
        secrets=[{"deploy_type": "env", "deploy_target": "SQL_CONN", "secret": "db",
                  "key": "conn"},
                 {"deploy_type": "volume", "deploy_target": "/var/secrets", "secret": "sa"},
                 {"secret": "all-as-env"}],
        image_pull_secrets=["regcred"], service_account_name="kedro-runner",
        env_vars={"LOG_LEVEL": "debug", "RETRIES": 3})),
    "k8s-gpu-template-merge": lambda: compiled(
        Pipeline([node(step, "raw", "a", name="prep", tags=["k8s_template.gpu"]),
                  node(step, "a", "b", name="train",
                       tags=["resources.gpu", "k8s_template.gpu"]),
                  node(step, "b", "c", name="score", tags=["resources.gpu"])]),
        run(resources={
            "__default__": {"requests": {"cpu": "500m", "memory": "1Gi"},
                            "limits": {"memory": "1Gi"}, "labels": {"team": "ml"},
                            "annotations": {"owner": "ml-team"}},
            "gpu": {"requests": {"nvidia.com/gpu": 1, "cpu": "4"},
                    "limits": {"nvidia.com/gpu": 1},
                    "node_selectors": {"accelerator": "nvidia-l4"},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists",
                                     "effect": "NoSchedule"}]}},
            kubernetes_pod_templates={"gpu": {"template": GPU_TEMPLATE,
                                              "image": "registry.example.com/demo-gpu:1"}})),
    "k8s-mlflow-plugin": lambda: compiled(chain(), run(
        mlflow={"tracking_uri": "http://mlflow.example.com:5000",
                "experiment_name": "demo-experiment"}), mlflow=PLUGIN_MLFLOW),
    "k8s-kedro-mlflow-no-volume-auth": lambda: compiled(chain(), run(
        volume={"disabled": True},
        authentication={"type": "Vars", "params": ["MLFLOW_TRACKING_TOKEN"]}),
        mlflow=KEDRO_MLFLOW),
    "k8s-mlflow-google-auth-sensors": lambda: compiled(chain(), run(
        authentication={"type": "GoogleOAuth2"},
        external_dependencies=[{"dag_id": "upstream"}]), mlflow=PLUGIN_MLFLOW),
    "spark-dataproc": lambda: compiled(spark_shaped(), run(spark=DATAPROC,
                                                           macro_params=["ds"]),
                                       spark_artifacts_version=ARTIFACTS_VERSION),
    "spark-dataproc-mlflow-no-grouping": lambda: compiled(
        spark_shaped(), run(spark=DATAPROC, group_spark_nodes=False),
        spark_artifacts_version=ARTIFACTS_VERSION, mlflow=PLUGIN_MLFLOW),
    "spark-kubernetes-rwx-mlflow": lambda: compiled(spark_shaped(), run(
        spark=KUBERNETES_SPARK, volume={"access_modes": ["ReadWriteMany"]}),
        mlflow=KEDRO_MLFLOW),
    "spark-custom-operator": lambda: compiled(spark_shaped(), run(spark={
        "type": "custom", "operator_factory": "tests.spark_factories.SparkOperatorFactory",
        "cluster_config": {"driver": {"cores": 2}}})),
    "spark-custom-cluster-mlflow": lambda: compiled(spark_shaped(), run(
        spark={"type": "custom", "operator_factory": "tests.spark_factories.ShellClusterFactory"},
        volume={"disabled": True}), mlflow=PLUGIN_MLFLOW),
    "sensors-slack": lambda: compiled(chain(), run(
        external_dependencies=[
            {"dag_id": "upstream"},
            {"dag_id": "other", "task_id": "last", "timeout": 2, "check_existence": False,
             "execution_delta": 10}],
        failure_handlers=[{"type": "slack", "connection_id": "slack",
                           "message_template": "{task} of {dag} failed at {execution_time}: "
                                               "{url} {{literal}}"},
                          {"type": "slack"}])),
    "sensors-off": lambda: compiled(chain(), run(external_dependencies=[{"dag_id": "up"}]),
                                    with_sensors=False),
    "namespaces": lambda: compiled(namespaced(), run(run_name="grouped")),
    "memory-groups": lambda: compiled(with_memory(), run(group_memory_nodes=True),
                                      persisted={"raw", "clean", "out", "side"}),
    "grouping-namespace": lambda: compiled(grouped(tags=False), run(grouping="namespace")),
    "grouping-pipeline": lambda: compiled(grouped(), run(grouping="pipeline")),
    "grouping-tag": lambda: compiled(grouped(), run()),
    # pandas nodes before and after the Spark tasks: split around them, none moves onto Spark
    "grouping-pipeline-spark-kubernetes": lambda: compiled(Pipeline([
        *spark_shaped().nodes, node(step, "report", "published", name="publish")]), run(
        grouping="pipeline", spark=KUBERNETES_SPARK)),
    # watched groups: a task per node beside each group's producer (namespaces, a group tag)
    "local-watched-namespace": lambda: compiled(grouped(tags=False), run(
        grouping="namespace", grouping_mode="watched"), execution="local"),
    # one group by MemoryDatasets, made watched by a tag: every node re-runs with the others;
    # each node task keeps its own task_settings (retry_on: any vs infrastructure)
    "local-watched-memory-settings": lambda: compiled(Pipeline([
        node(step, "raw", "tmp", name="load", tags=["kedro-airflow-k8s.watched"]),
        *with_settings().nodes[1:]]), run(**RETRY_ON), persisted={"raw", "clean", "out"},
        group_memory=True, execution="local"),
    # Kubernetes: group tags (head merges ingest.clean in), a resource profile in a group
    "watched-tags-kubernetes": lambda: compiled(grouped(), run(grouping_mode="watched")),
    "local-grouping-namespace": lambda: compiled(grouped(tags=False),
                                                 run(grouping="namespace"), execution="local"),
    "kubernetes-connection": lambda: compiled(chain(), run(kubernetes_connection={
        "kubernetes_conn_id": "gke_prod", "config_file": "/etc/kube/config"})),
    "kubernetes-connection-context-no-volume": lambda: compiled(chain(), run(
        volume={"disabled": True}, kubernetes_connection={
            "kubernetes_conn_id": "gke_prod", "in_cluster": False,
            "config_file": "/etc/kube/config", "cluster_context": "prod"})),
    "kubernetes-connection-in-cluster-no-volume": lambda: compiled(chain(), run(
        volume={"disabled": True},
        kubernetes_connection={"kubernetes_conn_id": "in_cluster", "in_cluster": True})),
    "params-macro-variable": lambda: compiled(chain(), run(
        macro_params=["ds", "ts", "run_id"], variables_params=["env", "region"])),
    "params-form": lambda: compiled(with_params(), run(macro_params=["ds"]),
                                    parameters=PARAMETERS),
    "local-params-form": lambda: compiled(with_params(), run(), parameters=PARAMETERS,
                                          execution="local"),
    "task-settings": lambda: compiled(with_settings(), run(**DAG_SETTINGS),
                                      persisted={"raw", "clean", "out"}, group_memory=True),
    "task-settings-retry-on": lambda: compiled(with_settings(), run(**RETRY_ON),
                                               persisted={"raw", "clean", "out"},
                                               group_memory=True),
    "k8s-pod-settings": lambda: compiled(with_settings(), run(**DAG_POD_SETTINGS),
                                         persisted={"raw", "clean", "out"}, group_memory=True),
    "local-task-settings": lambda: compiled(with_settings(), run(**DAG_SETTINGS),
                                            persisted={"raw", "clean", "out"},
                                            execution="local", group_memory=True),
    "local": lambda: compiled(chain(), run(), execution="local"),
    "local-params-mlflow-memory": lambda: compiled(
        with_memory(), run(execution="local", macro_params=["ds"], variables_params=["env"],
                           env_vars={"A": "1"},
                           local={"project_path": "/opt/project", "python": "/usr/bin/python3"},
                           authentication={"type": "Vars", "params": ["MLFLOW_TRACKING_TOKEN"]}),
        persisted={"raw", "clean", "out", "side"}, group_memory=True, mlflow=PLUGIN_MLFLOW),
    "local-spark-sensors-slack": lambda: compiled(spark_shaped(), run(
        spark=DATAPROC, external_dependencies=[{"dag_id": "upstream"}],
        failure_handlers=[{"type": "slack"}]), execution="local",
        spark_artifacts_version=ARTIFACTS_VERSION),
    "schedule-cron-paused": lambda: compiled(chain(), run(), schedule="0 3 * * 1-5",
                                             paused_upon_creation=True),
    "schedule-continuous-unpaused": lambda: compiled(
        chain(), run(), schedule="@continuous", dag_id="always-on", paused_upon_creation=False),
    "schedule-on-assets": lambda: compiled(
        chain(), run(), dataset_location=LOCATIONS.get, paused_upon_creation=False,
        schedule_on=from_config({"any": ["clean", {"all": ["ingest:orders@pandas",
                                                           "s3a://lake/Prices/"]}]})),
    "local-schedule-on-assets-or-cron": lambda: compiled(
        chain(), run(), execution="local", schedule="0 6 * * *",
        schedule_on=from_config(["raw", "ingest:orders"]), dataset_location=LOCATIONS.get),
    "assets-locations-memory-groups": lambda: compiled(
        with_memory(), run(group_memory_nodes=True, assets={"exclude": ["si?e"]}),
        persisted={"raw", "clean", "out", "side"}, dataset_location=LOCATIONS.get),
    "assets-off": lambda: compiled(chain(), run(assets={"enabled": False}),
                                   dataset_location=LOCATIONS.get),
    "local-assets-layers-include": lambda: compiled(
        chain(), run(assets={"include": ["c*", "model", "report", "raw"],
                             "layers": ["raw", "models", "reporting"]}),
        execution="local", dataset_location=LOCATIONS.get, dataset_layer=LAYERS.get),
    "kitchen-sink": lambda: compiled(kitchen_sink(), run(**SINK), parameters=SINK_PARAMETERS,
                                     dataset_location=SINK_LOCATIONS.get),
    "local-kitchen-sink": lambda: compiled(kitchen_sink(), run(**SINK), execution="local",
                                           parameters=SINK_PARAMETERS,
                                           dataset_location=SINK_LOCATIONS.get),
    "pipeline-named-image-override": lambda: compiled(
        chain(), run(run_name="demo", start_date="20250101", description="Orders"),
        pipeline_name="data_science", image="registry.example.com/demo:2"),
}
