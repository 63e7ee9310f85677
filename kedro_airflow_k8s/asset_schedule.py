"""Scheduling a DAG on data: `run_config.schedule_on` and `schedule --on-assets`.

A condition is a tree of references, `all` (AND) or `any` (OR) of its items. A reference is

- an asset URI (`s3://lake/orders.parquet`, `kedro://ingest/orders`): as written, normalised
  as a dataset's location is (assets.asset_uri);
- `<package>:<dataset>`, a dataset of another Kedro project: `kedro://<package>/<dataset>`;
- a dataset name of this project's catalog: its Asset URI by the rule of assets.py.

In the config: a list (all of), a mapping `{all: [...]}` or `{any: [...]}` (nested at will),
or one reference. On the command line: references joined by `,` (all of) and `|` (any of),
`,` binding tighter, with parentheses for grouping: `orders,(s3://a/x|other:y)`.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from kedro_airflow_k8s.airflow_provider import uri_problem
from kedro_airflow_k8s.assets import (
    asset_uri,
    checked_uri,
    dataset_uri,
    kedro_uri,
    run_scoped,
)
from kedro_airflow_k8s.dagspec import ASSETS, Call, Ref
from kedro_airflow_k8s.errors import CompileError, ConfigError

_PROJECT_DATASET = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):([^:/]+)$")
_NOT_CRON = {"@once", "@continuous"}


@dataclass(frozen=True)
class AssetCondition:
    """All (AND) or any (OR) of its items: references (str) or conditions."""

    kind: Literal["all", "any"]
    items: tuple[str | AssetCondition, ...]

    def references(self) -> list[str]:
        found: list[str] = []
        for item in self.items:
            found += item.references() if isinstance(item, AssetCondition) else [item]
        return found


def from_config(value: Any, where: str = "") -> AssetCondition | None:
    """The condition a config value writes; ValueError naming where in it (`where`, after
    `run_config.schedule_on`) and what to change."""
    if value is None:
        return None
    if isinstance(value, (str, list)):
        return _group("all", value if isinstance(value, list) else [value], where)
    if isinstance(value, dict):
        if len(value) != 1 or next(iter(value)) not in ("all", "any"):
            raise ValueError(f"{_at(where)}a mapping has one key, all or any, got "
                             f"{sorted(map(str, value))}")
        kind, items = next(iter(value.items()))
        inner = f"{where}.{kind}" if where else kind
        if not isinstance(items, list):
            raise ValueError(f"{_at(inner)}expected a list, got {items!r}")
        return _group(kind, items, inner)
    raise ValueError(f"{_at(where)}expected a dataset name, an asset URI, a list of them or "
                     f"{{all: [...]}} / {{any: [...]}}, got {value!r}")


def _at(where: str) -> str:
    return f"{where}: " if where else ""


def _group(kind: Literal["all", "any"], items: list[Any], where: str) -> AssetCondition:
    if not items:
        raise ValueError(f"{_at(where)}an empty list schedules on nothing")
    parsed: list[str | AssetCondition] = []
    for index, item in enumerate(items):
        if isinstance(item, str):
            parsed.append(_reference(item, f"{where}[{index}]"))
        else:
            condition = from_config(item, f"{where}[{index}]")
            assert condition is not None
            parsed.append(condition)
    return AssetCondition(kind, tuple(dict.fromkeys(parsed)))


def _reference(text: str, where: str) -> str:
    if not text.strip() or text != text.strip():
        raise ValueError(f"{_at(where)}{text!r} is no dataset name or asset URI (empty, or "
                         "spaces at its ends)")
    return text


def from_expression(text: str, option: str = "--on-assets") -> AssetCondition:
    """The condition of `--on-assets` text: `,` all of, `|` any of, parentheses; ConfigError."""
    parser = _ConditionParser(text, option)
    condition = parser.any_of()
    if parser.peek() is not None:
        raise parser.fail(f"unexpected {parser.peek()!r}")
    return condition if isinstance(condition, AssetCondition) else \
        AssetCondition("all", (condition,))


class _ConditionParser:
    """Recursive descent over `--on-assets` tokens: any_of := all_of ('|' all_of)*,
    all_of := atom (',' atom)*, atom := reference | '(' any_of ')'."""

    def __init__(self, text: str, option: str) -> None:
        self.text, self.option = text, option
        self.tokens = [t for t in re.split(r"([,|()])", text) if t.strip()]
        self.position = 0

    def fail(self, problem: str) -> ConfigError:
        return ConfigError(f"{self.option}: {problem} in {self.text!r}; write references joined "
                           "by ',' (all of) and '|' (any of), e.g. 'orders,(s3://b/x|other:y)'")

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        self.position += 1
        return self.tokens[self.position - 1]

    def items(self, separator: str, parse: Callable[[], Any]) -> list[Any]:
        found = [parse()]
        while self.peek() == separator:
            self.take()
            found.append(parse())
        return found

    def any_of(self) -> Any:
        found = self.items("|", self.all_of)
        return found[0] if len(found) == 1 else AssetCondition("any", tuple(dict.fromkeys(found)))

    def all_of(self) -> Any:
        found = self.items(",", self.atom)
        return found[0] if len(found) == 1 else AssetCondition("all", tuple(dict.fromkeys(found)))

    def atom(self) -> Any:
        token = self.peek()
        if token is None or token in ",|)":
            raise self.fail("a reference is missing")
        self.take()
        if token == "(":
            inner = self.any_of()
            if self.peek() != ")":
                raise self.fail("a '(' is not closed")
            self.take()
            return inner
        return token.strip()


def reference_uri(reference: str, package: str, is_persisted: Callable[[str], bool],
                  location: Callable[[str], str | None], per_run: str | None,
                  where: str, in_pods: bool = False) -> str:
    """The Asset URI a reference names (the module's docstring). A dataset of this project
    whose storage ends with the run (assets.run_scoped; `in_pods`: Kubernetes execution)
    is refused: no run leaves an update of it to schedule on."""
    if "://" in reference:
        uri = asset_uri(package, reference, reference)
        if uri.startswith("kedro://") and not reference.lower().startswith("kedro://"):
            raise CompileError(f"{where}: {reference!r} is no asset URI Airflow can key an "
                               "event by (a scheme and a host or bucket)")
        if uri.startswith("kedro://") and (problem := uri_problem(urllib.parse.urlsplit(uri))):
            raise CompileError(f"{where}: {reference!r} is no kedro://<package>/<dataset> "
                               f"URI: {problem}")
    elif project_dataset := _PROJECT_DATASET.match(reference):
        other, dataset = project_dataset.groups()
        uri = kedro_uri(other, dataset.split("@", 1)[0])
    elif not is_persisted(reference):
        raise CompileError(f"{where}: {reference!r} is no persisted dataset of this project's "
                           "catalog: name another project's dataset as <package>:<dataset>, "
                           "or give its asset URI (s3://..., kedro://<package>/<dataset>)")
    elif run_scoped(location(reference), per_run, in_pods):
        raise CompileError(f"{where}: {reference!r} is written to {location(reference)} in "
                           "the pods (the per-run volume, or the pod's own disk), which is "
                           "gone after each run: no update of it is recorded; schedule on a "
                           "dataset in remote storage (gs://, s3://, a database), or move "
                           "this one there in the catalog")
    else:
        uri = dataset_uri(package, reference, location, per_run)
    try:
        return checked_uri(reference, uri)
    except CompileError as exc:
        raise CompileError(f"{where}: {exc}") from None


def schedule_value(condition: AssetCondition, uris: dict[str, str], declared: dict[str, str],
                   cron: str | None) -> Any:
    """What the DAG's `schedule=` prints: a list of assets (all of), `AssetAny(...)`, or with
    a cron `AssetOrTimeSchedule(...)`. An asset the file's ASSETS declares is that item."""
    names = {}
    for name in sorted(declared, reverse=True):
        names[declared[name]] = name

    def asset(reference: str) -> Any:
        uri = uris[reference]
        return Ref(ASSETS, names[uri]) if uri in names else Call("Asset", (uri,))

    def value(item: str | AssetCondition) -> Any:
        if isinstance(item, str):
            return asset(item)
        parts = tuple(value(i) for i in item.items)
        if len(parts) == 1:
            return parts[0]
        return Call("AssetAll" if item.kind == "all" else "AssetAny", parts)

    if cron is None:
        if condition.kind == "all":
            return [value(item) for item in condition.items]
        return value(condition)
    if cron in _NOT_CRON:
        raise ConfigError(f"--cron-expression: {cron} does not combine with schedule_on "
                          "(Airflow's AssetOrTimeSchedule takes a cron): give a cron "
                          "expression or a preset like @daily")
    return Call("AssetOrTimeSchedule", (), {
        "timetable": Call("CronTriggerTimetable", (cron,), {"timezone": "UTC"}),
        "assets": value(condition)})


def describe(condition: AssetCondition) -> str:
    """The condition as `--on-assets` writes it."""
    joined = (" | " if condition.kind == "any" else ", ").join(
        f"({describe(i)})" if isinstance(i, AssetCondition) else i for i in condition.items)
    return joined

