"""The Kedro side: the project, its environment, pipeline, catalog and plugin config.

The project is bootstrapped once, lazily, by the first command that needs it.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from kedro_airflow_k8s.config import CONFIG_FILE, PluginConfig, parse_config
from kedro_airflow_k8s.errors import CompileError, ConfigError

CONFIG_PATTERNS = ["airflow-k8s*", "airflow-k8s*/**"]
DYNAMIC_PREFIX = "KEDRO_CONFIG_"
_MEMORY_TYPES = ("MemoryDataset", "SharedMemoryDataset")


def dynamic_config_values(environ: dict[str, str] | None = None) -> dict[str, str]:
    """`KEDRO_CONFIG_<NAME>=v` in the environment becomes `${name}` in the config file."""
    environ = os.environ if environ is None else environ
    return {
        name[len(DYNAMIC_PREFIX):].lower(): value
        for name, value in environ.items()
        if name.startswith(DYNAMIC_PREFIX) and len(name) > len(DYNAMIC_PREFIX)
    }


@dataclass
class KedroProject:
    """A Kedro project on disk, seen by this plugin."""

    path: Path
    env: str | None = None
    pipeline_name: str = "__default__"
    bootstrapped: Any = field(default=None, repr=False)  # metadata when Kedro's CLI did it
    _metadata: Any = field(default=None, init=False, repr=False)
    _types: dict[str, str | None] = field(default_factory=dict, init=False, repr=False)
    _pattern_types: dict[str, str | None] = field(default_factory=dict, init=False,
                                                  repr=False)

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
            except RuntimeError as exc:
                raise ConfigError(f"{self.path} is not a Kedro project: {exc}") from None
        return self._metadata

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

    def _config_loader(self, runtime_params: dict[str, Any],
                       patterns: list[str] = CONFIG_PATTERNS) -> Any:
        from kedro.framework.project import settings

        args = dict(settings.CONFIG_LOADER_ARGS)
        # The plugin file is loaded under the "parameters" key only because that is the one key
        # Kedro merges runtime params into, which makes `${name}` resolve for KEDRO_CONFIG_NAME.
        args["config_patterns"] = {**args.get("config_patterns", {}), "parameters": patterns}
        args.pop("merge_strategy", None)
        return settings.CONFIG_LOADER_CLASS(
            conf_source=str(self.path / settings.CONF_SOURCE),
            env=self.run_env,
            runtime_params=runtime_params,
            **args,
        )

    def load_raw_config(self) -> dict[str, Any]:
        from kedro.framework.project import settings

        self.bootstrap()
        env_dir = self.path / settings.CONF_SOURCE / self.run_env
        if not env_dir.is_dir():
            raise ConfigError(f"--env: no directory {env_dir} for Kedro env '{self.run_env}'")
        dynamic = dynamic_config_values()
        with _quiet_config_loader():
            raw = self._load(dynamic)
        if not raw:
            raise ConfigError(
                f"{CONFIG_FILE}: the file is empty; run `kedro airflow-k8s init --force "
                "AIRFLOW_URL` for a documented template"
            )
        return {key: value for key, value in raw.items() if key not in dynamic}

    def _load(self, dynamic: dict[str, str]) -> dict[str, Any]:
        import yaml
        from kedro.config import MissingConfigException
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        loader = self._config_loader(dynamic)
        had_env = OmegaConf.has_resolver("oc.env")
        if not had_env:
            register = getattr(OmegaConf, "register_resolver", None)  # omegaconf >= 2.4
            (register or OmegaConf.register_new_resolver)("oc.env", _oc_env)
        try:
            return loader["parameters"]
        except MissingConfigException:
            raise ConfigError(
                f"no {CONFIG_FILE} in conf/ for env '{self.run_env}': "
                "run `kedro airflow-k8s init AIRFLOW_URL` to create one"
            ) from None
        except (OmegaConfBaseException, ValueError, yaml.YAMLError) as exc:
            first = str(exc).strip().splitlines()[0]
            first = re.sub(r"^\w+ raised while resolving interpolation: \"?(.*?)\"?$", r"\1",
                           first)  # a resolver's own message, without OmegaConf's wrapping
            raise ConfigError(f"{CONFIG_FILE}: {first}") from None
        except (AttributeError, TypeError):  # Kedro merges mappings only: a list at the top
            raise ConfigError(f"{CONFIG_FILE}: expected a mapping with run_config at the top "
                              "level") from None
        finally:
            if not had_env:
                OmegaConf.clear_resolver("oc.env")

    def kedro_mlflow_config(self) -> dict[str, Any] | None:
        """kedro-mlflow's mlflow.yml ({} without one) when its hooks run in this project;
        None when it is not installed or settings.DISABLE_HOOKS_FOR_PLUGINS names it."""
        from importlib.metadata import PackageNotFoundError, distribution

        from kedro.config import MissingConfigException
        from kedro.framework.project import settings
        from omegaconf import OmegaConf

        try:
            name = distribution("kedro-mlflow").metadata["Name"]
        except PackageNotFoundError:
            return None
        self.bootstrap()
        if name in settings.DISABLE_HOOKS_FOR_PLUGINS:  # Kedro compares the exact name
            return None
        had_random = OmegaConf.has_resolver("km.random_name")
        with _quiet_config_loader():
            if not had_random:  # kedro-mlflow's own resolver, for run names we do not read
                OmegaConf.register_new_resolver("km.random_name", lambda: "random-name")
            try:
                return dict(self._config_loader({}, ["mlflow*", "mlflow*/**"])["parameters"])
            except MissingConfigException:
                return {}
            finally:
                if not had_random:
                    OmegaConf.clear_resolver("km.random_name")

    @cached_property
    def config(self) -> PluginConfig:
        return parse_config(self.load_raw_config())

    @cached_property
    def pipeline(self) -> Any:
        from kedro.framework.project import pipelines

        self.bootstrap()
        try:
            return pipelines[self.pipeline_name]
        except KeyError:
            known = ", ".join(sorted(pipelines)) or "none"
            raise CompileError(
                f"--pipeline: no pipeline named '{self.pipeline_name}' (known: {known})"
            ) from None

    @cached_property
    def catalog(self) -> Any:
        """The project's catalog, for dataset types only: built from its config, without a
        session (no project hooks run at compile time) and without the parameters."""
        from kedro.config import MissingConfigException
        from kedro.framework.project import settings

        self.bootstrap()
        with _quiet_config_loader():
            loader = settings.CONFIG_LOADER_CLASS(
                conf_source=str(self.path / settings.CONF_SOURCE), env=self.run_env,
                **settings.CONFIG_LOADER_ARGS)
            try:
                catalog_config = loader["catalog"]
            except MissingConfigException:
                catalog_config = {}
            try:
                credentials = loader["credentials"]
            except MissingConfigException:
                credentials = {}
        return settings.DATA_CATALOG_CLASS.from_config(catalog=catalog_config,
                                                       credentials=credentials)

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

    @cached_property
    def _registered(self) -> set[str]:
        return set(self.catalog.keys())

    @cached_property
    def _pattern_configs(self) -> dict[str, Any]:
        """The catalog's dataset factories and catch-all, as written (read once)."""
        resolver = self.catalog.config_resolver
        return {**getattr(resolver, "_dataset_patterns", {}),
                **getattr(resolver, "_user_catch_all_pattern", {})}

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
        """KEDRO_CONFIG_COMMIT_ID, else the project's git commit; None outside git."""
        if os.environ.get(f"{DYNAMIC_PREFIX}COMMIT_ID"):
            return os.environ[f"{DYNAMIC_PREFIX}COMMIT_ID"]
        try:
            out = subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=self.path, capture_output=True, text=True,
                check=True, timeout=10,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() or None


@contextmanager
def _quiet_config_loader() -> Iterator[None]:
    """Kedro 1.7 with omegaconf 2.4 warns about a deprecated call on every config load."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated")
        yield


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


def _oc_env(key: str, default: Any = "__missing__") -> Any:
    value = os.environ.get(key)
    if value is not None:
        return value
    if default == "__missing__":
        raise KeyError(f"environment variable '{key}' is not set")
    return default
