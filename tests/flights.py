"""A spaceflights-shaped pipeline of 8 nodes for the demo project (`add_flights_pipeline`),
for watched groups: every dataset persisted (JSON files), two independent branches beside the
model chain, each node sleeping FLIGHTS_STEP_SECONDS (from the environment) and raising when
`data/fail/<node>` exists, so a test can slow the run down and break one node on purpose.

    companies_raw -> preprocess_companies -> companies --+-> create_model_input_table
    shuttles_raw  -> preprocess_shuttles  -> shuttles  --+      -> model_input
    model_input -> split_data -> train_rows, test_rows
    train_rows -> train_model -> regressor;  regressor, test_rows -> evaluate_model -> metrics
    companies -> report_companies;  shuttles -> report_shuttles   (independent of the model)
"""

from __future__ import annotations

import json
from pathlib import Path

NODES = ("preprocess_companies", "preprocess_shuttles", "create_model_input_table",
         "split_data", "train_model", "evaluate_model", "report_companies", "report_shuttles")

STEPS = '''
"""Nodes of the flights pipeline (tests/flights.py)."""

import os
import time
from pathlib import Path

from kedro.pipeline import Pipeline, node


def step(name, *inputs):
    time.sleep(float(os.environ.get("FLIGHTS_STEP_SECONDS", "0")))
    if (Path("data/fail") / name).exists():
        raise ValueError(f"flights: {name} failed on purpose")
    print(f"flights: {name} read {len(inputs)} inputs")
    return {"node": name, "inputs": [i.get("node", "raw") for i in inputs]}


def _node(name, inputs, outputs):
    def run(*values):
        result = step(name, *values)
        return result if isinstance(outputs, str) else [result] * len(outputs)

    run.__name__ = name
    return node(run, inputs, outputs, name=name)


def create_pipeline():
    return Pipeline([
        _node("preprocess_companies", "companies_raw", "companies"),
        _node("preprocess_shuttles", "shuttles_raw", "shuttles"),
        _node("create_model_input_table", ["companies", "shuttles"], "model_input"),
        _node("split_data", "model_input", ["train_rows", "test_rows"]),
        _node("train_model", "train_rows", "regressor"),
        _node("evaluate_model", ["regressor", "test_rows"], "metrics"),
        _node("report_companies", "companies", "companies_report"),
        _node("report_shuttles", "shuttles", "shuttles_report"),
    ])
'''
DATASETS = ("companies_raw", "shuttles_raw", "companies", "shuttles", "model_input",
            "train_rows", "test_rows", "regressor", "metrics", "companies_report",
            "shuttles_report")


def add_flights_pipeline(project: Path) -> None:
    """Register pipeline `flights` in the demo project (its raw inputs written)."""
    (project / "src/demo/flights.py").write_text(STEPS, encoding="utf-8")
    with (project / "conf/base/catalog.yml").open("a") as catalog:
        for name in DATASETS:
            catalog.write(f"\n{name}:\n  type: demo.datasets.JSONDataset\n"
                          f"  filepath: data/flights/{name}.json\n")
    raw = project / "data/flights"
    raw.mkdir(parents=True, exist_ok=True)
    for name in ("companies_raw", "shuttles_raw"):
        (raw / f"{name}.json").write_text(json.dumps({"node": "raw"}), encoding="utf-8")
    register_pipeline(project, "flights")


def register_pipeline(project: Path, module: str) -> None:
    """Register the pipeline of `src/demo/<module>.py` (its `create_pipeline()`) in the demo
    project as pipeline `<module>`, beside and not in `__default__`."""
    registry = project / "src/demo/pipeline_registry.py"
    registry.write_text(registry.read_text().replace(
        '    return pipelines',
        f'    from demo import {module}\n'
        f'    pipelines["{module}"] = {module}.create_pipeline()\n'
        '    return pipelines'), encoding="utf-8")


def fail(project: Path, node: str, failing: bool = True) -> None:
    """Make `node` raise (or stop raising) on its next run."""
    flag = project / "data/fail" / node
    if failing:
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.touch()
    else:
        flag.unlink()
