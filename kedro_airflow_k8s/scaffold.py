"""`init`: a documented airflow-k8s.yaml and, on request, GitHub Actions workflows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import yaml
from pydantic import BaseModel

from kedro_airflow_k8s.config import CONFIG_FILE, PluginConfig, parse_config
from kedro_airflow_k8s.errors import InitError
from kedro_airflow_k8s.render import TEMPLATES, write_atomically

WORKFLOWS = ("on-push.yml", "on-merge-to-main.yml")


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


def render_workflow(name: str, package: str) -> str:
    env = jinja2.Environment(  # GitHub's own ${{ }} must pass through untouched
        loader=jinja2.FileSystemLoader(TEMPLATES / "github"), undefined=jinja2.StrictUndefined,
        variable_start_string="<<", variable_end_string=">>", keep_trailing_newline=True,
    )
    return env.get_template(name).render(package=package)


def write_scaffold(project: Any, airflow_url: str, output: str, with_github_actions: bool,
                   force: bool) -> list[Path]:
    """Write the files of `init`; refuse to overwrite any of them without `force`."""
    from kedro.framework.project import settings

    package = project.package_name
    files = {
        project.path / settings.CONF_SOURCE / "base" / CONFIG_FILE: render_config(
            airflow_url, output, image=package.replace("_", "-"), run_name=package
        ),
    }
    if with_github_actions:
        for name in WORKFLOWS:
            files[project.path / ".github" / "workflows" / name] = render_workflow(name, package)
    existing = [str(path) for path in files if path.exists()]
    if existing and not force:
        raise InitError(f"{', '.join(existing)} already exists: pass --force to overwrite")
    parse_config(yaml.safe_load(next(iter(files.values()))))  # never write an invalid config
    for path, text in files.items():
        write_atomically(path, text)
    return list(files)
