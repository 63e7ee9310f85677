"""Kedro datasets as Airflow Assets: the URI rule, the catalog read for it, the tasks'
inlets and outlets as Airflow builds them, and what --validate refuses."""

import pytest
import yaml
from kedro.pipeline import Pipeline, node

from kedro_airflow_k8s import validate as preflight
from kedro_airflow_k8s.assets import asset_uri, dataset_location, layer_of
from kedro_airflow_k8s.compiler import compile_dag
from kedro_airflow_k8s.config import parse_config
from kedro_airflow_k8s.context import KedroProject
from kedro_airflow_k8s.dagspec import Ref
from kedro_airflow_k8s.errors import CompileError, ConfigError
from tests import airflow_check
from tests.conftest import run_kedro
from tests.spec_helpers import split
from tests.test_cli import assert_one_line_error
from tests.test_config import MINIMAL


@pytest.mark.parametrize("location, uri", [
    ("s3://bucket/raw/orders.csv", "s3://bucket/raw/orders.csv"),
    ("s3a://bucket/raw/", "s3://bucket/raw"),
    ("S3N://bucket/raw", "s3://bucket/raw"),
    ("gcs://lake/clean.pq", "gs://lake/clean.pq"),
    ("gs://lake/clean.pq", "gs://lake/clean.pq"),
    ("abfs://container@account.dfs.core.windows.net/x.csv",
     "abfs://container@account.dfs.core.windows.net/x.csv"),
    ("https://example.com/data.csv?token=abc#part", "https://example.com/data.csv"),
    ("/mnt/shared/out put.csv", "file:///mnt/shared/out%20put.csv"),
    ("file:///mnt/shared/x.csv", "file:///mnt/shared/x.csv"),
    # not globally addressable: on the pod's disk, or the per-run volume
    ("data/01_raw/orders.csv", "kedro://demo/features.orders"),
    ("./data/x.csv", "kedro://demo/features.orders"),
    ("C:\\data\\x.csv", "kedro://demo/features.orders"),
    ("gs:///no-bucket", "kedro://demo/features.orders"),
    (None, "kedro://demo/features.orders"),
])
def test_the_asset_uri_of_a_location(location, uri):
    assert asset_uri("demo", "features.orders", location) == uri


@pytest.mark.parametrize("location", [
    "s3://AKIAXXXX:wJalrXUtnFEMI@bucket/x.csv", "s3://AKIAXXXX@bucket/x.csv",
    "abfs://user:pass@container/x.csv", "https://user:pass@example.com/x.csv?sig=s3cr3t",
])
def test_no_credential_reaches_an_asset_uri(location):
    uri = asset_uri("demo", "x", location)
    for secret in ("AKIAXXXX", "wJalrXUtnFEMI", "pass", "s3cr3t"):
        assert secret not in uri


def test_an_absolute_path_on_the_per_run_volume_is_not_addressable():
    assert asset_uri("demo", "x", "/home/kedro/data/x.csv", "/home/kedro/data") == \
        "kedro://demo/x"
    assert asset_uri("demo", "x", "/home/kedro/database/x.csv", "/home/kedro/data") == \
        "file:///home/kedro/database/x.csv"
    raw = {**MINIMAL, "run_config": {**MINIMAL["run_config"]}}
    locations = {"raw": "/home/kedro/data/raw.csv", "report": "/srv/report.csv"}.get
    absolute = "file:///home/kedro/data/raw.csv"
    for execution, volume, uri in [("kubernetes", {}, "kedro://demo/raw"),
                                   ("kubernetes", {"disabled": True}, absolute),
                                   ("local", {}, absolute)]:
        raw["run_config"]["volume"] = volume
        spec = compile_dag(chain(), parse_config(raw), *split(
            {"execution": execution}, package="demo", env="base", dataset_location=locations,
            is_persisted=lambda name: name != "tmp"))
        assert (spec.assets["raw"], spec.assets["report"]) == (uri, "file:///srv/report.csv")


def test_a_dataset_name_that_is_no_uri_path_is_quoted():
    assert asset_uri("demo", "my data/x", None) == "kedro://demo/my%20data%2Fx"


@pytest.mark.parametrize("config, location", [
    ({"type": "pandas.CSVDataset", "filepath": "s3://b/x.csv", "versioned": True,
      "credentials": {"key": "K", "secret": "S"}}, "s3://b/x.csv"),
    ({"type": "spark.SparkDataset", "path": "gs://lake/t"}, "gs://lake/t"),
    ({"type": "pandas.SQLTableDataset", "table_name": "orders",
      "credentials": {"con": "postgresql+psycopg2://etl:hunter2@db.example.com/shop"},
      "save_args": {"schema": "sales"}}, "postgres://db.example.com:5432/shop/sales/orders"),
    ({"type": "pandas.SQLTableDataset", "table_name": "orders",
      "credentials": {"con": "postgresql://etl:hunter2@db:6432/shop"}},
     "postgres://db:6432/shop/public/orders"),
    ({"type": "pandas.SQLTableDataset", "table_name": "orders",
      "credentials": {"con": "mysql+pymysql://etl:hunter2@db/shop"}},
     "mysql://db:3306/shop/orders"),
    ({"type": "pandas.SQLTableDataset", "table_name": "orders",
      "credentials": {"con": "sqlite:///local.db"}}, None),
    ({"type": "pandas.GBQTableDataset", "dataset": "sales", "table_name": "orders",
      "project": "my-project", "credentials": {"token": "T"}},
     "bigquery://my-project/sales/orders"),
    ({"type": "pandas.SQLQueryDataset", "sql": "select 1",
      "credentials": {"con": "postgresql://etl:hunter2@db/shop"}}, None),
    ({"type": "kedro.io.MemoryDataset"}, None),
    ({}, None),
])
def test_the_location_a_catalog_entry_names(config, location):
    assert dataset_location(config) == location


def test_the_layer_is_kedro_vizs():
    assert layer_of({"metadata": {"kedro-viz": {"layer": "raw"}}}) == "raw"
    assert layer_of({"metadata": {"kedro-viz": {}}}) is None and layer_of({}) is None


def chain():
    return Pipeline([
        node(lambda x: x, "raw", "clean", name="clean"),
        node(lambda x: x, "clean", "tmp", name="parse"),
        node(lambda x: x, "tmp", "model@pandas", name="store"),
        node(lambda x, y: x, ["model@spark", "params:alpha"], "report", name="report"),
    ])


def compiled(assets=None, notify=lambda line: None, **source):
    raw = {**MINIMAL, "run_config": {**MINIMAL["run_config"], "assets": assets or {}}}
    return compile_dag(chain(), parse_config(raw), *split(
        source, package="demo", env="base", is_persisted=lambda name: name != "tmp"),
        notify=notify)


def test_tasks_read_and_write_assets_a_group_its_outside_ones():
    spec = compiled(dataset_location={"model@pandas": "s3://m/model",
                                      "model@spark": "s3://m/model/"}.get)
    assert spec.assets == {"clean": "kedro://demo/clean", "model@pandas": "s3://m/model",
                           "model@spark": "s3://m/model", "raw": "kedro://demo/raw",
                           "report": "kedro://demo/report"}
    assert spec.task("clean").arguments == {"inlets": [Ref("ASSETS", "raw")],
                                            "outlets": [Ref("ASSETS", "clean")]}
    grouped = spec.task("parse__store")  # tmp is in memory: not an asset, not an inlet
    assert grouped.arguments == {"inlets": [Ref("ASSETS", "clean")],
                                 "outlets": [Ref("ASSETS", "model@pandas")]}
    assert spec.task("report").arguments == {"inlets": [Ref("ASSETS", "model@spark")],
                                             "outlets": [Ref("ASSETS", "report")]}


def test_datasets_gone_after_the_run_are_no_outlets():
    """In the pods, `clean` (relative: per-run volume) and `report` (under its mount path)
    end with the run: inlets still, no task's outlets, so Airflow records no update of
    them. A mounted share, a bucket, and local execution's project folder outlive it."""
    locations = {"raw": "/mnt/share/raw.csv", "clean": "data/02_intermediate/clean.csv",
                 "model@pandas": "s3://m/model", "model@spark": "s3://m/model",
                 "report": "/home/kedro/data/08_reporting/report.csv"}.get
    outlets = {}
    for execution in ("kubernetes", "local"):
        notes = []
        spec = compiled(dataset_location=locations, execution=execution, notify=notes.append)
        outlets[execution] = {task.task_id: task.arguments.get("outlets")
                              for task in spec.tasks_of("node")}
        assert Ref("ASSETS", "clean") in spec.task("parse__store").arguments["inlets"]
        assert [n for n in notes if "gone after" in n] == ([
            "Note: clean, report live in the pods (the per-run volume or the pod's own "
            "disk), gone after each run: assets read as inlets, no task's outlets, so "
            "Airflow records no update of them."] if execution == "kubernetes" else [])
    assert outlets == {
        "kubernetes": {"clean": None, "parse__store": [Ref("ASSETS", "model@pandas")],
                       "report": None},
        "local": {"clean": [Ref("ASSETS", "clean")],
                  "parse__store": [Ref("ASSETS", "model@pandas")],
                  "report": [Ref("ASSETS", "report")]}}


def test_include_exclude_and_layers_select_the_assets():
    notes = []
    spec = compile_dag(chain(), parse_config({**MINIMAL, "run_config": {
        **MINIMAL["run_config"], "assets": {"include": ["r*", "clean", "nothing*"],
                                            "exclude": ["rep?rt"], "layers": ["raw", "x"]}}}),
        *split({}, package="demo", env="base", is_persisted=lambda name: name != "tmp",
               dataset_layer={"raw": "raw", "report": "raw", "clean": "primary"}.get),
        notify=notes.append)
    assert spec.assets == {"raw": "kedro://demo/raw"}
    assert spec.task("clean").arguments == {"inlets": [Ref("ASSETS", "raw")]}
    assert notes[1:] == [
        "Note: run_config.assets.include: 'nothing*' matches no persisted dataset of the "
        "pipeline.",
        "Note: run_config.assets.layers: no persisted dataset of the pipeline is in layer 'x'."]


def test_transcoded_datasets_are_one_asset():
    spec = compiled()
    assert spec.assets["model@pandas"] == spec.assets["model@spark"] == "kedro://demo/model"


def test_assets_off_leave_the_tasks_as_they_were():
    spec = compiled({"enabled": False})
    assert spec.assets == {} and all(not t.arguments for t in spec.tasks_of("node"))
    assert ("airflow.sdk", "Asset") not in spec.imports


@pytest.mark.parametrize("pattern, problem", [
    ("", "an empty pattern matches no dataset"),
    ("raw_[ab", "'raw_[ab' opens a '[' it does not close"),
    (" raw", "' raw' has spaces at its ends, which no dataset name has"),
])
def test_a_bad_pattern_is_refused_naming_the_key(pattern, problem):
    with pytest.raises(ConfigError) as error:
        parse_config({**MINIMAL, "run_config": {**MINIMAL["run_config"],
                                                 "assets": {"exclude": ["ok*", pattern]}}})
    assert str(error.value) == f"airflow-k8s.yaml: run_config.assets.exclude: {problem}"


def test_a_location_airflow_always_refuses_is_a_compile_error():
    with pytest.raises(CompileError) as error:
        compiled(dataset_location={"report": "airflow://x/report"}.get)
    assert str(error.value) == (
        "dataset 'report': asset URI 'airflow://x/report' is refused by Airflow (the scheme "
        "'airflow' is Airflow's own): change its location in the catalog or leave it out "
        "with run_config.assets.exclude")


CATALOG = """
model:
  type: demo.datasets.JSONDataset
  filepath: s3a://AKIAKEY:topsecret@models/model.json
  versioned: true
report:
  type: demo.datasets.JSONDataset
  filepath: /srv/reports/report.json
  metadata:
    kedro-viz:
      layer: reporting
customer_count:
  type: pandas.SQLTableDataset
  table_name: customers
  credentials: warehouse
"features.{name}":
  type: demo.datasets.JSONDataset
  filepath: gs://lake/features/{name}.json
"""


def catalog_with_locations(project):
    catalog = project / "conf/base/catalog.yml"
    entries = yaml.safe_load(catalog.read_text())
    for name in ("model", "report", "customer_count", "features.daily_totals"):
        del entries[name]
    catalog.write_text(yaml.safe_dump(entries) + CATALOG)
    (project / "conf/base/credentials.yml").write_text(
        "warehouse:\n  con: postgresql+psycopg2://etl:hunter2@db.example.com/shop\n")


def test_the_project_reads_locations_from_its_catalog(demo_project):
    catalog_with_locations(demo_project)
    kedro = KedroProject.at(path=demo_project)
    assert kedro.dataset_location("model") == "s3a://AKIAKEY:topsecret@models/model.json"
    assert kedro.dataset_location("features.daily_totals") == \
        "gs://lake/features/daily_totals.json"  # a dataset factory, resolved
    assert kedro.dataset_location("customer_count") == \
        "postgres://db.example.com:5432/shop/public/customers"  # no login
    assert kedro.dataset_location("orders") == "data/02_intermediate/orders.json"
    assert kedro.dataset_location("params:min_amount") is None
    assert kedro.dataset_layer("report") == "reporting"


def test_compile_declares_the_assets_airflow_builds_for_the_tasks(demo_project):
    catalog_with_locations(demo_project)
    result = run_kedro(demo_project, "airflow-k8s", "compile")
    assert result.returncode == 0, result.stderr
    assert ("demo declares 7 Airflow assets (Kedro datasets as its tasks' inlets and "
            "outlets, run_config.assets).") in result.stdout.splitlines()
    path = demo_project / "dags" / "demo.py"
    text = path.read_text()
    assert "topsecret" not in text and "hunter2" not in text and "AKIAKEY" not in text
    dag = airflow_check.load_dag(path)

    def uris(task_id, key):
        return [asset.uri for asset in getattr(dag.get_task(task_id), key)]

    assert uris("clean_orders", "inlets") == ["kedro://demo/raw_orders"]
    # data/02_intermediate/orders.json is on the per-run volume, gone after the run: read
    # by count_customers as an inlet, no task's outlet (no asset events)
    assert uris("clean_orders", "outlets") == []
    assert uris("count_customers", "inlets") == ["kedro://demo/orders"]
    assert uris("count_customers", "outlets") == [
        "postgres://db.example.com:5432/shop/public/customers"]
    assert uris("features.daily_totals", "outlets") == ["gs://lake/features/daily_totals.json"]
    assert uris("train", "outlets") == ["s3://models/model.json"]  # versioned: its base path
    assert uris("report", "inlets") == ["postgres://db.example.com:5432/shop/public/customers",
                                        "s3://models/model.json"]
    assert uris("report", "outlets") == ["file:///srv/reports/report.json"]
    assert [a.name for a in dag.get_task("report").outlets] == [
        "file:///srv/reports/report.json"]  # the name is the URI
    assert not dag.get_task("create-data-volume").outlets


def test_validate_names_the_dataset_whose_uri_a_provider_refuses(demo_project):
    catalog = demo_project / "conf/base/catalog.yml"
    catalog.write_text(catalog.read_text().replace(
        "filepath: data/08_reporting/report.json", "filepath: bigquery://my-project/reports"))
    assert run_kedro(demo_project, "airflow-k8s", "compile").returncode == 0  # no provider
    result = run_kedro(demo_project, "airflow-k8s", "compile", "--validate", "-o", "checked")
    assert_one_line_error(
        result, 2, "--validate: demo.py: dataset 'report': Airflow refuses its asset URI "
        "'bigquery://my-project/reports': URI format bigquery:// must contain dataset and "
        "table names (change its location in the catalog or leave it out with "
        "run_config.assets.exclude)")
    assert not (demo_project / "checked").exists()


def test_validate_checks_the_assets_the_way_airflow_builds_them():
    assert preflight.asset_problems({"ok": "gs://lake/x", "bad": "gs:///x"}) == [
        "dataset 'bad': Airflow refuses its asset URI 'gs:///x': URI format gs:// must "
        "contain a bucket name (change its location in the catalog or leave it out with "
        "run_config.assets.exclude)"]
