"""Whom the Airflow client trusts (a CA bundle) and a Google ID token as its credential.

CA bundle, first set of: AIRFLOW__CLIENT__SSL_CA_CERT, REQUESTS_CA_BUNDLE, SSL_CERT_FILE
(a PEM file of CA certificates, e.g. a company's TLS-inspecting proxy CA plus public CAs).

Google ID token, with AIRFLOW_API_GOOGLE_AUDIENCE: google-auth's fetch_id_token order
(GOOGLE_APPLICATION_CREDENTIALS naming a service-account file, else the metadata server of
GCE / GKE / Cloud Run), for Airflow behind IAP or an istio / Envoy JWT check.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from kedro_airflow_k8s.errors import AirflowApiError, ConfigError

CA_SETTINGS = ("AIRFLOW__CLIENT__SSL_CA_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
GOOGLE_AUDIENCE = "AIRFLOW_API_GOOGLE_AUDIENCE"


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


class GoogleIdToken:
    """An ID token for `audience`, fetched again shortly before it expires (after 1 h)."""

    def __init__(self, audience: str) -> None:
        try:
            import google.auth.transport.requests
            import google.oauth2.id_token
        except ImportError:
            raise AirflowApiError(f"{GOOGLE_AUDIENCE} needs google-auth: run pip install "
                                  "'kedro-airflow-k8s[gcp]'") from None
        self.audience = audience
        self._request = google.auth.transport.requests.Request()
        with self._failures():
            self._credentials = google.oauth2.id_token.fetch_id_token_credentials(
                audience, request=self._request)

    def token(self) -> str:
        if not self._credentials.valid:  # not fetched yet, or about to expire
            with self._failures():
                self._credentials.refresh(self._request)
        return self._credentials.token

    @contextmanager
    def _failures(self) -> Iterator[None]:
        from google.auth.exceptions import GoogleAuthError

        try:
            yield
        except GoogleAuthError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise AirflowApiError(f"cannot get a Google ID token for {GOOGLE_AUDIENCE} "
                                  f"{self.audience}: {first}") from None
