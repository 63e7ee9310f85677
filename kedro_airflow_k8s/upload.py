"""Put a DAG file where Airflow reads DAGs (and Spark artifacts where clusters read them): a
local directory, gs:// or s3://, via fsspec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro_airflow_k8s.errors import UploadError
from kedro_airflow_k8s.render import write_atomically

_EXTRAS = {"gs": "gcp", "gcs": "gcp", "s3": "aws", "s3a": "aws"}


def _filesystem(location: str, key: str) -> tuple[Any, str]:
    import fsspec
    from fsspec.core import split_protocol

    protocol, _ = split_protocol(location)
    try:
        fs, root = fsspec.core.url_to_fs(location)
    except (ImportError, ValueError) as exc:
        extra = _EXTRAS.get(protocol or "")
        if extra:
            raise UploadError(
                f"{key} {location}: {protocol}:// needs the '{extra}' extra: run "
                f"pip install 'kedro-airflow-k8s[{extra}]'"
            ) from None
        raise UploadError(f"{key} {location}: {exc}") from None
    return fs, root


def upload_dag(text: str, location: str, filename: str) -> str:
    """Write `text` to `<location>/<filename>` so Airflow never sees half of it."""
    return upload_file(text.encode("utf-8"), location, filename)


def upload_file(content: bytes, location: str, filename: str, key: str = "--output") -> str:
    """Write `content` to `<location>/<filename>`, whole or not at all; where it went.
    `key` names the setting `location` came from, for errors."""
    if "://" not in location:
        path = Path(location) / filename
        write_atomically(path, content)
        return str(path)
    fs, root = _filesystem(location, key)
    target = f"{root.rstrip('/')}/{filename}"
    try:
        fs.pipe_file(target, content)  # one PUT: object stores are atomic per object
    except Exception as exc:  # fsspec backends raise their own SDK's errors
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UploadError(f"cannot upload to {location.rstrip('/')}/{filename}: {first}") from None
    return f"{location.rstrip('/')}/{filename}"
