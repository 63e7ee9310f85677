"""OpenLineage datasets of the generated DAGs' pod tasks (docs/assets.md, Lineage).

Airflow's OpenLineage provider gives a task with no extractor and no OpenLineage methods of
its own (the KubernetesPodOperator, the DAG file's NodePodOperator) the datasets of its
inlets and outlets: the Assets whose URI scheme an installed provider converts. No
Kubernetes cluster exists here to run the pods: the tasks of the DAG Airflow imports are
given to the provider's ExtractorManager in-process, as Airflow's OpenLineage listener gives
them when a pod task starts and ends (tests/e2e/test_lineage.py runs the local demo on a
real Airflow and reads its events).

`kedro://` assets become OpenLineage datasets through this package's Airflow provider
(kedro_airflow_k8s/airflow_provider.py, the `apache_airflow_provider` entry point of the
installed package): the tests run where the package is pip-installed, as Airflow would.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from tests import airflow_check
from tests.conftest import run_kedro, write_config


def locate(project, **paths):
    """The catalog of the demo with these datasets moved to these paths or URIs."""
    catalog = project / "conf/base/catalog.yml"
    entries = yaml.safe_load(catalog.read_text())
    for name, path in paths.items():
        entries[name] = {"type": "demo.datasets.JSONDataset", "filepath": str(path)}
    catalog.write_text(yaml.safe_dump(entries))


def configure(project, **run_changes):
    config = yaml.safe_load((project / "conf/base/airflow-k8s.yaml").read_text())
    config["run_config"].update(run_changes)
    return config


@pytest.mark.parametrize("task_settings, operator", [
    ({}, "KubernetesPodOperator"),
    ({"__default__": {"retries": 2}}, "NodePodOperator"),  # retry_on: infrastructure
])
def test_pod_tasks_give_openlineage_their_inlets_and_outlets(demo_project, task_settings,
                                                              operator):
    from airflow.providers.openlineage.extractors.manager import ExtractorManager
    from airflow.utils.state import TaskInstanceState

    locate(demo_project, model="gs://models/demo/model.json",
           report="/mnt/shared/report.json")
    config = configure(demo_project, task_settings=task_settings)
    write_config(demo_project, config)
    result = run_kedro(demo_project, "airflow-k8s", "compile")
    assert result.returncode == 0, result.stderr
    dag = airflow_check.load_dag(demo_project / "dags" / "demo.py")
    manager = ExtractorManager()
    lineage = {}
    for task_id in ("train", "report", "clean_orders"):
        task = dag.get_task(task_id)
        assert task.task_type == operator
        # no extractor and no OpenLineage methods of its own: the provider falls back to
        # the task's inlets and outlets
        assert manager.get_extractor_class(task) is None
        for state in (TaskInstanceState.RUNNING, TaskInstanceState.SUCCESS):
            found = manager.extract_metadata(SimpleNamespace(run_id="manual__1"), task,
                                             state, task_instance=None)
            lineage[task_id, state] = (
                sorted((d.namespace, d.name) for d in found.inputs),
                sorted((d.namespace, d.name) for d in found.outputs))
    model = ("gs://models", "demo/model.json")
    # relative paths: kedro:// assets, named by this package's provider
    demo = "kedro://demo"
    for state in (TaskInstanceState.RUNNING, TaskInstanceState.SUCCESS):
        assert lineage["train", state] == ([(demo, "scaled_totals")], [model])
        assert lineage["report", state] == ([model, (demo, "customer_count")],
                                            [("file", "/mnt/shared/report.json")])
        # orders (data/02_intermediate/) is on the per-run volume: no outlet (assets.run_scoped)
        assert lineage["clean_orders", state] == ([(demo, "raw_orders")], [])


def test_the_package_is_an_airflow_provider_of_the_kedro_scheme():
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    from kedro_airflow_k8s import __version__
    from kedro_airflow_k8s.airflow_provider import normalize_uri, to_openlineage_dataset

    manager = ProvidersManager()  # validates each provider's info against Airflow's schema
    assert manager.providers["kedro-airflow-k8s"].version == __version__
    # the task runtime's manager normalises the DAG file's Assets and converts them for
    # OpenLineage (Airflow 3.3 deprecates the same lookups on the core manager)
    runtime = ProvidersManagerTaskRuntime()
    assert runtime.asset_uri_handlers["kedro"] is normalize_uri
    assert runtime.asset_to_openlineage_converters["kedro"] is to_openlineage_dataset


@pytest.mark.parametrize("uri, namespace, name", [
    ("kedro://demo/orders", "kedro://demo", "orders"),
    ("kedro://demo/features.daily_totals", "kedro://demo", "features.daily_totals"),
    ("kedro://demo/a%2Fb%20c", "kedro://demo", "a/b c"),  # assets.kedro_uri quotes
])
def test_kedro_assets_convert_to_openlineage_datasets(uri, namespace, name):
    from airflow.providers.openlineage.extractors.manager import ExtractorManager
    from airflow.sdk import Asset

    from kedro_airflow_k8s.assets import kedro_uri

    dataset = ExtractorManager.convert_to_ol_dataset(Asset(uri))
    assert (dataset.namespace, dataset.name) == (namespace, name)
    assert kedro_uri("demo", name) == uri


@pytest.mark.parametrize("uri, problem", [
    ("kedro://demo", "names no dataset of package 'demo'"),
    ("kedro://demo/", "names no dataset of package 'demo'"),
    ("kedro:///orders", "names no package"),
    ("kedro://user@demo/orders", "package 'user@demo' is no Python package name"),
    ("kedro://demo/raw/orders", "'/raw/orders' is more than one dataset name"),
    ("kedro://demo/orders?v=1", "has a query"),
])
def test_airflow_refuses_a_kedro_uri_that_names_no_dataset(uri, problem):
    from airflow.sdk import Asset

    with pytest.raises(ValueError, match="kedro://<package>/<dataset>") as refused:
        Asset(uri)
    assert problem in str(refused.value)


def test_kedro_assets_keep_their_uri():
    from airflow.sdk import Asset

    for uri in ("kedro://demo/orders", "kedro://demo/a%2Fb", "kedro://demo/features.x"):
        assert Asset(uri).uri == uri


def test_provider_info_imports_nothing_heavy():
    # Airflow reads every provider's info in each of its processes
    probe = ("import sys; from kedro_airflow_k8s.airflow_provider import provider_info; "
             "import json; info = provider_info(); "
             "print(json.dumps([sorted(m for m in sys.modules if m.split('.')[0] in "
             "{'airflow', 'kedro', 'pydantic', 'click', 'jinja2', 'yaml', 'fsspec', "
             "'kedro_airflow_k8s'} and m not in ('kedro_airflow_k8s', "
             "'kedro_airflow_k8s.airflow_provider')), info['package-name']]))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    assert json.loads(result.stdout) == [[], "kedro-airflow-k8s"]


# Run where nothing but the standard library and this package can be imported, as Airflow
# loads the entry point in its processes with whatever is installed there
_STDLIB_ONLY = """
import importlib.abc, importlib.metadata, json, sys

class StdlibOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top not in sys.stdlib_module_names and top != "kedro_airflow_k8s":
            raise ImportError(f"{name} is not installed here")

sys.meta_path.insert(0, StdlibOnly())
(entry,) = [e for e in importlib.metadata.entry_points(group="apache_airflow_provider")
            if e.dist.name == "kedro-airflow-k8s"]
provider_info = entry.load()
infos = [provider_info()]
import kedro_airflow_k8s
del kedro_airflow_k8s.__version__  # a package whose version cannot be read
infos.append(provider_info())
from kedro_airflow_k8s.airflow_provider import normalize_uri
import urllib.parse
normalize_uri(urllib.parse.urlsplit("kedro://demo/orders"))
print(json.dumps(infos))
"""


def test_provider_info_never_raises_with_only_the_standard_library():
    from airflow.providers_manager import _create_provider_info_schema_validator

    result = subprocess.run([sys.executable, "-c", _STDLIB_ONLY], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    complete, without_version = json.loads(result.stdout)
    validator = _create_provider_info_schema_validator()
    for info in (complete, without_version):
        validator.validate(info)  # as Airflow does before it uses the info
        assert info["package-name"] == "kedro-airflow-k8s"
        assert info["asset-uris"][0]["schemes"] == ["kedro"]
    assert "versions" not in without_version


def test_airflow_lists_the_provider(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env["AIRFLOW_HOME"] = str(tmp_path)
    result = subprocess.run([str(Path(sys.executable).parent / "airflow"), "providers",
                             "list", "--output", "json"], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    providers = {p["package_name"]: p for p in json.loads(result.stdout)}
    assert "kedro-airflow-k8s" in providers, sorted(providers)
    assert "kedro-airflow-k8s" not in result.stderr  # no warning about it


def test_validate_names_a_schedule_reference_to_no_kedro_dataset():
    from kedro_airflow_k8s import validate as preflight

    assert preflight.asset_problems({}, {"kedro://ingest": "kedro://ingest"}) == [
        "schedule_on: 'kedro://ingest': Airflow refuses its asset URI 'kedro://ingest': URI "
        "format kedro:// is kedro://<package>/<dataset>: it names no dataset of package "
        "'ingest' (change --on-assets or "
        "run_config.schedule_on)"]
    assert preflight.asset_problems({"orders": "kedro://ingest/orders"}) == []
