"""`kedro airflow-k8s ...`: argument parsing and error presentation, nothing else."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from kedro_airflow_k8s.airflow_client import REPROCESS
from kedro_airflow_k8s.errors import CompileError, ConfigError, PluginError, ProjectCodeError
from kedro_airflow_k8s.options import CompileOptions, Execution

if TYPE_CHECKING:
    from kedro_airflow_k8s.context import KedroProject

TRACEBACK_ENV = "KEDRO_AIRFLOW_K8S_TRACEBACK"


class _Failure(click.ClickException):
    """One line on stderr, no traceback, exit code 1 (click's exit code is per class)."""


class _BadInput(_Failure):
    exit_code = 2


class _TimedOut(_Failure):
    exit_code = 3  # a followed run or backfill did not end in time


class _Interrupted(_Failure):
    exit_code = 130  # Ctrl-C while following


_BY_EXIT_CODE: dict[int, type[_Failure]] = {2: _BadInput, 3: _TimedOut, 130: _Interrupted}


def _failure(error: PluginError) -> _Failure:
    """The click exception that prints `error` on one line and exits with its code: bad
    input 2, a failure 1 unless the error names its own code."""
    if isinstance(error, (ConfigError, CompileError)):
        return _BadInput(str(error))
    return _BY_EXIT_CODE.get(getattr(error, "exit_code", 1), _Failure)(str(error))


def _one_line_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except PluginError as exc:
            if click.get_current_context().meta.get(TRACEBACK_ENV):
                raise
            raise _failure(exc) from None

    return wrapper


def _traceback_wanted(args: list[str]) -> bool:
    value = os.environ.get(TRACEBACK_ENV, "").strip().lower()
    return "--traceback" in args or value in {"1", "true", "t", "yes", "y", "on"}


def bootstrap_first() -> None:
    """Kedro's `kedro.init` entry point. Kedro bootstraps the project (imports settings.py)
    before it loads any plugin's commands, where a broken settings.py is a long traceback:
    for `kedro airflow-k8s ...` the plugin bootstraps first, so that is one line too."""
    args = sys.argv[1:]
    if not args or args[0] != "airflow-k8s" or _traceback_wanted(args):
        return
    from kedro.utils import find_kedro_project

    from kedro_airflow_k8s.context import KedroProject

    found = find_kedro_project(Path.cwd())
    if found is None:
        return
    try:
        KedroProject.at(path=Path(found)).bootstrap()
    except ProjectCodeError as exc:
        failure = _failure(exc)
        failure.show()
        sys.exit(failure.exit_code)
    except PluginError:
        return  # not a Kedro project after all: Kedro's CLI says so in its own words


def _project_path() -> Path:
    from kedro.utils import find_kedro_project

    found = find_kedro_project(Path.cwd())
    if found is None:
        raise _failure(ConfigError(f"{Path.cwd()} is not inside a Kedro project"))
    return Path(found)


_EXECUTION = click.option(
    "--execution", type=click.Choice(["kubernetes", "local"]), default=None,
    help="kubernetes: a pod per task; local: a subprocess on the Airflow worker "
         "[default: run_config.execution].")
_NO_GROUP = click.option(
    "--no-group-memory", "no_group_memory", is_flag=True, default=False,
    help="Refuse MemoryDatasets between nodes instead of running such nodes in one task.")


_VALIDATE = click.option(
    "--validate", is_flag=True,
    help="Import the DAG with Airflow's DagBag and check every pod against the Kubernetes "
         "schema before writing it (extra 'validate').")
_K8S_VERSION = click.option(
    "--k8s-version", default=None,
    help="Kubernetes version for --validate [default: the newest kubernetes-validate knows].")


def _options(*decorators: Callable[..., Any]) -> Callable[..., Any]:
    """Several click options as one decorator, in the order given."""
    def apply(function: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


_SHAPE = _options(_EXECUTION, _NO_GROUP)
_PREFLIGHT = _options(_VALIDATE, _K8S_VERSION)


def _compile_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Hand the command one CompileOptions in place of the click options that make it:
    --image, --dag-name, --execution, --no-group-memory, --validate, --k8s-version."""
    @functools.wraps(command)
    def wrapper(*args: Any, image: str | None = None, dag_name: str | None = None,
                execution: Execution | None = None, no_group_memory: bool = False,
                validate: bool = False, k8s_version: str | None = None,
                **kwargs: Any) -> Any:
        options = CompileOptions(image=image, dag_id=dag_name, execution=execution,
                                 group_memory=False if no_group_memory else None,
                                 validate=validate, k8s_version=k8s_version)
        return command(*args, options=options, **kwargs)

    return wrapper


_OUTPUT = click.option("-o", "--output", default=None,
                       help="Where Airflow reads DAG files: a directory, gs://... or s3://... "
                            "[default: output from airflow-k8s.yaml].")
_IMAGE = click.option("--image", default=None,
                      help="Image for the pods [default: run_config.image].")
_DAG_NAME = click.option("-d", "--dag-name", default=None,
                         help="DAG id [default: run_config.run_name, else the package name; "
                              "then -<pipeline> for a pipeline other than __default__].")

_ALL = _options(
    click.option("--all", "all_pipelines", is_flag=True,
                 help="One DAG per registered pipeline but __default__, from one Kedro "
                      "bootstrap; nothing is written unless every one compiles."),
    click.option("--with-default", is_flag=True,
                 help="With --all: the __default__ pipeline's DAG too."))


def _pipelines(project: KedroProject, all_pipelines: bool, with_default: bool,
               options: CompileOptions) -> list[KedroProject]:
    """The projects a command compiles: the -p pipeline's, or with --all one per pipeline."""
    if not all_pipelines:
        if with_default:
            raise ConfigError("--with-default: only with --all")
        return [project]
    group = click.get_current_context().parent  # airflow-k8s, where -p is
    if group and group.get_parameter_source("pipeline") not in (None, ParameterSource.DEFAULT):
        raise ConfigError("--all compiles every pipeline: leave out -p/--pipeline")
    if options.dag_id is not None:
        raise ConfigError("--all names each DAG after its pipeline: leave out -d/--dag-name")
    return project.every_pipeline(with_default)


@click.group(name="AirflowK8s")
def commands() -> None:
    """Kedro project commands of kedro-airflow-k8s."""


@commands.group(name="airflow-k8s")
@click.option("-e", "--env", envvar="KEDRO_ENV", default=None,
              help="Kedro env to compile with and to run the tasks in [default: $KEDRO_ENV, "
                   "else the project's default run env; pods: base when the image lacks it].")
@click.option("-p", "--pipeline", default="__default__", show_default=True,
              help="Kedro pipeline to turn into a DAG.")
@click.option("--traceback", "show_traceback", is_flag=True, envvar=TRACEBACK_ENV,
              help="On an error, print Python's full traceback instead of one line "
                   f"[also ${TRACEBACK_ENV}=1].")
@click.pass_context
def airflow_k8s(ctx: click.Context, env: str | None, pipeline: str,
                show_traceback: bool) -> None:
    """Run a Kedro pipeline on Airflow 3, one Kubernetes pod per node."""
    from kedro_airflow_k8s.context import KedroProject

    ctx.meta[TRACEBACK_ENV] = show_traceback
    bootstrapped = ctx.obj if hasattr(ctx.obj, "package_name") else None  # by Kedro's CLI
    path = bootstrapped.project_path if bootstrapped else _project_path()
    from_variable = ctx.get_parameter_source("env") == ParameterSource.ENVIRONMENT
    ctx.obj = KedroProject.at(path=path, env=env, pipeline_name=pipeline,
                              env_label="KEDRO_ENV" if from_variable else "-e/--env",
                              bootstrapped=bootstrapped)


@airflow_k8s.command()
@click.option("--image", default=None, help="Image for the pods [default: run_config.image].")
@click.option("-o", "--output", default="dags", show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Directory the DAG file is written to.")
@_DAG_NAME
@_ALL
@_SHAPE
@_PREFLIGHT
@click.pass_obj
@_one_line_errors
@_compile_options
def compile(project: KedroProject, output: Path, all_pipelines: bool,
            with_default: bool, options: CompileOptions) -> None:
    """Write the pipeline's DAG to OUTPUT/<dag_id>.py."""
    from kedro_airflow_k8s.render import write_atomically
    from kedro_airflow_k8s.ship import drive, prepare_each

    project.dag_location = output
    projects = _pipelines(project, all_pipelines, with_default, options)
    for spec, text in drive(prepare_each(projects, options), click.echo):
        path = output / f"{spec.dag_id}.py"
        write_atomically(path, text)
        click.echo(f"Wrote {path} ({len(spec.tasks)} tasks).")
        click.echo(f"{spec.dag_id} declares {len(set(spec.assets.values()))} Airflow assets "
                   "(Kedro datasets as its tasks' inlets and outlets, run_config.assets).")


@airflow_k8s.command()
@click.argument("airflow_url")
@click.option("-o", "--output", default="dags", show_default=True,
              help="Where Airflow reads DAG files: a directory, gs://... or s3://...")
@click.option("--with-github-actions", is_flag=True,
              help="Also write .github/workflows that build the image and run the pipeline.")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@click.pass_obj
@_one_line_errors
def init(project: KedroProject, airflow_url: str, output: str, with_github_actions: bool,
         force: bool) -> None:
    """Write a documented conf/base/airflow-k8s.yaml for AIRFLOW_URL, and a Dockerfile and
    .dockerignore for the project's image when there are none."""
    from kedro_airflow_k8s.scaffold import write_scaffold

    scaffold = write_scaffold(project, airflow_url, output, with_github_actions, force)
    for path in scaffold.written:
        click.echo(f"Wrote {path}")
    for path in scaffold.kept:
        click.echo(f"Kept the existing {path} (--force overwrites it)")
    for note in scaffold.notes:
        click.echo(note)


@airflow_k8s.command(name="upload-pipeline")
@_OUTPUT
@_DAG_NAME
@_ALL
@_IMAGE
@_SHAPE
@_PREFLIGHT
@click.pass_obj
@_one_line_errors
@_compile_options
def upload_pipeline(project: KedroProject, output: str | None, all_pipelines: bool,
                    with_default: bool, options: CompileOptions) -> None:
    """Compile the DAG and upload it where Airflow reads DAGs (no schedule)."""
    from kedro_airflow_k8s.ship import drive, publish_each

    project.dag_location = output
    projects = _pipelines(project, all_pipelines, with_default, options)
    for published in drive(publish_each(projects, output, options), click.echo):
        click.echo(f"Uploaded {published.location} ({len(published.spec.tasks)} tasks).")


@airflow_k8s.command()
@_OUTPUT
@click.option("-c", "--cron-expression", default=None,
              help="Schedule [default: run_config.cron_expression]; with a schedule on data, "
                   "the DAG also runs on it.")
@click.option("--on-assets", default=None, metavar="EXPR",
              help="Schedule on data in place of the cron: datasets of this project, "
                   "<package>:<dataset> of another or asset URIs, joined by ',' (all of) and "
                   "'|' (any of) [default: run_config.schedule_on].")
@_DAG_NAME
@_ALL
@_IMAGE
@click.option("--paused", is_flag=True,
              help="Leave the DAG paused [default: unpaused, so that it runs on schedule].")
@_SHAPE
@_PREFLIGHT
@click.pass_obj
@_one_line_errors
@_compile_options
def schedule(project: KedroProject, output: str | None, cron_expression: str | None,
             on_assets: str | None, all_pipelines: bool, with_default: bool, paused: bool,
             options: CompileOptions) -> None:
    """Upload the DAG with a schedule, unpaused once Airflow has loaded it."""
    from kedro_airflow_k8s.ship import drive, schedule_each, schedule_options

    project.dag_location = output
    options = schedule_options(project, options, cron_expression, on_assets, paused)
    projects = _pipelines(project, all_pipelines, with_default, options)
    drive(schedule_each(projects, output, options), click.echo)


@airflow_k8s.command(name="run-once")
@_OUTPUT
@_DAG_NAME
@_IMAGE
@click.option("--wait", is_flag=True, help="Follow the run and exit 0 only if it succeeds.")
@click.option("--timeout", "timeout_minutes", type=click.FloatRange(min=0, min_open=True),
              default=60.0, show_default=True, help="Minutes --wait follows the run.")
@click.option("--params", default=None, metavar="KEY=VALUE,...",
              help="Kedro parameters of this run, as `kedro run --params` takes them "
                   "(dotted keys); the DAG's Params they name.")
@click.option("--replace-scheduled", is_flag=True,
              help="Upload even when Airflow runs a DAG of this id on a schedule, which the "
                   "unscheduled upload ends [default: refuse; -d gives the run its own id].")
@_SHAPE
@_PREFLIGHT
@click.pass_obj
@_one_line_errors
@_compile_options
def run_once(project: KedroProject, output: str | None, wait: bool, timeout_minutes: float,
             params: str | None, replace_scheduled: bool, options: CompileOptions) -> None:
    """Upload the DAG (no schedule, no sensors), trigger one run, optionally follow it."""
    from kedro_airflow_k8s.display import RunDisplay
    from kedro_airflow_k8s.ship import drive
    from kedro_airflow_k8s.ship import run_once as ship_run_once

    project.dag_location = output
    with RunDisplay(sys.stdout) as display:
        drive(ship_run_once(project, output, options,
                            follow_minutes=timeout_minutes if wait else None, params=params,
                            replace_scheduled=replace_scheduled),
              display.show)


@airflow_k8s.command()
@click.option("--from", "start", required=True, metavar="DATE",
              help="First logical date, ISO 8601 (2024-01-31, 2024-01-31T06:00); UTC unless "
                   "it has an offset.")
@click.option("--to", "end", required=True, metavar="DATE",
              help="Last logical date, as --from.")
@click.option("--reprocess", type=click.Choice(REPROCESS),
              default="none", show_default=True,
              help="Which dates that have a run already run again: none, the failed ones, "
                   "or all that ended.")
@click.option("--max-active-runs", type=click.IntRange(min=1), default=None,
              help="Runs of the backfill at a time [default: Airflow's, 10].")
@click.option("--wait", is_flag=True,
              help="Follow every run and exit 0 only if all succeed.")
@click.option("--timeout", "timeout_minutes", type=click.FloatRange(min=0, min_open=True),
              default=60.0, show_default=True,
              help="Minutes --wait follows the runs; then exit 3, the backfill going on in "
                   "Airflow.")
@click.option("--cancel-on-timeout", is_flag=True,
              help="With --wait: cancel the backfill at the timeout or Ctrl-C (its queued "
                   "runs fail, its running ones go on to their end).")
@click.option("--run-backwards", is_flag=True,
              help="Newest date first (Airflow refuses it for a DAG with depends_on_past).")
@click.option("--params", default=None, metavar="KEY=VALUE,...",
              help="Kedro parameters of every run, as `kedro run --params` takes them "
                   "(dotted keys); the compiled DAG's Params they name.")
@_DAG_NAME
@click.pass_obj
@_one_line_errors
def backfill(project: KedroProject, start: str, end: str, reprocess: str,
             max_active_runs: int | None, wait: bool, timeout_minutes: float,
             cancel_on_timeout: bool, run_backwards: bool, params: str | None,
             dag_name: str | None) -> None:
    """Run the DAG, as Airflow already has it, for every scheduled date from --from to --to."""
    from kedro_airflow_k8s.compiler import project_dag_id
    from kedro_airflow_k8s.display import RunDisplay
    from kedro_airflow_k8s.ship import backfill as ship_backfill
    from kedro_airflow_k8s.ship import (
        backfill_conf,
        backfill_span,
        client_for,
        drive,
        project_variables,
    )

    if cancel_on_timeout and not wait:
        raise ConfigError("--cancel-on-timeout: only with --wait (without it nothing "
                          "follows the backfill to a timeout)")
    first, last = backfill_span(start, end)
    dag_id = project_dag_id(project, dag_name)
    conf = backfill_conf(project, params) if params else None
    with RunDisplay(sys.stdout) as display:
        drive(ship_backfill(client_for(project), dag_id, first, last, reprocess=reprocess,
                            max_active_runs=max_active_runs,
                            follow_minutes=timeout_minutes if wait else None,
                            run_backwards=run_backwards, conf=conf,
                            cancel_on_timeout=cancel_on_timeout,
                            variables=project_variables(project)), display.show)


@airflow_k8s.command(name="list-pipelines")
@click.pass_obj
@_one_line_errors
def list_pipelines(project: KedroProject) -> None:
    """List the DAGs this plugin made, with their project version, commit and last run's
    state."""
    from rich.console import Console
    from rich.table import Table

    from kedro_airflow_k8s.airflow_client import short_commit
    from kedro_airflow_k8s.ship import client_for

    table = Table("DAG id", "experiment", "version", "commit", "paused", "last run", box=None)
    for dag in client_for(project).generated_dags():
        table.add_row(dag.dag_id, dag.experiment or "-", dag.project_version or "-",
                      short_commit(dag.commit) or "-", "yes" if dag.paused else "no",
                      dag.last_run_state or "-")
    Console(width=200).print(table)


@airflow_k8s.command()
@_DAG_NAME
@click.pass_obj
@_one_line_errors
def ui(project: KedroProject, dag_name: str | None) -> None:
    """Open the Airflow UI (the DAG's page with -d or -p) and print its URL."""
    import webbrowser

    from kedro_airflow_k8s.airflow_client import ui_url
    from kedro_airflow_k8s.compiler import project_dag_id
    from kedro_airflow_k8s.ship import airflow_host

    dag_id = project_dag_id(project, dag_name) if dag_name or \
        project.pipeline_name != "__default__" else None
    url = ui_url(airflow_host(project), dag_id)
    click.echo(url)
    webbrowser.open(url)


@airflow_k8s.command(name="mlflow-start", hidden=True)
@click.option("--dag-id", required=True, help="The DAG the run belongs to.")
@click.option("--airflow-run-id", required=True, help="Airflow's run id.")
@click.option("--image", default=None, help="The image the DAG's pods run.")
@click.pass_obj
@_one_line_errors
def mlflow_start(project: KedroProject, dag_id: str, airflow_run_id: str,
                 image: str | None) -> None:
    """Start this DAG run's MLflow run; print its id (run by the DAG's start-mlflow-run)."""
    from kedro_airflow_k8s.mlflow_run import MlflowError, hand_over, settings_for, start_run

    settings = settings_for(project, dag_id)
    if settings is None:
        raise MlflowError("MLflow is not configured: set run_config.mlflow.tracking_uri")
    run_id = start_run(settings, dag_id=dag_id, airflow_run_id=airflow_run_id, image=image,
                       auth_type=project.config.run_config.authentication.type)
    hand_over(run_id)


@airflow_k8s.command(name="mlflow-end", hidden=True)
@click.option("--run-id", required=True, help="The MLflow run mlflow-start started.")
@click.option("--status", type=click.Choice(["FINISHED", "FAILED"]), required=True,
              help="The DAG run's outcome.")
@click.pass_obj
@_one_line_errors
def mlflow_end(project: KedroProject, run_id: str, status: str) -> None:
    """End this DAG run's MLflow run with its final status (run by the DAG's end-mlflow-run)."""
    from kedro_airflow_k8s.mlflow_run import MlflowError, end_run, settings_for

    if run_id in ("", "None"):  # start-mlflow-run failed: there is no run to end
        click.echo("start-mlflow-run handed over no MLflow run: nothing to end.")
        return
    settings = settings_for(project)
    if settings is None:
        raise MlflowError("MLflow is not configured: set run_config.mlflow.tracking_uri")
    end_run(settings, run_id, status, auth_type=project.config.run_config.authentication.type)
    click.echo(f"MLflow run {run_id}: {status}.")
