"""Kedro datasets as Airflow Assets: where a dataset lives, as the URI Airflow keys it by.

The rule (docs/assets.md), for a persisted dataset of project <package>:

- a location with a scheme (`s3://`, `gs://`, `abfs://`, `https://`, ...) is its URI, the
  scheme lower-cased and its aliases folded (`s3a`, `s3n` -> `s3`; `gcs` -> `gs`), user
  and password, query and fragment dropped, trailing slashes removed;
- an absolute local path is `file://<path>`, unless it is on the per-run volume (under
  its mount path, Kubernetes execution with the volume on);
- a SQL table on PostgreSQL or MySQL is `postgres://host:port/database/schema/table`
  (schema `public` by default) or `mysql://host:port/database/table`, as Airflow's providers
  write them, without the login; a BigQuery table is `bigquery://project/dataset/table`;
- anything else (a relative path, on the pod's disk or the per-run volume; a table of
  another database; a dataset with no location) is `kedro://<package>/<dataset>`.

The Asset's name is its URI: two projects that read and write one file declare the same
Asset, and a project names another's dataset without a location as
`kedro://<package>/<dataset>`. Versioned datasets are their base path, not a version.
"""

from __future__ import annotations

import fnmatch
import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

KEDRO_SCHEME = "kedro"
_SCHEME_ALIASES = {"s3a": "s3", "s3n": "s3", "gcs": "gs"}
# Azure's fsspec URIs name the container before '@': not a login.
_CONTAINER_AT_ACCOUNT = {"abfs", "abfss", "az", "wasb", "wasbs"}
_DATABASES = {"postgresql": ("postgres", 5432), "postgres": ("postgres", 5432),
              "mysql": ("mysql", 3306), "mariadb": ("mysql", 3306)}
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def kedro_uri(package: str, dataset: str) -> str:
    """The URI of a dataset that is not globally addressable."""
    return f"{KEDRO_SCHEME}://{package}/{urllib.parse.quote(dataset, safe='.-_~:')}"


def dataset_location(config: Mapping[str, Any] | None) -> str | None:
    """Where a dataset's resolved catalog entry (credentials resolved) says it lives, as a
    path or URI without credentials; None when it names no place."""
    if not isinstance(config, Mapping):
        return None
    for key in ("filepath", "path"):
        value = config.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    table = config.get("table_name")
    if not isinstance(table, str) or not table:
        return None
    if isinstance(config.get("dataset"), str) and isinstance(config.get("project"), str):
        return f"bigquery://{config['project']}/{config['dataset']}/{table}"
    return _sql_table_location(config, table)


def _sql_table_location(config: Mapping[str, Any], table: str) -> str | None:
    """A SQL table's location: its database's URL (credentials `con`) without credentials,
    and its schema (postgres) and table."""
    credentials = config.get("credentials")
    con = credentials.get("con") if isinstance(credentials, Mapping) else None
    if not isinstance(con, str):
        return None
    try:
        url = urllib.parse.urlsplit(con)
        port = url.port
    except ValueError:
        return None
    dialect = url.scheme.split("+", 1)[0].lower()
    database = url.path.strip("/")
    if dialect not in _DATABASES or not url.hostname or not database:
        return None
    scheme, default_port = _DATABASES[dialect]
    args = {**(config.get("load_args") or {}), **(config.get("save_args") or {})}
    schema = args.get("schema") if isinstance(args.get("schema"), str) else None
    parts = [database, *([schema or "public"] if scheme == "postgres" else []), table]
    return f"{scheme}://{url.hostname}:{port or default_port}/{'/'.join(parts)}"


def asset_uri(package: str, dataset: str, location: str | None,
              per_run: str | None = None) -> str:
    """The URI (and name) of a dataset's Asset, by the rule of this module's docstring;
    an absolute path under `per_run` (the per-run volume's mount path) is not addressable."""
    if not location:
        return kedro_uri(package, dataset)
    if per_run and (location == per_run or location.startswith(per_run.rstrip("/") + "/")):
        return kedro_uri(package, dataset)
    if location.startswith("/") and not location.startswith("//"):
        return "file://" + urllib.parse.quote(location.rstrip("/") or "/", safe="/-_.~:@")
    if _DRIVE.match(location):
        return kedro_uri(package, dataset)
    parts = urllib.parse.urlsplit(location)
    scheme = parts.scheme.lower()
    if not scheme or not parts.netloc and scheme != "file":
        return kedro_uri(package, dataset)
    scheme = _SCHEME_ALIASES.get(scheme, scheme)
    host = parts.netloc.rpartition("@")[2]
    if scheme in _CONTAINER_AT_ACCOUNT and "@" in parts.netloc and parts.password is None:
        host = parts.netloc
    path = parts.path.rstrip("/")
    if scheme == "file" and not path:
        return kedro_uri(package, dataset)
    return urllib.parse.urlunsplit((scheme, host, path, "", ""))


def run_scoped(location: str | None, per_run: str | None, in_pods: bool) -> bool:
    """Whether a dataset at `location` is gone once the DAG run ends: run in pods
    (`in_pods`, Kubernetes execution), an absolute path under the per-run volume's mount
    path `per_run`, or a relative path (on that volume, or on the pod's own disk)."""
    if not location or not in_pods:
        return False
    if per_run and (location == per_run or location.startswith(per_run.rstrip("/") + "/")):
        return True
    return not location.startswith("/") and not _DRIVE.match(location) and \
        not urllib.parse.urlsplit(location).scheme


def layer_of(config: Mapping[str, Any] | None) -> str | None:
    """A dataset's layer as Kedro-Viz reads it: `metadata: {kedro-viz: {layer: ...}}`."""
    metadata = config.get("metadata") if isinstance(config, Mapping) else None
    viz = metadata.get("kedro-viz") if isinstance(metadata, Mapping) else None
    layer = viz.get("layer") if isinstance(viz, Mapping) else None
    return layer if isinstance(layer, str) else None


def pattern_problem(pattern: str) -> str | None:
    """Why a dataset name pattern (fnmatch) is refused; None when it is a pattern."""
    if not pattern.strip():
        return "an empty pattern matches no dataset"
    if pattern != pattern.strip():
        return f"{pattern!r} has spaces at its ends, which no dataset name has"
    depth = 0
    for char in pattern:
        if char == "[":
            depth += 1
        elif char == "]" and depth:
            depth -= 1
    if depth:
        return f"{pattern!r} opens a '[' it does not close"
    return None


def dataset_uri(package: str, name: str, location: Any, per_run: str | None = None) -> str:
    """The Asset URI of dataset `name` of this project's catalog (`location`: name -> its
    location): one Asset for all its transcodings."""
    return asset_uri(package, name.split("@", 1)[0], location(name), per_run)


def matches(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def declared(datasets: list[str], config: Any, package: str, is_persisted: Any,
             location: Any, layer: Any, notify: Any,
             per_run: str | None = None) -> dict[str, str]:
    """Dataset name -> Asset URI of the pipeline's datasets that `run_config.assets`
    declares: persisted (not in memory, not parameters), included, not excluded, of a
    listed layer. A pattern or layer that selects none of them is noted."""
    if not config.enabled:
        return {}
    candidates = sorted(name for name in datasets
                        if not name.startswith("params:") and name != "parameters"
                        and is_persisted(name))
    layers = {name: layer(name) for name in candidates} if config.layers else {}
    found = {name: checked_uri(name, dataset_uri(package, name, location, per_run))
             for name in candidates if _selected(name, config, layers)}
    _note_unused(config, candidates, layers, notify)
    return found


def _selected(name: str, config: Any, layers: dict[str, Any]) -> bool:
    """Whether run_config.assets includes `name`, does not exclude it and lists its layer."""
    if config.include and not matches(name, config.include):
        return False
    if matches(name, config.exclude):
        return False
    return not (config.layers and layers[name] not in config.layers)


def _note_unused(config: Any, candidates: list[str], layers: dict[str, Any],
                 notify: Callable[[str], Any]) -> None:
    """A note per include or exclude pattern and per layer that selects no candidate."""
    for key in ("include", "exclude"):
        for pattern in getattr(config, key):
            if not any(fnmatch.fnmatchcase(name, pattern) for name in candidates):
                notify(f"Note: run_config.assets.{key}: {pattern!r} matches no persisted "
                       "dataset of the pipeline.")
    for name in config.layers:
        if name not in layers.values():
            notify(f"Note: run_config.assets.layers: no persisted dataset of the pipeline is "
                   f"in layer {name!r}.")


def checked_uri(dataset: str, uri: str) -> str:
    """`uri`, unless Airflow refuses it whatever providers it has (--validate checks the
    providers' own rules)."""
    from kedro_airflow_k8s.errors import CompileError

    problem = None
    if urllib.parse.urlsplit(uri).scheme == "airflow":
        problem = "the scheme 'airflow' is Airflow's own"
    elif len(uri) > 1500:
        problem = "longer than Airflow's 1500 characters"
    if problem:
        raise CompileError(f"dataset '{dataset}': asset URI {uri[:80]!r} is refused by "
                           f"Airflow ({problem}): change its location in the catalog or "
                           "leave it out with run_config.assets.exclude")
    return uri
