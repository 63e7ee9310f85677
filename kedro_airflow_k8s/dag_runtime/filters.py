"""The Jinja filters a DAG file defines, copied into it by their source (see `source`)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

# The DAG file defines this from the parameters files (see the template); empty here.
KEDRO_PARAMETERS: dict[str, Any] = {}


def kedro_run_hash(run_id: str) -> str:
    """16 hex characters unique to this run, for per-run names (run ids hold ':' and '+')."""
    return hashlib.sha256(run_id.encode()).hexdigest()[:16]


def kedro_param(value: object) -> str:
    """A value as `kedro run --params` keeps it: Kedro splits at every ',' and reads YAML, so
    any but a plain word goes as a YAML string, its commas escaped."""
    text = str(value)
    if text and all(c.isascii() and (c.isalnum() or c in "_.+-") for c in text):
        return text
    return json.dumps(text.replace("${", "\\${")).replace(",", "\\u002c")


def kedro_changed_params(params: dict[str, Any], before: str = "") -> str:
    """The run's Params that differ from KEDRO_PARAMETERS, as `kedro run --params` pairs
    (after `before`, when there are some)."""
    pairs = ",".join(f"{name}={kedro_yaml(params[name])}" for name, default in
                     KEDRO_PARAMETERS.items() if name in params and params[name] != default)
    return before + pairs if pairs else ""


def kedro_yaml(value: object, indent: str = "") -> str:
    """A value as Kedro reads it (YAML; it splits at every ','): strings as JSON, their
    commas escaped, lists and mappings in block style."""
    if isinstance(value, list) and value:
        return "".join(f"\n{indent}- {kedro_yaml(item, indent + '  ')}" for item in value)
    if isinstance(value, dict) and value:
        return "".join(f"\n{indent}{kedro_yaml(str(key))}: {kedro_yaml(item, indent + '  ')}"
                       for key, item in value.items())
    if isinstance(value, str):
        value = value.replace("${", "\\${")
    return json.dumps(value, ensure_ascii=False).replace(",", "\\u002c")
