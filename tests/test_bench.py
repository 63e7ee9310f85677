"""The benchmark script runs and prints every figure (small N; no timing is asserted)."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def test_bench_prints_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--sizes", "10",
                             "--repeat", "1", "--json", str(out)],
                            capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    header, row = result.stdout.splitlines()[:2]
    assert header.split()[:3] == ["nodes", "tasks", "compile"]
    assert row.split()[0] == "10"
    assert "import time added to `kedro --help`:" in result.stdout
    figures = json.loads(out.read_text())
    assert figures["help_import_ms"] > 0
    (measured,) = figures["rows"]
    for key in ("compile_s", "compile_peak_mib", "floor_s", "parse_s", "parse_floor_s",
                "parse_ratio"):
        assert measured[key] > 0, key
    # a difference of two timings: at one repeat on a busy machine its sign is noise
    assert measured["compile_over_floor_s"] == pytest.approx(
        measured["compile_s"] - measured["floor_s"], abs=0.0015)
    assert measured["tasks"] == 13  # 9 node tasks (two nodes share one) and 4 of the volume
