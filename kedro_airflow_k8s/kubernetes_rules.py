"""What the Kubernetes API server accepts: names, quantities, resource requirements and
tolerations, mirrored from k8s.io/apimachinery/pkg/util/validation and
pkg/apis/core/validation/validation.go so that compile and `--validate` refuse what the
cluster would refuse; and the image references the kubelet pulls, mirrored from
github.com/distribution/reference.

Each function returns the problems it finds (empty: accepted), like its Go original.
Plain Python only: the config model and the compiler use it, and neither imports Kubernetes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

# resource.Quantity's serialization format (apimachinery/pkg/api/resource/quantity.go)
_QUANTITY = re.compile(
    r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE])?")
_FACTORS: dict[str, str | int] = {
    "": "1", "n": "1e-9", "u": "1e-6", "m": "1e-3", "k": "1e3", "M": "1e6", "G": "1e9",
    "T": "1e12", "P": "1e15", "E": "1e18", "Ki": 2**10, "Mi": 2**20, "Gi": 2**30,
    "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_SUFFIXES = {suffix: Decimal(factor) for suffix, factor in _FACTORS.items()}

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_ENV_VAR_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_PORT_NAME = re.compile(r"[-a-z0-9]+")
_CONFIG_MAP_KEY = re.compile(r"[-._a-zA-Z0-9]+")

# pkg/apis/core/helper: the resources a container may name without a domain
STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")
HUGEPAGES_PREFIX = "hugepages-"
TOLERATION_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
TOTAL_ANNOTATION_SIZE = 256 * 1024  # apimachinery TotalAnnotationSizeLimitB

# distribution/reference regexp.go: the grammar of an image reference
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = (rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
           r"(?::[0-9]+)?")
_REFERENCE = re.compile(
    rf"(?:({_DOMAIN})/)?({_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    r"(?::([\w][\w.-]{0,127}))?"
    r"(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?", re.ASCII)
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}  # opencontainers/go-digest


def parse_quantity(text: Any) -> Decimal:
    """The number a Kubernetes quantity stands for ("500m" -> 0.5, "1Gi" -> 1073741824).

    Mirrors `resource.ParseQuantity` as the API server's JSON decoding calls it: on the raw
    JSON text trimmed of white space, so surrounding spaces go while a newline or tab (escaped
    in JSON) stays and is refused; no spaces inside, no "K", no "1_000", no "NaN", which the
    Python client's `parse_quantity` accepts and the API server refuses.
    """
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ValueError(f"expected a Kubernetes quantity, got {text!r}")
    text = str(text).strip(" ")
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise ValueError(f"expected a Kubernetes quantity, got {text!r}")
    suffix = match.group(3) or ""
    if suffix not in _SUFFIXES:  # a decimal exponent, 1e3
        return Decimal(text)
    return Decimal(text[:len(text) - len(suffix)]) * _SUFFIXES[suffix]


def _length_and_pattern(value: str, limit: int, pattern: re.Pattern[str],
                        described: str) -> list[str]:
    """The two problems most Kubernetes name rules report: too long, and not of the form."""
    problems = []
    if len(value) > limit:
        problems.append(f"must be no more than {limit} characters")
    if not pattern.fullmatch(value):
        problems.append(described)
    return problems


def dns1123_label(value: str) -> list[str]:
    """`IsDNS1123Label`: lowercase letters, digits and '-', at most 63."""
    return _length_and_pattern(
        value, 63, _DNS1123_LABEL, "must consist of lowercase letters, digits and '-', and "
        "start and end with a letter or digit (a DNS-1123 label)")


def dns1123_subdomain(value: str) -> list[str]:
    """`IsDNS1123Subdomain`: dot-separated DNS-1123 labels, at most 253."""
    return _length_and_pattern(
        value, 253, _DNS1123_SUBDOMAIN, "must consist of lowercase letters, digits, '-' and "
        "'.', and start and end with a letter or digit (a DNS-1123 subdomain)")


def qualified_name(value: str) -> list[str]:
    """`IsQualifiedName`: an optional DNS subdomain prefix and '/', then a name of at most 63
    letters, digits, '-', '_' and '.' that starts and ends with a letter or digit."""
    parts = value.split("/")
    if len(parts) > 2:
        return ["must be a name with an optional DNS subdomain prefix and '/' (like "
                "'example.com/MyName')"]
    name = parts[-1]
    problems = []
    if len(parts) == 2:
        if not parts[0]:
            problems.append("the prefix before '/' must be non-empty")
        else:
            problems += [f"prefix {parts[0]!r} {p}" for p in dns1123_subdomain(parts[0])]
    if not name:
        problems.append("the name part must be non-empty")
    elif len(name) > 63:
        problems.append("the name part must be no more than 63 characters")
    elif not _QUALIFIED_NAME.fullmatch(name):
        problems.append("the name part must consist of letters, digits, '-', '_' or '.', and "
                        "start and end with a letter or digit")
    return problems


def label_value(value: str) -> list[str]:
    """`IsValidLabelValue`: empty, or at most 63 letters, digits, '-', '_' and '.' that start
    and end with a letter or digit."""
    return _length_and_pattern(
        value, 63, _LABEL_VALUE, "must be empty or consist of letters, digits, '-', '_' or "
        "'.', and start and end with a letter or digit")


def env_var_name(value: str, relaxed: bool = True) -> list[str]:
    """`validateEnvVarName`: with RelaxedEnvironmentVariableValidation (on by default since
    Kubernetes 1.32) any printable ASCII but '='; before, `IsEnvVarName`."""
    if relaxed:
        if not value or any(not " " <= c <= "~" or c == "=" for c in value):
            return ["must consist of printable ASCII characters other than '='"]
        return []
    if not _ENV_VAR_NAME.fullmatch(value):
        return ["must consist of letters, digits, '_', '-' or '.', and not start with a digit"]
    return []


def port_name(value: str) -> list[str]:
    """`IsValidPortName` (an IANA_SVC_NAME): at most 15 lowercase letters, digits and '-',
    at least one letter, no '-' at the ends or twice in a row."""
    if (len(value) > 15 or not _PORT_NAME.fullmatch(value) or not re.search("[a-z]", value)
            or "--" in value or value.startswith("-") or value.endswith("-")):
        return ["must be at most 15 lowercase letters, digits and '-', with a letter, "
                "without '-' at the ends or '--'"]
    return []


def config_map_key(value: str) -> list[str]:
    """`IsConfigMapKey`: the key of a Secret or ConfigMap entry."""
    if len(value) > 253 or not _CONFIG_MAP_KEY.fullmatch(value) or value in (".", "..") \
            or value.startswith(".."):
        return ["must consist of letters, digits, '-', '_' or '.' (at most 253), and not be "
                "or start with '..'"]
    return []


def _is_hugepages(name: str) -> bool:
    return name.startswith(HUGEPAGES_PREFIX)


def _is_native(name: str) -> bool:
    """`IsNativeResource`: no domain, or a kubernetes.io one."""
    return "/" not in name or "kubernetes.io/" in name


def is_extended(name: str) -> bool:
    """`IsExtendedResourceName`: a domain-qualified resource outside kubernetes.io
    (nvidia.com/gpu, amd.com/gpu, example.com/fpga)."""
    return (not _is_native(name) and not name.startswith("requests.")
            and not qualified_name(f"requests.{name}"))


def overcommit_allowed(name: str) -> bool:
    """`IsOvercommitAllowed`: requests may stay below limits for native resources except
    hugepages; extended resources and hugepages need requests equal to limits."""
    return _is_native(name) and not _is_hugepages(name)


def container_resource_name(name: str) -> list[str]:
    """`validateContainerResourceName`: cpu, memory, ephemeral-storage, hugepages-<size>,
    or a domain-qualified name (nvidia.com/gpu)."""
    problems = qualified_name(name)
    if problems:
        return problems
    if "/" not in name:
        if name not in STANDARD_CONTAINER_RESOURCES and not _is_hugepages(name):
            return [f"is not a container resource: use {', '.join(STANDARD_CONTAINER_RESOURCES)}"
                    f", hugepages-<size> or a domain-qualified name like nvidia.com/gpu"]
    elif not _is_native(name) and not is_extended(name):
        return ["does not follow the extended resource name standard (domain/name)"]
    return []


def resource_quantity(name: str, value: str) -> list[str]:
    """`ValidateResourceQuantityValue` and `validateResourceQuantityHugePageValue`: not
    negative; whole for extended resources; hugepages in whole pages."""
    try:
        amount = parse_quantity(value)
    except ValueError as exc:
        return [str(exc)]
    if amount < 0:
        return [f"must be greater than or equal to 0, got {value!r}"]
    if is_extended(name) and amount != amount.to_integral_value():
        return [f"must be a whole number for an extended resource, got {value!r}"]
    if _is_hugepages(name):
        try:
            page = parse_quantity(name[len(HUGEPAGES_PREFIX):])
        except ValueError:
            return [f"{name!r} does not name a page size (hugepages-2Mi, hugepages-1Gi)"]
        if page <= 0 or amount % page != 0:
            return [f"must be a whole number of {name[len(HUGEPAGES_PREFIX):]} pages, "
                    f"got {value!r}"]
    return []


def resource_requirements(requests: Mapping[str, Any], limits: Mapping[str, Any]) -> list[str]:
    """`ValidateResourceRequirements` (pkg/apis/core/validation): names and quantities, each
    request at most its limit, equal to it for extended resources and hugepages (whose limit
    must then be set), and hugepages only beside cpu or memory. Problems name the field
    (`requests.cpu`, `limits.nvidia.com/gpu`)."""
    problems = []
    for field, amounts in (("limits", limits), ("requests", requests)):
        for name, value in amounts.items():
            found = container_resource_name(name) or resource_quantity(name, str(value))
            problems += [f"{field}.{name}: {p}" for p in found]
    if problems:
        return problems
    for name, value in requests.items():
        wanted = parse_quantity(str(value))
        if name in limits:
            limit = parse_quantity(str(limits[name]))
            if not overcommit_allowed(name) and wanted != limit:
                problems.append(f"requests.{name}: {value} must equal limits.{name} "
                                f"{limits[name]} ({name} cannot be overcommitted)")
            elif wanted > limit:
                problems.append(f"requests.{name}: {value} must be at most limits.{name} "
                                f"{limits[name]}")
        elif not overcommit_allowed(name):
            problems.append(f"requests.{name}: needs limits.{name} set to the same amount "
                            f"({name} cannot be overcommitted)")
    named = {*requests, *limits}
    if any(_is_hugepages(n) for n in named) and not named & {"cpu", "memory"}:
        problems.append("hugepages need a cpu or memory request or limit beside them")
    return problems


def toleration(key: str | None, operator: str | None, value: str | None, effect: str | None,
               seconds: int | None) -> list[str]:
    """`validateTolerations`: a key is a qualified name; no key only with Exists; Exists
    takes no value; tolerationSeconds only with the NoExecute effect."""
    problems = []
    if key:
        problems += [f"key: {p}" for p in qualified_name(key)]
    operator = operator or "Equal"
    if not key and operator != "Exists":
        problems.append("operator: must be Exists when key is empty (which tolerates "
                        "every taint)")
    if operator == "Exists" and value:
        problems.append("value: must be empty when operator is Exists")
    elif operator == "Equal" and value:
        problems += [f"value: {p}" for p in label_value(value)]
    elif operator not in ("Exists", "Equal"):
        problems.append(f"operator: must be Exists or Equal, got {operator!r}")
    if effect and effect not in TOLERATION_EFFECTS:
        problems.append(f"effect: must be one of {', '.join(TOLERATION_EFFECTS)}, got "
                        f"{effect!r}")
    if seconds is not None and effect != "NoExecute":
        problems.append("effect: must be NoExecute when tolerationSeconds is set")
    return problems


def image_reference(value: str) -> list[str]:
    """`ParseNormalizedNamed` (distribution/reference), as the kubelet's runtime reads a
    pod's image: [registry[:port]/]path[:tag][@digest], the path lowercase; a first
    component without '.' or ':' (nor `localhost`) is a Docker Hub path."""
    form = ("must be an image reference, [registry[:port]/]path[:tag][@digest] with a "
            "lowercase path of letters, digits and '.', '_', '-' separators")
    if not value:
        return ["must not be empty"]
    if re.fullmatch(r"[a-f0-9]{64}", value):
        return ["must be a repository name, not a 64-character hexadecimal image id"]
    first, slash, rest = value.partition("/")
    domain_given = slash and ("." in first or ":" in first or first == "localhost"
                              or first.lower() != first)
    if domain_given and not re.fullmatch(_DOMAIN, first):  # not a path either: a bad host
        return [form]
    remote = (rest if domain_given else value).partition("@")[0].partition(":")[0]
    if remote.lower() != remote:
        return [f"{form}: its path {remote!r} must be lowercase"]
    hub = "docker.io/" if slash else "docker.io/library/"
    match = _REFERENCE.fullmatch(value if domain_given else hub + value)
    if match is None:
        return [form]
    if len(match.group(2)) > 255:
        return ["the repository path must be no more than 255 characters"]
    digest = match.group(4)
    if digest:
        algorithm, _, hex_digits = digest.partition(":")
        length = _DIGEST_LENGTHS.get(algorithm)
        if length is None:
            return [f"digest algorithm {algorithm!r} must be one of "
                    f"{', '.join(_DIGEST_LENGTHS)}"]
        if len(hex_digits) != length or hex_digits.lower() != hex_digits:
            return [f"a {algorithm} digest must be {length} lowercase hexadecimal digits"]
    return []
