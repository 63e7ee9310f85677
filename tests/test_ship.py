"""Progress display and run ids of the shipping flow (the Airflow side is in tests/e2e)."""

import io
import re

from kedro_airflow_k8s.airflow_client import RunProgress
from kedro_airflow_k8s.ship import _Display, new_run_id


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_plain_lines_only_when_something_changed():
    out = io.StringIO()
    with _Display(out) as display:
        display.show(RunProgress("queued", {"a": None, "b": None}))
        display.show(RunProgress("queued", {"a": None, "b": None}))
        display.show(RunProgress("running", {"a": "running", "b": None}))
        display.show(RunProgress("failed", {"a": "failed", "b": "upstream_failed"}))
    assert out.getvalue().splitlines() == [
        "0/2 tasks done, 0 running, 0 failed, run queued",
        "0/2 tasks done, 1 running, 0 failed, run running",
        "2/2 tasks done, 0 running, 2 failed, run failed",
    ]


def test_terminal_gets_a_live_bar():
    out = Terminal()
    with _Display(out) as display:
        display.show(RunProgress("running", {"a": "success", "b": "running", "c": None}))
        assert display.progress is not None
        bar = display.progress.tasks[0]
        assert (bar.completed, bar.total) == (1, 3)
        assert bar.fields["detail"] == "1 running, 0 failed, run running"


def test_run_ids_are_unique_and_url_friendly():
    ids = {new_run_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"kedro_airflow_k8s__\d{8}T\d{6}Z__[0-9a-f]{6}", i) for i in ids)
