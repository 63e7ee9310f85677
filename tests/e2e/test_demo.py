"""The README's first command: examples/demo.sh, from start to a finished run on Airflow."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e


def test_demo_script_runs_the_example_to_success_and_stops_airflow():
    env = {**os.environ, "DEMO_VENV": str(Path(sys.executable).parent.parent)}
    env = {k: v for k, v in env.items() if not k.startswith("AIRFLOW")}
    result = subprocess.run(["bash", str(ROOT / "examples" / "demo.sh")], env=env,
                            capture_output=True, text=True, timeout=900)
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert "6/6 tasks done, 0 running, 0 failed, run success" in out
    assert re.search(r"Run kedro_airflow_k8s__\S+ succeeded\.", out)
    assert 'Report: {"customers":3,' in out and '"trend":"up"}' in out
    home = re.search(r"\(home (\S+)/airflow, log", out).group(1)
    assert out.rstrip().endswith(f"Stopping Airflow ...\nRemoving {home} (DEMO_KEEP=1 keeps "
                                 "it) ...")
    port = re.search(r"Starting Airflow 3 on http://127.0.0.1:(\d+)", out).group(1)
    # Airflow is gone: nothing answers on its port any more
    probe = subprocess.run([sys.executable, "-c", "import socket, sys; socket.create_connection("
                            "('127.0.0.1', int(sys.argv[1])), timeout=2)", port],
                           capture_output=True)
    assert probe.returncode != 0
    # what the run wrote went to the temporary directory, shown above, then removed with it;
    # nothing was written into the repository
    assert f"The pipeline wrote its outputs under {home}/demo/data:" in out
    assert not Path(home).exists()
    assert not (ROOT / "examples" / "demo" / "data" / "08_reporting").exists()
