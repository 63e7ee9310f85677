"""Uploads to local directories, file:// and fsspec filesystems, without any service.

The object stores themselves (moto, gcp-storage-emulator) are in tests/e2e/test_upload.py.
"""

import errno
import os
import sys
import threading

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from kedro_airflow_k8s.errors import OutputError, UploadError
from kedro_airflow_k8s.upload import upload_dag

PLAIN_AND_URI = pytest.mark.parametrize("as_uri", [False, True], ids=["path", "file-uri"])


def location(path, as_uri):
    return path.as_uri() if as_uri else str(path)


def test_missing_extra_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "s3fs", None)  # as if the 'aws' extra were not installed
    registry = sys.modules["fsspec.registry"]  # the module: fsspec.registry is a mapping
    for protocol in ("s3", "s3a"):
        monkeypatch.delitem(registry._registry, protocol, raising=False)
    with pytest.raises(UploadError) as error:
        upload_dag("x = 1\n", "s3://bucket/dags", "demo.py")
    assert str(error.value) == ("--output s3://bucket/dags: s3:// needs the 'aws' extra: run "
                                "pip install 'kedro-airflow-k8s[aws]'")


@PLAIN_AND_URI
def test_local_upload_is_atomic(tmp_path, as_uri):
    """A reader polling the file only ever sees one whole version or the other."""
    versions = ["# old\n" + "a = 1\n" * 200_000, "# new\n" + "b = 2\n" * 300_000]
    where = location(tmp_path, as_uri)
    assert upload_dag(versions[0], where, "demo.py") == (
        f"{where}/demo.py" if as_uri else str(tmp_path / "demo.py"))
    seen, stop = set(), threading.Event()

    def reader():
        while not stop.is_set():
            seen.add((tmp_path / "demo.py").read_text())

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(20):
        upload_dag(versions[i % 2], where, "demo.py")
    stop.set()
    thread.join()
    assert seen <= set(versions)
    assert len(seen) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["demo.py"]  # no temporary file left


@PLAIN_AND_URI
def test_failed_local_upload_keeps_the_previous_dag(tmp_path, monkeypatch, as_uri):
    upload_dag("previous = True\n", location(tmp_path, as_uri), "demo.py")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OutputError) as error:
        upload_dag("new = True\n", location(tmp_path, as_uri), "demo.py")
    assert str(error.value) == (f"cannot write {tmp_path / 'demo.py'}: "
                                "No space left on device")
    assert (tmp_path / "demo.py").read_text() == "previous = True\n"
    assert [p.name for p in tmp_path.iterdir()] == ["demo.py"]


class FullFileSystem(MemoryFileSystem):
    """A filesystem without atomic writes that runs out of space half-way through a file."""

    protocol = "fullfs"
    full = False

    def pipe_file(self, path, value, **kwargs):
        if FullFileSystem.full:
            super().pipe_file(path, value[:len(value) // 2], **kwargs)
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().pipe_file(path, value, **kwargs)


def test_remote_disk_full_is_one_line_and_keeps_the_previous_dag(monkeypatch):
    fsspec.register_implementation("fullfs", FullFileSystem, clobber=True)
    monkeypatch.setattr(FullFileSystem, "store", {})  # this test's own files
    monkeypatch.setattr(FullFileSystem, "pseudo_dirs", [""])
    upload_dag("previous = True\n", "fullfs://bucket/dags", "demo.py")
    monkeypatch.setattr(FullFileSystem, "full", True)
    with pytest.raises(UploadError) as error:
        upload_dag("new = True, and a longer text\n", "fullfs://bucket/dags", "demo.py")
    assert str(error.value) == ("cannot upload to fullfs://bucket/dags/demo.py: [Errno 28] No "
                                "space left on device")
    with fsspec.open("fullfs://bucket/dags/demo.py", "rb") as stored:
        assert stored.read() == b"previous = True\n"
    stored = [path.rsplit("/", 1)[-1] for path in FullFileSystem.store]
    assert stored == ["demo.py"]  # no half-written temporary left behind
