"""The golden corpus: every configuration of tests/golden/configs.py compiles, renders,
imports in Airflow's DagBag and renders every task as at run time exactly as stored.

A difference is a change of behaviour: when it is intended, `python -m
tests.golden.regenerate NAME` rewrites the stored JSON, and the diff shows it to a reviewer.
"""

import difflib

import pytest

from tests.golden.configs import CONFIGS
from tests.golden.regenerate import current, expected_path


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_dag_airflow_renders_is_the_stored_one(name):
    expected = expected_path(name).read_text(encoding="utf-8")
    got = current(name)
    if got != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), got.splitlines(True),
                                            f"stored {name}.json", "now", n=2))
        pytest.fail(f"{name} differs from the golden corpus:\n{diff[:6000]}")


def test_the_corpus_has_no_stray_files():
    stored = {path.stem for path in expected_path("x").parent.glob("*.json")}
    assert stored == set(CONFIGS)
