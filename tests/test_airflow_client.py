"""Faults the real Airflow cannot be made to show on demand, from a scripted HTTP server.

pytest-httpserver plays Airflow's API on 127.0.0.1: it answers with the status codes and
bodies listed in each test, so retries and error lines can be checked exactly.
"""

import io
import json
import time
import uuid

import pytest
from werkzeug import Response

from kedro_airflow_k8s.airflow_client import (
    AirflowClient,
    RunProgress,
    short_commit,
    ui_url,
)
from kedro_airflow_k8s.display import RunDisplay
from kedro_airflow_k8s.errors import AirflowApiError, ConfigError, RunFailed
from kedro_airflow_k8s.ship import drive, follow_run
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


def test_retries_are_one_line_not_urllib3s_warnings(httpserver, caplog):
    """Airflow down printed ~44 lines of urllib3 warnings (one per retry, wrapped) before
    the error; the client says once that it retries, and logs nothing."""
    import logging

    caplog.set_level(logging.DEBUG)
    lines = []
    url = f"http://127.0.0.1:{free_port()}"
    client = AirflowClient(url, environ={}, attempts=3, backoff=0.01, timeout=5,
                           notify=lines.append)
    with pytest.raises(AirflowApiError):
        client.dag("demo")
    assert lines == [f"Airflow at {url} does not answer (connection refused); retrying up "
                     "to 3 times."]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    answers = iter([Response("busy", status=503),
                    Response(json.dumps(DAG), status=200, content_type="application/json")])
    httpserver.expect_request("/api/v2/dags/demo").respond_with_handler(
        lambda request: next(answers))
    lines.clear()
    client = AirflowClient(httpserver.url_for("").rstrip("/"), environ={}, attempts=3,
                           backoff=0.01, timeout=5, notify=lines.append)
    assert client.dag("demo").dag_id == "demo"
    assert lines == [f"Airflow at {client.host} answered HTTP 503; retrying up to 3 times."]


def test_airflow_down_is_a_progress_line_and_the_error(demo_project):
    """As a user sees it: one line while retrying, then the one-line error, nothing else."""
    from tests.conftest import run_kedro

    url = f"http://127.0.0.1:{free_port()}"
    result = run_kedro(demo_project, "airflow-k8s", "list-pipelines",
                       env={"KEDRO_CONFIG_AIRFLOW_HOST": url})
    assert result.returncode == 1
    assert "Retrying" not in result.stdout + result.stderr
    assert (f"Airflow at {url} does not answer (connection refused); retrying up to 4 "
            "times.") in result.stdout.splitlines()
    assert result.stderr.splitlines() == [
        f"Error: cannot reach Airflow at {url} (listing DAGs): connection refused"]


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
    from kedro_airflow_k8s.errors import ConfigError

    with pytest.raises(ConfigError, match="host: expected the Airflow URL with http"):
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


def test_progress_counts():
    progress = RunProgress("running", {"a": "success", "b": "failed",
                                       "c": "upstream_failed", "d": None})
    assert progress.count("success") == 1 and progress.count(None) == 1
    assert progress.failed_tasks == ["b", "c"]


def dag_run(dag_id, run_id, state="queued"):
    return {"dag_display_name": dag_id, "dag_id": dag_id, "dag_run_id": run_id,
            "dag_versions": [], "run_type": "manual", "state": state,
            "run_after": "2026-11-02T10:00:00Z"}


def test_trigger_replayed_after_a_lost_response_is_the_same_run(httpserver):
    """The first answer is lost (the server takes longer than the client waits), the retry's
    POST gets Airflow's 409 for the run the first one created: that run is ours."""
    runs = {}

    def trigger(request):
        run_id = request.json["dag_run_id"]
        if run_id in runs:
            return Response(json.dumps({"detail": f"DAG Run with run_id: `{run_id}` already "
                                                  "exists"}), status=409,
                            content_type="application/json")
        runs[run_id] = dag_run("demo", run_id)
        time.sleep(1.5)  # longer than the client's timeout: this answer never arrives
        return Response(json.dumps(runs[run_id]), content_type="application/json")

    httpserver.expect_request("/api/v2/dags/demo/dagRuns", method="POST").respond_with_handler(
        trigger)
    httpserver.expect_request("/api/v2/dags/demo/dagRuns/run-1",
                              method="GET").respond_with_handler(
        lambda request: Response(json.dumps(runs["run-1"]), content_type="application/json"))
    client = AirflowClient(httpserver.url_for("").rstrip("/"), environ={}, attempts=3,
                           backoff=0.01, timeout=1)
    assert client.trigger("demo", "run-1") == "run-1"
    assert list(runs) == ["run-1"]
    posts = [r for r, _ in httpserver.log if r.method == "POST"]
    assert len(posts) == 2  # the lost one and its replay


def test_a_409_for_another_reason_is_still_an_error(httpserver):
    httpserver.expect_request("/api/v2/dags/demo/dagRuns", method="POST").respond_with_json(
        {"detail": "A DAG run with this logical date exists"}, status=409)
    httpserver.expect_request("/api/v2/dags/demo/dagRuns/run-1").respond_with_json(
        {"detail": "not found"}, status=404)
    url = httpserver.url_for("").rstrip("/")
    with pytest.raises(AirflowApiError) as error:
        fast_client(url).trigger("demo", "run-1")
    assert str(error.value) == (f"Airflow at {url} answered HTTP 409 to triggering DAG "
                                "'demo': A DAG run with this logical date exists")


PAGE_LIMIT = 100  # Airflow's [api] maximum_page_limit default


def paged(items, key):
    """A listing endpoint as Airflow serves it: `limit` silently cut to the page cap."""
    def handler(request):
        limit = min(int(request.args.get("limit", 50)), PAGE_LIMIT)
        offset = int(request.args.get("offset", 0))
        return Response(json.dumps({key: items[offset:offset + limit],
                                    "total_entries": len(items)}),
                        content_type="application/json")
    return handler


def task_instance(dag_id, run_id, task_id, state):
    return {"dag_display_name": dag_id, "dag_id": dag_id, "dag_run_id": run_id,
            "executor_config": "{}", "id": str(uuid.uuid4()), "map_index": -1,
            "max_tries": 0, "pool": "default_pool", "pool_slots": 1,
            "task_display_name": task_id, "task_id": task_id, "try_number": 1,
            "state": state, "run_after": "2026-11-02T10:00:00Z"}


def test_progress_and_failed_tasks_cover_every_page(httpserver):
    names = [f"node_{i:03d}" for i in range(120)]
    instances = [task_instance("big", "r", name, "failed" if name == "node_115" else
                               "upstream_failed" if name == "node_119" else "success")
                 for name in names]
    httpserver.expect_request("/api/v2/dags/big/dagRuns/r").respond_with_json(
        dag_run("big", "r", "failed"))
    httpserver.expect_request("/api/v2/dags/big/dagRuns/r/taskInstances").respond_with_handler(
        paged(instances, "task_instances"))
    httpserver.expect_request(  # log_tail asks for the failed task: no log here
        "/api/v2/dags/big/dagRuns/r/taskInstances/node_115").respond_with_json(
        {"detail": "no log here"}, status=404)
    client = fast_client(httpserver.url_for("").rstrip("/"))
    progress = client.progress("big", "r")
    assert sorted(progress.tasks) == names
    assert progress.failed_tasks == ["node_115", "node_119"]
    out = io.StringIO()
    with pytest.raises(RunFailed) as error, RunDisplay(out) as display:
        drive(follow_run(client, "big", "r", timeout=5, interval=0.1), display.show)
    assert str(error.value) == "run r of DAG 'big' failed; failed tasks: node_115"
    # as the error: one task failed, the other never ran for it
    assert out.getvalue().splitlines()[0] == (
        "120/120 tasks done, 0 running, 1 failed, 1 upstream failed, run failed")


def test_generated_dags_and_import_errors_cover_every_page(httpserver):
    dags = [{**DAG, "dag_id": f"dag_{i:03d}", "dag_display_name": f"dag_{i:03d}"}
            for i in range(130)]
    httpserver.expect_request("/api/v2/dags").respond_with_handler(paged(dags, "dags"))
    for dag in dags:
        httpserver.expect_request(f"/api/v2/dags/{dag['dag_id']}/dagRuns").respond_with_json(
            {"dag_runs": [], "total_entries": 0})
    errors = [{"filename": f"team/other_{i}.py", "import_error_id": i, "stack_trace": "x",
               "timestamp": "2026-11-02T10:00:00Z"} for i in range(110)]
    errors.append({"filename": "team/demo.py", "import_error_id": 999,
                   "stack_trace": "Traceback...\nValueError: boom",
                   "timestamp": "2026-11-02T10:00:00Z"})
    httpserver.expect_request("/api/v2/importErrors").respond_with_handler(
        paged(errors, "import_errors"))
    client = fast_client(httpserver.url_for("").rstrip("/"))
    assert [d.dag_id for d in client.generated_dags()] == [d["dag_id"] for d in dags]
    problems = client.import_problems("demo.py")
    assert [p.filename for p in problems] == ["team/demo.py"]
    assert problems[0].stack_trace.endswith("ValueError: boom")


def test_a_commit_reads_as_twelve_characters_and_dirty_stays():
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert short_commit(sha) == "0123456789ab"
    assert short_commit(f"{sha}-dirty") == "0123456789ab-dirty"
    assert short_commit("build-42") == "build-42"  # KEDRO_CONFIG_COMMIT_ID, as it is
    assert short_commit(None) is None


# -- TLS with a company CA, and Google ID tokens -------------------------------------------


@pytest.fixture(scope="module")
def company_ca():
    import trustme

    return trustme.CA(organization_name="Example Corp internal CA")


@pytest.fixture
def https_airflow(company_ca, tmp_path):
    """pytest-httpserver over TLS, its certificate issued by a CA no system trusts."""
    import ssl

    from pytest_httpserver import HTTPServer

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    company_ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    server = HTTPServer(host="localhost", ssl_context=context)
    server.start()
    server.expect_request("/api/v2/dags/demo").respond_with_json(DAG)
    bundle = tmp_path / "company-ca.pem"
    company_ca.cert_pem.write_to_path(str(bundle))
    yield server, str(bundle)
    server.clear()
    server.stop()


def test_an_untrusted_certificate_is_one_line(https_airflow):
    server, _ = https_airflow
    url = server.url_for("").rstrip("/")
    with pytest.raises(AirflowApiError) as error:
        fast_client(url).dag("demo")
    assert str(error.value) == (
        f"cannot reach Airflow at {url} (reading DAG 'demo'): its TLS certificate is not "
        "trusted: set AIRFLOW__CLIENT__SSL_CA_CERT to the CA bundle that signed it")


@pytest.mark.parametrize("setting", ["AIRFLOW__CLIENT__SSL_CA_CERT", "REQUESTS_CA_BUNDLE",
                                     "SSL_CERT_FILE"])
def test_a_company_ca_bundle_is_trusted(https_airflow, setting):
    server, bundle = https_airflow
    assert fast_client(server.url_for("").rstrip("/"), **{setting: bundle}).dag(
        "demo").dag_id == "demo"


def test_the_ca_bundle_also_verifies_the_token_request(https_airflow):
    server, bundle = https_airflow
    server.expect_request("/auth/token", method="POST").respond_with_json(
        {"access_token": "jwt-1"})
    client = fast_client(server.url_for("").rstrip("/"), AIRFLOW__CLIENT__SSL_CA_CERT=bundle,
                         AIRFLOW_API_USERNAME="ada", AIRFLOW_API_PASSWORD="pw")
    client.dag("demo")
    assert server.log[-1][0].headers["Authorization"] == "Bearer jwt-1"


def test_a_missing_ca_bundle_names_the_setting(tmp_path):
    from kedro_airflow_k8s.errors import ConfigError

    missing = tmp_path / "nope.pem"
    with pytest.raises(ConfigError) as error:
        AirflowClient("https://a.example.com",
                      environ={"AIRFLOW__CLIENT__SSL_CA_CERT": str(missing)})
    assert str(error.value) == (f"AIRFLOW__CLIENT__SSL_CA_CERT: {missing} is not a file: "
                                "point it at a PEM bundle of CA certificates, or unset it")


AUDIENCE = "https://airflow.example.com"


@pytest.fixture
def service_account(httpserver, tmp_path, monkeypatch):
    """A service-account key made here, whose token_uri is the local server: google-auth
    signs a JWT with it and trades it there for an ID or access token, as at
    oauth2.googleapis.com."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    info = {"type": "service_account", "project_id": "demo", "private_key_id": "k1",
            "private_key": pem, "client_email": "deployer@demo.iam.gserviceaccount.com",
            "client_id": "1", "token_uri": httpserver.url_for("/token")}
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    return info


def id_token_endpoint(httpserver, info, lifetime):
    """The token endpoint: checks the signed request, answers an ID token for its audience."""
    from google.auth import crypt, jwt

    issued = []

    def handler(request):
        assertion = jwt.decode(request.form["assertion"], verify=False)
        assert assertion["iss"] == info["client_email"]
        now = int(time.time())
        token = jwt.encode(crypt.RSASigner.from_service_account_info(info), {
            "aud": assertion["target_audience"], "iss": "https://accounts.google.com",
            "iat": now, "exp": now + lifetime}).decode()
        issued.append(token)
        return Response(json.dumps({"id_token": token}), content_type="application/json")

    httpserver.expect_request("/token", method="POST").respond_with_handler(handler)
    return issued


def test_a_google_id_token_for_the_audience_is_the_bearer(httpserver, service_account):
    from google.auth import jwt

    issued = id_token_endpoint(httpserver, service_account, lifetime=3600)
    httpserver.expect_request("/api/v2/dags/demo").respond_with_json(DAG)
    client = fast_client(httpserver.url_for("").rstrip("/"),
                         AIRFLOW_API_GOOGLE_AUDIENCE=AUDIENCE)
    client.dag("demo")
    client.dag("demo")
    assert len(issued) == 1  # valid for an hour: fetched once
    assert jwt.decode(issued[0], verify=False)["aud"] == AUDIENCE
    calls = [r for r, _ in httpserver.log if r.path == "/api/v2/dags/demo"]
    assert [r.headers["Authorization"] for r in calls] == [f"Bearer {issued[0]}"] * 2


def test_an_expiring_google_id_token_is_fetched_again(httpserver, service_account):
    issued = id_token_endpoint(httpserver, service_account, lifetime=60)  # within the skew
    httpserver.expect_request("/api/v2/dags/demo").respond_with_json(DAG)
    client = fast_client(httpserver.url_for("").rstrip("/"),
                         AIRFLOW_API_GOOGLE_AUDIENCE=AUDIENCE)
    client.dag("demo")
    client.dag("demo")
    assert len(issued) >= 3  # the first, then one per call
    calls = [r for r, _ in httpserver.log if r.path == "/api/v2/dags/demo"]
    assert calls[-1].headers["Authorization"] == f"Bearer {issued[-1]}"


def test_a_failing_google_token_endpoint_is_one_line(httpserver, service_account):
    httpserver.expect_request("/token", method="POST").respond_with_json(
        {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, status=400)
    with pytest.raises(AirflowApiError) as error:
        fast_client(httpserver.url_for("").rstrip("/"), AIRFLOW_API_GOOGLE_AUDIENCE=AUDIENCE)
    message = str(error.value)
    assert message.startswith(f"cannot get a Google ID token for AIRFLOW_API_GOOGLE_AUDIENCE "
                              f"{AUDIENCE}: ")
    assert "invalid_grant" in message and "\n" not in message


# -- Google OAuth2 access tokens (Cloud Composer) -------------------------------------------

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


def access_token_endpoint(httpserver, info, lifetime):
    """The token endpoint: checks the signed request, answers an access token for its scope."""
    from google.auth import jwt

    issued, scopes = [], []

    def handler(request):
        assertion = jwt.decode(request.form["assertion"], verify=False)
        assert assertion["iss"] == info["client_email"]
        scopes.append(assertion["scope"])
        issued.append(f"ya29.{uuid.uuid4().hex}")
        return Response(json.dumps({"access_token": issued[-1], "expires_in": lifetime,
                                    "token_type": "Bearer"}), content_type="application/json")

    httpserver.expect_request("/token", method="POST").respond_with_handler(handler)
    return issued, scopes


EMAIL_SCOPE = "https://www.googleapis.com/auth/userinfo.email"


@pytest.mark.parametrize("setting, scope", [
    ("1", CLOUD_PLATFORM), ("true", CLOUD_PLATFORM), (EMAIL_SCOPE, EMAIL_SCOPE)])
def test_a_google_access_token_is_the_bearer(httpserver, service_account, setting, scope):
    issued, scopes = access_token_endpoint(httpserver, service_account, lifetime=3600)
    httpserver.expect_request("/api/v2/dags/demo").respond_with_json(DAG)
    client = fast_client(httpserver.url_for("").rstrip("/"),
                         AIRFLOW_API_GOOGLE_ACCESS_TOKEN=setting)
    client.dag("demo")
    client.dag("demo")
    assert len(issued) == 1 and scopes == [scope]  # valid for an hour: fetched once
    calls = [r for r, _ in httpserver.log if r.path == "/api/v2/dags/demo"]
    assert [r.headers["Authorization"] for r in calls] == [f"Bearer {issued[0]}"] * 2


def test_an_expiring_google_access_token_is_fetched_again(httpserver, service_account):
    issued, _ = access_token_endpoint(httpserver, service_account, lifetime=60)  # in the skew
    httpserver.expect_request("/api/v2/dags/demo").respond_with_json(DAG)
    client = fast_client(httpserver.url_for("").rstrip("/"),
                         AIRFLOW_API_GOOGLE_ACCESS_TOKEN="1")
    client.dag("demo")
    client.dag("demo")
    assert len(issued) >= 3 and len(set(issued)) == len(issued)  # the first, then one per call
    calls = [r for r, _ in httpserver.log if r.path == "/api/v2/dags/demo"]
    assert calls[-1].headers["Authorization"] == f"Bearer {issued[-1]}"


def test_a_403_with_a_google_access_token_names_the_variable(httpserver, service_account):
    access_token_endpoint(httpserver, service_account, lifetime=3600)
    httpserver.expect_request("/api/v2/dags/demo").respond_with_json(
        {"detail": "Forbidden"}, status=403)
    client = fast_client(httpserver.url_for("").rstrip("/"),
                         AIRFLOW_API_GOOGLE_ACCESS_TOKEN="1")
    with pytest.raises(AirflowApiError) as error:
        client.dag("demo")
    assert "check AIRFLOW_API_GOOGLE_ACCESS_TOKEN (and the Google identity" in str(error.value)


def test_missing_google_credentials_are_one_line_naming_the_variable(
        httpserver, tmp_path, monkeypatch):
    from google.auth.compute_engine import _metadata

    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud application-default login
    # not on Google Cloud: skip the metadata-server probe (up to 3 x 3 s of timeouts here)
    monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", True)
    with pytest.raises(AirflowApiError) as error:
        fast_client(httpserver.url_for("").rstrip("/"), AIRFLOW_API_GOOGLE_ACCESS_TOKEN="1")
    message = str(error.value)
    assert message.startswith("AIRFLOW_API_GOOGLE_ACCESS_TOKEN: no Google credentials found: "
                              "set GOOGLE_APPLICATION_CREDENTIALS")
    assert "\n" not in message
    assert not [r for r, _ in httpserver.log]  # nothing sent to Airflow


def test_a_missing_key_file_names_both_variables(httpserver, tmp_path, monkeypatch):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "nope.json"))
    with pytest.raises(AirflowApiError) as error:
        fast_client(httpserver.url_for("").rstrip("/"), AIRFLOW_API_GOOGLE_ACCESS_TOKEN="1")
    message = str(error.value)
    assert message.startswith("AIRFLOW_API_GOOGLE_ACCESS_TOKEN: GOOGLE_APPLICATION_CREDENTIALS: ")
    assert "nope.json" in message and "\n" not in message


def test_a_failing_token_endpoint_for_an_access_token_is_one_line(httpserver, service_account):
    httpserver.expect_request("/token", method="POST").respond_with_json(
        {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, status=400)
    with pytest.raises(AirflowApiError) as error:
        fast_client(httpserver.url_for("").rstrip("/"), AIRFLOW_API_GOOGLE_ACCESS_TOKEN="1")
    message = str(error.value)
    assert message.startswith("cannot get a Google access token for "
                              "AIRFLOW_API_GOOGLE_ACCESS_TOKEN: ")
    assert "invalid_grant" in message and "\n" not in message


def test_a_bad_access_token_setting_is_one_line(httpserver):
    with pytest.raises(ConfigError) as error:
        fast_client(httpserver.url_for("").rstrip("/"), AIRFLOW_API_GOOGLE_ACCESS_TOKEN="cloud")
    assert str(error.value) == (
        "AIRFLOW_API_GOOGLE_ACCESS_TOKEN: expected 1 (the cloud-platform scope) or a scope URL "
        "https://www.googleapis.com/auth/..., got 'cloud'")


def test_id_token_and_access_token_cannot_both_be_set(httpserver, service_account):
    with pytest.raises(ConfigError) as error:
        fast_client(httpserver.url_for("").rstrip("/"), AIRFLOW_API_GOOGLE_AUDIENCE=AUDIENCE,
                    AIRFLOW_API_GOOGLE_ACCESS_TOKEN="1")
    assert str(error.value) == (
        "AIRFLOW_API_GOOGLE_AUDIENCE and AIRFLOW_API_GOOGLE_ACCESS_TOKEN are both set: unset "
        "AIRFLOW_API_GOOGLE_AUDIENCE for Cloud Composer, AIRFLOW_API_GOOGLE_ACCESS_TOKEN for "
        "Airflow behind IAP")
    assert not [r for r, _ in httpserver.log]  # no token fetched, nothing sent


def test_the_api_token_wins_over_a_google_access_token(httpserver, service_account):
    issued, _ = access_token_endpoint(httpserver, service_account, lifetime=3600)
    httpserver.expect_request("/api/v2/dags/demo").respond_with_json(DAG)
    fast_client(httpserver.url_for("").rstrip("/"), AIRFLOW_API_TOKEN="jwt",
                AIRFLOW_API_GOOGLE_ACCESS_TOKEN="1").dag("demo")
    assert not issued
    calls = [r for r, _ in httpserver.log if r.path == "/api/v2/dags/demo"]
    assert [r.headers["Authorization"] for r in calls] == ["Bearer jwt"]
