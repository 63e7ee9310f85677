"""The pools a DAG's tasks take slots of, checked against the pools Airflow has (the REST
side runs against a real Airflow in tests/e2e/test_airflow.py)."""

import pytest

from kedro_airflow_k8s.config import parse_config
from kedro_airflow_k8s.pools import pool_problems, pool_uses
from kedro_airflow_k8s.render import render_dag, write_atomically
from tests.test_compiler import SETTINGS, _settings_pipeline, compile_pipeline
from tests.test_config import with_run

HOST = "https://airflow.example.com"
RAW = with_run(task_settings=SETTINGS, task_defaults={"pool": "shared"})


@pytest.fixture
def spec():
    return compile_pipeline(_settings_pipeline(), RAW)


def test_pool_uses_are_the_pools_airflow_gives_the_tasks(spec, tmp_path):
    from tests import airflow_check

    path = tmp_path / "dags" / "demo.py"
    write_atomically(path, render_dag(spec))
    dag = airflow_check.load_dag(path)
    uses = pool_uses([spec])
    assert {(name, task, slots) for name, use in uses.items()
            for task, slots in use.slots.items()} == {
        (t.pool, t.task_id, t.pool_slots) for t in dag.tasks}
    assert uses["gpu-pool"].slots == {"train": 2}


def test_a_pool_with_fewer_slots_than_a_task_takes_is_one_line_naming_the_key(spec):
    run = parse_config(RAW).run_config
    problems = pool_problems(pool_uses([spec]), {"shared": 4, "gpu-pool": 1}, run, HOST)
    assert problems == [
        "run_config.task_settings.slow.pool_slots: task(s) train take 2 slots of pool "
        f"'gpu-pool', which has 1 in Airflow at {HOST}, so they would never run: raise its "
        "slots (`airflow pools set gpu-pool 2 \"<description>\"`) or lower pool_slots"]
    # enough slots, or an unlimited pool (-1 in Airflow): nothing to say
    assert pool_problems(pool_uses([spec]), {"shared": 1, "gpu-pool": 2}, run, HOST) == []
    assert pool_problems(pool_uses([spec]), {"shared": 1, "gpu-pool": float("inf")},
                         run, HOST) == []


def test_a_missing_pool_names_the_keys_that_name_it(spec):
    run = parse_config(RAW).run_config
    problems = pool_problems(pool_uses([spec]), {"gpu-pool": 2}, run, HOST)
    assert len(problems) == 1
    # the plugin's own tasks take it too (default_args)
    assert problems[0].startswith(
        f"run_config.task_defaults.pool: pool 'shared' does not exist in Airflow at {HOST}, "
        "so task(s) create-data-volume, delete-data-volume, init-data-volume and 3 more "
        "would stay scheduled forever: create it with ")
    assert '`airflow pools set shared <slots> "<description>"`' in problems[0]
    # Airflow's default_pool is never missing
    raw = with_run(task_settings=SETTINGS)
    assert pool_problems(pool_uses([compile_pipeline(_settings_pipeline(), raw)]),
                         {"gpu-pool": 2}, parse_config(raw).run_config, HOST) == []


def test_a_credential_that_may_not_read_pools_gets_a_note_and_no_check(spec, httpserver):
    """A stand-in for Airflow (pytest-httpserver): `airflow standalone`'s simple auth manager
    lets every role read pools, so the real one cannot answer 403 here."""
    from kedro_airflow_k8s.pools import check_pools
    from tests.test_airflow_client import fast_client

    httpserver.expect_request("/api/v2/pools").respond_with_json(
        {"detail": "Forbidden"}, status=403)
    url = httpserver.url_for("").rstrip("/")
    notes = list(check_pools(fast_client(url, AIRFLOW_API_TOKEN="t"), [spec],
                             parse_config(RAW).run_config))
    assert notes == [f"Note: pools not checked: Airflow at {url} denied reading them (HTTP "
                     "403); the credential's role needs the Pools read permission (can_read "
                     "on Pools) for this check."]
