"""Spark nodes: detection, grouping into jobs, and the DAG of every Spark type.

No Spark and no cluster run here: the DAGs are imported by Airflow's DagBag with the real
provider operators (Google's Dataproc operators, the cncf provider's), their templates are
rendered as at run time, and the Kubernetes pods are validated against the schema.
"""

from __future__ import annotations

import re
import shlex

import pytest
from kedro.pipeline import Pipeline, node

from kedro_airflow_k8s.dagspec import Verbatim
from kedro_airflow_k8s.errors import CompileError
from kedro_airflow_k8s.render import render_dag, write_atomically
from kedro_airflow_k8s.spark import is_spark_node
from tests import airflow_check
from tests.spec_helpers import pod_settings
from tests.test_compiler import compile_pipeline
from tests.test_config import with_run

DATAPROC = {"type": "dataproc", "project_id": "my-project", "region": "europe-west1",
            "cluster_name": "ephemeral", "artifacts_path": "gs://bucket/spark",
            "cluster_config": {"master_config": {"num_instances": 1},
                               "initialization_actions": [
                                   {"executable_file": "gs://bucket/own.sh"}]}}
KUBERNETES = {"type": "k8s", "cluster_config": {"spark.executor.instances": 3,
                                                "spark.dynamicAllocation.enabled": False}}
CATALOG_TYPES = {
    "events": "spark.SparkDataset",
    "sessions": "kedro_datasets.spark.SparkDataset",
    "features": "spark.SparkHiveDataset",
    "raw": "pandas.CSVDataset",
    "summary": "pandas.ParquetDataset",
    "report": "json.JSONDataset",
    "scores": "pandas.CSVDataset",
    "side": "pandas.CSVDataset",
    "profile": "pandas.CSVDataset",
    "session_counts": "pandas.CSVDataset",
}


def step(*xs):
    return xs[0] if xs else None


def spark_shaped():
    """ingest -> sessionize -> featurize are Spark through their datasets; `profile` (pandas)
    sits between sessionize and featurize; report is plain; score is Spark by its tag."""
    return Pipeline([
        node(step, "raw", "events", name="ingest"),
        node(step, "events", ["sessions", "session_counts"], name="sessionize"),
        node(step, "session_counts", "profile", name="profile_sessions"),
        node(step, ["sessions", "profile"], "features", name="featurize"),
        node(step, "features", "summary", name="summarize"),
        node(step, "summary", "report", name="report"),
        node(step, "report", "scores", name="score",
             tags=["kedro-airflow-k8s.group.pyspark"]),
        node(step, "raw", "side", name="side_job"),
    ])


def spark_compile(spark, pipeline=None, **run):
    return compile_pipeline(pipeline or spark_shaped(), with_run(spark=spark, **run),
                            dataset_type=CATALOG_TYPES.get)


def write(tmp_path, spec):
    path = tmp_path / "dags" / f"{spec.dag_id}.py"
    write_atomically(path, render_dag(spec))
    return path


def test_connected_spark_nodes_form_one_job_and_the_caught_node_is_absorbed():
    notes = []
    spec = compile_pipeline(spark_shaped(), with_run(spark=DATAPROC),
                            dataset_type=CATALOG_TYPES.get, notify=notes.append)
    jobs = {tuple(t.node_names): t for t in spec.tasks_of("spark")}
    assert sorted(jobs) == [("ingest", "sessionize", "profile_sessions", "featurize",
                             "summarize"), ("score",)]
    big = jobs[("ingest", "sessionize", "profile_sessions", "featurize", "summarize")]
    assert "connected Spark nodes ingest, sessionize, featurize, summarize" in big.doc
    assert "profile_sessions joined to keep the DAG acyclic" in big.doc
    assert big.doc.startswith("Spark job (Dataproc): Kedro nodes `ingest`")
    assert [t.task_id for t in spec.tasks_of("node")] == ["report", "side_job"]
    assert notes == ["One task runs ingest, sessionize, profile_sessions, featurize, summarize "
                     "(connected Spark nodes ingest, sessionize, featurize, summarize; "
                     "profile_sessions joined to keep the DAG acyclic)."]
    # the cluster exists around every Spark job, and the run fails when a node failed
    create, delete = "create-spark-cluster", "delete-spark-cluster"
    assert spec.upstream[big.task_id] == [create, "init-data-volume"]
    assert spec.upstream["score"] == [create, "report"]
    assert spec.upstream["report"] == [big.task_id]
    assert spec.upstream[delete] == [create, big.task_id, "score"]
    assert spec.task(delete).trigger_rule == "all_done"
    assert create not in spec.upstream  # starts with the run, beside the volume
    assert spec.upstream["pipeline-result"] == ["score", "side_job"]


def test_without_grouping_each_spark_node_is_its_own_job():
    spec = spark_compile(DATAPROC, group_spark_nodes=False)
    assert sorted(t.task_id for t in spec.tasks_of("spark")) == [
        "featurize", "ingest", "score", "sessionize", "summarize"]
    assert len(spec.tasks_of("node")) == 3


@pytest.mark.parametrize("annotation", ["pyspark.sql.DataFrame", "DataFrame", "'DataFrame'"])
def test_pyspark_annotations_make_a_spark_node(annotation):
    # A stand-in class: pyspark itself is not installed here; only its module name counts.
    frame = type("DataFrame", (), {"__module__": "pyspark.sql.dataframe"})
    scope = {"DataFrame": frame}
    exec(f"def transform(x: {annotation}) -> int:\n    return 1", scope)
    assert is_spark_node(node(scope["transform"], "a", "b"), lambda name: None)
    plain = {"DataFrame": type("DataFrame", (), {"__module__": "pandas.core.frame"})}
    exec("def transform(x: 'DataFrame') -> int:\n    return 1", plain)
    assert not is_spark_node(node(plain["transform"], "a", "b"), lambda name: None)


def test_without_spark_config_spark_nodes_are_plain_pods():
    spec = compile_pipeline(spark_shaped(), dataset_type=CATALOG_TYPES.get)
    assert spec.tasks_of("spark") == [] and len(spec.tasks_of("node")) == 8


def test_spark_config_without_spark_nodes_says_so():
    notes = []
    spec = compile_pipeline(Pipeline([node(step, "a", "b", name="n")]),
                            with_run(spark=DATAPROC), notify=notes.append)
    assert "create-spark-cluster" not in spec.task_ids
    assert notes == ["Note: run_config.spark is set, but no node is a Spark node (tag "
                     "kedro-airflow-k8s.group.pyspark, or a kedro_datasets.spark dataset)."]


def test_local_execution_keeps_the_groups_but_no_cluster():
    spec = spark_compile(DATAPROC, execution="local")
    assert "create-spark-cluster" not in spec.task_ids
    assert any(t.node_names[:2] == ["ingest", "sessionize"] for t in spec.tasks)
    assert all(t.operator.name == "BashOperator" for t in spec.tasks if t.node_names)


def test_dataproc_dag_imports_and_renders_as_at_run_time(tmp_path):
    spec = compile_pipeline(spark_shaped(), with_run(spark=DATAPROC, macro_params=["ds"],
                                                     env_vars={"STAGE": "prod"}),
                            dataset_type=CATALOG_TYPES.get,
                            spark_artifacts_version="0123456789ab")
    dag = airflow_check.load_dag(write(tmp_path, spec))
    create = dag.get_task("create-spark-cluster")
    assert type(create).__name__ == "DataprocCreateClusterOperator"
    context = airflow_check.render_task(dag, create)
    run_hash = re.fullmatch(r"ephemeral-([0-9a-f]{16})", create.cluster_name).group(1)
    assert create.project_id == "my-project" and create.region == "europe-west1"
    assert create.cluster_config["initialization_actions"] == [
        {"executable_file": "gs://bucket/own.sh"},
        {"executable_file": "gs://bucket/spark/demo/0123456789ab/kedro_init.sh"}]
    assert create.labels == {"managed-by": "kedro-airflow-k8s", "kedro-project": "demo",
                             "kedro-dag": "demo"}

    job_task = dag.get_task("ingest__sessionize__profile_sessions__featurize__summarize")
    airflow_check.render_task(dag, job_task, context["run_id"])
    job = job_task.job
    assert job["placement"] == {"cluster_name": f"ephemeral-{run_hash}"}
    assert job["pyspark_job"]["main_python_file_uri"] == \
        "gs://bucket/spark/demo/0123456789ab/kedro_spark_job.py"
    assert job["pyspark_job"]["args"] == [
        "STAGE=prod", "--", "--env", "local", "--pipeline", "__default__", "--nodes",
        "ingest,sessionize,profile_sessions,featurize,summarize", "--params", "ds=2026-01-01",
        "--conf-source", "/opt/kedro/conf-demo.tar.gz"]

    delete = dag.get_task("delete-spark-cluster")
    airflow_check.render_task(dag, delete, context["run_id"])
    assert delete.cluster_name == f"ephemeral-{run_hash}"
    assert delete.trigger_rule == "all_done"
    assert delete.upstream_task_ids == {"create-spark-cluster", "score", job_task.task_id}
    # the plain nodes are still pods, and valid ones
    assert set(airflow_check.validate_all(dag)) >= {"report", "side_job"}


def test_node_names_in_a_dataproc_job_are_never_rendered(tmp_path):
    pipeline = Pipeline([node(step, "events", "x", name="n", namespace="{{ 7 * 7 }}")])
    spec = compile_pipeline(pipeline, with_run(spark=DATAPROC), dataset_type=CATALOG_TYPES.get)
    dag = airflow_check.load_dag(write(tmp_path, spec))
    task = next(t for t in dag.tasks if type(t).__name__ == "DataprocSubmitJobOperator")
    airflow_check.render_task(dag, task)
    assert "{{ 7 * 7 }}.n" in task.job["pyspark_job"]["args"]


def test_kubernetes_spark_pods_are_drivers_with_executors_from_the_same_image(tmp_path):
    spec = spark_compile(KUBERNETES, volume={"access_modes": ["ReadWriteMany"]},
                         service_account_name="spark", image_pull_secrets="regcred")
    assert "create-spark-cluster" not in spec.task_ids
    job = spec.tasks_of("spark")[0]
    assert job.doc.startswith("Spark job (Kubernetes): ")
    dag = airflow_check.load_dag(write(tmp_path, spec))
    pods = airflow_check.validate_all(dag)  # every pod, Spark drivers too, schema-valid
    driver = pods[job.task_id]["spec"]["containers"][0]
    env = driver["env"]
    assert env[:2] == [
        {"name": "KEDRO_SPARK_DRIVER_HOST",
         "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "KEDRO_SPARK_DRIVER_POD",
         "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    submit = shlex.split(next(e["value"] for e in env if e["name"] == "PYSPARK_SUBMIT_ARGS"))
    assert submit[:4] == ["--master", "k8s://https://kubernetes.default.svc", "--deploy-mode",
                          "client"] and submit[-1] == "pyspark-shell"
    conf = dict(value.split("=", 1) for value in submit[5:-1:2])
    claim = pods[job.task_id]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
    assert conf == {
        "spark.driver.host": "$(KEDRO_SPARK_DRIVER_HOST)",
        "spark.driver.bindAddress": "0.0.0.0",
        "spark.kubernetes.driver.pod.name": "$(KEDRO_SPARK_DRIVER_POD)",
        "spark.kubernetes.namespace": "default",
        "spark.kubernetes.container.image": "registry.example.com/demo:1",
        "spark.kubernetes.container.image.pullPolicy": "IfNotPresent",
        "spark.kubernetes.authenticate.caCertFile":
            "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
        "spark.kubernetes.authenticate.oauthTokenFile":
            "/var/run/secrets/kubernetes.io/serviceaccount/token",
        "spark.kubernetes.authenticate.executor.serviceAccountName": "spark",
        "spark.kubernetes.container.image.pullSecrets": "regcred",
        **{f"spark.kubernetes.executor.label.{k}": v
           for k, v in pods[job.task_id]["metadata"]["labels"].items()
           if k.startswith(("app.kubernetes.io/", "kedro-airflow-k8s/"))},
        "spark.kubernetes.executor.volumes.persistentVolumeClaim.kedro-data.options.claimName":
            claim,
        "spark.kubernetes.executor.volumes.persistentVolumeClaim.kedro-data.mount.path":
            "/home/kedro/data",
        "spark.executor.instances": "3",
        "spark.dynamicAllocation.enabled": "false",
    }
    assert claim.startswith("demo-data-") and "{" not in claim
    assert driver["args"][-2:] == ["--nodes",
                                   "ingest,sessionize,profile_sessions,featurize,summarize"]
    # plain pods keep a plain environment
    assert all(e["name"] != "PYSPARK_SUBMIT_ARGS"
               for e in pods["report"]["spec"]["containers"][0].get("env", []))


def test_kubernetes_executors_skip_a_volume_only_one_node_can_mount():
    spec = spark_compile(KUBERNETES)
    env = pod_settings(spec.tasks_of("spark")[0])["extra_env"]["PYSPARK_SUBMIT_ARGS"]
    assert "persistentVolumeClaim" not in env


def test_a_custom_factory_builds_the_spark_jobs(tmp_path):
    custom = {"type": "custom", "operator_factory": "tests.spark_factories.SparkOperatorFactory",
              "cluster_config": {"driver": {"cores": 2}}}
    spec = spark_compile(custom)
    assert {t.kind for t in spec.tasks} >= {"spark"}
    assert "create-spark-cluster" not in spec.task_ids
    dag = airflow_check.load_dag(write(tmp_path, spec))
    task = dag.get_task("score")
    assert type(task).__name__ == "SparkKubernetesOperator"
    airflow_check.render_task(dag, task)
    spark = task.template_spec["spec"]
    assert spark["driver"] == {"cores": 2, "memory": "1g"}
    assert spark["arguments"] == ["--env", "local", "--pipeline", "__default__", "--nodes",
                                  "score"]
    assert re.fullmatch(r"demo-[0-9a-f]{16}", task.template_spec["metadata"]["name"])
    pods = airflow_check.validate_all(dag)  # a SparkApplication has no schema: not a pod
    assert "report" in pods and "score" not in pods


def test_a_custom_factory_with_a_cluster_gets_the_lifecycle(tmp_path):
    custom = {"type": "custom", "operator_factory": "tests.spark_factories.ShellClusterFactory"}
    spec = spark_compile(custom, volume={"disabled": True})
    assert spec.task("delete-spark-cluster").trigger_rule == "all_done"
    assert spec.upstream["pipeline-result"] == ["score", "side_job"]
    dag = airflow_check.load_dag(write(tmp_path, spec))
    task = dag.get_task("score")
    airflow_check.render_task(dag, task)
    assert task.env == {"NODES": "score"} and task.upstream_task_ids == {
        "create-spark-cluster", "report"}
    delete = dag.get_task("delete-spark-cluster")
    airflow_check.render_task(dag, delete)
    assert re.fullmatch(r"echo delete [0-9a-f]{16}", delete.bash_command)


@pytest.mark.parametrize(("factory", "mode", "message"), [
    ("tests.no_such_module.F", None, "run_config.spark.operator_factory: cannot import "
     "tests.no_such_module (ModuleNotFoundError: No module named 'tests.no_such_module')"),
    ("tests.spark_factories.Missing", None,
     "run_config.spark.operator_factory: module tests.spark_factories has no Missing"),
    ("tests.spark_factories.NotAFactory", None, "run_config.spark.operator_factory: "
     "tests.spark_factories.NotAFactory is not a subclass of "
     "kedro_airflow_k8s.spark.SparkFactory"),
    ("tests.spark_factories.Broken", "not-a-call",
     "run_config.spark: Broken.submit returned dict, not an OperatorCall"),
    ("tests.spark_factories.Broken", "task-id", "run_config.spark: Broken.submit: argument "
     "'task_id' is not a keyword the factory may set"),
    ("tests.spark_factories.Broken", "object", "run_config.spark: Broken.submit: cannot "
     "print object into a DAG file"),
    ("tests.spark_factories.Broken", "clash", "run_config.spark: operator my.operators.DAG "
     "has the name of one imported from airflow.sdk"),
    ("tests.spark_factories.Broken", "code-in-name", "run_config.spark: Broken.submit: "
     "'os; import sys'/'X' is not an importable module and class name"),
    ("tests.spark_factories.Broken", "raise",
     "run_config.spark: Broken.submit failed: RuntimeError: no cluster for you"),
])
def test_bad_factories_are_one_line_compile_errors(factory, mode, message):
    custom = {"type": "custom", "operator_factory": factory,
              "cluster_config": {"mode": mode}}
    with pytest.raises(CompileError) as caught:  # compiled and printed, before any writing
        render_dag(spark_compile(custom))
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_spark_job_arguments_keep_node_names_verbatim():
    spec = spark_compile(DATAPROC)
    args = spec.task("score").arguments["job"]["pyspark_job"]["args"]
    assert Verbatim("score") in args


def test_spark_drivers_and_dataproc_jobs_log_into_the_dag_runs_mlflow_run(tmp_path):
    from kedro_airflow_k8s.mlflow_run import MlflowSettings

    mlflow = MlflowSettings("http://mlflow.example.com", "exp")
    spec = compile_pipeline(
        spark_shaped(), with_run(spark=KUBERNETES), dataset_type=CATALOG_TYPES.get,
        mlflow=mlflow)
    dag = airflow_check.load_dag(write(tmp_path / "k8s", spec))
    pods = airflow_check.validate_all(dag)
    env = {e["name"]: e.get("value") for e in
           pods["score"]["spec"]["containers"][0]["env"]}
    assert env["MLFLOW_RUN_ID"] == "xcom-of-start-mlflow-run"
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.example.com"
    assert "PYSPARK_SUBMIT_ARGS" in env

    spec = compile_pipeline(spark_shaped(), with_run(spark=DATAPROC),
                            dataset_type=CATALOG_TYPES.get, mlflow=mlflow)
    dag = airflow_check.load_dag(write(tmp_path / "dataproc", spec))
    task = dag.get_task("score")
    airflow_check.render_task(dag, task)
    args = task.job["pyspark_job"]["args"]
    assert args[:args.index("--")] == ["MLFLOW_TRACKING_URI=http://mlflow.example.com",
                                       "MLFLOW_RUN_ID=xcom-of-start-mlflow-run"]
    assert "start-mlflow-run" in task.get_flat_relative_ids(upstream=True)


def test_every_name_the_dag_file_binds_is_one_a_factory_cannot_take():
    """Whatever name the DAG file binds (imports, helpers, constants, the DAG's own
    variables), an operator of a Spark factory with that name from another module is
    refused in one line before anything is written. (Local execution runs no factory.)"""
    execution = "kubernetes"
    import ast

    from kedro_airflow_k8s.mlflow_run import MlflowSettings

    def compiled_with(name):
        factory = {"type": "custom", "operator_factory": "tests.spark_factories.Named",
                   "cluster_config": {"module": "my.operators", "name": name}}
        return compile_pipeline(
            spark_shaped(), with_run(
                spark=factory, execution=execution, secrets=[{"secret": "s"}],
                resources={"__default__": {"requests": {"cpu": "1"}}},
                kubernetes_pod_templates={"__default__": {"template": {"kind": "Pod"}}},
                failure_handlers=[{"type": "slack"}], macro_params=["ds"],
                external_dependencies=[{"dag_id": "upstream_dag"}]),
            dataset_type=CATALOG_TYPES.get, mlflow=MlflowSettings("http://m", "e"))

    bound = set()
    for statement in ast.walk(ast.parse(render_dag(compiled_with("MySparkOperator")))):
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in statement.names}
        elif isinstance(statement, ast.FunctionDef) and statement.col_offset == 0:
            bound.add(statement.name)
        elif isinstance(statement, ast.Name) and isinstance(statement.ctx, ast.Store):
            bound.add(statement.id)
    # names bound inside the helper functions and comprehensions are local to them
    bound -= {"env", "task", "name", "path", "value", "other", "text", "MySparkOperator"}
    assert {"DAG", "tasks", "upstream", "dag", "datetime"} <= bound
    assert {"pod_arguments", "RESOURCES", "POD_TEMPLATES", "k8s", "Secret"} <= bound
    for name in sorted(bound):
        with pytest.raises(CompileError, match=f"operator my.operators.{name} has the name "):
            render_dag(compiled_with(name))
