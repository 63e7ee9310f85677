"""The compiler's model of the DAG, asserted directly."""

import pytest
from kedro.pipeline import Pipeline, node

from kedro_airflow_k8s.compiler import airflow_id, compile_dag, compile_project, k8s_label
from kedro_airflow_k8s.config import parse_config
from kedro_airflow_k8s.context import KedroProject
from kedro_airflow_k8s.dagspec import Call, Ref, Verbatim
from kedro_airflow_k8s.errors import CompileError
from tests.spec_helpers import pod_settings, profile_of, split, template_of
from tests.test_config import FULL, MINIMAL, with_run


def identity(x):
    return x


def join(*xs):
    return xs


def compile_pipeline(pipeline, raw=MINIMAL, notify=lambda line: None, **kwargs):
    return compile_dag(pipeline, parse_config(raw),
                       *split(kwargs, package="demo", env="local"), notify=notify)


@pytest.fixture
def demo_spec(demo_project):
    return compile_project(KedroProject.at(path=demo_project))


def test_one_pod_per_node_with_the_pipelines_dependencies(demo_spec):
    nodes = demo_spec.tasks_of("node")
    assert sorted(t.node_names[0] for t in nodes) == [
        "clean_orders", "count_customers", "features.daily_totals", "features.scale",
        "report", "train"]
    up = demo_spec.upstream
    assert up["features.scale"] == ["features.daily_totals"]
    assert up["features.daily_totals"] == ["clean_orders"]
    assert up["train"] == ["features.scale"]
    assert up["report"] == ["count_customers", "train"]
    assert up["count_customers"] == ["clean_orders"]


def test_namespaces_become_task_groups(demo_spec):
    assert [(g.group_id, g.parent) for g in demo_spec.groups] == [("features", None)]
    scale = demo_spec.task("features.scale")
    assert (scale.local_id, scale.group) == ("scale", "features")


def test_node_command_runs_exactly_that_node(demo_spec):
    pods, task = demo_spec.pod_defaults, demo_spec.task("features.scale")
    assert pod_settings(task)["nodes"] == Verbatim("features.scale")
    assert [*pods.node_arguments, pod_settings(task)["nodes"], *pods.node_params] == [
        "run", "--env", "local", "--pipeline", "__default__", "--nodes",
        Verbatim("features.scale"), "--params",
        "ds={{ (ds if ds is defined else dag_run.run_after | ds) | kedro_param }}"
        "{{ params | kedro_changed_params(',') }}"]


def test_volume_lifecycle_surrounds_the_nodes(demo_spec):
    up = demo_spec.upstream
    assert up["init-data-volume"] == ["create-data-volume"]
    assert up["clean_orders"] == ["init-data-volume"]  # the only root node
    assert up["delete-data-volume"] == ["report"]  # the only leaf node
    assert demo_spec.task("delete-data-volume").trigger_rule == "all_done"
    assert up["pipeline-result"] == ["report"]
    assert demo_spec.task("pipeline-result").trigger_rule is None  # all_success: fails the run
    manifest = demo_spec.pod_defaults.volume.manifest
    assert manifest["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert "storageClassName" not in manifest["spec"]  # null: the cluster default
    assert demo_spec.pod_defaults.fs_group == 0


def test_resource_and_template_tags_pick_profiles(demo_spec):
    train = demo_spec.task("train")
    assert (profile_of(train), template_of(train)) == ("huge", "gpu")
    assert profile_of(demo_spec.task("report")) == "__default__"
    assert template_of(demo_spec.task("report")) is None
    assert demo_spec.resources["huge"].requests == {"cpu": "2", "memory": "4Gi"}
    assert demo_spec.resources["huge"].tolerations == [
        {"key": "dedicated", "operator": "Equal", "value": "highmem", "effect": "NoSchedule"}]


def test_dag_metadata(demo_spec):
    assert demo_spec.dag_id == "demo"
    assert demo_spec.schedule is None
    assert demo_spec.tags[:2] == ["generated_with_kedro_airflow_k8s:0.9.0",
                                  "experiment_name:demo"]


def test_commit_sha_tag_when_known():
    spec = compile_pipeline(Pipeline([node(identity, "a", "b", name="n")]), commit_sha="abc")
    assert "commit_sha:abc" in spec.tags


def test_project_version_tag_and_doc_line_when_known():
    spec = compile_pipeline(Pipeline([node(identity, "a", "b", name="n")]),
                            project_version="0123456789ab")
    assert "project_version:0123456789ab" in spec.tags
    assert spec.source_line == ("Project version `0123456789ab` (a hash of its code and "
                                "configuration).")
    assert spec.project_version == "0123456789ab" and spec.commit_sha is None


def test_no_version_line_outside_git_without_a_version():
    spec = compile_pipeline(Pipeline([node(identity, "a", "b", name="n")]))
    assert spec.source_line is None
    assert not [tag for tag in spec.tags if tag.startswith(("commit_sha:", "project_version:"))]


def test_no_volume_tasks_when_disabled():
    raw = with_run(volume={"disabled": True})
    spec = compile_pipeline(Pipeline([node(identity, "a", "b", name="n")]), raw)
    assert spec.task_ids == ["n"]
    assert spec.pod_defaults.volume is None and spec.pod_defaults.fs_group is None


def test_skip_init_drops_only_the_init_task():
    raw = with_run(volume={"skip_init": True, "storageclass": "fast"})
    spec = compile_pipeline(Pipeline([node(identity, "a", "b", name="n")]), raw)
    assert "init-data-volume" not in spec.task_ids
    assert spec.upstream["n"] == ["create-data-volume"]
    assert spec.pod_defaults.volume.manifest["spec"]["storageClassName"] == "fast"


def test_every_key_reaches_the_model():
    pipeline = Pipeline([node(identity, "a", "b", name="n", tags=["resources.huge"]),
                         node(identity, "b", "c", name="m", tags=["k8s_template.spark"])])
    spec = compile_pipeline(pipeline, FULL, image="override:2")
    d = spec.pod_defaults
    assert (d.namespace, d.image, d.image_pull_policy) == ("airflow", "override:2", "Always")
    assert d.startup_timeout_seconds == 120
    assert d.service_account_name == "kedro"
    assert d.image_pull_secrets == ["regcred", "other-cred"]
    assert [(s.deploy_type, s.deploy_target) for s in d.secrets] == [
        ("env", "SQL_CONN"), ("volume", "/var/secrets"), ("env", None)]
    assert d.env_vars == {"A": "x", "B": "1", "C": "true"}
    assert d.fs_group == 1000
    assert spec.dag_id == "demo-dag" and spec.description == "Very important pipeline"
    assert "experiment_name:Demo experiment" in spec.tags
    assert spec.start_date.isoformat() == "2025-07-21"
    assert "init-data-volume" not in spec.task_ids  # skip_init
    n, m = spec.task("n"), spec.task("m")
    assert profile_of(n) == "huge" and profile_of(m) == "__default__"
    assert template_of(m) == "spark" and pod_settings(m)["image"] == "spark-image"
    assert "image" not in pod_settings(n)
    assert pod_settings(m)["labels"]["running"] == "airflow"
    assert pod_settings(m)["annotations"]["iam.amazonaws.com/role"] == "airflow"
    assert spec.pod_defaults.node_params == [
        "--params", "ds={{ (ds if ds is defined else dag_run.run_after | ds) | kedro_param }},"
        "ts={{ (ts if ts is defined else dag_run.run_after | ts) | kedro_param }},"
        "env={{ var.value.env | kedro_param }}"]
    sensors = spec.tasks_of("sensor")
    assert [t.task_id for t in sensors] == ["wait-for-other-last", "wait-for-upstream"]
    assert sensors[0].arguments["timeout"] == 120
    assert sensors[0].arguments["execution_delta"] == Call("datetime.timedelta",
                                                           kwargs={"minutes": 10})
    assert not sensors[0].arguments["check_existence"]
    assert spec.upstream["create-data-volume"] == ["wait-for-other-last", "wait-for-upstream"]
    assert spec.failure_notifiers[0].connection_id == "slack"
    assert spec.failure_notifiers[0].text == "{{ ti.task_id }} of {{ dag.dag_id }}"


def test_sensors_go_before_the_root_nodes_without_a_volume():
    raw = with_run(volume={"disabled": True}, external_dependencies=[{"dag_id": "up"}])
    spec = compile_pipeline(Pipeline([node(identity, "a", "b", name="n"),
                                      node(identity, "b", "c", name="m")]), raw)
    assert spec.upstream == {"m": ["n"], "n": ["wait-for-up"]}
    assert compile_pipeline(Pipeline([node(identity, "a", "b", name="n")]), raw,
                            with_sensors=False).task_ids == ["n"]


def test_slack_text_keeps_user_braces_literal():
    raw = with_run(failure_handlers=[{"type": "slack",
                                      "message_template": "{{ not jinja }} {url}"}])
    spec = compile_pipeline(Pipeline([node(identity, "a", "b", name="n")]), raw)
    import jinja2
    rendered = jinja2.Template(spec.failure_notifiers[0].text).render(
        ti={"log_url": "http://log"})
    assert rendered == "{ not jinja } http://log"


def test_unknown_resource_tag_is_a_compile_error():
    pipeline = Pipeline([node(identity, "a", "b", name="n", tags=["resources.gigantic"])])
    with pytest.raises(CompileError) as error:
        compile_pipeline(pipeline, with_run(resources={"huge": {}}))
    assert str(error.value) == ("node 'n': tag 'resources.gigantic' names no "
                                "run_config.resources entry (known: huge)")


def test_every_unknown_tag_is_named_in_one_error():
    """One compile names them all, not one per run: each unknown tag once, with its nodes."""
    pipeline = Pipeline([
        node(identity, "a", "b", name="n1", tags=["resources.gigantic", "task_settings.slow"]),
        node(identity, "b", "c", name="n2", tags=["resources.gigantic", "k8s_template.gpu"]),
        *[node(identity, f"c{i}", f"d{i}", name=f"m{i}", tags=["resources.gigantic"])
          for i in range(5)],
        node(identity, "x", "y", name="fine", tags=["resources.huge"])])
    with pytest.raises(CompileError) as error:
        compile_pipeline(pipeline, with_run(resources={"huge": {}}))
    assert str(error.value) == (
        "node 'n2': tag 'k8s_template.gpu' names no run_config.kubernetes_pod_templates "
        "entry (known: none configured); node 'm0' (and m1, m2, m3, m4 and 2 more): tag "
        "'resources.gigantic' names no run_config.resources entry (known: huge); node 'n1': "
        "tag 'task_settings.slow' names no run_config.task_settings entry (known: none "
        "configured)")


def test_unknown_template_tag_is_a_compile_error():
    pipeline = Pipeline([node(identity, "a", "b", name="n", tags=["k8s_template.gpu"])])
    with pytest.raises(CompileError, match="names no run_config.kubernetes_pod_templates entry "
                                           r"\(known: none configured\)"):
        compile_pipeline(pipeline)


def test_two_resource_tags_on_a_node_are_refused():
    pipeline = Pipeline([node(identity, "a", "b", name="n",
                              tags=["resources.a", "resources.b"])])
    with pytest.raises(CompileError, match="more than one resources.<name> tag"):
        compile_pipeline(pipeline, with_run(resources={"a": {}, "b": {}}))


def test_memory_dataset_is_a_compile_error_when_grouping_is_off():
    pipeline = Pipeline([node(identity, "a", "b", name="n"), node(identity, "b", "c", name="m")])
    with pytest.raises(CompileError) as error:
        compile_pipeline(pipeline, is_persisted=lambda name: name != "b", group_memory=False)
    assert str(error.value) == (
        "datasets b pass between nodes that run in separate tasks but are not persisted "
        "(MemoryDatasets): add them to catalog.yml, or let run_config.group_memory_nodes run "
        "those nodes in one task")
    with pytest.raises(CompileError):
        compile_pipeline(pipeline, with_run(group_memory_nodes=False),
                         is_persisted=lambda name: name != "b")


def test_free_input_missing_from_catalog_is_a_compile_error():
    pipeline = Pipeline([node(identity, "a", "b", name="n")])
    with pytest.raises(CompileError, match="pipeline inputs a are produced by no node"):
        compile_pipeline(pipeline, is_persisted=lambda name: name != "a")


def test_colliding_task_ids_get_deterministic_suffixes():
    pipeline = Pipeline([node(identity, "a", "b", name="load-data"),
                         node(identity, "c", "d", name="load_data"),
                         node(identity, "e", "f", name="lôad_data")])
    first = compile_pipeline(pipeline, with_run(volume={"disabled": True}))
    ids = first.task_ids
    assert len(set(ids)) == 3
    assert "load-data" in ids  # no collision: it keeps its name
    assert sorted(i for i in ids if i != "load-data")[0].startswith("load_data_")
    again = compile_pipeline(Pipeline(list(reversed(pipeline.nodes))),
                             with_run(volume={"disabled": True}))
    assert again.task_ids == ids


def test_node_named_like_a_plugin_task_is_renamed_not_overwritten():
    pipeline = Pipeline([node(identity, "a", "b", name="pipeline-result")])
    spec = compile_pipeline(pipeline)
    node_task = spec.tasks_of("node")[0]
    assert node_task.task_id.startswith("pipeline-result_")
    assert spec.task("pipeline-result").kind == "result"


def test_unicode_and_odd_names_give_valid_ids_and_exact_node_names():
    pipeline = Pipeline([
        node(identity, "a", "b", name="żółw-ünïcode"),
        node(identity, "c", "d", name="x", namespace="we ird {{ ns }}"),
        node(identity, "e", "f", name="日本語"),
    ])
    spec = compile_pipeline(pipeline, with_run(volume={"disabled": True}))
    import re
    for task in spec.tasks:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", task.local_id), task.local_id
        assert pod_settings(task)["nodes"] == Verbatim(task.node_names[0])
    assert {t.node_names[0] for t in spec.tasks} == {"żółw-ünïcode", "we ird {{ ns }}.x",
                                                     "日本語"}
    assert [g.group_id for g in spec.groups] == ["we-ird-ns"]


def test_node_name_kedro_cannot_take_is_refused():
    pipeline = Pipeline([node(identity, "a", "b", name="x", namespace="a,b")])
    with pytest.raises(CompileError, match="`kedro run --nodes` cannot take this name"):
        compile_pipeline(pipeline)


def test_bad_run_name_is_a_compile_error():
    with pytest.raises(CompileError, match="run_config.run_name: 'my dag' is not a valid"):
        compile_pipeline(Pipeline([node(identity, "a", "b", name="n")]),
                         with_run(run_name="my dag"))


def test_ids_and_labels_helpers():
    assert airflow_id("a.b c") == "a-b-c"
    assert len(airflow_id("x" * 500)) == 100
    assert airflow_id("x" * 500) != airflow_id("x" * 499)
    assert k8s_label("Ünï Code") == "uni-code"
    assert len(k8s_label("y" * 100)) <= 63
    assert airflow_id("😀")  # never empty


def test_namespaces_nested_past_airflows_id_limit_are_one_error():
    deep = ".".join(f"level{i:05d}" for i in range(30))
    with pytest.raises(CompileError) as error:
        compile_pipeline(Pipeline([node(identity, "a", "b", name="x", namespace=deep)]))
    message = str(error.value)
    assert message.startswith("namespace 'level00000.level00001.")
    assert message.endswith(": nested too deep for Airflow (a TaskGroup id holds at most 200 "
                            "characters); shorten the namespace names")


def test_group_and_sensor_ids_give_way_to_plugin_tasks_deterministically():
    raw = with_run(external_dependencies=[{"dag_id": "up"}])
    pipeline = Pipeline([node(identity, "a", "b", name="x", namespace="pipeline-result"),
                         node(identity, "b", "c", name="y", namespace="wait-for-up"),
                         node(identity, "c", "d", name="wait-for-up")])
    spec = compile_pipeline(pipeline, raw)
    assert spec.task("pipeline-result").kind == "result"
    assert spec.task("wait-for-up").kind == "sensor"
    groups = sorted(g.group_id for g in spec.groups)
    assert [g.split("_")[0] for g in groups] == ["pipeline-result", "wait-for-up"]
    assert compile_pipeline(pipeline, raw).groups == spec.groups  # same input, same ids


def test_the_phases_return_values_that_compose_to_the_dag():
    """plan -> shared settings -> node tasks -> lifecycle -> assemble, each called alone."""
    from kedro_airflow_k8s.compiler import (
        assemble,
        lifecycle,
        node_graph,
        node_tasks,
        plan_dag,
        shared_settings,
    )
    from kedro_airflow_k8s.mlflow_run import MlflowSettings

    pipeline = Pipeline([node(identity, "a", "b", name="first", namespace="ns"),
                         node(identity, "b", "c", name="second")])
    source, options = split({"mlflow": MlflowSettings("http://m", "e")}, package="demo",
                            env="local")
    config = parse_config(with_run(volume={"skip_init": True},
                                   external_dependencies=[{"dag_id": "up"}]))
    plan = plan_dag(pipeline, config, source, options)
    assert [(t.task_id, t.task_group) for t in plan.node_tasks] == [("ns.first", "ns"),
                                                                    ("second", None)]
    shared = shared_settings(plan)
    built = node_tasks(plan, shared)
    assert [b.task.task_id for b in built] == ["ns.first", "second"]
    graph = node_graph(plan)
    assert (graph.roots, graph.leaves) == (["ns.first"], ["second"])
    life = lifecycle(plan, shared, graph, [b.task for b in built])
    # the MLflow run starts once the volume exists; the first node waits for it only
    assert life.upstream["start-mlflow-run"] == {"create-data-volume"}
    assert life.upstream["ns.first"] == {"start-mlflow-run"}
    assert life.upstream["delete-data-volume"] == {"second", "end-mlflow-run"}
    assert life.upstream["create-data-volume"] == {"wait-for-up"}
    assert life.first == ["create-data-volume"]
    assert assemble(plan, shared, built, life) == compile_dag(pipeline, config, source, options)


def test_a_record_argument_reaches_the_operator_without_a_template_change(tmp_path):
    """A new per-task option is data in the task records: the template prints any argument
    of any record, and Airflow builds the operators with it."""
    from dataclasses import replace

    from kedro_airflow_k8s.mlflow_run import MlflowSettings
    from kedro_airflow_k8s.render import render_dag, write_atomically
    from tests import airflow_check

    pipeline = Pipeline([node(identity, "a", "b", name="n", namespace="ns"),
                         node(identity, "b", "c", name="m")])
    spec = compile_pipeline(pipeline, with_run(external_dependencies=[{"dag_id": "up"}]),
                            mlflow=MlflowSettings("http://m", "e"))
    spec = replace(spec, tasks=[replace(t, arguments={**t.arguments, "retries": 3})
                                for t in spec.tasks])
    path = tmp_path / "dags" / "demo.py"
    write_atomically(path, render_dag(spec))
    dag = airflow_check.load_dag(path)
    assert {t.task_id: t.retries for t in dag.tasks} == dict.fromkeys(spec.task_ids, 3)


SETTINGS = {"__default__": {"retries": 1},
            "flaky": {"retries": 5, "retry_delay": "30s", "queue": "io",
                      "retry_exponential_backoff": 2, "max_retry_delay": "PT10M"},
            "slow": {"retries": 2, "execution_timeout": "1h30m", "pool": "gpu-pool",
                     "pool_slots": 2, "priority_weight": 10, "weight_rule": "absolute"}}


def _settings_pipeline():
    return Pipeline([node(identity, "raw", "a", name="load"),
                     node(identity, "a", "b", name="parse", tags=["task_settings.flaky"]),
                     node(identity, "b", "c", name="train", tags=["task_settings.slow"])])


@pytest.mark.parametrize("execution", ["kubernetes", "local"])
def test_task_settings_reach_airflows_tasks_by_tag(tmp_path, execution):
    """Imported by Airflow's DagBag: each node task has its profile's settings, the DAG
    and every task (the plugin's own too) the DAG-wide ones."""
    import datetime

    from kedro_airflow_k8s.render import render_dag, write_atomically
    from tests import airflow_check

    raw = with_run(task_settings=SETTINGS, owner="data-team", max_active_runs=2,
                   max_active_tasks=8, catchup=True, dagrun_timeout="6h", tags=["nightly"],
                   task_defaults={"retries": 3, "retry_delay": 120, "pool": "shared"},
                   external_dependencies=[{"dag_id": "upstream"}], execution=execution)
    path = tmp_path / "dags" / "demo.py"
    write_atomically(path, render_dag(compile_pipeline(_settings_pipeline(), raw)))
    dag = airflow_check.load_dag(path)
    assert (dag.max_active_runs, dag.max_active_tasks, dag.catchup) == (2, 8, True)
    assert dag.dagrun_timeout == datetime.timedelta(hours=6)
    assert "nightly" in dag.tags
    tasks = {t.task_id: t for t in dag.tasks}
    load, parse, train = tasks["load"], tasks["parse"], tasks["train"]
    assert (load.retries, load.retry_delay, load.pool) == (
        1, datetime.timedelta(minutes=2), "shared")
    assert (parse.retries, parse.retry_delay, parse.retry_exponential_backoff,
            parse.max_retry_delay, parse.queue, parse.pool) == (
        5, datetime.timedelta(seconds=30), 2, datetime.timedelta(minutes=10), "io", "shared")
    assert (train.retries, train.execution_timeout, train.pool, train.pool_slots,
            train.priority_weight, train.weight_rule) == (
        2, datetime.timedelta(hours=1, minutes=30), "gpu-pool", 2, 10, "absolute")
    assert {t.owner for t in dag.tasks} == {"data-team"}
    plugin_tasks = [t for t in dag.tasks if t.task_id not in ("load", "parse", "train")]
    assert plugin_tasks and {(t.retries, t.pool) for t in plugin_tasks} == {(3, "shared")}


@pytest.mark.parametrize("execution, task_settings, task_defaults, expected", [
    # retries: infrastructure failures only, unless retry_on says any
    ("kubernetes", SETTINGS, {}, {"load": "NodePodOperator", "parse": "NodePodOperator",
                                 "train": "NodePodOperator"}),
    ("kubernetes", {"flaky": {"retries": 5, "retry_on": "any"},
                    "slow": {"retries": 0}, "__default__": {"retry_on": "infrastructure"}},
     {"retries": 2, "retry_on": "any"},
     {"load": "NodePodOperator", "parse": "KubernetesPodOperator",
      "train": "KubernetesPodOperator"}),
    ("kubernetes", {"flaky": {"retry_on": "infrastructure"}, "slow": {"retries": 0}},
     {"retry_on": "infrastructure"},  # no retries: nothing to spend
     dict.fromkeys(("load", "parse", "train"), "KubernetesPodOperator")),
    # local execution: the same rule, by the file's BashOperator subclass
    ("local", SETTINGS, {}, dict.fromkeys(("load", "parse", "train"), "NodeBashOperator")),
    ("local", {"flaky": {"retries": 5, "retry_on": "any"},
               "slow": {"retries": 0}, "__default__": {"retry_on": "infrastructure"}},
     {"retries": 2, "retry_on": "any"},
     {"load": "NodeBashOperator", "parse": "BashOperator", "train": "BashOperator"}),
])
def test_node_tasks_that_retry_infrastructure_failures_only_run_as_node_pods(
        execution, task_settings, task_defaults, expected):
    spec = compile_pipeline(_settings_pipeline(), with_run(
        task_settings=task_settings, task_defaults=task_defaults, execution=execution))
    assert {t.task_id: t.operator.name for t in spec.tasks_of("node")} == expected
    assert all("retry_on" not in t.arguments for t in spec.tasks)
    assert "retry_on" not in spec.default_args


@pytest.mark.parametrize("flaky, slow, expected", [
    ("any", None, "KubernetesPodOperator"),  # one member retrying any: the task does
    ("infrastructure", None, "NodePodOperator"),
    (None, None, "NodePodOperator"),
])
def test_a_task_of_several_nodes_retries_any_failure_when_one_of_them_does(flaky, slow,
                                                                          expected):
    settings = {"flaky": {"retries": 1, "retry_on": flaky}, "slow": {"retry_on": slow}}
    spec = compile_pipeline(_settings_pipeline(), with_run(task_settings=settings),
                            is_persisted=lambda name: name == "raw")
    (task,) = spec.tasks_of("node")
    assert task.operator.name == expected


def test_a_task_of_several_nodes_takes_the_largest_settings():
    pipeline = _settings_pipeline()
    spec = compile_pipeline(pipeline, with_run(task_settings=SETTINGS),
                            is_persisted=lambda name: name == "raw")
    (task,) = spec.tasks_of("node")
    # retry_delay: load and train wait Airflow's 5 minutes (left as the default); flaky sets
    # no execution_timeout and slow no max_retry_delay: unlimited, so the task's are unset
    assert task.arguments == {
        "retries": 5,
        "retry_exponential_backoff": 2.0,
        "pool_slots": 2, "priority_weight": 10,
        "pool": "gpu-pool", "queue": "io", "weight_rule": "absolute",
        "inlets": [Ref("ASSETS", "raw")]}


@pytest.mark.parametrize("key, values, message", [
    ("pool", ("a", "b"), "pools: 'parse' (a), 'train' (b)"),
    ("queue", ("io", "cpu"), "queues: 'parse' (io), 'train' (cpu)"),
])
def test_one_task_refuses_two_pools_or_queues_naming_the_nodes(key, values, message):
    settings = {"flaky": {key: values[0]}, "slow": {key: values[1]}}
    with pytest.raises(CompileError) as error:
        compile_pipeline(_settings_pipeline(), with_run(task_settings=settings),
                         is_persisted=lambda name: name == "raw")
    assert str(error.value) == ("nodes run in one task but their task_settings want "
                                f"different {message}")


def test_unknown_task_settings_tag_is_a_compile_error():
    with pytest.raises(CompileError) as error:
        compile_pipeline(_settings_pipeline(), with_run(task_settings={"flaky": {}}))
    assert str(error.value) == ("node 'train': tag 'task_settings.slow' names no "
                                "run_config.task_settings entry (known: flaky)")


POD_SETTINGS = {"__default__": {"on_finish_action": "delete_succeeded_pod"},
                "flaky": {"deferrable": True, "logging_interval": "1m", "poll_interval": 5,
                          "reattach_on_restart": False, "startup_timeout": "15m"},
                "slow": {"active_deadline": "6h", "termination_grace_period": 120,
                         "schedule_timeout": "30m", "on_finish_action": "keep_pod",
                         "retries": 2}}
POD_DEFAULTS = {"startup_timeout": "20m", "termination_grace_period": 60, "retries": 1}


def test_pod_settings_are_recorded_per_profile_over_the_dag_wide_ones():
    spec = compile_pipeline(_settings_pipeline(), with_run(task_settings=POD_SETTINGS,
                                                           task_defaults=POD_DEFAULTS))
    assert (spec.pod_defaults.startup_timeout_seconds, spec.pod_defaults.on_finish_action,
            spec.pod_defaults.operation) == (1200, "delete_pod", {"termination_grace_period": 60})
    assert {t.task_id: pod_settings(t).get("operation") for t in spec.tasks_of("node")} == {
        "load": "__default__", "parse": "flaky", "train": "slow"}
    assert spec.operations == {
        "__default__": {"on_finish_action": "delete_succeeded_pod"},
        "flaky": {"deferrable": True, "durable": False, "startup_timeout_seconds": 900,
                  "logging_interval": 60, "poll_interval": 5},
        "slow": {"on_finish_action": "keep_pod", "schedule_timeout_seconds": 1800,
                 "termination_grace_period": 120, "active_deadline_seconds": 21600}}
    # the Airflow settings stay the record's arguments, the pod's stay out of them
    assert spec.task("train").arguments == {
        "retries": 2, "inlets": [Ref("ASSETS", "b")], "outlets": [Ref("ASSETS", "c")]}
    assert spec.default_args == {"retries": 1}


def test_pod_settings_reach_the_pods_airflow_builds(tmp_path):
    """Imported by Airflow's DagBag, pods built by the real KubernetesPodOperator: each node
    pod runs by its profile over the DAG-wide settings, which the plugin's pods take too."""
    from kedro_airflow_k8s.mlflow_run import MlflowSettings
    from kedro_airflow_k8s.render import render_dag, write_atomically
    from tests import airflow_check

    raw = with_run(task_settings=POD_SETTINGS, task_defaults=POD_DEFAULTS,
                   external_dependencies=[{"dag_id": "upstream"}])
    path = tmp_path / "dags" / "demo.py"
    write_atomically(path, render_dag(compile_pipeline(
        _settings_pipeline(), raw, mlflow=MlflowSettings("http://mlflow:5000", "e"))))
    dag = airflow_check.load_dag(path)
    manifests = airflow_check.validate_all(dag)
    tasks = {t.task_id: t for t in dag.tasks}

    def operation(task_id):
        task = tasks[task_id]
        return (task.deferrable, task.reattach_on_restart, task.on_finish_action.value,
                task.startup_timeout_seconds, task.schedule_timeout_seconds,
                task.logging_interval, task.poll_interval)

    assert operation("load") == (False, True, "delete_succeeded_pod", 1200, 1200, None, 2)
    assert operation("parse") == (True, False, "delete_pod", 900, 900, 60, 5)
    assert operation("train") == (False, True, "keep_pod", 1200, 1800, None, 2)
    for plugin_pod in ("init-data-volume", "start-mlflow-run", "end-mlflow-run"):
        assert operation(plugin_pod) == (False, True, "delete_pod", 1200, 1200, None, 2)
    specs = {task_id: m["spec"] for task_id, m in manifests.items() if m["kind"] == "Pod"}
    assert {task_id: (spec.get("terminationGracePeriodSeconds"),
                      spec.get("activeDeadlineSeconds")) for task_id, spec in specs.items()} == {
        "load": (60, None), "parse": (60, None), "train": (120, 21600),
        "init-data-volume": (60, None), "start-mlflow-run": (60, None),
        "end-mlflow-run": (60, None)}
    assert tasks["wait-for-upstream"].deferrable is False  # a sensor takes none of them


def test_a_task_of_several_nodes_merges_pod_settings():
    """The longest timeouts, the finish action that keeps most pods, deferrable and
    reattach only when every member allows it (then the intervals are left out); `load`
    has no profile: its values are task_defaults', else the DAG's, else the provider's."""
    settings = {"flaky": {"deferrable": True, "logging_interval": 60, "startup_timeout": 900,
                          "on_finish_action": "delete_succeeded_pod",
                          "reattach_on_restart": True, "termination_grace_period": 10},
                "slow": {"deferrable": False, "startup_timeout": 300, "active_deadline": 3600,
                         "on_finish_action": "keep_pod", "reattach_on_restart": False}}
    spec = compile_pipeline(_settings_pipeline(), with_run(task_settings=settings),
                            is_persisted=lambda name: name == "raw")
    (task,) = spec.tasks_of("node")
    assert pod_settings(task)["operation"] == "flaky+slow+task_defaults"
    # termination_grace_period: load's and slow's are Kubernetes' 30 (left as the default);
    # active_deadline: flaky's and load's are unlimited
    assert spec.operations == {"flaky+slow+task_defaults": {
        "deferrable": False, "durable": False, "on_finish_action": "keep_pod",
        "startup_timeout_seconds": 900}}
    settings["slow"].update(deferrable=True, poll_interval=1)
    spec = compile_pipeline(_settings_pipeline(), with_run(task_settings=settings),
                            is_persisted=lambda name: name == "raw")
    merged = spec.operations["flaky+slow+task_defaults"]
    assert (merged["deferrable"], merged["logging_interval"], merged["poll_interval"]) == (
        True, 60, 1)


def _quick_and_long():
    """`quick` (task_settings.quick) and `long` (no profile) share a task: `a` is a
    MemoryDataset."""
    return Pipeline([node(identity, "raw", "a", name="quick", tags=["task_settings.quick"]),
                     node(identity, "a", "b", name="long")])


def _shared_task(tmp_path, task_settings, task_defaults):
    """The spec's one node task and the same task imported by Airflow's DagBag."""
    from kedro_airflow_k8s.render import render_dag, write_atomically
    from tests import airflow_check

    spec = compile_pipeline(_quick_and_long(), with_run(
        task_settings=task_settings, task_defaults=task_defaults),
        is_persisted=lambda name: name in ("raw", "b"))
    (task,) = spec.tasks_of("node")
    path = tmp_path / "dags" / "demo.py"
    write_atomically(path, render_dag(spec))
    return spec, task, airflow_check.load_dag(path).get_task(task.task_id)


def test_compile_says_which_tagged_settings_a_shared_task_changes():
    """quick's retry_delay 30s and execution_timeout 1h vanished beside untagged `long`
    (5 minutes, unlimited) without a word: one note per such task names each change."""
    notes = []
    settings = {"fast": {"retry_delay": "30s", "execution_timeout": "1h", "retries": 2}}
    spec = compile_pipeline(
        Pipeline([node(identity, "raw", "a", name="quick", tags=["task_settings.fast"]),
                  node(identity, "a", "b", name="long"),
                  node(identity, "b", "c", name="alone", tags=["task_settings.fast"])]),
        with_run(task_settings=settings), notify=notes.append,
        is_persisted=lambda name: name in ("raw", "b", "c"))
    assert [n for n in notes if "task_settings" in n] == [
        "Note: task quick__long merges the task_settings of its nodes (the largest retries, "
        "delays and timeouts; an unset timeout is unlimited), which changes node 'quick' "
        "(task_settings.fast): retry_delay 30s -> 5m, execution_timeout 1h -> none "
        "(unlimited). Tag the nodes it runs alike to keep them."]
    assert spec.task("quick__long").arguments["retries"] == 2  # kept: no word about it
    notes.clear()  # nodes tagged alike keep their settings: no note
    compile_pipeline(
        Pipeline([node(identity, "raw", "a", name="quick", tags=["task_settings.fast"]),
                  node(identity, "a", "b", name="long", tags=["task_settings.fast"])]),
        with_run(task_settings=settings), notify=notes.append,
        is_persisted=lambda name: name in ("raw", "b"))
    assert not [n for n in notes if "task_settings" in n]


def test_the_settings_note_names_pod_keys_for_pods_only():
    notes = {}
    settings = {"quick": {"startup_timeout": 60, "deferrable": True, "poll_interval": 5,
                          "retry_delay": "90s"}}
    for execution in ("kubernetes", "local"):
        found = []
        compile_pipeline(_quick_and_long(), with_run(
            task_settings=settings, task_defaults={"deferrable": False}, execution=execution),
            notify=found.append, is_persisted=lambda name: name in ("raw", "b"))
        notes[execution] = [n.split("which changes ")[1] for n in found if "merges" in n]
    assert notes == {
        "kubernetes": ["node 'quick' (task_settings.quick): deferrable True -> False, "
                       "startup_timeout 1m -> 10m, poll_interval 5s dropped "
                       "(the task is not deferrable), retry_delay "
                       "1m30s -> 5m. Tag the nodes it runs alike to keep them."],
        "local": ["node 'quick' (task_settings.quick): retry_delay 1m30s -> 5m. Tag the nodes "
                  "it runs alike to keep them."]}


def test_a_member_without_a_profile_keeps_its_task_defaults_execution_timeout(tmp_path):
    """quick's 5m beside long's task_defaults 2h: the task may run 2h (it printed 5m,
    killing `long` after 5 minutes); 2h is the DAG's default_args, so nothing is printed."""
    import datetime

    spec, task, imported = _shared_task(tmp_path, {"quick": {"execution_timeout": "5m"}},
                                        {"execution_timeout": "2h"})
    assert task.task_id == "quick__long" and "execution_timeout" not in task.arguments
    assert imported.execution_timeout == datetime.timedelta(hours=2)


def test_a_profile_of_no_retries_beside_a_member_with_task_defaults_retries(tmp_path):
    spec, task, imported = _shared_task(tmp_path, {"quick": {"retries": 0}}, {"retries": 3})
    assert "retries" not in task.arguments and imported.retries == 3
    spec, task, imported = _shared_task(tmp_path, {"quick": {"retries": 5}}, {"retries": 3})
    assert task.arguments["retries"] == 5 and imported.retries == 5


def test_task_defaults_deferrable_false_holds_for_a_member_without_a_profile(tmp_path):
    spec, task, imported = _shared_task(
        tmp_path, {"quick": {"deferrable": True, "poll_interval": 5,
                             "on_finish_action": "keep_pod"}},
        {"deferrable": False})
    assert pod_settings(task)["operation"] == "quick+task_defaults"
    assert spec.operations == {"quick+task_defaults": {"on_finish_action": "keep_pod"}}
    assert (imported.deferrable, imported.on_finish_action.value, imported.poll_interval) == (
        False, "keep_pod", 2)


def test_one_profile_beside_a_member_without_one_is_not_taken_whole(tmp_path):
    """The single-profile shortcut took quick's profile for the whole task."""
    import datetime

    spec, task, imported = _shared_task(
        tmp_path, {"quick": {"retries": 5, "retry_delay": "10s", "startup_timeout": 60,
                             "termination_grace_period": 5}},
        {"retry_delay": "2m", "startup_timeout": "10m"})
    assert task.arguments["retries"] == 5 and "retry_delay" not in task.arguments
    assert (imported.retries, imported.retry_delay, imported.startup_timeout_seconds) == (
        5, datetime.timedelta(minutes=2), 600)
    assert spec.operations == {}  # long's 600s startup and Kubernetes' 30s grace period


def test_a_member_with_no_execution_timeout_anywhere_makes_the_task_unlimited(tmp_path):
    spec, task, imported = _shared_task(
        tmp_path, {"quick": {"execution_timeout": "5m", "active_deadline": 600,
                             "max_retry_delay": "1h"}}, {})
    assert not {"execution_timeout", "max_retry_delay"} & set(task.arguments)
    assert (imported.execution_timeout, imported.max_retry_delay) == (None, None)
    assert spec.operations == {}  # no active_deadline: unlimited


def test_a_profiles_pool_and_queue_are_its_explicit_choice_over_task_defaults(tmp_path):
    """Pools, queues and weight rules are not merged with task_defaults: the profile's
    choice stands for the whole task (as before this merge rule)."""
    spec, task, imported = _shared_task(
        tmp_path, {"quick": {"pool": "gpu-pool", "queue": "gpu", "weight_rule": "absolute"}},
        {"pool": "shared", "queue": "cpu", "weight_rule": "upstream"})
    assert (task.arguments["pool"], task.arguments["queue"], task.arguments["weight_rule"]) == (
        "gpu-pool", "gpu", "absolute")
    assert (imported.pool, imported.queue, imported.weight_rule) == (
        "gpu-pool", "gpu", "absolute")


def test_local_execution_leaves_the_pod_settings_out_and_says_so(tmp_path):
    from kedro_airflow_k8s.render import render_dag, write_atomically
    from tests import airflow_check

    lines = []
    spec = compile_pipeline(_settings_pipeline(), with_run(
        task_settings=POD_SETTINGS, task_defaults=POD_DEFAULTS, execution="local"),
        notify=lines.append)
    assert ("Note: local execution runs no pods: task_settings/task_defaults keys "
            "active_deadline, deferrable, logging_interval, on_finish_action, poll_interval, "
            "reattach_on_restart, schedule_timeout, startup_timeout, termination_grace_period "
            "are left out.") in lines
    assert spec.operations == {}
    path = tmp_path / "dags" / "demo.py"
    write_atomically(path, render_dag(spec))
    dag = airflow_check.load_dag(path)
    assert {t.task_id: t.retries for t in dag.tasks if t.task_id in ("load", "train")} == {
        "load": 1, "train": 2}


def test_continuous_schedule_keeps_one_active_run():
    pipeline = Pipeline([node(identity, "a", "b", name="n")])
    assert compile_pipeline(pipeline, with_run(max_active_runs=1),
                            schedule="@continuous").max_active_runs == 1
    assert compile_pipeline(pipeline, schedule="@continuous").max_active_runs == 1
    assert compile_pipeline(pipeline, with_run(max_active_runs=3)).max_active_runs == 3
    with pytest.raises(CompileError) as error:
        compile_pipeline(pipeline, with_run(max_active_runs=3), schedule="@continuous")
    assert str(error.value).startswith("run_config.max_active_runs: 3 with schedule "
                                       "@continuous")
