"""A real Kubernetes control plane on 127.0.0.1 for the tests: etcd, kube-apiserver,
kube-controller-manager and kube-scheduler built from Kubernetes' own Go modules
(tests/cluster/build.sh), and kwok for the nodes and the pods' lifecycle.

Nothing here stands in for Kubernetes: pods are admitted, defaulted and validated by the real
API server, scheduled by the real scheduler, their volume claims bound by the real controller
manager (its host-path provisioner). Only the kubelet is kwok's: it moves a pod through its
phases by the Stages in stages.yaml (outcomes chosen by the pod's annotations, see there) and
serves the log file a test names.

`python -m tests.cluster.controlplane` starts one in the foreground and prints its kubeconfig.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
K8S_VERSION = "1.37"  # the release go.mod pins (k8s.io/kubernetes v1.37.2)


def _node(name: str, labels: dict[str, str], taints: list[dict[str, str]]) -> dict:
    capacity = {"cpu": "32", "memory": "256Gi", "pods": "110", "nvidia.com/gpu": "8"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {
                "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64", "type": "kwok", **labels}},
            "spec": {"taints": taints},
            "status": {"allocatable": capacity, "capacity": capacity}}


# A general node, and one of a dedicated high-memory pool (labelled and tainted as a GKE pool
# would be; the example project's `huge` profile selects and tolerates it).
NODES = [
    _node("kwok-general-0", {}, []),
    _node("kwok-highmem-0", {"cloud.google.com/gke-nodepool": "highmem"},
          [{"key": "dedicated", "value": "highmem", "effect": "NoSchedule"}]),
]
# the claims' class: kube-controller-manager's host-path provisioner creates and deletes the
# volumes under /tmp (it refuses any other root)
STORAGE_CLASS = "standard"
HOSTPATH_ROOT = "/tmp/hostpath_pv"
ADMIN_TOKEN_USER = "kak-admin"


def build() -> Path:
    """The folder of the built binaries (built on the first call on a machine, cached after)."""
    done = subprocess.run(["bash", str(HERE / "build.sh")], check=True, text=True,
                          stdout=subprocess.PIPE)
    return Path(done.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serving_certs(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a serving key and certificate for 127.0.0.1 / localhost, used by the API
    server and by kwok's kubelet endpoint: (ca, cert, key)."""
    import trustme

    ca = trustme.CA(organization_name="kedro-airflow-k8s test cluster")
    leaf = ca.issue_cert("127.0.0.1", "localhost", "kubernetes", "kubernetes.default.svc")
    ca_path, cert_path, key_path = (directory / n for n in ("ca.crt", "serving.crt",
                                                              "serving.key"))
    ca.cert_pem.write_to_path(str(ca_path))
    leaf.private_key_pem.write_to_path(str(key_path))
    cert_path.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    return ca_path, cert_path, key_path


def _service_account_keys(directory: Path) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private, public = directory / "sa.key", directory / "sa.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.TraditionalOpenSSL,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def kubeconfig(server: str, ca: Path, token: str, namespace: str = "default") -> dict:
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "kak",
        "clusters": [{"name": "kak", "cluster": {
            "server": server,
            "certificate-authority-data": base64.b64encode(ca.read_bytes()).decode()}}],
        "users": [{"name": "kak", "user": {"token": token}}],
        "contexts": [{"name": "kak", "context": {"cluster": "kak", "user": "kak",
                                                  "namespace": namespace}}],
    }


@dataclass
class ControlPlane:
    """A running control plane; `api` talks to it as the cluster's admin."""

    workdir: Path
    server: str
    ca: Path
    admin_token: str
    admin_kubeconfig: Path
    logs_dir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)

    # --- the API, as the admin -------------------------------------------------------------

    def request(self, method: str, path: str, body: dict | None = None,
                token: str | None = None, content_type: str = "application/json",
                ) -> tuple[int, dict]:
        """One call to the API server: (HTTP status, decoded JSON body)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {token or self.admin_token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        context = ssl.create_default_context(cafile=str(self.ca))
        try:
            with urllib.request.urlopen(req, context=context, timeout=30) as resp:
                raw = resp.read()
                if resp.headers.get_content_type() != "application/json":
                    return resp.status, {"text": raw.decode(errors="replace")}
                return resp.status, json.loads(raw) if raw else {}
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except ValueError:
                return exc.code, {"message": raw.decode(errors="replace")}

    def ok(self, method: str, path: str, body: dict | None = None, **kwargs) -> dict:
        status, answer = self.request(method, path, body, **kwargs)
        assert status < 300, f"{method} {path}: {status} {answer.get('message', answer)}"
        return answer

    def apply(self, manifest: dict) -> None:
        """Create `manifest` (a namespaced or cluster object), or leave it if it exists."""
        path = collection_path(manifest)
        status, answer = self.request("POST", path, manifest)
        assert status < 300 or status == 409, f"POST {path}: {status} {answer.get('message')}"

    def ensure_namespace(self, name: str) -> None:
        self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        # the service account admission plugin refuses pods until the namespace's default
        # account exists (kube-controller-manager creates it)
        self.wait_for(lambda: self.request(
            "GET", f"/api/v1/namespaces/{name}/serviceaccounts/default")[0] == 200,
            f"the default service account of namespace {name}")

    def dry_run_create(self, manifest: dict) -> tuple[int, dict]:
        """Create `manifest` with a server-side dry run: admitted, defaulted and validated by
        the API server, stored nowhere."""
        return self.request("POST", collection_path(manifest) + "?dryRun=All", manifest)

    def token_for(self, namespace: str, service_account: str, hours: int = 24) -> str:
        """A token of a service account, issued by the API server (TokenRequest)."""
        answer = self.ok("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/"
                                 f"{service_account}/token",
                         {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                          "spec": {"expirationSeconds": hours * 3600}})
        return answer["status"]["token"]

    def write_kubeconfig(self, path: Path, token: str, namespace: str = "default") -> Path:
        path.write_text(yaml.safe_dump(kubeconfig(self.server, self.ca, token, namespace)))
        return path

    def wait_for(self, check, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.3)
        raise TimeoutError(f"timed out waiting for {what}; logs in {self.logs_dir}")

    def alive(self) -> list[str]:
        """The components that have exited (an empty list when all run)."""
        return [name for name, proc in self.processes.items() if proc.poll() is not None]

    def stop(self) -> None:
        self.stopping.set()
        for proc in reversed(list(self.processes.values())):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def collection_path(manifest: dict) -> str:
    """The REST path that creates `manifest` (the kinds the tests use)."""
    kind = manifest["kind"]
    group_version = manifest["apiVersion"]
    plural = {"StorageClass": "storageclasses", "PersistentVolumeClaim": "persistentvolumeclaims",
              "ClusterRole": "clusterroles", "ClusterRoleBinding": "clusterrolebindings",
              }.get(kind, kind.lower() + "s")
    base = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    namespace = manifest.get("metadata", {}).get("namespace")
    cluster_scoped = kind in {"Namespace", "Node", "StorageClass", "ClusterRole",
                              "ClusterRoleBinding", "PersistentVolume", "PriorityClass"}
    if cluster_scoped:
        return f"{base}/{plural}"
    return f"{base}/namespaces/{namespace or 'default'}/{plural}"


def _spawn(name: str, args: list[str], logs_dir: Path) -> subprocess.Popen:
    log = open(logs_dir / f"{name}.log", "wb")  # noqa: SIM115 - the process owns it until it ends
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)


def _wait_ready(server: str, ca: Path, token: str, logs_dir: Path,
                proc: subprocess.Popen, timeout: float = 180.0) -> None:
    context = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"kube-apiserver exited {proc.returncode}; see "
                               f"{logs_dir / 'kube-apiserver.log'}")
        req = urllib.request.Request(server + "/readyz")
        req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, context=context, timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError, ssl.SSLError) as exc:
            last = str(exc)
        time.sleep(0.5)
    raise TimeoutError(f"kube-apiserver not ready after {timeout} s ({last}); see {logs_dir}")


def _log_ticker(files: list[Path], stop: threading.Event) -> None:
    """An empty log line into every pod log each second (see stages.yaml: the provider
    notices that a container finished only as log arrives)."""
    while not stop.wait(1.0):
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        for path in files:
            with path.open("a") as log:
                log.write(f"{stamp} stdout F \n")


def kwok_config(workdir: Path, logs: dict[str, str]) -> Path:
    """stages.yaml with a ClusterLogs per namespace of `logs`: its pods' log is that text."""
    documents = [(HERE / "stages.yaml").read_text()]
    stamp = "2026-01-01T00:00:00.000000000Z"
    for namespace, text in sorted(logs.items()):
        log_file = workdir / f"pods-{namespace}.log"
        log_file.write_text("".join(f"{stamp} stdout F {line}\n" for line in text.splitlines()))
        documents.append(yaml.safe_dump({
            "kind": "ClusterLogs", "apiVersion": "kwok.x-k8s.io/v1alpha1",
            "metadata": {"name": f"logs-{namespace}"},
            "spec": {"selector": {"matchNamespaces": [namespace]},
                     "logs": [{"logsFile": str(log_file), "follow": False}]}}))
    path = workdir / "kwok.yaml"
    path.write_text("\n---\n".join(documents))
    return path


def start(workdir: Path, bin_dir: Path | None = None,
          logs: dict[str, str] | None = None) -> ControlPlane:
    """Start etcd, the API server, the controller manager, the scheduler and kwok with one
    node, in `workdir`; returns when the node is Ready and the storage class exists. `logs`:
    the log text of the pods of each namespace named."""
    bin_dir = bin_dir or build()
    workdir.mkdir(parents=True, exist_ok=True)
    logs_dir = workdir / "logs"
    logs_dir.mkdir(exist_ok=True)
    pki = workdir / "pki"
    pki.mkdir(exist_ok=True)
    sa_key, sa_pub = _service_account_keys(pki)
    admin_token = base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
    (pki / "tokens.csv").write_text(f'{admin_token},{ADMIN_TOKEN_USER},1,"system:masters"\n')
    etcd_port, etcd_peer, api_port, kwok_port = (free_port() for _ in range(4))
    server = f"https://127.0.0.1:{api_port}"
    ca, serving_cert, serving_key = _serving_certs(pki)
    plane = ControlPlane(workdir=workdir, server=server, ca=ca,
                         admin_token=admin_token, admin_kubeconfig=workdir / "admin.kubeconfig",
                         logs_dir=logs_dir)
    try:
        plane.processes["etcd"] = _spawn("etcd", [
            str(bin_dir / "etcd"), "--name", "kak", "--data-dir", str(workdir / "etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
            "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
            "--listen-peer-urls", f"http://127.0.0.1:{etcd_peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{etcd_peer}",
            "--initial-cluster", f"kak=http://127.0.0.1:{etcd_peer}",
            "--unsafe-no-fsync", "--quota-backend-bytes", str(2 * 1024**3),
        ], logs_dir)
        plane.processes["kube-apiserver"] = _spawn("kube-apiserver", [
            str(bin_dir / "kube-apiserver"),
            "--etcd-servers", f"http://127.0.0.1:{etcd_port}",
            "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
            "--secure-port", str(api_port),
            "--tls-cert-file", str(serving_cert), "--tls-private-key-file", str(serving_key),
            "--token-auth-file", str(pki / "tokens.csv"),
            "--authorization-mode", "RBAC",
            "--service-account-issuer", "https://kubernetes.default.svc",
            "--service-account-key-file", str(sa_pub),
            "--service-account-signing-key-file", str(sa_key),
            "--service-cluster-ip-range", "10.96.0.0/16",
            "--kubelet-preferred-address-types", "InternalIP",
            "--allow-privileged=true",
            "--endpoint-reconciler-type", "none",
        ], logs_dir)
        _wait_ready(server, plane.ca, admin_token, logs_dir, plane.processes["kube-apiserver"])
        plane.write_kubeconfig(plane.admin_kubeconfig, admin_token)
        plane.processes["kube-controller-manager"] = _spawn("kube-controller-manager", [
            str(bin_dir / "kube-controller-manager"),
            "--kubeconfig", str(plane.admin_kubeconfig),
            "--service-account-private-key-file", str(sa_key),
            "--root-ca-file", str(plane.ca),
            "--leader-elect=false", "--secure-port=0",
            "--enable-hostpath-provisioner=true",
            "--controllers", "*",
        ], logs_dir)
        plane.processes["kube-scheduler"] = _spawn("kube-scheduler", [
            str(bin_dir / "kube-scheduler"),
            "--kubeconfig", str(plane.admin_kubeconfig),
            "--leader-elect=false", "--secure-port=0",
        ], logs_dir)
        plane.processes["kwok"] = _spawn("kwok", [
            str(bin_dir / "kwok"),
            "--kubeconfig", str(plane.admin_kubeconfig),
            "--config", str(kwok_config(workdir, logs or {})),
            "--manage-all-nodes=true",
            "--node-ip", "127.0.0.1", "--node-port", str(kwok_port),
            "--server-address", f"127.0.0.1:{kwok_port}",
            "--tls-cert-file", str(serving_cert), "--tls-private-key-file", str(serving_key),
            "--cidr", "10.244.0.0/16",
        ], logs_dir)
        threading.Thread(target=_log_ticker, daemon=True, args=(
            sorted(workdir.glob("pods-*.log")), plane.stopping)).start()
        for node in NODES:
            plane.apply(node)
        plane.apply({
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS, "annotations": {
                "storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "kubernetes.io/host-path", "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        })
        for node in NODES:
            name = node["metadata"]["name"]
            plane.wait_for(lambda n=name: _node_ready(plane, n), f"node {name} Ready",
                           timeout=120)
        plane.ensure_namespace("default")
        return plane
    except BaseException:
        plane.stop()
        raise


def _node_ready(plane: ControlPlane, name: str) -> bool:
    status, node = plane.request("GET", f"/api/v1/nodes/{name}")
    if status != 200:
        return False
    conditions = node.get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


@contextlib.contextmanager
def running(workdir: Path | None = None, logs: dict[str, str] | None = None):
    """A control plane for the duration of the `with` block."""
    owned = workdir is None
    workdir = workdir or Path(tempfile.mkdtemp(prefix="kak-cluster-"))
    plane = start(workdir, logs=logs)
    try:
        yield plane
    finally:
        plane.stop()
        if owned:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    with running(Path(sys.argv[1]) if len(sys.argv) > 1 else None) as plane:
        print(f"API server {plane.server}; admin kubeconfig {plane.admin_kubeconfig}; "
              f"logs {plane.logs_dir}. Ctrl-C stops it.", flush=True)
        try:
            while not plane.alive():
                time.sleep(1)
            print(f"exited: {plane.alive()}", file=sys.stderr)
        except KeyboardInterrupt:
            pass
