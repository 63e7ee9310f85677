"""The Airflow pools a DAG's tasks take slots of, checked against the pools Airflow has.

Airflow does not create pools: its scheduler skips, with a warning in its own log only, a
task whose pool does not exist or that wants more slots than the pool has in all
(SchedulerJobRunner._executable_task_instances_to_queued), so such a run stays scheduled
forever. The commands that talk to Airflow refuse such a DAG before uploading it.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kedro_airflow_k8s.dagspec import DagSpec
from kedro_airflow_k8s.errors import ConfigError

if TYPE_CHECKING:
    from kedro_airflow_k8s.airflow_client import AirflowClient
    from kedro_airflow_k8s.config import RunConfig

DEFAULT_POOL = "default_pool"  # Airflow's own, which every task without a pool takes
DEFAULT_SLOTS = 1


@dataclass
class PoolUse:
    """The tasks of some DAGs taking slots of one pool."""

    name: str
    tasks: list[str] = field(default_factory=list)
    slots: dict[str, int] = field(default_factory=dict)  # task -> slots it takes


def pool_uses(specs: Iterable[DagSpec]) -> dict[str, PoolUse]:
    """Pool name -> which tasks take how many of its slots: a task's own pool/pool_slots
    (its task_settings), else the DAG's default_args (task_defaults), else Airflow's."""
    return _uses((task.task_id,
                  task.arguments.get("pool") or spec.default_args.get("pool"),
                  task.arguments.get("pool_slots") or spec.default_args.get("pool_slots"))
                 for spec in specs for task in spec.tasks)


def airflow_pool_uses(tasks: dict[str, tuple[str | None, int | None]]) -> dict[str, PoolUse]:
    """`pool_uses` of a DAG as Airflow serves it: task id -> (pool, pool_slots)."""
    return _uses((task_id, name, slots) for task_id, (name, slots) in sorted(tasks.items()))


def _uses(tasks: Iterable[tuple[str, str | None, int | None]]) -> dict[str, PoolUse]:
    """(task id, pool, slots) -> pool name -> PoolUse; unset: Airflow's default pool, 1 slot."""
    uses: dict[str, PoolUse] = {}
    for task_id, name, slots in tasks:
        use = uses.setdefault(name or DEFAULT_POOL, PoolUse(name or DEFAULT_POOL))
        use.tasks.append(task_id)
        use.slots[task_id] = slots or DEFAULT_SLOTS
    return uses


def _keys(run: RunConfig | None, key: str, wanted: object,
          pool: str | None = None) -> list[str]:
    """The config keys setting `key` to `wanted` (with `pool`: only in the settings whose
    tasks take that pool, their own or task_defaults'); none without a configuration."""
    if run is None:
        return []
    settings = [("run_config.task_defaults", run.task_defaults),
                *((f"run_config.task_settings.{name}", profile)
                  for name, profile in sorted(run.task_settings.items()))]
    found = []
    for where, profile in settings:
        if getattr(profile, key) != wanted:
            continue
        if pool is not None and (profile.pool or run.task_defaults.pool
                                 or DEFAULT_POOL) != pool:
            continue
        found.append(f"{where}.{key}")
    return found


def _tasks(tasks: list[str], shown: int = 3) -> str:
    more = f" and {len(tasks) - shown} more" if len(tasks) > shown else ""
    return ", ".join(tasks[:shown]) + more


def pool_problems(uses: dict[str, PoolUse], pools: dict[str, float], run: RunConfig | None,
                  host: str, where: str = "") -> list[str]:
    """One line per pool the tasks cannot run in: missing in Airflow, or smaller in all than
    the slots a task takes (`pools`: name -> slots, inf for unlimited). Each starts with the
    config keys that set it, else with `where` and the key."""
    problems = []
    for name, use in sorted(uses.items()):
        if name not in pools:
            if name != DEFAULT_POOL:  # Airflow's own, always there
                problems.append(_missing_pool(name, use, run, host, where))
            continue
        over = {task: slots for task, slots in use.slots.items() if slots > pools[name]}
        if over:
            problems.append(_too_small(name, over, pools[name], run, host, where))
    return problems


def _missing_pool(name: str, use: PoolUse, run: RunConfig | None, host: str,
                  where: str) -> str:
    keys = ", ".join(_keys(run, "pool", name)) or f"{where}pool"
    return (f"{keys}: pool '{name}' does not exist in Airflow at {host}, so task(s) "
            f"{_tasks(use.tasks)} would stay scheduled forever: create it with "
            f"`airflow pools set {name} <slots> \"<description>\"` (or Admin > Pools in "
            "the UI), or name an existing pool")


def _too_small(name: str, over: dict[str, int], total: float, run: RunConfig | None,
               host: str, where: str) -> str:
    """The problem of the tasks `over` (task -> slots) taking more than the pool's `total`."""
    wanted = max(over.values())
    keys = ", ".join(dict.fromkeys(
        k for slots in sorted(set(over.values()))
        for k in _keys(run, "pool_slots", slots, name))) or f"{where}pool_slots"
    return (f"{keys}: task(s) {_tasks(sorted(over))} take {wanted} slots of pool '{name}', "
            f"which has {total:g} in Airflow at {host}, so they would never run: raise its "
            f"slots (`airflow pools set {name} {wanted} \"<description>\"`) or lower "
            "pool_slots")


def check_pools(client: AirflowClient, specs: Iterable[DagSpec],
                run: RunConfig) -> Generator[str, None, None]:
    """Raise ConfigError (nothing uploaded yet) when a task's pool is missing in Airflow or
    too small for it; a note, and no check, when the credential may not read pools."""
    yield from _check(client, pool_uses(specs), run, "")


def check_dag_pools(client: AirflowClient, dag_id: str) -> Generator[str, None, None]:
    """`check_pools` for a DAG Airflow already has (backfill), from its tasks as served."""
    yield from _check(client, airflow_pool_uses(client.task_pools(dag_id)), None,
                      f"DAG '{dag_id}': ")


def _check(client: AirflowClient, uses: dict[str, PoolUse], run: RunConfig | None,
           where: str) -> Generator[str, None, None]:
    if set(uses) == {DEFAULT_POOL} and all(s == DEFAULT_SLOTS for u in uses.values()
                                           for s in u.slots.values()):
        return  # Airflow's default pool, one slot a task: nothing that can be missing
    pools = client.pools()
    if pools is None:
        yield (f"Note: pools not checked: Airflow at {client.host} denied reading them "
               "(HTTP 403); the credential's role needs the Pools read permission "
               "(can_read on Pools) for this check.")
        return
    problems = pool_problems(uses, pools, run, client.host, where)
    if problems:
        raise ConfigError("; ".join(problems))

