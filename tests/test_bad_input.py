"""The bad-input corpus: every broken config exits 2 with one line, no traceback, no file.

Each case is the `airflow-k8s.yaml` a user might write, run through `kedro airflow-k8s
compile` in-process with click's runner (the child-process path is covered in test_cli).
"""

import pytest
import yaml
from click.testing import CliRunner

from kedro_airflow_k8s.cli import commands
from tests.test_config import BAD_CONFIGS, with_run

# (file text, the line the user must see)
CASES = [
    ("", "airflow-k8s.yaml: the file is empty; run `kedro airflow-k8s init --force "
         "AIRFLOW_URL` for a documented template"),
    ("run_config: [image\n", "airflow-k8s.yaml: Invalid YAML or JSON file"),
    ("just some text\n", "airflow-k8s.yaml: run_config: required key is missing (and 1 more)"),
    ("- a\n- b\n", "airflow-k8s.yaml: expected a mapping with run_config at the top level"),
    ("run_config:\n  image: demo:${commit_id}\n", "airflow-k8s.yaml: run_config.image: "
                                                  "Interpolation key 'commit_id' not found"),
    ("run_config:\n  image: ${oc.env:NO_SUCH_VARIABLE_HERE}\n",
     "airflow-k8s.yaml: run_config.image: environment variable 'NO_SUCH_VARIABLE_HERE' is not "
     "set"),
    ("host: ${nope:x}\nrun_config:\n  image: demo\n",
     "airflow-k8s.yaml: host: Unsupported interpolation type nope"),
    (yaml.safe_dump(with_run(resources={"huge": {"requests": {"cpu": "lots"}}})),
     "airflow-k8s.yaml: run_config.resources.huge.requests.cpu: expected a Kubernetes "
     "quantity, got 'lots'"),
    (yaml.safe_dump(with_run(resources={"huge": {"requests": {"memory": "1 GB"}}})),
     "airflow-k8s.yaml: run_config.resources.huge.requests.memory: expected a Kubernetes "
     "quantity, got '1 GB'"),
    (yaml.safe_dump(with_run(resources={"huge": {"node_selectors": ["a"]}})),
     "airflow-k8s.yaml: run_config.resources.huge.node_selectors: Input should be a valid "
     "dictionary"),
    (yaml.safe_dump(with_run(resources={"x": {"tolerations": [{"operator": "Maybe"}]}})),
     "airflow-k8s.yaml: run_config.resources.x.tolerations.0.operator: Input should be "
     "'Exists' or 'Equal', got 'Maybe'"),
    (yaml.safe_dump(with_run(volume={"access_modes": ["ReadWriteSometimes"]})),
     "airflow-k8s.yaml: run_config.volume.access_modes.0: Input should be 'ReadWriteOnce', "
     "'ReadOnlyMany', 'ReadWriteMany' or 'ReadWriteOncePod', got 'ReadWriteSometimes'"),
    (yaml.safe_dump(with_run(volume={"disabled": "maybe"})),
     "airflow-k8s.yaml: run_config.volume.disabled: Input should be a valid boolean, unable "
     "to interpret input"),
    (yaml.safe_dump(with_run(external_dependencies=[{"dag_id": "x", "execution_delta": -5}])),
     "airflow-k8s.yaml: run_config.external_dependencies.0.execution_delta: Input should be "
     "greater than or equal to 0"),
    (yaml.safe_dump(with_run(external_dependencies={"dag_id": "x"})),
     "airflow-k8s.yaml: run_config.external_dependencies: Input should be a valid list"),
    (yaml.safe_dump(with_run(execution="docker")),
     "airflow-k8s.yaml: run_config.execution: Input should be 'kubernetes' or 'local', got "
     "'docker'"),
    (yaml.safe_dump(with_run(local={"pythn": "/usr/bin/python"})),
     "airflow-k8s.yaml: run_config.local.pythn: unknown key"),
    (yaml.safe_dump(with_run(authentication={"type": "Vars", "params": "A,B"})),
     "airflow-k8s.yaml: run_config.authentication.params: Input should be a valid list"),
    (yaml.safe_dump(with_run(spark={"type": "dataproc", "cluster_size": 3})),
     "airflow-k8s.yaml: run_config.spark.cluster_size: unknown key"),
    # the demo's clean_orders reads raw_orders; a tag is not needed for the factory to load
    (yaml.safe_dump(with_run(spark={"type": "custom", "operator_factory": "nowhere.Factory"})),
     "run_config.spark.operator_factory: cannot import nowhere (ModuleNotFoundError: No "
     "module named 'nowhere')"),
    (yaml.safe_dump(with_run(spark={"type": "dataproc", "project_id": "p", "region": "r",
                                    "cluster_name": "c", "artifacts_path": "gs://b/a",
                                    "user_init_path": "ops/init.sh"})),
     "run_config.spark.user_init_path: no file ops/init.sh in the project"),
]
CASES += [(yaml.safe_dump(raw), message) for raw, message in BAD_CONFIGS if raw]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    import shutil

    from tests.conftest import DEMO

    target = tmp_path_factory.mktemp("bad-input") / "demo"
    shutil.copytree(DEMO, target, ignore=shutil.ignore_patterns("dags", "0[2-8]_*"))
    return target


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("text, message", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_bad_config(project, monkeypatch, text, message):
    monkeypatch.chdir(project)
    monkeypatch.delenv("KEDRO_CONFIG_COMMIT_ID", raising=False)
    (project / "conf/base/airflow-k8s.yaml").write_text(text)
    result = CliRunner().invoke(commands, ["airflow-k8s", "compile", "-o", "out"])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert lines[0].startswith(f"Error: {message}"), lines[0]
    assert not (project / "out").exists()
