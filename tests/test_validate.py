"""`--validate`: the preflight that runs Airflow's DagBag and the Kubernetes schema."""

import sys

import pytest
import yaml

from kedro_airflow_k8s import validate as preflight
from kedro_airflow_k8s.errors import CompileError
from tests.conftest import run_kedro, write_config


def test_compile_validate_passes_the_demo(demo_project):
    result = run_kedro(demo_project, "airflow-k8s", "compile", "--validate",
                       "--k8s-version", "1.35")
    assert result.returncode == 0, result.stderr
    assert ("Validated demo: Airflow imports it, every pod fits Kubernetes 1.35."
            in result.stdout)
    assert (demo_project / "dags" / "demo.py").exists()


def test_compile_validate_names_the_task_and_writes_nothing(demo_project):
    config = yaml.safe_load((demo_project / "conf/base/airflow-k8s.yaml").read_text())
    config["run_config"]["kubernetes_pod_templates"]["gpu"]["template"] = {
        "apiVersion": "v1", "kind": "Pod",
        "spec": {"containers": [{"name": "base", "ports": [{"containerPort": "http"}]}]}}
    write_config(demo_project, config)
    result = run_kedro(demo_project, "airflow-k8s", "compile", "--validate")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "Error: --validate: demo.py: task train: cannot build the pod: ValueError: invalid "
        "literal for int() with base 10: 'http'")
    assert not (demo_project / "dags").exists()


def test_import_errors_are_reported(tmp_path):
    with pytest.raises(CompileError) as error:
        preflight.validate_text("from airflow.sdk import DAG\nDAG(\n", "broken.py", "1.37")
    assert str(error.value).startswith("--validate: broken.py: import error: ")
    assert "SyntaxError" in str(error.value)


def test_schema_problems_name_the_field():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "base", "image": "i", "args": "not-a-list"}]}}
    problems = preflight.schema_problems(pod, "1.37")
    assert problems == ["spec.containers.0.args: 'not-a-list' is not of type 'array', 'null'"]
    pod["spec"]["containers"][0]["args"] = ["ok"]
    pod["spec"]["bogus"] = True
    assert preflight.schema_problems(pod, "1.37")[0].startswith("spec: Additional properties")


def test_without_the_extra_a_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "kubernetes_validate", None)
    with pytest.raises(CompileError) as error:
        preflight.default_k8s_version()
    assert str(error.value) == ("--validate needs the 'validate' extra: run pip install "
                                "'kedro-airflow-k8s[validate]'")


def _pod_template(*, metadata=None, spec=None, container=None):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata or {},
            "spec": {**(spec or {}), "containers": [{"name": "base", **(container or {})}]}}


# Each case: config that passes the config model and builds pods that pass the OpenAPI
# schema, but that the API server refuses (pkg/apis/core/validation/validation.go); the
# expected problem of task "n" (or of the volume claim).
API_SERVER_RULES = {
    "pod name (ValidatePodName)": (
        {"template": _pod_template(metadata={"name": "Train_Pod"})}, {},
        "n", "metadata.name: must consist of lowercase letters, digits, '-' and '.', and start "
             "and end with a letter or digit (a DNS-1123 subdomain)"),
    "label key (IsQualifiedName)": (
        {"template": _pod_template(metadata={"labels": {"team/a/b": "x"}})}, {},
        "n", "metadata.labels.team/a/b: must be a name with an optional DNS subdomain prefix "
             "and '/' (like 'example.com/MyName')"),
    "label value (IsValidLabelValue)": (
        {"template": _pod_template(metadata={"labels": {"team": "data science"}})}, {},
        "n", "metadata.labels.team: value 'data science' must be empty or consist of letters, "
             "digits, '-', '_' or '.', and start and end with a letter or digit"),
    "annotation key (ValidateAnnotations)": (
        {"template": _pod_template(metadata={"annotations": {"note:x": "y"}})}, {},
        "n", "metadata.annotations.note:x: the name part must consist of letters, digits, "
             "'-', '_' or '.', and start and end with a letter or digit"),
    "annotation size (TotalAnnotationSizeLimitB)": (
        {"template": _pod_template(metadata={"annotations": {"blob": "x" * 262144}})}, {},
        "n", "metadata.annotations: 262172 bytes in all, more than the 262144 Kubernetes "
             "allows"),
    "duplicate volume (ValidateVolumes)": (
        {"template": _pod_template(spec={"volumes": [{"name": "kedro-data", "emptyDir": {}}]})},
        {"volume": {}},
        "n", "spec.volumes.1.name: 'kedro-data' is used by another volume of the pod"),
    "volume name (IsDNS1123Label)": (
        {"template": _pod_template(spec={"volumes": [{"name": "Scratch", "emptyDir": {}}]})}, {},
        "n", "spec.volumes.0.name: must consist of lowercase letters, digits and '-', and "
             "start and end with a letter or digit (a DNS-1123 label)"),
    "mount of no volume (ValidateVolumeMounts)": (
        {"template": _pod_template(container={"volumeMounts": [
            {"name": "cache", "mountPath": "/cache"}]})}, {},
        "n", "spec.containers.0.volumeMounts.0.name: no volume 'cache' in the pod"),
    "duplicate mount path (ValidateVolumeMounts)": (
        {"template": _pod_template(spec={"volumes": [{"name": "a", "emptyDir": {}},
                                                     {"name": "b", "emptyDir": {}}]},
                                   container={"volumeMounts": [
                                       {"name": "a", "mountPath": "/x"},
                                       {"name": "b", "mountPath": "/x"}]})}, {},
        "n", "spec.containers.0.volumeMounts.1.mountPath: '/x' is used by another mount"),
    "env var name (validateEnvVarName)": (
        None, {"env_vars": {"A=B": "1"}},
        "n", "spec.containers.0.env.0.name: must consist of printable ASCII characters other "
             "than '='"),
    "secret key (IsConfigMapKey)": (
        {"template": _pod_template(container={"env": [{"name": "TOKEN", "valueFrom": {
            "secretKeyRef": {"name": "s", "key": "../token"}}}]})}, {},
        "n", "spec.containers.0.env.0.valueFrom.secretKeyRef.key: must consist of letters, "
             "digits, '-', '_' or '.' (at most 253), and not be or start with '..'"),
    "request above limit (ValidateResourceRequirements)": (
        {"template": _pod_template(container={"resources": {"requests": {"cpu": "4"},
                                                            "limits": {"cpu": "2"}}})}, {},
        "n", "spec.containers.0.resources: requests.cpu: 4 must be at most limits.cpu 2"),
    "gpu request without limit (IsOvercommitAllowed)": (
        {"template": _pod_template(container={"resources": {
            "requests": {"nvidia.com/gpu": "1"}}})}, {},
        "n", "spec.containers.0.resources: requests.nvidia.com/gpu: needs "
             "limits.nvidia.com/gpu set to the same amount (nvidia.com/gpu cannot be "
             "overcommitted)"),
    "quantity (ParseQuantity)": (
        {"template": _pod_template(container={"resources": {"limits": {"memory": "1 Gi"}}})},
        {}, "n", "spec.containers.0.resources: limits.memory: expected a Kubernetes quantity, "
                 "got '1 Gi'"),
    "toleration Exists with a value (validateTolerations)": (
        {"template": _pod_template(spec={"tolerations": [
            {"key": "gpu", "operator": "Exists", "value": "yes"}]})}, {},
        "n", "spec.tolerations.0: value: must be empty when operator is Exists"),
    "toleration effect (validateTolerations)": (
        {"template": _pod_template(spec={"tolerations": [
            {"key": "gpu", "effect": "NoRun"}]})}, {},
        "n", "spec.tolerations.0: effect: must be one of NoSchedule, PreferNoSchedule, "
             "NoExecute, got 'NoRun'"),
    "node selector (ValidateLabels)": (
        {"template": _pod_template(spec={"nodeSelector": {"pool": "high mem"}})}, {},
        "n", "spec.nodeSelector.pool: value 'high mem' must be empty or consist of letters, "
             "digits, '-', '_' or '.', and start and end with a letter or digit"),
    "service account (ValidateServiceAccountName)": (
        None, {"service_account_name": "Kedro_Runner"},
        "n", "spec.serviceAccountName: must consist of lowercase letters, digits, '-' and '.', "
             "and start and end with a letter or digit (a DNS-1123 subdomain)"),
    "container names (validateContainers)": (
        {"template": {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [
            {"name": "base"}, {"name": "base", "image": "sidecar:1"}]}}}, {},
        "n", "spec.containers.1.name: 'base' is used by another container"),
    "port name (IsValidPortName)": (
        {"template": _pod_template(container={"ports": [{"containerPort": 8080,
                                                         "name": "HTTP"}]})}, {},
        "n", "spec.containers.0.ports.0.name: must be at most 15 lowercase letters, digits "
             "and '-', with a letter, without '-' at the ends or '--'"),
}


@pytest.mark.parametrize("template, run, task_id, problem", API_SERVER_RULES.values(),
                         ids=API_SERVER_RULES.keys())
def test_api_server_rules_the_schema_misses_are_reported(tmp_path, template, run, task_id,
                                                         problem):
    from kedro.pipeline import Pipeline, node

    from tests import airflow_check
    from tests.test_config import with_run
    from tests.test_render import compiled, identity, write

    raw = with_run(**{"volume": {"disabled": True}, **run},
                   kubernetes_pod_templates={"t": template} if template else {})
    tags = ["k8s_template.t"] if template else []
    spec = compiled(Pipeline([node(identity, "a", "b", name="n", tags=tags)]), raw)
    path = write(tmp_path, spec)
    dag = airflow_check.load_dag(path)
    built = preflight.manifest(dag, dag.get_task(task_id))
    assert preflight.schema_problems(built, "1.37") == []  # the schema alone lets it through
    problems = preflight.check_file(path, "1.37")
    assert f"task {task_id}: {problem}" in problems


# The config refuses these claims already (volume.size, volume.storageclass): --validate still
# catches them in a file edited by hand or written by another version, as the API server would.
CLAIM_RULES = {
    "claim size (ValidatePositiveQuantityValue)": (
        ("'storage': '1Gi'", "'storage': '0'"),
        "spec.resources.requests.storage: must be greater than 0"),
    "storage class (ValidateClassName)": (
        ("'spec': {'accessModes'", "'spec': {'storageClassName': 'Fast_SSD', 'accessModes'"),
        "spec.storageClassName: must consist of lowercase letters, digits, '-' and '.', and "
        "start and end with a letter or digit (a DNS-1123 subdomain)"),
}


@pytest.mark.parametrize("edit, problem", CLAIM_RULES.values(), ids=CLAIM_RULES.keys())
def test_claim_rules_are_reported_in_an_edited_file(tmp_path, edit, problem):
    from kedro.pipeline import Pipeline, node

    from tests.test_config import with_run
    from tests.test_render import compiled, identity, write

    path = write(tmp_path, compiled(Pipeline([node(identity, "a", "b", name="n")]),
                                    with_run()))
    old, new = edit
    assert path.read_text().count(old) == 1
    path.write_text(path.read_text().replace(old, new))
    assert f"task create-data-volume: {problem}" in preflight.check_file(path, "1.37")


def test_an_image_with_spaces_is_reported_in_an_edited_file(tmp_path):
    """validateContainersCommon: the config refuses such an image already (its reference
    grammar); --validate still catches it in a file edited by hand."""
    from kedro.pipeline import Pipeline, node

    from tests import airflow_check
    from tests.test_config import MINIMAL, with_run
    from tests.test_render import compiled, identity, write

    path = write(tmp_path, compiled(Pipeline([node(identity, "a", "b", name="n")]),
                                    with_run(volume={"disabled": True})))
    image = MINIMAL["run_config"]["image"]
    assert path.read_text().count(repr(image)) == 1
    path.write_text(path.read_text().replace(repr(image), repr(image + " ")))
    dag = airflow_check.load_dag(path)
    assert preflight.schema_problems(preflight.manifest(dag, dag.get_task("n")), "1.37") == []
    assert ("task n: spec.containers.0.image: is required, without leading or trailing spaces"
            in preflight.check_file(path, "1.37"))


def test_the_api_server_rules_run_in_compile_validate(demo_project):
    config = yaml.safe_load((demo_project / "conf/base/airflow-k8s.yaml").read_text())
    config["run_config"]["kubernetes_pod_templates"]["gpu"]["template"] = _pod_template(
        metadata={"labels": {"team": "data science"}})
    write_config(demo_project, config)
    result = run_kedro(demo_project, "airflow-k8s", "compile", "--validate",
                       "--k8s-version", "1.35")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "Error: --validate: demo.py: task train: metadata.labels.team: value 'data science' "
        "must be empty or consist of letters, digits, '-', '_' or '.', and start and end with "
        "a letter or digit")
    assert not (demo_project / "dags").exists()


def test_schedule_validates_before_uploading(demo_project, tmp_path):
    out = tmp_path / "dags"
    result = run_kedro(demo_project, "airflow-k8s", "schedule", "-c", "@continuous",
                       "-o", str(out), "--validate", "--k8s-version", "1.35")
    assert result.returncode == 0, result.stderr
    assert ("Validated demo: Airflow imports it, every pod fits Kubernetes 1.35."
            in result.stdout)
    assert "max_active_runs=1" in (out / "demo.py").read_text()


def test_the_plugins_list_of_context_names_is_the_installed_airflows(demo_project, tmp_path):
    """compile checks macro_params against a hand-kept list (it must not import Airflow):
    the list is exactly what Airflow's own RuntimeTaskInstance gives a task's templates."""
    from kedro_airflow_k8s.airflow_context import (
        ASSET_CONTEXT_KEYS,
        CONTEXT_KEYS,
        LOGICAL_DATE_KEYS,
        REMOVED,
    )
    from kedro_airflow_k8s.compiler import compile_project
    from kedro_airflow_k8s.context import KedroProject
    from kedro_airflow_k8s.render import render_dag
    from tests import airflow_check

    path = tmp_path / "demo.py"
    path.write_text(render_dag(compile_project(KedroProject.at(path=demo_project))))
    dag = airflow_check.load_dag(path)
    context = preflight.template_context(dag.get_task("train"))
    assert set(context) == CONTEXT_KEYS | ASSET_CONTEXT_KEYS  # train writes an asset
    assert set(preflight.template_context(dag.get_task("create-data-volume"))) == CONTEXT_KEYS
    assert CONTEXT_KEYS.isdisjoint(REMOVED)
    # what a run without a logical date (a schedule on data starts them) lacks
    undated = preflight.template_context(dag.get_task("create-data-volume"), dated=False)
    assert CONTEXT_KEYS - set(undated) == LOGICAL_DATE_KEYS


def test_validate_renders_with_airflows_context_only(demo_project):
    """A DAG file using an Airflow 2 name (written by hand or by an older plugin) fails the
    preflight, as it would fail every task on Airflow 3."""
    from kedro_airflow_k8s.compiler import compile_project
    from kedro_airflow_k8s.context import KedroProject
    from kedro_airflow_k8s.render import render_dag

    text = render_dag(compile_project(KedroProject.at(path=demo_project)))
    passed = "ds={{ (ds if ds is defined else dag_run.run_after | ds) | kedro_param }}"
    assert passed in text
    with pytest.raises(CompileError) as error:
        preflight.validate_text(text.replace(passed, "ds={{ prev_ds | kedro_param }}"),
                                "demo.py", "1.37")
    assert "'prev_ds' is undefined" in str(error.value)
