"""Progress display, run ids and schedule without Airflow (the Airflow side: tests/test_ship_flow.py
against a stand-in, tests/e2e against a real Airflow)."""

import io
import re

import pytest
import yaml

from kedro_airflow_k8s.airflow_client import RunProgress
from kedro_airflow_k8s.display import RunDisplay
from kedro_airflow_k8s.errors import AirflowApiError
from kedro_airflow_k8s.ship import new_run_id
from tests import airflow_check
from tests.conftest import run_kedro, write_config


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_plain_lines_only_when_something_changed():
    out = io.StringIO()
    with RunDisplay(out) as display:
        display.show(RunProgress("queued", {"a": None, "b": None}))
        display.show(RunProgress("queued", {"a": None, "b": None}))
        display.show(RunProgress("running", {"a": "running", "b": None}))
        display.show(RunProgress("failed", {"a": "failed", "b": "upstream_failed"}))
    assert out.getvalue().splitlines() == [
        "0/2 tasks done, 0 running, 0 failed, run queued",
        "0/2 tasks done, 1 running, 0 failed, run running",
        "2/2 tasks done, 0 running, 1 failed, 1 upstream failed, run failed",
    ]


def test_terminal_gets_a_live_bar():
    out = Terminal()
    with RunDisplay(out) as display:
        display.show(RunProgress("running", {"a": "success", "b": "running", "c": None}))
        assert display.progress is not None
        bar = display.progress.tasks[0]
        assert (bar.completed, bar.total) == (1, 3)
        assert bar.fields["detail"] == "1 running, 0 failed, run running"


def test_lines_and_progress_show_in_the_order_the_steps_yield_them():
    from kedro_airflow_k8s.ship import drive

    def steps():
        yield "Triggered run r"
        yield RunProgress("running", {"a": "running"})
        yield RunProgress("failed", {"a": "failed"})
        yield "Last lines of the log of a:"
        return "r"

    out, terminal = io.StringIO(), Terminal()
    with RunDisplay(out) as display:
        assert drive(steps(), display.show) == "r"
    assert out.getvalue().splitlines() == [
        "Triggered run r", "0/1 tasks done, 1 running, 0 failed, run running",
        "1/1 tasks done, 0 running, 1 failed, run failed", "Last lines of the log of a:"]
    with RunDisplay(terminal) as display:  # a line while the bar shows is printed above it
        drive(steps(), display.show)
        assert display.progress is not None
    assert "Triggered run r" in terminal.getvalue()
    assert "Last lines of the log of a:" in terminal.getvalue()


def test_run_ids_are_unique_and_url_friendly():
    ids = {new_run_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"kedro_airflow_k8s__\d{8}T\d{6}Z__[0-9a-f]{6}", i) for i in ids)


@pytest.mark.parametrize("flags, paused", [((), False), (("--paused",), True)])
def test_schedule_without_a_host_renders_the_pause_state(demo_project, tmp_path, flags, paused):
    """Airflow creates new DAGs paused by default: a scheduled DAG says otherwise itself, so
    that it runs where the CLI cannot reach Airflow (git-sync, a bucket)."""
    config = yaml.safe_load((demo_project / "conf/base/airflow-k8s.yaml").read_text())
    del config["host"]
    write_config(demo_project, config)
    result = run_kedro(demo_project, "airflow-k8s", "schedule", "-c", "@daily", *flags,
                       "-o", str(tmp_path / "dags"))
    assert result.returncode == 0, result.stderr
    state = "paused" if paused else "unpaused"
    assert result.stdout.splitlines()[-2:] == [
        f"Uploaded {tmp_path / 'dags' / 'demo.py'}, scheduled @daily.",
        f"Not checked with Airflow (no host in airflow-k8s.yaml): a new DAG starts {state}; "
        "an existing one keeps its paused state."]
    dag = airflow_check.load_dag(tmp_path / "dags" / "demo.py")
    assert dag.is_paused_upon_creation is paused


def test_other_commands_keep_airflow_s_pause_default(demo_project):
    result = run_kedro(demo_project, "airflow-k8s", "compile")
    assert result.returncode == 0, result.stderr
    assert "is_paused_upon_creation" not in (demo_project / "dags" / "demo.py").read_text()


def test_prepare_yields_the_compilers_notes_and_returns_the_dag(demo_project):
    """ship's steps yield what the user reads; the caller decides how to show it."""
    from kedro_airflow_k8s.context import KedroProject
    from kedro_airflow_k8s.options import CompileOptions
    from kedro_airflow_k8s.ship import drive, prepare

    lines = []
    spec, text = drive(prepare(KedroProject.at(path=demo_project),
                               CompileOptions(execution="local", dag_id="typed")),
                       lines.append)
    assert spec.dag_id == "typed" and spec.execution == "local"
    assert text.startswith('"""Kedro pipeline')
    assert lines == ["Note: local execution runs each task as a subprocess on the Airflow "
                     "worker; the volume, pod templates, resources, secrets and Spark clusters "
                     "are left out."]


def test_schedule_all_without_a_host(demo_project, tmp_path):
    config = yaml.safe_load((demo_project / "conf/base/airflow-k8s.yaml").read_text())
    del config["host"]
    write_config(demo_project, config)
    out = tmp_path / "dags"
    result = run_kedro(demo_project, "airflow-k8s", "schedule", "--all", "-c", "@daily",
                       "-o", str(out))
    assert result.returncode == 0, result.stderr
    dag_ids = ["demo-features", "demo-ingest", "demo-modelling"]
    assert result.stdout.splitlines()[-4:] == [
        *(f"Uploaded {out / dag_id}.py, scheduled @daily." for dag_id in dag_ids),
        "Not checked with Airflow (no host in airflow-k8s.yaml): a new DAG starts unpaused; "
        "an existing one keeps its paused state."]
    assert sorted(p.name for p in out.iterdir()) == [f"{d}.py" for d in dag_ids]
    for dag_id in dag_ids:
        dag = airflow_check.load_dag(out / f"{dag_id}.py")
        assert (dag.dag_id, dag.is_paused_upon_creation) == (dag_id, False)
        assert "schedule='@daily'," in (out / f"{dag_id}.py").read_text()


def test_with_all_each_compile_note_names_its_pipeline(demo_project):
    """--all with run_config.assets and grouping: a note of one pipeline's compile (an
    assets pattern selecting none of its datasets, a shared task) says which pipeline; a
    single pipeline's notes stay as they were."""
    from kedro_airflow_k8s.context import KedroProject
    from kedro_airflow_k8s.ship import drive, prepare, prepare_each

    config = yaml.safe_load((demo_project / "conf/base/airflow-k8s.yaml").read_text())
    config["run_config"].update(grouping="namespace", assets={"exclude": ["customer_count"]})
    write_config(demo_project, config)
    lines: list = []
    prepared = drive(prepare_each(KedroProject.at(path=demo_project).every_pipeline(
        with_default=True)), lines.append)
    # each pipeline's DAG has its own Params and assets, and the project's one version
    assert {spec.dag_id: (sorted(spec.trigger_params), sorted(spec.assets))
            for spec, _ in prepared} == {
        "demo": (["min_amount"], ["features.daily_totals", "model", "orders", "raw_orders",
                                  "report", "scaled_totals"]),
        "demo-features": ([], ["features.daily_totals", "orders", "scaled_totals"]),
        "demo-ingest": (["min_amount"], ["orders", "raw_orders"]),
        "demo-modelling": ([], ["model", "report", "scaled_totals"])}
    assert len({spec.project_version for spec, _ in prepared}) == 1
    in_pods = [line for line in lines if "live in the pods" in line]  # data/...: no outlets
    assert [line.split(":")[0] for line in in_pods] == [
        f"pipeline '{name}'" for name in ("__default__", "features", "ingest", "modelling")]
    lines = [line for line in lines if line not in in_pods]
    assert lines == [
        "pipeline '__default__': One task runs features.daily_totals, features.scale "
        "(namespace features).",
        "pipeline 'features': One task runs features.daily_totals, features.scale (namespace "
        "features).",
        "pipeline 'features': Note: run_config.assets.exclude: 'customer_count' matches no "
        "persisted dataset of the pipeline."]
    lines.clear()
    drive(prepare(KedroProject.at(path=demo_project, pipeline_name="features")), lines.append)
    assert lines[0].startswith("One task runs")


def test_every_pipeline_shares_one_bootstrap_and_one_config_load(demo_project, monkeypatch):
    """--all compiles each pipeline from one bootstrapped project: Kedro's bootstrap, the
    plugin's config and the catalog are loaded once, not once per pipeline."""
    import kedro.framework.startup

    from kedro_airflow_k8s import project_config
    from kedro_airflow_k8s.catalog_view import CatalogView
    from kedro_airflow_k8s.context import KedroProject
    from kedro_airflow_k8s.ship import drive, prepare_each

    calls = {"bootstrap": 0, "config": 0, "catalog": 0}

    def counted(name, function):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(kedro.framework.startup, "bootstrap_project",
                        counted("bootstrap", kedro.framework.startup.bootstrap_project))
    monkeypatch.setattr(project_config, "load_plugin_config",
                        counted("config", project_config.load_plugin_config))
    monkeypatch.setattr(CatalogView, "_catalog_part",
                        counted("catalog", CatalogView._catalog_part))
    projects = KedroProject.at(path=demo_project).every_pipeline(with_default=True)
    assert [p.pipeline_name for p in projects] == [
        "__default__", "features", "ingest", "modelling"]
    prepared = drive(prepare_each(projects))
    assert [spec.dag_id for spec, _ in prepared] == [
        "demo", "demo-features", "demo-ingest", "demo-modelling"]
    assert [spec.pipeline for spec, _ in prepared] == [p.pipeline_name for p in projects]
    # catalog, credentials and parameters
    assert calls == {"bootstrap": 1, "config": 1, "catalog": 3}


def test_waiting_for_airflow_says_what_it_waits_for_while_it_waits(httpserver):
    """A stand-in for Airflow (pytest-httpserver) that finds the new file only when the test
    says so, as a DAG processor at its next scan of the DAG folder: the wait says why at once
    and again while it lasts, not only at its end."""
    from kedro_airflow_k8s.ship import Before, await_version
    from tests.test_airflow_client import fast_client

    text = "the DAG file"
    found = {"yet": False}

    def source(request):
        from werkzeug import Response

        if not found["yet"]:
            return Response('{"detail": "not found"}', status=404,
                            content_type="application/json")
        return Response(__import__("json").dumps(
            {"content": text, "dag_id": "demo", "version_number": 1,
             "dag_display_name": "demo"}), content_type="application/json")

    httpserver.expect_request("/api/v2/dagSources/demo").respond_with_handler(source)
    httpserver.expect_request("/api/v2/importErrors").respond_with_json(
        {"import_errors": [], "total_entries": 0})
    client = fast_client(httpserver.url_for("").rstrip("/"), AIRFLOW_API_TOKEN="t")
    steps = await_version(client, "demo", text, timeout=60, interval=0.05, note_every=0.2,
                          before=Before(dag=None, problems=frozenset()))
    assert next(steps) == (
        "Waiting for Airflow to find the new file demo.py: its DAG processor looks for new "
        "files in the DAG folder every [dag_processor] refresh_interval (300 s by default, a "
        "deployment may set it lower: see Troubleshooting in the docs), then parses them.")
    assert next(steps).startswith("Still waiting: Airflow has not found demo.py yet; 0 s so "
                                  "far, at most 60 s.")
    found["yet"] = True
    assert list(steps) == []
    # never found: the wait gives up at its timeout, naming what to check
    found["yet"] = False
    with pytest.raises(AirflowApiError) as error:
        list(await_version(client, "demo", text, timeout=0.3, interval=0.05))
    assert str(error.value) == (
        f"Airflow at {client.host} did not load this version of DAG 'demo' within 0 s: check "
        "the DAG processor and the import errors in the UI")
