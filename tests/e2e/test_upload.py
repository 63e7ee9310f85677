"""Uploads to S3 (a moto server) and GCS (gcp-storage-emulator) through the commands."""

import os

import pytest

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
    assert "DataprocSubmitJobOperator" in dag
    assert "literal('clean_orders,count_customers,features.daily_totals')" in dag
