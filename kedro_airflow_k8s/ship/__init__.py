"""Compile, upload, and drive a run on Airflow: what compile, upload-pipeline, schedule,
run-once and backfill do beyond parsing their arguments.

The commands' steps are generators (`steps.py`): they yield what the user should read and
return their result; the CLI shows what they yield (`drive`, with `display.RunDisplay`).

- `preparing.py`: compile, render, validate a project's DAG;
- `shipment.py`: the one flow of the uploading commands (compile all, check Airflow has what
  the DAGs need, upload all, then the command's own steps), and the upload;
- `publishing.py`, `scheduling.py`, `running.py`: upload-pipeline, schedule, run-once as steps of
  that flow;
- `loading.py`: waiting for Airflow to load an uploaded version;
- `following.py`: the one polling loop, following a run or a backfill, a failure's report;
- `backfilling.py`: backfill, in steps;
- `run_params.py`: `--params` -> a run's conf, checked against the DAG's Params.
"""

from kedro_airflow_k8s.ship.backfilling import (
    backfill,
    backfill_date,
    backfill_span,
    project_variables,
)
from kedro_airflow_k8s.ship.following import follow, follow_backfill, follow_run
from kedro_airflow_k8s.ship.loading import Before, await_version, wait_for_version
from kedro_airflow_k8s.ship.preparing import prepare, prepare_each
from kedro_airflow_k8s.ship.publishing import publish, publish_each
from kedro_airflow_k8s.ship.run_params import backfill_conf, run_conf
from kedro_airflow_k8s.ship.running import new_run_id, run_once, start_run
from kedro_airflow_k8s.ship.scheduling import schedule, schedule_each, schedule_options
from kedro_airflow_k8s.ship.shipment import Published, airflow_host, client_for
from kedro_airflow_k8s.ship.steps import Event, Steps, drive

__all__ = ["Before", "Event", "Published", "Steps", "airflow_host", "await_version", "backfill",
           "backfill_conf", "backfill_date", "backfill_span", "client_for", "drive", "follow",
           "follow_backfill", "follow_run", "new_run_id", "prepare", "prepare_each",
           "project_variables", "publish", "publish_each", "run_conf", "run_once", "schedule",
           "schedule_each", "schedule_options", "start_run", "wait_for_version"]
