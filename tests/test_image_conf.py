"""The env the pods run is one their image holds: compile reads the project's .dockerignore
(docker's own matcher) and never emits `kedro run --env E` for a conf/E the image lacks.
Each test runs `kedro airflow-k8s` in a child process, as a user types it."""

import pytest
import yaml

from kedro_airflow_k8s.scaffold import render_dockerignore
from tests import airflow_check
from tests.conftest import run_kedro, write_config
from tests.test_cli import assert_one_line_error
from tests.test_spark import DATAPROC

LEFT_OUT = ("the project's .dockerignore leaves conf/local out of the image (by 'conf/local'), "
            "so every pod's `kedro run --env local` would fail (MissingConfigException): "
            "compile with an env the image holds (-e base, or a conf/<env> of its own for the "
            "cluster)")


def pod_env(project, dag_id="demo"):
    dag = airflow_check.load_dag(project / "dags" / f"{dag_id}.py")
    arguments = dag.get_task("clean_orders").arguments
    assert arguments[:2] == ["run", "--env"]
    return arguments[2]


@pytest.fixture
def with_init_dockerignore(demo_project):
    (demo_project / ".dockerignore").write_text(render_dockerignore())
    return demo_project


def test_without_an_env_the_pods_run_base_when_the_image_has_no_conf_local(
        with_init_dockerignore):
    result = run_kedro(with_init_dockerignore, "airflow-k8s", "compile")
    assert result.returncode == 0, result.stderr
    assert pod_env(with_init_dockerignore) == "base"
    assert ("Note: the pods run `kedro run --env base`: the project's .dockerignore leaves "
            "conf/local out of the image (by 'conf/local'), and Kedro's default run env is "
            "local; -e names the env they run.") in result.stdout.splitlines()


def test_an_env_the_image_lacks_is_refused_naming_where_it_was_given(with_init_dockerignore):
    result = run_kedro(with_init_dockerignore, "airflow-k8s", "-e", "local", "compile")
    assert_one_line_error(result, 2, f"-e/--env local: {LEFT_OUT}")
    assert not (with_init_dockerignore / "dags").exists()
    result = run_kedro(with_init_dockerignore, "airflow-k8s", "compile",
                       env={"KEDRO_ENV": "local"})
    assert_one_line_error(result, 2, f"KEDRO_ENV=local: {LEFT_OUT}")
    assert not (with_init_dockerignore / "dags").exists()


def test_an_env_of_its_own_runs_as_given(with_init_dockerignore):
    config = yaml.safe_load((with_init_dockerignore / "conf/base/airflow-k8s.yaml").read_text())
    write_config(with_init_dockerignore, config, env="prod")
    result = run_kedro(with_init_dockerignore, "airflow-k8s", "-e", "prod", "compile")
    assert result.returncode == 0, result.stderr
    assert pod_env(with_init_dockerignore) == "prod"
    assert "Note: the pods run" not in result.stdout


def test_without_a_dockerignore_the_default_run_env_is_kept(demo_project):
    result = run_kedro(demo_project, "airflow-k8s", "compile")
    assert result.returncode == 0, result.stderr
    assert pod_env(demo_project) == "local"
    assert "Note: the pods run" not in result.stdout


def test_a_file_brought_back_in_keeps_the_folder_in_the_image(with_init_dockerignore):
    (with_init_dockerignore / "conf/local/parameters.yml").write_text("{}\n")
    with (with_init_dockerignore / ".dockerignore").open("a") as ignore:
        ignore.write("!conf/local/parameters.yml\n")
    result = run_kedro(with_init_dockerignore, "airflow-k8s", "-e", "local", "compile")
    assert result.returncode == 0, result.stderr
    assert pod_env(with_init_dockerignore) == "local"


def test_local_execution_runs_in_the_project_folder_whatever_the_image(with_init_dockerignore):
    result = run_kedro(with_init_dockerignore, "airflow-k8s", "compile", "--execution", "local")
    assert result.returncode == 0, result.stderr
    source = (with_init_dockerignore / "dags" / "demo.py").read_text()
    assert " -m kedro run --env local --pipeline __default__ " in source
    assert "Note: the pods run" not in result.stdout


def test_an_image_without_conf_base_is_refused(demo_project):
    (demo_project / ".dockerignore").write_text("# the whole conf folder stays out\nconf\n")
    result = run_kedro(demo_project, "airflow-k8s", "-e", "base", "compile")
    assert_one_line_error(result, 2, ".dockerignore: 'conf' leaves conf/base out of the image, "
                                     "and every pod's kedro run reads it")


def test_the_projects_own_default_run_env_is_kept_when_the_image_has_it(with_init_dockerignore):
    settings = with_init_dockerignore / "src/demo/settings.py"
    text = settings.read_text()
    assert '"default_run_env": "local"' in text
    settings.write_text(text.replace('"default_run_env": "local"', '"default_run_env": "prod"'))
    (with_init_dockerignore / "conf/prod").mkdir()
    (with_init_dockerignore / "conf/prod/parameters.yml").write_text("{}\n")
    result = run_kedro(with_init_dockerignore, "airflow-k8s", "compile")
    assert result.returncode == 0, result.stderr
    assert pod_env(with_init_dockerignore) == "prod"


def test_dataproc_jobs_never_get_conf_local(demo_project):
    """Dataproc reads the configuration archive upload-pipeline builds, which never holds
    conf/local: a DAG with a Dataproc target runs base without -e, and refuses -e local."""
    config = yaml.safe_load((demo_project / "conf/base/airflow-k8s.yaml").read_text())
    config["run_config"]["spark"] = DATAPROC
    write_config(demo_project, config)
    result = run_kedro(demo_project, "airflow-k8s", "compile")
    assert result.returncode == 0, result.stderr
    assert ("Note: the pods run `kedro run --env base`: conf/local is local configuration, "
            "never uploaded to Dataproc, and Kedro's default run env is local; -e names the "
            "env they run.") in result.stdout.splitlines()
    assert "'--env', 'local'" not in (demo_project / "dags" / "demo.py").read_text()
    result = run_kedro(demo_project, "airflow-k8s", "-e", "local", "compile", "-o", "other")
    assert_one_line_error(result, 2, "-e/--env local: conf/local is local configuration, never "
                                     "uploaded to Dataproc, so every pod's `kedro run --env "
                                     "local` would fail (MissingConfigException): compile with "
                                     "an env the image holds (-e base, or a conf/<env> of its "
                                     "own for the cluster)")
