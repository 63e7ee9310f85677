"""OpenLineage datasets of the generated DAGs' pod tasks (docs/assets.md, Lineage).

Airflow's OpenLineage provider gives a task with no extractor and no OpenLineage methods of
its own (the KubernetesPodOperator, the DAG file's NodePodOperator) the datasets of its
inlets and outlets: the Assets whose URI scheme an installed provider converts. No
Kubernetes cluster exists here to run the pods: the tasks of the DAG Airflow imports are
given to the provider's ExtractorManager in-process, as Airflow's OpenLineage listener gives
them when a pod task starts and ends (tests/e2e/test_lineage.py runs the local demo on a
real Airflow and reads its events).
"""

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
    for state in (TaskInstanceState.RUNNING, TaskInstanceState.SUCCESS):
        assert lineage["train", state] == ([], [model])
        assert lineage["report", state] == ([model], [("file", "/mnt/shared/report.json")])
        assert lineage["clean_orders", state] == ([], [])  # kedro:// assets only
