"""What grouping saves: `run-once --wait` of the example project, in local execution mode,
on a real `airflow standalone`, with run_config.grouping node, namespace and pipeline.

    python bench/grouping.py                           # one run per grouping
    python bench/grouping.py --repeat 2 --json /tmp/grouping.json

Airflow is started once in a temporary AIRFLOW_HOME on 127.0.0.1 and stopped at the end (as
examples/demo.sh does); each grouping compiles the project under its own DAG id
(`demo-<grouping>`), so Airflow parses each file once and no run waits for another.
Printed per grouping: the DAG's tasks (in local execution each runs Kedro nodes), the wall
time of the whole command (compile, upload, Airflow parsing the file, the run, following it)
and the run's own duration as Airflow records it (its start to its end). Each figure is the
best of --repeat runs; none is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: tests.services starts Airflow as the suite does

from tests.services import BIN, start_airflow, stop_process_group  # noqa: E402

GROUPINGS = ("node", "namespace", "pipeline")


def start(home: Path) -> tuple[subprocess.Popen, str, dict[str, str]]:
    """`airflow standalone` in `home`: the process, its URL, what `kedro airflow-k8s` needs."""
    dags = home / "dags"
    dags.mkdir(parents=True)
    process, url, username, password = start_airflow(home, dags)
    return process, url, {"AIRFLOW_API_USERNAME": username, "AIRFLOW_API_PASSWORD": password,
                          "KEDRO_CONFIG_AIRFLOW_HOST": url,
                          "KEDRO_CONFIG_DAGS_FOLDER": str(dags)}


@contextlib.contextmanager
def airflow(prefix: str) -> Iterator[tuple[Path, str, dict[str, str]]]:
    """A temporary folder with `airflow standalone` running from it: the folder, Airflow's
    URL and what `kedro airflow-k8s` needs; stopped and removed at the end."""
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        root = Path(folder)
        (root / "airflow").mkdir()
        process, url, credentials = start(root / "airflow")
        try:
            yield root, url, credentials
        finally:
            stop_process_group(process)


def copy_demo(target: Path, grouping: str) -> Path:
    shutil.copytree(ROOT / "examples" / "demo", target,
                    ignore=shutil.ignore_patterns("dags", "0[2-8]_*", "__pycache__"))
    config = target / "conf" / "base" / "airflow-k8s.yaml"
    config.write_text(config.read_text().replace("run_config:\n",
                                                 f"run_config:\n  grouping: {grouping}\n", 1))
    return target


def airflow_get(url: str, credentials: dict[str, str], path: str) -> dict:
    request = urllib.request.Request(
        f"{url}/auth/token", method="POST", headers={"Content-Type": "application/json"},
        data=json.dumps({"username": credentials["AIRFLOW_API_USERNAME"],
                         "password": credentials["AIRFLOW_API_PASSWORD"]}).encode())
    with urllib.request.urlopen(request, timeout=30) as response:
        token = json.loads(response.read())["access_token"]
    request = urllib.request.Request(f"{url}/api/v2/{path}",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def run_figures(url: str, credentials: dict[str, str], dag_id: str) -> tuple[int, float]:
    """The DAG's task count (local execution: every task runs Kedro nodes) and the seconds
    from its last run's start to its end, as Airflow recorded them."""
    tasks = airflow_get(url, credentials, f"dags/{dag_id}/tasks")["total_entries"]
    (run,) = airflow_get(url, credentials,
                         f"dags/{dag_id}/dagRuns?order_by=-start_date&limit=1")["dag_runs"]
    start, end = (datetime.fromisoformat(run[key]) for key in ("start_date", "end_date"))
    return tasks, (end - start).total_seconds()


def run_once(project: Path, credentials: dict[str, str], dag_id: str, *options: str,
             what: str) -> float:
    """`kedro airflow-k8s [options] run-once --execution local --wait` of `project` under
    `dag_id`, as a user runs it; its wall time in seconds (`what` names it when it fails)."""
    env = {**os.environ, **credentials, "KEDRO_DISABLE_TELEMETRY": "true"}
    env = {k: v for k, v in env.items() if not k.startswith("AIRFLOW__")}
    start = time.perf_counter()
    result = subprocess.run([str(BIN / "kedro"), "airflow-k8s", *options, "run-once",
                             "--execution", "local", "--dag-name", dag_id, "--wait",
                             "--timeout", "30"],
                            cwd=project, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"run-once {what} failed:\n"
                           f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return wall


def measure(project: Path, grouping: str, url: str, credentials: dict[str, str]) -> dict:
    dag_id = f"demo-{grouping}"
    wall = run_once(project, credentials, dag_id, what=f"with grouping {grouping}")
    tasks, run = run_figures(url, credentials, dag_id)
    return {"grouping": grouping, "tasks": tasks, "wall_s": round(wall, 1),
            "run_s": round(run, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description="run-once --wait per grouping")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", type=Path, default=Path("bench/grouping-results.json"))
    args = parser.parse_args()
    rows = []
    with airflow("kak-bench-grouping-") as (root, url, credentials):
        projects = {g: copy_demo(root / g / "demo", g) for g in GROUPINGS}
        for _ in range(args.repeat):
            for grouping in GROUPINGS:
                rows.append(measure(projects[grouping], grouping, url, credentials))
                print(f"{grouping:>10}: {rows[-1]['tasks']} tasks, run-once "
                      f"--wait {rows[-1]['wall_s']:.1f} s, run {rows[-1]['run_s']:.1f} s",
                      flush=True)
    best = {g: min((r for r in rows if r["grouping"] == g), key=lambda r: r["wall_s"])
            for g in GROUPINGS}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "project": "examples/demo (6 nodes), local execution, airflow standalone",
        "cpus": os.cpu_count(), "repeat": args.repeat,
        "rows": list(best.values())}, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
