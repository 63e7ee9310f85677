"""Scheduling a DAG on data: run_config.schedule_on, `schedule --on-assets`, the schedule
Airflow builds from the file, and what --validate refuses."""

import pytest
import yaml
from kedro.pipeline import Pipeline, node

from kedro_airflow_k8s import validate as preflight
from kedro_airflow_k8s.asset_schedule import AssetCondition, from_config, from_expression
from kedro_airflow_k8s.compiler import compile_dag
from kedro_airflow_k8s.config import parse_config
from kedro_airflow_k8s.dagspec import Call, Ref
from kedro_airflow_k8s.errors import CompileError, ConfigError
from kedro_airflow_k8s.render import render_dag
from tests import airflow_check
from tests.conftest import run_kedro
from tests.spec_helpers import split
from tests.test_cli import assert_one_line_error
from tests.test_config import MINIMAL


def test_the_on_assets_grammar():
    assert from_expression("orders") == AssetCondition("all", ("orders",))
    assert from_expression("a, b") == AssetCondition("all", ("a", "b"))
    # ',' binds tighter than '|', as & does over | in Python
    assert from_expression("a,b|c") == AssetCondition(
        "any", (AssetCondition("all", ("a", "b")), "c"))
    assert from_expression("s3://lake/x,(other:y|kedro://p/z)") == AssetCondition(
        "all", ("s3://lake/x", AssetCondition("any", ("other:y", "kedro://p/z"))))
    assert from_expression("a|a") == AssetCondition("any", ("a",))


@pytest.mark.parametrize("text, problem", [
    ("", "a reference is missing"),
    ("a,", "a reference is missing"),
    ("(a|b", "a '(' is not closed"),
    ("a)b", "unexpected ')'"),
])
def test_a_bad_on_assets_expression_is_one_line_naming_the_option(text, problem):
    with pytest.raises(ConfigError) as error:
        from_expression(text)
    assert str(error.value) == (
        f"--on-assets: {problem} in {text!r}; write references joined by ',' (all of) and "
        "'|' (any of), e.g. 'orders,(s3://b/x|other:y)'")


def test_the_config_forms():
    assert from_config("orders") == AssetCondition("all", ("orders",))
    assert from_config(["a", {"any": ["b", {"all": ["c", "d"]}]}]) == AssetCondition(
        "all", ("a", AssetCondition("any", ("b", AssetCondition("all", ("c", "d"))))))
    assert from_config(None) is None


@pytest.mark.parametrize("value, problem", [
    ([], "run_config.schedule_on: an empty list schedules on nothing"),
    ({"one": ["a"]}, "run_config.schedule_on: a mapping has one key, all or any, got ['one']"),
    (["a", {"any": []}], "run_config.schedule_on: [1].any: an empty list schedules on nothing"),
    ({"all": "a"}, "run_config.schedule_on: all: expected a list, got 'a'"),
    (["a", " b"], "run_config.schedule_on: [1]: ' b' is no dataset name or asset URI (empty, "
                  "or spaces at its ends)"),
    (3, "run_config.schedule_on: expected a dataset name, an asset URI, a list of them or "
        "{all: [...]} / {any: [...]}, got 3"),
])
def test_a_bad_schedule_on_is_refused_naming_the_key(value, problem):
    raw = {**MINIMAL, "run_config": {**MINIMAL["run_config"], "schedule_on": value}}
    with pytest.raises(ConfigError) as error:
        parse_config(raw)
    assert str(error.value).endswith(problem), str(error.value)


def chain():
    return Pipeline([node(lambda x: x, "orders", "totals", name="totals"),
                     node(lambda x: x, "totals", "report", name="report")])


LOCATIONS = {"report": "s3a://lake/report/", "orders": "data/orders.csv"}


def compiled(expression, schedule=None, **run):
    raw = {**MINIMAL, "run_config": {**MINIMAL["run_config"], **run}}
    return compile_dag(chain(), parse_config(raw), *split(
        {"dataset_location": LOCATIONS.get, "schedule": schedule,
         "schedule_on": from_expression(expression)}, package="demo", env="base",
        is_persisted=lambda name: name in {"orders", "totals", "report", "other"}))


def test_references_become_the_uris_of_the_asset_rule():
    # local execution: the relative data/orders.csv stays in the worker's project folder
    spec = compiled("orders,ingest:raw_orders@pandas,S3A://Lake/x/,other", execution="local")
    assert spec.schedule_assets == {
        "orders": "kedro://demo/orders",  # a dataset of this project, by its catalog entry
        "ingest:raw_orders@pandas": "kedro://ingest/raw_orders",  # another project's
        "S3A://Lake/x/": "s3://Lake/x",  # a URI, normalised as a location is
        "other": "kedro://demo/other"}  # in the catalog, not in this pipeline
    # the assets the file declares are reused, the others defined in the schedule
    assert spec.schedule == [Ref("ASSETS", "orders"),
                             Call("Asset", ("kedro://ingest/raw_orders",)),
                             Call("Asset", ("s3://Lake/x",)),
                             Call("Asset", ("kedro://demo/other",))]


@pytest.mark.parametrize("location", ["data/orders.csv", "/home/kedro/data/orders.csv",
                                      "output/orders.csv"])
def test_a_dataset_gone_after_the_run_is_no_schedule_reference(location, monkeypatch):
    """In the pods a relative path or one under the per-run volume's mount path does not
    outlive the run: no update of it is recorded, so a DAG on it would never run."""
    monkeypatch.setitem(LOCATIONS, "orders", location)
    with pytest.raises(CompileError) as error:
        compiled("report|orders")
    assert str(error.value) == (
        f"schedule_on: 'orders' is written to {location} in the pods (the per-run volume, or "
        "the pod's own disk), which is gone after each run: no update of it is recorded; "
        "schedule on a dataset in remote storage (gs://, s3://, a database), or move this "
        "one there in the catalog")


def test_the_dag_airflow_builds_runs_on_the_condition(tmp_path):
    spec = compiled("report|(ingest:orders,s3://lake/x)")
    path = tmp_path / "demo.py"
    path.write_text(render_dag(spec))
    dag = airflow_check.load_dag(path)
    assert type(dag.timetable).__name__ == "AssetTriggeredTimetable"
    condition = dag.timetable.asset_condition
    assert type(condition).__name__ == "AssetAny"
    first, second = condition.objects
    assert first.uri == "s3://lake/report"  # ASSETS['report']
    assert type(second).__name__ == "AssetAll"
    assert [a.uri for a in second.objects] == ["kedro://ingest/orders", "s3://lake/x"]
    assert "schedule=AssetAny(\n        ASSETS['report']," in path.read_text()


def test_a_cron_with_the_assets_runs_on_either(tmp_path):
    spec = compiled("report", schedule="0 3 * * 1-5")
    path = tmp_path / "demo.py"
    path.write_text(render_dag(spec))
    dag = airflow_check.load_dag(path)
    assert type(dag.timetable).__name__ == "AssetOrTimeSchedule"
    assert dag.timetable.summary == "Asset or 0 3 * * 1-5"
    assert dag.timetable.asset_condition.uri == "s3://lake/report"
    with pytest.raises(ConfigError, match="^--cron-expression: @continuous does not combine "):
        compiled("report", schedule="@continuous")


@pytest.mark.parametrize("expression, problem", [
    ("missing", "schedule_on: 'missing' is no persisted dataset of this project's catalog: "
                "name another project's dataset as <package>:<dataset>, or give its asset URI "
                "(s3://..., kedro://<package>/<dataset>)"),
    ("gs:///x", "schedule_on: 'gs:///x' is no asset URI Airflow can key an event by (a "
                "scheme and a host or bucket)"),
    ("airflow://x/y", "schedule_on: dataset 'airflow://x/y': asset URI 'airflow://x/y' is "
                      "refused by Airflow (the scheme 'airflow' is Airflow's own): change "
                      "its location in the catalog or leave it out with "
                      "run_config.assets.exclude"),
    ("kedro://ingest", "schedule_on: 'kedro://ingest' is no kedro://<package>/<dataset> URI: "
                       "it names no dataset of package 'ingest'"),
    ("kedro://ingest/raw/orders", "schedule_on: 'kedro://ingest/raw/orders' is no "
                                  "kedro://<package>/<dataset> URI: its path '/raw/orders' is "
                                  "more than one dataset name (a '/' in a dataset name is "
                                  "written %2F)"),
])
def test_a_reference_with_no_asset_is_a_compile_error(expression, problem):
    with pytest.raises(CompileError) as error:
        compiled(expression)
    assert str(error.value) == problem


DATED = ["ds", "ds_nodash", "ts", "ts_nodash", "ts_nodash_with_tz", "logical_date",
         "data_interval_start", "data_interval_end", "prev_data_interval_start_success",
         "prev_data_interval_end_success"]


@pytest.mark.parametrize("execution", ["kubernetes", "local"])
def test_macro_params_of_the_logical_date_fall_back_to_run_after_without_one(
        tmp_path, execution):
    """Runs without a logical date (asset-triggered, or triggered through the API without
    one) lack ds and the like, and Airflow's templates are strict: every name falls back to
    the run's run_after (no previous data interval), in the task Airflow renders, whose
    --params Kedro reads. A run with a logical date keeps its own values."""
    from airflow.sdk.definitions._internal.templater import FILTERS

    from tests.test_params import kedro_reads

    spec = compile_dag(chain(), parse_config(
        {**MINIMAL, "run_config": {**MINIMAL["run_config"], "macro_params": ["run_id", *DATED],
                                   "volume": {"disabled": True}}}), *split(
        {"schedule_on": from_expression("report"), "execution": execution}, package="demo",
        env="base", path=str(tmp_path), python="python"))
    path = tmp_path / "demo.py"
    path.write_text(render_dag(spec))
    dag = airflow_check.load_dag(path)
    task = dag.get_task("totals")
    due = preflight.SAMPLE_LOGICAL_DATE
    values = {}
    for dated in (False, True):
        context = preflight.template_context(task, dated=dated)
        if dated:  # a logical date other than run_after: each name keeps its own
            context = preflight.template_context(task)
            for name in DATED[:8]:
                context[name] = {"ds": "2025-12-31", "ds_nodash": "20251231"}.get(name, name)
        rendered = task.render_template(
            task.env["KEDRO_PARAMS"] if execution == "local" else task.arguments[-1],
            context, dag.get_template_env())
        values[dated] = kedro_reads(rendered)
    expected = {name: FILTERS[name](due) for name in DATED[:5]}
    expected["ds_nodash"] = int(expected["ds_nodash"])  # a plain word: Kedro reads YAML
    assert values[False] == {
        "run_id": preflight.SAMPLE_RUN_ID, **expected,
        **dict.fromkeys(("logical_date", "data_interval_start", "data_interval_end"),
                        str(due)),
        "prev_data_interval_start_success": "None", "prev_data_interval_end_success": "None"}
    assert values[True]["ds"] == "2025-12-31" and values[True]["ts"] == "ts"


def test_without_schedule_on_the_schedule_is_the_cron():
    assert compile_dag(chain(), parse_config(MINIMAL), *split(
        {"schedule": "@daily"}, package="demo", env="base")).schedule == "@daily"


def test_validate_names_the_reference_whose_uri_a_provider_refuses():
    assert preflight.asset_problems({}, {"bq": "bigquery://p/only"}) == [
        "schedule_on: 'bq': Airflow refuses its asset URI 'bigquery://p/only': URI format "
        "bigquery:// must contain dataset and table names (change --on-assets or "
        "run_config.schedule_on)"]


def point_at_nothing(project, **run):
    path = project / "conf/base/airflow-k8s.yaml"
    config = yaml.safe_load(path.read_text())
    config["host"] = None  # schedule uploads without asking Airflow
    config["run_config"].update(run)
    path.write_text(yaml.safe_dump(config))


def test_schedule_uploads_a_dag_on_the_config_s_data(demo_project):
    # local execution: orders (data/02_intermediate/) outlives the run on the worker
    point_at_nothing(demo_project, schedule_on={"any": ["orders", "ingest:raw_orders"]},
                     execution="local")
    result = run_kedro(demo_project, "airflow-k8s", "-p", "features", "schedule", "-o",
                       "shipped")
    assert result.returncode == 0, result.stderr
    assert ("Uploaded shipped/demo-features.py, scheduled on updates of kedro://demo/orders, "
            "kedro://ingest/raw_orders.") in result.stdout, result.stdout
    dag = airflow_check.load_dag(demo_project / "shipped" / "demo-features.py")
    assert [a.uri for a in dag.timetable.asset_condition.objects] == [
        "kedro://demo/orders", "kedro://ingest/raw_orders"]
    # --on-assets wins over the config; -c adds the cron
    result = run_kedro(demo_project, "airflow-k8s", "-p", "features", "schedule", "-o",
                       "shipped", "--on-assets", "s3://lake/x", "-c", "@hourly")
    assert result.returncode == 0, result.stderr
    assert "scheduled on updates of s3://lake/x, or @hourly." in result.stdout
    dag = airflow_check.load_dag(demo_project / "shipped" / "demo-features.py")
    assert dag.timetable.summary == "Asset or 0 * * * *"


def test_schedule_refuses_a_bad_on_assets_in_one_line(demo_project):
    point_at_nothing(demo_project)
    result = run_kedro(demo_project, "airflow-k8s", "schedule", "-o", "shipped",
                       "--on-assets", "orders,(model")
    assert_one_line_error(result, 2, "--on-assets: a '(' is not closed in 'orders,(model'; "
                          "write references joined by ',' (all of) and '|' (any of), e.g. "
                          "'orders,(s3://b/x|other:y)'")
    result = run_kedro(demo_project, "airflow-k8s", "schedule", "-o", "shipped",
                       "--on-assets", "nothing_here")
    assert_one_line_error(result, 2, "schedule_on: 'nothing_here' is no persisted dataset of "
                          "this project's catalog: name another project's dataset as "
                          "<package>:<dataset>, or give its asset URI (s3://..., "
                          "kedro://<package>/<dataset>)")
    assert not (demo_project / "shipped").exists()
