"""What watched groups cost: `run-once --wait` in local execution on a real `airflow
standalone`, one task per node vs one plain group vs one watched group (every node its own
task, one `kedro run`), on the example project (6 nodes) and on a 30-node pipeline.

    python bench/watched.py                    # best of 2
    python bench/watched.py --repeat 3 --json /tmp/watched.json
    python bench/watched.py --pipelines layers --work 0 1 2 --threads 1 5

The 30-node pipeline (`layers`, written into a copy of the example project) has 6 layers of
5 nodes; each node reads two outputs of the layer before it and writes one JSON file. Airflow
is started once (bench/grouping.py's `start`); each (pipeline, mode) compiles under its own
DAG id. Printed per row: the DAG's tasks, the wall time of the whole command (compile,
upload, parse, run, follow) and the run's own duration as Airflow records it; each figure is
the best of --repeat runs. With --threads, each group runs its nodes in that many threads
(run_config.group_threads: Kedro's ThreadRunner, the watched runner's threads), a row per
value. The watched group's figures are compared with the plain group's of as many threads
(the goal: within 15 %) and with one task per node (at least 40 % faster); none is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from datetime import datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.grouping import (  # noqa: E402 - after the path above
    airflow,
    airflow_get,
    run_figures,
    run_once,
)
from tests.flights import register_pipeline  # noqa: E402 - after the path above

MODES = {  # mode -> run_config keys
    "per node": {"grouping": "node"},
    "plain group": {"grouping": "pipeline"},
    "watched group": {"grouping": "pipeline", "grouping_mode": "watched"},
}
LAYERS, WIDTH = 6, 5

LAYERS_MODULE = f'''
"""A 30-node pipeline: {LAYERS} layers of {WIDTH} nodes (bench/watched.py)."""

import os
import time

from kedro.pipeline import Pipeline, node


def combine(*inputs):
    time.sleep(float(os.environ.get("LAYERS_WORK_SECONDS", "0")))  # --work: a node's work
    return {{"seen": sum(value["seen"] for value in inputs) + 1}}


def create_pipeline():
    nodes = []
    for layer in range(1, {LAYERS} + 1):
        for column in range({WIDTH}):
            inputs = [f"l{{layer - 1}}_{{column}}", f"l{{layer - 1}}_{{(column + 1) % {WIDTH}}}"]
            nodes.append(node(combine, inputs, f"l{{layer}}_{{column}}",
                              name=f"layer{{layer}}_{{column}}"))
    return Pipeline(nodes)
'''


def copy_demo(target: Path) -> Path:
    """The example project with pipeline `layers` registered, its inputs written."""
    shutil.copytree(ROOT / "examples" / "demo", target,
                    ignore=shutil.ignore_patterns("dags", "0[2-8]_*", "__pycache__"))
    (target / "src/demo/layers.py").write_text(LAYERS_MODULE, encoding="utf-8")
    with (target / "conf/base/catalog.yml").open("a") as catalog:
        for layer in range(LAYERS + 1):
            for column in range(WIDTH):
                catalog.write(f"\nl{layer}_{column}:\n  type: demo.datasets.JSONDataset\n"
                              f"  filepath: data/layers/l{layer}_{column}.json\n")
    (target / "data/layers").mkdir(parents=True)
    for column in range(WIDTH):
        (target / f"data/layers/l0_{column}.json").write_text('{"seen": 0}')
    register_pipeline(target, "layers")
    return target


def configure(project: Path, keys: dict[str, str], work: float = 0.0,
              threads: int = 1) -> None:
    """run_config: the mode's keys, the threads of a group and the seconds each `layers`
    node works."""
    path = project / "conf" / "base" / "airflow-k8s.yaml"
    config = yaml.safe_load(path.read_text())
    run = config["run_config"]
    for key in ("grouping", "grouping_mode", "group_threads"):
        run.pop(key, None)
    run.update(keys)
    if threads > 1:
        run["group_threads"] = threads
    run.setdefault("env_vars", {})["LAYERS_WORK_SECONDS"] = str(work)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def measure(project: Path, pipeline: str, mode: str, url: str,
            credentials: dict[str, str], work: float = 0.0, threads: int = 1) -> dict:
    configure(project, MODES[mode], work, threads)
    label = f"{pipeline} ({work:g} s/node)" if work else pipeline
    dag_id = f"bench-{pipeline.strip('_')}-{mode.replace(' ', '-')}" + (
        f"-work{work:g}" if work else "") + (f"-threads{threads}" if threads > 1 else "")
    wall = run_once(project, credentials, dag_id, "-p", pipeline,
                    what=f"of {pipeline} ({mode})")
    tasks, run = run_figures(url, credentials, dag_id)
    row = {"pipeline": label, "mode": mode, "threads": threads, "tasks": tasks,
           "wall_s": round(wall, 1), "run_s": round(run, 1), "dag_id": dag_id}
    if mode == "watched group":
        row["per_level"] = level_costs(url, credentials, dag_id)
    return row


def task_instances(url: str, credentials: dict[str, str], dag_id: str) -> list[dict]:
    """The task instances of the DAG's last run as Airflow recorded them: id, state, times."""
    (run,) = airflow_get(url, credentials,
                         f"dags/{dag_id}/dagRuns?order_by=-start_date&limit=1")["dag_runs"]
    found = airflow_get(url, credentials, f"dags/{dag_id}/dagRuns/{run['dag_run_id']}/"
                        "taskInstances?limit=100")["task_instances"]
    return sorted(({key: ti[key] for key in ("task_id", "state", "start_date", "end_date",
                                             "try_number", "operator")} for ti in found),
                  key=lambda ti: ti["start_date"])


def level_costs(url: str, credentials: dict[str, str], dag_id: str) -> dict[str, float]:
    """Where a watched run's node tasks spend the time between one level of the pipeline and
    the next, as Airflow recorded it (medians over the node tasks that wait for others):
    from the last upstream task's end to this task's scheduling (the scheduler's loop), to
    its start (queue and executor), to its end (the task's process)."""
    tasks = airflow_get(url, credentials, f"dags/{dag_id}/tasks")["tasks"]
    upstream: dict[str, list[str]] = {}
    for task in tasks:
        for child in task["downstream_task_ids"]:
            upstream.setdefault(child, []).append(task["task_id"])
    (run,) = airflow_get(url, credentials,
                         f"dags/{dag_id}/dagRuns?order_by=-start_date&limit=1")["dag_runs"]
    found = airflow_get(url, credentials, f"dags/{dag_id}/dagRuns/{run['dag_run_id']}/"
                        "taskInstances?limit=100")["task_instances"]
    tis = {ti["task_id"]: ti for ti in found}

    def at(ti: dict, key: str) -> datetime:
        return datetime.fromisoformat(ti[key])

    gaps: dict[str, list[float]] = {"scheduler_s": [], "queue_s": [], "task_s": []}
    for task_id, parents in upstream.items():
        ti = tis.get(task_id)
        if ti is None or not ti.get("scheduled_when") or not str(
                ti.get("operator")).startswith("WatchedNode"):
            continue
        ready = max(at(tis[parent], "end_date") for parent in parents)
        for key, (begin, end) in {"scheduler_s": (ready, at(ti, "scheduled_when")),
                                  "queue_s": (at(ti, "scheduled_when"), at(ti, "start_date")),
                                  "task_s": (at(ti, "start_date"), at(ti, "end_date"))}.items():
            gaps[key].append((end - begin).total_seconds())
    return {key: round(statistics.median(values), 2) for key, values in gaps.items() if values}


def compare(best: dict[tuple[str, str, int], dict]) -> list[str]:
    """Per pipeline and threads: the watched group against the plain group of as many
    threads and against one task per node."""
    lines = []
    for pipeline, threads in sorted({(p, t) for p, m, t in best if m == "watched group"}):
        watched, plain = (best[(pipeline, m, threads)]["run_s"] for m in
                          ("watched group", "plain group"))
        per_node = best[(pipeline, "per node", 1)]["run_s"]
        lines.append(f"{pipeline}, {threads} thread{'s' if threads > 1 else ''}: watched run "
                     f"{watched:.1f} s = {watched / plain - 1:+.0%} vs plain group, "
                     f"{1 - watched / per_node:.0%} faster than one task per node")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description="run-once --wait: watched vs plain vs per node")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", type=Path, default=Path("bench/watched-results.json"))
    parser.add_argument("--pipelines", nargs="+", default=["__default__", "layers"])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--work", type=float, nargs="+", default=[0.0, 1.0],
                        help="seconds each node of `layers` works (a run per value; the "
                        "example project's nodes are as they are)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1],
                        help="threads each group runs its nodes in (run_config."
                        "group_threads), a run of the groups per value")
    parser.add_argument("--record", type=Path, help="write the task instances of the last "
                        "watched run here (docs/watched-run.json: layers, 1 s/node)")
    args = parser.parse_args()
    rows = []
    with airflow("kak-bench-watched-") as (root, url, credentials):
        project = copy_demo(root / "demo")
        for _ in range(args.repeat):
            for pipeline, work in [(p, w) for p in args.pipelines for w in (
                    args.work if p == "layers" else [0.0])]:
                for mode, threads in [(m, t) for m in args.modes for t in (
                        [1] if m == "per node" else args.threads)]:
                    rows.append(measure(project, pipeline, mode, url, credentials, work,
                                        threads))
                    if args.record and mode == "watched group":  # the last one stays
                        args.record.write_text(json.dumps(task_instances(
                            url, credentials, rows[-1]["dag_id"]), indent=1) + "\n")
                    row = rows[-1]
                    print(f"{row['pipeline']:>22} {mode:>13} x{threads}: {row['tasks']:>2} "
                          f"tasks, run-once --wait {row['wall_s']:.1f} s, run "
                          f"{row['run_s']:.1f} s" + (f", per level {row['per_level']}"
                                                     if "per_level" in row else ""),
                          flush=True)
    best = {}
    for row in rows:
        key = (row["pipeline"], row["mode"], row["threads"])
        if key not in best or row["run_s"] < best[key]["run_s"]:
            best[key] = row
    summary = compare(best) if len(args.modes) == len(MODES) else []
    print("\n".join(summary))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "projects": "examples/demo (__default__: 6 nodes; layers: 30 nodes in 6 layers, "
                    "each node working 0 s or --work s), local execution, airflow standalone",
        "cpus": os.cpu_count(), "repeat": args.repeat, "rows": list(best.values()),
        "summary": summary}, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
