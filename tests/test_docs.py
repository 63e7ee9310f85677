"""The docs build strictly, and every example in them is real: configs validate against the
model, command lines parse with the plugin's own CLI."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kedro_airflow_k8s.cli import commands
from kedro_airflow_k8s.config import parse_config
from kedro_airflow_k8s.reference import config_reference
from tests.conftest import ROOT
from tests.test_scaffold import every_key_path

PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
FENCE = re.compile(r"^ *```(\w+)\n(.*?)^ *```", re.S | re.M)


def blocks(language):
    for page in PAGES:
        for lang, body in FENCE.findall(page.read_text()):
            if lang == language:
                yield page.name, "\n".join(line.strip() if language == "bash" else line
                                           for line in _dedent(body).splitlines())


def _dedent(body):
    lines = body.splitlines()
    pad = min((len(l) - len(l.lstrip()) for l in lines if l.strip()), default=0)
    return "\n".join(l[pad:] for l in lines)


def test_docs_build_strictly(tmp_path):
    result = subprocess.run([str(Path(sys.executable).parent / "mkdocs"), "build", "--strict",
                             "-d", str(tmp_path / "site")], cwd=ROOT, capture_output=True,
                            text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "site" / "configuration" / "index.html").read_text()
    for path in every_key_path():
        assert path.rsplit(".", 1)[-1] in page, path


def test_reference_lists_every_key():
    shown = {key.replace("[]", "").replace(".&lt;name&gt;", "")
             for key in re.findall(r"^\| `([^`]+)`", config_reference(), re.M)}
    assert shown == set(every_key_path())


CONFIGS = [(page, body) for page, body in blocks("yaml") if "run_config:" in body]


def test_there_are_config_examples():
    assert len(CONFIGS) >= 10


@pytest.mark.parametrize("page, body", CONFIGS, ids=[f"{p}-{i}" for i, (p, _) in
                                                     enumerate(CONFIGS)])
def test_config_examples_validate(page, body):
    parse_config(yaml.safe_load(body))


COMMAND_LINES = [(page, line) for page, body in blocks("bash")
                 for line in body.splitlines() if line.startswith("kedro airflow-k8s")]


def test_there_are_command_examples():
    assert len(COMMAND_LINES) >= 10


@pytest.mark.parametrize("page, line", COMMAND_LINES,
                         ids=[f"{p}-{i}" for i, (p, _) in enumerate(COMMAND_LINES)])
def test_command_examples_parse(page, line):
    args = shlex.split(line.split(" # ")[0])[2:]
    group = commands.get_command(None, "airflow-k8s")
    context = group.make_context("airflow-k8s", args, resilient_parsing=False)
    name = context.protected_args[0] if context.protected_args else context.args[0]
    command = group.get_command(context, name)
    assert command is not None, f"{page}: unknown command in {line!r}"
    rest = (context.protected_args + context.args)[1:]
    command.make_context(name, list(rest), parent=context)


def test_dag_picture_is_current(monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_picture", ROOT / "docs" /
                                                  "make_picture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setenv("KEDRO_CONFIG_COMMIT_ID", "example")
    assert (ROOT / "docs" / "demo-dag.svg").read_text() == module.demo_svg(), (
        "run python docs/make_picture.py")


PYTHON = list(blocks("python"))


@pytest.mark.parametrize("page, body", PYTHON, ids=[f"{p}-{i}" for i, (p, _) in
                                                    enumerate(PYTHON)])
def test_python_examples_run(page, body):
    exec(compile(body, page, "exec"), {})


def test_the_image_page_shows_the_dockerfile_init_writes_and_explains_each_line():
    import importlib.util

    from kedro_airflow_k8s.scaffold import render_dockerfile, render_dockerignore

    spec = importlib.util.spec_from_file_location("hooks", ROOT / "docs" / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    source = (ROOT / "docs" / "project-image.md").read_text()
    page = hooks.image_files_markdown(source)
    dockerfile = render_dockerfile(requirements=True, mlflow=False, python="3.11")
    assert f"```dockerfile\n{dockerfile}```" in page
    assert f"```text\n{render_dockerignore()}```" in page
    instructions = [line for line in dockerfile.splitlines()
                    if line and not line.startswith((" ", "#"))]
    for line in instructions:
        if not line.startswith("ENV"):
            assert f"`{line}`" in source, f"the page does not explain {line!r}"
