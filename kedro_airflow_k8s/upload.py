"""Put a DAG file where Airflow reads DAGs (and Spark artifacts where clusters read them): a
local directory, gs:// or s3://, via fsspec."""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path
from typing import Any

from kedro_airflow_k8s.errors import UploadError
from kedro_airflow_k8s.render import write_atomically

# The package extra each output scheme needs (its fsspec backend)
SCHEME_EXTRAS = {"gs": "gcp", "gcs": "gcp", "s3": "aws", "s3a": "aws"}
# Object stores replace an object whole with one PUT; other filesystems may show half a file.
_ATOMIC_PUT = {"gs", "gcs", "s3", "s3a", "az", "abfs", "abfss"}


def _filesystem(location: str, key: str) -> tuple[Any, str]:
    import fsspec
    from fsspec.core import split_protocol

    protocol, _ = split_protocol(location)
    try:
        fs, root = fsspec.core.url_to_fs(location)
    except (ImportError, ValueError) as exc:
        extra = SCHEME_EXTRAS.get(protocol or "")
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
        return _write_local(Path(location) / filename, content)
    fs, root = _filesystem(location, key)
    if "file" in _protocols(fs):  # file://: the same rename as a plain path
        _write_local(Path(root) / filename, content)
        return f"{location.rstrip('/')}/{filename}"
    target = f"{root.rstrip('/')}/{filename}"
    try:
        if _protocols(fs) & _ATOMIC_PUT:
            fs.pipe_file(target, content)
        else:  # write beside the target, then move it into place
            _put_then_move(fs, content, f"{root.rstrip('/')}/.{filename}."
                               f"{secrets.token_hex(4)}.tmp", target)
    except Exception as exc:  # fsspec backends raise their own SDK's errors
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UploadError(f"cannot upload to {location.rstrip('/')}/{filename}: {first}") from None
    return f"{location.rstrip('/')}/{filename}"


def _put_then_move(fs: Any, content: bytes, temporary: str, target: str) -> None:
    try:
        fs.pipe_file(temporary, content)
        fs.mv(temporary, target)
    except Exception:
        with contextlib.suppress(Exception):  # the error that matters is the one above
            if fs.exists(temporary):
                fs.rm(temporary)
        raise


def _write_local(path: Path, content: bytes) -> str:
    write_atomically(path, content)
    return str(path)


def _protocols(fs: Any) -> set[str]:
    protocol = fs.protocol
    return {protocol} if isinstance(protocol, str) else set(protocol)
