"""Compile, upload, and drive a run on Airflow: what upload-pipeline, schedule and run-once do.

The commands' steps are generators: they yield what the user should read (a line, or a
run's progress while `--wait` follows it) and return their result; the CLI shows what they
yield (`drive`, with `display.RunDisplay`).
"""

from __future__ import annotations

import dataclasses
import datetime
import secrets
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from kedro_airflow_k8s.airflow_client import (
    FINISHED_RUN_STATES,
    AirflowClient,
    BackfillProgress,
    ImportProblem,
    RunProgress,
    short_commit,
)
from kedro_airflow_k8s.compiler import compile_project
from kedro_airflow_k8s.config import validate_cron
from kedro_airflow_k8s.dagspec import DagSpec
from kedro_airflow_k8s.errors import (
    AirflowApiError,
    CompileError,
    ConfigError,
    DagNotFound,
    PluginError,
    RunFailed,
)
from kedro_airflow_k8s.options import CompileOptions
from kedro_airflow_k8s.render import render_dag
from kedro_airflow_k8s.upload import upload_dag

if TYPE_CHECKING:
    from kedro_airflow_k8s.context import KedroProject

PARSE_TIMEOUT_SECONDS = 600.0
POLL_SECONDS = 2.0
WAIT_NOTE_SECONDS = 30.0  # between the lines of a wait for Airflow to load a DAG file
DEFAULT_REFRESH_SECONDS = 300  # Airflow's [dag_processor] refresh_interval
TRACE_LINES = 20  # of an import error, shown before the one-line error

T = TypeVar("T")
Event = str | RunProgress | BackfillProgress  # a line for the user, or where a followed run stands
Steps = Generator[Event, None, T]  # yields events for the user, returns the result


def drive(steps: Steps[T], show: Callable[[Event], None] = lambda event: None) -> T:
    """Run `steps` to the end, showing every event it yields; its result."""
    while True:
        try:
            show(next(steps))
        except StopIteration as stop:
            return stop.value


@dataclass(frozen=True)
class Published:
    spec: DagSpec
    text: str
    location: str


def output_location(project: KedroProject, output: str | None) -> str:
    location = output or project.config.output
    if not location:
        raise ConfigError("output: no DAG location: set output in airflow-k8s.yaml or pass -o")
    return location


def airflow_host(project: KedroProject) -> str:
    host = project.config.host
    if not host:
        raise ConfigError("host: no Airflow URL: set host in airflow-k8s.yaml")
    return host


def client_for(project: KedroProject) -> AirflowClient:
    return AirflowClient(airflow_host(project))


def publish(project: KedroProject, output: str | None,
            options: CompileOptions = CompileOptions()) -> Steps[Published]:
    """Compile the project's DAG and put it where Airflow reads DAGs."""
    if options.schedule is not None:
        _check_cron(options.schedule)
    location = output_location(project, output)
    spec, text = yield from prepare(project, options)
    yield from airflow_has_what_it_needs(project, [spec])
    return (yield from _upload(project, spec, text, location))


def publish_each(projects: list[KedroProject], output: str | None,
                 options: CompileOptions = CompileOptions()) -> Steps[list[Published]]:
    """`publish` for several pipelines of one project: every DAG compiled before any upload."""
    location = output_location(projects[0], output)
    prepared = yield from prepare_each(projects, options)
    yield from airflow_has_what_it_needs(projects[0], [spec for spec, _ in prepared])
    published = []
    for spec, text in prepared:
        published.append((yield from _upload(projects[0], spec, text, location)))
    return published


def _check_cron(schedule: str) -> None:
    try:
        validate_cron(schedule)
    except ValueError as exc:
        raise ConfigError(f"--cron-expression: {exc}") from None


def airflow_has_what_it_needs(project: KedroProject, specs: list[DagSpec],
                              client: AirflowClient | None = None) -> Steps[None]:
    """With a host, refuse DAGs whose tasks' pools Airflow lacks or has too few slots of
    (pools.check_pools), or that read Variables Airflow lacks (variables.check_variables);
    without one nothing, when Airflow does not answer a note."""
    from kedro_airflow_k8s.pools import check_pools
    from kedro_airflow_k8s.variables import check_variables

    if not project.config.host:
        return
    try:
        client = client or client_for(project)
        yield from check_pools(client, specs, project.config.run_config)
    except AirflowApiError as exc:
        yield f"Note: pools not checked: {exc}."
        return
    try:
        yield from check_variables(client, {name: key for spec in specs
                                            for name, key in spec.variables.items()})
    except AirflowApiError as exc:
        yield f"Note: Variables not checked: {exc}."


def _upload(project: KedroProject, spec: DagSpec, text: str, location: str) -> Steps[Published]:
    """Spark artifacts first (the DAG names them), then the DAG file."""
    spark = project.config.run_config.spark
    if spark is not None and spark.type == "dataproc" and spec.tasks_of("spark-create"):
        from kedro_airflow_k8s.spark_artifacts import upload_artifacts

        assert spec.artifacts_version is not None  # compile names it for Dataproc
        notes: list[str] = []
        upload_artifacts(project, spec.dag_id, spec.artifacts_version, notes.append)
        yield from notes
    return Published(spec=spec, text=text,
                     location=upload_dag(text, location, f"{spec.dag_id}.py"))


def prepare(project: KedroProject, options: CompileOptions = CompileOptions(),
            label: str = "") -> Steps[tuple[DagSpec, str]]:
    """The DAG's model and text; with `validate`, checked by Airflow and Kubernetes' schema.
    `label` starts each of the compiler's notes (which pipeline, with --all)."""
    notes: list[str] = []
    try:
        spec = compile_project(project, options, notes.append)
    finally:
        yield from (label + note for note in notes)
    text = render_dag(spec)
    if options.validate:
        from kedro_airflow_k8s.validate import validate_text

        version = validate_text(text, f"{spec.dag_id}.py", options.k8s_version, spec.assets,
                                spec.schedule_assets)
        yield (f"Validated {spec.dag_id}: Airflow imports it, every pod fits Kubernetes "
               f"{version}.")
    return spec, text


def prepare_each(projects: list[KedroProject],
                 options: CompileOptions = CompileOptions()) -> Steps[list[tuple[DagSpec, str]]]:
    """`prepare` for each project (one per pipeline, `KedroProject.every_pipeline`); with
    several, an error names its pipeline, and two pipelines may not make the same DAG id."""
    prepared: list[tuple[DagSpec, str]] = []
    made: dict[str, str] = {}
    for project in projects:
        try:
            label = f"pipeline '{project.pipeline_name}': " if len(projects) > 1 else ""
            spec, text = yield from prepare(project, options, label)
        except PluginError as exc:
            if len(projects) > 1:
                exc.args = (f"pipeline '{project.pipeline_name}': {exc}",)
            raise
        if spec.dag_id in made:
            raise CompileError(f"pipelines '{made[spec.dag_id]}' and "
                               f"'{project.pipeline_name}' both make DAG '{spec.dag_id}'")
        made[spec.dag_id] = project.pipeline_name
        prepared.append((spec, text))
    return prepared


@dataclass(frozen=True)
class Before:
    """What Airflow knew of a DAG before an upload, to tell the new parse from the old."""

    dag: Any  # the DAG as Airflow serves it, None when it has not seen it
    problems: frozenset[str] | None  # its file's import errors; None: not ours to read


def before_upload(client: AirflowClient, dag_id: str) -> Before:
    return Before(dag=known_dag(client, dag_id), problems=_problems(client, f"{dag_id}.py"))


def _problems(client: AirflowClient, filename: str) -> frozenset[str] | None:
    try:
        return frozenset(p.stack_trace for p in client.import_problems(filename))
    except AirflowApiError:  # a user who may not read import errors still gets the wait
        return None


def wait_for_version(client: AirflowClient, dag_id: str, text: str,
                     timeout: float = PARSE_TIMEOUT_SECONDS, interval: float = POLL_SECONDS,
                     before: Before | None = None,
                     notify: Callable[[str], None] = lambda line: None) -> None:
    """`await_version`, its lines given to `notify`."""
    drive(await_version(client, dag_id, text, timeout=timeout, interval=interval,
                        before=before), notify)


def await_version(client: AirflowClient, dag_id: str, text: str,
                  timeout: float = PARSE_TIMEOUT_SECONDS, interval: float = POLL_SECONDS,
                  before: Before | None = None,
                  note_every: float = WAIT_NOTE_SECONDS) -> Steps[None]:
    """Return once Airflow serves exactly `text` as the DAG's source; fail as soon as
    Airflow reports an import error for the file that it did not hold before the upload.
    Says what it waits for and why, first and then every `note_every` seconds."""
    filename = f"{dag_id}.py"
    if before is not None and before.dag is not None:  # known file: reparse, not a scan
        client.request_reparse(before.dag.file_token)
        yield (f"Waiting for Airflow to load this version of {filename}: asked its DAG "
               "processor to parse the file again.")
    elif before is not None:
        yield (f"Waiting for Airflow to find the new file {filename}: its DAG processor "
               "looks for new files in the DAG folder every [dag_processor] refresh_interval "
               f"({DEFAULT_REFRESH_SECONDS} s by default, a deployment may set it lower: see "
               "Troubleshooting in the docs), then parses them.")
    started = time.monotonic()
    noted = started
    while True:
        try:
            served = client.dag_source(dag_id)
        except DagNotFound:
            served = None
        if served == text:
            return
        if before is not None and before.problems is not None:
            # a new text: an unchanged one may be the old file's, parsed again before the sync
            fresh = [p for p in client.import_problems(filename)
                     if p.stack_trace not in before.problems]
            if fresh:
                yield from _import_failed(fresh[0])
        now = time.monotonic()
        if now - started >= timeout:
            raise AirflowApiError(
                f"Airflow at {client.host} did not load this version of DAG '{dag_id}' within "
                f"{timeout:.0f} s: check the DAG processor and the import errors in the UI")
        if now - noted >= note_every:
            noted = now
            what = (f"found {filename} yet" if served is None else
                    f"parsed this version of {filename} yet (it serves an older one)")
            yield (f"Still waiting: Airflow has not {what}; {now - started:.0f} s so far, at "
                   f"most {timeout:.0f} s.")
        time.sleep(interval)


def _import_failed(problem: ImportProblem) -> Steps[None]:
    lines = [line for line in problem.stack_trace.splitlines() if line.strip()]
    yield f"Airflow's import error for {problem.filename}:"
    for line in lines[:TRACE_LINES]:
        yield f"  {line}"
    if len(lines) > TRACE_LINES:
        yield f"  ... ({len(lines) - TRACE_LINES} more lines)"
    raise AirflowApiError(f"Airflow cannot import {problem.filename}: "
                          f"{lines[-1].strip() if lines else 'no detail'}")


def new_run_id() -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"kedro_airflow_k8s__{now:%Y%m%dT%H%M%SZ}__{secrets.token_hex(3)}"


def start_run(client: AirflowClient, published: Published, *,
              parse_timeout: float = PARSE_TIMEOUT_SECONDS, before: Before | None = None,
              conf: dict[str, Any] | None = None) -> Steps[str]:
    """Wait until Airflow has parsed the uploaded version, unpause, trigger (with `conf`);
    the run id."""
    dag_id = published.spec.dag_id
    yield from await_version(client, dag_id, published.text, timeout=parse_timeout,
                             before=before)
    client.set_paused(dag_id, False)
    return client.trigger(dag_id, new_run_id(), conf)


def run_once(project: KedroProject, output: str | None, options: CompileOptions = CompileOptions(),
             follow_minutes: float | None = None, params: str | None = None,
             replace_scheduled: bool = False) -> Steps[str]:
    """Upload without schedule or sensors, start one run (its Params set from `params`,
    `key=value,...` as `kedro run --params` takes them), follow it when asked; its id. A DAG
    Airflow runs on a schedule under the same id is not replaced unless `replace_scheduled`."""
    client = client_for(project)
    location = output_location(project, output)
    spec, text = yield from prepare(project, dataclasses.replace(options, with_sensors=False))
    conf = run_conf(project, spec, params) if params else None
    yield from airflow_has_what_it_needs(project, [spec], client)
    before = before_upload(client, spec.dag_id)
    if not replace_scheduled:
        _refuse_replacing_a_schedule(client, spec.dag_id, before.dag)
    published = yield from _upload(project, spec, text, location)
    yield f"Uploaded {published.location}."
    run_id = yield from start_run(client, published, before=before, conf=conf)
    dag_id = published.spec.dag_id
    yield f"Triggered run {run_id}, see {client.ui_url(dag_id, run_id)}{_version_of(spec)}"
    if follow_minutes is not None:
        yield from follow_run(client, dag_id, run_id, timeout=follow_minutes * 60)
        yield f"Run {run_id} succeeded."
    return run_id


def _refuse_replacing_a_schedule(client: AirflowClient, dag_id: str, dag: Any) -> None:
    """run-once uploads its DAG without a schedule: refuse when that would take the schedule
    of the DAG Airflow has under this id (from `schedule`)."""
    summary = dag.timetable_summary if dag is not None else None
    if summary in (None, "None"):
        return
    raise ConfigError(
        f"DAG '{dag_id}' runs on a schedule in Airflow at {client.host} ({summary}): run-once "
        "uploads it without one, which would end that schedule until the next `schedule`; "
        f"run it under another id (-d {dag_id}-once) or pass --replace-scheduled")


def _version_of(spec: DagSpec) -> str:
    """The end of the run's line: the DAG's project version and commit, as far as known."""
    known = [f"{name} {value}" for name, value in (
        ("project version", spec.project_version), ("commit", short_commit(spec.commit_sha)))
        if value]
    return f" ({', '.join(known)})" if known else ""


def schedule(project: KedroProject, output: str | None, options: CompileOptions,
             parse_timeout: float = PARSE_TIMEOUT_SECONDS) -> Steps[Published]:
    """Upload the DAG with `options.schedule`, unpaused unless `options.paused_upon_creation`:
    rendered so that Airflow creates it that way, and, when the API answers, set so once
    Airflow has loaded this version."""
    published = yield from schedule_each([project], output, options, parse_timeout)
    return published[0]


def schedule_options(project: KedroProject, options: CompileOptions, cron_expression: str | None,
                     on_assets: str | None, paused: bool) -> CompileOptions:
    """What `schedule` compiles with: on data when --on-assets or run_config.schedule_on says
    so (and on the cron too when -c is given or run_config.schedule_on_or_cron), else on
    the cron of -c or run_config.cron_expression."""
    from kedro_airflow_k8s.asset_schedule import from_config, from_expression

    run = project.config.run_config
    on = from_expression(on_assets) if on_assets is not None else from_config(run.schedule_on)
    cron = cron_expression or run.cron_expression
    if on is not None and not cron_expression and not run.schedule_on_or_cron:
        cron = None
    return dataclasses.replace(options, schedule=cron, schedule_on=on,
                               paused_upon_creation=paused)


def schedule_each(projects: list[KedroProject], output: str | None, options: CompileOptions,
                  parse_timeout: float = PARSE_TIMEOUT_SECONDS) -> Steps[list[Published]]:
    """`schedule` for several pipelines of one project: every DAG compiled before any upload,
    all uploaded, then each waited for and set paused or unpaused."""
    cron = options.schedule
    assert cron is not None or options.schedule_on is not None
    if cron is not None:
        _check_cron(cron)
    paused = bool(options.paused_upon_creation)
    project = projects[0]
    location = output_location(project, output)
    prepared = yield from prepare_each(projects, dataclasses.replace(
        options, paused_upon_creation=paused))
    yield from airflow_has_what_it_needs(project, [spec for spec, _ in prepared])
    state = "paused" if paused else "unpaused"
    client, unreachable = None, "no host in airflow-k8s.yaml"
    befores: dict[str, Before] = {}
    if project.config.host:
        try:
            client = client_for(project)
            befores = {spec.dag_id: before_upload(client, spec.dag_id) for spec, _ in prepared}
        except AirflowApiError as exc:
            client, unreachable = None, str(exc)
    published: list[Published] = []
    for spec, text in prepared:
        published.append((yield from _upload(project, spec, text, location)))
        yield f"Uploaded {published[-1].location}, scheduled {_schedule_line(spec, cron)}."
    if client is None:
        yield (f"Not checked with Airflow ({unreachable}): a new DAG starts {state}; an "
               "existing one keeps its paused state.")
        return published
    for one in published:
        dag_id = one.spec.dag_id
        yield from await_version(client, dag_id, one.text, timeout=parse_timeout,
                                 before=befores[dag_id])
        client.set_paused(dag_id, paused)
        yield f"Airflow loaded it; DAG '{dag_id}' is {state}: {client.ui_url(dag_id)}"
    return published


def _schedule_line(spec: DagSpec, cron: str | None) -> str:
    """How `schedule` says when the DAG runs."""
    if not spec.schedule_assets:
        return str(cron)
    uris = ", ".join(dict.fromkeys(spec.schedule_assets.values()))
    on = f"on updates of {uris}"
    return f"{on}, or {cron}" if cron else on


def known_dag(client: AirflowClient, dag_id: str) -> Any:
    """The DAG as Airflow knows it now, or None for a DAG it has not seen."""
    try:
        return client.dag(dag_id)
    except DagNotFound:
        return None


def follow_run(client: AirflowClient, dag_id: str, run_id: str, *, timeout: float,
               interval: float = POLL_SECONDS) -> Steps[RunProgress]:
    """Yield the run's progress until it ends; raise RunFailed unless it succeeded, after
    yielding the tail of the first failed task's log."""
    deadline = time.monotonic() + timeout
    while True:
        progress = client.progress(dag_id, run_id)
        yield progress
        if progress.state in FINISHED_RUN_STATES or time.monotonic() >= deadline:
            break
        time.sleep(interval)
    if progress.state == "success":
        return progress
    if progress.state not in FINISHED_RUN_STATES:
        raise RunFailed(f"run {run_id} of DAG '{dag_id}' had not finished after "
                        f"{timeout / 60:g} min (state {progress.state})", exit_code=3)
    failed = [t for t, s in sorted(progress.tasks.items()) if s == "failed"]
    tail = client.log_tail(dag_id, run_id, failed[0]) if failed else []
    if tail:
        yield f"Last lines of the log of {failed[0]}:"
        for line in tail:
            yield f"  {line}"
    raise RunFailed(f"run {run_id} of DAG '{dag_id}' failed; failed tasks: "
                    f"{', '.join(failed) or 'none (upstream failures only)'}{_hint(tail)}")


# What the Kubernetes client raises where Airflow runs a pod task without a cluster to reach
_NO_CLUSTER = ("Invalid kube-config file. No configuration found",
               "Service host/port is not set")


def _hint(tail: list[str]) -> str:
    """The end of a failed run's error: what to do about a failure the log tail shows."""
    if any(marker in line for line in tail for marker in _NO_CLUSTER):
        return (" (its pods found no Kubernetes cluster where Airflow runs them: without "
                "one, upload with --execution local to run the tasks as subprocesses on the "
                "Airflow worker; with one, set run_config.kubernetes_connection)")
    return ""


REPROCESS = ("none", "failed", "completed")
DATES_SHOWN = 10  # of a backfill's dry run


def backfill_date(option: str, text: str) -> datetime.datetime:
    """An ISO 8601 date or date-time of --from / --to; without an offset, UTC."""
    try:
        value = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{option}: expected an ISO 8601 date such as 2024-01-31 or "
                          f"2024-01-31T06:00, got {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


def backfill_span(start: str, end: str) -> tuple[datetime.datetime, datetime.datetime]:
    """--from and --to as dates, --to not before --from."""
    first, last = backfill_date("--from", start), backfill_date("--to", end)
    if last < first:
        raise ConfigError(f"--to: {last.isoformat()} is before --from {first.isoformat()}")
    return first, last


def backfill(client: AirflowClient, dag_id: str, start: datetime.datetime,
             end: datetime.datetime, *, reprocess: str = "none",
             max_active_runs: int | None = None, follow_minutes: float | None = None,
             interval: float = POLL_SECONDS, run_backwards: bool = False,
             conf: dict[str, Any] | None = None, cancel_on_timeout: bool = False,
             variables: dict[str, str] | None = None) -> Steps[int | None]:
    """Backfill a DAG Airflow already has from `start` to `end` (a dry run first, shown),
    newest date first with `run_backwards`, every run's conf `conf`; follow every run when
    asked. Stopped following by the timeout or Ctrl-C, the backfill goes on in Airflow unless
    `cancel_on_timeout`. Refused when Airflow lacks a pool of its tasks or one of
    `variables` (name -> config key) they read. The backfill's id, None when there was
    nothing to run."""
    try:
        dag = client.dag(dag_id)
    except DagNotFound:
        raise AirflowApiError(f"DAG '{dag_id}' is not known to Airflow at {client.host}: "
                              "backfill does not upload it, run upload-pipeline or schedule "
                              "first") from None
    if not dag.timetable_periodic and "Asset" in (dag.timetable_summary or ""):
        raise AirflowApiError(f"DAG '{dag_id}' runs on asset updates "
                              f"({dag.timetable_summary}) and has no periodic schedule: "
                              "Airflow backfills only DAGs scheduled by time; `schedule -c "
                              "CRON` uploads it with one (with --on-assets too: on either)")
    if not dag.timetable_periodic:
        raise AirflowApiError(f"DAG '{dag_id}' has no periodic schedule "
                              f"({dag.timetable_summary or 'None'}): Airflow backfills only "
                              "scheduled DAGs, upload it with `schedule` first")
    if dag.is_paused:
        raise AirflowApiError(f"DAG '{dag_id}' is paused: Airflow runs no task of a paused "
                              "DAG, backfills included; unpause it first")
    from kedro_airflow_k8s.pools import check_dag_pools
    from kedro_airflow_k8s.variables import check_variables

    yield from check_dag_pools(client, dag_id)
    yield from check_variables(client, variables or {})
    try:
        dates = client.backfill_dry_run(dag_id, start, end, reprocess,
                                        run_backwards=run_backwards, conf=conf)
    except AirflowApiError as exc:
        if run_backwards and "depends_on_past" in str(exc):
            raise ConfigError(f"--run-backwards: DAG '{dag_id}' has tasks with "
                              "depends_on_past=True, which Airflow backfills oldest date "
                              "first only: drop --run-backwards") from None
        raise
    span = f"{start.isoformat()} to {end.isoformat()}"
    if not dates:
        yield (f"Nothing to backfill: DAG '{dag_id}' has a run at every date from {span}"
               f"{'' if reprocess == 'completed' else ' (--reprocess completed reruns them)'}.")
        return None
    shown = ", ".join(d.isoformat() for d in dates[:DATES_SHOWN])
    more = f" and {len(dates) - DATES_SHOWN} more" if len(dates) > DATES_SHOWN else ""
    order = ", newest first" if run_backwards else ""
    yield (f"Backfill of DAG '{dag_id}' from {span}: {len(dates)} runs{order}, at "
           f"{shown}{more}.")
    backfill_id = client.create_backfill(dag_id, start, end, reprocess, max_active_runs,
                                         run_backwards=run_backwards, conf=conf)
    yield f"Started backfill {backfill_id}, see {client.ui_url(dag_id)}"
    if follow_minutes is not None:
        runs = client.backfill_runs(dag_id, dates)
        if len(runs) < len(dates):  # a date whose run was in flight between dry run and start
            yield f"{len(dates) - len(runs)} of the dates had a run in flight: not followed."
        try:
            yield from follow_backfill(client, dag_id, backfill_id, runs,
                                       timeout=follow_minutes * 60, interval=interval)
        except KeyboardInterrupt:
            raise _stopped_following(
                client, backfill_id, f"backfill {backfill_id} of DAG '{dag_id}': not followed "
                "after Ctrl-C", cancel_on_timeout, exit_code=130) from None
        except RunFailed as exc:
            if exc.exit_code != 3:  # a failed run, not the timeout
                raise
            raise _stopped_following(client, backfill_id, str(exc), cancel_on_timeout,
                                     exit_code=3) from None
        yield f"Backfill {backfill_id}: all {len(runs)} runs succeeded."
    return backfill_id


def _stopped_following(client: AirflowClient, backfill_id: int, why: str, cancel: bool,
                       exit_code: int) -> RunFailed:
    """The error of a backfill no longer followed (`why`): cancelled when asked, else how
    to cancel it."""
    if not cancel:
        return RunFailed(f"{why}; it goes on in Airflow: cancel it in "
                         f"its UI or with POST {client.host}/api/v2/backfills/{backfill_id}"
                         "/cancel (--cancel-on-timeout does)", exit_code=exit_code)
    if client.cancel_backfill(backfill_id):
        done = "cancelled it: its queued runs failed, its running ones go on to their end"
    else:
        done = "it had completed before the cancel"
    return RunFailed(f"{why}; {done}", exit_code=exit_code)


def backfill_conf(project: KedroProject, dag_name: str | None, params: str) -> dict[str, Any]:
    """`backfill --params`, checked as run-once's against the Params of the DAG the project
    compiles to."""
    return run_conf(project, compile_project(project, CompileOptions(dag_id=dag_name)), params)


def project_variables(project: KedroProject) -> dict[str, str]:
    """The Airflow Variables the project's DAGs read (variables.used_variables), for a DAG
    Airflow already has (backfill)."""
    from kedro_airflow_k8s.mlflow_run import settings_for
    from kedro_airflow_k8s.variables import used_variables

    return used_variables(project.config.run_config, settings_for(project) is not None)


def run_conf(project: KedroProject, spec: DagSpec, params: str) -> dict[str, Any]:
    """A run's conf from --params: Params of `spec`, each of its Param's type, none that
    run_config.macro_params or variables_params set (a ConfigError before any upload)."""
    from kedro_airflow_k8s.params import parse_run_params

    run = project.config.run_config
    return parse_run_params(params, spec.trigger_params, macros=run.macro_params,
                            variables=run.variables_params,
                            schemas={name: schema for name, (_, schema)
                                     in spec.trigger_params.items()})


def follow_backfill(client: AirflowClient, dag_id: str, backfill_id: int, run_ids: list[str],
                    *, timeout: float, interval: float = POLL_SECONDS) -> Steps[BackfillProgress]:
    """Yield the backfill's progress until every run ended; raise RunFailed unless all
    succeeded, naming the failed runs and their failed tasks."""
    deadline = time.monotonic() + timeout
    while True:
        progress = BackfillProgress({run: client.progress(dag_id, run) for run in run_ids})
        yield progress
        if progress.state != "running" or time.monotonic() >= deadline:
            break
        time.sleep(interval)
    if progress.state == "success":
        return progress
    what = f"backfill {backfill_id} of DAG '{dag_id}'"
    if progress.state == "running":
        raise RunFailed(f"{what} had not finished after {timeout / 60:g} min "
                        f"({len(progress.finished)} of {len(run_ids)} runs ended)", exit_code=3)
    failed = {run: [t for t, s in sorted(p.tasks.items()) if s == "failed"]
              for run, p in progress.runs.items() if p.state != "success"}
    first_run, first = next(iter(failed.items()))
    tail = client.log_tail(dag_id, first_run, first[0]) if first else []
    if tail:
        yield f"Last lines of the log of {first[0]} in run {first_run}:"
        for line in tail:
            yield f"  {line}"
    named = "; ".join(f"{run} (failed tasks: {', '.join(tasks) or 'none, upstream only'})"
                      for run, tasks in failed.items())
    raise RunFailed(f"{what}: {len(failed)} of {len(run_ids)} runs failed: {named}"
                    f"{_hint(tail)}")
