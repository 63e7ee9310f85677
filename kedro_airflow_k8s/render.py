"""DagSpec -> the text of one Python DAG file, through a Jinja2 template."""

from __future__ import annotations

import ast
import dataclasses
import datetime
import os
import shlex
import tempfile
from pathlib import Path
from typing import Any

import jinja2

from kedro_airflow_k8s.dagspec import (
    CHANGED_PARAMS_FILTER,
    PARAM_FILTER,
    RUN_HASH_FILTER,
    Call,
    DagSpec,
    Ref,
    Verbatim,
)
from kedro_airflow_k8s.errors import CompileError, OutputError

TEMPLATES = Path(__file__).parent / "templates"


def py(value: Any, indent: int = 0) -> str:
    """Python source for a plain value; user text can never escape its string literal."""
    pad = " " * (indent + 4)
    if isinstance(value, Verbatim):
        return f"literal({py(value.text)})"
    if isinstance(value, Ref):
        return value.name if value.key is None else f"{value.name}[{py(value.key)}]"
    if isinstance(value, Call):
        return _call(value, indent)
    if isinstance(value, str) and _fits_triple_quotes(value):
        return f'"""{value}"""'
    if isinstance(value, (str, int, float, bool)) or value is None:
        return repr(value)
    if isinstance(value, datetime.date):
        return (f"datetime.datetime({value.year}, {value.month}, {value.day}, "
                "tzinfo=datetime.timezone.utc)")
    if isinstance(value, dict):
        if not value:
            return "{}"
        inline = "{" + ", ".join(f"{py(k)}: {py(v, indent)}" for k, v in value.items()) + "}"
        if len(inline) <= 88 - indent and "\n" not in inline:
            return inline
        items = [f"{pad}{py(k)}: {py(v, indent + 4)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        inline = "[" + ", ".join(py(v, indent) for v in value) + "]"
        if len(inline) <= 88 - indent and "\n" not in inline:
            return inline
        items = [f"{pad}{py(v, indent + 4)}," for v in value]
        return "[\n" + "\n".join(items) + "\n" + " " * indent + "]"
    raise TypeError(f"cannot print {type(value).__name__} into a DAG file")


def _call(call: Call, indent: int) -> str:
    parts = [py(a, indent + 4) for a in call.args]
    parts += [f"{key}={py(item, indent + 4)}" for key, item in call.kwargs.items()]
    inline = f"{call.function}({', '.join(parts)})"
    if len(inline) <= 88 - indent and "\n" not in inline:
        return inline
    pad = " " * (indent + 4)
    return f"{call.function}(\n" + "".join(f"{pad}{part},\n" for part in parts) + \
        " " * indent + ")"


def _fits_triple_quotes(text: str) -> bool:
    """Multi-line text that reads the same inside triple quotes (no escapes needed)."""
    return ("\n" in text and text.isascii() and '"""' not in text and "\\" not in text
            and not text.endswith('"') and all(c.isprintable() or c == "\n" for c in text))


class _BytecodeCache(jinja2.FileSystemBytecodeCache):
    """Jinja's per-user cache of compiled templates: compiling the DAG template is a good part
    of a small project's compile time. A cache that cannot be written is no error."""

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    try:
        return _BytecodeCache()
    except (OSError, RuntimeError):  # no private temporary directory to be had
        return None


def template_environment(folder: Path = TEMPLATES) -> jinja2.Environment:
    """The Jinja environment of the generated files (DAG, Spark scripts)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        bytecode_cache=_bytecode_cache(),
    )
    env.filters.update(py=py, verbatim=Verbatim, shell=shlex.quote)
    return env


_FILTER_NAMES = {"run_hash_filter": RUN_HASH_FILTER, "param_filter": PARAM_FILTER,
                 "changed_params_filter": CHANGED_PARAMS_FILTER}


def render_dag(spec: DagSpec) -> str:
    """The DAG file's text: same spec, same bytes."""
    template = template_environment().get_template("dag.py.j2")
    _check_operator_names(spec, template)
    return template.render(spec=spec, **_FILTER_NAMES)


def _check_operator_names(spec: DagSpec, template: jinja2.Template) -> None:
    """An operator (from a Spark factory) may share a name with what the file binds only by
    being the same import: the file's own names are read from the file without its tasks."""
    own = template.render(spec=dataclasses.replace(spec, tasks=[]), **_FILTER_NAMES)
    bound: dict[str, str | None] = {}  # name -> module it is imported from, None: defined
    for statement in ast.walk(ast.parse(own)):
        if isinstance(statement, ast.ImportFrom):
            bound.update({alias.asname or alias.name: statement.module
                          for alias in statement.names})
        elif isinstance(statement, ast.Import):
            bound.update({(alias.asname or alias.name).split(".")[0]: alias.name
                          for alias in statement.names})
        elif isinstance(statement, (ast.FunctionDef, ast.ClassDef, ast.Name)):
            name = statement.id if isinstance(statement, ast.Name) else statement.name
            bound.setdefault(name, None)
    for defined in spec.defined_operators:
        bound[defined.name] = None
    for module, name in spec.imports:
        if bound.setdefault(name, module) != module:
            where = f"from {bound[name]}" if bound[name] else "by the DAG file itself"
            raise CompileError(f"run_config.spark: operator {module}.{name} has the name of "
                               f"one imported {where}; alias it in a module of yours")


def write_atomically(path: Path, text: str | bytes) -> None:
    """Write `text` to `path` so that a reader sees the old file or the new one, never half."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                             suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(text.encode("utf-8") if isinstance(text, str) else text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
