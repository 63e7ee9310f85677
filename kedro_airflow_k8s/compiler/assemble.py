"""Phase 5 of compiling: the DagSpec, from what the phases before returned."""

from __future__ import annotations

import datetime
import string
from dataclasses import replace
from typing import Any

from kedro_airflow_k8s import __version__
from kedro_airflow_k8s.asset_schedule import schedule_value
from kedro_airflow_k8s.compiler.lifecycle import Lifecycle
from kedro_airflow_k8s.compiler.nodes import BuiltNode
from kedro_airflow_k8s.compiler.plan import Plan
from kedro_airflow_k8s.compiler.shared import Shared
from kedro_airflow_k8s.dagspec import (
    KEDRO_PARAMETERS,
    Call,
    DagSpec,
    Ref,
    SlackNotifierSpec,
    TaskSpec,
)
from kedro_airflow_k8s.errors import CompileError
from kedro_airflow_k8s.ids import check_ids
from kedro_airflow_k8s.profiles import resource_spec, settings_arguments, timedelta_call
from kedro_airflow_k8s.spark import SparkFactory
from kedro_airflow_k8s.variables import used_variables

DEFAULT_START_DATE = datetime.date(2024, 1, 1)
_SLACK_FIELDS = {
    "task": "{{ ti.task_id }}",
    "dag": "{{ dag.dag_id }}",
    "execution_time": "{{ logical_date or dag_run.run_after }}",
    "url": "{{ ti.log_url }}",
}


def assemble(plan: Plan, shared: Shared, built: list[BuiltNode], life: Lifecycle) -> DagSpec:
    run, mlflow = plan.run, plan.source.mlflow
    tasks = _tasks(built, life)
    check_ids(tasks, plan.ids.groups.values())
    profiles = dict(b.profile for b in built if b.profile)
    operations = dict(b.operation for b in built if b.operation)
    pods = [shared.kwargs for t in tasks for shared in t.spread if isinstance(shared, Call)]
    templates = sorted({pod["pod_template"] for pod in pods if pod.get("pod_template")})
    return DagSpec(
        dag_id=plan.dag_id,
        description=run.description,
        schedule=_schedule(plan),
        start_date=run.start_date or DEFAULT_START_DATE,
        tags=_tags(plan),
        project=plan.source.package,
        pipeline=plan.source.pipeline_name,
        env=plan.env,
        execution=plan.execution,
        mlflow=mlflow,
        pod_defaults=shared.pods,
        local=shared.local,
        resources={name: resource_spec(name, profiles[name]) for name in sorted(profiles)},
        pod_templates={name: run.kubernetes_pod_templates[name].template for name in templates},
        groups=sorted(plan.ids.groups.values(), key=lambda g: g.group_id),
        tasks=tasks,
        failure_notifiers=[SlackNotifierSpec(h.connection_id, _slack_text(h.message_template))
                           for h in run.failure_handlers],
        version=__version__,
        artifacts_version=plan.source.spark_artifacts_version,
        project_version=plan.source.project_version,
        commit_sha=plan.source.commit_sha,
        paused_upon_creation=plan.options.paused_upon_creation,
        max_active_runs=_max_active_runs(plan),
        catchup=run.catchup,
        dag_arguments=_dag_arguments(plan) | _params_argument(plan),
        default_args=_default_args(plan),
        assets=plan.assets,
        schedule_assets=plan.schedule_assets,
        kedro_params=bool(run.macro_params or run.variables_params),
        variables=used_variables(run, mlflow is not None),
        trigger_params={p.name: (p.default, p.schema) for p in plan.trigger_params},
        field_env=any("field_env" in pod for pod in pods),
        threads=any("threads" in pod for pod in pods),
        uses_run_hash=_uses_run_hash(shared, tasks),
        operations={name: operations[name] for name in sorted(operations)},
    )


def _tasks(built: list[BuiltNode], life: Lifecycle) -> list[TaskSpec]:
    """Every task, sorted by id, with its sorted upstream ids."""
    return sorted((replace(t, upstream=tuple(sorted(life.upstream.get(t.task_id, ()))))
                   for t in [*(b.task for b in built), *life.tasks]),
                  key=lambda t: t.task_id)


def _dag_arguments(plan: Plan) -> dict[str, Any]:
    """The DAG's optional arguments run_config sets."""
    run = plan.run
    arguments: dict[str, Any] = {}
    if run.max_active_tasks is not None:
        arguments["max_active_tasks"] = run.max_active_tasks
    if run.dagrun_timeout is not None:
        arguments["dagrun_timeout"] = timedelta_call(run.dagrun_timeout)
    return arguments


def _default_args(plan: Plan) -> dict[str, Any]:
    """The DAG's default_args: the owner and task_defaults."""
    run = plan.run
    return {**({"owner": run.owner} if run.owner else {}),
            **settings_arguments(run.task_defaults)}


def _uses_run_hash(shared: Shared, tasks: list[TaskSpec]) -> bool:
    """Whether a task names per-run resources: the data volume, or a Spark factory's cluster."""
    if shared.pods and shared.pods.volume:
        return True
    return shared.spark is not None and isinstance(shared.spark.runner, SparkFactory) \
        and any(t.kind == "spark" for t in tasks)


def _params_argument(plan: Plan) -> dict[str, Any]:
    """DAG(params=...): a Param per Kedro parameter the pipeline reads, its default the
    file's KEDRO_PARAMETERS entry."""
    if not plan.trigger_params:
        return {}
    return {"params": {p.name: Call("Param", (Ref(KEDRO_PARAMETERS, p.name),),
                                    p.schema) for p in plan.trigger_params}}


def _schedule(plan: Plan) -> Any:
    """The cron, or the schedule on data (with the cron, when there is one, as either)."""
    if plan.options.schedule_on is None:
        return plan.options.schedule
    return schedule_value(plan.options.schedule_on, plan.schedule_assets, plan.assets,
                          plan.options.schedule)


def _max_active_runs(plan: Plan) -> int | None:
    configured = plan.run.max_active_runs
    if plan.options.schedule != "@continuous":
        return configured
    # Airflow requires one active run at most for @continuous
    if configured not in (None, 1):
        raise CompileError(f"run_config.max_active_runs: {configured} with schedule "
                           "@continuous, which Airflow runs one at a time: set it to 1 or "
                           "remove it")
    return 1


def _tags(plan: Plan) -> list[str]:
    mlflow = plan.source.mlflow
    experiment = (mlflow.experiment_name if mlflow else None) or plan.run.experiment_name or \
        plan.dag_id
    tags = [f"generated_with_kedro_airflow_k8s:{__version__}", f"experiment_name:{experiment}"]
    if plan.source.commit_sha:
        tags.append(f"commit_sha:{plan.source.commit_sha}")
    if plan.source.project_version:
        tags.append(f"project_version:{plan.source.project_version}")
    tags += [tag for tag in plan.run.tags if tag not in tags]
    for tag in tags:
        if len(tag) > 100:
            raise CompileError(f"DAG tag {tag[:40]!r}... is longer than Airflow's 100 characters")
    return tags


def _slack_text(template: str) -> str:
    """Turn `{task}`-style placeholders into Airflow Jinja; other text stays literal."""
    parts = []
    for literal, field, _, _ in string.Formatter().parse(template):
        parts.append(literal.replace("{", "{{ '{' }}"))
        if field is not None:
            parts.append(_SLACK_FIELDS[field])
    return "".join(parts)
