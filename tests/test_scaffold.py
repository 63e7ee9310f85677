"""`init`: the documented config file and the GitHub Actions workflows."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from kedro_airflow_k8s.config import PluginConfig, parse_config
from kedro_airflow_k8s.scaffold import field_doc, render_config, render_workflow
from tests import airflow_check
from tests.conftest import run_kedro


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


def test_init_with_github_actions(demo_project):
    result = run_kedro(demo_project, "airflow-k8s", "init", "https://airflow.example.com",
                       "--with-github-actions", "--force")
    assert result.returncode == 0, result.stderr
    workflows = sorted((demo_project / ".github" / "workflows").iterdir())
    assert [p.name for p in workflows] == ["on-merge-to-main.yml", "on-push.yml"]
    push = yaml.safe_load(workflows[1].read_text())
    steps = push["jobs"]["run-once"]["steps"]
    assert steps[-1]["run"] == 'kedro airflow-k8s run-once --image "$IMAGE" --wait'
    assert not any("kedro install" in str(step) for step in steps)
    merge = yaml.safe_load(workflows[0].read_text())
    assert merge[True]["push"]["branches"] == ["main"]  # YAML 1.1 reads `on` as True
    assert merge["jobs"]["schedule"]["steps"][-1]["run"].startswith("kedro airflow-k8s schedule")


@pytest.mark.parametrize("name", ["on-push.yml", "on-merge-to-main.yml"])
def test_workflows_pass_the_github_workflow_schema(tmp_path, name):
    checker = shutil.which("check-jsonschema") or str(Path(sys.executable).parent /
                                                      "check-jsonschema")
    path = tmp_path / name
    path.write_text(render_workflow(name, "demo"))
    result = subprocess.run([checker, "--builtin-schema", "vendor.github-workflows",
                             str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "${{ github.sha }}" in path.read_text()


def test_rendered_config_quotes_user_values():
    text = render_config('http://h:8080/"x"', "dags: here", image="a#b", run_name="r")
    config = parse_config(yaml.safe_load(text))
    assert (config.host, config.output, config.run_config.image) == (
        'http://h:8080/"x"', "dags: here", "a#b")
