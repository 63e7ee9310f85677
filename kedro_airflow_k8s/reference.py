"""The configuration reference, generated from the config model (the docs cannot drift)."""

from __future__ import annotations

import datetime
import json
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from kedro_airflow_k8s.config import PluginConfig


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:  # a checked type (Duration, a pool name): its base type
        return _type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " \\| ".join(names) + (" \\| null" if type(None) in args else "")
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"mapping of {_type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    return {str: "string", int: "integer", bool: "boolean", float: "number",
            datetime.timedelta: "duration"}.get(
        annotation, getattr(annotation, "__name__", str(annotation)))


def _default(field: Any) -> str:
    if field.default is not PydanticUndefined:
        value = field.default
    elif field.default_factory is not None:
        value = field.default_factory()
    else:
        return "**required**"
    if isinstance(value, BaseModel):
        return "see below"
    return f"`{json.dumps(value, default=str)}`"


def _nested(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = _nested(argument)
        if found:
            return found
    return None


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        key = f"{prefix}{name}"
        inner = _nested(annotation)
        container = typing.get_origin(annotation)
        shown = key + ("[]" if container is list and inner else
                       ".&lt;name&gt;" if container is dict and inner else "")
        rows.append(f"| `{shown}` | {_type_name(annotation)} | {_default(field)} | "
                    f"{(field.description or '').replace('|', '/')} |")
        if inner:
            rows += _rows(inner, f"{shown}.")
    return rows


def config_reference() -> str:
    """A Markdown table of every key of airflow-k8s.yaml: type, default, description."""
    header = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    return "\n".join(header + _rows(PluginConfig, "")) + "\n"
