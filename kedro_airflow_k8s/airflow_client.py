"""Airflow 3 REST API v2, through the apache-airflow-client package.

Auth, in this order: AIRFLOW_API_TOKEN (a bearer token); AIRFLOW_API_GOOGLE_AUDIENCE (a
Google ID token for that audience) or AIRFLOW_API_GOOGLE_ACCESS_TOKEN (a Google OAuth2 access
token, Cloud Composer), not both; AIRFLOW_API_USERNAME and AIRFLOW_API_PASSWORD exchanged
for a JWT at <host>/auth/token; else none. TLS: see airflow_auth.ca_bundle. Credentials never
appear in messages. Connection failures, timeouts and 5xx answers are retried with backoff.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from kedro_airflow_k8s.airflow_auth import (
    GOOGLE_ACCESS_TOKEN,
    GOOGLE_AUDIENCE,
    GoogleAccessToken,
    GoogleIdToken,
    ca_bundle,
    google_access_scope,
)
from kedro_airflow_k8s.errors import AirflowApiError, ConfigError, DagNotFound

PLUGIN_TAG = "generated_with_kedro_airflow_k8s"
EXPERIMENT_TAG = "experiment_name"
COMMIT_TAG = "commit_sha"
VERSION_TAG = "project_version"
FINISHED_RUN_STATES = {"success", "failed"}
FAILED_TASK_STATES = {"failed", "upstream_failed"}
# Airflow's ReprocessBehavior: which dates that have a run a backfill runs again
REPROCESS = ("none", "failed", "completed")


@dataclass(frozen=True)
class DagSummary:
    dag_id: str
    experiment: str | None
    paused: bool
    last_run_state: str | None
    project_version: str | None = None  # the DAG's project_version: tag
    commit: str | None = None  # its commit_sha: tag


def short_commit(commit: str | None) -> str | None:
    """A git commit as people read it, 12 hex characters ("-dirty" kept); another
    KEDRO_CONFIG_COMMIT_ID as it is."""
    if commit is None:
        return None
    sha, dirty, rest = commit.partition("-dirty")
    if len(sha) == 40 and not rest and all(c in "0123456789abcdef" for c in sha):
        return sha[:12] + dirty
    return commit


@dataclass(frozen=True)
class ImportProblem:
    """An import error Airflow recorded for a DAG file."""

    filename: str
    timestamp: Any
    stack_trace: str


class _HasTasks(Protocol):
    @property
    def tasks(self) -> dict[str, str | None]: ...  # task id -> state


class _TaskStates:
    """What a run's progress and a backfill's say of their tasks, from their `tasks`."""

    def count(self: _HasTasks, *states: str | None) -> int:
        return sum(1 for state in self.tasks.values() if state in states)

    def tasks_in(self: _HasTasks, *states: str | None) -> list[str]:
        """The tasks in one of `states`, sorted."""
        return sorted(t for t, s in self.tasks.items() if s in states)

    @property
    def failed_tasks(self: _HasTasks) -> list[str]:
        return _TaskStates.tasks_in(self, *FAILED_TASK_STATES)


@dataclass(frozen=True)
class RunProgress(_TaskStates):
    state: str
    tasks: dict[str, str | None]  # task id -> state


@dataclass(frozen=True)
class BackfillProgress(_TaskStates):
    """Where the runs of a backfill stand: run id -> its progress."""

    runs: dict[str, RunProgress]

    @property
    def finished(self) -> list[str]:
        return sorted(r for r, p in self.runs.items() if p.state in FINISHED_RUN_STATES)

    @property
    def state(self) -> str:
        if len(self.finished) < len(self.runs):
            return "running"
        return "success" if all(p.state == "success" for p in self.runs.values()) else "failed"

    @property
    def tasks(self) -> dict[str, str | None]:  # "run id/task id" -> state
        return {f"{run}/{task}": state for run, progress in self.runs.items()
                for task, state in progress.tasks.items()}


def _progress_line(line: str) -> None:
    """Where the commands' lines go (stdout), so stderr keeps the one line of an error."""
    print(line, flush=True)


class _QuietRetries(logging.Filter):
    """Drops urllib3's warning per retry of this client's requests (several wrapped log
    lines each): the client says once that it retries (_retry_policy's `on_retry`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (args and getattr(args[0], "quiet_retries", False))


_QUIET_RETRIES = _QuietRetries()


def _retry_policy(attempts: int, backoff: float,
                  on_retry: Callable[[Any, Any], None] = lambda error, response: None) -> Any:
    """urllib3's Retry, which calls `on_retry(error, response)` before each retry and logs
    nothing of it."""
    from types import TracebackType

    from urllib3.connectionpool import ConnectionPool
    from urllib3.response import BaseHTTPResponse
    from urllib3.util.retry import Retry

    class QuietRetry(Retry):
        quiet_retries = True

        def increment(self, method: str | None = None, url: str | None = None,
                      response: BaseHTTPResponse | None = None, error: Exception | None = None,
                      _pool: ConnectionPool | None = None,
                      _stacktrace: TracebackType | None = None) -> QuietRetry:
            # raises once the retries are spent
            after = super().increment(method, url, response, error, _pool, _stacktrace)
            on_retry(error, response)
            return after

    log = logging.getLogger("urllib3.connectionpool")
    if _QUIET_RETRIES not in log.filters:
        log.addFilter(_QUIET_RETRIES)
    return QuietRetry(
        total=attempts, connect=attempts, read=attempts, status=attempts,
        backoff_factor=backoff, status_forcelist=(500, 502, 503, 504),
        allowed_methods=None,  # POSTs too: trigger carries its own run id, so a replay is a 409
        # that trigger() recognises as the same run
        raise_on_status=False,
    )


class AirflowClient:
    """The few calls this plugin makes, with errors turned into one-line AirflowApiErrors."""

    def __init__(self, host: str, *, environ: Mapping[str, str] | None = None,
                 attempts: int = 4, backoff: float = 0.5, timeout: float = 30.0,
                 page_size: int = 100, notify: Callable[[str], None] = _progress_line) -> None:
        from airflow_client.client import ApiClient, Configuration

        from kedro_airflow_k8s.config import airflow_url_problem

        if problem := airflow_url_problem(host or ""):
            raise ConfigError(f"host: {problem}")
        self.host = host.rstrip("/")
        self._environ = os.environ if environ is None else environ
        self._timeout = timeout
        self._page_size = page_size  # Airflow cuts a larger page to [api] maximum_page_limit
        verify = self._environ.get("AIRFLOW__CLIENT__SSL_VERIFY", "true").lower() not in (
            "false", "0", "no")
        self._ca_bundle = ca_bundle(self._environ) if verify else None
        self._notify, self._attempts, self._retrying = notify, attempts, False
        configuration = Configuration(host=self.host, verify_ssl=verify,
                                      ssl_ca_cert=self._ca_bundle,
                                      retries=_retry_policy(attempts, backoff, self._retry))
        self._retries = configuration.retries
        self._verify = verify
        self._google: GoogleIdToken | GoogleAccessToken | None = None
        configuration.access_token = self._token()
        self.api = ApiClient(configuration)

    def _retry(self, error: Any, response: Any) -> None:
        """One line the first time a request of this client is retried."""
        if self._retrying:
            return
        self._retrying = True
        why = f"does not answer ({_reason(error)})" if error is not None else \
            f"answered HTTP {getattr(response, 'status', '?')}"
        self._notify(f"Airflow at {self.host} {why}; retrying up to {self._attempts} times.")

    # -- auth -----------------------------------------------------------------------------------

    def _credential(self) -> str:
        """The environment variables holding the credential in use, for messages."""
        if self._environ.get("AIRFLOW_API_TOKEN"):
            return "AIRFLOW_API_TOKEN"
        if self._google is not None:
            return f"{self._google.variable} (and the Google identity it is fetched as)"
        return "AIRFLOW_API_USERNAME"

    def _token(self) -> str | None:
        if self._environ.get("AIRFLOW_API_TOKEN"):
            return self._environ["AIRFLOW_API_TOKEN"]
        self._google = self._google_token()
        if self._google is not None:
            return self._google.token()
        user = self._environ.get("AIRFLOW_API_USERNAME")
        password = self._environ.get("AIRFLOW_API_PASSWORD")
        if not (user and password):
            return None
        return self._password_token(user, password)

    def _google_token(self) -> GoogleIdToken | GoogleAccessToken | None:
        """The Google token the environment asks for, if any (not both kinds)."""
        scope = google_access_scope(self._environ)
        if scope and self._environ.get(GOOGLE_AUDIENCE):
            raise ConfigError(f"{GOOGLE_AUDIENCE} and {GOOGLE_ACCESS_TOKEN} are both set: "
                              f"unset {GOOGLE_AUDIENCE} for Cloud Composer, "
                              f"{GOOGLE_ACCESS_TOKEN} for Airflow behind IAP")
        if self._environ.get(GOOGLE_AUDIENCE):
            return GoogleIdToken(self._environ[GOOGLE_AUDIENCE])
        return GoogleAccessToken(scope) if scope else None

    def _password_token(self, user: str, password: str) -> str:
        """A JWT for AIRFLOW_API_USERNAME / AIRFLOW_API_PASSWORD from <host>/auth/token."""
        import urllib3

        pool = urllib3.PoolManager(cert_reqs="CERT_REQUIRED" if self._verify else "CERT_NONE",
                                   ca_certs=self._ca_bundle, retries=self._retries)
        url = f"{self.host}/auth/token"
        try:
            response = pool.request("POST", url, body=json.dumps(
                {"username": user, "password": password}),
                headers={"Content-Type": "application/json"}, timeout=self._timeout)
        except urllib3.exceptions.HTTPError as exc:
            raise AirflowApiError(f"cannot reach Airflow at {self.host}: "
                                  f"{_reason(exc)}") from None
        if response.status in (401, 403):
            raise AirflowApiError(f"Airflow at {self.host} refused AIRFLOW_API_USERNAME / "
                                  "AIRFLOW_API_PASSWORD (HTTP "
                                  f"{response.status}): check them")
        if response.status >= 400:
            raise AirflowApiError(f"Airflow at {self.host} answered HTTP {response.status} to "
                                  "the token request")
        try:
            token: str = json.loads(response.data)["access_token"]
            return token
        except (ValueError, KeyError):
            raise AirflowApiError(f"Airflow at {self.host} gave no access_token at "
                                  "/auth/token") from None

    # -- error handling -------------------------------------------------------------------------

    @contextmanager
    def _call(self, what: str, dag_id: str | None = None) -> Iterator[None]:
        import urllib3
        from airflow_client.client.exceptions import ApiException

        if self._google is not None:  # a Google token lasts an hour; a run may take longer
            self.api.configuration.access_token = self._google.token()
        try:
            yield
            self._retrying = False  # answered: a later outage gets its own line
        except ApiException as exc:
            error = DagNotFound if exc.status == 404 and dag_id else AirflowApiError
            raise error(self._describe(exc, what, dag_id)) from None
        except urllib3.exceptions.HTTPError as exc:
            raise AirflowApiError(f"cannot reach Airflow at {self.host} ({what}): "
                                  f"{_reason(exc)}") from None

    def _describe(self, exc: Any, what: str, dag_id: str | None) -> str:
        status = exc.status
        credential = self._credential()
        if status == 401:
            which = {"AIRFLOW_API_TOKEN": "set AIRFLOW_API_TOKEN",
                     "AIRFLOW_API_USERNAME": "set AIRFLOW_API_TOKEN, or AIRFLOW_API_USERNAME "
                                             "and AIRFLOW_API_PASSWORD"}.get(
                credential, f"check {credential}")
            return f"Airflow at {self.host} needs valid credentials (HTTP 401): {which}"
        detail = _detail(exc.body)
        if status == 403:
            which = (f"the permissions of {credential}" if credential ==
                     "AIRFLOW_API_USERNAME" else f"{credential} (or its user's permissions)")
            return (f"Airflow at {self.host} denied {what} (HTTP 403"
                    f"{': ' + detail if detail else ''}): check {which}")
        if status == 404 and dag_id:
            return f"DAG '{dag_id}' is not (yet) known to Airflow at {self.host}"
        return f"Airflow at {self.host} answered HTTP {status} to {what}" + (
            f": {detail}" if detail else "")

    # -- calls ----------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        from airflow_client.client.api.monitor_api import MonitorApi

        with self._call("the health check"):
            return MonitorApi(self.api).get_health(_request_timeout=self._timeout).to_dict()

    def dag(self, dag_id: str) -> Any:
        from airflow_client.client.api.dag_api import DAGApi

        with self._call(f"reading DAG '{dag_id}'", dag_id):
            return DAGApi(self.api).get_dag(dag_id, _request_timeout=self._timeout)

    def dag_source(self, dag_id: str) -> str | None:
        from airflow_client.client.api.dag_source_api import DagSourceApi

        with self._call(f"reading the source of DAG '{dag_id}'", dag_id):
            return DagSourceApi(self.api).get_dag_source(
                dag_id, accept="application/json", _request_timeout=self._timeout).content

    def request_reparse(self, file_token: str) -> None:
        from airflow_client.client.api.dag_parsing_api import DAGParsingApi

        with self._call("asking for a reparse"):
            DAGParsingApi(self.api).reparse_dag_file(file_token, _request_timeout=self._timeout)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        from airflow_client.client.api.dag_api import DAGApi
        from airflow_client.client.models.dag_patch_body import DAGPatchBody

        with self._call(f"{'pausing' if paused else 'unpausing'} DAG '{dag_id}'", dag_id):
            DAGApi(self.api).patch_dag(dag_id, DAGPatchBody(is_paused=paused),
                                       update_mask=["is_paused"],
                                       _request_timeout=self._timeout)

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any] | None = None) -> str:
        """Start run `run_id` (with `conf`, which Airflow checks against the DAG's Params); a
        replayed POST whose first answer was lost is the same run."""
        from airflow_client.client.api.dag_run_api import DagRunApi
        from airflow_client.client.exceptions import ApiException
        from airflow_client.client.models.trigger_dag_run_post_body import (
            TriggerDAGRunPostBody,
        )

        # a logical date, as a scheduled run has: macro params such as ds need one
        now = datetime.datetime.now(datetime.timezone.utc)
        body = TriggerDAGRunPostBody(dag_run_id=run_id, logical_date=now, conf=conf)
        what = f"triggering DAG '{dag_id}'" + (" with --params" if conf else "")
        with self._call(what, dag_id):
            try:
                return DagRunApi(self.api).trigger_dag_run(
                    dag_id, body, _request_timeout=self._timeout).dag_run_id
            except ApiException as exc:
                # run ids are unique per call: a 409 for ours is our own earlier POST
                if exc.status != 409 or not self._has_run(dag_id, run_id):
                    raise
                return run_id

    def _has_run(self, dag_id: str, run_id: str) -> bool:
        from airflow_client.client.api.dag_run_api import DagRunApi
        from airflow_client.client.exceptions import ApiException

        try:
            DagRunApi(self.api).get_dag_run(dag_id, run_id, _request_timeout=self._timeout)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def progress(self, dag_id: str, run_id: str) -> RunProgress:
        from airflow_client.client.api.dag_run_api import DagRunApi
        from airflow_client.client.api.task_instance_api import TaskInstanceApi

        with self._call(f"reading run '{run_id}' of DAG '{dag_id}'", dag_id):
            run = DagRunApi(self.api).get_dag_run(dag_id, run_id,
                                                  _request_timeout=self._timeout)
            instances = self._all_pages(
                lambda limit, offset: TaskInstanceApi(self.api).get_task_instances(
                    dag_id, run_id, limit=limit, offset=offset,
                    _request_timeout=self._timeout), "task_instances")
        return RunProgress(
            state=str(_value(run.state)),  # Airflow gives every run a state
            tasks={ti.task_id: _value(ti.state) for ti in instances},
        )

    def _backfill_body(self, dag_id: str, start: datetime.datetime, end: datetime.datetime,
                       reprocess: str, max_active_runs: int | None, run_backwards: bool,
                       conf: dict[str, Any] | None) -> Any:
        from airflow_client.client.models.backfill_post_body import BackfillPostBody
        from airflow_client.client.models.reprocess_behavior import ReprocessBehavior

        extra: dict[str, Any] = {} if max_active_runs is None else {
            "max_active_runs": max_active_runs}
        if conf:
            extra["dag_run_conf"] = conf
        return BackfillPostBody(dag_id=dag_id, from_date=start, to_date=end,
                                reprocess_behavior=ReprocessBehavior(reprocess),
                                run_backwards=run_backwards, **extra)

    def backfill_dry_run(self, dag_id: str, start: datetime.datetime, end: datetime.datetime,
                         reprocess: str = "none", *, run_backwards: bool = False,
                         conf: dict[str, Any] | None = None) -> list[datetime.datetime]:
        """The logical dates a backfill would run, without starting it (Airflow checks
        `run_backwards` and `conf` as it would for the backfill)."""
        from airflow_client.client.api.backfill_api import BackfillApi

        body = self._backfill_body(dag_id, start, end, reprocess, None, run_backwards, conf)
        with self._call(f"a dry run of a backfill of DAG '{dag_id}'", dag_id):
            found = BackfillApi(self.api).create_backfill_dry_run(
                body, _request_timeout=self._timeout).backfills
        return [b.logical_date for b in found if b.logical_date is not None]

    def create_backfill(self, dag_id: str, start: datetime.datetime, end: datetime.datetime,
                        reprocess: str = "none", max_active_runs: int | None = None, *,
                        run_backwards: bool = False, conf: dict[str, Any] | None = None) -> int:
        """Start a backfill (Airflow creates all its runs, queued, before answering; newest
        date first with `run_backwards`; each run's conf `conf`); its id."""
        from airflow_client.client.api.backfill_api import BackfillApi

        body = self._backfill_body(dag_id, start, end, reprocess, max_active_runs,
                                   run_backwards, conf)
        with self._call(f"starting a backfill of DAG '{dag_id}'", dag_id):
            return BackfillApi(self.api).create_backfill(
                body, _request_timeout=self._timeout).id

    def cancel_backfill(self, backfill_id: int) -> bool:
        """Cancel a backfill: Airflow pauses it, fails its queued runs and marks it completed;
        its running runs go on to their end. False when it had completed already."""
        from airflow_client.client.api.backfill_api import BackfillApi
        from airflow_client.client.exceptions import ApiException

        with self._call(f"cancelling backfill {backfill_id}"):
            try:
                BackfillApi(self.api).cancel_backfill(backfill_id,
                                                      _request_timeout=self._timeout)
            except ApiException as exc:
                if exc.status != 409:  # 409: "Backfill is already completed."
                    raise
                return False
        return True

    def backfill_runs(self, dag_id: str, logical_dates: list[datetime.datetime]) -> list[str]:
        """The ids of the backfill runs of `dag_id` at these logical dates, in date order (a
        DAG run does not name its backfill: a backfill's runs are those it was asked for)."""
        from airflow_client.client.api.dag_run_api import DagRunApi

        if not logical_dates:
            return []
        wanted = set(logical_dates)
        with self._call(f"listing the backfill runs of DAG '{dag_id}'", dag_id):
            runs = self._all_pages(
                lambda limit, offset: DagRunApi(self.api).get_dag_runs(
                    dag_id, limit=limit, offset=offset, run_type=["backfill"],
                    logical_date_gte=min(wanted), logical_date_lte=max(wanted),
                    order_by=["logical_date"], _request_timeout=self._timeout), "dag_runs")
        return [r.dag_run_id for r in runs if r.logical_date in wanted]

    def import_problems(self, filename: str) -> list[ImportProblem]:
        """The import errors Airflow holds for files named `filename`, in any folder."""
        from airflow_client.client.api.import_error_api import ImportErrorApi

        with self._call("reading the import errors"):
            found = self._all_pages(
                lambda limit, offset: ImportErrorApi(self.api).get_import_errors(
                    limit=limit, offset=offset, filename_pattern=filename,
                    _request_timeout=self._timeout), "import_errors")
        return [ImportProblem(e.filename, e.timestamp, e.stack_trace) for e in found
                if e.filename == filename or e.filename.endswith(f"/{filename}")]

    def task_pools(self, dag_id: str) -> dict[str, tuple[str | None, int | None]]:
        """Task id -> (pool, pool_slots) of a DAG as Airflow serves it."""
        from airflow_client.client.api.task_api import TaskApi

        with self._call(f"reading the tasks of DAG '{dag_id}'", dag_id):
            tasks = TaskApi(self.api).get_tasks(dag_id, _request_timeout=self._timeout).tasks
        return {str(t.task_id): (t.pool, int(t.pool_slots) if t.pool_slots else None)
                for t in tasks}

    def pools(self) -> dict[str, float] | None:
        """Pool name -> its slots (inf for an unlimited pool, slots -1); None when the
        credential may not read pools (HTTP 403: no Pools read permission)."""
        from airflow_client.client.api.pool_api import PoolApi
        from airflow_client.client.exceptions import ApiException

        with self._call("reading the pools"):
            try:
                found = self._all_pages(
                    lambda limit, offset: PoolApi(self.api).get_pools(
                        limit=limit, offset=offset, _request_timeout=self._timeout), "pools")
            except ApiException as exc:
                if exc.status == 403:
                    return None
                raise
        return {p.name: float("inf") if p.slots == -1 else float(p.slots) for p in found}

    def variable_exists(self, key: str) -> bool | None:
        """Whether Airflow has the Variable `key` (its value is neither kept nor shown); None
        when the credential may not read Variables (HTTP 403: no Variables read permission)."""
        from airflow_client.client.api.variable_api import VariableApi
        from airflow_client.client.exceptions import ApiException

        with self._call(f"reading Variable '{key}'"):
            try:
                VariableApi(self.api).get_variable(key, _request_timeout=self._timeout)
            except ApiException as exc:
                if exc.status in (403, 404):
                    return None if exc.status == 403 else False
                raise
        return True

    def _all_pages(self, fetch: Callable[[int, int], Any], items: str) -> list[Any]:
        """Every item of a listing, page by page (`fetch(limit, offset)` reads one)."""
        found: list[Any] = []
        while True:
            page = fetch(self._page_size, len(found))
            batch = getattr(page, items)
            found += batch
            if not batch or (page.total_entries is not None and len(found) >= page.total_entries):
                return found

    def log_tail(self, dag_id: str, run_id: str, task_id: str, lines: int = 20) -> list[str]:
        """The last lines of a task's latest try, or [] when the API has none."""
        from airflow_client.client.api.task_instance_api import TaskInstanceApi

        api = TaskInstanceApi(self.api)
        try:
            with self._call("reading a task log", dag_id):
                ti = api.get_task_instance(dag_id, run_id, task_id,
                                           _request_timeout=self._timeout)
                # raw JSON: the client's model keeps only `event` and `timestamp` of a log
                # event, and drops its level and the exception's detail
                response = api.get_log_without_preload_content(
                    dag_id, run_id, task_id, max(ti.try_number, 1), full_content=True,
                    accept="application/json", _request_timeout=self._timeout)
                if response.status >= 400:
                    return []
                content = json.loads(response.data).get("content")
        except (AirflowApiError, ValueError, AttributeError):
            return []
        return _log_lines(content)[-lines:]

    def generated_dags(self) -> list[DagSummary]:
        """Every DAG carrying this plugin's tag, with its version, commit and last run's
        state."""
        from airflow_client.client.api.dag_api import DAGApi
        from airflow_client.client.api.dag_run_api import DagRunApi

        with self._call("listing DAGs"):
            dags = self._all_pages(
                lambda limit, offset: DAGApi(self.api).get_dags(
                    limit=limit, offset=offset, _request_timeout=self._timeout), "dags")
            found = [d for d in dags if _tag(d, PLUGIN_TAG) is not None]
            summaries = []
            for dag in sorted(found, key=lambda d: d.dag_id):
                runs = DagRunApi(self.api).get_dag_runs(
                    dag.dag_id, limit=1, order_by=["-run_after"],
                    _request_timeout=self._timeout).dag_runs
                summaries.append(DagSummary(
                    dag_id=dag.dag_id, experiment=_tag(dag, EXPERIMENT_TAG),
                    paused=bool(dag.is_paused),
                    last_run_state=_value(runs[0].state) if runs else None,
                    project_version=_tag(dag, VERSION_TAG), commit=_tag(dag, COMMIT_TAG),
                ))
        return summaries

    def ui_url(self, dag_id: str | None = None, run_id: str | None = None) -> str:
        return ui_url(self.host, dag_id, run_id)


def ui_url(host: str, dag_id: str | None = None, run_id: str | None = None) -> str:
    """A page of Airflow 3's UI: the home page, a DAG's page, or one of its runs."""
    host = host.rstrip("/")
    if dag_id is None:
        return f"{host}/"
    url = f"{host}/dags/{quote(dag_id, safe='')}"
    return f"{url}/runs/{quote(run_id, safe='')}" if run_id else url


def _tag(dag: Any, name: str) -> str | None:
    for tag in dag.tags or []:
        key, _, value = str(tag.name).partition(":")
        if key == name:
            return value
    return None


def _value(state: Any) -> str | None:
    return None if state is None else getattr(state, "value", str(state))


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host name"
    if "timed out" in text.lower():
        return "timed out"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return ("its TLS certificate is not trusted: set AIRFLOW__CLIENT__SSL_CA_CERT to the CA "
                "bundle that signed it")
    return text.splitlines()[0][:200]


def _detail(body: Any) -> str:
    try:
        detail = json.loads(body).get("detail")
    except (TypeError, ValueError, AttributeError):
        return ""
    if isinstance(detail, str):
        return detail.splitlines()[0][:200]
    return json.dumps(detail)[:200] if detail else ""


def _log_lines(content: Any) -> list[str]:
    """Airflow 3 returns a log as structured events (or plain text from older backends)."""
    content = getattr(content, "actual_instance", content)
    if isinstance(content, str):
        return content.splitlines()
    lines = [line for item in content or [] for line in _event_lines(item)]
    return [line for line in lines if line.strip()]


def _event_lines(item: Any) -> list[str]:
    """One event of a structured log: its level and text, then its exceptions' type and
    message (in its detail, not in the text); none for the UI's group markers."""
    if hasattr(item, "to_dict"):
        item = item.to_dict()
    if not isinstance(item, dict):
        return str(item).splitlines()
    text = str(item.get("event") or "")
    if text.startswith("::"):
        return []
    level = item.get("level")
    return [f"{str(level).upper()}: {text}" if level else text] + [
        f"  {error['exc_type']}: {error.get('exc_value', '')}"
        for error in item.get("error_detail") or []
        if isinstance(error, dict) and error.get("exc_type")]
