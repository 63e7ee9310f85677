"""The commands' Airflow side without Airflow: upload-pipeline, schedule, run-once and
backfill driven against `tests.fake_airflow.FakeAirflow`, an in-memory stand-in for the REST
API (the one thing not run here; tests/e2e prove the real client on `airflow standalone`).
The DAGs are the demo project's, compiled and uploaded for real to a local folder."""

import datetime
import inspect
import io
import re

import pytest
import yaml

from kedro_airflow_k8s.airflow_client import AirflowClient, BackfillProgress, RunProgress
from kedro_airflow_k8s.context import KedroProject
from kedro_airflow_k8s.display import RunDisplay
from kedro_airflow_k8s.errors import AirflowApiError, ConfigError, RunFailed
from kedro_airflow_k8s.options import CompileOptions
from kedro_airflow_k8s.ship import (
    backfill,
    backfill_conf,
    drive,
    follow,
    publish_each,
    run_once,
    schedule_each,
)
from tests.conftest import write_config
from tests.fake_airflow import HOST, FakeAirflow

JAN = [datetime.datetime(2024, 1, day, tzinfo=datetime.timezone.utc) for day in (1, 2, 3)]
NEW_FILE = ("Waiting for Airflow to find the new file demo.py: its DAG processor looks for new "
            "files in the DAG folder every [dag_processor] refresh_interval (300 s by default, "
            "a deployment may set it lower: see Troubleshooting in the docs), then parses them.")
REPARSE = ("Waiting for Airflow to load this version of demo.py: asked its DAG processor to "
           "parse the file again.")
NO_CLUSTER = ("ERROR: kubernetes.config.config_exception.ConfigException: Invalid kube-config "
              "file. No configuration found.")


@pytest.fixture
def dags(demo_project):
    return demo_project / "dags"


@pytest.fixture
def airflow(dags):
    return FakeAirflow(dags)


def lines_of(steps):
    """Drive `steps`; its result (or the error it raised) and the lines it yielded (the
    compiler's notes left out)."""
    events = []
    try:
        result = drive(steps, events.append)
    except Exception as exc:  # noqa: BLE001 - the test looks at it
        result = exc
    return result, [e for e in events if isinstance(e, str) and "Note: " not in e]


def change_config(project, **run_changes):
    config = yaml.safe_load((project / "conf/base/airflow-k8s.yaml").read_text())
    config["run_config"].update(run_changes)
    write_config(project, config)


def test_the_fake_has_the_real_clients_signatures():
    """The stand-in answers only what AirflowClient offers, called the same way."""
    for name, method in inspect.getmembers(FakeAirflow, inspect.isfunction):
        if name.startswith("_") or name == "add_dag":
            continue
        real = getattr(AirflowClient, name)
        assert list(inspect.signature(method).parameters) == list(
            inspect.signature(real).parameters), name


# -- upload-pipeline --------------------------------------------------------------------------

def test_upload_pipeline_compiles_every_dag_then_uploads_and_asks_nothing_more(demo_project,
                                                                               dags, airflow):
    projects = KedroProject.at(path=demo_project).every_pipeline()
    published, lines = lines_of(publish_each(projects, str(dags), client=airflow))
    assert [p.location for p in published] == [
        str(dags / f"{dag_id}.py") for dag_id in ("demo-features", "demo-ingest",
                                                  "demo-modelling")]
    assert lines == []
    assert [p.text for p in published] == [
        (dags / f"{p.spec.dag_id}.py").read_text() for p in published]
    assert not {"set_paused True", "set_paused False", "trigger"} & set(airflow.calls)


def test_upload_pipeline_refuses_what_airflow_lacks_before_writing(demo_project, dags,
                                                                   airflow):
    change_config(demo_project, task_defaults={"pool": "gpu_pool"})
    error, _ = lines_of(publish_each([KedroProject.at(path=demo_project)], str(dags),
                                     client=airflow))
    assert isinstance(error, ConfigError)
    assert str(error).startswith(
        f"run_config.task_defaults.pool: pool 'gpu_pool' does not exist in Airflow at {HOST}, "
        "so task(s) ")
    assert not dags.exists()
    airflow.pool_slots = None  # the credential may not read pools: a note, and the upload
    events = []
    drive(publish_each([KedroProject.at(path=demo_project)], str(dags), client=airflow),
          events.append)
    assert f"Note: pools not checked: Airflow at {HOST} denied reading them " in events[-1]
    assert (dags / "demo.py").exists()


# -- schedule ---------------------------------------------------------------------------------

def test_schedule_waits_for_each_version_then_sets_the_pause_state(demo_project, dags,
                                                                   airflow):
    project = KedroProject.at(path=demo_project)
    options = CompileOptions(schedule="@daily")
    published, lines = lines_of(schedule_each([project], str(dags), options, client=airflow))
    assert lines == [f"Uploaded {dags / 'demo.py'}, scheduled @daily.", NEW_FILE,
                     f"Airflow loaded it; DAG 'demo' is unpaused: {HOST}/dags/demo"]
    dag = airflow.dags["demo"]
    assert (dag.timetable_summary, dag.is_paused) == ("@daily", False)
    assert dag.source == published[0].text
    # again, paused: Airflow knows the file, so it is asked to parse it again
    paused = CompileOptions(schedule="0 6 * * *", paused_upon_creation=True)
    _, lines = lines_of(schedule_each([KedroProject.at(path=demo_project)], str(dags), paused,
                                      client=airflow))
    assert lines == [f"Uploaded {dags / 'demo.py'}, scheduled 0 6 * * *.", REPARSE,
                     f"Airflow loaded it; DAG 'demo' is paused: {HOST}/dags/demo"]
    assert (airflow.dags["demo"].timetable_summary, airflow.dags["demo"].is_paused) == (
        "0 6 * * *", True)


def test_schedule_with_airflow_unreachable_uploads_and_says_so(demo_project, dags, airflow):
    def down(dag_id):
        raise AirflowApiError(f"cannot reach Airflow at {HOST} (reading DAG '{dag_id}'): "
                              "connection refused")

    airflow.dag = down
    _, lines = lines_of(schedule_each([KedroProject.at(path=demo_project)], str(dags),
                                      CompileOptions(schedule="@daily"), client=airflow))
    assert lines == [
        f"Uploaded {dags / 'demo.py'}, scheduled @daily.",
        f"Not checked with Airflow (cannot reach Airflow at {HOST} (reading DAG 'demo'): "
        "connection refused): a new DAG starts unpaused; an existing one keeps its paused "
        "state."]


# -- run-once ---------------------------------------------------------------------------------

def test_run_once_uploads_unpauses_and_triggers_with_the_params(demo_project, dags, airflow):
    project = KedroProject.at(path=demo_project)
    run_id, lines = lines_of(run_once(project, str(dags), params="min_amount=10",
                                      client=airflow))
    assert lines == [f"Uploaded {dags / 'demo.py'}.", NEW_FILE,
                     f"Triggered run {run_id}, see {HOST}/dags/demo/runs/{run_id} (project "
                     f"version {project.project_version})"]
    run = airflow.runs["demo", run_id]
    assert run.conf == {"min_amount": 10}
    assert airflow.dags["demo"].timetable_summary is None  # no schedule, no sensors
    # unpaused before the trigger: a run of a paused DAG never starts
    assert airflow.calls.index("set_paused False") < airflow.calls.index("trigger")
    # the second upload of a known file asks for a parse of it
    again, lines = lines_of(run_once(KedroProject.at(path=demo_project), str(dags),
                                     client=airflow))
    assert again != run_id and lines[1] == REPARSE
    assert airflow.runs["demo", again].conf is None


def test_run_once_bad_params_are_refused_before_the_upload(demo_project, dags, airflow):
    error, _ = lines_of(run_once(KedroProject.at(path=demo_project), str(dags),
                                 params="max_amount=3", client=airflow))
    assert isinstance(error, ConfigError)
    assert str(error) == ("--params: the DAG has no parameter max_amount (it has min_amount: "
                          "Kedro parameters its nodes read)")
    assert not dags.exists() and airflow.calls == []


def test_run_once_wait_follows_the_run_to_success(demo_project, dags, airflow):
    events = []
    run_id = drive(run_once(KedroProject.at(path=demo_project), str(dags), follow_minutes=1,
                            client=airflow, interval=0), events.append)
    progress = [e for e in events if isinstance(e, RunProgress)]
    assert [p.state for p in progress] == ["running", "success"]
    assert events[-1] == f"Run {run_id} succeeded."
    out = io.StringIO()
    with RunDisplay(out) as display:
        for event in events:
            display.show(event)
    assert "10/10 tasks done, 0 running, 0 failed, run success" in out.getvalue()


def test_run_once_wait_names_the_failed_tasks_and_shows_the_log(demo_project, dags, airflow):
    airflow.scripts["demo"] = {"create-data-volume": ["failed"], "*": ["upstream_failed"]}
    airflow.logs["create-data-volume"] = ["INFO: creating the claim", NO_CLUSTER]
    error, lines = lines_of(run_once(KedroProject.at(path=demo_project), str(dags),
                                     follow_minutes=1, client=airflow, interval=0))
    run_id = next(run for _, run in airflow.runs)
    assert isinstance(error, RunFailed) and error.exit_code == 1
    assert str(error) == (
        f"run {run_id} of DAG 'demo' failed; failed tasks: create-data-volume (its pods found "
        "no Kubernetes cluster where Airflow runs them: without one, upload with --execution "
        "local to run the tasks as subprocesses on the Airflow worker; with one, set "
        "run_config.kubernetes_connection)")
    assert lines[-3:] == ["Last lines of the log of create-data-volume:",
                          "  INFO: creating the claim", f"  {NO_CLUSTER}"]


def test_run_once_wait_times_out_with_exit_3(demo_project, dags, airflow):
    airflow.scripts["demo"] = {"*": ["running"]}
    error, _ = lines_of(run_once(KedroProject.at(path=demo_project), str(dags),
                                 follow_minutes=0.0001, client=airflow, interval=0))
    assert isinstance(error, RunFailed) and error.exit_code == 3
    assert re.fullmatch(r"run \S+ of DAG 'demo' had not finished after 0.0001 min "
                        r"\(state running\)", str(error)), str(error)


def test_run_once_fails_fast_on_a_new_import_error(demo_project, dags, airflow):
    airflow.fail_import["demo.py"] = "ModuleNotFoundError: No module named 'missing_provider'"
    error, lines = lines_of(run_once(KedroProject.at(path=demo_project), str(dags),
                                     client=airflow))
    assert isinstance(error, AirflowApiError)
    assert str(error) == ("Airflow cannot import demo.py: ModuleNotFoundError: No module named "
                          "'missing_provider'")
    assert lines[2] == "Airflow's import error for demo.py:"
    assert "trigger" not in airflow.calls


def test_run_once_does_not_replace_a_scheduled_dag_unless_asked(demo_project, dags, airflow):
    drive(schedule_each([KedroProject.at(path=demo_project)], str(dags),
                        CompileOptions(schedule="@daily"), client=airflow))
    error, _ = lines_of(run_once(KedroProject.at(path=demo_project), str(dags), client=airflow))
    assert isinstance(error, ConfigError)
    assert str(error) == (
        f"DAG 'demo' runs on a schedule in Airflow at {HOST} (@daily): run-once uploads it "
        "without one, which would end that schedule until the next `schedule`; run it under "
        "another id (-d demo-once) or pass --replace-scheduled")
    assert airflow.dags["demo"].timetable_summary == "@daily"  # nothing uploaded
    run_id, _ = lines_of(run_once(KedroProject.at(path=demo_project), str(dags),
                                  replace_scheduled=True, client=airflow))
    assert ("demo", run_id) in airflow.runs
    assert airflow.dags["demo"].timetable_summary is None


# -- backfill ---------------------------------------------------------------------------------

def test_backfill_shows_every_runs_progress_to_success(airflow):
    airflow.add_dag("daily", tasks=["a", "b"])
    out = io.StringIO()
    with RunDisplay(out) as display:
        backfill_id = drive(backfill(airflow, "daily", JAN[0], JAN[2], max_active_runs=2,
                                     follow_minutes=1, interval=0), display.show)
    assert out.getvalue().splitlines() == [
        "Backfill of DAG 'daily' from 2024-01-01T00:00:00+00:00 to 2024-01-03T00:00:00+00:00: "
        "3 runs, at 2024-01-01T00:00:00+00:00, 2024-01-02T00:00:00+00:00, "
        "2024-01-03T00:00:00+00:00.",
        f"Started backfill {backfill_id}, see {HOST}/dags/daily",
        "0/6 tasks done, 6 running, 0 failed, 0/3 runs ended, backfill running",
        "6/6 tasks done, 0 running, 0 failed, 3/3 runs ended, backfill success",
        f"Backfill {backfill_id}: all 3 runs succeeded."]
    assert airflow.backfills[backfill_id]["max_active_runs"] == 2
    # the done dates are not run again unless reprocessed
    nothing, lines = lines_of(backfill(airflow, "daily", JAN[0], JAN[2]))
    assert nothing is None
    assert lines == ["Nothing to backfill: DAG 'daily' has a run at every date from "
                     "2024-01-01T00:00:00+00:00 to 2024-01-03T00:00:00+00:00 (--reprocess "
                     "completed reruns them)."]
    again, _ = lines_of(backfill(airflow, "daily", JAN[0], JAN[0], reprocess="completed"))
    assert again == backfill_id + 1


def test_backfill_names_the_failed_runs_and_their_tasks(airflow):
    airflow.add_dag("fails", tasks=["check", "next"])
    airflow.scripts["fails"] = {"check": ["running", "failed"], "next": [None, "upstream_failed"]}
    airflow.logs["check"] = ["ERROR: the check failed"]
    error, lines = lines_of(backfill(airflow, "fails", JAN[0], JAN[0], follow_minutes=1,
                                     interval=0))
    assert isinstance(error, RunFailed) and error.exit_code == 1
    assert str(error) == ("backfill 1 of DAG 'fails': 1 of 1 runs failed: "
                          "backfill__2024-01-01T00:00:00+00:00 (failed tasks: check)")
    assert lines[-2:] == ["Last lines of the log of check in run "
                          "backfill__2024-01-01T00:00:00+00:00:", "  ERROR: the check failed"]


@pytest.mark.parametrize("cancel, end", [
    (False, "it goes on in Airflow: cancel it in its UI or with POST "
            f"{HOST}/api/v2/backfills/1/cancel (--cancel-on-timeout does)"),
    (True, "cancelled it: its queued runs failed, its running ones go on to their end")])
def test_backfill_timeout_exits_3_and_cancels_when_asked(airflow, cancel, end):
    airflow.add_dag("slow")
    airflow.scripts["slow"] = {"a": ["running"]}
    error, _ = lines_of(backfill(airflow, "slow", JAN[0], JAN[1], follow_minutes=0.0001,
                                 interval=0, cancel_on_timeout=cancel))
    assert isinstance(error, RunFailed) and error.exit_code == 3
    assert str(error) == ("backfill 1 of DAG 'slow' had not finished after 0.0001 min (0 of 2 "
                          f"runs ended); {end}")
    assert airflow.backfills[1]["cancelled"] is cancel


def test_backfill_ctrl_c_stops_following_and_cancels_when_asked(airflow):
    airflow.add_dag("interrupted")
    airflow.scripts["interrupted"] = {"a": ["running"]}
    airflow.interrupt_at_poll = 2  # the second run's first poll
    error, _ = lines_of(backfill(airflow, "interrupted", JAN[0], JAN[1], follow_minutes=1,
                                 interval=0, cancel_on_timeout=True))
    assert isinstance(error, RunFailed) and error.exit_code == 130
    assert str(error) == ("backfill 1 of DAG 'interrupted': not followed after Ctrl-C; "
                          "cancelled it: its queued runs failed, its running ones go on to "
                          "their end")
    runs = airflow.backfills[1]["runs"]
    # the run not yet started failed with the cancel; the running one goes on
    assert [airflow.runs["interrupted", run].state for run in runs] == ["running", "failed"]


def test_backfill_run_backwards_starts_with_the_newest_date(airflow):
    airflow.add_dag("backwards")
    _, lines = lines_of(backfill(airflow, "backwards", JAN[0], JAN[2], run_backwards=True))
    assert lines[0] == (
        "Backfill of DAG 'backwards' from 2024-01-01T00:00:00+00:00 to "
        "2024-01-03T00:00:00+00:00: 3 runs, newest first, at 2024-01-03T00:00:00+00:00, "
        "2024-01-02T00:00:00+00:00, 2024-01-01T00:00:00+00:00.")
    assert airflow.backfills[1]["runs"][0] == "backfill__2024-01-03T00:00:00+00:00"
    airflow.add_dag("backwards_past", depends_on_past=True)
    error, _ = lines_of(backfill(airflow, "backwards_past", JAN[0], JAN[1], run_backwards=True))
    assert isinstance(error, ConfigError)
    assert str(error) == (
        "--run-backwards: DAG 'backwards_past' has tasks with depends_on_past=True, which "
        "Airflow backfills oldest date first only: drop --run-backwards")


@pytest.mark.parametrize("schedule, paused, message", [
    (None, False, "DAG 'dag' has no periodic schedule (None): Airflow backfills only "
                  "scheduled DAGs, upload it with `schedule` first"),
    ("Asset", False, "DAG 'dag' runs on asset updates (Asset) and has no periodic schedule: "
                     "Airflow backfills only DAGs scheduled by time; `schedule -c CRON` "
                     "uploads it with one (with --on-assets too: on either)"),
    ("@daily", True, "DAG 'dag' is paused: Airflow runs no task of a paused DAG, backfills "
                     "included; unpause it first"),
])
def test_backfill_refuses_what_airflow_would_not_backfill(airflow, schedule, paused, message):
    error, _ = lines_of(backfill(airflow, "dag", JAN[0], JAN[1]))
    assert str(error) == (f"DAG 'dag' is not known to Airflow at {HOST}: backfill does not "
                          "upload it, run upload-pipeline or schedule first")
    airflow.add_dag("dag", schedule, paused=paused)
    error, _ = lines_of(backfill(airflow, "dag", JAN[0], JAN[1]))
    assert isinstance(error, AirflowApiError) and str(error) == message
    assert "create_backfill" not in airflow.calls


def test_backfill_refuses_a_missing_pool_or_variable_before_starting(airflow):
    airflow.add_dag("pooled", pools={"a": ("kat_pool", 1)})
    error, _ = lines_of(backfill(airflow, "pooled", JAN[0], JAN[1]))
    assert isinstance(error, ConfigError)
    assert str(error).startswith(f"DAG 'pooled': pool: pool 'kat_pool' does not exist in "
                                 f"Airflow at {HOST}, so task(s) a would stay scheduled forever")
    airflow.add_dag("reads", tasks=["a"])
    error, _ = lines_of(backfill(airflow, "reads", JAN[0], JAN[1],
                                 variables={"region": "run_config.variables_params"}))
    assert isinstance(error, ConfigError)
    assert str(error).startswith("run_config.variables_params: Airflow Variable 'region' does "
                                 f"not exist in Airflow at {HOST}")
    assert "create_backfill" not in airflow.calls


def test_backfill_conf_reads_the_params_without_compiling(demo_project, monkeypatch):
    """backfill --params: the Params the compiler would give the DAG, from the parameters
    files, without compiling the DAG."""
    from kedro_airflow_k8s import compiler

    def no_compile(*args, **kwargs):
        raise AssertionError("backfill --params compiled the DAG")

    monkeypatch.setattr(compiler, "compile_dag", no_compile)
    project = KedroProject.at(path=demo_project)
    assert backfill_conf(project, "min_amount=10") == {"min_amount": 10}
    for params, error in (
            ("max_amount=3", "--params: the DAG has no parameter max_amount (it has "
                             "min_amount: Kedro parameters its nodes read)"),
            ("min_amount=many", "--params: min_amount='many' is not a number (the type of "
                                "its value in the parameters files, which the DAG's Param "
                                "requires)"),
            ("ds=2024-01-01", "--params: ds cannot be set by a run: run_config.macro_params "
                              "sets it from the Airflow macro of that name when the run "
                              "starts; remove it from --params")):
        with pytest.raises(ConfigError) as raised:
            backfill_conf(project, params)
        assert str(raised.value) == error
    monkeypatch.undo()
    # the same Params as the compiled DAG's
    compiled = compiler.compile_project(KedroProject.at(path=demo_project)).trigger_params
    assert {name: schema for name, (_, schema) in compiled.items()} == {
        "min_amount": {"type": "number"}}
    change_config(demo_project, params_form=False)
    with pytest.raises(ConfigError, match=r"it has none: "):
        backfill_conf(KedroProject.at(path=demo_project), "min_amount=10")


# -- the follow loop --------------------------------------------------------------------------

def test_follow_polls_until_the_end_or_the_timeout_and_says_what_it_waits_for():
    polls = []

    def poll():
        polls.append(len(polls))
        yield f"poll {polls[-1]}"
        return polls[-1]

    def waiting(state, waited):
        yield f"waiting after {state}"

    events = []
    followed = drive(follow(poll, lambda n: n == 2, timeout=60, interval=0, waiting=waiting),
                     events.append)
    assert (followed.state, followed.ended) == (2, True)
    assert events == ["poll 0", "waiting after 0", "poll 1", "waiting after 1", "poll 2"]
    polls.clear()
    followed = drive(follow(poll, lambda n: False, timeout=0, interval=0))
    assert (followed.state, followed.ended) == (0, False)  # one poll, then the timeout


def test_a_backfills_progress_counts_every_runs_tasks():
    progress = BackfillProgress({
        "r1": RunProgress("failed", {"a": "failed", "b": "upstream_failed"}),
        "r2": RunProgress("running", {"a": "running", "b": None})})
    assert progress.state == "running" and progress.finished == ["r1"]
    assert progress.count("failed", "upstream_failed") == 2
    assert progress.failed_tasks == ["r1/a", "r1/b"]
    assert progress.tasks_in("running") == ["r2/a"]
