"""Spark nodes and the tasks that run them: on Dataproc, on Kubernetes, or through a factory.

A node is a Spark node when it is tagged `kedro-airflow-k8s.group.pyspark`, reads or writes a
`kedro_datasets.spark` dataset, or its function is annotated with pyspark DataFrames.

Cluster-based types (dataproc, custom) describe their tasks as `OperatorCall`s: plain data
(an import and keyword arguments) that the DAG file prints, so a factory never writes code
into it. A custom factory subclasses `SparkFactory`.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import re
import shlex
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kedro_airflow_k8s.config import SparkConfig
from kedro_airflow_k8s.dagspec import RUN_HASH
from kedro_airflow_k8s.errors import CompileError

if TYPE_CHECKING:
    from kedro.pipeline import Node, Pipeline

# Kedro 1.x allows only [\w.-] in tags; the original `kedro-airflow-k8s:group:pyspark` is
# still read for projects whose Kedro accepts it.
SPARK_TAGS = ("kedro-airflow-k8s.group.pyspark", "kedro-airflow-k8s:group:pyspark")
JOB_SCRIPT = "kedro_spark_job.py"
INIT_SCRIPT = "kedro_init.sh"
DATAPROC_HOME = "/opt/kedro"
_DATAPROC = "airflow.providers.google.cloud.operators.dataproc"
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")
_SET_BY_PLUGIN = {"task_id", "task_group", "doc_md", "dag", "trigger_rule"}
_SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
# Downward API: executors reach the driver at its pod IP; the pod name makes the executors
# children of the driver pod, deleted with it.
DRIVER_FIELD_ENV = {"KEDRO_SPARK_DRIVER_HOST": "status.podIP",
                    "KEDRO_SPARK_DRIVER_POD": "metadata.name"}


@dataclass(frozen=True)
class OperatorCall:
    """One Airflow operator of the DAG file: `from module import name`, `name(**arguments)`.

    Arguments are plain values (str, int, float, bool, None, lists, dicts) or
    `kedro_airflow_k8s.dagspec.Verbatim` for text Airflow must not render as Jinja. The
    plugin sets task_id, task_group, doc_md and trigger_rule itself.
    """

    module: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SparkDag:
    """What a factory knows of the DAG it builds tasks for."""

    dag_id: str
    project: str  # the Kedro package name
    env: str  # the Kedro env the nodes run with
    pipeline: str
    image: str  # the project's image
    config: SparkConfig  # run_config.spark
    labels: dict[str, str]  # GCP/Kubernetes-safe labels naming the project and the DAG
    run_hash: str = RUN_HASH  # Jinja: 16 hex characters, unique per DAG run
    # Dataproc: a hash of what the artifacts are built from; the DAG reads them from
    # <artifacts_path>/<dag id>/<artifacts_version>/, so a new upload never replaces the
    # wheel of a DAG that is running (see spark_artifacts.artifacts_version)
    artifacts_version: str | None = None


@dataclass(frozen=True)
class SparkJob:
    """One group of Spark nodes, to run as one Spark application."""

    task_id: str
    node_names: tuple[str, ...]
    # What `kedro run` takes for these nodes: --env, --pipeline, --nodes (as Verbatim),
    # and --params when run_config passes Airflow macros or Variables.
    kedro_arguments: list[Any]
    environment: dict[str, str]  # run_config.env_vars and the MLflow variables


class SparkFactory(ABC):
    """Builds the Spark part of a DAG: an optional cluster, one job per group, its deletion.

    A subclass named by `run_config.spark.operator_factory` is instantiated at compile time
    with the `SparkDag`. Return `OperatorCall`s; the plugin wires them: the cluster is created
    before the first Spark job and deleted after the last one whatever happened.
    """

    def __init__(self, dag: SparkDag) -> None:
        self.dag = dag

    def create_cluster(self) -> OperatorCall | None:
        """The operator that creates the cluster; None when there is none to create."""
        return None

    @abstractmethod
    def submit(self, job: SparkJob) -> OperatorCall:
        """The operator that runs `job` and fails when the nodes fail."""

    def delete_cluster(self) -> OperatorCall | None:
        """The operator that deletes the cluster (it runs whatever happened before)."""
        return None


class DataprocFactory(SparkFactory):
    """An ephemeral Dataproc cluster per DAG run; each group is a PySpark job on it."""

    @property
    def cluster_name(self) -> str:
        return f"{self.dag.config.cluster_name}-{self.dag.run_hash}"

    def artifact(self, name: str) -> str:
        return dataproc_artifacts_folder(self.dag.config, self.dag.dag_id,
                                         self.dag.artifacts_version) + "/" + name

    def _location(self) -> dict[str, Any]:
        return {"project_id": self.dag.config.project_id, "region": self.dag.config.region}

    def create_cluster(self) -> OperatorCall:
        cluster_config = copy.deepcopy(self.dag.config.cluster_config)
        actions = list(cluster_config.get("initialization_actions") or [])
        actions.append({"executable_file": self.artifact(INIT_SCRIPT)})
        cluster_config["initialization_actions"] = actions
        return OperatorCall(_DATAPROC, "DataprocCreateClusterOperator", {
            **self._location(), "cluster_name": self.cluster_name,
            "cluster_config": cluster_config, "labels": self.dag.labels})

    def submit(self, job: SparkJob) -> OperatorCall:
        environment = [f"{key}={value}" for key, value in job.environment.items()]
        return OperatorCall(_DATAPROC, "DataprocSubmitJobOperator", {**self._location(), "job": {
            "reference": {"project_id": self.dag.config.project_id},
            "placement": {"cluster_name": self.cluster_name},
            "labels": self.dag.labels,
            "pyspark_job": {
                "main_python_file_uri": self.artifact(JOB_SCRIPT),
                "args": [*environment, "--", *job.kedro_arguments, "--conf-source",
                         dataproc_conf_path(self.dag.project)],
            },
        }})

    def delete_cluster(self) -> OperatorCall:
        return OperatorCall(_DATAPROC, "DataprocDeleteClusterOperator", {
            **self._location(), "cluster_name": self.cluster_name})


def dataproc_artifacts_folder(config: SparkConfig, dag_id: str, version: str | None) -> str:
    """`<artifacts_path>/<dag id>/<version>`: each version of a DAG reads its own files."""
    folder = f"{str(config.artifacts_path).rstrip('/')}/{dag_id}"
    return f"{folder}/{version}" if version else folder


def conf_archive_name(package: str) -> str:
    """The project's configuration archive, as `kedro package` names it."""
    return f"conf-{package}.tar.gz"


def dataproc_conf_path(package: str) -> str:
    """Where the init script puts the project's configuration on every cluster node."""
    return f"{DATAPROC_HOME}/{conf_archive_name(package)}"


def is_spark_node(node: Node, dataset_type: Callable[[str], str | None]) -> bool:
    if any(tag in SPARK_TAGS for tag in node.tags):
        return True
    if any(_is_spark_type(dataset_type(name)) for name in (*node.inputs, *node.outputs)):
        return True
    return _annotated_with_pyspark(node.func)


def _is_spark_type(kind: str | None) -> bool:
    if not kind:
        return False
    for prefix in ("kedro_datasets.", "kedro_datasets_experimental."):
        kind = kind.removeprefix(prefix)
    return kind.startswith("spark.")


def _annotated_with_pyspark(func: Any) -> bool:
    """True when a parameter or the return value is annotated with a pyspark type.

    String annotations are resolved by their first name in the function's module only, so
    no import happens here.
    """
    func = inspect.unwrap(getattr(func, "func", func))  # functools.partial, decorators
    try:
        annotations = inspect.get_annotations(func)
    except TypeError:
        return False
    names = getattr(func, "__globals__", {})
    for annotation in annotations.values():
        if isinstance(annotation, str):
            for word in re.findall(r"[A-Za-z_][\w.]*", annotation):
                head, _, _ = word.partition(".")
                target = names.get(head)
                module = getattr(target, "__module__", None) or getattr(target, "__name__", "")
                if word.startswith("pyspark.") or str(module).startswith("pyspark"):
                    return True
        elif str(getattr(annotation, "__module__", "")).startswith("pyspark"):
            return True
    return False


def spark_edges(pipeline: Pipeline, spark_nodes: set[str]) -> list[tuple[str, str]]:
    """Dependencies between two Spark nodes: what joins them into one Spark job."""
    return [(parent.name, child.name)
            for child, parents in pipeline.node_dependencies.items() if child.name in spark_nodes
            for parent in parents if parent.name in spark_nodes]


def load_factory(config: SparkConfig, dag: SparkDag) -> SparkFactory | None:
    """The factory of a cluster-based type; None for kubernetes (plain pods)."""
    if config.type == "dataproc":
        return DataprocFactory(dag)
    if config.type != "custom":
        return None
    path = str(config.operator_factory)
    key = "run_config.spark.operator_factory"
    module_name, _, class_name = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the user's module: any error while importing it
        raise CompileError(f"{key}: cannot import {module_name} "
                           f"({type(exc).__name__}: {exc})") from None
    factory = getattr(module, class_name, None)
    if factory is None:
        raise CompileError(f"{key}: module {module_name} has no {class_name}")
    if not (isinstance(factory, type) and issubclass(factory, SparkFactory)):
        raise CompileError(f"{key}: {path} is not a subclass of "
                           "kedro_airflow_k8s.spark.SparkFactory")
    try:
        return factory(dag)
    except Exception as exc:
        raise CompileError(f"{key}: {path}({dag.dag_id!r}) failed: "
                           f"{type(exc).__name__}: {exc}") from None


def checked_call(factory: SparkFactory, method: str, *args: Any,
                 printable: Callable[[Any], Any]) -> OperatorCall | None:
    """Call a factory method; refuse what the DAG file could not hold, in one line."""
    where = f"run_config.spark: {type(factory).__name__}.{method}"
    try:
        call = getattr(factory, method)(*args)
    except CompileError:
        raise
    except Exception as exc:
        raise CompileError(f"{where} failed: {type(exc).__name__}: {exc}") from None
    if call is None and method != "submit":
        return None
    if not isinstance(call, OperatorCall):
        raise CompileError(f"{where} returned {type(call).__name__}, not an OperatorCall")
    if not _DOTTED.match(call.module) or not _IDENTIFIER.match(call.name):
        raise CompileError(f"{where}: {call.module!r}/{call.name!r} is not an importable "
                           "module and class name")
    for key in call.arguments:
        if not isinstance(key, str) or not _IDENTIFIER.match(key) or key in _SET_BY_PLUGIN:
            raise CompileError(f"{where}: argument {key!r} is not a keyword the factory may "
                               f"set (not {', '.join(sorted(_SET_BY_PLUGIN))})")
    try:
        printable(call.arguments)
    except TypeError as exc:
        raise CompileError(f"{where}: {exc} (use str, numbers, bool, None, lists, dicts)") \
            from None
    return call


@dataclass(frozen=True)
class KubernetesSpark:
    """Spark in client mode from the task's own pod: Kedro runs in the driver, the
    executors are pods of the same image that Spark creates through the Kubernetes API."""

    namespace: str
    image_pull_policy: str
    image_pull_secrets: list[str]
    service_account_name: str | None
    properties: dict[str, Any]  # run_config.spark.cluster_config

    def submit_args(self, image: str, labels: dict[str, str],
                    volume: tuple[str, str] | None) -> str:
        """PYSPARK_SUBMIT_ARGS: read by pyspark when the project starts its SparkSession."""
        conf = {
            "spark.driver.host": "$(KEDRO_SPARK_DRIVER_HOST)",  # expanded by Kubernetes
            "spark.driver.bindAddress": "0.0.0.0",
            "spark.kubernetes.driver.pod.name": "$(KEDRO_SPARK_DRIVER_POD)",
            "spark.kubernetes.namespace": self.namespace,
            "spark.kubernetes.container.image": image,
            "spark.kubernetes.container.image.pullPolicy": self.image_pull_policy,
            "spark.kubernetes.authenticate.caCertFile": f"{_SERVICE_ACCOUNT}/ca.crt",
            "spark.kubernetes.authenticate.oauthTokenFile": f"{_SERVICE_ACCOUNT}/token",
        }
        if self.service_account_name:
            conf["spark.kubernetes.authenticate.executor.serviceAccountName"] = \
                self.service_account_name
        if self.image_pull_secrets:
            conf["spark.kubernetes.container.image.pullSecrets"] = \
                ",".join(self.image_pull_secrets)
        for key, value in labels.items():
            conf[f"spark.kubernetes.executor.label.{key}"] = value
        if volume:
            claim, mount_path = volume
            prefix = "spark.kubernetes.executor.volumes.persistentVolumeClaim.kedro-data"
            conf[f"{prefix}.options.claimName"] = claim
            conf[f"{prefix}.mount.path"] = mount_path
        for key, value in self.properties.items():
            conf[key] = str(value).lower() if isinstance(value, bool) else str(value)
        words = ["--master", "k8s://https://kubernetes.default.svc", "--deploy-mode", "client"]
        for key, value in conf.items():
            words += ["--conf", f"{key}={value}"]
        return shlex.join([*words, "pyspark-shell"])
