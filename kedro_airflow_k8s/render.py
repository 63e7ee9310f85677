"""DagSpec -> the text of one Python DAG file, through a Jinja2 template."""

from __future__ import annotations

import ast
import dataclasses
import os
import shlex
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from kedro_airflow_k8s import dagspec
from kedro_airflow_k8s.dag_runtime import source
from kedro_airflow_k8s.dagspec import DagSpec, Verbatim, py
from kedro_airflow_k8s.errors import CompileError, OutputError

if TYPE_CHECKING:
    import jinja2

TEMPLATES = Path(__file__).parent / "templates"


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Jinja's per-user cache of compiled templates: compiling the DAG template is a good part
    of a small project's compile time. A cache that cannot be written is no error."""
    import jinja2

    class BytecodeCache(jinja2.FileSystemBytecodeCache):
        def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            try:
                super().dump_bytecode(bucket)
            except OSError:
                pass

    try:
        return BytecodeCache()
    except (OSError, RuntimeError):  # no private temporary directory to be had
        return None


def template_environment(folder: Path = TEMPLATES) -> jinja2.Environment:
    """The Jinja environment of the generated files (DAG, Spark scripts)."""
    import jinja2

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


# The names the file defines that the compiler refers to, and its code (dag_runtime) by name.
_NAMES = {"names": {
    "run_hash_filter": dagspec.RUN_HASH_FILTER, "param_filter": dagspec.PARAM_FILTER,
    "changed_params_filter": dagspec.CHANGED_PARAMS_FILTER, "kedro_yaml": dagspec.KEDRO_YAML,
    "pod_arguments": dagspec.POD_ARGUMENTS, "assets": dagspec.ASSETS,
    "kedro_parameters": dagspec.KEDRO_PARAMETERS, "kedro_run": dagspec.KEDRO_RUN,
    "volume_claim": dagspec.VOLUME_CLAIM, "node_pod": dagspec.NODE_POD.name,
    "node_bash": dagspec.NODE_BASH.name,
}, "source": source}


def render_dag(spec: DagSpec) -> str:
    """The DAG file's text: same spec, same bytes."""
    template = template_environment().get_template("dag.py.j2")
    _check_operator_names(spec, template)
    return template.render(spec=spec, **_NAMES)


def _check_operator_names(spec: DagSpec, template: jinja2.Template) -> None:
    """An operator (from a Spark factory) may share a name with what the file binds only by
    being the same import: the file's own names are read from the file without its tasks."""
    own = template.render(spec=dataclasses.replace(spec, tasks=[]), **_NAMES)
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
