"""A run's conf from `--params` (run-once, backfill), checked against the DAG's Params before
anything reaches Airflow."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kedro_airflow_k8s.dagspec import DagSpec

if TYPE_CHECKING:
    from kedro_airflow_k8s.config import RunConfig
    from kedro_airflow_k8s.context import KedroProject


def run_conf(project: KedroProject, spec: DagSpec, params: str) -> dict[str, Any]:
    """A run's conf from --params: Params of `spec`, each of its Param's type, none that
    run_config.macro_params or variables_params set (a ConfigError before any upload)."""
    return _conf(project.config.run_config, params, {
        name: schema for name, (_, schema) in spec.trigger_params.items()})


def backfill_conf(project: KedroProject, params: str) -> dict[str, Any]:
    """`backfill --params`, checked as run-once's against the Params the project's DAG has:
    those the compiler makes of the parameters files (params.trigger_params), without
    compiling the DAG."""
    from kedro_airflow_k8s.params import trigger_params

    run = project.config.run_config
    form = trigger_params(project.pipeline, project.parameters,
                          [*run.macro_params, *run.variables_params]) if run.params_form else []
    return _conf(run, params, {param.name: param.schema for param in form})


def _conf(run: RunConfig, params: str, schemas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """--params parsed against the DAG's Params (name -> its schema)."""
    from kedro_airflow_k8s.params import parse_run_params

    return parse_run_params(params, schemas, macros=run.macro_params,
                            variables=run.variables_params, schemas=schemas)
