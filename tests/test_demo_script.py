"""examples/demo.sh is what a newcomer runs first: shellcheck finds nothing in it (the run
itself is tests/e2e/test_demo.py)."""

import subprocess

from tests.conftest import ROOT
from tests.test_spark_artifacts import SHELLCHECK


def test_demo_script_is_shellcheck_clean():
    check = subprocess.run([SHELLCHECK, str(ROOT / "examples" / "demo.sh")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
