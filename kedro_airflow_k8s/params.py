"""Kedro parameters as Airflow Params: the ones a pipeline reads, typed from their values in
the parameters files, so that Airflow's trigger form shows them and a run passes the changed
ones to `kedro run --params`; and `run-once --params`, parsed as Kedro parses it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kedro_airflow_k8s.errors import CompileError, ConfigError

if TYPE_CHECKING:
    from kedro.pipeline import Pipeline

# JSON schema types of Airflow's Param, by the Python type of a value of the parameters files
_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
          (list, "array"))
# `kedro run --params` splits at ',' and '=', and OmegaConf reads '.', '[' and ']' in a key
_KEY_BREAKERS = set(",=.[]")


@dataclass(frozen=True)
class TriggerParam:
    """A Kedro parameter leaf the pipeline reads: its dotted name, value and Param schema."""

    name: str
    default: Any
    schema: dict[str, Any]  # JSON schema: the type, and a list's item type when it has one


def read_parameters(pipeline: Pipeline) -> list[str]:
    """The parameter paths the nodes read, sorted: `params:a.b` -> "a.b"; `parameters` -> ""
    (all of them)."""
    found = set()
    for name in {i for node in pipeline.nodes for i in node.inputs}:
        if name == "parameters":
            found.add("")
        elif name.startswith("params:"):
            found.add(name[len("params:"):])
    return sorted(found)


def trigger_params(pipeline: Pipeline, parameters: dict[str, Any], passed: Iterable[str] = (),
                   notify: Callable[[str], None] = lambda line: None) -> list[TriggerParam]:
    """The leaves of the parameters the pipeline reads, by dotted name, as Params: a node
    reading `params:model` reads every leaf under `model`. Those `passed` already
    (run_config.macro_params, variables_params) and null or empty values (no type to give
    them) are left out, with a note for the latter. A key `kedro run --params` cannot name is
    a CompileError."""
    leaves: dict[str, Any] = {}
    for path in read_parameters(pipeline):
        value = _at(parameters, path)
        if value is not _ABSENT:
            _flatten(path, value, leaves)
    taken = set(passed)
    found, untyped = [], []
    for name in sorted(leaves):
        if name in taken or any(name.startswith(f"{other}.") for other in taken):
            continue
        schema = _schema(leaves[name])
        if schema is None:
            untyped.append(name)
        else:
            found.append(TriggerParam(name, leaves[name], schema))
    if untyped:
        notify(f"Note: parameters {', '.join(untyped)} are null or empty: Airflow's trigger "
               "form leaves them out (give them a value of their type to show them).")
    return found


_ABSENT = object()


def _schema(value: Any) -> dict[str, Any] | None:
    """The Param schema of a value: its type; for a list, its items' types too, so that
    Airflow's form edits it as JSON and keeps them (it makes text of an untyped list's)."""
    kind = next((name for cls, name in _TYPES if isinstance(value, cls)), None)
    if kind is None:
        return None
    schema: dict[str, Any] = {"type": kind}
    if kind == "array" and value:
        items = sorted({(_schema(item) or {"type": "null"})["type"] for item in value})
        schema["items"] = {"type": items[0] if len(items) == 1 else items}
    return schema


def _at(parameters: dict[str, Any], path: str) -> Any:
    """The value at a dotted path, as Kedro's `params:` reads it; _ABSENT when missing."""
    value: Any = parameters
    for part in path.split(".") if path else []:
        if not isinstance(value, dict) or part not in value:
            return _ABSENT
        value = value[part]
    return value


def _flatten(name: str, value: Any, into: dict[str, Any]) -> None:
    if not isinstance(value, dict) or not value:
        into[name] = value
        return
    for key, item in value.items():
        if not isinstance(key, str) or not key or key.strip() != key or \
                _KEY_BREAKERS & set(key):
            where = f"{name}.{key}" if name else str(key)
            raise CompileError(
                f"parameter {where!r}: `kedro run --params` cannot name this key (it must be "
                "a text without ',', '=', '.', '[', ']' or spaces at its ends): rename it, "
                "or set run_config.params_form: false")
        _flatten(f"{name}.{key}" if name else key, item, into)


def parse_run_params(text: str, known: Iterable[str], *, macros: Iterable[str] = (),
                     variables: Iterable[str] = (),
                     schemas: Mapping[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """`run-once --params key=value,...` as `kedro run --params` reads it (values as YAML,
    dotted keys nested), flattened back to the dotted names of the DAG's Params, which it
    must name, each value of its Param's type (`schemas`, name -> schema); `macros` and
    `variables` (run_config.macro_params, variables_params) are set by Airflow, not by a
    run."""
    import click
    from kedro.framework.cli.utils import _split_params

    command = click.Command("run-once", params=[click.Option(["--params"])])
    try:
        nested = _split_params(click.Context(command), command.params[0], text)
    except click.UsageError as exc:
        raise ConfigError(f"--params: {exc.format_message()}") from None
    except Exception as exc:  # OmegaConf's parse errors
        raise ConfigError(f"--params: cannot read {text!r}: "
                          f"{str(exc).splitlines()[0]}") from None
    flat: dict[str, Any] = {}
    _flatten("", nested, flat)
    names = set(known)
    for source, key, what in ((macros, "macro_params", "macro"),
                              (variables, "variables_params", "Variable")):
        fixed = sorted(set(flat) & set(source))
        if fixed:
            it = "it" if len(fixed) == 1 else "them"
            raise ConfigError(
                f"--params: {', '.join(fixed)} cannot be set by a run: run_config.{key} sets "
                f"{it} from the Airflow {what} of that name when the run starts; remove {it} "
                "from --params")
    unknown = sorted(set(flat) - names)
    if unknown:
        raise ConfigError(
            f"--params: the DAG has no parameter {', '.join(unknown)} (it has "
            f"{', '.join(sorted(names)) or 'none'}: Kedro parameters its nodes read)")
    wrong = [f"{name}={flat[name]!r} is not {_described(schema)}"
             for name, schema in sorted((schemas or {}).items())
             if name in flat and not _fits(flat[name], schema)]
    if wrong:
        raise ConfigError(f"--params: {'; '.join(wrong)} (the type of its value in the "
                          "parameters files, which the DAG's Param requires)")
    return flat


# What Airflow's Param (jsonschema) takes for a `_schema` type: a bool is no number in JSON
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "boolean": (bool,), "integer": (int,), "number": (int, float), "string": (str,),
    "array": (list,), "null": (type(None),)}
_NAMES = {"boolean": "a boolean", "integer": "an integer", "number": "a number",
          "string": "a string", "array": "a list", "null": "null"}


def _fits(value: Any, schema: dict[str, Any]) -> bool:
    """Whether Airflow accepts `value` for a Param of a schema `_schema` wrote (its type, a
    list's item types), as jsonschema decides, before anything is uploaded."""
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if not any(_is(value, kind) for kind in kinds):
        return False
    items = schema.get("items")
    return items is None or not isinstance(value, list) or all(_fits(i, items) for i in value)


def _is(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()  # jsonschema counts 2.0 as an integer
    return isinstance(value, _JSON_TYPES[kind])


def _described(schema: dict[str, Any]) -> str:
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    text = " or ".join(_NAMES[kind] for kind in kinds)
    items = schema.get("items")
    if items is not None:
        text += f" of {_described(items).split(' ', 1)[1]}s" if not isinstance(
            items["type"], list) else f" (items {_described(items)})"
    return text
