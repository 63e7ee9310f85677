"""The names an Airflow 3 task's templates can use, for `run_config.macro_params`.

Kept by hand because compiling must not import Airflow; tests/test_validate.py compares the
list with the context the installed Airflow builds for a task, so it cannot drift.
"""

from __future__ import annotations

# What RuntimeTaskInstance.get_template_context() gives a task of a run with a logical date.
CONTEXT_KEYS = frozenset({
    "conn", "dag", "dag_run", "data_interval_end", "data_interval_start", "ds", "ds_nodash",
    "inlet_events", "inlets", "logical_date", "macros", "map_index_template", "outlet_events",
    "outlets", "params", "partition_date", "partition_key", "prev_data_interval_end_success",
    "prev_data_interval_start_success", "prev_end_date_success", "prev_start_date_success",
    "run_id", "task", "task_instance", "task_instance_key_str", "task_reschedule_count",
    "task_state_store", "ti", "triggering_asset_events", "ts", "ts_nodash",
    "ts_nodash_with_tz", "var",
})

# Not in the context of a run without a logical date, as the runs a schedule on data starts
# (airflow.sdk.execution_time.task_runner: "keys that depend on logical_date").
LOGICAL_DATE_KEYS = frozenset({
    "data_interval_end", "data_interval_start", "ds", "ds_nodash", "logical_date",
    "prev_data_interval_end_success", "prev_data_interval_start_success", "ts",
    "ts_nodash", "ts_nodash_with_tz",
})

# What the names above give in a run without a logical date (triggered through the API
# without one, or by an asset event): the time the run was due, `dag_run.run_after`, through
# Airflow's own filter of the name; no previous successful data interval.
WITHOUT_LOGICAL_DATE = {
    "logical_date": "dag_run.run_after",
    "data_interval_start": "dag_run.run_after",
    "data_interval_end": "dag_run.run_after",
    **{name: f"dag_run.run_after | {name}"
       for name in ("ds", "ds_nodash", "ts", "ts_nodash", "ts_nodash_with_tz")},
    "prev_data_interval_start_success": "None",
    "prev_data_interval_end_success": "None",
}


def macro_expression(name: str) -> str:
    """The Jinja expression of a context name for run_config.macro_params: one a run without
    a logical date lacks falls back to WITHOUT_LOGICAL_DATE (Airflow's templates are strict:
    an undefined name would fail the task)."""
    fallback = WITHOUT_LOGICAL_DATE.get(name)
    return f"({name} if {name} is defined else {fallback})" if fallback else name


# Only in the context of a task with inlets or outlets (a node task reading or writing a
# declared asset): not offered to macro_params, which every node task passes.
ASSET_CONTEXT_KEYS = frozenset({"asset_state_store"})

# Airflow 2 names that Airflow 3 removed, and what to use instead (None: nothing does).
REMOVED = {
    "execution_date": "logical_date",
    "next_ds": "data_interval_end",
    "next_ds_nodash": "data_interval_end",
    "next_execution_date": "data_interval_end",
    "prev_ds": "prev_data_interval_start_success",
    "prev_ds_nodash": "prev_data_interval_start_success",
    "prev_execution_date": "prev_data_interval_start_success",
    "prev_execution_date_success": "prev_data_interval_start_success",
    "tomorrow_ds": None,
    "tomorrow_ds_nodash": None,
    "yesterday_ds": None,
    "yesterday_ds_nodash": None,
    "conf": None,
    "triggering_dataset_events": "triggering_asset_events",
}


def unknown_name(name: str) -> str | None:
    """Why `name` is no name of an Airflow 3 task's context, or None when it is one."""
    if name in CONTEXT_KEYS:
        return None
    if name in REMOVED:
        instead = REMOVED[name]
        return (f"{name!r} no longer exists in Airflow 3" +
                (f"; use {instead}" if instead else "; compute it in the node from ds"))
    return f"{name!r} is not in an Airflow 3 task's context (known: ds, ts, logical_date, ...)"
