"""The rendered DAG file, checked by Airflow itself and by the Kubernetes schema."""

import ast
import copy
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kedro.pipeline import Pipeline, node

from kedro_airflow_k8s.compiler import compile_dag, compile_project
from kedro_airflow_k8s.config import parse_config
from kedro_airflow_k8s.context import KedroProject
from kedro_airflow_k8s.dagspec import Verbatim
from kedro_airflow_k8s.errors import CompileError
from kedro_airflow_k8s.options import CompileOptions
from kedro_airflow_k8s.render import py, render_dag, write_atomically
from tests import airflow_check
from tests.conftest import commit_all
from tests.spec_helpers import profile_of, split
from tests.test_config import FULL, with_run

ALLOWED_IMPORT_ROOTS = {"airflow", "kubernetes", "datetime", "hashlib", "json"}


def identity(x):
    return x


def write(tmp_path, spec):
    path = tmp_path / "dags" / f"{spec.dag_id}.py"
    write_atomically(path, render_dag(spec))
    return path


def compiled(pipeline, raw, **kwargs):
    return compile_dag(pipeline, parse_config(raw), *split(kwargs, package="demo", env="prod"))


@pytest.fixture
def demo_dag_file(demo_project, tmp_path):
    return write(tmp_path, compile_project(KedroProject.at(path=demo_project)))


def imported_roots(source):
    roots = set()
    for statement in ast.walk(ast.parse(source)):
        if isinstance(statement, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in statement.names}
        elif isinstance(statement, ast.ImportFrom):
            roots.add(statement.module.split(".")[0])
    return roots


def test_demo_dag_imports_cleanly_in_airflow(demo_dag_file):
    dag = airflow_check.load_dag(demo_dag_file)
    assert dag.dag_id == "demo"
    assert sorted(t.task_id for t in dag.tasks) == [
        "clean_orders", "count_customers", "create-data-volume", "delete-data-volume",
        "features.daily_totals", "features.scale", "init-data-volume", "pipeline-result",
        "report", "train"]
    assert dag.get_task("features.scale").upstream_task_ids == {"features.daily_totals"}
    assert dag.get_task("report").upstream_task_ids == {"count_customers", "train"}
    assert dag.get_task("delete-data-volume").trigger_rule == "all_done"
    assert dag.task_group.children["features"].children.keys() == {
        "features.daily_totals", "features.scale"}
    assert type(dag.timetable).__name__ == "NullTimetable"  # schedule=None


def test_the_dag_names_the_project_version_and_commit(demo_project, tmp_path, monkeypatch):
    """Airflow shows doc_md and tags: both name the version of the code and conf, and the
    git commit, dirty when a tracked file differs from it."""
    from kedro_airflow_k8s.project_version import project_version

    monkeypatch.delenv("KEDRO_CONFIG_COMMIT_ID", raising=False)
    head = commit_all(demo_project)
    with (demo_project / "src/demo/pipeline_registry.py").open("a") as file:
        file.write("# edited after the commit\n")
    project = KedroProject.at(path=demo_project)
    version = project_version(project)
    dag = airflow_check.load_dag(write(tmp_path, compile_project(project)))
    assert f"commit_sha:{head}-dirty" in dag.tags
    assert f"project_version:{version}" in dag.tags
    assert all(len(tag) <= 100 for tag in dag.tags)
    assert (f"Project version `{version}` (a hash of its code and configuration),\n"
            f"git commit `{head}-dirty`.") in dag.doc_md


def test_demo_dag_imports_nothing_of_ours(demo_dag_file):
    source = demo_dag_file.read_text()
    assert imported_roots(source) <= ALLOWED_IMPORT_ROOTS
    assert "kedro_airflow_k8s" not in imported_roots(source)


def test_every_demo_pod_and_the_volume_validate_against_kubernetes(demo_dag_file):
    dag = airflow_check.load_dag(demo_dag_file)
    manifests = airflow_check.validate_all(dag)
    assert set(manifests) == {"clean_orders", "count_customers", "create-data-volume",
                              "features.daily_totals", "features.scale", "init-data-volume",
                              "report", "train"}
    volume = manifests["create-data-volume"]
    claim = volume["metadata"]["name"]
    assert re.fullmatch(r"demo-data-[0-9a-f]{16}", claim)
    for task_id, pod in manifests.items():
        if task_id == "create-data-volume":
            continue
        spec = pod["spec"]
        assert spec["volumes"] == [{"name": "kedro-data",
                                    "persistentVolumeClaim": {"claimName": claim}}]
        assert spec["securityContext"] == {"fsGroup": 0}
        assert pod["metadata"]["namespace"] == "kedro"
        assert pod["metadata"]["labels"]["kedro-airflow-k8s/project"] == "demo"
    train = manifests["train"]
    container = train["spec"]["containers"][0]
    assert container["args"] == ["run", "--env", "local", "--pipeline", "__default__",
                                 "--nodes", "train", "--params", "ds=2026-01-01"]
    assert container["resources"] == {"requests": {"cpu": "2", "memory": "4Gi"},
                                      "limits": {"cpu": "4", "memory": "8Gi"}}
    assert train["spec"]["nodeSelector"] == {"cloud.google.com/gke-nodepool": "highmem"}
    # the pod template's env and annotation are merged in; the volume is kept
    assert {"name": "TRAINING_DEVICE", "value": "gpu"} in container["env"]
    assert train["metadata"]["annotations"]["example.com/accelerator"] == "true"
    assert container["volumeMounts"] == [{"name": "kedro-data",
                                          "mountPath": "/home/kedro/data"}]
    init = manifests["init-data-volume"]["spec"]["containers"][0]
    assert init["volumeMounts"] == [{"name": "kedro-data", "mountPath": "/mnt/kedro-data"}]


def test_each_run_gets_its_own_volume(demo_dag_file):
    claims = []
    for run_id in ("manual__2026-11-24T10:00:00+00:00", "scheduled__2026-11-25T00:00:00+00:00"):
        dag = airflow_check.load_dag(demo_dag_file)
        claims.append(airflow_check.validate_all(dag, run_id)["create-data-volume"])
    assert claims[0]["metadata"]["name"] != claims[1]["metadata"]["name"]


def test_full_config_dag_imports_and_validates(tmp_path):
    raw = copy.deepcopy(FULL)
    raw["run_config"]["volume"]["skip_init"] = False
    pipeline = Pipeline([
        node(identity, "a", "b", name="first", tags=["resources.huge"]),
        node(identity, "b", "c", name="second", namespace="outer.inner",
             tags=["k8s_template.spark"]),
    ])
    path = write(tmp_path, compiled(pipeline, raw, commit_sha="0123abc"))
    dag = airflow_check.load_dag(path)
    assert dag.dag_id == "demo-dag"
    assert "commit_sha:0123abc" in dag.tags
    assert dag.get_task("wait-for-other-last").execution_delta.total_seconds() == 600
    assert dag.get_task("wait-for-other-last").timeout == 120
    assert dag.get_task("create-data-volume").upstream_task_ids == {
        "wait-for-other-last", "wait-for-upstream"}
    notifier = dag.get_task("first").on_failure_callback[0]
    assert notifier.slack_webhook_conn_id == "slack"
    manifests = airflow_check.validate_all(dag)
    first = manifests["first"]["spec"]
    container = first["containers"][0]
    assert container["image"] == "registry.example.com/demo:1"
    assert container["imagePullPolicy"] == "Always"
    assert container["args"][-1] == ('ds=2026-01-01,ts="2026-01-01T00:00:00+00:00",'
                                     'env=variable-env')
    assert {"name": "SQL_CONN", "valueFrom": {"secretKeyRef": {
        "name": "airflow-secrets", "key": "sql_alchemy_conn"}}} in container["env"]
    assert {"name": "B", "value": "1"} in container["env"]
    assert {"secretRef": {"name": "all-as-env"}} in container["envFrom"]
    assert first["imagePullSecrets"] == [{"name": "regcred"}, {"name": "other-cred"}]
    assert first["serviceAccountName"] == "kedro"
    assert first["securityContext"] == {"fsGroup": 1000}
    assert "tolerations" not in first or first["tolerations"] == []  # huge has none
    assert any(v.get("secret", {}).get("secretName") == "gcp-sa" for v in first["volumes"])
    second = manifests["outer.inner.second"]
    assert second["spec"]["tolerations"] == [{"key": "group", "value": "data",
                                              "effect": "NoExecute", "operator": "Equal"}]
    assert second["spec"]["nodeSelector"] == {"pool": "default"}
    assert second["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}}
    assert second["spec"]["containers"][0]["image"] == "spark-image"
    assert second["metadata"]["labels"]["a"] == "b"  # from the pod template
    assert second["metadata"]["labels"]["running"] == "airflow"  # plugin settings on top
    claim = manifests["create-data-volume"]
    assert claim["spec"]["storageClassName"] == "standard-rwo"
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


def test_no_volume_dag_imports_and_validates(tmp_path):
    pipeline = Pipeline([node(identity, "a", "b", name="only")])
    source = render_dag(compiled(pipeline, with_run(volume={"disabled": True})))
    assert "VOLUME_CLAIM" not in source and "hashlib" not in source
    path = tmp_path / "dags" / "demo.py"
    path.parent.mkdir()
    path.write_text(source)
    dag = airflow_check.load_dag(path)
    assert [t.task_id for t in dag.tasks] == ["only"]
    pod = airflow_check.validate_all(dag)["only"]
    assert "volumes" not in pod["spec"] or pod["spec"]["volumes"] == []


def test_compiling_twice_gives_identical_bytes(demo_project):
    first = render_dag(compile_project(KedroProject.at(path=demo_project)))
    second = render_dag(compile_project(KedroProject.at(path=demo_project)))
    assert first == second


def test_rendered_file_is_formatted_python(demo_dag_file):
    source = demo_dag_file.read_text()
    compile(source, str(demo_dag_file), "exec")
    assert "\t" not in source
    assert max(len(line) for line in source.splitlines()) <= 130


NAMES = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=","),
    min_size=1, max_size=30,
).filter(lambda s: s == s.strip())


@settings(max_examples=60, deadline=None)
@given(namespace=NAMES, name=st.from_regex(r"[\w.-]{1,20}", fullmatch=True))
def test_node_names_cannot_inject_code_or_jinja(namespace, name):
    from kedro.framework.cli.utils import split_node_names

    pipeline = Pipeline([node(identity, "a", "b", name=name, namespace=namespace)])
    full_name = f"{namespace}.{name}"
    if split_node_names(None, None, full_name) != [full_name]:  # e.g. an unclosed '['
        with pytest.raises(CompileError, match="`kedro run --nodes` cannot take this name"):
            compiled(pipeline, with_run(volume={"disabled": True}))
        return
    spec = compiled(pipeline, with_run(volume={"disabled": True}))
    source = render_dag(spec)
    tree = ast.parse(source)  # any escape from a string literal breaks or changes this
    assert imported_roots(source) <= ALLOWED_IMPORT_ROOTS
    literals = [n.args[0].value for n in ast.walk(tree)
                if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "literal"]
    assert literals == [full_name]  # the file names the nodes once: command and annotation


@pytest.mark.parametrize("value", [
    "plain", "quo'te\"s", "new\nline", "two\nlines\n", "ends\nwith\"", "back\\slash",
    "{{ ti }}", "😀 ünï", "\x00\x1f", "tab\tand\nline",
    {"k": ["v", 1, None, True]}, Verbatim("{{ x }}"), [],
])
def test_py_round_trips_values(value):
    source = py(value)
    if isinstance(value, Verbatim):
        assert source == f"literal({value.text!r})"
    else:
        assert ast.literal_eval(source) == value


def test_local_execution_dag_imports_and_runs_kedro_with_exact_names(tmp_path):
    pipeline = Pipeline([
        node(identity, "a", "b", name="first"),
        node(identity, "b", "c", name="x", namespace="we ird {{ ns }}"),
    ])
    raw = with_run(macro_params=["ds"], env_vars={"EXTRA": "1"},
                   local={"project_path": "/srv/project", "python": "/opt/py/bin/python"})
    spec = compiled(pipeline, raw, execution="local", is_persisted=lambda name: name != "b")
    source = render_dag(spec)
    assert "KubernetesPodOperator" not in source and "kubernetes" not in imported_roots(source)
    path = tmp_path / "dags" / "demo.py"
    path.parent.mkdir()
    path.write_text(source)
    dag = airflow_check.load_dag(path)
    assert [t.task_id for t in dag.tasks] == ["first__we-ird-ns-x"]  # joined by dataset b
    task = dag.tasks[0]
    airflow_check.render_task(dag, task)
    assert task.bash_command == ("/opt/py/bin/python -m kedro run --env prod --pipeline "
                                 '__default__ --nodes "$KEDRO_NODES" --params "$KEDRO_PARAMS"')
    assert task.env == {"EXTRA": "1", "KEDRO_NODES": "first,we ird {{ ns }}.x",
                        "KEDRO_PARAMS": "ds=2026-01-01"}
    assert task.cwd == "/srv/project" and task.append_env


def test_local_execution_defaults_to_the_compiling_project(demo_project, tmp_path):
    import sys

    spec = compile_project(KedroProject.at(path=demo_project), CompileOptions(execution="local"))
    assert spec.local.project_path == str(demo_project.resolve())
    assert spec.local.python == sys.executable
    assert spec.pod_defaults is None  # no pod: no volume, no resources
    assert not spec.tasks_of("volume-create") and not spec.resources


def test_an_unwritable_template_cache_is_no_error(monkeypatch):
    import jinja2

    def refuse(self, bucket):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(jinja2.FileSystemBytecodeCache, "dump_bytecode", refuse)
    monkeypatch.setattr(jinja2.FileSystemBytecodeCache, "load_bytecode", lambda s, b: None)
    spec = compiled(Pipeline([node(identity, "a", "b", name="n")]), {"run_config": {
        "image": "registry.example.com/demo:1"}})
    assert "tasks['n'] = KubernetesPodOperator(" in render_dag(spec)

    def no_directory(self, *args, **kwargs):
        raise RuntimeError("Cannot create or use a private cache directory")

    monkeypatch.setattr(jinja2.FileSystemBytecodeCache, "__init__", no_directory)
    assert render_dag(spec).startswith('"""Kedro pipeline')


GPU_TEMPLATE = {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{
    "name": "base", "resources": {"requests": {"cpu": "1"},
                                  "limits": {"nvidia.com/gpu": 1}}}]}}


def test_a_profile_keeps_the_gpu_of_the_pod_template(tmp_path):
    # the provider replaces the template container's whole `resources` with the profile's
    # (a shallow merge): the GPU was lost, on every templated node once __default__ exists
    pipeline = Pipeline([
        node(identity, "a", "b", name="train", tags=["resources.huge", "k8s_template.gpu"]),
        node(identity, "b", "c", name="score", tags=["k8s_template.gpu"]),
        node(identity, "c", "d", name="report"),
    ])
    raw = with_run(resources={
        "__default__": {"requests": {"cpu": "250m", "memory": "256Mi"},
                        "limits": {"cpu": "1", "memory": "512Mi"}},
        "huge": {"requests": {"cpu": "2", "memory": "4Gi"},
                 "limits": {"cpu": "4", "memory": "8Gi"}},
    }, kubernetes_pod_templates={"gpu": {"template": GPU_TEMPLATE}})
    spec = compiled(pipeline, raw)
    assert profile_of(spec.task("train")) == "huge@gpu"
    assert profile_of(spec.task("report")) == "__default__"
    pods = airflow_check.validate_all(airflow_check.load_dag(write(tmp_path, spec)))
    resources = {task: pods[task]["spec"]["containers"][0]["resources"]
                 for task in ("train", "score", "report")}
    assert resources["train"] == {"requests": {"cpu": "2", "memory": "4Gi"},  # profile wins
                                  "limits": {"nvidia.com/gpu": "1", "cpu": "4",
                                             "memory": "8Gi"}}
    assert resources["score"] == {"requests": {"cpu": "250m", "memory": "256Mi"},
                                  "limits": {"nvidia.com/gpu": "1", "cpu": "1",
                                             "memory": "512Mi"}}
    assert resources["report"] == {"requests": {"cpu": "250m", "memory": "256Mi"},
                                   "limits": {"cpu": "1", "memory": "512Mi"}}


def test_a_template_request_above_the_profiles_limit_is_a_compile_error():
    template = copy.deepcopy(GPU_TEMPLATE)
    template["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "8"
    pipeline = Pipeline([node(identity, "a", "b", name="train",
                              tags=["resources.huge", "k8s_template.gpu"])])
    raw = with_run(resources={"huge": {"limits": {"cpu": "4"}}},
                   kubernetes_pod_templates={"gpu": {"template": template}})
    with pytest.raises(CompileError) as error:
        compiled(pipeline, raw)
    assert str(error.value) == ("task train: resource profile 'huge' on pod template 'gpu': "
                                "requests.cpu: 8 must be at most limits.cpu 4")


def _kubernetes_tasks(dag):
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.providers.cncf.kubernetes.operators.resource import (
        KubernetesResourceBaseOperator,
    )

    pods = {t.task_id: t for t in dag.tasks if isinstance(t, KubernetesPodOperator)}
    resources = {t.task_id: t for t in dag.tasks if isinstance(t, KubernetesResourceBaseOperator)}
    return pods, resources


def test_every_task_that_talks_to_kubernetes_takes_the_configured_connection(tmp_path):
    from kedro_airflow_k8s.mlflow_run import MlflowSettings

    pipeline = Pipeline([
        node(identity, "a", "b", name="prepare"),
        node(identity, "b", "c", name="spark_step", tags=["kedro-airflow-k8s.group.pyspark"]),
    ])
    connection = {"kubernetes_conn_id": "k8s_prod", "config_file": "/etc/kube/prod.yaml"}
    raw = with_run(kubernetes_connection=connection, spark={"type": "kubernetes"})
    spec = compiled(pipeline, raw, mlflow=MlflowSettings("http://mlflow:5000", "exp"))
    dag = airflow_check.load_dag(write(tmp_path, spec))
    pods, resources = _kubernetes_tasks(dag)
    assert set(pods) == {"prepare", "spark_step", "init-data-volume", "start-mlflow-run",
                         "end-mlflow-run"}
    assert set(resources) == {"create-data-volume", "delete-data-volume"}
    for task in [*pods.values(), *resources.values()]:
        assert (task.kubernetes_conn_id, task.config_file) == ("k8s_prod",
                                                               "/etc/kube/prod.yaml"), task
    for task in pods.values():
        assert (task.in_cluster, task.cluster_context) == (None, None)
    airflow_check.validate_all(dag)

    raw = with_run(volume={"disabled": True},
                   kubernetes_connection={"in_cluster": False, "cluster_context": "prod"})
    dag = airflow_check.load_dag(write(tmp_path / "other", compiled(pipeline, raw)))
    pods, _ = _kubernetes_tasks(dag)
    assert [(t.in_cluster, t.cluster_context, t.kubernetes_conn_id) for t in pods.values()] \
        == [(False, "prod", "kubernetes_default")] * 2


def test_without_a_connection_the_providers_defaults_stay(tmp_path):
    pipeline = Pipeline([node(identity, "a", "b", name="only")])
    source = render_dag(compiled(pipeline, with_run()))
    for argument in ("kubernetes_conn_id", "in_cluster", "config_file", "cluster_context"):
        assert argument not in source
    path = tmp_path / "dags" / "demo.py"
    write_atomically(path, source)
    pods, resources = _kubernetes_tasks(airflow_check.load_dag(path))
    assert {t.kubernetes_conn_id for t in [*pods.values(), *resources.values()]} == {
        "kubernetes_default"}


# Pipelines whose namespaces or sensors want an id the DAG file already holds, or ids past
# Airflow's 250 characters: each compiles to a file DagBag imports (the clash resolved by a
# deterministic suffix), never to a file Airflow refuses.
LONG = "n" * 90
ID_CASES = {
    "namespace-like-result-task": ([node(identity, "a", "b", name="x",
                                         namespace="pipeline-result")], {}),
    "namespace-like-volume-task": ([node(identity, "a", "b", name="x",
                                         namespace="create-data-volume")], {}),
    "namespace-like-a-sensor": ([node(identity, "a", "b", name="x", namespace="wait-for-up")],
                                {"external_dependencies": [{"dag_id": "up"}]}),
    "node-like-a-sensor": ([node(identity, "a", "b", name="wait-for-up")],
                           {"external_dependencies": [{"dag_id": "up"}]}),
    "three-nested-90-character-namespaces": (
        [node(identity, "a", "b", name="x" * 80, namespace=f"{LONG}.{LONG}1.{LONG}2"),
         node(identity, "b", "c", name="y" * 80, namespace=f"{LONG}.{LONG}1.{LONG}3")], {}),
}


@pytest.mark.parametrize("case", ID_CASES)
def test_every_id_clash_or_overlong_id_still_imports(tmp_path, case):
    nodes, run = ID_CASES[case]
    spec = compiled(Pipeline(nodes), with_run(**run))
    dag = airflow_check.load_dag(write(tmp_path, spec))
    assert sorted(t.task_id for t in dag.tasks) == sorted(spec.task_ids)
    assert sorted(dag.task_group_dict) == sorted(g.group_id for g in spec.groups)
    assert all(len(task_id) <= 250 for task_id in spec.task_ids)
    node_tasks = [t for t in spec.tasks if t.kind == "node"]
    assert sorted(n for t in node_tasks for n in t.node_names) == sorted(n.name for n in nodes)
    for plugin_task in ("pipeline-result", "create-data-volume"):  # their ids never move
        assert dag.get_task(plugin_task).task_type in ("EmptyOperator",
                                                       "KubernetesCreateResourceOperator")


@pytest.mark.parametrize("schedule", sorted(
    __import__("kedro_airflow_k8s.config", fromlist=["_CRON_PRESETS"])._CRON_PRESETS) +
    ["0 3 * * 1-5", "*/15 * * * *", None])
def test_every_schedule_the_config_accepts_imports(tmp_path, schedule):
    from kedro_airflow_k8s.config import validate_cron

    if schedule is not None:
        assert validate_cron(schedule) == schedule  # accepted by the config and by -c
    pipeline = Pipeline([node(identity, "a", "b", name="only")])
    dag = airflow_check.load_dag(write(tmp_path, compiled(pipeline, with_run(),
                                                          schedule=schedule)))
    expected = {None: "NullTimetable", "@once": "OnceTimetable",
                "@continuous": "ContinuousTimetable"}.get(schedule, "Cron")
    assert type(dag.timetable).__name__.startswith(expected)
    if schedule == "@continuous":  # Airflow refuses a continuous DAG with parallel runs
        assert dag.max_active_runs == 1


NOTE = "a,b=c, spaced ' \" #x ${not.interpolated} żółw 12:30"


def test_macro_and_variable_values_reach_kedro_run_params_intact(demo_project, tmp_path,
                                                                  monkeypatch):
    """A Variable holding ',' and '=' (and quotes, '#', '${', spaces): rendered by Airflow
    (the pod's arguments and the local task's KEDRO_PARAMS), then given to Kedro's own
    `kedro run --params`, the node sees exactly that text."""
    from tests.conftest import add_echo_pipeline, run_kedro

    monkeypatch.setenv("AIRFLOW_VAR_NOTE", NOTE)  # Airflow's environment Variables backend
    raw = with_run(macro_params=["ds", "run_id"], variables_params=["note"],
                   volume={"disabled": True})
    pipeline = Pipeline([node(identity, "a", "b", name="only")])
    rendered = {}
    for execution in ("kubernetes", "local"):
        spec = compiled(pipeline, raw, execution=execution)
        dag = airflow_check.load_dag(write(tmp_path / execution, spec))
        task = dag.get_task("only")
        airflow_check.render_task(dag, task)
        rendered[execution] = (task.arguments[-1] if execution == "kubernetes"
                               else task.env["KEDRO_PARAMS"])
    assert rendered["kubernetes"] == rendered["local"]
    assert rendered["kubernetes"].startswith("ds=2026-01-01,run_id=")

    add_echo_pipeline(demo_project, ["params:ds", "params:run_id", "params:note"])
    result = run_kedro(demo_project, "run", "--pipeline", "echo", "--params",
                       rendered["kubernetes"])
    assert result.returncode == 0, result.stderr
    seen = __import__("json").loads((demo_project / "data/seen.json").read_text())
    assert seen == ["2026-01-01", airflow_check.RUN_ID, NOTE]


def test_an_operator_named_like_the_files_node_pod_operator_is_a_compile_error():
    """The file defines NodePodOperator when a node task retries infrastructure failures
    only; a Spark factory's operator of that name would be shadowed by it."""
    from dataclasses import replace

    from kedro_airflow_k8s.dagspec import NODE_POD, Operator

    pipeline = Pipeline([node(identity, "a", "b", name="n"), node(identity, "b", "c", name="m")])
    spec = compile_dag(pipeline, parse_config(with_run(task_defaults={"retries": 1})),
                       *split({}, package="demo", env="base"))
    n, m = spec.task("n"), spec.task("m")
    assert n.operator == m.operator == NODE_POD
    render_dag(spec)  # the file's own class is no clash
    clash = replace(spec, tasks=[n, replace(m, operator=Operator("my.ops", "NodePodOperator"))])
    with pytest.raises(CompileError, match="my.ops.NodePodOperator has the name of one "
                                           "imported by the DAG file itself"):
        render_dag(clash)
