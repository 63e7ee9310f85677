"""`kedro airflow-k8s ...` run in a child process, exactly as a user types it."""

import errno
import os
import re
import stat

import pytest
import yaml

from tests import airflow_check
from tests.conftest import ROOT, run_kedro, write_config

COMMANDS = ["backfill", "compile", "init", "list-pipelines", "run-once", "schedule", "ui",
            "upload-pipeline"]


def assert_one_line_error(result, code, text):
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert lines == [f"Error: {text}"], result.stderr


def test_help_lists_the_eight_commands(demo_project):
    result = run_kedro(demo_project, "airflow-k8s", "--help")
    assert result.returncode == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines()
              if line.strip()]
    assert listed == COMMANDS
    assert "-e, --env" in result.stdout and "-p, --pipeline" in result.stdout


def test_compile_writes_the_dag_airflow_imports(demo_project):
    result = run_kedro(demo_project, "airflow-k8s", "compile")
    assert result.returncode == 0, result.stderr
    path = demo_project / "dags" / "demo.py"
    assert "Wrote dags/demo.py (10 tasks)." in result.stdout
    dag = airflow_check.load_dag(path)
    assert len(dag.tasks) == 10
    first = path.read_bytes()
    assert run_kedro(demo_project, "airflow-k8s", "compile").returncode == 0
    assert path.read_bytes() == first  # deterministic, byte for byte


def test_compile_options(demo_project, tmp_path):
    out = tmp_path / "elsewhere"
    result = run_kedro(demo_project, "airflow-k8s", "-e", "base", "-p", "ingest", "compile",
                       "--image", "registry.example.com/demo:2", "-o", str(out))
    assert result.returncode == 0, result.stderr
    source = (out / "demo-ingest.py").read_text()
    assert "image='registry.example.com/demo:2'" in source
    dag = airflow_check.load_dag(out / "demo-ingest.py")
    assert dag.dag_id == "demo-ingest"
    assert dag.get_task("clean_orders").arguments[:6] == [
        "run", "--env", "base", "--pipeline", "ingest", "--nodes"]
    assert {t.task_id for t in dag.tasks} >= {"clean_orders", "count_customers"}
    assert "train" not in {t.task_id for t in dag.tasks}


def test_each_pipeline_gets_its_own_dag_unless_named(demo_project):
    assert run_kedro(demo_project, "airflow-k8s", "compile").returncode == 0
    result = run_kedro(demo_project, "airflow-k8s", "-p", "features", "compile")
    assert result.returncode == 0, result.stderr
    assert "Wrote dags/demo-features.py" in result.stdout
    default = airflow_check.load_dag(demo_project / "dags" / "demo.py")
    features = airflow_check.load_dag(demo_project / "dags" / "demo-features.py")
    assert (default.dag_id, features.dag_id) == ("demo", "demo-features")
    assert len(features.tasks) < len(default.tasks)
    result = run_kedro(demo_project, "airflow-k8s", "-p", "features", "compile", "-d", "feat")
    assert result.returncode == 0, result.stderr
    assert airflow_check.load_dag(demo_project / "dags" / "feat.py").dag_id == "feat"
    result = run_kedro(demo_project, "airflow-k8s", "-p", "features", "ui",
                       env={"BROWSER": "true"})
    assert result.stdout.strip().splitlines()[-1] == "http://127.0.0.1:8080/dags/demo-features"
    result = run_kedro(demo_project, "airflow-k8s", "compile", "-d", "bad name")
    assert_one_line_error(result, 2, "--dag-name: 'bad name' is not a valid Airflow DAG id "
                                     "(letters, digits, '_', '-', '.'; at most 200)")


def test_env_var_selects_the_env(demo_project):
    config = yaml.safe_load((demo_project / "conf/base/airflow-k8s.yaml").read_text())
    config["run_config"]["run_name"] = "demo-prod"
    write_config(demo_project, config, env="prod")
    result = run_kedro(demo_project, "airflow-k8s", "compile", env={"KEDRO_ENV": "prod"})
    assert result.returncode == 0, result.stderr
    dag = airflow_check.load_dag(demo_project / "dags" / "demo-prod.py")
    assert dag.get_task("clean_orders").arguments[:3] == ["run", "--env", "prod"]


def test_bad_config_exits_2_with_one_line_and_writes_nothing(demo_project):
    config = yaml.safe_load((demo_project / "conf/base/airflow-k8s.yaml").read_text())
    config["run_config"]["resources"]["huge"]["requests"]["cpu"] = "lots"
    write_config(demo_project, config)
    result = run_kedro(demo_project, "airflow-k8s", "compile")
    assert_one_line_error(result, 2, "airflow-k8s.yaml: run_config.resources.huge.requests.cpu:"
                                     " expected a Kubernetes quantity, got 'lots'")
    assert not (demo_project / "dags").exists()


def test_missing_config_points_at_init(demo_project):
    (demo_project / "conf/base/airflow-k8s.yaml").unlink()
    result = run_kedro(demo_project, "airflow-k8s", "compile")
    assert_one_line_error(result, 2, "no airflow-k8s.yaml in conf/ for env 'local': run "
                                     "`kedro airflow-k8s init AIRFLOW_URL` to create one")


def test_compile_error_keeps_the_previous_dag(demo_project):
    assert run_kedro(demo_project, "airflow-k8s", "compile").returncode == 0
    before = (demo_project / "dags" / "demo.py").read_bytes()
    config = yaml.safe_load((demo_project / "conf/base/airflow-k8s.yaml").read_text())
    del config["run_config"]["resources"]["huge"]
    write_config(demo_project, config)
    result = run_kedro(demo_project, "airflow-k8s", "compile")
    assert_one_line_error(result, 2, "node 'train': tag 'resources.huge' names no "
                                     "run_config.resources entry (known: __default__)")
    assert (demo_project / "dags" / "demo.py").read_bytes() == before


def test_grouping_prints_a_line_per_shared_task_and_refuses_a_malformed_group_tag(demo_project):
    config = yaml.safe_load((demo_project / "conf/base/airflow-k8s.yaml").read_text())
    config["run_config"]["grouping"] = "namespace"
    write_config(demo_project, config)
    result = run_kedro(demo_project, "airflow-k8s", "compile")
    assert result.returncode == 0, result.stderr
    assert "One task runs features.daily_totals, features.scale (namespace features)." in \
        result.stdout.splitlines()
    modelling = demo_project / "src/demo/pipelines/modelling/__init__.py"
    modelling.write_text(modelling.read_text().replace(
        'name="report"', 'name="report", tags=["kedro-airflow-k8s.group."]'))
    before = (demo_project / "dags" / "demo.py").read_bytes()
    result = run_kedro(demo_project, "airflow-k8s", "compile")
    assert_one_line_error(result, 2, "node 'report': tag 'kedro-airflow-k8s.group.' is not "
                                     "kedro-airflow-k8s.group.<name> (letters, digits, '_', "
                                     "'-', dots between them); fix or remove the tag")
    assert (demo_project / "dags" / "demo.py").read_bytes() == before


def test_unwritable_output_is_one_line(demo_project, monkeypatch):
    """In-process, with the refusal injected: root writes into read-only directories."""
    from click.testing import CliRunner

    from kedro_airflow_k8s.cli import commands

    out = demo_project / "dags"
    out.mkdir()
    out.chmod(stat.S_IRUSR | stat.S_IXUSR)
    real_open = os.open

    def refuse(path, *args, **kwargs):
        if os.path.dirname(os.path.abspath(path)) == str(out):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return real_open(path, *args, **kwargs)

    monkeypatch.chdir(demo_project)
    monkeypatch.setattr(os, "open", refuse)
    result = CliRunner().invoke(commands, ["airflow-k8s", "compile"])
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == "Error: cannot write dags/demo.py: Permission denied"
    assert list(out.iterdir()) == []


def test_output_that_is_a_file_is_a_usage_error(demo_project):
    (demo_project / "dags").write_text("not a directory")
    result = run_kedro(demo_project, "airflow-k8s", "compile")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().endswith(
        "Error: Invalid value for '-o' / '--output': Directory 'dags' is a file.")
    assert (demo_project / "dags").read_text() == "not a directory"


def test_output_under_a_file_is_one_line(demo_project):
    (demo_project / "blocker").write_text("a file")
    result = run_kedro(demo_project, "airflow-k8s", "compile", "-o", "blocker/dags")
    assert result.returncode == 1, result.stderr
    assert_one_line_error(result, 1, "cannot write blocker/dags/demo.py: Not a directory")
    assert (demo_project / "blocker").read_text() == "a file"


def test_unknown_pipeline_is_one_line(demo_project):
    result = run_kedro(demo_project, "airflow-k8s", "-p", "nope", "compile")
    assert_one_line_error(result, 2, "--pipeline: no pipeline named 'nope' (known: "
                                     "__default__, features, ingest, modelling)")


def test_outside_a_project_is_one_line(tmp_path):
    result = run_kedro(tmp_path, "airflow-k8s", "compile")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr


def test_help_lists_the_commands_inside_a_project_only(tmp_path):
    """What docs/installation.md says: Kedro loads project commands inside a project only."""
    result = run_kedro(tmp_path, "airflow-k8s", "--help")
    assert "No such command 'airflow-k8s'" in result.stderr
    assert "No such command 'airflow-k8s'" in (ROOT / "docs" / "installation.md").read_text()


def test_ui_prints_the_dag_page(demo_project):
    # BROWSER=true: webbrowser runs `true URL` instead of opening a window
    result = run_kedro(demo_project, "airflow-k8s", "ui", "-d", "demo",
                       env={"BROWSER": "true"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "http://127.0.0.1:8080/dags/demo"


def test_commands_that_need_the_host_say_so(demo_project):
    config = yaml.safe_load((demo_project / "conf/base/airflow-k8s.yaml").read_text())
    del config["host"]
    write_config(demo_project, config)
    result = run_kedro(demo_project, "airflow-k8s", "list-pipelines")
    assert_one_line_error(result, 2, "host: no Airflow URL: set host in airflow-k8s.yaml")


def test_schedule_rejects_a_bad_cron_before_writing(demo_project, tmp_path):
    result = run_kedro(demo_project, "airflow-k8s", "schedule", "-c", "every day",
                       "-o", str(tmp_path / "out"))
    assert_one_line_error(result, 2, "--cron-expression: expected a cron expression or a "
                                     "preset like @daily, got 'every day'")
    assert not (tmp_path / "out").exists()


def test_airflow_down_is_one_line_and_exit_1(demo_project):
    from tests.conftest import free_port

    config = yaml.safe_load((demo_project / "conf/base/airflow-k8s.yaml").read_text())
    config["host"] = f"http://127.0.0.1:{free_port()}"
    write_config(demo_project, config)
    result = run_kedro(demo_project, "airflow-k8s", "list-pipelines")
    assert_one_line_error(result, 1, f"cannot reach Airflow at {config['host']} (listing "
                                     "DAGs): connection refused")


def test_two_google_credentials_are_one_line_and_exit_2(demo_project):
    result = run_kedro(demo_project, "airflow-k8s", "list-pipelines", env={
        "AIRFLOW_API_GOOGLE_AUDIENCE": "https://airflow.example.com",
        "AIRFLOW_API_GOOGLE_ACCESS_TOKEN": "1"})
    assert_one_line_error(result, 2, "AIRFLOW_API_GOOGLE_AUDIENCE and "
                                     "AIRFLOW_API_GOOGLE_ACCESS_TOKEN are both set: unset "
                                     "AIRFLOW_API_GOOGLE_AUDIENCE for Cloud Composer, "
                                     "AIRFLOW_API_GOOGLE_ACCESS_TOKEN for Airflow behind IAP")


def test_kedro_config_host_does_not_remove_the_files_host(demo_project):
    # the demo's host is ${oc.select:airflow_host,...}; KEDRO_CONFIG_HOST must leave it alone
    result = run_kedro(demo_project, "airflow-k8s", "ui",
                       env={"BROWSER": "true", "KEDRO_CONFIG_HOST": "http://elsewhere:1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "http://127.0.0.1:8080/"


def test_catalog_error_is_one_line_naming_file_and_key(demo_project):
    catalog = demo_project / "conf/base/catalog.yml"
    catalog.write_text(catalog.read_text() + "\ndaily:\n  type: demo.datasets.JSONDataset\n"
                       "  filepath: data/${runtime_params:ds}/${unknown}.json\n")
    result = run_kedro(demo_project, "airflow-k8s", "compile")
    assert_one_line_error(result, 2, "conf/base/catalog.yml: daily.filepath: Interpolation "
                                     "key 'unknown' not found")
    assert not (demo_project / "dags").exists()


def test_catalog_with_a_runtime_param_the_dag_passes_compiles(demo_project):
    catalog = demo_project / "conf/base/catalog.yml"
    catalog.write_text(catalog.read_text().replace(
        "data/02_intermediate/orders.json", "data/02_intermediate/${runtime_params:ds}.json"))
    result = run_kedro(demo_project, "airflow-k8s", "compile")
    assert result.returncode == 0, result.stderr
    assert "Wrote dags/demo.py (10 tasks)." in result.stdout


@pytest.fixture
def init_hook(tmp_path):
    """The environment for `kedro` with the plugin's `kedro.init` entry point as setup.cfg
    declares it. The shared test venv may hold older metadata of the plugin (an editable
    install made before the entry point existed): a dist-info on PYTHONPATH declares it."""
    import configparser
    from importlib.metadata import entry_points

    from tests.conftest import ROOT

    declared = configparser.ConfigParser()
    declared.read(ROOT / "setup.cfg")
    hook = declared["options.entry_points"]["kedro.init"].strip()
    name, value = (part.strip() for part in hook.split("="))
    if any(entry.value == value for entry in entry_points(group="kedro.init")):
        return {}
    dist = tmp_path / "site" / "kedro_airflow_k8s_init_hook-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: kedro-airflow-k8s-init-hook"
                                   "\nVersion: 0\n")
    (dist / "entry_points.txt").write_text(f"[kedro.init]\n{name} = {value}\n")
    return {"PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path / "site")])}


def break_file(path, line, where="end"):
    text = path.read_text()
    path.write_text(f"{line}\n{text}" if where == "start" else f"{text}\n{line}\n")


SEE_TRACEBACK = " (--traceback shows the traceback)"


def test_syntax_error_in_a_pipeline_module_is_one_line(demo_project):
    module = demo_project / "src/demo/pipelines/ingest/__init__.py"
    break_file(module, "def broken(:")
    lines = len(module.read_text().splitlines())
    result = run_kedro(demo_project, "airflow-k8s", "compile")
    assert_one_line_error(result, 1, "the project's pipelines failed to load: "
                                     f"demo.pipelines.ingest, line {lines}: SyntaxError: "
                                     "invalid syntax" + SEE_TRACEBACK)
    assert not (demo_project / "dags").exists()


def test_missing_package_in_the_pipeline_registry_is_one_line(demo_project):
    break_file(demo_project / "src/demo/pipeline_registry.py", "import no_such_package_here",
               where="start")
    for command in ("compile", "upload-pipeline", "run-once"):
        result = run_kedro(demo_project, "airflow-k8s", command, "-o", "out")
        assert_one_line_error(result, 1, "the project's pipelines failed to load: "
                                         "demo.pipeline_registry, line 1: ModuleNotFoundError: "
                                         "No module named 'no_such_package_here'"
                                         + SEE_TRACEBACK)


def test_error_behind_find_pipelines_names_its_cause(demo_project):
    """The Kedro template's registry, find_pipelines(raise_errors=True), wraps a pipeline
    module's import error in its own ImportError: the line names the real error and where."""
    (demo_project / "src/demo/pipeline_registry.py").write_text(
        "from kedro.framework.project import find_pipelines\n\n\n"
        "def register_pipelines():\n"
        "    pipelines = find_pipelines(raise_errors=True)\n"
        "    pipelines['__default__'] = sum(pipelines.values())\n"
        "    return pipelines\n")
    package = demo_project / "src/demo/pipelines/reporting"
    package.mkdir()
    (package / "__init__.py").write_text("from .pipeline import create_pipeline  # noqa\n")
    (package / "pipeline.py").write_text("from kedro.pipeline import Pipeline\n\n"
                                         "from .nodes import report  # noqa\n\n\n"
                                         "def create_pipeline():\n    return Pipeline([])\n")
    (package / "nodes.py").write_text('"""Report."""\nimport no_such_package_here\n')
    result = run_kedro(demo_project, "airflow-k8s", "compile")
    assert_one_line_error(result, 1, "the project's pipelines failed to load: "
                                     "demo.pipelines.reporting.nodes, line 2: "
                                     "ModuleNotFoundError: No module named "
                                     "'no_such_package_here'" + SEE_TRACEBACK)


def test_missing_package_in_settings_is_one_line_on_every_command(demo_project, init_hook):
    # Kedro's settings loader drops this ImportError silently: the plugin imports settings.py
    break_file(demo_project / "src/demo/settings.py", "import no_such_package_here",
               where="start")
    for args in (["compile"], ["list-pipelines"], ["ui"], ["init", "http://x"]):
        result = run_kedro(demo_project, "airflow-k8s", *args, env={"BROWSER": "true",
                                                                    **init_hook})
        assert_one_line_error(result, 1, "the project's settings failed to load: "
                                         "demo.settings, line 1: ModuleNotFoundError: No "
                                         "module named 'no_such_package_here'" + SEE_TRACEBACK)


def test_broken_settings_are_one_line_before_kedro_bootstraps(demo_project, init_hook):
    # Kedro's own CLI imports settings.py before it loads any plugin command
    settings = demo_project / "src/demo/settings.py"
    break_file(settings, "x = (")
    lines = len(settings.read_text().splitlines())
    for args in (["compile"], ["ui"]):
        result = run_kedro(demo_project, "airflow-k8s", *args,
                           env={"BROWSER": "true", **init_hook})
        assert_one_line_error(result, 1, "the project's settings failed to load: "
                                         f"demo.settings, line {lines}: SyntaxError: '(' was "
                                         "never closed" + SEE_TRACEBACK)


def test_error_in_a_module_settings_imports_names_that_module(demo_project, init_hook):
    break_file(demo_project / "src/demo/hooks.py", "raise RuntimeError('no GPU here')",
               where="start")
    result = run_kedro(demo_project, "airflow-k8s", "compile", env=init_hook)
    assert_one_line_error(result, 1, "the project's settings failed to load: demo.hooks, "
                                     "line 1: RuntimeError: no GPU here" + SEE_TRACEBACK)


def test_traceback_on_request(demo_project, init_hook):
    break_file(demo_project / "src/demo/pipeline_registry.py", "import no_such_package_here",
               where="start")
    for args, env in ((["--traceback", "compile"], {}),
                      (["compile"], {"KEDRO_AIRFLOW_K8S_TRACEBACK": "1"})):
        result = run_kedro(demo_project, "airflow-k8s", *args,
                           env={**init_hook, **env, "COLUMNS": "250"})
        assert result.returncode == 1
        assert "Traceback (most recent call last)" in result.stderr
        assert re.search(r"❱ +1 import no_such_package_here", result.stderr)  # its source
        assert "The above exception was the direct cause" in result.stderr
        assert "ModuleNotFoundError: No module named 'no_such_package_here'" in result.stderr


@pytest.mark.parametrize("dates, message", [
    (["--from", "2024-01-03", "--to", "2024-01-01"],
     "--to: 2024-01-01T00:00:00+00:00 is before --from 2024-01-03T00:00:00+00:00"),
    (["--from", "yesterday", "--to", "2024-01-01"],
     "--from: expected an ISO 8601 date such as 2024-01-31 or 2024-01-31T06:00, got "
     "'yesterday'"),
    (["--from", "2024-01-01", "--to", "2024-13-01"],
     "--to: expected an ISO 8601 date such as 2024-01-31 or 2024-01-31T06:00, got "
     "'2024-13-01'"),
])
def test_backfill_refuses_bad_dates_before_calling_airflow(demo_project, monkeypatch, dates,
                                                           message):
    """In-process; the demo's host has no Airflow: the dates are checked before any call."""
    from click.testing import CliRunner

    from kedro_airflow_k8s.cli import commands

    monkeypatch.chdir(demo_project)
    result = CliRunner().invoke(commands, ["airflow-k8s", "backfill", *dates])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [f"Error: {message}"]


ALL_PIPELINES = {"demo-features": "features", "demo-ingest": "ingest",
                 "demo-modelling": "modelling"}


def test_compile_all_writes_one_dag_per_pipeline(demo_project):
    result = run_kedro(demo_project, "airflow-k8s", "compile", "--all")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (demo_project / "dags").iterdir()) == [
        f"{dag_id}.py" for dag_id in sorted(ALL_PIPELINES)]  # no demo.py: __default__ asked only
    for dag_id, pipeline in ALL_PIPELINES.items():
        assert f"Wrote dags/{dag_id}.py (" in result.stdout
        dag = airflow_check.load_dag(demo_project / "dags" / f"{dag_id}.py")
        assert dag.dag_id == dag_id
        runs = {tuple(t.arguments[:5]) for t in dag.tasks
                if (getattr(t, "arguments", None) or [""])[0] == "run"}
        assert runs == {("run", "--env", "local", "--pipeline", pipeline)}
    result = run_kedro(demo_project, "airflow-k8s", "compile", "--all", "--with-default",
                       "-o", "with-default")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (demo_project / "with-default").iterdir()) == [
        "demo-features.py", "demo-ingest.py", "demo-modelling.py", "demo.py"]
    assert (demo_project / "with-default" / "demo-ingest.py").read_bytes() == (
        demo_project / "dags" / "demo-ingest.py").read_bytes()


def test_upload_pipeline_all_to_a_local_dir(demo_project, tmp_path):
    out = tmp_path / "bucket"
    result = run_kedro(demo_project, "airflow-k8s", "upload-pipeline", "--all", "-o", str(out))
    assert result.returncode == 0, result.stderr
    for dag_id in ALL_PIPELINES:
        assert f"Uploaded {out / dag_id}.py (" in result.stdout
        assert airflow_check.load_dag(out / f"{dag_id}.py").dag_id == dag_id
    assert sorted(p.name for p in out.iterdir()) == [f"{d}.py" for d in sorted(ALL_PIPELINES)]


def test_all_writes_nothing_when_one_pipeline_fails(demo_project, tmp_path):
    registry = demo_project / "src/demo/pipeline_registry.py"
    registry.write_text(registry.read_text().replace(
        '    pipelines["__default__"] = sum(pipelines.values())\n',
        '    pipelines["__default__"] = sum(pipelines.values())\n'
        '    pipelines["tagged"] = ingest.create_pipeline().tag(["resources.nope"])\n'))
    for command in ("compile", "upload-pipeline"):
        out = tmp_path / command
        result = run_kedro(demo_project, "airflow-k8s", command, "--all", "-o", str(out))
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("Error: pipeline 'tagged': node '"), line
        assert "tag 'resources.nope' names no run_config.resources entry" in line
        assert not out.exists()  # features, ingest and modelling compiled, none written


@pytest.mark.parametrize("args, text", [
    (("-p", "ingest", "compile", "--all"),
     "--all compiles every pipeline: leave out -p/--pipeline"),
    (("-p", "__default__", "upload-pipeline", "--all"),
     "--all compiles every pipeline: leave out -p/--pipeline"),
    (("schedule", "--all", "-d", "nightly"),
     "--all names each DAG after its pipeline: leave out -d/--dag-name"),
    (("compile", "--with-default"), "--with-default: only with --all"),
])
def test_all_usage_errors(demo_project, args, text):
    result = run_kedro(demo_project, "airflow-k8s", *args)
    assert_one_line_error(result, 2, text)
    assert not (demo_project / "dags").exists()


def test_a_bad_image_reference_is_one_line_and_writes_nothing(demo_project):
    result = run_kedro(demo_project, "airflow-k8s", "compile", "--image",
                       "Registry.Example.com/My Project:1.0")
    assert_one_line_error(result, 2, "--image: 'Registry.Example.com/My Project:1.0': must be "
                                     "an image reference, [registry[:port]/]path[:tag][@digest] "
                                     "with a lowercase path of letters, digits and '.', '_', "
                                     "'-' separators: its path 'My Project' must be lowercase")
    assert not (demo_project / "dags").exists()
    config = yaml.safe_load((demo_project / "conf/base/airflow-k8s.yaml").read_text())
    config["run_config"]["image"] = "registry.example.com/my project"
    write_config(demo_project, config)
    result = run_kedro(demo_project, "airflow-k8s", "compile", "--validate")
    assert_one_line_error(result, 2, "airflow-k8s.yaml: run_config.image: "
                                     "'registry.example.com/my project': must be an image "
                                     "reference, [registry[:port]/]path[:tag][@digest] with a "
                                     "lowercase path of letters, digits and '.', '_', '-' "
                                     "separators")
    assert not (demo_project / "dags").exists()


def test_inits_placeholder_image_gets_a_note_until_an_image_is_named(demo_project):
    (demo_project / "conf/base/airflow-k8s.yaml").unlink()
    assert run_kedro(demo_project, "airflow-k8s", "init", "https://a.example.com").returncode == 0
    note = ("Note: run_config.image is still 'demo', the placeholder `init` wrote: build and "
            "push the project's image, then set run_config.image to it or pass --image.")
    result = run_kedro(demo_project, "airflow-k8s", "-p", "ingest", "compile")
    assert result.returncode == 0, result.stderr
    assert note in result.stdout.splitlines()
    for args in (["--image", "registry.example.com/demo:1"], ["--execution", "local"]):
        result = run_kedro(demo_project, "airflow-k8s", "-p", "ingest", "compile", *args)
        assert result.returncode == 0, result.stderr
        assert "placeholder" not in result.stdout
