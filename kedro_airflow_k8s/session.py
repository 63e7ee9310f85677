"""A Kedro project as one command sees it: bootstrapped once, lazily, with its env, the
plugin's config, its pipeline registry, git commit and version. Every pipeline the command
compiles shares one ProjectSession (context.KedroProject holds it by reference).

Not Kedro's KedroSession: no session is created and no project hook runs at compile time.
"""

from __future__ import annotations

import os
import subprocess
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro_airflow_k8s import project_config
from kedro_airflow_k8s.config import PluginConfig, parse_config
from kedro_airflow_k8s.errors import ConfigError, ProjectCodeError, project_frame
from kedro_airflow_k8s.project_config import DYNAMIC_PREFIX

if TYPE_CHECKING:
    from kedro.config import AbstractConfigLoader
    from kedro.framework.startup import ProjectMetadata
    from kedro.pipeline import Pipeline

DEFAULT_DAG_FOLDER = "dags"  # compile's -o


class ProjectSession:
    """The bootstrapped project, its run env and what every pipeline of it shares."""

    def __init__(self, path: Path, env: str | None = None, env_label: str = "-e/--env",
                 bootstrapped: ProjectMetadata | None = None,
                 dag_location: str | Path | None = None) -> None:
        self.path = path
        self.env = env
        self.env_label = env_label  # how `env` was given: the option, or KEDRO_ENV through it
        # the command's -o: where it writes DAG files (a local folder, gs://..., s3://...)
        self.dag_location = dag_location
        self._metadata = bootstrapped  # given when Kedro's CLI bootstrapped the project
        self._settings_imported = False

    def bootstrap(self) -> ProjectMetadata:
        """Bootstrap the project once (settings, pipelines, src on sys.path); its metadata."""
        return self.metadata

    @property
    def metadata(self) -> ProjectMetadata:
        if self._metadata is None:
            from kedro.framework.startup import bootstrap_project

            try:
                self._metadata = bootstrap_project(self.path)
            except Exception as exc:
                if project_frame(exc, self.path) is None and isinstance(exc, RuntimeError):
                    raise ConfigError(f"{self.path} is not a Kedro project: {exc}") from None
                raise ProjectCodeError.of(exc, self.path, "settings") from exc
        if not self._settings_imported:
            self._settings_imported = True
            self._import_settings(self._metadata.package_name)
        return self._metadata

    def _import_settings(self, package_name: str) -> None:
        """Import settings.py now: Kedro's settings (dynaconf) drop an ImportError in it
        silently, and the project would compile with Kedro's default settings instead."""
        import importlib
        import importlib.util

        module = f"{package_name}.settings"
        try:
            if importlib.util.find_spec(module) is not None:
                importlib.import_module(module)
        except Exception as exc:
            raise ProjectCodeError.of(exc, self.path, "settings") from exc

    @property
    def settings(self) -> Any:
        """Kedro's settings of this project (dynaconf: every setting is untyped)."""
        from kedro.framework.project import settings

        self.bootstrap()
        return settings

    @property
    def package_name(self) -> str:
        return self.metadata.package_name

    @cached_property
    def run_env(self) -> str:
        """The Kedro env used at compile time and passed to every pod with --env."""
        settings = self.settings
        if self.env:
            return self.env
        if os.environ.get("KEDRO_ENV"):
            return os.environ["KEDRO_ENV"]
        default: str = settings.CONFIG_LOADER_ARGS.get("default_run_env", "local")
        return default

    @property
    def env_source(self) -> str | None:
        """Where the run env was named (-e/--env, KEDRO_ENV); None: the project's default."""
        if self.env:
            return self.env_label
        return "KEDRO_ENV" if os.environ.get("KEDRO_ENV") else None

    def runtime_params_passed(self) -> dict[str, str]:
        """The runtime params every task passes (`kedro run --params`), with stand-in values:
        the catalog may use them as `${runtime_params:name}` without a default."""
        run = self.config.run_config
        return {name: f"<{name}>" for name in [*run.macro_params, *run.variables_params]}

    def config_loader(self) -> AbstractConfigLoader:
        """The project's own config loader in the run env, with the runtime params tasks pass
        (build it inside project_config.quiet_config_loader)."""
        settings = self.settings
        loader: AbstractConfigLoader = settings.CONFIG_LOADER_CLASS(
            conf_source=str(self.path / settings.CONF_SOURCE), env=self.run_env,
            runtime_params=self.runtime_params_passed(), **settings.CONFIG_LOADER_ARGS)
        return loader

    def load_raw_config(self) -> dict[str, Any]:
        """conf/<env>/airflow-k8s.yaml as Kedro's config loader reads it."""
        self.bootstrap()
        return project_config.load_plugin_config(self.path, self.run_env)

    def kedro_mlflow_config(self) -> dict[str, Any] | None:
        """kedro-mlflow's mlflow.yml ({} without one) when its hooks run in this project;
        None when it is not installed or settings.DISABLE_HOOKS_FOR_PLUGINS names it."""
        self.bootstrap()
        return project_config.kedro_mlflow_config(self.path, self.run_env)

    @cached_property
    def config(self) -> PluginConfig:
        return parse_config(self.load_raw_config())

    @cached_property
    def pipelines(self) -> dict[str, Pipeline]:
        """The project's registered pipelines, by name."""
        from kedro.framework.project import pipelines

        self.bootstrap()
        try:
            return dict(pipelines)  # imports pipeline_registry and runs register_pipelines
        except Exception as exc:
            raise ProjectCodeError.of(exc, self.path, "pipelines") from exc

    @cached_property
    def commit_sha(self) -> str | None:
        """KEDRO_CONFIG_COMMIT_ID, else the project's git commit, with "-dirty" when a file
        git tracks under the project differs from it (as `git describe --dirty`), the DAG
        folders left out (the compiled DAG is an output, often committed); None outside
        git."""
        if os.environ.get(f"{DYNAMIC_PREFIX}COMMIT_ID"):
            return os.environ[f"{DYNAMIC_PREFIX}COMMIT_ID"]
        commit = self._git("rev-parse", "HEAD")
        if not commit:
            return None
        excluded = [f":(exclude,literal){folder}" for folder in self._dag_folders()]
        changed = self._git("status", "--porcelain", "--untracked-files=no", "--", ".",
                            *excluded)
        return f"{commit}-dirty" if changed else commit

    def _dag_folders(self) -> list[str]:
        """The local folders inside the project that DAG files are written to (the
        command's -o, the config's output, compile's default dags/), relative to it."""
        root = self.path.resolve()
        found = []
        for location in (self.dag_location, self.config.output, DEFAULT_DAG_FOLDER):
            if location is None or "://" in str(location):
                continue
            folder = (self.path / location).resolve()
            if root in folder.parents:
                found.append(folder.relative_to(root).as_posix())
        return sorted(set(found))

    def _git(self, *args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=self.path, capture_output=True, text=True,
                                 check=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() or None

    @cached_property
    def project_version(self) -> str:
        """A hash of the code and configuration the DAG is compiled from (project_version)."""
        from kedro_airflow_k8s.project_version import project_version

        return project_version(self)
