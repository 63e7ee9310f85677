"""Node tags -> resource profiles and pod templates, for one node or a group of nodes."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kedro_airflow_k8s.config import POD_OPERATION, ResourceProfile, RunConfig, TaskSettings
from kedro_airflow_k8s.dagspec import Call, ResourceSpec
from kedro_airflow_k8s.errors import CompileError
from kedro_airflow_k8s.kubernetes_rules import parse_quantity, resource_requirements

if TYPE_CHECKING:
    from kedro.pipeline import Node

DEFAULT = "__default__"
# Kedro 1.x allows only [\w.-] in tags, so `resources.huge`; the original `resources:huge`
# is still read for projects whose Kedro accepts it.
RESOURCES_TAG = ("resources.", "resources:")
TEMPLATE_TAG = ("k8s_template.", "k8s_template:")
SETTINGS_TAG = ("task_settings.", "task_settings:")
# A group's task takes, per key, the largest of its members' effective values of these;
# pools, queues and weight rules are a profile's explicit choice (two different: an error).
_LARGEST = ("retries", "retry_delay", "retry_exponential_backoff", "max_retry_delay",
            "execution_timeout", "pool_slots", "priority_weight")
_ONE_OF = ("pool", "queue", "weight_rule")
# Pod settings of a group: the longest timeouts, the shortest intervals, deferrable and
# reattach only when no member's effective value is false, the finish action that keeps most.
_POD_LARGEST = ("startup_timeout", "schedule_timeout", "termination_grace_period",
                "active_deadline")
_POD_SMALLEST = ("logging_interval", "poll_interval")
_ALLOWED_BY_ALL = ("deferrable", "reattach_on_restart")
_KEEPS_MORE = ("delete_pod", "delete_succeeded_pod", "delete_active_pod", "keep_pod")
POD_KEYS = frozenset(POD_OPERATION)
# What a key neither a profile nor task_defaults sets is: Airflow's BaseOperator defaults
# (retries: [core] default_task_retries, 0 unless changed), the provider's and Kubernetes'.
# Unset (None): unlimited timeouts and delays, no periodic logs, Airflow's default_deferrable,
# the provider's durable (true).
_DEFAULTS: dict[str, Any] = {
    "retries": 0, "retry_delay": datetime.timedelta(minutes=5),
    "retry_exponential_backoff": 0.0, "pool_slots": 1, "priority_weight": 1,
    "termination_grace_period": 30, "poll_interval": 2.0, "on_finish_action": "delete_pod",
    "retry_on": "infrastructure"}


def _tag_value(node: Node, prefixes: tuple[str, ...]) -> str | None:
    values = sorted(tag[len(p):] for tag in node.tags for p in prefixes if tag.startswith(p))
    if len(values) > 1:
        raise CompileError(f"node '{node.name}': more than one {prefixes[0]}<name> tag: {values}")
    return values[0] if values else None


def pick(node: Node, prefixes: tuple[str, ...], known: dict[str, Any], key: str) -> str | None:
    """The config entry a node's tag names, else __default__ when configured, else None."""
    name = _tag_value(node, prefixes)
    if name is None:
        return DEFAULT if DEFAULT in known else None
    if name not in known:
        options = ", ".join(sorted(known)) or "none configured"
        raise CompileError(
            f"node '{node.name}': tag '{prefixes[0]}{name}' names no run_config.{key} entry "
            f"(known: {options})"
        )
    return name


_TAG_FAMILIES = ((RESOURCES_TAG, "resources"), (TEMPLATE_TAG, "kubernetes_pod_templates"),
                 (SETTINGS_TAG, "task_settings"))
_NODES_LISTED = 5  # per unknown tag, before "and N more"


def check_tags(nodes: list[Node], run: RunConfig) -> None:
    """Every tag naming a resource profile, pod template or task_settings entry names a
    configured one; else one CompileError naming every unknown tag and its nodes."""
    unknown: dict[tuple[str, str], list[str]] = {}
    for node in nodes:
        for prefixes, key in _TAG_FAMILIES:
            name = _tag_value(node, prefixes)
            if name is not None and name not in getattr(run, key):
                unknown.setdefault((f"{prefixes[0]}{name}", key), []).append(node.name)
    problems = []
    for (tag, key), names in sorted(unknown.items()):
        names = sorted(names)
        known = ", ".join(sorted(getattr(run, key))) or "none configured"
        others = names[1:_NODES_LISTED]
        more = len(names) - 1 - len(others)
        also = ", ".join(others) + (f" and {more} more" if more else "")
        problems.append(f"node '{names[0]}'{f' (and {also})' if also else ''}: tag '{tag}' "
                        f"names no run_config.{key} entry (known: {known})")
    if problems:
        raise CompileError("; ".join(problems))


def resource_spec(name: str, profile: ResourceProfile) -> ResourceSpec:
    return ResourceSpec(
        name=name,
        requests=dict(profile.requests),
        limits=dict(profile.limits),
        node_selector=dict(profile.node_selectors),
        tolerations=[t.model_dump(exclude_none=True) for t in profile.tolerations],
    )


def _largest(amounts: list[dict[str, str]]) -> dict[str, str]:
    result: dict[str, str] = {}
    for amount in amounts:
        for resource, value in amount.items():
            if resource not in result or parse_quantity(value) > parse_quantity(result[resource]):
                result[resource] = value
    return result


def _merged_mapping(nodes: list[Node], chosen: dict[str, ResourceProfile], field: str,
                    ) -> dict[str, str]:
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for node in nodes:
        for key, value in getattr(chosen[node.name], field).items():
            if key in merged and merged[key] != value:
                raise CompileError(
                    f"nodes '{owner[key]}' and '{node.name}' run in one task but their "
                    f"resource profiles set {field} '{key}' differently"
                )
            merged[key] = value
            owner.setdefault(key, node.name)
    return merged


def group_profile(nodes: list[Node], run: RunConfig) -> tuple[str | None, ResourceProfile]:
    """The profile a task running `nodes` takes: per resource, the largest request and the
    largest limit of their profiles. A request left unset counts as its limit (Kubernetes
    defaults it so), and a limit below the group's request is raised to it: the API server
    refuses a request above its limit."""
    names = {node.name: pick(node, RESOURCES_TAG, run.resources, "resources") for node in nodes}
    distinct = sorted({n for n in names.values() if n is not None})
    if len(distinct) <= 1:  # members without a profile add nothing to the one there is
        name = distinct[0] if distinct else None
        return name, run.resources[name] if name else ResourceProfile()
    chosen = {node: run.resources[n] if n else ResourceProfile() for node, n in names.items()}
    requests, limits = _largest_requirements(list(chosen.values()))
    combined = ResourceProfile.model_construct(
        node_selectors=_merged_mapping(nodes, chosen, "node_selectors"),
        labels=_merged_mapping(nodes, chosen, "labels"),
        annotations=_merged_mapping(nodes, chosen, "annotations"),
        tolerations=_all_tolerations(list(chosen.values())),
        requests=requests,
        limits=limits,
    )
    name = "+".join(distinct)
    _check_requirements(combined, f"nodes {', '.join(repr(n) for n in names)} run in one task "
                                  f"with resource profiles {name}")
    return name, combined


def _all_tolerations(profiles: list[ResourceProfile]) -> list[Any]:
    """Every profile's tolerations, each once, in order."""
    tolerations: list[Any] = []
    for profile in profiles:
        tolerations += [t for t in profile.tolerations if t not in tolerations]
    return tolerations


def _largest_requirements(profiles: list[ResourceProfile],
                          ) -> tuple[dict[str, str], dict[str, str]]:
    """Per resource, the largest request (an unset one counts as its limit) and the largest
    limit, a limit below the request raised to it."""
    requests = _largest([{**p.limits, **p.requests} for p in profiles])
    limits = _largest([dict(p.limits) for p in profiles])
    for resource, value in requests.items():
        if resource in limits and parse_quantity(limits[resource]) < parse_quantity(value):
            limits[resource] = value
    return requests, limits


def template_resources(template: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The requests and limits a pod template gives its first container, the one the node's
    container is merged into."""
    spec = template.get("spec")
    containers = spec.get("containers") if isinstance(spec, dict) else None
    first = containers[0] if isinstance(containers, list) and containers else None
    resources = first.get("resources") if isinstance(first, dict) else None
    resources = resources if isinstance(resources, dict) else {}

    def amounts(key: str) -> dict[str, str]:
        value = resources.get(key)
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}

    return amounts("requests"), amounts("limits")


def with_template(name: str, profile: ResourceProfile, template_name: str,
                  template: dict[str, Any], task_id: str) -> tuple[str, ResourceProfile]:
    """The profile on top of the pod template's container resources, per resource name (the
    profile wins per name): the provider would replace the template's whole `resources`."""
    requests, limits = template_resources(template)
    merged_requests, merged_limits = {**requests, **profile.requests}, {**limits,
                                                                        **profile.limits}
    if (merged_requests, merged_limits) == (profile.requests, profile.limits):
        return name, profile
    merged = profile.model_copy(update={"requests": merged_requests, "limits": merged_limits})
    _check_requirements(merged, f"task {task_id}: resource profile '{name}' on pod template "
                                f"'{template_name}'")
    return f"{name}@{template_name}", merged


def _check_requirements(profile: ResourceProfile, where: str) -> None:
    problems = resource_requirements(profile.requests, profile.limits)
    if problems:
        raise CompileError(f"{where}: {problems[0]}")


def group_template(nodes: list[Node], run: RunConfig) -> str | None:
    """The pod template of a task running `nodes`; two different ones are a compile error."""
    chosen = {node.name: pick(node, TEMPLATE_TAG, run.kubernetes_pod_templates,
                              "kubernetes_pod_templates") for node in nodes}
    named = {name: template for name, template in chosen.items() if template is not None}
    if len(set(named.values())) > 1:
        listing = ", ".join(f"'{n}' ({t})" for n, t in sorted(named.items()))
        raise CompileError(f"nodes run in one task but want different pod templates: {listing}")
    return next(iter(named.values()), None)


def _largest_or_unlimited(values: list[Any]) -> Any:
    """The largest; an unset value (None) is unlimited and wins."""
    return None if None in values else max(values)


def _smallest_set(values: list[Any]) -> Any:
    """The smallest of the set values; none set stays unset (no periodic logs)."""
    set_values = [value for value in values if value is not None]
    return min(set_values) if set_values else None


def _allowed_by_all(values: list[Any]) -> bool | None:
    """False when one member's is false, else true when one's is true, else unset."""
    return False if False in values else True if True in values else None


def _keeps_most(values: list[Any]) -> Any:
    """The finish action that keeps the most pods."""
    return max(values, key=_KEEPS_MORE.index)


def _any_wins(values: list[Any]) -> str:
    """retry_on any when one member retries on any failure."""
    return "any" if "any" in values else "infrastructure"


# The merge policy of a task running several nodes: key -> how its members' effective values
# combine. Pools, queues and weight rules (_ONE_OF) are not merged: see _explicit_choice.
_MERGE_RULES: dict[str, Callable[[list[Any]], Any]] = {
    **dict.fromkeys(_LARGEST + _POD_LARGEST, _largest_or_unlimited),
    **dict.fromkeys(_POD_SMALLEST, _smallest_set),
    **dict.fromkeys(_ALLOWED_BY_ALL, _allowed_by_all),
    "on_finish_action": _keeps_most,
    "retry_on": _any_wins,
}


def _explicit_choice(key: str, named: dict[str, TaskSettings]) -> Any:
    """The one value the members' profiles set for `key` (None: none sets it); two different
    ones are a compile error."""
    values = {node: getattr(s, key) for node, s in named.items() if getattr(s, key) is not None}
    if len(set(values.values())) > 1:
        listing = ", ".join(f"'{n}' ({v})" for n, v in sorted(values.items()))
        raise CompileError(f"nodes run in one task but their task_settings want different "
                           f"{key}s: {listing}")
    return next(iter(values.values()), None)


def _chosen_settings(nodes: list[Node], run: RunConfig) -> dict[str, str | None]:
    """Node name -> the task_settings entry its tag (else __default__) names."""
    return {node.name: pick(node, SETTINGS_TAG, run.task_settings, "task_settings")
            for node in nodes}


def _merged(nodes: list[Node], named: dict[str, TaskSettings], run: RunConfig,
            ) -> dict[str, Any]:
    """Per key of _MERGE_RULES, its rule applied to the members' effective values."""
    merged = {key: rule([_effective(named.get(node.name), run, key) for node in nodes])
              for key, rule in _MERGE_RULES.items()}
    if merged["deferrable"] is False:  # the intervals act only on deferrable pods
        merged["logging_interval"] = merged["poll_interval"] = None
    return merged


def _not_default(merged: dict[str, Any], run: RunConfig) -> dict[str, Any]:
    """The merged keys that differ from what the DAG-wide defaults give."""
    baseline = {key: _effective(None, run, key) for key in merged}
    if run.task_defaults.schedule_timeout is None:  # the provider's: the task's startup timeout
        baseline["schedule_timeout"] = merged["startup_timeout"]
    return {key: value for key, value in merged.items()
            if value is not None and value != baseline[key]}


def group_settings(nodes: list[Node], run: RunConfig) -> TaskSettings | None:
    """The Airflow and pod settings of a task running `nodes`. Each member's effective value
    of a key is its profile's, else task_defaults' (pod keys: else the DAG-wide value, e.g.
    startup_time), else Airflow's/the provider's default; the members' values combine by the
    key's rule in _MERGE_RULES. Only the keys that differ from what the DAG-wide defaults give
    are kept. Pools, queues and weight rules are a profile's explicit choice, not merged with
    task_defaults: two different ones are a compile error."""
    chosen = _chosen_settings(nodes, run)
    named = {node: run.task_settings[name] for node, name in chosen.items() if name}
    if not named:
        return None
    if len(named) == len(nodes) and len(set(chosen.values())) == 1:
        return next(iter(named.values()))  # every member's effective values are the same
    kept = _not_default(_merged(nodes, named, run), run)
    for key in _ONE_OF:
        value = _explicit_choice(key, named)
        if value is not None:
            kept[key] = value
    return TaskSettings.model_construct(**kept)


def settings_not_kept(nodes: list[Node], run: RunConfig, settings: TaskSettings | None,
                      pod: bool = True) -> list[str]:
    """What a task running `nodes` with `settings` (group_settings) changes of the keys its
    members' task_settings profiles set: "node 'a' (task_settings.fast): retry_delay 30s ->
    5m". Pod keys only for a pod (`pod`)."""
    task_deferrable = _effective(settings, run, "deferrable")
    changes = []
    for node_name, name in _chosen_settings(nodes, run).items():
        if name is None:
            continue
        profile = run.task_settings[name]
        changed = []
        for key, own in profile.model_dump(exclude_none=True).items():
            if not pod and key in POD_KEYS:
                continue
            if key in _POD_SMALLEST and task_deferrable is False:
                changed.append(f"{key} {_shown(key, own)} dropped (the task is not "
                               "deferrable)")
                continue
            kept = _effective(settings, run, key)
            if kept != own:
                changed.append(f"{key} {_shown(key, own)} -> {_shown(key, kept)}")
        if changed:
            changes.append(f"node '{node_name}' (task_settings.{name}): {', '.join(changed)}")
    return changes


def _shown(key: str, value: Any) -> str:
    """A setting as the config writes it: 30s, 1h30m; None is no limit."""
    if value is None:
        return "none (unlimited)"
    if key in _POD_LARGEST + _POD_SMALLEST:  # the pod's seconds
        value = datetime.timedelta(seconds=value)
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
        if seconds != int(seconds):
            return f"{seconds:g}s"
        minutes, seconds = divmod(int(seconds), 60)
        hours, minutes = divmod(minutes, 60)
        days, hours = divmod(hours, 24)
        return "".join(f"{amount}{unit}" for amount, unit in
                       ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s"))
                       if amount) or "0s"
    return str(value)


def _effective(profile: TaskSettings | None, run: RunConfig, key: str) -> Any:
    """A key's value for a node of `profile` (None: none): the profile's, else
    task_defaults', else the DAG's (startup_time), else Airflow's or the provider's."""
    own = getattr(profile, key) if profile is not None else None
    if own is not None:
        return own
    if getattr(run.task_defaults, key) is not None:
        return getattr(run.task_defaults, key)
    if key == "schedule_timeout":  # the provider's default: the pod's startup timeout
        return _effective(profile, run, "startup_timeout")
    if key == "startup_timeout":
        return run.startup_time
    return _DEFAULTS.get(key)


def retries_infrastructure_only(settings: TaskSettings | None, run: RunConfig) -> bool:
    """Whether a node task retries and spends its retries only on infrastructure failures:
    each key from its profile, else from task_defaults (Airflow's default_args)."""
    return bool(_effective(settings, run, "retries")) and \
        _effective(settings, run, "retry_on") == "infrastructure"


def settings_name(nodes: list[Node], run: RunConfig) -> str | None:
    """The task_settings profiles of a task running `nodes`, joined by '+'."""
    names = set(_chosen_settings(nodes, run).values())
    if None in names and len(names) > 1:  # its settings differ from the profiles' alone
        names = names - {None} | {"task_defaults"}
    return "+".join(sorted(n for n in names if n)) or None


def settings_arguments(settings: TaskSettings) -> dict[str, Any]:
    """The operator arguments of `settings`, durations printed as datetime.timedelta."""
    return {key: timedelta_call(value) if isinstance(value, datetime.timedelta) else value
            for key, value in settings.arguments().items()}


def timedelta_call(value: datetime.timedelta) -> Call:
    """`datetime.timedelta(hours=1, minutes=30)`: the largest units that add up to it."""
    seconds, micro = divmod(round(value.total_seconds() * 1_000_000), 1_000_000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = {"days": days, "hours": hours, "minutes": minutes, "seconds": seconds,
             "microseconds": micro}
    return Call("datetime.timedelta", kwargs={k: v for k, v in parts.items() if v})
