"""Benchmarks of kedro-airflow-k8s: prints a table and writes JSON. No figure is asserted.

    python bench/run.py                      # N = 10, 100, 1000, 5000 nodes
    python bench/run.py --sizes 10 --repeat 1 --json /tmp/bench.json

For each N, a synthetic Kedro project (chains, fan-in/fan-out, namespaces, resource tags,
some MemoryDataset edges) is generated, then measured:
- `kedro airflow-k8s compile` as a whole process (wall time, peak RSS), beside the bootstrap
  floor of the same project (`kedro registry list`) and, when kedro-airflow is installed,
  beside `kedro airflow create`;
- the parse time of the generated DAG in Airflow's DagBag, after Airflow and the providers
  are imported, beside a hand-written minimal DAG of the same shape (the same tasks and
  dependencies, each operator with the fewest arguments it needs);
- the import time the plugin adds to `kedro --help`;
- a project equivalent to Kedro's spaceflights-pandas starter (bench/spaceflights.py), when
  its packages are installed (bench/requirements.txt): `kedro airflow-k8s compile`, the
  floor `kedro registry list` and kedro-airflow's `kedro airflow create`, side by side
  (interleaved, best of --repeat).
Targets: compile <= floor + 0.15 s at 10 nodes and <= floor + 2 s at 5,000; DAG parse <=
1.05 x the hand-written floor at 10 and 1,000 nodes; <= 50 ms added to `kedro --help`;
spaceflights: compile <= 1.05 x the floor and <= `kedro airflow create`.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

BIN = Path(sys.executable).parent
ENV = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}

REGISTRY = '''
from kedro.pipeline import Pipeline, node


def step(*inputs):
    return len(inputs)


def register_pipelines():
    nodes = []
    size = {size}
    for i in range(size):
        namespace = f"team{{i % 7}}" if i % 3 == 0 else None
        inputs = ["raw"] if i < 4 else [f"d{{i - 1}}"]
        if i >= 10 and i % 10 == 0:  # fan-in from further back
            inputs += [f"d{{i - 7}}", f"d{{i - 9}}"]
        tags = ["resources.big"] if i % 11 == 0 else []
        nodes.append(node(step, inputs, f"d{{i}}", name=f"node_{{i}}",
                          namespace=namespace, tags=tags))
    pipeline = Pipeline(nodes)
    return {{"__default__": pipeline}}
'''

CATALOG = '''
raw:
  type: bench_project.datasets.Nothing
"{name}":
  type: bench_project.datasets.Nothing
'''
# every 13th dataset stays in memory (not matched by the pattern below is impossible with a
# catch-all, so those are listed as MemoryDatasets explicitly)

DATASETS = '''
from kedro.io import AbstractDataset


class Nothing(AbstractDataset):
    def __init__(self, **kwargs):
        pass

    def load(self):
        return 0

    def save(self, data):
        pass

    def _describe(self):
        return {}
'''

CONFIG = '''
host: http://127.0.0.1:8080
output: dags
run_config:
  image: registry.example.com/bench:1
  namespace: bench
  resources:
    __default__: {requests: {cpu: 100m, memory: 128Mi}}
    big: {requests: {cpu: "2", memory: 4Gi}, limits: {cpu: "4", memory: 8Gi}}
'''


def make_project(root: Path, size: int) -> Path:
    project = root / f"bench_{size}"
    package = project / "src" / "bench_project"
    package.mkdir(parents=True)
    (project / "conf" / "base").mkdir(parents=True)
    (project / "conf" / "local").mkdir(parents=True)
    (project / "pyproject.toml").write_text(textwrap.dedent('''
        [tool.kedro]
        package_name = "bench_project"
        project_name = "bench"
        kedro_init_version = "1.7.0"
        source_dir = "src"
        '''))
    (package / "__init__.py").write_text('__version__ = "0.1"\n')
    (package / "settings.py").write_text("")
    (package / "datasets.py").write_text(DATASETS)
    (package / "pipeline_registry.py").write_text(REGISTRY.format(size=size))
    memory = "\n".join(f"d{i}:\n  type: kedro.io.MemoryDataset" for i in range(5, size, 13))
    (project / "conf" / "base" / "catalog.yml").write_text(CATALOG + memory + "\n")
    (project / "conf" / "base" / "airflow-k8s.yaml").write_text(CONFIG)
    return project


def timed(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS in MiB of one child process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {process.stderr.read().decode()[-500:]}")
    return elapsed, usage.ru_maxrss / 1024


def side_by_side(commands: dict[str, list[str]], cwd: Path, repeat: int) -> dict[str, float]:
    """Best wall seconds of each command, run in turn `repeat` times: a busy machine slows
    them alike."""
    runs: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, command in commands.items():
            runs[name].append(timed(command, cwd)[0])
    return {name: min(times) for name, times in runs.items()}


def spaceflights_figures(root: Path, repeat: int, peer: bool) -> dict | None:
    """compile, its floor and `kedro airflow create` on the spaceflights project; None when
    its packages are missing."""
    from spaceflights import make_spaceflights

    probe = "import pandas, sklearn, kedro_datasets"
    if subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode:
        return None
    project = make_spaceflights(root, CONFIG.replace("bench:1", "spaceflights:1"))
    kedro = str(BIN / "kedro")
    commands = {"floor": [kedro, "registry", "list"], "compile": [kedro, "airflow-k8s", "compile"]}
    if peer:
        commands["kedro_airflow_create"] = [kedro, "airflow", "create", "-t",
                                            str(root / "kedro-airflow-dags")]
    best_of = side_by_side(commands, project, repeat)
    figures = {f"{name}_s": round(value, 3) for name, value in best_of.items()}
    figures["compile_ratio"] = round(best_of["compile"] / best_of["floor"], 3)
    figures.setdefault("kedro_airflow_create_s", None)
    return figures


def best(command: list[str], cwd: Path, repeat: int) -> tuple[float, float]:
    runs = [timed(command, cwd) for _ in range(repeat)]
    return min(r[0] for r in runs), max(r[1] for r in runs)


HAND_WRITTEN = '''
import datetime
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.operators.resource import (
    KubernetesCreateResourceOperator,
    KubernetesDeleteResourceOperator,
)
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

CLAIM = '{{"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {{"name": "d"}}}}'
TASKS = {tasks!r}
UPSTREAM = {upstream!r}

with DAG("hand_written", schedule=None, start_date=datetime.datetime(2024, 1, 1)):
    tasks = {{}}
    for task_id, kind in TASKS.items():
        if kind == "KubernetesCreateResourceOperator":
            tasks[task_id] = KubernetesCreateResourceOperator(task_id=task_id, yaml_conf=CLAIM)
        elif kind == "KubernetesDeleteResourceOperator":
            tasks[task_id] = KubernetesDeleteResourceOperator(task_id=task_id, yaml_conf=CLAIM)
        elif kind == "EmptyOperator":
            tasks[task_id] = EmptyOperator(task_id=task_id)
        else:
            tasks[task_id] = KubernetesPodOperator(
                task_id=task_id, image="registry.example.com/b:1", cmds=["kedro"],
                arguments=["run", "--nodes", task_id])
    for task_id, waits_for in UPSTREAM.items():
        tasks[task_id].set_upstream([tasks[other] for other in waits_for])
'''
_TASK = re.compile(r"^    tasks\[('[^']+')\] = (\w+)\(", re.M)
_UPSTREAM = re.compile(r"^    upstream = (\{.*?^    \})", re.M | re.S)


def hand_written(generated: str) -> str:
    """The floor: the generated DAG's tasks and dependencies, each task with the fewest
    arguments its operator needs (node tasks become bare KubernetesPodOperators)."""
    tasks = {ast.literal_eval(task_id): "KubernetesPodOperator" if kind == "node_pod" else kind
             for task_id, kind in _TASK.findall(generated)}
    upstream = ast.literal_eval(_UPSTREAM.search(generated).group(1))
    return HAND_WRITTEN.format(tasks=tasks, upstream=upstream)


PARSE = '''
import json, statistics, sys, time
import airflow.providers.cncf.kubernetes.operators.pod  # noqa: F401 - imported before timing
import airflow.providers.cncf.kubernetes.operators.resource  # noqa: F401
import airflow.providers.standard.operators.empty  # noqa: F401
from airflow.dag_processing.dagbag import DagBag
times = {}
for path in sys.argv[2:]:
    runs = []
    for _ in range(int(sys.argv[1])):
        start = time.perf_counter()
        bag = DagBag(dag_folder=path)
        runs.append(time.perf_counter() - start)
        assert not bag.import_errors, bag.import_errors
    times[path] = min(runs)
print(json.dumps(times))
'''


def parse_times(files: list[Path], repeat: int) -> list[float]:
    out = subprocess.run([sys.executable, "-c", PARSE, str(repeat), *map(str, files)],
                         env=ENV, capture_output=True, text=True, check=True)
    times = json.loads(out.stdout.strip().splitlines()[-1])
    return [times[str(f)] for f in files]


def help_import_ms(repeat: int) -> float:
    code = ("import time, kedro.framework.cli.cli; s = time.perf_counter(); "
            "import kedro_airflow_k8s.cli; print((time.perf_counter() - s) * 1000)")
    runs = [float(subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True,
                                 text=True, check=True).stdout.split()[-1])
            for _ in range(repeat)]
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description="kedro-airflow-k8s benchmarks")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 5000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path("bench/results.json"))
    args = parser.parse_args()
    kedro = str(BIN / "kedro")
    peer = shutil.which("kedro-airflow") or (
        "kedro_airflow" if subprocess.run([sys.executable, "-c", "import kedro_airflow"],
                                          capture_output=True).returncode == 0 else None)
    rows = []
    with tempfile.TemporaryDirectory(prefix="kak-bench-") as folder:
        root = Path(folder)
        for size in args.sizes:
            project = make_project(root, size)
            floor = best([kedro, "registry", "list"], project, args.repeat)
            compile_ = best([kedro, "airflow-k8s", "compile"], project, args.repeat)
            peer_time = best([kedro, "airflow", "create"], project, args.repeat)[0] \
                if peer else None
            generated = project / "dags" / "bench.py"
            if not generated.exists():
                generated = next((project / "dags").glob("*.py"))
            hand = root / f"hand_{size}" / "hand_written.py"
            hand.parent.mkdir()
            hand.write_text(hand_written(generated.read_text()))
            parse, parse_floor = parse_times([generated, hand], args.repeat)
            rows.append({
                "nodes": size,
                "tasks": len(_TASK.findall(generated.read_text())),
                "compile_s": round(compile_[0], 3), "compile_peak_mib": round(compile_[1], 1),
                "floor_s": round(floor[0], 3), "floor_peak_mib": round(floor[1], 1),
                "compile_over_floor_s": round(compile_[0] - floor[0], 3),
                "kedro_airflow_create_s": round(peer_time, 3) if peer_time else None,
                "parse_s": round(parse, 4), "parse_floor_s": round(parse_floor, 4),
                "parse_ratio": round(parse / parse_floor, 3),
            })
        spaceflights = spaceflights_figures(root, args.repeat, bool(peer))
    added_ms = help_import_ms(max(args.repeat, 5))
    header = (f"{'nodes':>6} {'tasks':>6} {'compile s':>10} {'floor s':>8} {'+floor s':>9} "
              f"{'peak MiB':>9} {'kedro-airflow s':>16} {'parse s':>8} {'hand s':>8} "
              f"{'ratio':>6}")
    print(header)
    for r in rows:
        peer_cell = f"{r['kedro_airflow_create_s']:.3f}" if r["kedro_airflow_create_s"] \
            else "n/a"
        print(f"{r['nodes']:>6} {r['tasks']:>6} {r['compile_s']:>10.3f} {r['floor_s']:>8.3f} "
              f"{r['compile_over_floor_s']:>9.3f} {r['compile_peak_mib']:>9.1f} "
              f"{peer_cell:>16} {r['parse_s']:>8.4f} {r['parse_floor_s']:>8.4f} "
              f"{r['parse_ratio']:>6.3f}")
    print(f"import time added to `kedro --help`: {added_ms:.1f} ms")
    if spaceflights is None:
        print("spaceflights: n/a (pip install -r bench/requirements.txt)")
    else:
        peer_time = spaceflights["kedro_airflow_create_s"]
        print(f"spaceflights: compile {spaceflights['compile_s']:.3f} s, floor (kedro "
              f"registry list) {spaceflights['floor_s']:.3f} s, ratio "
              f"{spaceflights['compile_ratio']:.3f}, kedro airflow create "
              f"{f'{peer_time:.3f} s' if peer_time else 'n/a'}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": rows, "help_import_ms": round(added_ms, 1),
                                     "spaceflights": spaceflights}, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
