"""An in-memory stand-in for `AirflowClient`, for unit tests of the commands' Airflow side.

It implements the client's methods over in-memory DAGs, runs and task instances, the way
Airflow 3 answers them: a DAG file written to its folder is found (and parsed with Python's
`ast`: a file that does not parse is an import error, its `schedule=` gives the timetable,
its `task_id=`s the tasks), a paused DAG runs nothing, a run's tasks move through the states
a test scripts, one step per poll; backfills make one run per daily date. Only unit tests use
it: tests/e2e prove the real client against a real `airflow standalone`.
"""

from __future__ import annotations

import ast
import datetime
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kedro_airflow_k8s.airflow_client import (
    FINISHED_RUN_STATES,
    ImportProblem,
    RunProgress,
    ui_url,
)
from kedro_airflow_k8s.errors import AirflowApiError, DagNotFound

HOST = "http://airflow.test"
DONE = {"success", "skipped", "failed", "upstream_failed", "removed"}
# task id ("*": every other task) -> its states, one per poll (the last one stays)
Script = dict[str, list[str | None]]


@dataclass
class FakeDag:
    dag_id: str
    source: str
    file_token: str
    timetable_summary: str | None = None
    timetable_periodic: bool = False
    is_paused: bool = True  # Airflow's default for a new DAG
    tasks: list[str] = field(default_factory=list)
    pools: dict[str, tuple[str | None, int | None]] = field(default_factory=dict)
    depends_on_past: bool = False


@dataclass
class FakeRun:
    dag_id: str
    run_id: str
    conf: dict[str, Any] | None
    script: Script
    logical_date: datetime.datetime | None = None
    run_type: str = "manual"
    polls: int = 0
    cancelled: bool = False

    def tasks(self) -> dict[str, str | None]:
        if self.cancelled and self.polls == 0:  # a queued run of a cancelled backfill
            return {task: "failed" for task in self.script}
        if self.polls == 0:  # not started yet
            return {task: None for task in self.script}
        return {task: states[min(self.polls, len(states)) - 1]
                for task, states in self.script.items()}

    @property
    def state(self) -> str:
        tasks = self.tasks()
        if self.polls == 0 and not self.cancelled:
            return "queued"
        if not all(state in DONE for state in tasks.values()):
            return "running"
        bad = any(state in ("failed", "upstream_failed") for state in tasks.values())
        return "failed" if bad else "success"


def _parse(dag_id: str, text: str, token: str) -> FakeDag:
    """What Airflow's DAG processor makes of a file, as far as these tests need it; a
    SyntaxError as Airflow's import error does."""
    tree = ast.parse(text)
    schedule: ast.expr | None = None
    tasks = []
    for node in ast.walk(tree):
        for keyword in getattr(node, "keywords", []):
            if keyword.arg == "schedule":
                schedule = keyword.value
            elif keyword.arg == "task_id" and isinstance(keyword.value, ast.Constant):
                tasks.append(keyword.value.value)
    if schedule is None or (isinstance(schedule, ast.Constant) and schedule.value is None):
        summary, periodic = None, False
    elif isinstance(schedule, ast.Constant):
        summary, periodic = str(schedule.value), True
    else:  # Asset(...), & and | of them
        summary, periodic = "Asset", False
    return FakeDag(dag_id, text, token, summary, periodic, tasks=sorted(tasks))


class FakeAirflow:
    """The `AirflowClient` methods the commands call, over in-memory state (see the module)."""

    def __init__(self, dag_folder: Path | None = None, host: str = HOST) -> None:
        self.host = host
        self.dag_folder = dag_folder
        self.dags: dict[str, FakeDag] = {}
        self.runs: dict[tuple[str, str], FakeRun] = {}
        self.scripts: dict[str, Script] = {}  # dag id -> what its runs do (default: succeed)
        self.logs: dict[str, list[str]] = {}  # task id -> the tail of its log
        self.problems: dict[str, str] = {}  # file name -> the stack trace of its import error
        self.fail_import: dict[str, str] = {}  # file name -> the error its import raises
        self.pool_slots: dict[str, float] | None = {"default_pool": 128.0}  # None: HTTP 403
        self.variables: set[str] | None = set()  # None: reading Variables is denied
        self.backfills: dict[int, dict[str, Any]] = {}
        self.calls: list[str] = []  # the methods called, in order
        self.interrupt_at_poll: int | None = None  # Ctrl-C during that progress() call
        self._tokens = itertools.count(1)
        self._backfill_ids = itertools.count(1)

    # -- the DAG processor ----------------------------------------------------------------------

    def _scan(self) -> None:
        """Parse every file of the DAG folder whose text Airflow does not serve yet."""
        if self.dag_folder is None or not self.dag_folder.is_dir():
            return
        for path in sorted(self.dag_folder.glob("*.py")):
            text, dag_id = path.read_text(), path.stem
            known = self.dags.get(dag_id)
            if known is not None and known.source == text:
                continue
            if path.name in self.fail_import:
                self.problems[path.name] = (f"Traceback (most recent call last):\n  File "
                                            f"\"{path}\", line 1\n{self.fail_import[path.name]}")
                continue
            try:
                parsed = _parse(dag_id, text, known.file_token if known else
                                f"token-{next(self._tokens)}")
            except SyntaxError as exc:
                self.problems[path.name] = f"Traceback (most recent call last):\n{exc!r}"
                continue
            self.problems.pop(path.name, None)
            if known is not None:
                parsed.is_paused = known.is_paused
            self.dags[dag_id] = parsed

    def add_dag(self, dag_id: str, schedule: str | None = "@daily", *, paused: bool = False,
                tasks: list[str] | None = None, depends_on_past: bool = False,
                pools: dict[str, tuple[str | None, int | None]] | None = None) -> FakeDag:
        """A DAG Airflow has already (backfill's DAGs): scheduled daily unless told."""
        dag = FakeDag(dag_id, f"# {dag_id}", f"token-{next(self._tokens)}",
                      timetable_summary=schedule,
                      timetable_periodic=schedule is not None and schedule != "Asset",
                      is_paused=paused, tasks=tasks or ["a"], pools=pools or {},
                      depends_on_past=depends_on_past)
        self.dags[dag_id] = dag
        return dag

    def _dag(self, dag_id: str) -> FakeDag:
        self._scan()
        if dag_id not in self.dags:
            raise DagNotFound(f"DAG '{dag_id}' is not (yet) known to Airflow at {self.host}")
        return self.dags[dag_id]

    def _script(self, dag: FakeDag) -> Script:
        script = self.scripts.get(dag.dag_id, {})
        other = script.get("*", ["running", "success"])
        return {task: script.get(task, other) for task in dag.tasks}

    # -- AirflowClient's methods ----------------------------------------------------------------

    def dag(self, dag_id: str) -> FakeDag:
        self.calls.append("dag")
        return self._dag(dag_id)

    def dag_source(self, dag_id: str) -> str | None:
        self.calls.append("dag_source")
        return self._dag(dag_id).source

    def request_reparse(self, file_token: str) -> None:
        self.calls.append("request_reparse")
        assert file_token in {dag.file_token for dag in self.dags.values()}

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.calls.append(f"set_paused {paused}")
        self._dag(dag_id).is_paused = paused

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any] | None = None) -> str:
        self.calls.append("trigger")
        dag = self._dag(dag_id)
        self.runs[dag_id, run_id] = FakeRun(dag_id, run_id, conf, self._script(dag))
        return run_id

    def progress(self, dag_id: str, run_id: str) -> RunProgress:
        self.calls.append("progress")
        if self.interrupt_at_poll is not None:
            self.interrupt_at_poll -= 1
            if self.interrupt_at_poll == 0:
                raise KeyboardInterrupt
        run = self.runs[dag_id, run_id]
        if not self.dags[dag_id].is_paused and not run.cancelled:  # paused: nothing runs
            run.polls += 1
        return RunProgress(run.state, run.tasks())

    def log_tail(self, dag_id: str, run_id: str, task_id: str, lines: int = 20) -> list[str]:
        return self.logs.get(task_id, [])[-lines:]

    def import_problems(self, filename: str) -> list[ImportProblem]:
        self.calls.append("import_problems")
        self._scan()
        return [ImportProblem(name, None, trace) for name, trace in self.problems.items()
                if name == filename]

    def task_pools(self, dag_id: str) -> dict[str, tuple[str | None, int | None]]:
        dag = self._dag(dag_id)
        return {task: dag.pools.get(task, (None, None)) for task in dag.tasks}

    def pools(self) -> dict[str, float] | None:
        return self.pool_slots

    def variable_exists(self, key: str) -> bool | None:
        return None if self.variables is None else key in self.variables

    def ui_url(self, dag_id: str | None = None, run_id: str | None = None) -> str:
        return ui_url(self.host, dag_id, run_id)

    # -- backfills: daily DAGs ------------------------------------------------------------------

    def backfill_dry_run(self, dag_id: str, start: datetime.datetime, end: datetime.datetime,
                         reprocess: str = "none", *, run_backwards: bool = False,
                         conf: dict[str, Any] | None = None) -> list[datetime.datetime]:
        self.calls.append("backfill_dry_run")
        dag = self._dag(dag_id)
        if run_backwards and dag.depends_on_past:
            raise AirflowApiError(f"Airflow at {self.host} answered HTTP 409 to a dry run of a "
                                  f"backfill of DAG '{dag_id}': Backfill cannot be run in "
                                  "reverse when the DAG has tasks where depends_on_past=True.")
        days = (end.date() - start.date()).days + 1
        dates = [datetime.datetime.combine(start.date() + datetime.timedelta(days=n),
                                           datetime.time(), datetime.timezone.utc)
                 for n in range(days)]
        dates = [d for d in dates if start <= d <= end and self._runs_again(dag_id, d, reprocess)]
        return sorted(dates, reverse=run_backwards)

    def _runs_again(self, dag_id: str, date: datetime.datetime, reprocess: str) -> bool:
        had = [run for run in self.runs.values()
               if run.dag_id == dag_id and run.logical_date == date]
        if not had:
            return True
        state = had[-1].state
        return (reprocess == "completed" and state in FINISHED_RUN_STATES) or (
            reprocess == "failed" and state == "failed")

    def create_backfill(self, dag_id: str, start: datetime.datetime, end: datetime.datetime,
                        reprocess: str = "none", max_active_runs: int | None = None, *,
                        run_backwards: bool = False, conf: dict[str, Any] | None = None) -> int:
        self.calls.append("create_backfill")
        dates = self.backfill_dry_run(dag_id, start, end, reprocess, run_backwards=run_backwards)
        backfill_id = next(self._backfill_ids)
        runs = []
        for date in dates:
            run_id = f"backfill__{date.isoformat()}"
            self.runs[dag_id, run_id] = FakeRun(dag_id, run_id, conf, self._script(
                self.dags[dag_id]), logical_date=date, run_type="backfill")
            runs.append(run_id)
        self.backfills[backfill_id] = {"dag_id": dag_id, "runs": runs, "cancelled": False,
                                       "max_active_runs": max_active_runs}
        return backfill_id

    def cancel_backfill(self, backfill_id: int) -> bool:
        self.calls.append("cancel_backfill")
        made = self.backfills[backfill_id]
        runs = [self.runs[made["dag_id"], run_id] for run_id in made["runs"]]
        if made["cancelled"] or all(run.state in FINISHED_RUN_STATES for run in runs):
            return False
        made["cancelled"] = True
        for run in runs:
            if run.polls == 0:  # queued: it fails; a running one goes on
                run.cancelled = True
        return True

    def backfill_runs(self, dag_id: str, logical_dates: list[datetime.datetime]) -> list[str]:
        wanted = set(logical_dates)
        found = [run for run in self.runs.values() if run.dag_id == dag_id
                 and run.run_type == "backfill" and run.logical_date in wanted]
        return [run.run_id for run in sorted(found, key=lambda run: str(run.logical_date))]
