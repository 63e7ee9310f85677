"""`init`: a documented airflow-k8s.yaml, the Dockerfile and .dockerignore of the image the
pods run, and, on request, GitHub Actions workflows."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import BaseModel

from kedro_airflow_k8s import __version__
from kedro_airflow_k8s.config import (
    CONFIG_FILE,
    PluginConfig,
    airflow_url_problem,
    parse_config,
    placeholder_image,
)
from kedro_airflow_k8s.errors import ConfigError, InitError
from kedro_airflow_k8s.mlflow_run import kedro_mlflow_server
from kedro_airflow_k8s.render import TEMPLATES, write_atomically
from kedro_airflow_k8s.upload import SCHEME_EXTRAS

if TYPE_CHECKING:
    from jinja2 import Template

    from kedro_airflow_k8s.context import KedroProject

WORKFLOWS = ("on-push.yml", "on-merge-to-main.yml")
PLUGIN = "kedro-airflow-k8s"


@dataclass(frozen=True)
class PluginInstall:
    """How the files `init` writes install this plugin: as the project's dependency file
    names it, else pinned to the version writing them (PyPI's 0.8.2 and older are the
    original plugin, for Kedro < 0.18)."""

    dependency_file: str = "requirements.txt"
    declared: str | None = None  # the requirement as the file writes it; None: not there

    def requirement(self, extra: str | None = None) -> str | None:
        """What pip must be given beside the project's own dependencies; None: nothing."""
        name = f"{PLUGIN}[{extra}]" if extra else PLUGIN
        if self.declared is not None:
            return name if extra else None  # the version is the one the file names
        return f"{name}=={__version__}"

    @property
    def note(self) -> str | None:
        """The comment beside a pinned requirement."""
        if self.declared is not None:
            return None
        return f"{PLUGIN}=={__version__}: the version init ran; {self.dependency_file} does " \
               "not name it"


def plugin_install(project_path: Path) -> PluginInstall:
    """Where the project declares this plugin: requirements.txt when it has one (what the
    workflows install), else pyproject.toml's [project] dependencies."""
    requirements = project_path / "requirements.txt"
    if requirements.is_file():
        lines = _requirement_lines(requirements, set())
        return PluginInstall("requirements.txt", _declared(lines))
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    try:
        pyproject = tomllib.loads((project_path / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pyproject = {}
    dependencies = pyproject.get("project", {}).get("dependencies", [])
    return PluginInstall("pyproject.toml", _declared(dependencies))


def _requirement_lines(path: Path, seen: set[Path]) -> list[str]:
    """The requirements of a pip requirements file, with the files it includes (-r)."""
    if path.resolve() in seen or not path.is_file():
        return []
    seen.add(path.resolve())
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = re.sub(r"(^|\s)#.*", "", line).strip()
        include = re.match(r"(?:-r|--requirement)(?:\s+|=)(\S+)", line)
        if include:
            found += _requirement_lines(path.parent / include.group(1), seen)
        elif line and not line.startswith("-"):
            found.append(line)
    return found


def _declared(requirements: list[str]) -> str | None:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    for text in requirements:
        try:
            if canonicalize_name(Requirement(text).name) == PLUGIN:
                return text
        except InvalidRequirement:
            continue
    return None


def version_conflict(install: PluginInstall) -> str | None:
    """A note when the project's file asks for a version this one is not."""
    from packaging.requirements import Requirement

    if install.declared is None:
        return None
    specifier = Requirement(install.declared).specifier
    if not specifier or specifier.contains(__version__, prereleases=True):
        return None
    return (f"Note: {install.dependency_file} asks for {install.declared!r}, which excludes "
            f"{__version__}, the version writing these files (0.8.2 and older are the "
            "original plugin, for Kedro < 0.18): ask for >=0.9 there.")


def field_doc(path: str, model: type[BaseModel] = PluginConfig) -> str:
    """The description of a config key, by dotted path (`run_config.volume.size`)."""
    head, _, rest = path.partition(".")
    field = model.model_fields[head]
    if not rest:
        return field.description or ""
    annotation = field.annotation
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return field_doc(rest, candidate)
        for inner in getattr(candidate, "__args__", ()):  # list[Model], dict[str, Model]
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return field_doc(rest, inner)
    raise KeyError(path)


def render_config(airflow_url: str, output: str, image: str, run_name: str) -> str:
    import jinja2  # only `init` and `build` render templates

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["quote"] = _yaml_scalar
    return env.get_template("airflow-k8s.yaml.j2").render(
        doc=lambda path: "# " + field_doc(path), airflow_url=airflow_url, output=output,
        image=image, run_name=run_name,
    )


def _yaml_scalar(value: str) -> str:
    import json

    return json.dumps(value)  # a JSON string is a YAML scalar


def _python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def render_workflow(name: str, package: str, *, dag_id: str | None = None,
                    output: str = "dags", requirements: bool = True,
                    python: str | None = None, plugin: PluginInstall | None = None) -> str:
    """A workflow of `init --with-github-actions`; `requirements`: the project has a
    requirements.txt (else its dependencies are in pyproject.toml); `plugin`: where the
    project declares this plugin (default: nowhere)."""
    import jinja2  # only `init` and `build` render templates

    env = jinja2.Environment(  # GitHub's own ${{ }} must pass through untouched
        loader=jinja2.FileSystemLoader(TEMPLATES / "github"), undefined=jinja2.StrictUndefined,
        variable_start_string="<<", variable_end_string=">>", keep_trailing_newline=True,
    )
    dependency_file = "requirements.txt" if requirements else "pyproject.toml"
    plugin = plugin or PluginInstall(dependency_file)
    extra = SCHEME_EXTRAS.get(output.partition("://")[0]) if "://" in output else None
    wanted = plugin.requirement(extra)
    project = "-r requirements.txt" if requirements else "."
    return env.get_template(name).render(
        package=package, dag_id=dag_id or package, python=python or _python(),
        install=f'pip install {project}' + (f' "{wanted}"' if wanted else ""),
        install_note=plugin.note, dependency_file=dependency_file)


def render_dockerfile(*, requirements: bool = True, mlflow: bool = False,
                      python: str | None = None, plugin: PluginInstall | None = None) -> str:
    """The image the pods run: the project installed in /home/kedro (`kedro` on PATH, conf/
    and data/ below it), this plugin and mlflow too when `mlflow` (or as a comment), as
    `plugin` says the project declares it (default: nowhere)."""
    plugin = plugin or PluginInstall("requirements.txt" if requirements else "pyproject.toml")
    return _docker_template("Dockerfile.j2").render(
        python=python or _python(), requirements=requirements, mlflow=mlflow,
        plugin=plugin.requirement("mlflow"), plugin_note=plugin.note)


def render_dockerignore() -> str:
    return _docker_template("dockerignore.j2").render()


def _docker_template(name: str) -> Template:
    import jinja2  # only `init` and `build` render templates

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES / "docker"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.get_template(name)


@dataclass
class Scaffold:
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)  # existing image files, left as they are
    notes: list[str] = field(default_factory=list)


def write_scaffold(project: KedroProject, airflow_url: str, output: str, with_github_actions: bool,
                   force: bool) -> Scaffold:
    """Write the files of `init`: refuse to overwrite the config or a workflow without
    `force`; keep an existing Dockerfile or .dockerignore without `force`."""
    from kedro.framework.project import settings

    if problem := airflow_url_problem(airflow_url):
        raise ConfigError(f"AIRFLOW_URL: {problem}")
    package = project.package_name
    requirements = (project.path / "requirements.txt").is_file()
    plugin = plugin_install(project.path)
    config_text = render_config(airflow_url, output, image=placeholder_image(package),
                                run_name=package)
    files = {project.path / settings.CONF_SOURCE / "base" / CONFIG_FILE: config_text}
    if with_github_actions:
        for name in WORKFLOWS:
            files[project.path / ".github" / "workflows" / name] = render_workflow(
                name, package, dag_id=package, output=output, requirements=requirements,
                plugin=plugin)
    existing = [str(path) for path in files if path.exists()]
    if existing and not force:
        raise InitError(f"{', '.join(existing)} already exists: pass --force to overwrite")
    parse_config(yaml.safe_load(config_text))  # never write an invalid config
    result = Scaffold(notes=[note for note in [version_conflict(plugin)] if note])
    image_files = {
        project.path / "Dockerfile": render_dockerfile(
            requirements=requirements, mlflow=kedro_mlflow_server(project) is not None,
            plugin=plugin),
        project.path / ".dockerignore": render_dockerignore(),
    }
    for path, text in image_files.items():
        if path.exists() and not force:
            result.kept.append(path)
        else:
            files[path] = text
    for path, text in files.items():
        write_atomically(path, text)
        result.written.append(path)
    return result
