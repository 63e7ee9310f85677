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

import pytest  # noqa: E402
import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo"
KEDRO = str(Path(sys.executable).parent / "kedro")


@pytest.fixture
def demo_project(tmp_path: Path) -> Path:
    """A fresh copy of the example project, outside any git repository."""
    target = tmp_path / "demo"
    shutil.copytree(DEMO, target, ignore=shutil.ignore_patterns("dags", "0[2-8]_*",
                                                                "__pycache__"))
    return target


def write_config(project: Path, config: dict, env: str = "base") -> Path:
    path = project / "conf" / env / "airflow-k8s.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def run_kedro(project: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `kedro ...` in the project as a user would, in a child process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([KEDRO, *args], cwd=project, capture_output=True, text=True,
                          env=full_env, timeout=300)
