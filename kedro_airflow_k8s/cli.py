"""`kedro airflow-k8s ...`: argument parsing and error presentation, nothing else."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable

import click

from kedro_airflow_k8s.errors import CompileError, ConfigError, PluginError


class _Failure(click.ClickException):
    """One line on stderr, no traceback; bad input exits 2, other failures 1."""

    def __init__(self, error: PluginError) -> None:
        super().__init__(str(error))
        self.exit_code = 2 if isinstance(error, (ConfigError, CompileError)) else 1


def _one_line_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except PluginError as exc:
            raise _Failure(exc) from None

    return wrapper


def _project_path() -> Path:
    from kedro.utils import find_kedro_project

    found = find_kedro_project(Path.cwd())
    if found is None:
        raise _Failure(ConfigError(f"{Path.cwd()} is not inside a Kedro project"))
    return Path(found)


@click.group(name="AirflowK8s")
def commands() -> None:
    """Kedro project commands of kedro-airflow-k8s."""


@commands.group(name="airflow-k8s")
@click.option("-e", "--env", envvar="KEDRO_ENV", default=None,
              help="Kedro env to compile with and to run the pods in "
                   "[default: $KEDRO_ENV, else the project's default run env].")
@click.option("-p", "--pipeline", default="__default__", show_default=True,
              help="Kedro pipeline to turn into a DAG.")
@click.pass_context
def airflow_k8s(ctx: click.Context, env: str | None, pipeline: str) -> None:
    """Run a Kedro pipeline on Airflow 3, one Kubernetes pod per node."""
    from kedro_airflow_k8s.context import KedroProject

    ctx.obj = KedroProject(path=_project_path(), env=env, pipeline_name=pipeline)


@airflow_k8s.command()
@click.option("--image", default=None, help="Image for the pods [default: run_config.image].")
@click.option("-o", "--output", default="dags", show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Directory the DAG file is written to.")
@click.pass_obj
@_one_line_errors
def compile(project: Any, image: str | None, output: Path) -> None:  # noqa: A001
    """Write the pipeline's DAG to OUTPUT/<dag_id>.py."""
    from kedro_airflow_k8s.compiler import compile_project
    from kedro_airflow_k8s.render import write_dag

    spec = compile_project(project, image=image, notify=click.echo)
    path = write_dag(spec, output)
    click.echo(f"Wrote {path} ({len(spec.tasks)} tasks).")


@airflow_k8s.command()
@click.argument("airflow_url")
@click.option("-o", "--output", default="dags", show_default=True,
              help="Where Airflow reads DAG files: a directory, gs://... or s3://...")
@click.option("--with-github-actions", is_flag=True,
              help="Also write .github/workflows that build the image and run the pipeline.")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@click.pass_obj
@_one_line_errors
def init(project: Any, airflow_url: str, output: str, with_github_actions: bool,
         force: bool) -> None:
    """Write a documented conf/base/airflow-k8s.yaml for AIRFLOW_URL."""
    from kedro_airflow_k8s.scaffold import write_scaffold

    for path in write_scaffold(project, airflow_url, output, with_github_actions, force):
        click.echo(f"Wrote {path}")


def _not_yet(name: str, summary: str) -> None:
    @airflow_k8s.command(name=name, help=f"{summary} (not in this version yet).",
                         context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def reserved(args: tuple[str, ...]) -> None:
        raise click.ClickException(f"'{name}' is not in kedro-airflow-k8s {_version()} yet")


def _version() -> str:
    from kedro_airflow_k8s import __version__

    return __version__


_not_yet("upload-pipeline", "Compile the DAG and upload it where Airflow reads DAGs")
_not_yet("schedule", "Upload the DAG with a schedule")
_not_yet("run-once", "Upload the DAG and trigger one run")
_not_yet("list-pipelines", "List the DAGs this plugin made")
_not_yet("ui", "Open the Airflow UI")
