"""A project's DAG made ready to ship: compiled, rendered, validated when asked (what
`compile` writes and every uploading command uploads)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kedro_airflow_k8s.compiler import compile_project
from kedro_airflow_k8s.dagspec import DagSpec
from kedro_airflow_k8s.errors import CompileError, PluginError
from kedro_airflow_k8s.options import CompileOptions
from kedro_airflow_k8s.render import render_dag
from kedro_airflow_k8s.ship.steps import Steps

if TYPE_CHECKING:
    from kedro_airflow_k8s.context import KedroProject

DEFAULT_OPTIONS = CompileOptions()  # frozen: one default for every command's steps


def prepare(project: KedroProject, options: CompileOptions = DEFAULT_OPTIONS,
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
                 options: CompileOptions = DEFAULT_OPTIONS) -> Steps[list[tuple[DagSpec, str]]]:
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
