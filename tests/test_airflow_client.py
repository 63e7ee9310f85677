"""Faults the real Airflow cannot be made to show on demand, from a scripted HTTP server.

pytest-httpserver plays Airflow's API on 127.0.0.1: it answers with the status codes and
bodies listed in each test, so retries and error lines can be checked exactly.
"""

import json
import time

import pytest
from werkzeug import Response

from kedro_airflow_k8s.airflow_client import AirflowClient, RunProgress, ui_url, wait_until
from kedro_airflow_k8s.errors import AirflowApiError
from tests.conftest import free_port

DAG = {
    "dag_id": "demo", "dag_display_name": "demo", "file_token": "t", "fileloc": "/d/demo.py",
    "has_import_errors": False, "has_task_concurrency_limits": False, "is_backfillable": True,
    "is_paused": True, "is_stale": False, "max_active_tasks": 16,
    "max_consecutive_failed_dag_runs": 0, "owners": ["kedro"], "timetable_partitioned": False,
    "timetable_periodic": False,
    "tags": [{"name": "generated_with_kedro_airflow_k8s:0.1.0", "dag_id": "demo",
              "dag_display_name": "demo"}],
}


def fast_client(url, **environ):
    return AirflowClient(url, environ=environ, attempts=3, backoff=0.01, timeout=5)


def test_host_down_is_one_line_naming_the_host():
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(AirflowApiError) as error:
        fast_client(url).dag("demo")
    assert str(error.value) == (f"cannot reach Airflow at {url} (reading DAG 'demo'): "
                                "connection refused")
    assert time.monotonic() - started < 10  # bounded retries


def test_unknown_host_is_one_line():
    with pytest.raises(AirflowApiError) as error:
        fast_client("http://no-such-host.invalid").dag("demo")
    assert str(error.value).startswith("cannot reach Airflow at http://no-such-host.invalid")


def test_500_then_200_is_retried(httpserver):
    answers = iter([Response("oops", status=500), Response("busy", status=503),
                    Response(json.dumps(DAG), status=200, content_type="application/json")])
    httpserver.expect_request("/api/v2/dags/demo").respond_with_handler(
        lambda request: next(answers))
    dag = fast_client(httpserver.url_for("").rstrip("/")).dag("demo")
    assert dag.dag_id == "demo" and dag.is_paused
    assert len(httpserver.log) == 3


def test_500_for_good_is_one_line(httpserver):
    httpserver.expect_request("/api/v2/dags/demo").respond_with_json(
        {"detail": "database is locked"}, status=500)
    url = httpserver.url_for("").rstrip("/")
    with pytest.raises(AirflowApiError) as error:
        fast_client(url).dag("demo")
    assert str(error.value) == (f"Airflow at {url} answered HTTP 500 to reading DAG 'demo': "
                                "database is locked")
    assert len(httpserver.log) == 4  # the first try and 3 retries


def test_403_names_the_credential(httpserver):
    httpserver.expect_request("/api/v2/dags").respond_with_json(
        {"detail": "Forbidden"}, status=403)
    url = httpserver.url_for("").rstrip("/")
    with pytest.raises(AirflowApiError) as error:
        fast_client(url, AIRFLOW_API_TOKEN="secret-token").generated_dags()
    assert str(error.value) == (f"Airflow at {url} denied listing DAGs (HTTP 403: Forbidden): "
                                "check AIRFLOW_API_TOKEN (or its user's permissions)")
    assert "secret-token" not in str(error.value)
    assert httpserver.log[0][0].headers["Authorization"] == "Bearer secret-token"


def test_password_is_exchanged_for_a_jwt(httpserver):
    httpserver.expect_request("/auth/token", method="POST", json={
        "username": "ada", "password": "pw"}).respond_with_json({"access_token": "jwt-1"})
    httpserver.expect_request("/api/v2/dags/demo").respond_with_json(DAG)
    client = fast_client(httpserver.url_for("").rstrip("/"), AIRFLOW_API_USERNAME="ada",
                         AIRFLOW_API_PASSWORD="pw")
    client.dag("demo")
    assert httpserver.log[-1][0].headers["Authorization"] == "Bearer jwt-1"


def test_token_wins_over_password(httpserver):
    httpserver.expect_request("/api/v2/dags/demo").respond_with_json(DAG)
    client = fast_client(httpserver.url_for("").rstrip("/"), AIRFLOW_API_TOKEN="tok",
                         AIRFLOW_API_USERNAME="ada", AIRFLOW_API_PASSWORD="pw")
    client.dag("demo")
    assert [r.path for r, _ in httpserver.log] == ["/api/v2/dags/demo"]  # no /auth/token


def test_host_must_be_a_url():
    with pytest.raises(AirflowApiError, match="host: expected the Airflow URL with http"):
        AirflowClient("airflow.example.com", environ={})


def test_ssl_verification_can_be_turned_off():
    on = AirflowClient("https://a.example.com", environ={})
    off = AirflowClient("https://a.example.com",
                        environ={"AIRFLOW__CLIENT__SSL_VERIFY": "false"})
    assert on.api.configuration.verify_ssl and not off.api.configuration.verify_ssl


def test_ui_urls():
    assert ui_url("https://a.example.com/") == "https://a.example.com/"
    assert ui_url("https://a.example.com", "my dag", "run:1+0") == (
        "https://a.example.com/dags/my%20dag/runs/run%3A1%2B0")


def test_wait_until_gives_up_after_the_timeout():
    clock = iter(range(100))
    calls = []
    result = wait_until(lambda: calls.append(1), timeout=3, interval=1,
                        sleep=lambda s: None, clock=lambda: next(clock))
    assert result is None and len(calls) == 3  # clock reads 1, 2, 3: the deadline


def test_progress_counts():
    progress = RunProgress("running", {"a": "success", "b": "failed",
                                       "c": "upstream_failed", "d": None})
    assert progress.count("success") == 1 and progress.count(None) == 1
    assert progress.failed_tasks == ["b", "c"]
