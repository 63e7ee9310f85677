"""What a Kedro project's catalog says of each dataset (type, location, layer, whether it
survives between pods) and its parameters, read once from its config for every pipeline of
a command (context.KedroProject holds one CatalogView by reference)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from kedro_airflow_k8s.errors import CompileError
from kedro_airflow_k8s.project_config import config_error_text, quiet_config_loader

if TYPE_CHECKING:
    from kedro.config import AbstractConfigLoader
    from kedro.io import DataCatalog

    from kedro_airflow_k8s.session import ProjectSession

_MEMORY_TYPES = ("MemoryDataset", "SharedMemoryDataset")


class CatalogView:
    """The catalog and parameters of a session's project, loaded lazily, each answer kept."""

    def __init__(self, session: ProjectSession) -> None:
        self.session = session
        self._types: dict[str, str | None] = {}
        self._pattern_types: dict[str, str | None] = {}
        self._patterns: dict[str, Any] = {}
        self._configs: dict[str, dict[str, Any]] = {}

    @cached_property
    def catalog(self) -> DataCatalog:
        """The project's catalog, for dataset types only: built from its config, without a
        session (no project hooks run at compile time) and without the parameters."""
        from kedro.io.catalog_config_resolver import CatalogConfigResolver

        settings = self.session.settings
        with quiet_config_loader():
            loader = self.session.config_loader()
            catalog_config = self._catalog_part(loader, "catalog")
            credentials = self._catalog_part(loader, "credentials")
        self._patterns = {name: entry for name, entry in catalog_config.items()
                          if CatalogConfigResolver.is_pattern(name)}
        catalog: DataCatalog = settings.DATA_CATALOG_CLASS.from_config(
            catalog=catalog_config, credentials=credentials)
        return catalog

    @cached_property
    def parameters(self) -> dict[str, Any]:
        """The project's parameters ({} without any), as its config loader reads them for
        `kedro run`, without a session; an error names the file and the key."""
        self.session.bootstrap()
        with quiet_config_loader():
            return self._catalog_part(self.session.config_loader(), "parameters")

    def _catalog_part(self, loader: AbstractConfigLoader, config_key: str) -> dict[str, Any]:
        """loader[config_key] ({} when there is none); an error names the file and the key."""
        from kedro.config import MissingConfigException
        from omegaconf.errors import OmegaConfBaseException

        try:
            part: dict[str, Any] = loader[config_key]
            return part
        except MissingConfigException:
            return {}
        except (OmegaConfBaseException, ValueError, yaml.YAMLError) as exc:
            full_key = getattr(exc, "full_key", None)
            text = config_error_text(exc, self.session.path)
            missing = re.search(r"Runtime parameter '([^']+)' not found", text)
            if missing:
                name = missing.group(1)
                text = text.rstrip(".") + (
                    " (tasks pass only run_config.macro_params and variables_params: add "
                    f"{name} to one, or give a default, ${{runtime_params:{name},default}})")
            where = self._file_declaring(loader, config_key, full_key)
            raise CompileError(f"{where}: {text}") from None

    def _file_declaring(self, loader: AbstractConfigLoader, config_key: str,
                        full_key: str | None) -> str:
        """The conf file that holds `full_key`, preferring one whose value there is an
        interpolation (base before env, as Kedro resolves them); else the config key itself
        ("catalog"). For error messages only."""
        path = self.session.path
        conf = path / self.session.settings.CONF_SOURCE
        patterns = getattr(loader, "config_patterns", {}).get(config_key, [])
        found: list[tuple[bool, Path]] = []
        base = getattr(loader, "base_env", None) or "base"
        for env in dict.fromkeys([base, self.session.run_env]):
            paths = {path for pattern in patterns for path in (conf / env).glob(pattern)}
            for file in sorted(paths):
                if file.suffix not in (".yml", ".yaml", ".json") or file.name.startswith("."):
                    continue
                try:
                    top = yaml.safe_load(file.read_text(encoding="utf-8"))
                except (OSError, ValueError, yaml.YAMLError):
                    continue
                value = _value_at(top, full_key) if full_key else None
                if value is not _ABSENT:
                    found.append(("${" in str(value), file))
        if not found:
            return config_key
        interpolated = [file for is_interpolation, file in found if is_interpolation]
        return str((interpolated or [found[0][1]])[0].relative_to(path))

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
    def registered(self) -> set[str]:
        """The names the catalog's config declares (not its dataset factories)."""
        return set(self.catalog.keys())

    @property
    def patterns(self) -> dict[str, Any]:
        """The catalog's dataset factories and catch-all, as written in its config."""
        _ = self.catalog  # loading the catalog reads them
        return self._patterns

    def _pattern_type(self, dataset: str) -> str | None:
        """The type a dataset factory gives, once per pattern when it holds no placeholder.

        Resolving a pattern costs about half a millisecond per dataset; thousands of
        datasets from one pattern share one type. Falls back (None) to a full resolution.
        """
        if dataset in self.registered:
            return None
        resolver = self.catalog.config_resolver
        pattern = (resolver.match_dataset_pattern(dataset)
                   or resolver.match_user_catch_all_pattern(dataset))
        if pattern is None:
            return None
        raw = self.patterns.get(pattern)
        declared = raw.get("type") if isinstance(raw, dict) else None
        if not isinstance(declared, str) or "{" in declared:
            return None
        if pattern not in self._pattern_types:
            self._pattern_types[pattern] = self._resolved_type(dataset)
        return self._pattern_types[pattern]

    def load(self) -> None:
        """Load the catalog now rather than at first use (see KedroProject.every_pipeline)."""
        _ = self.registered, self.patterns


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
