"""Shared fixtures. Airflow reads its settings at import time, so they are set here first."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="kak-airflow-home-")
os.environ.setdefault("AIRFLOW_HOME", _AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["KEDRO_DISABLE_TELEMETRY"] = "true"
for name in [n for n in os.environ if n.startswith("KEDRO_CONFIG_")] + ["KEDRO_ENV"]:
    os.environ.pop(name, None)

import pytest  # noqa: E402 - after the environment above is set
import yaml  # noqa: E402 - after the environment above is set

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo"
KEDRO = str(Path(sys.executable).parent / "kedro")


# Secret values the tests use (passwords, tokens). No DAG file the suite writes may hold one:
# the session's last step greps them all.
SECRET_VALUES: set[str] = {"secret-token", "tok-s3cr3t-value", "pw-s3cr3t-value"}


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_generated_dag(tmp_path_factory):
    yield
    base = tmp_path_factory.getbasetemp()
    leaks = []
    for path in base.rglob("*.py"):
        if "dags" not in path.parts and "out" not in path.parts:
            continue
        text = path.read_text(errors="replace")
        leaks += [f"{path}: {value[:3]}..." for value in SECRET_VALUES if value in text]
    assert not leaks, f"secret values found in generated DAG files: {leaks}"


@pytest.fixture
def demo_project(tmp_path: Path) -> Path:
    """A fresh copy of the example project, outside any git repository."""
    target = tmp_path / "demo"
    shutil.copytree(DEMO, target, ignore=shutil.ignore_patterns("dags", "0[2-8]_*",
                                                                "__pycache__"))
    # every copy is the package `demo`: a test bootstrapping this copy in-process must read
    # its own settings.py and pipelines, not an earlier copy's cached modules
    for name in [m for m in sys.modules if m == "demo" or m.startswith("demo.")]:
        del sys.modules[name]
    return target


def commit_all(project: Path) -> str:
    """Make `project` a git repository holding one commit of all its files; the commit."""
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "demo"]):
        subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.com",
                        *args], cwd=project, check=True, capture_output=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, check=True,
                          capture_output=True, text=True).stdout.strip()


def write_config(project: Path, config: dict, env: str = "base") -> Path:
    path = project / "conf" / env / "airflow-k8s.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def use_kedro_mlflow(project: Path, mlflow_yml: dict | None = None, env: str = "base") -> None:
    """Let kedro-mlflow's hooks run in the project (the demo disables them), as kedro-mlflow
    documents: installed, its hooks found through their entry point; an mlflow.yml."""
    settings = project / "src" / project.name / "settings.py"
    text = settings.read_text()
    assert 'DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow",)' in text
    settings.write_text(text.replace('DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow",)', ""))
    if mlflow_yml is not None:
        path = project / "conf" / env / "mlflow.yml"
        path.write_text(yaml.safe_dump(mlflow_yml, sort_keys=False), encoding="utf-8")


def run_kedro(project: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `kedro ...` in the project as a user would, in a child process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([KEDRO, *args], cwd=project, capture_output=True, text=True,
                          env=full_env, timeout=300)


# -- services for the e2e tests (session-scoped: each starts once) --------------------------

import json  # noqa: E402 - after the environment above is set
import urllib.request  # noqa: E402 - after the environment above is set
from dataclasses import dataclass  # noqa: E402 - after the environment above is set

from tests.services import (  # noqa: E402 - re-exported for the tests
    free_port,
    start_airflow,
    stop_process_group,
    wait_for_http,
)


@dataclass
class AirflowServer:
    url: str
    home: Path
    dags: Path
    username: str
    password: str

    def auth_env(self) -> dict:
        return {"AIRFLOW_API_USERNAME": self.username, "AIRFLOW_API_PASSWORD": self.password}

    def token(self) -> str:
        request = urllib.request.Request(
            f"{self.url}/auth/token", method="POST",
            data=json.dumps({"username": self.username, "password": self.password}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["access_token"]


POLICY_MARK = "untested"
CLUSTER_POLICY = f"""
from airflow.exceptions import AirflowClusterPolicyViolation


def dag_policy(dag):
    if {POLICY_MARK!r} in (dag.description or ""):
        raise AirflowClusterPolicyViolation("DAGs described as {POLICY_MARK} are not allowed")
"""


@pytest.fixture(scope="session")
def airflow_server(tmp_path_factory) -> AirflowServer:
    """A real `airflow standalone` (SQLite, LocalExecutor) on 127.0.0.1, stopped at the end.
    Its cluster policy rejects DAGs whose description holds POLICY_MARK (an import error);
    its OpenLineage events go to home/openlineage.jsonl (file transport)."""
    home = tmp_path_factory.mktemp("airflow-standalone")
    dags = home / "dags"
    dags.mkdir()
    (home / "config").mkdir()  # on Airflow's sys.path: a cluster policy, as companies set
    (home / "config" / "airflow_local_settings.py").write_text(CLUSTER_POLICY)
    process, url, username, password = start_airflow(home, dags, openlineage=True)
    try:
        SECRET_VALUES.add(password)
        yield AirflowServer(url=url, home=home, dags=dags, username=username,
                            password=password)
    finally:
        stop_process_group(process)


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on 127.0.0.1; yields the environment a boto client needs for it."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    server.stop()


@pytest.fixture(scope="session")
def gcs_server():
    """gcp-storage-emulator on 127.0.0.1; yields the environment gcsfs needs for it."""
    from gcp_storage_emulator.server import create_server

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket="dags-bucket")
    server.start()
    # NO_GCE_CHECK: google-auth skips probing a metadata server that does not exist here;
    # the emulator speaks no gRPC, so gcsfs must not ask it for the bucket type that way
    yield {"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}", "NO_GCE_CHECK": "True",
           "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}
    server.stop()


@dataclass
class MlflowServer:
    url: str
    home: Path


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory) -> MlflowServer:
    """A real `mlflow server` with a SQLite backend on 127.0.0.1, stopped at the end."""
    home = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    log = open(home / "server.log", "w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri",
         f"sqlite:///{home / 'mlflow.db'}", "--artifacts-destination", str(home / "artifacts"),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", timeout=120, process=process)
        yield MlflowServer(url=url, home=home)
    finally:
        stop_process_group(process)
        log.close()


def add_echo_pipeline(project: Path, inputs: list[str]) -> None:
    """Register pipeline `echo` in the project: one node `echo` returning `inputs` as a list
    into the JSON dataset `seen` (data/seen.json), to see what values a node receives."""
    (project / "conf/base/catalog.yml").open("a").write(
        "\nseen:\n  type: demo.datasets.JSONDataset\n  filepath: data/seen.json\n")
    registry = project / "src/demo/pipeline_registry.py"
    listed = ", ".join(f'"{name}"' for name in inputs)
    registry.write_text(registry.read_text().replace(
        '    pipelines["__default__"]',
        '    from kedro.pipeline import node\n'
        f'    pipelines["echo"] = Pipeline([node(lambda *v: list(v), [{listed}], "seen", '
        'name="echo")])\n'
        '    pipelines["__default__"]'))


def _watched_log(failing: str | None = None, lost_at: str | None = None) -> str:
    """What a watched group's `kedro run` of the example project prints (its WatchedRunner's
    lines, kedro_airflow_k8s.watched), each node saying its name; `failing` fails, and the
    node after it is not run; the log stops where `lost_at` has started (the pod was lost)."""
    from kedro_airflow_k8s.watched import MARKER

    def event(node: str, what: str, **more: object) -> str:
        return MARKER + json.dumps({"node": node, "event": what, "time": 0.0, **more})

    lines = ["kak-test: the group's kedro run starts"]
    for node in WATCHED_DEMO_NODES:
        if failing and node == "report":
            lines.append(event(node, "not run"))
            continue
        lines += [event(node, "start"), f"kak-test: node {node} ran"]
        if node == lost_at:
            break
        lines.append(event(node, "failed", error=["Traceback (most recent call last):",
                                                  f"ValueError: kak-test: {node} failed"])
                     if node == failing else event(node, "success"))
    return "\n".join(lines)


# The example project's nodes in the order its (sequential) run takes them
WATCHED_DEMO_NODES = ("clean_orders", "count_customers", "features.daily_totals",
                      "features.scale", "train", "report")
# What the pods of each namespace of the test cluster print (kwok serves it as their log).
CLUSTER_LOGS = {
    "kedro": "kedro run: node done\nkak-test: every node of this namespace succeeds",
    "kedro-fail": ("Traceback (most recent call last):\n"
                   "ValueError: kak-test: the node failed on purpose"),
    "kedro-watched": _watched_log(),
    "kedro-watched-fail": _watched_log(failing="train"),
    "kedro-watched-lost": _watched_log(lost_at="clean_orders"),
}
# The Airflow connection of the suite's Airflow to the test cluster.
CLUSTER_CONNECTION = "kak_cluster"


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory):
    """A real Kubernetes control plane on 127.0.0.1 (tests/cluster): kube-apiserver, etcd,
    kube-controller-manager, kube-scheduler and a kwok node; built on the first use on a
    machine (minutes), cached after."""
    from tests.cluster import controlplane

    plane = controlplane.start(tmp_path_factory.mktemp("control-plane"), logs=CLUSTER_LOGS)
    try:
        yield plane
    finally:
        plane.stop()


def deploy_role(plane, namespace: str) -> None:
    """The Role and RoleBinding of docs/deploy.md, as written there, in `namespace`."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    block = next(b for b in text.split("```yaml")[1:] if "kind: RoleBinding" in b)
    for manifest in yaml.safe_load_all(block.split("```")[0]):
        manifest["metadata"]["namespace"] = namespace
        plane.apply(manifest)


@pytest.fixture(scope="session")
def cluster_connection(airflow_server, control_plane, tmp_path_factory) -> str:
    """An Airflow connection of the suite's Airflow to the test cluster, as the service
    account `airflow/airflow-worker` holding only the Role of docs/deploy.md in the pipelines'
    namespaces; its id."""
    plane = control_plane
    for namespace in ("airflow", *CLUSTER_LOGS):
        plane.ensure_namespace(namespace)
    plane.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                 "metadata": {"name": "airflow-worker", "namespace": "airflow"}})
    for namespace in CLUSTER_LOGS:
        deploy_role(plane, namespace)
    kubeconfig = plane.write_kubeconfig(
        tmp_path_factory.mktemp("airflow-kube") / "config",
        plane.token_for("airflow", "airflow-worker"), namespace="kedro")
    body = {"connection_id": CLUSTER_CONNECTION, "conn_type": "kubernetes",
            "extra": json.dumps({"kube_config_path": str(kubeconfig), "namespace": "kedro"})}
    request = urllib.request.Request(
        f"{airflow_server.url}/api/v2/connections", method="POST",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json",
                 "Authorization": f"Bearer {airflow_server.token()}"})
    try:
        urllib.request.urlopen(request, timeout=30).close()
    except urllib.error.HTTPError as exc:
        if exc.code != 409:  # made already by an earlier session of the same Airflow
            raise
    return CLUSTER_CONNECTION
