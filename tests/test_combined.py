"""The new features together ("kitchen sink"): namespace grouping and a group tag,
task_settings with retries, retry_on, deferrable and keep_pod, task_defaults, assets
include/exclude, and Params from nested Kedro parameters, in one DAG.

The file is imported by Airflow's DagBag, every pod is built by the real
KubernetesPodOperator and validated against the Kubernetes schema, and the commands are
rendered as Airflow renders them for a run that changed a Param (and for one that did not),
then read by Kedro's own `--params` parser. The same in local execution.
"""

from __future__ import annotations

from typing import Any

import pytest

from kedro_airflow_k8s import validate
from kedro_airflow_k8s.render import render_dag, write_atomically
from tests import airflow_check
from tests.golden.configs import SINK, SINK_LOCATIONS, SINK_PARAMETERS, compiled, kitchen_sink
from tests.test_node_pod import kubernetes  # noqa: F401 - the stand-in API fixture
from tests.test_params import kedro_reads

NODE_TASKS = {"ingest.load__clean": "ingest.load,ingest.clean",
              "model.fit__score": "model.fit,model.score",
              "audit__report": "audit,report"}


def _dag(tmp_path, **options: Any) -> Any:
    spec = compiled(kitchen_sink(), _raw(), parameters=SINK_PARAMETERS,
                    dataset_location=SINK_LOCATIONS.get, **options)
    path = tmp_path / "dags" / "demo.py"
    write_atomically(path, render_dag(spec))
    return airflow_check.load_dag(path), path


def _raw() -> dict[str, Any]:
    from tests.golden.configs import run
    return run(**SINK)


def _rendered(path, task_id: str, conf: dict[str, Any], execution: str) -> str:
    """The --params value Airflow renders for a run triggered with `conf`."""
    from airflow.sdk.definitions.param import process_params

    dag = airflow_check.load_dag(path)
    task = dag.get_task(task_id)
    context = validate.template_context(task, airflow_check.RUN_ID)
    context["params"] = process_params(dag, task, conf, suppress_exception=False)
    task.render_template_fields(context, dag.get_template_env())
    if execution == "local":
        return task.env["KEDRO_PARAMS"]
    assert task.arguments[-2] == "--params"
    return task.arguments[-1]


CHANGED = {"model.opt.lr": 0.5, "ingest.drop": ["x,y", "${z}"], "threshold": 0.5}


def test_every_new_key_at_once_compiles_imports_and_builds_valid_pods(tmp_path):
    dag, path = _dag(tmp_path)
    # namespace grouping and the group tag: one task each
    assert {t.task_id for t in dag.tasks if t.task_id in NODE_TASKS} == set(NODE_TASKS)
    tasks = {task_id: dag.get_task(task_id) for task_id in NODE_TASKS}
    # retry_on: the ingest task has a member retrying any failure; the others retry the
    # cluster's failures only
    assert type(tasks["ingest.load__clean"]).__name__ == "KubernetesPodOperator"
    assert type(tasks["model.fit__score"]).__name__ == "NodePodOperator"
    assert type(tasks["audit__report"]).__name__ == "NodePodOperator"
    assert [tasks[t].retries for t in NODE_TASKS] == [3, 3, 3]
    # the flaky profile's pod settings merged with those of the members without it: each
    # task has one whose deferrable is task_defaults' false, so none is deferrable (and the
    # intervals are left out); keep_pod keeps most pods
    for task in tasks.values():
        assert task.deferrable is False and task.on_finish_action.value == "keep_pod"
        assert task.poll_interval == 2 and task.startup_timeout_seconds == 600
    assert dag.get_task("init-data-volume").deferrable is False  # task_defaults
    # assets: an asset written and read inside one task is its outlet only; audit excluded
    uris = {t: ([a.uri for a in tasks[t].inlets], [a.uri for a in tasks[t].outlets])
            for t in NODE_TASKS}
    assert uris == {
        "ingest.load__clean": (["s3://lake/raw.csv"],
                               ["gs://lake/clean", "kedro://demo/ingest.loaded"]),
        "model.fit__score": (["gs://lake/clean"],
                             ["kedro://demo/model.fitted", "kedro://demo/scored"]),
        "audit__report": (["gs://lake/clean", "kedro://demo/scored"],
                          ["file:///mnt/shared/report.html"])}
    # Params: the nested leaves the nodes read, not the unused one
    assert sorted(dag.params) == ["ingest.drop", "ingest.min_rows", "model.layers",
                                  "model.name", "model.opt.lr", "threshold"]
    # every pod built by the real KubernetesPodOperator, valid for the Kubernetes schema
    pods = airflow_check.validate_all(dag)
    for task_id, nodes in NODE_TASKS.items():
        container = pods[task_id]["spec"]["containers"][0]
        assert container["args"][-3:] == [nodes, "--params", ""]
        assert pods[task_id]["metadata"]["annotations"]["kedro-airflow-k8s/nodes"] == nodes


@pytest.mark.parametrize("execution", ["kubernetes", "local"])
def test_a_changed_param_reaches_every_grouped_task(tmp_path, execution):
    _, path = _dag(tmp_path, execution=execution)
    for task_id in NODE_TASKS:
        assert kedro_reads(_rendered(path, task_id, {}, execution)) == {}
        assert kedro_reads(_rendered(path, task_id, CHANGED, execution)) == {
            "model": {"opt": {"lr": 0.5}}, "ingest": {"drop": ["x,y", "\\${z}"]}}


def test_local_execution_keeps_groups_assets_and_settings(tmp_path):
    dag, _ = _dag(tmp_path, execution="local")
    tasks = {task_id: dag.get_task(task_id) for task_id in NODE_TASKS}
    # retry_on as in Kubernetes mode: a member retrying any failure makes the task's plain
    assert {task_id: type(t).__name__ for task_id, t in tasks.items()} == {
        "ingest.load__clean": "BashOperator", "model.fit__score": "NodeBashOperator",
        "audit__report": "NodeBashOperator"}
    assert [tasks[t].retries for t in NODE_TASKS] == [3, 3, 3]
    # slow's 1h beside load, which has no execution_timeout anywhere: unlimited
    assert tasks["ingest.load__clean"].execution_timeout is None
    assert [a.uri for a in tasks["audit__report"].outlets] == ["file:///mnt/shared/report.html"]
    assert tasks["audit__report"].env["KEDRO_NODES"].value == "audit,report"


@pytest.mark.parametrize("status, retried", [("code-error", False), ("oom-killed", True)])
def test_a_grouped_deferrable_node_pod_from_the_profile_fails_or_retries(
        tmp_path, kubernetes, status, retried):  # noqa: F811 - the fixture imported above
    """The model task: NodePodOperator, deferrable and keep_pod through the file's OPERATIONS
    (not set on the task by hand), run through the real trigger against a stand-in
    Kubernetes API (tests/test_node_pod.py)."""
    from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferred

    from tests.golden.configs import run
    from tests.test_node_pod import CODE_ERROR, OOM_KILLED, _context

    server, config = kubernetes({"code-error": CODE_ERROR, "oom-killed": OOM_KILLED}[status])
    # without task_defaults' deferrable false, `score` (no profile) lets flaky's stand
    defaults = {k: v for k, v in SINK["task_defaults"].items() if k != "deferrable"}
    raw = run(**{**SINK, "volume": {"disabled": True},
                 "task_defaults": {**defaults, "startup_timeout": 1},
                 "kubernetes_connection": {"config_file": str(config)}})
    spec = compiled(kitchen_sink(), raw, parameters=SINK_PARAMETERS)
    path = tmp_path / "dags" / "demo.py"
    write_atomically(path, render_dag(spec))
    dag = airflow_check.load_dag(path)
    task = dag.get_task("model.fit__score")
    assert type(task).__name__ == "NodePodOperator" and task.deferrable is True
    context = _context(dag, task)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context)

    async def first_event() -> Any:
        return await anext(deferred.value.trigger.run())

    import asyncio

    event = asyncio.run(first_event())
    with pytest.raises(AirflowException) as failed:
        getattr(task, deferred.value.method_name)(context, event.payload)
    assert isinstance(failed.value, AirflowFailException) is not retried, failed.value
    assert len(server.pods) == 1  # keep_pod: the failed pod stays


def test_a_member_retrying_any_failure_by_task_defaults_makes_its_task_retry_any(tmp_path):
    """retry_on is read a profile's, else task_defaults': `audit` (no profile) and
    `model.score` (no profile) retry any failure by task_defaults, so the tasks they share
    with a node whose profile says infrastructure retry any failure too (docs/tags.md: one
    of them with retry_on: any makes the task retry any failure)."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    from tests.golden.configs import run

    raw = run(**{**SINK, "task_defaults": {**SINK["task_defaults"], "retry_on": "any"}})
    spec = compiled(kitchen_sink(), raw, parameters=SINK_PARAMETERS)
    path = tmp_path / "dags" / "demo.py"
    write_atomically(path, render_dag(spec))
    dag = airflow_check.load_dag(path)
    for task_id in NODE_TASKS:
        assert type(dag.get_task(task_id)) is KubernetesPodOperator, task_id
    # a task whose every member's profile says infrastructure keeps NodePodOperator
    alone = compiled(kitchen_sink().only_nodes("model.fit"), raw, parameters=SINK_PARAMETERS)
    assert alone.task("model.fit").operator.name == "NodePodOperator"


def test_a_spark_driver_pod_retries_any_failure():
    """Spark on Kubernetes: the driver's pod fails with the node's exit code when the
    cluster took the executors' pods (Spark gives up after spark.task.maxFailures), so its
    pod cannot tell infrastructure from code: the Spark task keeps the plain operator and
    every failure spends a retry; the pandas nodes beside it retry infrastructure only."""
    from tests.golden.configs import KUBERNETES_SPARK, run
    from tests.test_spark import spark_shaped

    raw = run(spark=KUBERNETES_SPARK, grouping="namespace",
              task_defaults={"retries": 2, "retry_on": "infrastructure"})
    spec = compiled(spark_shaped(), raw)
    operators = {t.task_id: t.operator.name for t in spec.tasks if t.kind in ("node", "spark")}
    assert {t.task_id for t in spec.tasks_of("spark")} == {
        "ingest__sessionize__profile_sessions__featurize__summarize", "score"}
    for task in spec.tasks_of("spark"):
        assert operators[task.task_id] == "KubernetesPodOperator", task.task_id
    assert {operators[t.task_id] for t in spec.tasks_of("node")} == {"NodePodOperator"}
