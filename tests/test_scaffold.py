"""`init`: the documented config file and the GitHub Actions workflows."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from kedro_airflow_k8s.config import PluginConfig, VolumeConfig, parse_config
from kedro_airflow_k8s.scaffold import (
    PluginInstall,
    field_doc,
    plugin_install,
    render_config,
    render_dockerfile,
    render_dockerignore,
    render_workflow,
)
from tests import airflow_check
from tests.conftest import run_kedro, use_kedro_mlflow


def every_key_path(model=PluginConfig, prefix=""):
    for name, field in model.model_fields.items():
        yield f"{prefix}{name}"
        stack = [field.annotation]
        while stack:
            annotation = stack.pop()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                yield from every_key_path(annotation, f"{prefix}{name}.")
            stack.extend(getattr(annotation, "__args__", ()))


def test_init_writes_a_documented_valid_config(demo_project):
    (demo_project / "conf/base/airflow-k8s.yaml").unlink()
    result = run_kedro(demo_project, "airflow-k8s", "init", "https://airflow.example.com",
                       "-o", "gs://bucket/dags")
    assert result.returncode == 0, result.stderr
    text = (demo_project / "conf/base/airflow-k8s.yaml").read_text()
    config = parse_config(yaml.safe_load(text))
    assert config.host == "https://airflow.example.com"
    assert config.output == "gs://bucket/dags"
    assert config.run_config.run_name == "demo"
    # every key is present (set, or commented out as an example) and documented above itself
    for path in every_key_path():
        key = path.rsplit(".", 1)[-1]
        assert re.search(rf"^\s*(#\s*)?(-\s*)?{key}:", text, re.M), f"{path} missing"
        assert f"# {field_doc(path)}" in text, f"{path} undocumented"
    # a pipeline without custom tags compiles with the fresh config as it is
    result = run_kedro(demo_project, "airflow-k8s", "-p", "ingest", "compile")
    assert result.returncode == 0, result.stderr
    airflow_check.validate_all(airflow_check.load_dag(demo_project / "dags" / "demo-ingest.py"))


def test_init_refuses_to_overwrite_without_force(demo_project):
    config = demo_project / "conf/base/airflow-k8s.yaml"
    before = config.read_text()
    result = run_kedro(demo_project, "airflow-k8s", "init", "https://airflow.example.com")
    assert result.returncode == 1
    assert result.stderr.strip() == (f"Error: {config} already exists: pass --force to "
                                     "overwrite")
    assert config.read_text() == before
    result = run_kedro(demo_project, "airflow-k8s", "init", "https://x.example.com", "--force")
    assert result.returncode == 0, result.stderr
    assert 'host: "https://x.example.com"' in config.read_text()


def test_init_refuses_a_host_without_its_scheme_and_later_commands_say_exit_2(demo_project):
    """init wrote `host: airflow.example.com`, which run-once then refused with exit 1."""
    from tests.test_cli import assert_one_line_error

    config = demo_project / "conf/base/airflow-k8s.yaml"
    before = config.read_text()
    for url in ("airflow.example.com", "ftp://airflow.example.com", "https://"):
        result = run_kedro(demo_project, "airflow-k8s", "init", url, "--force")
        assert_one_line_error(result, 2, "AIRFLOW_URL: expected the Airflow URL with http:// "
                                         f"or https://, got {url!r}")
        assert config.read_text() == before
    config.write_text(before.replace('${oc.select:airflow_host,"http://127.0.0.1:8080"}',
                                     "airflow.example.com"))
    for command in ("run-once", "list-pipelines", "compile"):
        result = run_kedro(demo_project, "airflow-k8s", command)
        assert_one_line_error(result, 2, "airflow-k8s.yaml: host: expected the Airflow URL "
                                         "with http:// or https://, got "
                                         "'airflow.example.com'")


def test_init_with_github_actions(demo_project):
    result = run_kedro(demo_project, "airflow-k8s", "init", "https://airflow.example.com",
                       "--with-github-actions", "--force")
    assert result.returncode == 0, result.stderr
    workflows = sorted((demo_project / ".github" / "workflows").iterdir())
    assert [p.name for p in workflows] == ["on-merge-to-main.yml", "on-push.yml"]
    push = yaml.safe_load(workflows[1].read_text())
    steps = push["jobs"]["run-once"]["steps"]
    assert steps[-1]["run"] == 'kedro airflow-k8s run-once -d "$DAG_ID" --image "$IMAGE" --wait'
    assert not any("kedro install" in str(step) for step in steps)
    merge = yaml.safe_load(workflows[0].read_text())
    assert merge[True]["push"]["branches"] == ["main"]  # YAML 1.1 reads `on` as True
    assert merge["jobs"]["schedule"]["steps"][-1]["run"].startswith("kedro airflow-k8s schedule")


WORKFLOW_VARIANTS = [dict(), dict(requirements=False, output="gs://bucket/dags"),
                     dict(output="s3://bucket/dags", dag_id="sales"),
                     dict(plugin=PluginInstall("requirements.txt", "kedro-airflow-k8s>=0.9"))]


@pytest.mark.parametrize("options", WORKFLOW_VARIANTS)
@pytest.mark.parametrize("name", ["on-push.yml", "on-merge-to-main.yml"])
def test_workflows_pass_the_github_workflow_schema(tmp_path, name, options):
    checker = shutil.which("check-jsonschema") or str(Path(sys.executable).parent /
                                                      "check-jsonschema")
    path = tmp_path / name
    path.write_text(render_workflow(name, "demo", **options))
    result = subprocess.run([checker, "--builtin-schema", "vendor.github-workflows",
                             str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "${{ github.sha }}" in path.read_text()


def workflow_steps(name, **options):
    workflow = yaml.safe_load(render_workflow(name, "demo", **options))
    return next(iter(workflow["jobs"].values()))["steps"]


def step_named(steps, prefix):
    return next(step for step in steps if step.get("name", "").startswith(prefix))


def branch_dag_id(tmp_path, branch, **options):
    """Run the on-push step that names the branch's DAG, as GitHub would (bash)."""
    script = step_named(workflow_steps("on-push.yml", **options), "Name the image")["run"]
    github_env = tmp_path / "github_env"
    github_env.write_text("")
    result = subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True,
                            env={"PATH": os.environ["PATH"], "GITHUB_REF_NAME": branch,
                                 "GITHUB_REPOSITORY": "Org/Repo", "GITHUB_SHA": "abc123",
                                 "GITHUB_ENV": str(github_env)})
    assert result.returncode == 0, result.stderr
    values = dict(line.split("=", 1) for line in github_env.read_text().splitlines())
    assert values["IMAGE"] == "ghcr.io/org/repo:abc123"
    return values["DAG_ID"]


@pytest.mark.parametrize("branch", ["feature/Add_Orders", "main2", "x", "___", "ü-branch",
                                    "release/2026.11", "a" * 300, "-lead-and-trail-"])
def test_a_branch_push_runs_its_own_dag_never_mains(tmp_path, branch):
    from airflow.utils.helpers import validate_key

    dag_id = branch_dag_id(tmp_path, branch)
    validate_key(dag_id, max_length=200)  # what run-once's -d accepts (compiler: 200)
    assert dag_id.startswith("demo-branch-") and dag_id != "demo"
    assert "--" not in dag_id.removeprefix("demo-") and not dag_id.endswith("-")
    assert branch_dag_id(tmp_path, branch) == dag_id  # the next push replaces its own DAG
    run = step_named(workflow_steps("on-push.yml"), "Run the pipeline")["run"]
    assert shlex.split(run)[:5] == ["kedro", "airflow-k8s", "run-once", "-d", "$DAG_ID"]


def test_two_branches_get_two_dags(tmp_path):
    ids = {branch_dag_id(tmp_path, b) for b in ("feature/a", "feature/b", "fix-a", "main-x")}
    assert len(ids) == 4


def test_the_main_workflow_schedules_the_default_dag_and_installs_what_the_output_needs():
    steps = workflow_steps("on-merge-to-main.yml", output="gs://bucket/dags")
    assert step_named(steps, "Schedule")["run"] == 'kedro airflow-k8s schedule --image "$IMAGE"'
    from kedro_airflow_k8s import __version__

    install = step_named(steps, "Install")["run"]
    assert install == f'pip install -r requirements.txt "kedro-airflow-k8s[gcp]=={__version__}"'
    steps = workflow_steps("on-push.yml", requirements=False, output="dags")
    assert step_named(steps, "Install")["run"] == \
        f'pip install . "kedro-airflow-k8s=={__version__}"'
    setup = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["cache-dependency-path"] == "pyproject.toml"
    assert setup["with"]["python-version"] == f"{sys.version_info.major}.{sys.version_info.minor}"


def installed_plugin(command):
    """The kedro-airflow-k8s requirement of a `pip install ...` line, None without one."""
    from packaging.requirements import Requirement

    wanted = [Requirement(arg) for arg in shlex.split(command)[2:]
              if arg.startswith("kedro-airflow-k8s")]
    assert len(wanted) <= 1, command
    return wanted[0] if wanted else None


def test_this_version_follows_the_registrys_old_plugin_and_is_what_init_pins():
    """PyPI's kedro-airflow-k8s 0.8.2 and older (0.1.0 among them, from 2021) are the original
    plugin: an install line of init never resolves to one of them."""
    from packaging.version import Version

    from kedro_airflow_k8s import __version__

    assert Version(__version__) >= Version("0.9.0")
    for name, output in (("on-push.yml", "dags"), ("on-merge-to-main.yml", "gs://b/dags")):
        text = render_workflow(name, "demo", output=output)
        wanted = installed_plugin(step_named(workflow_steps(name, output=output),
                                             "Install")["run"])
        assert str(wanted.specifier) == f"=={__version__}"
        assert not wanted.specifier.contains("0.8.2") and not wanted.specifier.contains("0.1.0")
        assert (f"      # kedro-airflow-k8s=={__version__}: the version init ran; "
                "requirements.txt does not name it\n"
                "      - name: Install the project and kedro-airflow-k8s\n") in text
    for mlflow in (True, False):
        line = re.search(r'^#?\s*RUN pip install \. "(kedro-airflow-k8s[^"]*)"',
                         render_dockerfile(mlflow=mlflow), re.M).group(1)
        assert line == f"kedro-airflow-k8s[mlflow]=={__version__}"
    assert (f"# kedro-airflow-k8s=={__version__}: the version init ran; requirements.txt does "
            "not name it\n") in render_dockerfile(mlflow=True)


@pytest.mark.parametrize("line", ["kedro-airflow-k8s>=0.9", "Kedro_Airflow_K8S[gcp] >= 0.9  # ours",
                                  "kedro-airflow-k8s @ file:///opt/wheels/kedro_airflow_k8s.whl"])
def test_a_plugin_the_requirements_name_is_installed_as_they_name_it(demo_project, line):
    (demo_project / "requirements.txt").write_text(f"kedro>=1.0,<2\n{line}\n")
    result = run_kedro(demo_project, "airflow-k8s", "init", "https://airflow.example.com",
                       "-o", "gs://bucket/dags", "--with-github-actions", "--force")
    assert result.returncode == 0, result.stderr
    assert "Note:" not in result.stdout
    for name in ("on-push.yml", "on-merge-to-main.yml"):
        text = (demo_project / ".github/workflows" / name).read_text()
        steps = next(iter(yaml.safe_load(text)["jobs"].values()))["steps"]
        # the version is the requirements file's; the gs:// extra is added to it
        assert step_named(steps, "Install")["run"] == \
            'pip install -r requirements.txt "kedro-airflow-k8s[gcp]"'
        assert "version init ran" not in text
    assert render_workflow("on-push.yml", "demo", plugin=plugin_install(demo_project)).count(
        'run: pip install -r requirements.txt\n') == 1


def test_requirements_included_with_r_count_and_pyproject_counts_without_requirements(
        demo_project):
    (demo_project / "requirements.txt").write_text("-r requirements/base.txt\n")
    (demo_project / "requirements").mkdir()
    (demo_project / "requirements/base.txt").write_text("kedro-airflow-k8s~=0.9.0\n")
    assert plugin_install(demo_project) == PluginInstall("requirements.txt",
                                                         "kedro-airflow-k8s~=0.9.0")
    (demo_project / "requirements.txt").unlink()
    assert plugin_install(demo_project) == PluginInstall("pyproject.toml")  # the demo's
    pyproject = demo_project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(
        'dependencies = ["kedro>=1.0,<2"]',
        'dependencies = ["kedro>=1.0,<2", "kedro-airflow-k8s[mlflow]>=0.9"]'))
    install = plugin_install(demo_project)
    assert install == PluginInstall("pyproject.toml", "kedro-airflow-k8s[mlflow]>=0.9")
    steps = workflow_steps("on-push.yml", requirements=False, plugin=install)
    assert step_named(steps, "Install")["run"] == "pip install ."
    text = render_dockerfile(requirements=False, mlflow=True, plugin=install)
    assert 'RUN pip install . "kedro-airflow-k8s[mlflow]"\n' in text
    assert "version init ran" not in text


def test_requirements_asking_for_the_old_plugin_get_a_note(demo_project):
    from kedro_airflow_k8s import __version__

    (demo_project / "requirements.txt").write_text("kedro-airflow-k8s==0.8.2\n")
    result = run_kedro(demo_project, "airflow-k8s", "init", "https://airflow.example.com",
                       "--force")
    assert result.returncode == 0, result.stderr
    assert (f"Note: requirements.txt asks for 'kedro-airflow-k8s==0.8.2', which excludes "
            f"{__version__}, the version writing these files (0.8.2 and older are the original "
            "plugin, for Kedro < 0.18): ask for >=0.9 there.") in result.stdout.splitlines()


def test_rendered_config_quotes_user_values():
    text = render_config('http://h:8080/"x"', "dags: here", image="123", run_name="r")
    config = parse_config(yaml.safe_load(text))
    assert (config.host, config.output, config.run_config.image) == (
        'http://h:8080/"x"', "dags: here", "123")  # 123: an image YAML reads as a number


# -- the project image ----------------------------------------------------------------------

HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")


@pytest.mark.parametrize("declared", [None, "kedro-airflow-k8s>=0.9"])
@pytest.mark.parametrize("requirements", [True, False])
@pytest.mark.parametrize("mlflow", [False, True])
def test_the_dockerfile_passes_hadolint(tmp_path, requirements, mlflow, declared):
    path = tmp_path / "Dockerfile"
    plugin = PluginInstall("requirements.txt" if requirements else "pyproject.toml", declared)
    path.write_text(render_dockerfile(requirements=requirements, mlflow=mlflow, plugin=plugin))
    result = subprocess.run([HADOLINT, "--no-color", str(path)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    installed = re.search(r'^RUN pip install \. "kedro-airflow-k8s\[mlflow\]', path.read_text(),
                          re.M)
    assert bool(installed) == mlflow


def test_init_writes_the_image_files_once_and_keeps_the_users(demo_project):
    (demo_project / "conf/base/airflow-k8s.yaml").unlink()
    (demo_project / "Dockerfile").write_text("FROM my-own-base\n")
    result = run_kedro(demo_project, "airflow-k8s", "init", "https://airflow.example.com")
    assert result.returncode == 0, result.stderr
    assert (demo_project / "Dockerfile").read_text() == "FROM my-own-base\n"
    assert f"Kept the existing {demo_project / 'Dockerfile'} (--force overwrites it)" in \
        result.stdout
    assert (demo_project / ".dockerignore").read_text() == render_dockerignore()
    result = run_kedro(demo_project, "airflow-k8s", "init", "https://airflow.example.com",
                       "--force")
    assert result.returncode == 0, result.stderr
    # the demo lists its dependencies in pyproject.toml only, and uses no MLflow
    assert (demo_project / "Dockerfile").read_text() == render_dockerfile(requirements=False)


def build_without_docker(text, context, image_root, venv):
    """Carry out a Dockerfile's instructions without a Docker engine (there is none here):
    a fresh venv stands for the base image's Python, COPY honours .dockerignore as Docker
    does (docker-py's implementation), RUN runs with the venv first on PATH."""
    import dockerfile
    from docker.utils.build import exclude_paths

    ignore = [line.strip() for line in (context / ".dockerignore").read_text().splitlines()]
    included = exclude_paths(str(context), [p for p in ignore if p and not p.startswith("#")])
    env = {"PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
           "HOME": str(image_root / "root")}
    env.update({k: v for k, v in os.environ.items() if k.startswith("PIP_")})
    workdir = image_root
    for instruction in dockerfile.parse_string(text):
        cmd, value = instruction.cmd.upper(), instruction.value
        if cmd == "FROM":
            assert value[0] == f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        elif cmd == "ENV":
            env.update(zip(value[::2], value[1::2], strict=True))
        elif cmd == "WORKDIR":
            workdir = image_root / value[0].lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif cmd == "COPY":
            _copy(value, context, workdir, included)
        elif cmd == "RUN" and value[0].startswith("useradd "):
            continue  # would add a user to this machine; the image's user owns files only
        elif cmd == "RUN":
            result = subprocess.run(["bash", "-c", value[0]], cwd=workdir, env=env,
                                    capture_output=True, text=True, timeout=600)
            assert result.returncode == 0, f"{value[0]}: {result.stderr[-2000:]}"
        elif cmd == "USER":
            continue
        else:
            raise AssertionError(f"no emulation for {instruction.original}")
    return workdir, env


def _copy(value, context, workdir, included):
    """A COPY instruction: its sources (`.`: what .dockerignore leaves in) to its target."""
    *sources, target = value
    for source in sources:
        chosen = sorted(included) if source == "." else [source]
        for relative in chosen:
            assert relative in included, f"{relative} is left out by .dockerignore"
            origin, copy = context / relative, workdir / target / relative
            if origin.is_dir():
                copy.mkdir(parents=True, exist_ok=True)
            else:
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, copy)


def test_the_image_init_writes_runs_the_nodes(demo_project, tmp_path):
    """The Dockerfile and .dockerignore of `init`, built without Docker: the project's
    requirements and the project installed into a fresh venv, `kedro` on PATH, conf/ and
    data/ where the pods and the volume's init task expect them, local conf and credentials
    left out. Then a node runs there as a pod runs it."""
    (demo_project / "requirements.txt").write_text("kedro>=1.0,<2\n")
    for relative in ["conf/local/credentials.yml", "conf/local/sub/x.json",
                     "conf/base/credentials.yml", "conf/prod/credentials-extra.yaml",
                     "data/credentials.json"]:
        (demo_project / relative).parent.mkdir(parents=True, exist_ok=True)
        (demo_project / relative).write_text("password: s3cr3t\n")
    (demo_project / "src/demo/db_credentials.py").write_text("SOURCE = 'env'\n")
    (demo_project / "conf/base/airflow-k8s.yaml").unlink()
    result = run_kedro(demo_project, "airflow-k8s", "init", "https://airflow.example.com")
    assert result.returncode == 0, result.stderr
    text = (demo_project / "Dockerfile").read_text()
    assert text == render_dockerfile(requirements=True)

    workdir, env = build_without_docker(text, demo_project, tmp_path / "image",
                                        tmp_path / "venv")
    # the volume's init task copies <mount_path> of the image: WORKDIR/data by default
    assert str(workdir.relative_to(tmp_path / "image") / "data") == \
        VolumeConfig().mount_path.lstrip("/")
    assert (workdir / "data/01_raw/orders.json").is_file()
    assert (workdir / "conf/base/catalog.yml").is_file()
    assert not (workdir / "conf/local").exists()
    shipped = [p.relative_to(workdir).as_posix() for p in workdir.rglob("*") if p.is_file()]
    assert [p for p in shipped if "credentials" in p and not p.endswith(".py")] == []
    assert "src/demo/db_credentials.py" in shipped
    assert (tmp_path / "venv/bin/kedro").is_file()
    # the node pod's own command, as compile wrote it with no -e given
    result = run_kedro(demo_project, "airflow-k8s", "-p", "ingest", "compile")
    assert result.returncode == 0, result.stderr
    dag = airflow_check.load_dag(demo_project / "dags" / "demo-ingest.py")
    pod = dag.get_task("clean_orders")
    assert pod.cmds == ["kedro"] and pod.arguments[:3] == ["run", "--env", "base"]
    arguments = [getattr(a, "value", a) for a in pod.arguments]  # node names are literal()
    if "--params" in arguments:  # Airflow renders it from the run's Params: none changed here
        arguments = arguments[:arguments.index("--params")]
    run = subprocess.run(["kedro", *arguments], cwd=workdir, capture_output=True,
                         text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (workdir / "data/02_intermediate/orders.json").is_file()


def test_with_kedro_mlflow_the_image_gets_the_plugin_and_mlflow(demo_project):
    from kedro_airflow_k8s.context import KedroProject
    from kedro_airflow_k8s.scaffold import write_scaffold

    # the real kedro-mlflow, its mlflow.yml read through Kedro's config loader
    use_kedro_mlflow(demo_project, {"server": {
        "mlflow_tracking_uri": "http://mlflow.example.com"}})
    written = write_scaffold(KedroProject.at(path=demo_project), "https://airflow.example.com",
                             "dags", with_github_actions=False, force=True).written
    assert demo_project / "Dockerfile" in written
    assert (demo_project / "Dockerfile").read_text() == render_dockerfile(requirements=False,
                                                                          mlflow=True)
