"""Config read through the project's own Kedro config loader, as `kedro airflow-k8s` does."""

import pytest

from kedro_airflow_k8s.context import KedroProject, dynamic_config_values
from kedro_airflow_k8s.errors import CompileError, ConfigError
from tests.conftest import write_config


def project(path, **kwargs):
    return KedroProject.at(path=path, **kwargs)


def test_base_and_env_are_merged_like_any_kedro_config(demo_project):
    write_config(demo_project, {"run_config": {"image": "base-image", "namespace": "base-ns"}})
    write_config(demo_project, {"run_config": {"image": "prod-image"}}, env="prod")
    assert project(demo_project).config.run_config.image == "base-image"
    prod = project(demo_project, env="prod")
    assert prod.run_env == "prod"
    # Kedro's default merge strategy for a key is destructive: the env file wins whole keys
    assert prod.config.run_config.image == "prod-image"


def test_env_defaults_to_kedro_env_then_to_the_projects_default(demo_project, monkeypatch):
    assert project(demo_project).run_env == "local"
    monkeypatch.setenv("KEDRO_ENV", "staging")
    assert project(demo_project).run_env == "staging"
    assert project(demo_project, env="prod").run_env == "prod"


def test_kedro_config_variables_are_available_by_lower_case_name(demo_project, monkeypatch):
    write_config(demo_project, {"run_config": {
        "image": "registry.example.com/demo:${commit_id}",
        "description": "branch ${oc.select:branch_name,unknown}",
        "namespace": "${oc.env:TEAM_NAMESPACE}",
    }})
    monkeypatch.setenv("KEDRO_CONFIG_COMMIT_ID", "abc123")
    monkeypatch.setenv("TEAM_NAMESPACE", "team-a")
    run = project(demo_project).config.run_config
    assert run.image == "registry.example.com/demo:abc123"
    assert run.description == "branch unknown"
    assert run.namespace == "team-a"

    monkeypatch.setenv("KEDRO_CONFIG_BRANCH_NAME", "feature-x")
    assert project(demo_project).config.run_config.description == "branch feature-x"


def test_dynamic_values_do_not_leak_into_the_config(demo_project, monkeypatch):
    monkeypatch.setenv("KEDRO_CONFIG_SOMETHING", "x")
    config = project(demo_project).config  # extra="forbid" would reject a leaked key
    assert config.run_config.image == "ghcr.io/example/demo:latest"


def test_dynamic_config_values_mapping():
    assert dynamic_config_values({"KEDRO_CONFIG_COMMIT_ID": "a", "KEDRO_CONFIG_": "b",
                                  "OTHER": "c"}) == {"commit_id": "a"}


def test_unset_variable_is_a_config_error(demo_project):
    write_config(demo_project, {"run_config": {"image": "demo:${commit_id}"}})
    with pytest.raises(ConfigError) as error:
        _ = project(demo_project).config
    assert str(error.value).startswith("airflow-k8s.yaml: ")
    assert "commit_id" in str(error.value)


def test_missing_file_says_to_run_init(demo_project):
    (demo_project / "conf" / "base" / "airflow-k8s.yaml").unlink()
    with pytest.raises(ConfigError) as error:
        _ = project(demo_project).config
    assert str(error.value) == ("no airflow-k8s.yaml in conf/ for env 'local': run "
                                "`kedro airflow-k8s init AIRFLOW_URL` to create one")


def test_empty_file_is_a_config_error(demo_project):
    (demo_project / "conf" / "base" / "airflow-k8s.yaml").write_text("")
    with pytest.raises(ConfigError, match="the file is empty"):
        _ = project(demo_project).config


def test_file_that_is_not_yaml_is_a_config_error(demo_project):
    (demo_project / "conf" / "base" / "airflow-k8s.yaml").write_text("run_config: [image\n")
    with pytest.raises(ConfigError) as error:
        _ = project(demo_project).config
    assert str(error.value).startswith("airflow-k8s.yaml: Invalid YAML or JSON file")


def test_unknown_env_names_the_option(demo_project):
    with pytest.raises(ConfigError, match=r"^--env: no directory .*conf/nope for Kedro env"):
        _ = project(demo_project, env="nope").config


def test_unknown_pipeline_names_the_option(demo_project):
    with pytest.raises(CompileError) as error:
        _ = project(demo_project, pipeline_name="nope").pipeline
    assert str(error.value) == ("--pipeline: no pipeline named 'nope' (known: __default__, "
                                "features, ingest, modelling)")


def test_catalog_decides_what_is_persisted(demo_project):
    kedro = project(demo_project)
    assert kedro.is_persisted("orders")
    assert kedro.is_persisted("params:min_amount")
    assert not kedro.is_persisted("not_in_catalog")


def test_dataset_factories_decide_per_pattern(demo_project):
    catalog = demo_project / "conf/base/catalog.yml"
    catalog.write_text(catalog.read_text() + '''
"{name}@json":
  type: demo.datasets.JSONDataset
  filepath: data/{name}.json
"mem_{name}":
  type: kedro.io.MemoryDataset
"{kind}#{name}":
  type: "{kind}"
''')
    kedro = project(demo_project)
    assert kedro.is_persisted("a@json") and kedro.is_persisted("b@json")
    assert not kedro.is_persisted("mem_x") and not kedro.is_persisted("mem_y")
    # a type with a placeholder is resolved per dataset
    assert kedro.is_persisted("demo.datasets.JSONDataset#z")
    assert not kedro.is_persisted("kedro.io.MemoryDataset#z")


def test_kedro_config_variables_never_replace_or_remove_a_key_of_the_file(demo_project,
                                                                           monkeypatch):
    for name in ("HOST", "OUTPUT", "RUN_CONFIG"):
        monkeypatch.setenv(f"KEDRO_CONFIG_{name}", "from-the-environment")
    config = project(demo_project).config
    assert config.host == "http://127.0.0.1:8080"
    assert config.output == "dags"
    assert config.run_config.image == "ghcr.io/example/demo:latest"


def test_a_file_key_can_still_read_its_kedro_config_variable_explicitly(demo_project,
                                                                         monkeypatch):
    write_config(demo_project, {"host": "${oc.env:KEDRO_CONFIG_HOST}",
                                "run_config": {"image": "demo:${commit_id}"}})
    monkeypatch.setenv("KEDRO_CONFIG_HOST", "https://airflow.example.com")
    monkeypatch.setenv("KEDRO_CONFIG_COMMIT_ID", "abc")
    config = project(demo_project).config
    assert config.host == "https://airflow.example.com"
    assert config.run_config.image == "demo:abc"


def test_names_of_the_files_keys_are_not_dynamic_values():
    assert dynamic_config_values({"KEDRO_CONFIG_HOST": "h", "KEDRO_CONFIG_OUTPUT": "o",
                                  "KEDRO_CONFIG_RUN_CONFIG": "r", "KEDRO_CONFIG_X": "x"}) \
        == {"x": "x"}


def add_to_catalog(project_path, text, env="base"):
    catalog = project_path / "conf" / env / "catalog.yml"
    catalog.write_text((catalog.read_text() if catalog.exists() else "") + text)


def test_catalog_may_use_runtime_params_the_tasks_pass_without_a_default(demo_project):
    # the demo passes macro_params: [ds]; the pods give it with --params at run time
    add_to_catalog(demo_project, "\ndaily:\n  type: demo.datasets.JSONDataset\n"
                                 "  filepath: data/${runtime_params:ds}/daily.json\n")
    kedro = project(demo_project)
    assert kedro.is_persisted("daily")
    assert kedro.dataset_type("daily") == "demo.datasets.JSONDataset"


def test_catalog_runtime_param_no_task_passes_names_file_key_and_fix(demo_project):
    add_to_catalog(demo_project, "\nfeatures.weekly:\n  type: demo.datasets.JSONDataset\n"
                                 "  filepath: data/${runtime_params:region}/weekly.json\n")
    with pytest.raises(CompileError) as error:
        project(demo_project).is_persisted("orders")
    assert str(error.value) == (
        "conf/base/catalog.yml: features.weekly.filepath: Runtime parameter 'region' not "
        "found and no default value provided (tasks pass only run_config.macro_params and "
        "variables_params: add region to one, or give a default, "
        "${runtime_params:region,default})")


def test_catalog_interpolation_error_names_the_env_file_and_key(demo_project):
    add_to_catalog(demo_project, "orders:\n  type: demo.datasets.JSONDataset\n"
                                 "  filepath: ${no_such_key}\n", env="local")
    with pytest.raises(CompileError) as error:
        project(demo_project).is_persisted("orders")
    assert str(error.value) == ("conf/local/catalog.yml: orders.filepath: Interpolation key "
                                "'no_such_key' not found")


def test_catalog_that_is_not_yaml_names_the_file(demo_project):
    add_to_catalog(demo_project, "\nbroken: [\n")
    with pytest.raises(CompileError) as error:
        project(demo_project).is_persisted("orders")
    assert str(error.value).startswith(
        "catalog: Invalid YAML or JSON file conf/base/catalog.yml, unable to read line")


def _counting_catalog_loads(monkeypatch) -> list[str]:
    """The config keys the catalog view reads (catalog, credentials, parameters), in order."""
    from kedro_airflow_k8s.catalog_view import CatalogView

    read: list[str] = []
    real = CatalogView._catalog_part

    def counted(self, loader, config_key):
        read.append(config_key)
        return real(self, loader, config_key)

    monkeypatch.setattr(CatalogView, "_catalog_part", counted)
    return read


def test_every_pipelines_projects_share_one_session_and_one_catalog_view(demo_project,
                                                                        monkeypatch):
    """--all: each pipeline's project holds the first one's session and catalog view by
    reference, so the catalog is read once whichever pipeline asks, and a dataset's type
    once for all of them."""
    read = _counting_catalog_loads(monkeypatch)
    first = project(demo_project)
    projects = first.every_pipeline(with_default=True)
    assert [p.pipeline_name for p in projects] == ["__default__", "features", "ingest",
                                                   "modelling"]
    assert all(p.session is first.session for p in projects)
    assert all(p.catalog_view is first.catalog_view for p in projects)
    once = ["catalog", "credentials", "parameters"]  # the demo's DAGs have a Params form
    assert read == once  # loaded up front
    for each in [*projects, first.for_pipeline("features")]:
        assert each.dataset_type("orders") == "demo.datasets.JSONDataset"
        assert each.is_persisted("orders") and each.pipeline is each.session.pipelines[
            each.pipeline_name]
        assert each.parameters is first.parameters
    assert read == once


def test_commands_that_need_no_catalog_do_not_load_it(demo_project, monkeypatch):
    """A project loads nothing when made (`kedro airflow-k8s --help`), and its config,
    pipeline, commit and version leave the catalog and parameters unread."""
    import kedro.framework.startup

    read = _counting_catalog_loads(monkeypatch)
    bootstraps: list[object] = []
    real_bootstrap = kedro.framework.startup.bootstrap_project
    monkeypatch.setattr(kedro.framework.startup, "bootstrap_project",
                        lambda path: bootstraps.append(path) or real_bootstrap(path))
    kedro = project(demo_project)
    assert bootstraps == [] and read == []
    _ = kedro.config, kedro.pipeline, kedro.commit_sha, kedro.project_version, kedro.run_env
    assert len(bootstraps) == 1 and read == []
