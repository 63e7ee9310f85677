"""Whom the Airflow client trusts (a CA bundle) and Google tokens as its credential.

CA bundle, first set of: AIRFLOW__CLIENT__SSL_CA_CERT, REQUESTS_CA_BUNDLE, SSL_CERT_FILE
(a PEM file of CA certificates, e.g. a company's TLS-inspecting proxy CA plus public CAs).

Google ID token, with AIRFLOW_API_GOOGLE_AUDIENCE: google-auth's fetch_id_token order
(GOOGLE_APPLICATION_CREDENTIALS naming a service-account file, else the metadata server of
GCE / GKE / Cloud Run), for Airflow behind IAP or an istio / Envoy JWT check.

Google OAuth2 access token, with AIRFLOW_API_GOOGLE_ACCESS_TOKEN (1 / true for the
cloud-platform scope, or the scope URL): google-auth's application default credentials
(GOOGLE_APPLICATION_CREDENTIALS, gcloud's application-default login, the metadata server), for
Cloud Composer's Airflow web server, which takes access tokens and not ID tokens.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kedro_airflow_k8s.errors import AirflowApiError, ConfigError

CA_SETTINGS = ("AIRFLOW__CLIENT__SSL_CA_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
GOOGLE_AUDIENCE = "AIRFLOW_API_GOOGLE_AUDIENCE"
GOOGLE_ACCESS_TOKEN = "AIRFLOW_API_GOOGLE_ACCESS_TOKEN"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


def ca_bundle(environ: Mapping[str, str]) -> str | None:
    """The CA bundle to verify Airflow's certificate with; None: the system's."""
    for name in CA_SETTINGS:
        path = environ.get(name)
        if path:
            if not Path(path).is_file():
                raise ConfigError(f"{name}: {path} is not a file: point it at a PEM bundle "
                                  "of CA certificates, or unset it")
            return path
    return None


def google_access_scope(environ: Mapping[str, str]) -> str | None:
    """The scope AIRFLOW_API_GOOGLE_ACCESS_TOKEN asks for; None: unset or off."""
    value = environ.get(GOOGLE_ACCESS_TOKEN, "").strip()
    if value.lower() in ("", "0", "false", "no", "off"):
        return None
    if value.lower() in ("1", "true", "yes", "on"):
        return CLOUD_PLATFORM
    if value.startswith("https://www.googleapis.com/auth/"):
        return value
    raise ConfigError(f"{GOOGLE_ACCESS_TOKEN}: expected 1 (the cloud-platform scope) or a "
                      f"scope URL https://www.googleapis.com/auth/..., got {value!r}")


class _GoogleToken:
    """Google credentials whose token is fetched again shortly before it expires."""

    variable = ""
    kind = ""
    _credentials: Any  # google.auth.credentials.Credentials, set by the subclass
    _request: Any  # google.auth.transport.requests.Request

    def token(self) -> str:
        if not self._credentials.valid:  # not fetched yet, or about to expire
            with self._failures():
                self._credentials.refresh(self._request)
        return str(self._credentials.token)

    def _describe(self) -> str:
        return self.variable

    @contextmanager
    def _failures(self) -> Iterator[None]:
        from google.auth.exceptions import GoogleAuthError

        try:
            yield
        except GoogleAuthError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise AirflowApiError(f"cannot get a Google {self.kind} for "
                                  f"{self._describe()}: {first}") from None


def _import_google_auth(variable: str) -> None:
    try:
        import google.auth.transport.requests  # noqa: F401 - only whether it is installed
    except ImportError:
        raise AirflowApiError(f"{variable} needs google-auth: run pip install "
                              "'kedro-airflow-k8s[gcp]'") from None


class GoogleIdToken(_GoogleToken):
    """An ID token for `audience`, fetched again shortly before it expires (after 1 h)."""

    variable = GOOGLE_AUDIENCE
    kind = "ID token"

    def __init__(self, audience: str) -> None:
        _import_google_auth(self.variable)
        import google.auth.transport.requests
        import google.oauth2.id_token

        self.audience = audience
        self._request = google.auth.transport.requests.Request()
        with self._failures():
            self._credentials = google.oauth2.id_token.fetch_id_token_credentials(
                audience, request=self._request)

    def _describe(self) -> str:
        return f"{self.variable} {self.audience}"


class GoogleAccessToken(_GoogleToken):
    """An OAuth2 access token for `scope` from the application default credentials, fetched
    again shortly before it expires (after 1 h)."""

    variable = GOOGLE_ACCESS_TOKEN
    kind = "access token"

    def __init__(self, scope: str) -> None:
        _import_google_auth(self.variable)
        import google.auth
        import google.auth.transport.requests
        from google.auth.exceptions import DefaultCredentialsError

        self.scope = scope
        self._request = google.auth.transport.requests.Request()
        try:
            self._credentials, _ = google.auth.default(scopes=[scope])
        except DefaultCredentialsError as exc:
            if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):  # a missing or bad key file
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                raise AirflowApiError(f"{self.variable}: GOOGLE_APPLICATION_CREDENTIALS: "
                                      f"{first}") from None
            raise AirflowApiError(
                f"{self.variable}: no Google credentials found: set "
                "GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, run gcloud auth "
                "application-default login, or run on Google Cloud as a service account") from None
