"""OpenLineage events of the generated DAGs' node tasks (docs/assets.md, Lineage).

Airflow's OpenLineage provider gives a task with no extractor of its own (the
KubernetesPodOperator, the BashOperator has one that names no dataset) the datasets of its
inlets and outlets: the Assets whose URI scheme an installed provider converts. The demo
runs in local execution on the suite's `airflow standalone`, whose OpenLineage file
transport writes every event to its home. No Kubernetes cluster exists here: the pod tasks
of a Kubernetes-mode DAG are given to the provider's ExtractorManager in-process, as
Airflow's OpenLineage listener gives them when a pod task starts and ends.
"""

import json
from types import SimpleNamespace

import pytest
import yaml

from tests import airflow_check
from tests.conftest import run_kedro, write_config
from tests.services import OPENLINEAGE_LOG


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


def named(datasets):
    return sorted((d["namespace"], d["name"]) for d in datasets)


@pytest.mark.e2e
def test_local_node_tasks_name_their_datasets_in_openlineage_events(
        demo_project, airflow_server, tmp_path):
    shared = tmp_path / "shared"  # a place every task sees: file:// assets
    shared.mkdir()
    locate(demo_project, model=shared / "model.json", report=shared / "report.json")
    config = configure(demo_project, run_name="lineage-demo", execution="local")
    config.update(host=airflow_server.url, output=str(airflow_server.dags))
    write_config(demo_project, config)
    result = run_kedro(demo_project, "airflow-k8s", "run-once", "--wait", "--timeout", "10",
                       env=airflow_server.auth_env())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "6/6 tasks done, 0 running, 0 failed, run success" in result.stdout
    assert json.loads((shared / "report.json").read_text())["trend"] == "up"

    log = airflow_server.home / OPENLINEAGE_LOG
    events = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    ours = [e for e in events if e["job"]["name"].startswith("lineage-demo.")]
    by_task = {}
    for event in ours:
        by_task.setdefault(event["job"]["name"], {})[event["eventType"]] = event
    model = ("file", str(shared / "model.json"))
    report = ("file", str(shared / "report.json"))
    for kind in ("START", "COMPLETE"):
        train = by_task["lineage-demo.train"][kind]
        assert named(train["inputs"]) == []  # scaled_totals: a kedro:// asset
        assert named(train["outputs"]) == [model]
        reporting = by_task["lineage-demo.report"][kind]
        assert named(reporting["inputs"]) == [model]  # customer_count: kedro://
        assert named(reporting["outputs"]) == [report]
    # the tasks whose datasets are all relative paths (kedro:// assets) name none
    clean = by_task["lineage-demo.clean_orders"]["COMPLETE"]
    assert clean["inputs"] == [] and clean["outputs"] == []
    assert not any(d["namespace"].startswith("kedro") for e in ours
                   for d in e.get("inputs", []) + e.get("outputs", []))


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
    for state in (TaskInstanceState.RUNNING, TaskInstanceState.SUCCESS):
        assert lineage["train", state] == ([], [model])
        assert lineage["report", state] == ([model], [("file", "/mnt/shared/report.json")])
        assert lineage["clean_orders", state] == ([], [])  # kedro:// assets only
