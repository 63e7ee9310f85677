"""Kedro pipeline + plugin config -> DagSpec. Knows nothing of Jinja or of the DAG file.

It compiles in phases, each a function that returns a value and can run alone:

1. `plan_dag` (plan.py): checks the pipeline, finds Spark nodes, groups nodes into tasks,
   claims every id (ids.assign_ids);
2. `shared_settings` (shared.py): what the tasks share (pods, local execution, volume,
   MLflow environment, Spark target);
3. `node_tasks` (nodes.py): one record per node task (tasks.py builds each record);
4. `lifecycle` (lifecycle.py): the tasks around the nodes (volume, MLflow run, Spark
   cluster, result, sensors) and the upstream of every task;
5. `assemble` (assemble.py): the DagSpec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kedro_airflow_k8s.compiler.assemble import DEFAULT_START_DATE, assemble
from kedro_airflow_k8s.compiler.lifecycle import lifecycle, node_graph
from kedro_airflow_k8s.compiler.nodes import node_tasks
from kedro_airflow_k8s.compiler.plan import Notify, dag_id_for, plan_dag, project_dag_id, quiet
from kedro_airflow_k8s.compiler.shared import shared_settings
from kedro_airflow_k8s.config import PluginConfig
from kedro_airflow_k8s.dagspec import DagSpec
from kedro_airflow_k8s.errors import ConfigError
from kedro_airflow_k8s.ids import airflow_id, k8s_label
from kedro_airflow_k8s.options import CompileOptions, ProjectSource

if TYPE_CHECKING:
    from kedro.pipeline import Pipeline

    from kedro_airflow_k8s.context import KedroProject

__all__ = ["DEFAULT_START_DATE", "airflow_id", "assemble", "compile_dag", "compile_project",
           "dag_id_for", "k8s_label", "lifecycle", "node_graph", "node_tasks", "plan_dag",
           "project_dag_id", "shared_settings"]


def compile_dag(pipeline: Pipeline, config: PluginConfig, source: ProjectSource,
                options: CompileOptions = CompileOptions(),
                notify: Notify = quiet) -> DagSpec:
    """Build the model of the DAG that runs `pipeline`: one task per node or node group."""
    plan = plan_dag(pipeline, config, source, options, notify)
    shared = shared_settings(plan, notify)
    built = node_tasks(plan, shared, notify)
    life = lifecycle(plan, shared, node_graph(plan), [b.task for b in built])
    return assemble(plan, shared, built, life)


def compile_project(project: KedroProject, options: CompileOptions = CompileOptions(),
                    notify: Notify = quiet) -> DagSpec:
    """Compile a `context.KedroProject`: its pipeline, config, catalog, git commit, version
    and MLflow server."""
    import sys

    from kedro_airflow_k8s.image_conf import pods_env
    from kedro_airflow_k8s.mlflow_run import settings_for

    config = project.config
    spark = config.run_config.spark
    for key in ("user_init_path", "user_post_init_path"):
        relative = getattr(spark, key, None)
        if relative and not (project.path / relative).is_file():
            raise ConfigError(f"run_config.spark.{key}: no file {relative} in the project "
                              f"({project.path})")
    artifacts_version = None
    if spark is not None and spark.type == "dataproc":
        from kedro_airflow_k8s.spark_artifacts import artifacts_version as version_of

        artifacts_version = version_of(project)
    execution = options.execution or config.run_config.execution
    env = pods_env(project, execution, spark is not None and spark.type == "dataproc", notify)
    source = ProjectSource(
        package=project.package_name, env=env,
        pipeline_name=project.pipeline_name, is_persisted=project.is_persisted,
        dataset_type=project.dataset_type, dataset_location=project.dataset_location,
        dataset_layer=project.dataset_layer, commit_sha=project.commit_sha,
        project_version=project.project_version,
        path=str(project.path.resolve()), python=sys.executable,
        mlflow=settings_for(project, notify=notify),
        spark_artifacts_version=artifacts_version,
        parameters=project.parameters if config.run_config.params_form else None)
    return compile_dag(project.pipeline, config, source, options, notify)
