"""The docs build strictly, and every example in them is real: configs validate against the
model, command lines parse with the plugin's own CLI."""

import json
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
    pad = min((len(line) - len(line.lstrip()) for line in lines if line.strip()), default=0)
    return "\n".join(line[pad:] for line in lines)


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


def test_reference_names_the_types_users_write():
    rows = {row.split(" | ")[0]: row.split(" | ")[1]
            for row in config_reference().splitlines()[2:]}
    assert "Annotated" not in config_reference()
    assert rows["| `run_config.dagrun_timeout`"] == "duration \\| null"
    assert rows["| `run_config.task_settings.&lt;name&gt;.pool`"] == "string \\| null"


CONFIGS = [(page, body) for page, body in blocks("yaml") if "run_config:" in body]


def test_there_are_config_examples():
    assert len(CONFIGS) >= 10


@pytest.mark.parametrize("page, body", CONFIGS, ids=[f"{p}-{i}" for i, (p, _) in
                                                     enumerate(CONFIGS)])
def test_config_examples_validate(page, body):
    # Kedro's loader resolves ${...} before the plugin validates: a plain value stands in
    # (a URL where the key is the Airflow host)
    body = re.sub(r"^host: \$\{[^{}]*\}", "host: https://v1", body, flags=re.M)
    parse_config(yaml.safe_load(re.sub(r"\$\{[^{}]*\}", "v1", body)))


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


def test_watched_run_picture_is_current():
    """docs/watched-run.svg draws docs/watched-run.json, a watched run Airflow recorded."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_watched_picture", ROOT / "docs" /
                                                  "make_watched_picture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "watched-run.svg").read_text() == module.watched_svg(), (
        "run python docs/make_watched_picture.py")
    recorded = json.loads((ROOT / "docs" / "watched-run.json").read_text())
    producers = [ti for ti in recorded if ti["task_id"].startswith("run__")]
    assert len(producers) == 1 and len(recorded) == 31  # 30 nodes and the producer
    assert {ti["state"] for ti in recorded} == {"success"}
    # what the page says it shows: node tasks ended one by one while the producer ran
    ended = sorted(ti["end_date"] for ti in recorded if ti not in producers)
    assert sum(end < producers[0]["end_date"] for end in ended) >= 20, recorded


PYTHON = list(blocks("python"))


@pytest.mark.parametrize("page, body", PYTHON, ids=[f"{p}-{i}" for i, (p, _) in
                                                    enumerate(PYTHON)])
def test_python_examples_run(page, body):
    exec(compile(body, page, "exec"), {})


# 0.8 examples the docs show as "before": tagged ```yaml08, which the config test above skips.
OLD_CONFIGS = list(blocks("yaml08"))


def test_there_are_0_8_examples():
    assert len(OLD_CONFIGS) >= 2


@pytest.mark.parametrize("page, body", OLD_CONFIGS, ids=[f"{p}-{i}" for i, (p, _) in
                                                         enumerate(OLD_CONFIGS)])
def test_0_8_examples_are_refused(page, body):
    """What the migration page says no longer works is refused when the file is read."""
    from kedro_airflow_k8s.errors import ConfigError

    with pytest.raises(ConfigError):
        parse_config(yaml.safe_load(body))


# Kubernetes manifests in the docs (RBAC, namespaces, service accounts): ```yaml blocks with
# apiVersion that are not plugin configs.
MANIFESTS = [(page, doc) for page, body in blocks("yaml")
             if "apiVersion:" in body and "run_config:" not in body
             for doc in yaml.safe_load_all(body) if doc]
OLDEST_K8S, NEWEST_K8S = "1.33", "1.37"


def test_there_are_manifest_examples():
    assert {doc["kind"] for _, doc in MANIFESTS} >= {"Role", "RoleBinding", "ServiceAccount"}


@pytest.mark.parametrize("page, manifest", MANIFESTS,
                         ids=[f"{p}-{m['kind']}-{i}" for i, (p, m) in enumerate(MANIFESTS)])
@pytest.mark.parametrize("version", [OLDEST_K8S, NEWEST_K8S])
def test_manifest_examples_validate(page, manifest, version):
    from kedro_airflow_k8s.validate import schema_problems

    assert schema_problems(manifest, version) == [], (page, manifest["kind"])


def _provider_calls() -> set[tuple[str, str]]:
    """(resource, verb) of every core API call the pod operator makes, read from the
    installed cncf-kubernetes provider: its operator, pod manager and async hook (deferrable
    tasks), so that a provider upgrade calling something new fails this test."""
    import airflow.providers.cncf.kubernetes as provider

    root = Path(provider.__file__).parent
    hook = (root / "hooks" / "kubernetes.py").read_text()
    sources = [(root / "operators" / "pod.py").read_text(),
               (root / "utils" / "pod_manager.py").read_text(),
               hook[hook.index("class AsyncKubernetesHook"):]]
    verbs = {"create": "create", "read": "get", "list": "list", "patch": "patch",
             "delete": "delete", "replace": "update", "connect_get": "get",
             "connect_post": "create"}
    resources = {"pod": "pods", "pod_log": "pods/log", "pod_exec": "pods/exec",
                 "event": "events"}
    call = re.compile(r"(\.stream\(\s*)?\b\w+\.(create|read|list|patch|delete|replace|"
                      r"connect_get|connect_post)_namespaced_(pod_log|pod_exec|pod|event)\b")
    found = set()
    for source in sources:
        for streamed, verb, kind in call.findall(source):
            found.add((resources[kind], verbs[verb]))
            if streamed and verb == "list":
                found.add((resources[kind], "watch"))
    return found


def test_docs_role_covers_what_the_operators_call():
    role = next(doc for _, doc in MANIFESTS if doc["kind"] == "Role")
    granted = {(resource, verb) for rule in role["rules"] if rule["apiGroups"] == [""]
               for resource in rule["resources"] for verb in rule["verbs"]}
    needed = _provider_calls()
    assert ("pods", "create") in needed and ("pods/exec", "get") in needed  # the scan works
    # The resource operators create and delete the volume claim from its YAML
    # (kubernetes.utils.create_from_yaml / the provider's delete_from_yaml); newer API servers
    # authorize the exec WebSocket the XCom sidecar is read through as `create`.
    needed |= {("persistentvolumeclaims", "create"), ("persistentvolumeclaims", "delete"),
               ("pods/exec", "create")}
    assert needed - granted == set()
    page = (ROOT / "docs" / "deploy.md").read_text()
    for resource, verb in needed:  # each grant is explained on the page
        assert re.search(rf"^\| `{re.escape(resource)}` \| [^|]*`{verb}`", page, re.M), (
            resource, verb)


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


def _plugin_installs():
    """(page, requirement) for every `pip install` of this plugin the pages show."""
    found = []
    for page in [*PAGES, ROOT / "CHANGELOG.md"]:
        text = re.sub(r"\s+", " ", page.read_text())
        for command in re.findall(r"pip install ([^`#\n]*)", text):
            args = shlex.split(command.split(" && ")[0])
            if "." in args or "-r" in args:
                continue  # with the project's own dependencies, which may name the version
            found += [(page.name, arg) for arg in args
                      if arg.lower().startswith("kedro-airflow-k8s")]
    return found


def test_there_are_install_lines():
    assert len(_plugin_installs()) >= 8


@pytest.mark.parametrize("page, argument", _plugin_installs())
def test_every_install_line_installs_this_plugin_not_pypis_old_one(page, argument):
    """PyPI's kedro-airflow-k8s 0.8.2 and older are the original plugin (Kedro < 0.18)."""
    from packaging.requirements import Requirement

    from kedro_airflow_k8s import __version__

    specifier = Requirement(argument).specifier
    assert specifier.contains(__version__) and not specifier.contains("0.8.2"), argument


def test_pinned_examples_name_this_version():
    from kedro_airflow_k8s import __version__

    pins = {pin for page in PAGES
            for pin in re.findall(r"kedro-airflow-k8s(?:\[\w+\])?==([\w.]+)", page.read_text())}
    assert pins == {__version__}


def test_the_local_airflow_section_sets_what_the_demo_sets():
    """docs/local-execution.md walks a user through what examples/demo.sh (run end to end by
    tests/e2e/test_demo.py) does: the same Airflow settings and the same password file."""
    demo = (ROOT / "examples" / "demo.sh").read_text()
    page = (ROOT / "docs" / "local-execution.md").read_text()
    settings = set(re.findall(r"\b(AIRFLOW__\w+)=", demo))
    assert {"AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL"} <= settings
    assert {s for s in settings if f"export {s}=" not in page} == set()
    assert "simple_auth_manager_passwords.json.generated" in demo
    assert "$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated" in page


def test_compatibility_names_validates_default_kubernetes_version():
    from kedro_airflow_k8s.validate import default_k8s_version

    page = (ROOT / "docs" / "compatibility.md").read_text()
    assert f"| Kubernetes schema | {default_k8s_version()} (`--validate`'s default;" in page
