"""Nodes joined by MemoryDatasets share a task; the task graph stays acyclic."""

from collections import defaultdict
from graphlib import CycleError, TopologicalSorter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kedro.pipeline import Pipeline, node

from kedro_airflow_k8s.errors import CompileError
from kedro_airflow_k8s.grouping import (
    chosen_groups,
    group_nodes,
    memory_edges,
    strongly_connected,
)
from kedro_airflow_k8s.spark import spark_edges
from tests.spec_helpers import pod_settings, profile_of
from tests.test_compiler import compile_pipeline
from tests.test_config import with_run


def combine(*xs):
    return xs[0] if xs else None


def make(*specs):
    """specs: (name, inputs, outputs)."""
    return Pipeline([node(combine, list(i), list(o), name=n) for n, i, o in specs])


def spaceflights():
    """The shape of Kedro's spaceflights tutorial: the split's outputs stay in memory."""
    return make(
        ("preprocess_companies", ["companies"], ["preprocessed_companies"]),
        ("preprocess_shuttles", ["shuttles"], ["preprocessed_shuttles"]),
        ("create_model_input_table", ["preprocessed_shuttles", "preprocessed_companies",
                                      "reviews"], ["model_input_table"]),
        ("split_data", ["model_input_table", "params:model_options"],
         ["X_train", "X_test", "y_train", "y_test"]),
        ("train_model", ["X_train", "y_train"], ["regressor"]),
        ("evaluate_model", ["regressor", "X_test", "y_test"], ["metrics"]),
    )


SPARK = ["kedro-airflow-k8s.group.pyspark"]
SPACEFLIGHTS_MEMORY = {"X_train", "X_test", "y_train", "y_test", "regressor", "metrics"}


def test_spaceflights_split_train_evaluate_end_in_one_task():
    persisted = lambda name: name not in SPACEFLIGHTS_MEMORY  # noqa: E731 - a one-line predicate reads best as a lambda
    lines = []
    spec = compile_pipeline(spaceflights(), with_run(volume={"disabled": True}),
                            is_persisted=persisted, notify=lines.append)
    by_nodes = {tuple(t.node_names): t for t in spec.tasks}
    group = by_nodes[("split_data", "train_model", "evaluate_model")]
    assert group.task_id == "split_data__train_model__evaluate_model"
    assert spec.pod_defaults.node_arguments[-1] == "--nodes"
    assert pod_settings(group)["nodes"].text == "split_data,train_model,evaluate_model"
    assert "(MemoryDatasets X_test, X_train, regressor, y_test, y_train)" in group.doc
    assert spec.upstream[group.task_id] == ["create_model_input_table"]
    assert len(spec.tasks) == 4
    assert lines == ["One task runs split_data, train_model, evaluate_model (MemoryDatasets "
                     "X_test, X_train, regressor, y_test, y_train)."]


def test_params_and_persisted_datasets_never_group():
    pipeline = make(("a", ["params:x", "raw"], ["mid"]), ("b", ["mid", "params:x"], ["out"]))
    groups = group_nodes(pipeline, lambda name: True)
    assert [g.nodes for g in groups] == [("a",), ("b",)]


def test_cycle_through_persisted_data_is_merged_and_said():
    # a -mem-> c, and a -> b -> c through persisted data: grouping a with c alone is a cycle
    pipeline = make(("a", ["in"], ["m", "p"]), ("b", ["p"], ["q"]), ("c", ["m", "q"], ["out"]))
    groups = group_nodes(pipeline, lambda name: name != "m")
    assert [(g.nodes, g.widened) for g in groups] == [(("a", "b", "c"), ("b",))]
    lines = []
    compile_pipeline(pipeline, with_run(volume={"disabled": True}),
                     is_persisted=lambda name: name != "m", notify=lines.append)
    assert lines == ["One task runs a, b, c (MemoryDatasets m; b joined to keep the DAG "
                     "acyclic)."]


def test_long_group_ids_stay_readable():
    names = [f"step_number_{i}_of_a_long_chain" for i in range(5)]
    pipeline = make(*[(n, [f"d{i}"], [f"d{i + 1}"]) for i, n in enumerate(names)])
    spec = compile_pipeline(pipeline, with_run(volume={"disabled": True}),
                            is_persisted=lambda name: name == "d0")
    assert [t.task_id for t in spec.tasks] == ["step_number_0_of_a_long_chain__and_4_more"]


def test_grouped_nodes_take_the_largest_resources():
    pipeline = Pipeline([
        node(combine, "a", "b", name="small", tags=["resources.small"]),
        node(combine, "b", "c", name="big", tags=["resources.big"]),
    ])
    raw = with_run(volume={"disabled": True}, resources={
        "small": {"requests": {"cpu": "500m", "memory": "8Gi"}, "limits": {"cpu": "1"},
                  "tolerations": [{"key": "a"}]},
        "big": {"requests": {"cpu": "2", "memory": "1Gi"}, "node_selectors": {"pool": "x"},
                "tolerations": [{"key": "b"}]},
    })
    spec = compile_pipeline(pipeline, raw, is_persisted=lambda name: name != "b")
    task = spec.tasks[0]
    assert profile_of(task) == "big+small"
    combined = spec.resources["big+small"]
    assert combined.requests == {"cpu": "2", "memory": "8Gi"}
    # small's cpu limit is raised to the group's request: a limit of 1 under a request of 2
    # is a pod the API server refuses
    assert combined.limits == {"cpu": "2"}
    assert combined.node_selector == {"pool": "x"}
    assert [t["key"] for t in combined.tolerations] == ["a", "b"]


def test_conflicting_templates_in_a_group_are_a_compile_error():
    pipeline = Pipeline([
        node(combine, "a", "b", name="one", tags=["k8s_template.gpu"]),
        node(combine, "b", "c", name="two", tags=["k8s_template.cpu"]),
    ])
    raw = with_run(kubernetes_pod_templates={"gpu": {"template": {"kind": "Pod"}},
                                             "cpu": {"template": {"kind": "Pod"}}})
    with pytest.raises(CompileError) as error:
        compile_pipeline(pipeline, raw, is_persisted=lambda name: name != "b")
    assert str(error.value) == ("nodes run in one task but want different pod templates: "
                                "'one' (gpu), 'two' (cpu)")


def test_conflicting_node_selectors_in_a_group_are_a_compile_error():
    pipeline = Pipeline([
        node(combine, "a", "b", name="one", tags=["resources.x"]),
        node(combine, "b", "c", name="two", tags=["resources.y"]),
    ])
    raw = with_run(resources={"x": {"node_selectors": {"pool": "1"}},
                              "y": {"node_selectors": {"pool": "2"}}})
    with pytest.raises(CompileError, match="'one' and 'two' run in one task but their "
                                           "resource profiles set node_selectors 'pool'"):
        compile_pipeline(pipeline, raw, is_persisted=lambda name: name != "b")


def test_strongly_connected_components():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": {"d"}, "f": set()}
    assert sorted(strongly_connected(list("abcdef"), graph)) == [["a", "b", "c"], ["d", "e"]]


@st.composite
def pipelines(draw):
    """Random DAG-shaped pipelines; each dataset is persisted or in memory at random, each
    node a Spark node or not."""
    count = draw(st.integers(min_value=1, max_value=12))
    specs, produced = [], []
    for i in range(count):
        inputs = draw(st.lists(st.sampled_from(produced), max_size=3, unique=True)) \
            if produced else []
        if not inputs:
            inputs = [f"raw{i}"]
        outputs = [f"d{i}_{k}" for k in range(draw(st.integers(1, 2)))]
        produced += outputs
        specs.append((f"n{i}", inputs, outputs))
    in_memory = draw(st.sets(st.sampled_from(produced)))
    names = [name for name, _, _ in specs]
    spark = draw(st.sets(st.sampled_from(names)))
    chosen = {f"tag kedro-airflow-k8s.group.g{i}": sorted(group) for i, group in enumerate(
        draw(st.lists(st.sets(st.sampled_from(names)), max_size=2))) if len(group) > 1}
    return make(*specs), in_memory, spark, chosen


@settings(max_examples=150, deadline=None)
@given(pipelines())
def test_grouping_properties(case):
    pipeline, in_memory, spark, chosen = case
    persisted = lambda name: name not in in_memory  # noqa: E731 - a one-line predicate reads best as a lambda
    joined = spark_edges(pipeline, spark)
    groups = group_nodes(pipeline, persisted, joined=joined, chosen=chosen)
    task_of = {name: i for i, g in enumerate(groups) for name in g.nodes}
    # every node is in exactly one task
    assert sorted(task_of) == sorted(n.name for n in pipeline.nodes)
    assert sum(len(g.nodes) for g in groups) == len(pipeline.nodes)
    # every memory edge ends inside one task
    for producer, consumer in [*memory_edges(pipeline, persisted), *joined]:
        assert task_of[producer] == task_of[consumer]
    # every chosen group (an explicit group tag) ends inside one task
    for names in chosen.values():
        assert len({task_of[name] for name in names}) == 1
    # the task graph is acyclic and keeps every cross-task dependency
    graph = {i: set() for i in range(len(groups))}
    for child, parents in pipeline.node_dependencies.items():
        for parent in parents:
            if task_of[parent.name] != task_of[child.name]:
                graph[task_of[child.name]].add(task_of[parent.name])
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError:  # pragma: no cover - the failure this test exists to catch
        pytest.fail(f"task graph has a cycle: {graph}")
    spec = compile_pipeline(pipeline, with_run(volume={"disabled": True}),
                            is_persisted=persisted)
    for child, parents in pipeline.node_dependencies.items():
        child_task = next(t.task_id for t in spec.tasks if child.name in t.node_names)
        for parent in parents:
            parent_task = next(t.task_id for t in spec.tasks if parent.name in t.node_names)
            if parent_task != child_task:
                assert parent_task in spec.upstream[child_task]


@settings(max_examples=100, deadline=None)
@given(pipelines(), st.sampled_from(["namespace", "pipeline"]), st.data())
def test_chosen_grouping_never_mixes_spark_and_pandas_nodes_on_its_own(case, grouping, data):
    # Spark nodes tagged, group tags as tags, a namespace for some nodes: the real compile
    pipeline, in_memory, spark, chosen = case
    tags = defaultdict(list)
    for why, names in chosen.items():
        for name in names:
            tags[name].append(why.removeprefix("tag "))
    pipeline = Pipeline([
        node(combine, n.inputs, n.outputs, name=n.name, tags=[
            *tags[n.name], *(SPARK if n.name in spark else [])],
             namespace=data.draw(st.sampled_from([None, "x", "y"])))
        for n in pipeline.nodes])
    spark = {n.name for n in pipeline.nodes if n.tags & set(SPARK)}
    persisted = lambda name: name not in in_memory  # noqa: E731 - a one-line predicate reads best as a lambda

    def tasks(grouping):
        spec = compile_pipeline(pipeline, with_run(volume={"disabled": True}, grouping=grouping,
                                                   spark={"type": "k8s"}),
                                is_persisted=persisted)
        tasks = [frozenset(t.node_names) for t in spec.tasks if t.node_names]
        list(TopologicalSorter(spec.upstream).static_order())  # CycleError if not acyclic
        assert sorted(n for t in tasks for n in t) == sorted(n.name for n in pipeline.nodes)
        return tasks

    # the tasks that run Spark nodes are exactly those memory groups, connected Spark nodes
    # and group tags make: the grouping moves no other node onto Spark, none off it
    assert {t for t in tasks(grouping) if t & spark} == \
        {t for t in tasks("node") if t & spark}


def test_a_group_pod_never_requests_more_than_its_limits(tmp_path):
    # the API server refuses a request above its limit: before, "one" (limit cpu 1) and
    # "two" (request cpu 2, no limit) gave the task's pod requests 2 / limits 1
    from tests import airflow_check
    from tests.test_render import compiled, write

    pipeline = Pipeline([
        node(combine, "a", "b", name="one", tags=["resources.capped"]),
        node(combine, "b", "c", name="two", tags=["resources.hungry"]),
        node(combine, "c", "d", name="three", tags=["resources.gpu"]),
    ])
    raw = with_run(volume={"disabled": True}, resources={
        "capped": {"requests": {"cpu": "500m", "memory": "1Gi"},
                   "limits": {"cpu": "1", "memory": "1Gi"}},
        "hungry": {"requests": {"cpu": "2"}},
        # a limit alone is also the request (Kubernetes defaults it so)
        "gpu": {"limits": {"nvidia.com/gpu": 1, "memory": "4Gi"}},
    })
    persisted = lambda name: name in ("a", "d")  # noqa: E731 - a one-line predicate reads best as a lambda
    spec = compiled(pipeline, raw, is_persisted=persisted)
    combined = spec.resources["capped+gpu+hungry"]
    assert combined.requests == {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"}
    assert combined.limits == {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"}
    dag = airflow_check.load_dag(write(tmp_path, spec))
    pod = airflow_check.validate_all(dag)["one__two__three"]  # schema and API server rules
    assert pod["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"},
        "limits": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"}}


def shop():
    """Two top-level namespaces (one nested), nodes without one, every dataset persisted:
    `load` -> ingest.{clean, dedupe} -> model.{fit, inner.score} -> report, ingest.audit."""
    return Pipeline([
        node(combine, "raw", "loaded", name="load"),
        node(combine, "loaded", "clean", name="clean", namespace="ingest"),
        node(combine, "clean", "unique", name="dedupe", namespace="ingest"),
        node(combine, "unique", "fitted", name="fit", namespace="model"),
        node(combine, "fitted", "score", name="score", namespace="model.inner"),
        node(combine, "score", "report", name="report"),
        node(combine, "clean", "audit", name="audit", namespace="ingest"),
    ])


def task_graph(spec):
    return {t.task_id: (t.node_names, spec.upstream.get(t.task_id, [])) for t in spec.tasks}


def test_namespace_grouping_runs_each_top_level_namespace_in_one_task():
    lines = []
    spec = compile_pipeline(shop(), with_run(volume={"disabled": True}, grouping="namespace"),
                            notify=lines.append)
    assert task_graph(spec) == {
        "load": (["load"], []),
        # the common namespace of the members is the TaskGroup, as for memory groups
        "ingest.clean__audit__dedupe": (["ingest.clean", "ingest.audit", "ingest.dedupe"],
                                        ["load"]),
        "model.fit__inner-score": (["model.fit", "model.inner.score"],
                                   ["ingest.clean__audit__dedupe"]),
        "report": (["report"], ["model.fit__inner-score"]),
    }
    assert [g.group_id for g in spec.groups] == ["ingest", "model"]
    assert lines == ["One task runs ingest.clean, ingest.audit, ingest.dedupe (namespace "
                     "ingest).",
                     "One task runs model.fit, model.inner.score (namespace model)."]
    assert "(namespace model)" in spec.task("model.fit__inner-score").doc


def test_pipeline_grouping_runs_one_task():
    lines = []
    spec = compile_pipeline(shop(), with_run(volume={"disabled": True}, grouping="pipeline"),
                            notify=lines.append)
    (task,) = spec.tasks_of("node")
    assert task.task_id == "load__and_6_more" and task.group is None
    assert pod_settings(task)["nodes"].text == ",".join(n.name for n in shop().nodes)
    assert lines == ["One task runs load, ingest.clean, ingest.audit, ingest.dedupe, model.fit "
                     "and 2 more (run_config.grouping: pipeline)."]


def test_node_grouping_is_the_default_a_task_per_node():
    spec = compile_pipeline(shop(), with_run(volume={"disabled": True}, grouping="node"))
    assert len(spec.tasks_of("node")) == 7
    assert spec.tasks == compile_pipeline(shop(), with_run(volume={"disabled": True})).tasks


def test_group_tag_joins_its_nodes_whatever_the_grouping():
    pipeline = make(("a", ["in"], ["x"]), ("b", ["in"], ["y"]), ("c", ["x", "y"], ["z"]))
    tagged = Pipeline([n.tag(["kedro-airflow-k8s.group.io"]) if n.name in "ab" else n
                       for n in pipeline.nodes])
    for grouping in ("node", "namespace"):
        lines = []
        spec = compile_pipeline(tagged, with_run(volume={"disabled": True}, grouping=grouping),
                                notify=lines.append)
        assert task_graph(spec) == {"a__b": (["a", "b"], []), "c": (["c"], ["a__b"])}
        assert lines == ["One task runs a, b (tag kedro-airflow-k8s.group.io)."]


def test_a_group_tag_that_would_close_a_cycle_is_merged():
    # a and c share a tag, b runs between them: the task {a, c} would wait for b and b for it
    pipeline = Pipeline([
        node(combine, "in", "p", name="a", tags=["kedro-airflow-k8s.group.g"]),
        node(combine, "p", "q", name="b"),
        node(combine, "q", "out", name="c", tags=["kedro-airflow-k8s.group.g"]),
        node(combine, "out", "end", name="d"),
    ])
    groups = group_nodes(pipeline, lambda name: True,
                         chosen=chosen_groups(pipeline, "node", set()))
    assert [(g.nodes, g.widened) for g in groups] == [(("a", "b", "c"), ("b",)), (("d",), ())]
    lines = []
    spec = compile_pipeline(pipeline, with_run(volume={"disabled": True}), notify=lines.append)
    assert task_graph(spec) == {"a__b__c": (["a", "b", "c"], []), "d": (["d"], ["a__b__c"])}
    assert lines == ["One task runs a, b, c (tag kedro-airflow-k8s.group.g; b joined to keep "
                     "the DAG acyclic)."]


def test_two_namespaces_in_a_cycle_become_one_task_and_say_so():
    pipeline = Pipeline([
        node(combine, "in", "p", name="one", namespace="x"),
        node(combine, "p", "q", name="one", namespace="y"),
        node(combine, "q", "r", name="two", namespace="x"),
        node(combine, "r", "s", name="two", namespace="y"),
    ])
    groups = group_nodes(pipeline, lambda name: True,
                         chosen=chosen_groups(pipeline, "namespace", set()))
    assert [(g.nodes, g.chosen, g.widened, g.merged) for g in groups] == [
        (("x.one", "y.one", "x.two", "y.two"), ("namespace x", "namespace y"), (), True)]
    lines = []
    compile_pipeline(pipeline, with_run(volume={"disabled": True}, grouping="namespace"),
                     notify=lines.append)
    assert lines == ["One task runs x.one, y.one, x.two, y.two (namespace x; namespace y; "
                     "merged to keep the DAG acyclic)."]


def test_memory_datasets_inside_a_chosen_group_pass_no_group_memory():
    persisted = lambda name: name != "clean"  # noqa: E731 - a one-line predicate reads best as a lambda
    with pytest.raises(CompileError, match="datasets clean pass between nodes"):
        compile_pipeline(shop(), with_run(volume={"disabled": True}), is_persisted=persisted,
                         group_memory=False)
    spec = compile_pipeline(shop(), with_run(volume={"disabled": True}, grouping="namespace"),
                            is_persisted=persisted, group_memory=False)
    # clean goes from ingest.clean to ingest.dedupe and ingest.audit: all in one task now
    assert ["ingest.clean", "ingest.audit", "ingest.dedupe"] in \
        [t.node_names for t in spec.tasks]


def test_spark_nodes_keep_their_own_tasks_under_pipeline_grouping():
    pipeline = Pipeline([
        node(combine, "raw", "a", name="prepare"),
        node(combine, "raw", "b", name="crunch", tags=["kedro-airflow-k8s.group.pyspark"]),
        node(combine, "a", "c", name="report"),
    ])
    raw = with_run(volume={"disabled": True}, grouping="pipeline", spark={"type": "k8s"})
    spec = compile_pipeline(pipeline, raw)
    assert sorted((t.kind, t.node_names) for t in spec.tasks if t.node_names) == [
        ("node", ["prepare", "report"]), ("spark", ["crunch"])]
    # a Spark node between grouped nodes splits the group: nothing moves onto Spark
    between = make(("prepare", ["raw"], ["a"]), ("crunch", ["a"], ["b"]),
                   ("report", ["b"], ["c"]))
    groups = group_nodes(between, lambda name: True, spark={"crunch"},
                         chosen=chosen_groups(between, "pipeline", {"crunch"}))
    assert [(g.nodes, g.widened, g.split_around) for g in groups] == [
        (("prepare",), (), ("crunch",)), (("crunch",), (), ()), (("report",), (), ("crunch",))]


def around_spark(namespace=None):
    """a -> s (Spark) -> b -> d, and c beside them; all pandas but s."""
    return Pipeline([node(combine, "raw", "a", name="a", namespace=namespace),
                     node(combine, "a", "s", name="s", namespace=namespace, tags=SPARK),
                     node(combine, "s", "b", name="b", namespace=namespace),
                     node(combine, "raw", "c", name="c", namespace=namespace),
                     node(combine, "b", "d", name="d", namespace=namespace)])


@pytest.mark.parametrize("spark", [{"type": "k8s"}, pytest.param(
    {"type": "dataproc", "project_id": "p", "region": "europe-west1", "cluster_name": "c",
     "artifacts_path": "gs://bucket/spark"}, id="dataproc")])
def test_pipeline_grouping_never_moves_pandas_nodes_onto_spark(spark):
    # before, {a, b, c, d} and s waited on each other and were merged: one task on Spark
    lines = []
    spec = compile_pipeline(around_spark(), with_run(
        volume={"disabled": True}, grouping="pipeline", spark=spark), notify=lines.append)
    nodes = {t.task_id for t in spec.tasks if t.node_names}  # dataproc adds cluster tasks
    assert {t.task_id: (t.kind, t.node_names,
                        [u for u in spec.upstream.get(t.task_id, []) if u in nodes])
            for t in spec.tasks if t.node_names} == {
        "a__c": ("node", ["a", "c"], []), "s": ("spark", ["s"], ["a__c"]),
        "b__d": ("node", ["b", "d"], ["s"])}
    assert lines == [
        "One task runs a, c (run_config.grouping: pipeline; split around Spark node s to "
        "keep it on its own).",
        "One task runs b, d (run_config.grouping: pipeline; split around Spark node s to "
        "keep it on its own)."]
    assert "split around Spark node s" in spec.task("b__d").doc


def test_namespace_grouping_never_moves_pandas_nodes_onto_spark():
    lines = []
    spec = compile_pipeline(around_spark("etl"), with_run(
        volume={"disabled": True}, grouping="namespace", spark={"type": "k8s"}),
        notify=lines.append)
    assert sorted((t.kind, t.node_names) for t in spec.tasks if t.node_names) == [
        ("node", ["etl.a", "etl.c"]), ("node", ["etl.b", "etl.d"]), ("spark", ["etl.s"])]
    # a part of one node still says why it did not join the others
    pipeline = Pipeline([n for n in around_spark("etl").nodes if n.name != "etl.d"])
    lines = []
    compile_pipeline(pipeline, with_run(volume={"disabled": True}, grouping="namespace",
                                        spark={"type": "k8s"}), notify=lines.append)
    assert lines == [
        "One task runs etl.a, etl.c (namespace etl; split around Spark node etl.s to keep it "
        "on its own).",
        "etl.b runs in a task of its own (namespace etl; split around Spark node etl.s to "
        "keep it on its own)."]


def test_pipeline_grouping_without_spark_nodes_is_one_task_still():
    pipeline = Pipeline([n for n in around_spark().nodes if n.name != "s"] +
                        [node(combine, "a", "s", name="s")])
    spec = compile_pipeline(pipeline, with_run(volume={"disabled": True}, grouping="pipeline",
                                               spark={"type": "k8s"}))
    assert [(t.kind, t.node_names) for t in spec.tasks if t.node_names] == [
        ("node", ["a", "c", "s", "b", "d"])]


def test_memory_datasets_and_group_tags_still_join_pandas_nodes_to_spark():
    # b reads s in memory: b runs in the Spark task (a memory group is never split), and so
    # does c, tagged with s; pipeline grouping then keeps a and d off Spark
    pipeline = Pipeline([
        node(combine, "raw", "a", name="a"),
        node(combine, "a", "s", name="s", tags=[*SPARK, "kedro-airflow-k8s.group.job"]),
        node(combine, "s", "b", name="b"),
        node(combine, "raw", "c", name="c", tags=["kedro-airflow-k8s.group.job"]),
        node(combine, "b", "d", name="d"),
    ])
    spec = compile_pipeline(pipeline, with_run(volume={"disabled": True}, grouping="pipeline",
                                               spark={"type": "k8s"}),
                            is_persisted=lambda name: name != "s")
    assert {t.task_id: (t.kind, t.node_names, spec.upstream.get(t.task_id, []))
            for t in spec.tasks if t.node_names} == {
        "a": ("node", ["a"], []), "c__s__b": ("spark", ["c", "s", "b"], ["a"]),
        "d": ("node", ["d"], ["c__s__b"])}


@pytest.mark.parametrize("tag", ["kedro-airflow-k8s.group", "kedro-airflow-k8s.group.",
                                 "kedro-airflow-k8s.group..x", "kedro-airflow-k8s.groups.x"])
def test_a_malformed_group_tag_is_one_line_naming_node_and_tag(tag):
    pipeline = make(("a", ["in"], ["x"]), ("b", ["x"], ["y"]))
    pipeline = Pipeline([n.tag([tag]) if n.name == "b" else n for n in pipeline.nodes])
    with pytest.raises(CompileError) as error:
        compile_pipeline(pipeline, with_run(volume={"disabled": True}))
    assert str(error.value) == (
        f"node 'b': tag '{tag}' is not kedro-airflow-k8s.group.<name> (letters, digits, '_', "
        "'-', dots between them); fix or remove the tag")


def test_notes_on_shared_tasks_stay_short_for_a_large_pipeline():
    # 1,000 nodes in 100 namespaces of 10: one line per shared task up to 20, then a summary
    pipeline = Pipeline([node(combine, "raw", f"d{i}", name=f"n{i}", namespace=f"ns{i // 10}")
                         for i in range(1000)])
    lines = []
    spec = compile_pipeline(pipeline, with_run(volume={"disabled": True}, grouping="namespace"),
                            notify=lines.append)
    assert len(spec.tasks_of("node")) == 100
    assert len(lines) == 21
    assert lines[0] == ("One task runs ns0.n0, ns0.n1, ns0.n2, ns0.n3, ns0.n4 and 5 more "
                        "(namespace ns0).")
    assert lines[-1] == ("... and 80 more tasks run several nodes (each task's doc says which "
                         "and why).")
    lines = []
    compile_pipeline(pipeline, with_run(volume={"disabled": True}, grouping="pipeline"),
                     notify=lines.append)
    assert lines == ["One task runs ns0.n0, ns0.n1, ns0.n2, ns0.n3, ns0.n4 and 995 more "
                     "(run_config.grouping: pipeline)."]


def test_grouped_pods_import_in_airflow_and_validate(tmp_path):
    from tests import airflow_check
    from tests.test_render import compiled, write

    pipeline = Pipeline([*shop().nodes,
                         node(combine, "report", "mailed", name="mail",
                              tags=["kedro-airflow-k8s.group.tail", "resources.big"]),
                         node(combine, "audit", "archived", name="archive",
                              tags=["kedro-airflow-k8s.group.tail"])])
    raw = with_run(grouping="namespace", resources={
        "__default__": {"requests": {"cpu": "250m"}},
        "big": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "4Gi"}}})
    dag = airflow_check.load_dag(write(tmp_path, compiled(pipeline, raw)))
    pods = airflow_check.validate_all(dag)  # schema and API server rules
    shared = {task_id: pod for task_id, pod in pods.items()
              if "clean" in task_id or "fit" in task_id or "mail" in task_id}
    assert sorted(shared) == ["archive__mail", "ingest.clean__audit__dedupe",
                              "model.fit__inner-score"]
    container = shared["archive__mail"]["spec"]["containers"][0]
    assert container["args"][-2:] == ["--nodes", "archive,mail"]
    # the group's resources: the largest of its members' profiles
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "4Gi"}
    assert dag.get_task("archive__mail").upstream_task_ids == {
        "report", "ingest.clean__audit__dedupe"}
