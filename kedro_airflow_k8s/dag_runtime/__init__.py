"""The runtime code of a generated DAG file, as modules the tools can check.

A DAG file imports only Airflow and its providers, so the renderer copies these functions and
classes into it by their source (`source`), without their type annotations: the file reads as
it did when the code lived in the template. The source is read from the module's file, not
from the imported module: `operators` imports Airflow, which the CLI does not pay for.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

# The modules whose pieces a DAG file holds, each top-level name defined in one of them.
MODULES = (Path(__file__).with_name("filters.py"), Path(__file__).with_name("operators.py"))


@functools.cache
def _parsed(module: Path) -> tuple[str, ast.Module]:
    text = module.read_text(encoding="utf-8")
    return text, ast.parse(text)


@functools.cache
def source(name: str) -> str:
    """The source of the top-level function or class `name` of MODULES as a DAG file holds
    it: each `def` line without its annotations; all else (docstrings, comments) as written."""
    for module in MODULES:
        text, tree = _parsed(module)
        for piece in tree.body:
            if isinstance(piece, (ast.FunctionDef, ast.ClassDef)) and piece.name == name:
                return _unannotated(piece, text)
    raise LookupError(f"kedro_airflow_k8s.dag_runtime defines no {name}")


def _unannotated(piece: ast.FunctionDef | ast.ClassDef, text: str) -> str:
    first = piece.lineno
    lines = text.splitlines()[first - 1:piece.end_lineno]
    functions = [node for node in ast.walk(piece) if isinstance(node, ast.FunctionDef)]
    for function in sorted(functions, key=lambda node: node.lineno, reverse=True):
        indent = " " * function.col_offset
        lines[function.lineno - first:function.body[0].lineno - first] = [
            f"{indent}def {function.name}({_parameters(function.args, text)}):"]
    return "\n".join(lines)


def _parameters(arguments: ast.arguments, text: str) -> str:
    """The parameters with their defaults as written, without annotations."""
    if arguments.posonlyargs:
        raise ValueError("a DAG file's function takes no positional-only parameters")

    def each(arg: ast.arg, default: ast.expr | None) -> str:
        return arg.arg if default is None else \
            f"{arg.arg}={ast.get_source_segment(text, default)}"

    defaults: list[ast.expr | None] = [None] * (len(arguments.args) - len(arguments.defaults))
    defaults += arguments.defaults
    parts = [each(arg, default) for arg, default in zip(arguments.args, defaults, strict=True)]
    if arguments.vararg or arguments.kwonlyargs:
        parts.append(f"*{arguments.vararg.arg}" if arguments.vararg else "*")
    parts += [each(arg, default) for arg, default in
              zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)]
    if arguments.kwarg:
        parts.append(f"**{arguments.kwarg.arg}")
    return ", ".join(parts)
