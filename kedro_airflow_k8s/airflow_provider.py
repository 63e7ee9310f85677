"""kedro-airflow-k8s as an Airflow provider: the `kedro://` asset scheme (docs/assets.md).

Airflow finds providers through the `apache_airflow_provider` entry point of the installed
packages; this package's (setup.cfg) points at `provider_info`. It claims the `kedro`
scheme of the assets of datasets that have no global location (`kedro://<package>/<dataset>`,
kedro_airflow_k8s/assets.py):

- `normalize_uri`, Airflow's URI normaliser for the scheme, refuses a `kedro` URI that does
  not name a package and one dataset, when a DAG builds the Asset;
- `to_openlineage_dataset` makes the asset an OpenLineage dataset, namespace
  `kedro://<package>` and name `<dataset>` (as OpenLineage names a dataset: its scheme and
  authority, then its path in it), so the OpenLineage provider names the task's inlets and
  outlets that are `kedro://` assets in its events.

Airflow calls `provider_info` each time it lists the providers (every process): it imports
nothing. The other two import only the standard library and, in the converter, the
OpenLineage provider's dataset class, which exists wherever it calls the converter.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

SCHEME = "kedro"  # assets.KEDRO_SCHEME, not imported: assets.py is more than this needs
# a Kedro project's package name: a Python identifier (no login, port or dot)
_PACKAGE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def provider_info() -> dict[str, Any]:
    """What Airflow's ProvidersManager reads of this package
    (airflow/provider_info.schema.json). Airflow calls it unguarded in every process, where
    an exception stops Airflow itself: it never raises (no version without a readable one)."""
    module = __name__
    info: dict[str, Any] = {
        "package-name": "kedro-airflow-k8s",
        "name": "Kedro Airflow K8s",
        "description": "The kedro:// assets of Kedro datasets without a global location "
                       "(URI normaliser, OpenLineage datasets).",
        "asset-uris": [{
            "schemes": [SCHEME],
            "handler": f"{module}.normalize_uri",
            "to_openlineage_converter": f"{module}.to_openlineage_dataset",
        }],
    }
    try:
        from kedro_airflow_k8s import __version__

        info["versions"] = [str(__version__)]
    except Exception:  # noqa: BLE001 - Airflow reads the version from the package metadata
        pass
    return info


def uri_problem(parts: urllib.parse.SplitResult) -> str | None:
    """Why a `kedro` URI names no dataset of a project; None when it does."""
    package, dataset = parts.netloc, parts.path[1:]
    if not package:
        return "it names no package"
    if not _PACKAGE.match(package):
        return f"its package {package!r} is no Python package name"
    if not dataset:
        return f"it names no dataset of package {package!r}"
    if "/" in dataset:
        return (f"its path {parts.path!r} is more than one dataset name (a '/' in a dataset "
                "name is written %2F)")
    if parts.query:
        return "it has a query, which names no dataset"
    return None


def normalize_uri(parts: urllib.parse.SplitResult) -> urllib.parse.SplitResult:
    """Airflow's normaliser of `kedro` asset URIs: the URI as it is, or ValueError."""
    if problem := uri_problem(parts):
        raise ValueError(f"URI format kedro:// is kedro://<package>/<dataset>: {problem}")
    return parts


def to_openlineage_dataset(asset: Any, lineage_context: Any = None) -> Any:
    """The OpenLineage dataset of a `kedro://<package>/<dataset>` asset: namespace
    `kedro://<package>`, name the dataset name (percent-decoded)."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    parts = urllib.parse.urlsplit(asset.uri)
    if parts.scheme != SCHEME or uri_problem(parts):
        raise ValueError(f"{asset.uri!r} is no kedro://<package>/<dataset> URI")
    return Dataset(namespace=f"{SCHEME}://{parts.netloc}",
                   name=urllib.parse.unquote(parts.path[1:]))
