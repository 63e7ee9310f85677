"""Watched groups: the producer's runner (kedro_airflow_k8s.watched), the DAG file's pieces
that carry each node's end from the producer to the node's own task, and what the compiler
makes of a watched group.

The XCom channel and the producer's state are Airflow's (the task SDK's calls to the API
server): here a `Channel` stands in for them, so each rule of the node task can be driven
one by one; tests/e2e/test_watched.py runs the same code on a real `airflow standalone`."""

from __future__ import annotations

import ast
import json
import logging
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node

from kedro_airflow_k8s import dag_runtime, dagspec, validate, watched
from kedro_airflow_k8s.dag_runtime import operators
from kedro_airflow_k8s.dag_runtime import source as runtime_source
from kedro_airflow_k8s.render import render_dag
from tests.golden.configs import KUBERNETES_SPARK, chain, compiled, grouped, run, step
from tests.spec_helpers import split
from tests.test_spark import spark_shaped

# -- the runner -----------------------------------------------------------------------------


def _raise(*_: Any) -> Any:
    raise ValueError("broken on purpose")


def _events(out: str) -> list[tuple[str, str]]:
    return [(e["node"], e["event"]) for e in
            (json.loads(line[len(watched.MARKER):]) for line in out.splitlines()
             if line.startswith(watched.MARKER))]


@pytest.mark.parametrize("workers", [1, 3], ids=["one at a time", "threads"])
def test_the_runner_goes_on_past_a_failed_node_with_what_does_not_depend_on_it(capsys,
                                                                               workers):
    pipeline = Pipeline([
        node(step, "raw", "a", name="first"),
        node(_raise, "a", "b", name="breaks"),
        node(step, "b", "c", name="after_broken"),
        node(step, "c", "f", name="after_that"),
        node(step, "a", "d", name="sibling"),
        node(step, "d", "e", name="after_sibling"),
    ])
    catalog = DataCatalog(datasets={"raw": MemoryDataset(1)})
    with pytest.raises(watched.NodesFailed,
                       match="nodes breaks failed; after_broken, after_that not run"):
        watched.WatchedRunner(max_workers=workers).run(pipeline, catalog)
    events = _events(capsys.readouterr().out)
    assert ("breaks", "failed") in events and ("after_broken", "not run") in events
    assert ("after_that", "not run") in events
    assert ("after_sibling", "success") in events  # independent of the failure: it ran
    started = [n for n, e in events if e == "start"]
    expected = [n.name for n in pipeline.nodes if n.name not in ("after_broken", "after_that")]
    # one at a time in the pipeline's order; in threads, the nodes ready at once in any order
    assert (started if workers == 1 else sorted(started)) == (
        expected if workers == 1 else sorted(expected))
    assert catalog.load("e") == 1  # through sibling and after_sibling


def test_a_failed_node_s_event_holds_the_end_of_its_traceback(capsys):
    catalog = DataCatalog(datasets={"raw": MemoryDataset(1)})
    with pytest.raises(watched.NodesFailed):
        watched.WatchedRunner().run(Pipeline([node(_raise, "raw", "b", name="breaks")]),
                                    catalog)
    line = next(line for line in capsys.readouterr().out.splitlines()
                if '"failed"' in line)
    error = json.loads(line[len(watched.MARKER):])["error"]
    assert error[-1] == "ValueError: broken on purpose" and len(error) <= 12


def test_a_run_without_failures_ends_as_kedro_s_does(capsys):
    catalog = DataCatalog(datasets={"raw": MemoryDataset(2)})
    watched.WatchedRunner().run(Pipeline([node(step, "raw", "a", name="one"),
                                          node(step, "a", "b", name="two")]), catalog)
    assert _events(capsys.readouterr().out) == [("one", "start"), ("one", "success"),
                                                ("two", "start"), ("two", "success")]
    assert catalog.load("b") == 2


def _side_by_side(name: str, barrier: threading.Barrier) -> Any:
    """A node that returns only when the other node of its barrier runs at the same time;
    it writes a partial line before it waits, the rest after."""

    def run(value: Any) -> Any:
        print(f"{name}: half", end="", flush=True)
        barrier.wait(timeout=10)  # BrokenBarrierError: the nodes did not run side by side
        print(" line")
        logging.getLogger("demo").warning("%s: logged", name)
        return value

    run.__name__ = name
    return run


def _threaded(pipeline: Pipeline, catalog: DataCatalog, workers: int = 2) -> None:
    handler = logging.StreamHandler(sys.stderr)  # a console handler, as Kedro's logging has
    logging.getLogger("demo").addHandler(handler)
    try:
        watched.WatchedRunner(max_workers=workers).run(pipeline, catalog)
    finally:
        logging.getLogger("demo").removeHandler(handler)


def test_threads_run_independent_nodes_side_by_side_each_end_with_its_own_lines(capsys):
    barrier = threading.Barrier(2)
    pipeline = Pipeline([node(step, "raw", "a", name="first"),
                         node(_side_by_side("left", barrier), "a", "b", name="left"),
                         node(_side_by_side("right", barrier), "a", "c", name="right"),
                         node(step, ["b", "c"], "d", name="last")])
    catalog = DataCatalog(datasets={"raw": MemoryDataset(1)})
    _threaded(pipeline, catalog)
    assert catalog.load("d") == 1  # the value went through every node
    captured = capsys.readouterr()
    out = captured.out
    # every protocol line is a line of its own, whatever the other thread had half written
    assert out.count(watched.MARKER) == 8
    assert all(line.startswith(watched.MARKER) for line in out.splitlines()
               if watched.MARKER in line)
    ends = {e["node"]: e for e in (json.loads(line[len(watched.MARKER):])
                                   for line in out.splitlines()
                                   if line.startswith(watched.MARKER))
            if e["event"] != "start"}
    # a node's lines are its thread's: its prints and logs (with Kedro's own records of it,
    # when Kedro's logging writes to the console), none of the other node's
    for name, other in (("left", "right"), ("right", "left")):
        lines = ends[name]["lines"]
        assert f"{name}: half line" in lines and f"{name}: logged" in lines, lines
        assert not [line for line in lines if f"{other}: " in line or f"{other}(" in line], \
            lines
    assert not [line for line in ends["first"]["lines"] if "left" in line or "right" in line]
    assert ends["last"]["event"] == "success"
    # what the nodes wrote still reaches the run's own output
    assert "left: logged" in captured.err and "right: logged" in captured.err
    assert sys.stdout is not None and not isinstance(sys.stdout, watched._Tee)


@pytest.mark.parametrize("workers", [0, -1, "4", 1.5, True])
def test_the_runner_refuses_a_number_of_threads_that_is_not_one_or_more(workers):
    with pytest.raises(ValueError, match=f"WatchedRunner: max_workers must be a whole "
                                         f"number of at least 1, not {workers!r}"):
        watched.WatchedRunner(max_workers=workers)


def test_the_protocol_is_the_same_on_both_sides():
    assert operators.NodeEvents.MARKER == watched.MARKER
    assert watched.RUNNER == "kedro_airflow_k8s.watched.WatchedRunner"


# -- the DAG file's pieces --------------------------------------------------------------------


@dataclass
class Channel:
    """Stands in for Airflow's XCom and task-state calls (see the module's doc)."""

    task_id: str = "producer"
    dag_id: str = "demo"
    run_id: str = "manual__1"
    xcom: dict[tuple[str, str], Any] = field(default_factory=dict)
    states: list[str | None] = field(default_factory=list)  # the producer's, one per look
    looks: int = 0

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[(self.task_id, key)] = json.loads(json.dumps(value))  # XCom keeps JSON

    def xcom_pull(self, task_ids: str, key: str) -> Any:
        return self.xcom.get((task_ids, key))

    def get_task_states(self, dag_id: str, task_ids: list[str],
                        run_ids: list[str]) -> dict[str, Any]:
        state = self.states[min(self.looks, len(self.states) - 1)]
        self.looks += 1
        return {run_ids[0]: {task_ids[0]: state}}


@dataclass
class Run:
    clear_number: int = 0


def _marker(node: str, event: str, **more: Any) -> str:
    return watched.event(node, event, **more)


def test_each_node_s_end_carries_the_lines_written_while_it_ran():
    channel = Channel()
    events = operators.NodeEvents(channel, clear_number=3)
    lines = ["setting up", _marker("a", "start"), "a: working", _marker("a", "success"),
             _marker("b", "start"), "b: oops", _marker("b", "failed", error=["ValueError"]),
             _marker("c", "not run")]
    assert [events.feed(line) for line in lines] == [
        False, True, False, True, True, False, True, True]
    a, b, c = (channel.xcom[("producer", operators.NodeEvents.key(n))] for n in "abc")
    assert (a["event"], a["lines"], a["clear_number"]) == ("success", ["a: working"], 3)
    assert a["start"] <= a["time"]
    assert (b["event"], b["lines"], b["error"]) == ("failed", ["b: oops"], ["ValueError"])
    assert (c["event"], c["lines"], c["start"]) == ("not run", [], None)
    assert operators.NodeEvents.failed(channel, ["a", "b", "c"], 3) == ["b"]
    assert operators.NodeEvents.failed(channel, ["a", "b", "c"], 4) == []  # another clearing


def test_an_end_that_carries_its_node_s_lines_keeps_them():
    """Run in threads, an end holds its node's lines: the lines between markers are not."""
    channel = Channel()
    events = operators.NodeEvents(channel, 0)
    for line in [_marker("a", "start"), _marker("b", "start"), "b: mine", "a: mine",
                 _marker("a", "success", lines=["a: mine"]),
                 _marker("b", "success", lines=["b: mine"])]:
        events.feed(line)
    assert [channel.xcom[("producer", f"kedro_node.{n}")]["lines"] for n in "ab"] == [
        ["a: mine"], ["b: mine"]]


def test_a_node_keeps_only_its_last_lines():
    channel = Channel()
    events = operators.NodeEvents(channel, 0)
    events.feed(_marker("a", "start"))
    for number in range(operators.NodeEvents.LOG_LINES + 50):
        events.feed(f"line {number}")
    events.feed(_marker("a", "success"))
    kept = channel.xcom[("producer", "kedro_node.a")]["lines"]
    assert len(kept) == operators.NodeEvents.LOG_LINES and kept[-1] == "line 249"


def _node_task(infrastructure_only: bool = False) -> operators.WatchedNodeBashOperator:
    task = operators.WatchedNodeBashOperator(
        task_id="a", producer="producer", node="a", infrastructure_only=infrastructure_only,
        bash_command="echo ran", env={"KEDRO_NODES": "a"})
    task.POLL_SECONDS = 0
    return task


def _ended(channel: Channel, event: str, clear_number: int = 0, **more: Any) -> None:
    channel.xcom_push(operators.NodeEvents.key("a"), {
        "node": "a", "event": event, "time": 2.0, "start": 1.0,
        "clear_number": clear_number, "lines": ["a: hello"], **more})


def test_the_node_task_takes_the_producer_s_success():
    channel = Channel(states=["running"])
    _ended(channel, "success")
    assert _node_task().watch({"ti": channel, "dag_run": Run()}) is True


@pytest.mark.parametrize("infrastructure_only, raised", [
    (True, AirflowFailException), (False, AirflowException)])
def test_the_node_task_fails_with_the_node_s_error(infrastructure_only, raised):
    channel = Channel(states=["success"])
    _ended(channel, "failed", error=["Traceback", "ValueError: broken"])
    with pytest.raises(AirflowException, match="node a failed: ValueError: broken") as error:
        _node_task(infrastructure_only).watch({"ti": channel, "dag_run": Run()})
    assert type(error.value) is raised


def test_the_node_task_waits_until_the_producer_reports_the_node():
    channel = Channel(states=[None, "queued", "running"])

    class Later(Channel):
        pulls = 0

        def xcom_pull(self, task_ids: str, key: str) -> Any:
            self.pulls += 1
            if self.pulls == 12:  # the producer gets to the node after a while
                _ended(self, "success")
            return super().xcom_pull(task_ids, key)

    later = Later(states=channel.states)
    assert _node_task().watch({"ti": later, "dag_run": Run()}) is True
    assert later.pulls == 12 and later.looks == 3  # the producer's state every 5th poll


def test_a_producer_lost_while_the_node_task_waits_fails_it_to_be_retried():
    channel = Channel(states=["running", "failed"])
    with pytest.raises(AirflowException, match="ended \\(failed\\) before node a did") as error:
        _node_task(infrastructure_only=True).watch({"ti": channel, "dag_run": Run()})
    assert type(error.value) is AirflowException  # retryable, whatever retry_on says


@pytest.mark.parametrize("state", ["success", "failed"])
def test_a_node_task_after_the_producer_ended_without_the_node_runs_it_itself(state):
    channel = Channel(states=[state])
    assert _node_task().watch({"ti": channel, "dag_run": Run()}) is False


def test_an_end_from_an_earlier_clearing_of_the_run_is_not_the_node_task_s():
    """Cleared alone after its node failed, the task runs the node itself."""
    channel = Channel(states=["success"])
    _ended(channel, "failed", clear_number=0, error=["ValueError: broken"])
    assert _node_task().watch({"ti": channel, "dag_run": Run(clear_number=1)}) is False


def test_a_node_the_producer_did_not_run_is_run_by_its_task():
    channel = Channel(states=["success"])
    _ended(channel, "not run")
    assert _node_task().watch({"ti": channel, "dag_run": Run()}) is False


def _producer_context(task: Any, channel: Channel) -> dict[str, Any]:
    from airflow.sdk import DAG

    with DAG("watched", schedule=None) as dag:
        dag.add_task(task)
    context = validate.render_task(dag, task)
    context.pop("task_state_store", None)  # Airflow's database
    return {**context, "ti": channel, "dag_run": Run(clear_number=2)}


def _producer(script: str) -> operators.WatchedGroupBashOperator:
    # the operator appends `--runner ...` to the command: the script's '#' ends it there
    return operators.WatchedGroupBashOperator(task_id="producer", bash_command=script + " #",
                                              nodes=["a", "b"], runner=watched.RUNNER)


def _script(*lines: str, exit_code: int = 0) -> str:
    quoted = " ".join("'" + line.replace("'", "'\\''") + "'" for line in lines)
    return f"printf '%s\\n' {quoted}; exit {exit_code}"


def test_the_producer_succeeds_when_the_nodes_that_failed_said_so():
    channel = Channel()
    task = _producer(_script(_marker("a", "start"), "a: hi", _marker("a", "failed",
                                                                          error=["E"]),
                             _marker("b", "start"), _marker("b", "success"), exit_code=1))
    task.execute(_producer_context(task, channel))
    assert channel.xcom[("producer", "kedro_node.a")]["lines"] == ["a: hi"]
    assert channel.xcom[("producer", "kedro_node.b")]["clear_number"] == 2


@pytest.mark.parametrize("exit_code", [1, 137])
def test_the_producer_fails_when_kedro_run_failed_outside_the_nodes(exit_code):
    channel = Channel()
    task = _producer(_script("no such pipeline", exit_code=exit_code))
    with pytest.raises(AirflowException, match=f"outside the nodes: exit code {exit_code}"):
        task.execute(_producer_context(task, channel))


def test_the_producer_names_a_project_folder_the_worker_lacks(tmp_path):
    task = operators.WatchedGroupBashOperator(
        task_id="producer", bash_command="echo never", nodes=["a"], runner=watched.RUNNER,
        cwd=str(tmp_path / "gone"))
    with pytest.raises(AirflowException, match=f"folder {tmp_path / 'gone'} is not on this"):
        task.execute(_producer_context(task, Channel()))


def test_the_producer_passes_its_runner_to_kedro_run():
    channel = Channel()
    task = operators.WatchedGroupBashOperator(
        task_id="producer", bash_command="echo kedro run", nodes=["a"], runner="my.Runner")
    task.execute(_producer_context(task, channel))
    assert task.process.args[-1] == "echo kedro run --runner my.Runner"


# -- the pieces in the DAG file ---------------------------------------------------------------


def test_the_file_defines_the_pieces_in_the_module_s_order():
    tree = ast.parse(dag_runtime.MODULES[1].read_text())
    classes = [piece.name for piece in tree.body if isinstance(piece, ast.ClassDef)]
    assert list(dagspec.RUNTIME_PIECES) == classes


@pytest.mark.parametrize("name, line", [
    ("WatchedNode", "def __init__(self, *, producer, node, infrastructure_only=False, "
                    "**kwargs):"),
    ("WatchedGroupPodOperator", "def __init__(self, *, nodes, runner, workers=1, **kwargs):"),
    ("WatchedLines", "def progress_callback(cls, *, line, client, mode, container_name, "
                     "timestamp, pod, **kwargs):"),
])
def test_keyword_only_parameters_survive_the_copy(name, line):
    text = runtime_source(name)
    assert f"    {line}\n" in text
    ast.parse(text)


def test_a_local_watched_dag_defines_what_its_tasks_use_and_imports_nothing_of_ours():
    spec = compiled(grouped(), run(grouping_mode="watched"), execution="local")
    assert spec.runtime_pieces == ["NodeBashOperator", "NodeEvents", "WatchedGroupBashOperator",
                                   "WatchedNode", "WatchedNodeBashOperator"]
    text = render_dag(spec)
    for piece in spec.runtime_pieces:
        assert f"\nclass {piece}(" in text or f"\nclass {piece}:" in text
    assert "kedro_airflow_k8s" not in {
        alias.name.split(".")[0] for statement in ast.walk(ast.parse(text))
        if isinstance(statement, (ast.Import, ast.ImportFrom)) for alias in statement.names}


# -- the compiler -----------------------------------------------------------------------------


def test_a_watched_group_is_a_producer_and_a_task_per_node():
    spec = compiled(grouped(), run(grouping_mode="watched"))
    head = "run__load__ingest-clean__ingest-dedupe"
    producer = spec.task(head)
    assert (producer.kind, producer.operator) == ("producer", dagspec.WATCHED_GROUP_POD)
    assert producer.arguments["retries"] == 0 and producer.upstream == ("init-data-volume",)
    assert producer.arguments["nodes"] == ["load", "ingest.clean", "ingest.dedupe"]
    assert producer.arguments["runner"] == watched.RUNNER
    assert "inlets" not in producer.arguments and "outlets" not in producer.arguments
    dedupe = spec.task("ingest.dedupe")
    assert dedupe.operator == dagspec.WATCHED_NODE_POD
    assert (dedupe.arguments["producer"], dedupe.arguments["node"]) == (head, "ingest.dedupe")
    assert dedupe.upstream == ("ingest.clean",)  # its node's upstream, not the producer
    pod = dedupe.spread[0].kwargs
    assert pod["resources"] == "huge" and pod["nodes"].text == "ingest.dedupe"
    assert pod["labels"] == {"kedro-airflow-k8s/task": "ingest-dedupe"}
    # nothing waits for the producer but the tasks that end the run
    waiting = sorted(t.task_id for t in spec.tasks if head in t.upstream)
    assert waiting == ["delete-data-volume", "pipeline-result"]


def test_the_tag_makes_only_its_group_watched():
    pipeline = Pipeline([
        node(step, "raw", "a", name="load", tags=["kedro-airflow-k8s.group.one",
                                                  "kedro-airflow-k8s.watched"]),
        node(step, "a", "b", name="clean", tags=["kedro-airflow-k8s.group.one"]),
        node(step, "b", "c", name="fit", tags=["kedro-airflow-k8s.group.two"]),
        node(step, "c", "d", name="score", tags=["kedro-airflow-k8s.group.two"]),
    ])
    spec = compiled(pipeline, run(), execution="local")
    assert sorted(spec.task_ids) == ["clean", "fit__score", "load", "run__load__clean"]
    assert spec.task("fit__score").upstream == ("clean",)


def test_nodes_sharing_memory_datasets_re_run_together():
    pipeline = Pipeline([
        node(step, "raw", "tmp", name="load"),
        node(step, "tmp", "clean", name="parse"),
        node(step, "clean", "out", name="train"),
    ])
    spec = compiled(pipeline, run(grouping="pipeline", grouping_mode="watched"),
                    persisted={"raw", "clean", "out"}, execution="local")
    reruns = {task.task_id: task.arguments["env"]["KEDRO_NODES"].text for task in spec.tasks
              if task.operator == dagspec.WATCHED_NODE}
    assert reruns == {"load": "load,parse", "parse": "load,parse", "train": "train"}


@pytest.mark.parametrize("execution", ["local", "kubernetes"])
def test_group_threads_runs_a_task_s_nodes_in_threads(execution, tmp_path):
    spec = compiled(grouped(tags=False), run(grouping="pipeline", group_threads=4),
                    execution=execution)
    (task,) = [t for t in spec.tasks if t.kind == "node"]
    threads = ["--runner", "ThreadRunner", "--runner-params", "max_workers=4"]
    if execution == "local":
        assert task.arguments["bash_command"].text.endswith(" " + " ".join(threads))
    else:  # the pod the real KubernetesPodOperator builds from the file
        path = tmp_path / "demo.py"
        path.write_text(render_dag(spec))
        assert validate.check_file(path, validate.default_k8s_version()) == []
        dag, problems = validate.load_dag(path)
        args = validate.manifests(dag)[task.task_id]["spec"]["containers"][0]["args"]
        assert args[-6:] == ["--nodes", task.spread[0].kwargs["nodes"].text, *threads]
    # a task of one node runs it as ever
    alone = compiled(chain(), run(group_threads=4), execution=execution)
    assert "ThreadRunner" not in render_dag(alone)


def test_a_spark_job_runs_its_nodes_one_after_another_whatever_group_threads_says():
    spec = compiled(spark_shaped(), run(spark=KUBERNETES_SPARK, group_threads=4))
    spark_tasks = [t for t in spec.tasks if t.kind == "spark"]
    assert spark_tasks and any(len(t.node_names) > 1 for t in spark_tasks)
    assert "ThreadRunner" not in render_dag(spec)


def test_a_watched_group_s_runner_takes_the_threads():
    spec = compiled(grouped(tags=False), run(grouping="pipeline", grouping_mode="watched",
                                             group_threads=3), execution="local")
    producer = next(t for t in spec.tasks if t.kind == "producer")
    assert producer.arguments["workers"] == 3 and producer.arguments["runner"] == watched.RUNNER
    assert "ThreadRunner" not in render_dag(spec)  # only its own runner, with the threads
    task = operators.WatchedGroupBashOperator(task_id="p", nodes=["a"], runner=watched.RUNNER,
                                              workers=3, bash_command="kedro run")
    assert task.runner == f"{watched.RUNNER} --runner-params max_workers=3"


@pytest.mark.parametrize("where", ["task_defaults", "task_settings"])
def test_a_deferrable_producer_is_noted_at_compile(where):
    from kedro_airflow_k8s.compiler import compile_dag
    from kedro_airflow_k8s.config import parse_config

    raw = run(grouping="pipeline", grouping_mode="watched")
    if where == "task_defaults":
        raw["run_config"]["task_defaults"] = {"deferrable": True}
        tags = False
    else:
        raw["run_config"]["task_settings"] = {"slow": {"deferrable": True}}
        tags = True
    pipeline = grouped(tags=False)
    if tags:
        pipeline = Pipeline([n.tag(["task_settings.slow"]) if n.name == "load" else n
                             for n in pipeline.nodes])
    notes: list[str] = []
    compile_dag(pipeline, parse_config(raw), *split({}, package="demo", env="prod"),
                notify=notes.append)
    (note,) = [n for n in notes if "deferrable" in n]
    assert note.startswith("Note: task run__load__and_6_more runs its watched group's pod "
                           "deferrable: ")
    notes.clear()
    compile_dag(grouped(tags=False), parse_config(run(grouping="pipeline",
                                                      grouping_mode="watched")),
                *split({}, package="demo", env="prod"), notify=notes.append)
    assert not [n for n in notes if "deferrable" in n]


def test_a_task_of_a_single_node_is_never_watched():
    spec = compiled(Pipeline([node(step, "raw", "a", name="only")]),
                    run(grouping_mode="watched"))
    assert [t.operator for t in spec.tasks if t.kind == "node"] == [
        dagspec.Operator("airflow.providers.cncf.kubernetes.operators.pod",
                         "KubernetesPodOperator")]


def test_validate_builds_every_pod_of_a_watched_dag(tmp_path):
    """--validate's check, as the CLI runs it: the real KubernetesPodOperator builds the
    producer's pod (its runner after the nodes) and the node tasks' own pods."""
    path = tmp_path / "demo.py"
    path.write_text(render_dag(compiled(grouped(), run(grouping_mode="watched"))))
    assert validate.check_file(path, validate.default_k8s_version()) == []
    dag, problems = validate.load_dag(path)
    assert problems == []
    pods = validate.manifests(dag)
    producer = pods["run__load__ingest-clean__ingest-dedupe"]["spec"]["containers"][0]
    assert producer["args"][-4:] == ["--nodes", "load,ingest.clean,ingest.dedupe", "--runner",
                                     watched.RUNNER]
    assert {"name": "PYTHONUNBUFFERED", "value": "1"} in producer["env"]
    assert pods["ingest.dedupe"]["spec"]["containers"][0]["args"][-2:] == [
        "--nodes", "ingest.dedupe"]


def test_params_reach_the_producer_and_every_node_task():
    spec = compiled(grouped(tags=False), run(grouping="pipeline", grouping_mode="watched",
                                             macro_params=["ds"]), execution="local")
    envs = {task.task_id: task.arguments["env"] for task in spec.tasks}
    assert len(envs) == 8  # the producer and 7 nodes
    assert {env["KEDRO_PARAMS"] for env in envs.values()} == {
        "ds={{ (ds if ds is defined else dag_run.run_after | ds) | kedro_param }}"}


# -- the Kubernetes pieces (the real pod flow: tests/e2e/test_kubernetes.py) -----------------


def _pod(name: str = "run-a-b-xyz") -> Any:
    from kubernetes.client import models as k8s

    return k8s.V1Pod(metadata=k8s.V1ObjectMeta(name=name, namespace="kedro"))


def test_the_pod_s_log_lines_reach_the_node_tasks_as_the_provider_reads_them(monkeypatch):
    import airflow.sdk

    channel = Channel()
    monkeypatch.setattr(airflow.sdk, "get_current_context",
                        lambda: {"ti": channel, "dag_run": Run(clear_number=1)})
    monkeypatch.setattr(operators.WatchedLines, "events", {})
    pod = _pod()
    for line in (_marker("a", "start"), "a: one\na: two", _marker("a", "success")):
        operators.WatchedLines.progress_callback(line=line, client=None, mode="sync",
                                                 container_name="base", timestamp=None,
                                                 pod=pod)
    operators.WatchedLines.progress_callback(line=_marker("b", "start"), client=None,
                                             mode="sync", container_name="sidecar",
                                             timestamp=None, pod=pod)
    end = channel.xcom[("producer", "kedro_node.a")]
    assert (end["event"], end["lines"], end["clear_number"]) == ("success", ["a: one",
                                                                             "a: two"], 1)
    # the provider follows the log: nothing is read again when the pod completes
    operators.WatchedLines.on_pod_completion(pod=pod, client=None, mode="sync", operator=None,
                                             context={})
    assert list(channel.xcom) == [("producer", "kedro_node.a")]


def test_a_deferrable_pod_s_log_is_read_whole_when_it_completes(monkeypatch):
    monkeypatch.setattr(operators.WatchedLines, "events", {})
    channel = Channel()

    class Client:
        def read_namespaced_pod_log(self, name: str, namespace: str, container: str,
                                    _preload_content: bool) -> list[bytes]:
            assert (name, namespace, container, _preload_content) == (
                "run-a-b-xyz", "kedro", "base", False)
            return [(line + "\n").encode() for line in (
                _marker("a", "start"), "a: hi", _marker("a", "success"),
                _marker("b", "start"), _marker("b", "failed", error=["E"]))]

    task = operators.WatchedGroupPodOperator(task_id="producer", nodes=["a", "b"],
                                             runner=watched.RUNNER, image="demo:1",
                                             arguments=["run", "--nodes", "a,b"])
    assert task.arguments == ["run", "--nodes", "a,b", "--runner", watched.RUNNER]
    assert task.callbacks == [operators.WatchedLines]
    operators.WatchedLines.on_pod_completion(
        pod=_pod(), client=Client(), mode="sync", operator=task,
        context={"ti": channel, "dag_run": Run()})
    assert channel.xcom[("producer", "kedro_node.a")]["lines"] == ["a: hi"]
    assert channel.xcom[("producer", "kedro_node.b")]["event"] == "failed"


@pytest.mark.parametrize("failed_node, code_error, raised", [
    ("b", True, False),  # the pod failed because a node did: the node's task reports it
    (None, True, True),  # it failed outside the nodes
    ("b", False, True),  # the cluster ended it
])
def test_the_producer_pod_fails_only_when_no_node_s_failure_explains_it(
        monkeypatch, failed_node, code_error, raised):
    def cleanup(self: Any, *args: Any, **kwargs: Any) -> None:
        raise AirflowFailException("Pod returned a failure")

    monkeypatch.setattr(operators.NodePodOperator, "cleanup", cleanup)
    monkeypatch.setattr(operators.NodePodOperator, "node_error",
                        lambda self, pod: "exit code 1" if code_error else None)
    channel = Channel()
    if failed_node:
        channel.xcom_push(operators.NodeEvents.key(failed_node), {
            "event": "failed", "clear_number": 0})
    task = operators.WatchedGroupPodOperator(task_id="producer", nodes=["a", "b"],
                                             runner=watched.RUNNER, image="demo:1")
    context = {"ti": channel, "dag_run": Run()}
    if raised:
        with pytest.raises(AirflowException, match="Pod returned a failure"):
            task.cleanup(_pod(), _pod(), context=context)
    else:
        task.cleanup(_pod(), _pod(), context=context)


@pytest.mark.parametrize("infrastructure_only", [True, False])
def test_a_node_pod_task_s_own_pod_follows_its_retry_rule(monkeypatch, infrastructure_only):
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    called = []
    monkeypatch.setattr(operators.NodePodOperator, "cleanup",
                        lambda self, *a, **k: called.append("node"))
    monkeypatch.setattr(KubernetesPodOperator, "cleanup",
                        lambda self, *a, **k: called.append("provider"))
    task = operators.WatchedNodePodOperator(task_id="a", producer="producer", node="a",
                                            infrastructure_only=infrastructure_only,
                                            image="demo:1")
    task.cleanup(_pod(), _pod())
    assert called == ["node" if infrastructure_only else "provider"]


def test_a_node_pod_task_runs_its_own_pod_only_when_the_producer_did_not_run_it(monkeypatch):
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    ran = []
    monkeypatch.setattr(KubernetesPodOperator, "execute", lambda self, context: ran.append(1))
    task = operators.WatchedNodePodOperator(task_id="a", producer="producer", node="a",
                                            image="demo:1")
    channel = Channel(states=["success"])
    _ended(channel, "success")
    task.execute({"ti": channel, "dag_run": Run()})
    assert ran == []
    task.execute({"ti": channel, "dag_run": Run(clear_number=1)})  # cleared since
    assert ran == [1]
