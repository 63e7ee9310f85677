"""The project version: a hash of the code and configuration a DAG is compiled from, and the
git commit (with "-dirty") beside it."""

import os
import shutil

import pytest

from kedro_airflow_k8s.context import KedroProject
from kedro_airflow_k8s.project_version import never_shipped
from tests.conftest import commit_all


def version(path, env="prod"):
    return KedroProject.at(path=path, env=env).project_version


def test_same_files_give_the_same_version_wherever_and_whenever(demo_project, tmp_path):
    first = version(demo_project)
    assert len(first) == 12 and int(first, 16) >= 0
    other = tmp_path / "elsewhere" / "demo"
    shutil.copytree(demo_project, other)
    for path in other.rglob("*"):  # other times, as in another checkout
        os.utime(path, (1_000_000, 1_000_000))
    assert version(other) == first


@pytest.mark.parametrize("relative", [
    "conf/local/credentials.yml", "conf/local/airflow-k8s.yaml", "conf/base/credentials.yml",
    "conf/prod/credentials/gcp.json", "conf/staging/catalog.yml",
    "src/demo/__pycache__/nodes.cpython-311.pyc", "src/demo/stale.pyc",
    "src/demo.egg-info/PKG-INFO", "src/demo/.ipynb_checkpoints/x.py", "conf/base/.DS_Store",
    "dags/demo.py", "dist/demo-0.1-py3-none-any.whl", "build/lib/demo/x.py", "data/01_raw/x.csv",
    "notebooks/explore.ipynb",
])
def test_what_the_dag_does_not_run_leaves_the_version_alone(demo_project, relative):
    before = version(demo_project)
    path = demo_project / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("anything: 1\n")
    assert version(demo_project) == before, relative


@pytest.mark.parametrize("relative", [
    "src/demo/pipeline_registry.py", "src/demo/new_module.py", "pyproject.toml",
    "requirements.txt", "conf/base/parameters.yml", "conf/base/new.yml",
    "conf/prod/catalog.yml",
])
def test_code_packaging_and_run_config_change_the_version(demo_project, relative):
    before = version(demo_project)
    path = demo_project / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as file:
        file.write("\n# changed\n")
    assert version(demo_project) != before, relative


def test_a_file_moved_changes_the_version(demo_project):
    before = version(demo_project)
    (demo_project / "conf/base/parameters.yml").rename(demo_project / "conf/base/params.yml")
    assert version(demo_project) != before


def test_the_env_counts_only_its_own_folder(demo_project):
    (demo_project / "conf/prod").mkdir()
    (demo_project / "conf/prod/parameters.yml").write_text("x: 1\n")
    assert version(demo_project, "prod") != version(demo_project, "staging")
    assert version(demo_project, "staging") == version(demo_project, "test")


def test_local_and_credentials_are_never_shipped():
    from pathlib import PurePath

    assert never_shipped(PurePath("local/catalog.yml"))
    assert never_shipped(PurePath("base/Credentials.yml"))
    assert not never_shipped(PurePath("base/catalog.yml"))


def test_commit_is_dirty_when_a_tracked_file_differs(demo_project, monkeypatch):
    monkeypatch.delenv("KEDRO_CONFIG_COMMIT_ID", raising=False)
    head = commit_all(demo_project)
    assert KedroProject.at(path=demo_project).commit_sha == head
    (demo_project / "dags").mkdir()
    (demo_project / "dags/demo.py").write_text("# compiled\n")  # untracked: still clean
    assert KedroProject.at(path=demo_project).commit_sha == head
    with (demo_project / "conf/base/parameters.yml").open("a") as file:
        file.write("\nextra: 1\n")
    assert KedroProject.at(path=demo_project).commit_sha == f"{head}-dirty"


def test_a_committed_dag_file_does_not_make_the_commit_dirty(demo_project, monkeypatch):
    """compile, commit the DAG, compile again: the DAG names the clean commit. Left out:
    the command's -o, the config's output, compile's default dags/; nothing else."""
    from tests.conftest import run_kedro

    monkeypatch.delenv("KEDRO_CONFIG_COMMIT_ID", raising=False)
    config = demo_project / "conf/base/airflow-k8s.yaml"
    config.write_text(config.read_text().replace("${oc.select:dags_folder,dags}",
                                                 "airflow/dags"))
    (demo_project / ".gitignore").write_text("data/0[2-8]_*/\n")  # dags/ gets committed
    commit_all(demo_project)
    compiles = ((["compile"], "dags/demo.py"),
                (["compile", "-o", "airflow/dags"], "airflow/dags/demo.py"),
                (["compile", "-o", "elsewhere"], "elsewhere/demo.py"))
    for args, _ in compiles:
        assert run_kedro(demo_project, "airflow-k8s", *args).returncode == 0
    head = commit_all(demo_project)  # the DAG files are tracked now
    for args, dag in compiles:
        for _ in range(2):  # the first names the new commit: the file then differs from HEAD
            result = run_kedro(demo_project, "airflow-k8s", *args)
            assert result.returncode == 0, result.stderr
        assert f"commit_sha:{head}'" in (demo_project / dag).read_text(), args
    # upload-pipeline and run-once without -o: the config's output and dags/ are left out
    assert KedroProject.at(path=demo_project).commit_sha == f"{head}-dirty"  # elsewhere/
    assert KedroProject.at(path=demo_project, dag_location="elsewhere").commit_sha == head
    (demo_project / "notebooks/dags").mkdir(parents=True)  # dags/ at the project's top only
    (demo_project / "notebooks/dags/x.py").write_text("x = 1\n")
    head = commit_all(demo_project)
    with (demo_project / "notebooks/dags/x.py").open("a") as file:
        file.write("y = 2\n")
    assert KedroProject.at(path=demo_project, dag_location="elsewhere").commit_sha == \
        f"{head}-dirty"


def test_commit_id_variable_wins_over_git(demo_project, monkeypatch):
    monkeypatch.setenv("KEDRO_CONFIG_COMMIT_ID", "build-42")
    assert KedroProject.at(path=demo_project).commit_sha == "build-42"


def test_an_unreadable_file_is_one_line_naming_it(demo_project, monkeypatch):
    """The tests run as root, which reads any file: EACCES is injected for one file."""
    import errno
    from pathlib import Path

    from kedro_airflow_k8s.errors import CompileError

    secret = demo_project / "conf" / "base" / "catalog.yml"
    read_bytes = Path.read_bytes

    def refuse(path):
        if path == secret:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(CompileError) as raised:
        version(demo_project)
    assert str(raised.value) == (
        f"cannot read {secret} for the project version: Permission denied")
