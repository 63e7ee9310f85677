"""The Kedro side: the project, its environment, its pipeline and what its catalog says of
each dataset. Reading the plugin's own config file is project_config's.

The project is bootstrapped once, lazily, by the first command that needs it.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from kedro_airflow_k8s import project_config
from kedro_airflow_k8s.config import PluginConfig, parse_config
from kedro_airflow_k8s.errors import CompileError, ConfigError, ProjectCodeError, project_frame
from kedro_airflow_k8s.project_config import (  # noqa: F401 - dynamic_config_values: public
    DYNAMIC_PREFIX,
    config_error_text,
    dynamic_config_values,
    quiet_config_loader,
)

_MEMORY_TYPES = ("MemoryDataset", "SharedMemoryDataset")
DEFAULT_DAG_FOLDER = "dags"  # compile's -o


@dataclass
class KedroProject:
    """A Kedro project on disk, seen by this plugin."""

    path: Path
    env: str | None = None
    pipeline_name: str = "__default__"
    env_label: str = "-e/--env"  # how `env` was given: the option, or KEDRO_ENV through it
    bootstrapped: Any = field(default=None, repr=False)  # metadata when Kedro's CLI did it
    # the command's -o: where it writes DAG files (a local folder, gs://..., s3://...)
    dag_location: str | Path | None = None
    _metadata: Any = field(default=None, init=False, repr=False)
    _settings_imported: bool = field(default=False, init=False, repr=False)
    _types: dict[str, str | None] = field(default_factory=dict, init=False, repr=False)
    _pattern_types: dict[str, str | None] = field(default_factory=dict, init=False,
                                                  repr=False)
    _patterns: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _configs: dict[str, dict[str, Any]] = field(default_factory=dict, init=False, repr=False)

    def bootstrap(self) -> Any:
        """Bootstrap the project once (settings, pipelines, src on sys.path); its metadata."""
        return self.metadata

    def __post_init__(self) -> None:
        self._metadata = self.bootstrapped

    @property
    def metadata(self) -> Any:
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
            self._import_settings()
        return self._metadata

    def _import_settings(self) -> None:
        """Import settings.py now: Kedro's settings (dynaconf) drop an ImportError in it
        silently, and the project would compile with Kedro's default settings instead."""
        import importlib
        import importlib.util

        module = f"{self._metadata.package_name}.settings"
        try:
            if importlib.util.find_spec(module) is not None:
                importlib.import_module(module)
        except Exception as exc:
            raise ProjectCodeError.of(exc, self.path, "settings") from exc

    @property
    def package_name(self) -> str:
        return self.metadata.package_name

    @cached_property
    def run_env(self) -> str:
        """The Kedro env used at compile time and passed to every pod with --env."""
        from kedro.framework.project import settings

        self.bootstrap()
        if self.env:
            return self.env
        if os.environ.get("KEDRO_ENV"):
            return os.environ["KEDRO_ENV"]
        return settings.CONFIG_LOADER_ARGS.get("default_run_env", "local")

    @property
    def env_source(self) -> str | None:
        """Where the run env was named (-e/--env, KEDRO_ENV); None: the project's default."""
        if self.env:
            return self.env_label
        return "KEDRO_ENV" if os.environ.get("KEDRO_ENV") else None

    def _file_declaring(self, loader: Any, config_key: str, full_key: str | None) -> str:
        """The conf file that holds `full_key`, preferring one whose value there is an
        interpolation (base before env, as Kedro resolves them); else the config key itself
        ("catalog"). For error messages only."""
        from kedro.framework.project import settings

        conf = self.path / settings.CONF_SOURCE
        patterns = getattr(loader, "config_patterns", {}).get(config_key, [])
        found: list[tuple[bool, Path]] = []
        for env in dict.fromkeys([getattr(loader, "base_env", None) or "base", self.run_env]):
            paths = {path for pattern in patterns for path in (conf / env).glob(pattern)}
            for path in sorted(paths):
                if path.suffix not in (".yml", ".yaml", ".json") or path.name.startswith("."):
                    continue
                try:
                    top = yaml.safe_load(path.read_text(encoding="utf-8"))
                except (OSError, ValueError, yaml.YAMLError):
                    continue
                value = _value_at(top, full_key) if full_key else None
                if value is not _ABSENT:
                    found.append(("${" in str(value), path))
        if not found:
            return config_key
        interpolated = [path for is_interpolation, path in found if is_interpolation]
        return str((interpolated or [found[0][1]])[0].relative_to(self.path))

    def _runtime_params_passed(self) -> dict[str, str]:
        """The runtime params every task passes (`kedro run --params`), with stand-in values:
        the catalog may use them as `${runtime_params:name}` without a default."""
        run = self.config.run_config
        return {name: f"<{name}>" for name in [*run.macro_params, *run.variables_params]}

    def _catalog_part(self, loader: Any, config_key: str) -> dict[str, Any]:
        """loader[config_key] ({} when there is none); an error names the file and the key."""
        from kedro.config import MissingConfigException
        from omegaconf.errors import OmegaConfBaseException

        try:
            return loader[config_key]
        except MissingConfigException:
            return {}
        except (OmegaConfBaseException, ValueError, yaml.YAMLError) as exc:
            full_key = getattr(exc, "full_key", None)
            text = config_error_text(exc, self.path)
            missing = re.search(r"Runtime parameter '([^']+)' not found", text)
            if missing:
                name = missing.group(1)
                text = text.rstrip(".") + (
                    " (tasks pass only run_config.macro_params and variables_params: add "
                    f"{name} to one, or give a default, ${{runtime_params:{name},default}})")
            where = self._file_declaring(loader, config_key, full_key)
            raise CompileError(f"{where}: {text}") from None

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
    def _pipelines(self) -> dict[str, Any]:
        from kedro.framework.project import pipelines

        self.bootstrap()
        try:
            return dict(pipelines)  # imports pipeline_registry and runs register_pipelines
        except Exception as exc:
            raise ProjectCodeError.of(exc, self.path, "pipelines") from exc

    @cached_property
    def pipeline(self) -> Any:
        known = self._pipelines
        if self.pipeline_name not in known:
            raise CompileError(f"--pipeline: no pipeline named '{self.pipeline_name}' (known: "
                               f"{', '.join(sorted(known)) or 'none'})")
        return known[self.pipeline_name]

    def for_pipeline(self, name: str) -> KedroProject:
        """This project with another pipeline, sharing what this one has loaded (bootstrap,
        registry, config, catalog, dataset types, commit, version, parameters)."""
        other = copy.copy(self)
        other.pipeline_name = name
        other.__dict__.pop("pipeline", None)
        return other

    def every_pipeline(self, with_default: bool = False) -> list[KedroProject]:
        """One project per registered pipeline, by name (`__default__` only `with_default`),
        the config and catalog loaded once for all of them."""
        names = sorted(name for name in self._pipelines
                       if with_default or name != "__default__")
        if not names:
            raise CompileError("--all: the project registers no pipeline but __default__ "
                               "(--with-default compiles it too)")
        for shared in ("config", "catalog", "_registered", "_pattern_configs", "commit_sha",
                       "project_version"):
            getattr(self, shared)  # loaded here, so that the copies share them
        if self.config.run_config.params_form:
            self.parameters  # noqa: B018 - likewise
        return [self.for_pipeline(name) for name in names]

    @cached_property
    def catalog(self) -> Any:
        """The project's catalog, for dataset types only: built from its config, without a
        session (no project hooks run at compile time) and without the parameters."""
        from kedro.framework.project import settings
        from kedro.io.catalog_config_resolver import CatalogConfigResolver

        self.bootstrap()
        with quiet_config_loader():
            loader = settings.CONFIG_LOADER_CLASS(
                conf_source=str(self.path / settings.CONF_SOURCE), env=self.run_env,
                runtime_params=self._runtime_params_passed(), **settings.CONFIG_LOADER_ARGS)
            catalog_config = self._catalog_part(loader, "catalog")
            credentials = self._catalog_part(loader, "credentials")
        self._patterns = {name: entry for name, entry in catalog_config.items()
                          if CatalogConfigResolver.is_pattern(name)}
        return settings.DATA_CATALOG_CLASS.from_config(catalog=catalog_config,
                                                       credentials=credentials)

    @cached_property
    def parameters(self) -> dict[str, Any]:
        """The project's parameters ({} without any), as its config loader reads them for
        `kedro run`, without a session; an error names the file and the key."""
        from kedro.framework.project import settings

        self.bootstrap()
        with quiet_config_loader():
            loader = settings.CONFIG_LOADER_CLASS(
                conf_source=str(self.path / settings.CONF_SOURCE), env=self.run_env,
                runtime_params=self._runtime_params_passed(), **settings.CONFIG_LOADER_ARGS)
            return self._catalog_part(loader, "parameters")

    def is_persisted(self, dataset: str) -> bool:
        """True when a dataset survives between pods (in the catalog, not in memory)."""
        if dataset.startswith("params:") or dataset == "parameters":
            return True
        kind = self.dataset_type(dataset)
        return kind is not None and not kind.rsplit(".", 1)[-1].startswith(_MEMORY_TYPES)

    def dataset_type(self, dataset: str) -> str | None:
        """The type a dataset is declared with ("spark.SparkDataset"), read from the catalog
        config without importing it (a Spark type needs no Spark here); None for params.
        Asked once per dataset: persistence and Spark detection share the answer."""
        if dataset.startswith("params:") or dataset == "parameters":
            return None
        if dataset not in self._types:
            self._types[dataset] = self._pattern_type(dataset) or self._resolved_type(dataset)
        return self._types[dataset]

    def _resolved_type(self, dataset: str) -> str | None:
        with _quiet_resolver():
            kind = self.catalog.config_resolver.resolve_pattern(dataset).get("type")
        return kind if isinstance(kind, str) else None

    def dataset_config(self, dataset: str) -> dict[str, Any]:
        """A dataset's catalog entry as Kedro resolves it (a factory's placeholders filled,
        credentials resolved: for assets.dataset_location only, which drops them); {} for
        params and datasets the catalog does not know."""
        if dataset.startswith("params:") or dataset == "parameters":
            return {}
        if dataset not in self._configs:
            with _quiet_resolver():
                found = self.catalog.config_resolver.resolve_pattern(dataset)
            self._configs[dataset] = found if isinstance(found, dict) else {}
        return self._configs[dataset]

    def dataset_location(self, dataset: str) -> str | None:
        """Where a dataset lives (path, URI or table, no credentials); None: nowhere named."""
        from kedro_airflow_k8s.assets import dataset_location

        return dataset_location(self.dataset_config(dataset))

    def dataset_layer(self, dataset: str) -> str | None:
        """A dataset's layer (catalog `metadata: kedro-viz: layer`)."""
        from kedro_airflow_k8s.assets import layer_of

        return layer_of(self.dataset_config(dataset))

    @cached_property
    def _registered(self) -> set[str]:
        return set(self.catalog.keys())

    @cached_property
    def _pattern_configs(self) -> dict[str, Any]:
        """The catalog's dataset factories and catch-all, as written in its config."""
        self.catalog  # noqa: B018 - loads the config
        return self._patterns

    def _pattern_type(self, dataset: str) -> str | None:
        """The type a dataset factory gives, once per pattern when it holds no placeholder.

        Resolving a pattern costs about half a millisecond per dataset; thousands of
        datasets from one pattern share one type. Falls back (None) to a full resolution.
        """
        if dataset in self._registered:
            return None
        resolver = self.catalog.config_resolver
        pattern = (resolver.match_dataset_pattern(dataset)
                   or resolver.match_user_catch_all_pattern(dataset))
        raw = self._pattern_configs.get(pattern)
        declared = raw.get("type") if isinstance(raw, dict) else None
        if not isinstance(declared, str) or "{" in declared:
            return None
        if pattern not in self._pattern_types:
            self._pattern_types[pattern] = self._resolved_type(dataset)
        return self._pattern_types[pattern]

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


_ABSENT = object()


def _value_at(top: Any, full_key: str) -> Any:
    """The raw value at OmegaConf's `full_key` ("features.daily.filepath") in a loaded YAML
    mapping whose top-level names may hold dots; _ABSENT when it has none there."""
    if not isinstance(top, dict):
        return _ABSENT
    for name in top:
        name = str(name)
        if full_key != name and not full_key.startswith(f"{name}."):
            continue
        node = top[name]
        for part in full_key[len(name) + 1:].split(".") if full_key != name else []:
            if not isinstance(node, dict) or part not in node:
                node = None  # a list index or a key spelt differently: the file still has it
                break
            node = node[part]
        return node
    return _ABSENT


@contextmanager
def _quiet_resolver() -> Iterator[None]:
    """Resolving a pattern logs a line per dataset (thousands in a large project), and we
    only ask for the type: silence that logger while asking."""
    resolver_log = logging.getLogger("kedro.io.catalog_config_resolver")
    level = resolver_log.level
    resolver_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        resolver_log.setLevel(level)
