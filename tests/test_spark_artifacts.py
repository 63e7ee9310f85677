"""The files a Dataproc cluster reads: job script, init script, configuration archive.

No Dataproc here: the job script runs the demo project's nodes for real with the Python of
the tests (as the cluster's PySpark driver would run it), from the configuration archive
only; the init script is checked by shellcheck and by bash's parser.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from kedro_airflow_k8s.compiler import compile_project
from kedro_airflow_k8s.config import SparkConfig
from kedro_airflow_k8s.context import KedroProject
from kedro_airflow_k8s.errors import ConfigError, UploadError
from kedro_airflow_k8s.render import render_dag
from kedro_airflow_k8s.spark_artifacts import conf_archive, init_script, job_script

DATAPROC = {"type": "dataproc", "project_id": "p", "region": "europe-west1",
            "cluster_name": "ephemeral", "artifacts_path": "gs://bucket/spark"}
SHELLCHECK = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")


def test_job_script_runs_nodes_with_the_environment_and_the_archived_conf(demo_project,
                                                                        tmp_path):
    override = demo_project / "conf" / "cluster"
    override.mkdir()
    (override / "parameters.yml").write_text("min_amount: 1000\n")
    archive = tmp_path / "conf-demo.tar.gz"
    archive.write_bytes(conf_archive(demo_project / "conf"))
    shutil.rmtree(demo_project / "conf")  # the nodes can read only the archive's conf
    script = tmp_path / "kedro_spark_job.py"
    script.write_text(job_script("demo"))

    # no --env: KEDRO_ENV comes through the KEY=VALUE pairs, as MLflow's variables do
    result = subprocess.run(
        [sys.executable, str(script), "KEDRO_ENV=cluster", "--", "--pipeline", "__default__",
         "--nodes", "clean_orders", "--conf-source", str(archive)],
        cwd=demo_project, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(demo_project / "src"),
             "KEDRO_DISABLE_TELEMETRY": "true"})
    assert result.returncode == 0, result.stderr[-2000:]
    raw = json.loads((demo_project / "data/01_raw/orders.json").read_text())
    orders = json.loads((demo_project / "data/02_intermediate/orders.json").read_text())
    assert orders == [o for o in raw if (o.get("amount") or 0) >= 1000]
    assert orders != [o for o in raw if (o.get("amount") or 0) >= 1.0]  # base's value differs


def test_job_script_fails_when_the_nodes_fail(demo_project, tmp_path):
    archive = tmp_path / "conf-demo.tar.gz"
    archive.write_bytes(conf_archive(demo_project / "conf"))
    script = tmp_path / "kedro_spark_job.py"
    script.write_text(job_script("demo"))
    result = subprocess.run(
        [sys.executable, str(script), "--", "--nodes", "no_such_node", "--conf-source",
         str(archive)], cwd=demo_project, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(demo_project / "src"),
             "KEDRO_DISABLE_TELEMETRY": "true"})
    assert result.returncode != 0 and "no_such_node" in result.stderr


def test_conf_archive_is_what_kedro_package_makes_minus_nothing_random(demo_project):
    (demo_project / "conf/local/credentials.yml").write_text("token: secret-token-value\n")
    (demo_project / "conf/base/notes.txt").write_text("kept\n")
    first = conf_archive(demo_project / "conf")
    assert conf_archive(demo_project / "conf") == first  # same conf, same bytes
    with tarfile.open(fileobj=__import__("io").BytesIO(first)) as archive:
        names = archive.getnames()
    assert "conf/base/airflow-k8s.yaml" in names and "conf/base/notes.txt" in names
    assert "conf/local/credentials.yml" not in names
    assert b"secret-token-value" not in first


SECRET_FILES = ["conf/local/credentials.yaml", "conf/local/credentials.yml",
                "conf/local/sub/x.json", "conf/local/notes.txt", "conf/local/.env",
                "conf/local/deep/er/catalog.yml", "conf/base/credentials.yml",
                "conf/prod/credentials-extra.yaml", "conf/prod/Credentials.JSON",
                "conf/base/gcp_credentials.json", "conf/base/credentials/s3.yml",
                "conf/prod/nested/credentials_db.yml"]


def test_nothing_of_conf_local_and_no_credentials_file_is_in_the_conf_archive(demo_project):
    for number, relative in enumerate(SECRET_FILES):
        path = demo_project / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"password: s3cr3t-{number}\n")
    (demo_project / "conf/prod/catalog.yml").write_text("{}\n")
    archive_bytes = conf_archive(demo_project / "conf")
    with tarfile.open(fileobj=__import__("io").BytesIO(archive_bytes)) as archive:
        names = archive.getnames()
        contents = b"".join(archive.extractfile(m).read() for m in archive.getmembers()
                            if m.isfile())
    assert "conf/prod/catalog.yml" in names and "conf/base/parameters.yml" in names
    assert [n for n in names if n.startswith("conf/local/")] == []
    assert [n for n in names if "credentials" in n.lower()] == []
    assert b"s3cr3t-" not in contents and b"s3cr3t-" not in archive_bytes


def init_text(tmp_path, **spark):
    config = SparkConfig.model_validate({**DATAPROC, **spark})
    return init_script(config, tmp_path, "demo", "demo", "demo-0.1-py3-none-any.whl",
                       "0123456789ab")


def test_init_script_order_and_contents(tmp_path):
    (tmp_path / "requirements.txt").write_text("kedro~=1.7\nkedro-datasets[spark]>=8\n")
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops/first.sh").write_text("#!/bin/bash\necho \"user init\"\n")
    (tmp_path / "ops/last.sh").write_text("echo \"user post init\"\n")
    text = init_text(tmp_path, user_init_path="ops/first.sh", user_post_init_path="ops/last.sh")
    lines = text.splitlines()
    assert lines[0] == "#!/usr/bin/env bash" and "set -euo pipefail" in lines[:5]
    order = [text.index(s) for s in ('echo "user init"', "kedro-datasets[spark]>=8",
                                     "pip install --quiet \"$KEDRO_HOME\"/demo-0.1-py3",
                                     'echo "user post init"')]
    assert order == sorted(order)
    assert "ARTIFACTS=gs://bucket/spark/demo/0123456789ab\n" in text
    assert 'gsutil cp "$ARTIFACTS"/demo-0.1-py3-none-any.whl "$ARTIFACTS"/conf-demo.tar.gz' \
        in text
    check = subprocess.run([SHELLCHECK, "--shell=bash", "-"], input=text, text=True,
                           capture_output=True)
    assert check.returncode == 0, check.stdout
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0


def test_init_script_without_requirements_installs_the_wheel_with_its_dependencies(tmp_path):
    text = init_text(tmp_path)
    assert "requirements.txt" not in text and "user" not in text.lower().replace("/usr/", "")
    assert '"$PYTHON" -m pip install --quiet "$KEDRO_HOME"/demo-0.1-py3-none-any.whl' in text
    check = subprocess.run([SHELLCHECK, "--shell=bash", "-"], input=text, text=True,
                           capture_output=True)
    assert check.returncode == 0, check.stdout


def test_requirements_cannot_end_the_heredoc(tmp_path):
    (tmp_path / "requirements.txt").write_text("kedro\nKEDRO_REQUIREMENTS\nrm -rf /\n")
    with pytest.raises(ConfigError, match="a line reads KEDRO_REQUIREMENTS"):
        init_text(tmp_path)


def test_a_missing_user_script_fails_at_compile(demo_project):
    path = demo_project / "conf/base/airflow-k8s.yaml"
    raw = yaml.safe_load(path.read_text())
    raw["run_config"]["spark"] = {**DATAPROC, "user_init_path": "ops/missing.sh"}
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as error:
        compile_project(KedroProject.at(path=demo_project))
    assert str(error.value) == (f"run_config.spark.user_init_path: no file ops/missing.sh in "
                                f"the project ({demo_project})")


def dataproc_project(demo_project, **spark):
    """The demo project on Dataproc: `orders` becomes a Spark dataset, DAGs and artifacts go
    to the GCS emulator's bucket."""
    config = yaml.safe_load((demo_project / "conf/base/airflow-k8s.yaml").read_text())
    config["output"] = "gs://dags-bucket/versions/dags"
    config["run_config"]["spark"] = {**DATAPROC, "cluster_name": "demo",
                                     "artifacts_path": "gs://dags-bucket/versions/spark",
                                     **spark}
    (demo_project / "conf/base/airflow-k8s.yaml").write_text(yaml.safe_dump(config))
    catalog = demo_project / "conf/base/catalog.yml"
    catalog.write_text(catalog.read_text().replace(
        "\norders:\n  <<: *json\n", "\norders:\n  type: spark.SparkDataset\n", 1))
    return demo_project


def named_folder(dag_text):
    """The artifacts folder a DAG file reads its init script from."""
    import re

    found = set(re.findall(r"'(gs://[^']+)/kedro_init\.sh'", dag_text))
    assert len(found) == 1, found
    return found.pop()


def test_each_version_of_the_project_has_its_own_artifacts_folder(demo_project, gcs_server,
                                                                   monkeypatch):
    """A DAG that is running keeps reading its own wheel: uploading a changed project puts
    the new files in a new folder instead of replacing them (GCS is the emulator)."""
    from kedro_airflow_k8s.ship import drive, publish

    for key, value in gcs_server.items():
        monkeypatch.setenv(key, value)
    import gcsfs  # after the environment: gcsfs reads it when imported
    project = dataproc_project(demo_project)
    first = drive(publish(KedroProject.at(path=project), None))
    again = compile_project(KedroProject.at(path=project))  # the wheel build left egg-info
    source = project / "src/demo/pipelines/ingest/__init__.py"
    source.write_text(source.read_text() + "\n# a change to the code of the nodes\n")
    second = drive(publish(KedroProject.at(path=project), None))

    folders = [named_folder(first.text), named_folder(second.text)]
    assert folders[0] != folders[1]
    assert all(f.startswith("gs://dags-bucket/versions/spark/demo/") for f in folders)
    assert named_folder(render_dag(again)) == folders[0]  # same project, same folder
    fs = gcsfs.GCSFileSystem(token="anon", skip_instance_cache=True)
    wheels = []
    for folder, dag_text in zip(folders, (first.text, second.text), strict=True):
        files = {p.rsplit("/", 1)[-1]: p for p in fs.find(folder.removeprefix("gs://"))}
        wheel = next(name for name in files if name.endswith(".whl"))
        assert sorted(files) == sorted([wheel, "conf-demo.tar.gz", "kedro_spark_job.py",
                                        "kedro_init.sh"])
        assert f"'{folder}/kedro_spark_job.py'" in dag_text
        init = fs.cat_file(files["kedro_init.sh"]).decode()
        assert f"ARTIFACTS={folder}\n" in init  # the cluster copies from the DAG's folder
        wheels.append(fs.cat_file(files[wheel]))
    assert wheels[0] != wheels[1]  # the first DAG's wheel is still the first version


def test_a_user_script_in_local_conf_or_named_credentials_is_refused(demo_project):
    (demo_project / "conf/local/init.sh").write_text("echo local\n")
    (demo_project / "ops").mkdir()
    (demo_project / "ops/credentials.sh").write_text("export TOKEN=secret-token\n")
    for key, relative in [("user_init_path", "conf/local/init.sh"),
                          ("user_post_init_path", "ops/credentials.sh")]:
        dataproc_project(demo_project, **{key: relative})
        with pytest.raises(ConfigError) as error:
            compile_project(KedroProject.at(path=demo_project))
        assert str(error.value) == (
            f"run_config.spark.{key}: {relative} is local configuration or credentials, "
            "which are never uploaded: keep the script elsewhere in the project")


def test_a_wheel_that_packs_credentials_is_not_uploaded(demo_project):
    from kedro_airflow_k8s.spark_artifacts import build_artifacts

    project = dataproc_project(demo_project)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() +
                         '\n[tool.setuptools.package-data]\ndemo = ["*.yml"]\n')
    (project / "src/demo/credentials.yml").write_text("token: secret-token\n")
    with pytest.raises(UploadError, match=r"holds demo/credentials\.yml, local configuration"):
        build_artifacts(KedroProject.at(path=project), "demo", "0123456789ab")
