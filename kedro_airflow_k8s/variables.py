"""The Airflow Variables a DAG's tasks read, checked against the Variables Airflow has.

A task renders `{{ var.value.<name> }}` when it runs: a Variable Airflow lacks fails every
task that passes it (`VARIABLE_NOT_FOUND`), the run's first task included, after the upload
and the wait for a worker. The commands that talk to Airflow refuse such a DAG before
uploading it.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

from kedro_airflow_k8s.errors import ConfigError

if TYPE_CHECKING:
    from kedro_airflow_k8s.airflow_client import AirflowClient
    from kedro_airflow_k8s.config import RunConfig


def used_variables(run: RunConfig, mlflow: bool) -> dict[str, str]:
    """Airflow Variable -> the config key naming it, of the DAG of `run` (with `mlflow`:
    MLflow configured, whose tasks read the Variables of Vars authentication)."""
    used = {name: "run_config.variables_params" for name in run.variables_params}
    if mlflow and run.authentication.type == "Vars":
        used.update({name: "run_config.authentication.params"
                     for name in run.authentication.params if name not in used})
    return used


def check_variables(client: AirflowClient,
                    used: dict[str, str]) -> Generator[str, None, None]:
    """Raise ConfigError (nothing uploaded yet) naming the Variables of `used` (name -> the
    config key naming it) that Airflow lacks; a note, and no check, when the credential may
    not read Variables."""
    missing: dict[str, list[str]] = {}
    for name in sorted(used):
        found = client.variable_exists(name)
        if found is None:
            yield (f"Note: Variables not checked: Airflow at {client.host} denied reading them "
                   "(HTTP 403); the credential's role needs the Variables read permission "
                   "(can_read on Variables) for this check.")
            return
        if not found:
            missing.setdefault(used[name], []).append(name)
    if missing:
        raise ConfigError("; ".join(_missing(key, names, client.host)
                                    for key, names in sorted(missing.items())))


def _missing(key: str, names: list[str], host: str) -> str:
    """The problem of the Variables `names`, named by config `key`, that Airflow lacks."""
    listed = ", ".join(f"'{name}'" for name in names)
    one = len(names) == 1
    it = "it" if one else "them"
    commands = ", ".join(f"`airflow variables set {name} <value>`" for name in names)
    return (f"{key}: Airflow Variable{'' if one else 's'} {listed} "
            f"do{'es' if one else ''} not exist in Airflow at {host}, so every task "
            f"reading {it} would fail when it runs (VARIABLE_NOT_FOUND): "
            f"create {it} with {commands} (or Admin > Variables in the "
            f"UI), or remove {it} from {key}")
