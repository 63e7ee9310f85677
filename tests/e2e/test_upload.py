"""Uploads to S3 (a moto server), GCS (gcp-storage-emulator) and local directories."""

import os
import sys
import threading

import pytest

from kedro_airflow_k8s.errors import OutputError, UploadError
from kedro_airflow_k8s.upload import upload_dag
from tests.conftest import run_kedro, write_config

pytestmark = pytest.mark.e2e


def set_output(project, output):
    import yaml

    config = yaml.safe_load((project / "conf/base/airflow-k8s.yaml").read_text())
    config["output"] = output
    write_config(project, config)


def test_upload_pipeline_to_s3(demo_project, s3_server):
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_server["AWS_ENDPOINT_URL"],
                      aws_access_key_id="testing", aws_secret_access_key="testing",
                      region_name="us-east-1")
    s3.create_bucket(Bucket="airflow-dags")
    set_output(demo_project, "s3://airflow-dags/team/dags")
    result = run_kedro(demo_project, "airflow-k8s", "upload-pipeline", env=s3_server)
    assert result.returncode == 0, result.stderr
    assert "Uploaded s3://airflow-dags/team/dags/demo.py (10 tasks)." in result.stdout
    body = s3.get_object(Bucket="airflow-dags", Key="team/dags/demo.py")["Body"].read()
    local = run_kedro(demo_project, "airflow-k8s", "compile", "-o", "local-copy")
    assert local.returncode == 0
    assert body == (demo_project / "local-copy" / "demo.py").read_bytes()


def test_upload_to_a_missing_bucket_is_one_line(demo_project, s3_server):
    set_output(demo_project, "s3://no-such-bucket/dags")
    result = run_kedro(demo_project, "airflow-k8s", "upload-pipeline", env=s3_server)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "Error: cannot upload to s3://no-such-bucket/dags/demo.py: ")
    assert "Traceback" not in result.stderr


def test_upload_pipeline_to_gcs(demo_project, gcs_server):
    set_output(demo_project, "gs://dags-bucket/dags")
    result = run_kedro(demo_project, "airflow-k8s", "upload-pipeline", env=gcs_server)
    assert result.returncode == 0, result.stderr
    os.environ.update(gcs_server)
    try:
        import gcsfs

        fs = gcsfs.GCSFileSystem(token="anon", skip_instance_cache=True)
        text = fs.cat_file("dags-bucket/dags/demo.py").decode()
    finally:
        for key in gcs_server:
            os.environ.pop(key)
    assert text.startswith('"""Kedro pipeline') and "dag_id='demo'" in text


def gcs_files(gcs_server, prefix):
    os.environ.update(gcs_server)
    try:
        import gcsfs

        fs = gcsfs.GCSFileSystem(token="anon", skip_instance_cache=True)
        return {path.rsplit("/", 1)[-1]: fs.cat_file(path) for path in fs.find(prefix)}
    finally:
        for key in gcs_server:
            os.environ.pop(key)


def test_upload_pipeline_with_dataproc_ships_the_spark_artifacts_first(demo_project,
                                                                       gcs_server):
    import yaml

    config = yaml.safe_load((demo_project / "conf/base/airflow-k8s.yaml").read_text())
    config["output"] = "gs://dags-bucket/dags"
    config["run_config"]["spark"] = {
        "type": "dataproc", "project_id": "p", "region": "europe-west1",
        "cluster_name": "demo", "artifacts_path": "gs://dags-bucket/spark",
        "user_post_init_path": "post_init.sh"}
    write_config(demo_project, config)
    (demo_project / "post_init.sh").write_text("echo ready\n")
    catalog = demo_project / "conf/base/catalog.yml"  # `orders` becomes a Spark dataset
    catalog.write_text(catalog.read_text().replace(
        "\norders:\n  <<: *json\n", "\norders:\n  type: spark.SparkDataset\n", 1))
    result = run_kedro(demo_project, "airflow-k8s", "upload-pipeline", env=gcs_server)
    assert result.returncode == 0, result.stderr
    uploaded = result.stdout.index("Uploaded Spark artifacts to gs://dags-bucket/spark/demo/")
    assert uploaded < result.stdout.index("Uploaded gs://dags-bucket/dags/demo.py")

    files = gcs_files(gcs_server, "dags-bucket/spark/demo")
    wheel = next(name for name in files if name.endswith(".whl"))
    assert wheel.startswith("demo-0.1") and sorted(files) == sorted(
        [wheel, "conf-demo.tar.gz", "kedro_spark_job.py", "kedro_init.sh"])
    init = files["kedro_init.sh"].decode()
    assert f'"$ARTIFACTS"/{wheel}' in init and init.rstrip().endswith(
        "echo ready\n# --- end of post_init.sh ---".replace("\\n", "\n"))
    compile(files["kedro_spark_job.py"], "kedro_spark_job.py", "exec")
    dag = gcs_files(gcs_server, "dags-bucket/dags")["demo.py"].decode()
    assert "DataprocSubmitJobOperator" in dag and "literal('clean_orders,count_customers,features.daily_totals')" in dag


def test_missing_extra_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "s3fs", None)  # as if the 'aws' extra were not installed
    registry = sys.modules["fsspec.registry"]  # the module: fsspec.registry is a mapping
    for protocol in ("s3", "s3a"):
        monkeypatch.delitem(registry._registry, protocol, raising=False)
    with pytest.raises(UploadError) as error:
        upload_dag("x = 1\n", "s3://bucket/dags", "demo.py")
    assert str(error.value) == ("--output s3://bucket/dags: s3:// needs the 'aws' extra: run "
                                "pip install 'kedro-airflow-k8s[aws]'")


def test_local_upload_is_atomic(tmp_path):
    """A reader polling the file only ever sees one whole version or the other."""
    versions = ["# old\n" + "a = 1\n" * 200_000, "# new\n" + "b = 2\n" * 300_000]
    upload_dag(versions[0], str(tmp_path), "demo.py")
    seen, stop = set(), threading.Event()

    def reader():
        while not stop.is_set():
            seen.add((tmp_path / "demo.py").read_text())

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(20):
        upload_dag(versions[i % 2], str(tmp_path), "demo.py")
    stop.set()
    thread.join()
    assert seen <= set(versions)
    assert len(seen) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["demo.py"]  # no temporary file left


def test_failed_local_upload_keeps_the_previous_dag(tmp_path, monkeypatch):
    upload_dag("previous = True\n", str(tmp_path), "demo.py")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OutputError) as error:
        upload_dag("new = True\n", str(tmp_path), "demo.py")
    assert str(error.value) == (f"cannot write {tmp_path / 'demo.py'}: "
                                "No space left on device")
    assert (tmp_path / "demo.py").read_text() == "previous = True\n"
    assert [p.name for p in tmp_path.iterdir()] == ["demo.py"]


def test_remote_disk_full_is_one_line_and_keeps_the_previous_dag():
    """A failing fsspec filesystem stands in for an object store that is out of space."""
    import errno

    import fsspec
    from fsspec.implementations.memory import MemoryFileSystem

    class FullFileSystem(MemoryFileSystem):
        protocol = "fullfs"
        full = False

        def pipe_file(self, path, value, **kwargs):
            if FullFileSystem.full:
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().pipe_file(path, value, **kwargs)

    fsspec.register_implementation("fullfs", FullFileSystem, clobber=True)
    upload_dag("previous = True\n", "fullfs://bucket/dags", "demo.py")
    FullFileSystem.full = True
    with pytest.raises(UploadError) as error:
        upload_dag("new = True\n", "fullfs://bucket/dags", "demo.py")
    assert str(error.value) == ("cannot upload to fullfs://bucket/dags/demo.py: [Errno 28] No "
                                "space left on device")
    with fsspec.open("fullfs://bucket/dags/demo.py", "rb") as stored:
        assert stored.read() == b"previous = True\n"
