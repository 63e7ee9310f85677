"""The Kedro side: one pipeline of a Kedro project, with the project's session (bootstrap,
env, config, registry, commit, version: session.ProjectSession) and what its catalog says of
each dataset (catalog_view.CatalogView). Reading the plugin's own config file is
project_config's.

Every pipeline of one command holds the same session and catalog view, by reference: the
project is bootstrapped and its catalog read once, lazily, by the first command that needs
them.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro_airflow_k8s.catalog_view import CatalogView
from kedro_airflow_k8s.config import PluginConfig
from kedro_airflow_k8s.errors import CompileError
from kedro_airflow_k8s.project_config import dynamic_config_values  # noqa: F401 - public
from kedro_airflow_k8s.session import ProjectSession

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata
    from kedro.pipeline import Pipeline


class KedroProject:
    """One pipeline of a Kedro project on disk, seen by this plugin."""

    def __init__(self, session: ProjectSession, pipeline_name: str = "__default__",
                 catalog_view: CatalogView | None = None) -> None:
        self.session = session
        self.pipeline_name = pipeline_name
        self.catalog_view = catalog_view or CatalogView(session)

    @classmethod
    def at(cls, path: Path, env: str | None = None, pipeline_name: str = "__default__",
           env_label: str = "-e/--env", bootstrapped: ProjectMetadata | None = None,
           dag_location: str | Path | None = None) -> KedroProject:
        """The project at `path`, in a new session; nothing is loaded yet."""
        return cls(ProjectSession(path, env, env_label, bootstrapped, dag_location),
                   pipeline_name)

    @cached_property
    def pipeline(self) -> Pipeline:
        known = self.session.pipelines
        if self.pipeline_name not in known:
            raise CompileError(f"--pipeline: no pipeline named '{self.pipeline_name}' (known: "
                               f"{', '.join(sorted(known)) or 'none'})")
        return known[self.pipeline_name]

    def for_pipeline(self, name: str) -> KedroProject:
        """This project with another pipeline, sharing this one's session and catalog view
        (bootstrap, registry, config, catalog, dataset types, commit, version, parameters)."""
        return KedroProject(self.session, name, self.catalog_view)

    def every_pipeline(self, with_default: bool = False) -> list[KedroProject]:
        """One project per registered pipeline, by name (`__default__` only `with_default`),
        the config and catalog loaded once for all of them."""
        names = sorted(name for name in self.session.pipelines
                       if with_default or name != "__default__")
        if not names:
            raise CompileError("--all: the project registers no pipeline but __default__ "
                               "(--with-default compiles it too)")
        # Loaded before any pipeline compiles, so that an error in them is the project's,
        # not named after the first pipeline.
        config = self.session.config
        self.catalog_view.load()
        _ = self.session.commit_sha, self.session.project_version
        if config.run_config.params_form:
            _ = self.catalog_view.parameters
        return [self.for_pipeline(name) for name in names]

    # What the session knows, for the commands and the compiler

    @property
    def path(self) -> Path:
        return self.session.path

    @property
    def dag_location(self) -> str | Path | None:
        """The command's -o, shared by every pipeline of the command (see session)."""
        return self.session.dag_location

    @dag_location.setter
    def dag_location(self, location: str | Path | None) -> None:
        self.session.dag_location = location

    def bootstrap(self) -> ProjectMetadata:
        return self.session.bootstrap()

    @property
    def metadata(self) -> ProjectMetadata:
        return self.session.metadata

    @property
    def package_name(self) -> str:
        return self.session.package_name

    @property
    def run_env(self) -> str:
        return self.session.run_env

    @property
    def env_source(self) -> str | None:
        return self.session.env_source

    @property
    def config(self) -> PluginConfig:
        return self.session.config

    def load_raw_config(self) -> dict[str, Any]:
        return self.session.load_raw_config()

    def kedro_mlflow_config(self) -> dict[str, Any] | None:
        return self.session.kedro_mlflow_config()

    @property
    def commit_sha(self) -> str | None:
        return self.session.commit_sha

    @property
    def project_version(self) -> str:
        return self.session.project_version

    # What the catalog view knows

    @property
    def parameters(self) -> dict[str, Any]:
        return self.catalog_view.parameters

    def is_persisted(self, dataset: str) -> bool:
        return self.catalog_view.is_persisted(dataset)

    def dataset_type(self, dataset: str) -> str | None:
        return self.catalog_view.dataset_type(dataset)

    def dataset_config(self, dataset: str) -> dict[str, Any]:
        return self.catalog_view.dataset_config(dataset)

    def dataset_location(self, dataset: str) -> str | None:
        return self.catalog_view.dataset_location(dataset)

    def dataset_layer(self, dataset: str) -> str | None:
        return self.catalog_view.dataset_layer(dataset)
