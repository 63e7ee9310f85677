"""Real services started as child processes, for the e2e fixtures (tests/conftest.py) and
the Airflow benchmark (bench/grouping.py): no pytest, no settings changed on import."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent
OPENLINEAGE_LOG = "openlineage.jsonl"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the service behind {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def stop_process_group(process: subprocess.Popen) -> None:
    """Stop a service and every process it started (it runs in its own session)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


def start_airflow(home: Path, dags: Path,
                  openlineage: bool = False) -> tuple[subprocess.Popen, str, str, str]:
    """`airflow standalone` (SQLite, LocalExecutor) on 127.0.0.1 with its home in `home`,
    its log in home/standalone.log: the process, its URL, a user and its password. With
    `openlineage`, the OpenLineage provider (when installed) writes its events as JSON lines
    to home/OPENLINEAGE_LOG."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update({
        "AIRFLOW_HOME": str(home),
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "3",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
    })
    if openlineage:
        env["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(
            {"type": "file", "log_file_path": str(home / OPENLINEAGE_LOG), "append": True})
    with open(home / "standalone.log", "w") as log:  # the child keeps its own copy
        process = subprocess.Popen([str(BIN / "airflow"), "standalone"], cwd=home, env=env,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/api/v2/monitor/health", timeout=300, process=process)
        passwords = home / "simple_auth_manager_passwords.json.generated"
        deadline = time.monotonic() + 60
        while not passwords.exists() and time.monotonic() < deadline:
            time.sleep(1)
        username, password = next(iter(json.loads(passwords.read_text()).items()))
    except BaseException:
        stop_process_group(process)
        raise
    return process, url, username, password
