"""OpenLineage events of a generated DAG run by a real Airflow (docs/assets.md, Lineage).

The demo runs in local execution (a BashOperator per task, whose OpenLineage extractor
names no dataset, so the provider takes the task's inlets and outlets) on the suite's
`airflow standalone`, whose OpenLineage file transport writes every event to its home.
`kedro://` assets (relative paths) are datasets through this package's Airflow provider,
installed with it in Airflow's environment.
"""

import json

import pytest

from tests.conftest import run_kedro, write_config
from tests.e2e.test_airflow import api_get
from tests.services import OPENLINEAGE_LOG
from tests.test_lineage import configure, locate

pytestmark = pytest.mark.e2e


def named(datasets):
    return sorted((d["namespace"], d["name"]) for d in datasets)


def test_local_node_tasks_name_their_datasets_in_openlineage_events(
        demo_project, airflow_server, tmp_path):
    shared = tmp_path / "shared"  # a place every task sees: file:// assets
    shared.mkdir()
    locate(demo_project, model=shared / "model.json", report=shared / "report.json")
    # other tests count the DAGs that read the demo's kedro:// assets: declare only one
    config = configure(demo_project, run_name="lineage-demo", execution="local",
                       assets={"include": ["model", "report", "customer_count"]})
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
        assert named(train["inputs"]) == []  # scaled_totals: not declared
        assert named(train["outputs"]) == [model]
        reporting = by_task["lineage-demo.report"][kind]
        assert named(reporting["outputs"]) == [report]
    # a kedro:// asset (a relative path) is an outlet, with Airflow's asset event, and an
    # OpenLineage dataset: namespace kedro://<package>, name the dataset
    events = api_get(airflow_server, "/api/v2/assets/events?source_dag_id=lineage-demo"
                     "&source_task_id=count_customers")["asset_events"]
    assert [event["uri"] for event in events] == ["kedro://demo/customer_count"]
    customers = ("kedro://demo", "customer_count")
    for kind in ("START", "COMPLETE"):
        counting = by_task["lineage-demo.count_customers"][kind]
        assert named(counting["inputs"]) == []  # orders: not declared
        assert named(counting["outputs"]) == [customers]
        reporting = by_task["lineage-demo.report"][kind]
        assert named(reporting["inputs"]) == sorted([model, customers])
    assert {(d["namespace"], d["name"]) for e in ours
            for d in e.get("inputs", []) + e.get("outputs", [])} == {model, report, customers}
