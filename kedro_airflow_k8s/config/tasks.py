"""Task settings: Airflow's own settings of a task and how the KubernetesPodOperator runs
its pod (run_config.task_settings, task_defaults)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AliasChoices, Field, model_validator

from kedro_airflow_k8s.config.base import Duration, Seconds, WholeSeconds, _Model, _pool_name

# The key -> the KubernetesPodOperator's argument (reattach_on_restart: `durable`, which
# supersedes it in the provider on Airflow 3.3).
POD_OPERATION = {"deferrable": "deferrable", "reattach_on_restart": "durable",
                 "on_finish_action": "on_finish_action",
                 "startup_timeout": "startup_timeout_seconds",
                 "schedule_timeout": "schedule_timeout_seconds",
                 "termination_grace_period": "termination_grace_period",
                 "active_deadline": "active_deadline_seconds",
                 "logging_interval": "logging_interval", "poll_interval": "poll_interval"}


class PodOperation(_Model):
    """How the KubernetesPodOperator runs a node pod; unset keys: the DAG's, else the
    provider's."""

    deferrable: bool | None = Field(
        None, description="Wait for the pod in Airflow's triggerer, not in a worker slot "
        "(needs a running triggerer); default: Airflow's [operators] default_deferrable."
    )
    reattach_on_restart: bool | None = Field(
        None, validation_alias=AliasChoices("reattach_on_restart", "durable"),
        description="A new try finds the pod of the try that lost its worker instead of "
        "starting another (the provider's durable; default true)."
    )
    on_finish_action: Literal["delete_pod", "delete_succeeded_pod", "delete_active_pod",
                              "keep_pod"] | None = Field(
        None, description="What becomes of a finished pod: delete_pod (default), "
        "delete_succeeded_pod (keeps failed pods to debug), delete_active_pod, keep_pod."
    )
    startup_timeout: WholeSeconds | None = Field(
        None, ge=1, validation_alias=AliasChoices("startup_timeout", "startup_timeout_seconds"),
        description="Longest a scheduled pod may take to start (as retry_delay, whole "
        "seconds); default: run_config.startup_time."
    )
    schedule_timeout: WholeSeconds | None = Field(
        None, ge=1,
        validation_alias=AliasChoices("schedule_timeout", "schedule_timeout_seconds"),
        description="Longest a pod may wait to be scheduled on a node; default: the startup "
        "timeout."
    )
    termination_grace_period: WholeSeconds | None = Field(
        None, ge=0, description="Seconds a stopped pod gets between SIGTERM and SIGKILL "
        "(the pod's terminationGracePeriodSeconds; Kubernetes' default 30)."
    )
    active_deadline: WholeSeconds | None = Field(
        None, ge=1, validation_alias=AliasChoices("active_deadline", "active_deadline_seconds"),
        description="Longest a pod may run before Kubernetes stops it (the pod's "
        "activeDeadlineSeconds)."
    )
    logging_interval: WholeSeconds | None = Field(
        None, ge=1, description="With deferrable: how often the task leaves the triggerer "
        "to fetch the pod's logs; default: logs once the pod is done."
    )
    poll_interval: Seconds | None = Field(
        None, gt=0, description="With deferrable: how often the triggerer checks the pod "
        "(seconds, provider default 2)."
    )

    @model_validator(mode="after")
    def _intervals_need_deferrable(self) -> PodOperation:
        check_deferrable_intervals(self.deferrable, self.logging_interval, self.poll_interval)
        return self

    def operator_arguments(self) -> dict[str, Any]:
        """The keys set, by the KubernetesPodOperator's argument names."""
        return {POD_OPERATION[key]: value for key, value in
                self.model_dump(include=set(POD_OPERATION), exclude_none=True).items()}


def check_deferrable_intervals(deferrable: bool | None, logging_interval: Any,
                               poll_interval: Any) -> None:
    """logging_interval and poll_interval act only in deferrable mode."""
    for key, value in (("logging_interval", logging_interval), ("poll_interval", poll_interval)):
        if deferrable is False and value is not None:
            raise ValueError(f"{key} acts only on deferrable pods, but deferrable is false")


class TaskSettings(PodOperation):
    """Airflow's own settings of a task (BaseOperator arguments) and how the
    KubernetesPodOperator runs its pod; unset keys: Airflow's."""

    retries: int | None = Field(None, ge=0, description="Retries before the task fails.")
    retry_delay: Duration | None = Field(
        None, description="Wait before a retry: seconds, 30s, 5m, 1h30m or ISO 8601 (PT5M)."
    )
    retry_exponential_backoff: float | None = Field(
        None, ge=0, description="Multiplier of the retry delay per retry (Airflow 3.3: 2 "
        "doubles it each time; 0 keeps it constant)."
    )
    max_retry_delay: Duration | None = Field(
        None, description="Longest wait between retries with exponential backoff."
    )
    execution_timeout: Duration | None = Field(
        None, description="Longest a try may run before Airflow fails it."
    )
    retry_on: Literal["infrastructure", "any"] | None = Field(
        None, description="Failures of a node pod that spend retries: infrastructure (the "
        "default) only a pod the cluster ended (evicted, OOMKilled, image pull, unscheduled), "
        "a node's own error fails at once; any: every failure."
    )
    pool: Annotated[str, AfterValidator(_pool_name)] | None = Field(
        None, description="Airflow pool the task takes slots of; Airflow does not create "
        "it (`airflow pools set <name> <slots> <description>`), and the commands that talk "
        "to Airflow refuse a DAG whose pool it lacks."
    )
    pool_slots: int | None = Field(
        None, ge=1, description="Slots of the pool it takes; at most the pool's slots, or "
        "the task never runs (checked with the pool)."
    )
    queue: str | None = Field(
        None, min_length=1, description="Executor queue (Celery queue) it runs on."
    )
    priority_weight: int | None = Field(
        None, ge=-(2**31), lt=2**31, description="Priority against other queued tasks."
    )
    weight_rule: Literal["downstream", "upstream", "absolute"] | None = Field(
        None, description="How the effective priority adds up: downstream, upstream or "
        "absolute."
    )

    def arguments(self) -> dict[str, Any]:
        """The keys set, as the operator takes them (durations still timedeltas); not the
        pod keys (operator_arguments), nor retry_on, which picks the operator class."""
        return self.model_dump(exclude_none=True, exclude=set(POD_OPERATION) | {"retry_on"})
