"""The base of the config models and the value types they share: quantities, durations,
seconds, pool names, identifiers, schedules."""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    TypeAdapter,
    ValidationError,
)

from kedro_airflow_k8s import kubernetes_rules

CONFIG_FILE = "airflow-k8s.yaml"

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CRON_PRESETS = {"@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly",
                 "@quarterly", "@yearly", "@annually"}


class _Model(BaseModel):
    # defer_build: a model's validator is built on its first use (PluginConfig's holds the
    # nested ones), not each at import: every command imports the config, few validate it
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


def _quantity(value: Any) -> str | None:
    if value is None:
        return None
    kubernetes_rules.parse_quantity(value)
    return str(value)


def _amount(value: Any) -> str:
    text = str(_quantity(value))
    if kubernetes_rules.parse_quantity(text) < 0:
        raise ValueError(f"must not be negative, got {text!r}")
    return text


def _resource_name(name: str) -> str:
    problems = kubernetes_rules.container_resource_name(name)
    if problems:
        raise ValueError(problems[0])
    return name


def image_problem(image: str) -> str | None:
    """Why the kubelet could not pull `image` by that reference; None when it could."""
    problems = kubernetes_rules.image_reference(image)
    return f"{image!r}: {problems[0]}" if problems else None


def _image(image: str) -> str:
    problem = image_problem(image)
    if problem:
        raise ValueError(problem)
    return image


ImageReference = Annotated[str, AfterValidator(_image)]


def placeholder_image(package: str) -> str:
    """The run_config.image `init` writes, until the user names the image they push."""
    return package.replace("_", "-")


# Any resource name Kubernetes accepts for a container: cpu, memory, ephemeral-storage,
# hugepages-<size>, or domain-qualified (nvidia.com/gpu).
ResourceAmounts = dict[Annotated[str, AfterValidator(_resource_name)],
                       Annotated[str, BeforeValidator(_amount)]]


_COMPACT_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_DURATION_UNITS = ("days", "hours", "minutes", "seconds")
# Airflow's pool table holds names of up to 256 characters (Pool.pool, the REST API's PoolBody).
POOL_NAME_LENGTH = 256


@functools.cache
def _timedelta_adapter() -> TypeAdapter[datetime.timedelta]:
    """Pydantic's timedelta parsing (seconds, ISO 8601, [-][DD]D[,][HH:MM:]SS), built when a
    config first holds a duration, not at import."""
    return TypeAdapter(datetime.timedelta)


def _duration(value: Any) -> Any:
    """`1h30m`, `5m`, `2d` (compact form) before pydantic's own: seconds, ISO 8601 `PT5M`,
    `HH:MM:SS`."""
    problem = f"expected a duration (seconds, 30s, 5m, 1h30m, ISO 8601 PT5M), got {value!r}"
    if isinstance(value, bool):
        raise ValueError(problem)
    if isinstance(value, str):
        match = _COMPACT_DURATION.match(value.strip())
        if match and any(match.groups()):
            return datetime.timedelta(**{unit: int(amount) for unit, amount in
                                         zip(_DURATION_UNITS, match.groups(),
                                             strict=True) if amount})
    try:
        return _timedelta_adapter().validate_python(value)
    except ValidationError:
        raise ValueError(problem) from None


def _positive_duration(value: datetime.timedelta) -> datetime.timedelta:
    if value <= datetime.timedelta(0):
        raise ValueError(f"must be a positive duration, got {value.total_seconds():g} seconds")
    return value


# A duration: seconds, `5m`, `1h30m`, `2d`, ISO 8601 (`PT1H30M`); printed as a timedelta.
Duration = Annotated[datetime.timedelta, BeforeValidator(_duration),
                     AfterValidator(_positive_duration)]


def _pool_name(name: str) -> str:
    if not name.strip():
        raise ValueError("a pool name must not be empty")
    if len(name) > POOL_NAME_LENGTH:
        raise ValueError(f"a pool name has at most {POOL_NAME_LENGTH} characters, got "
                         f"{len(name)}")
    return name


def _seconds(value: Any) -> Any:
    """A duration (as Duration) as the number of seconds the provider takes."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return _duration(value).total_seconds()


def _whole(value: float) -> int:
    if value != int(value):
        raise ValueError(f"must be whole seconds, got {value:g}")
    return int(value)


# Seconds of the KubernetesPodOperator: 90, 90s, 5m, 1h30m, PT5M.
WholeSeconds = Annotated[float, BeforeValidator(_seconds), AfterValidator(_whole)]
Seconds = Annotated[float, BeforeValidator(_seconds),
                    AfterValidator(lambda value: int(value) if value == int(value) else value)]


def validate_cron(value: str) -> str:
    """Return `value` when Airflow accepts it as a schedule, else raise ValueError."""
    from croniter import croniter

    if value in _CRON_PRESETS or croniter.is_valid(value):
        return value
    raise ValueError(f"expected a cron expression or a preset like @daily, got {value!r}")


def airflow_url_problem(url: str) -> str | None:
    """Why `url` is no Airflow base URL (http:// or https:// and a host); None when it is."""
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return f"expected the Airflow URL with http:// or https://, got {url!r}"
    return None


def each_checked(values: list[str], problem: Callable[[str], str | None]) -> list[str]:
    """`values`, unless `problem` has a sentence for one of them: then that sentence, as the
    ValueError pydantic reports for the key."""
    for value in values:
        found = problem(value)
        if found:
            raise ValueError(found)
    return values
