"""The API server's own checks of a Pod or a PersistentVolumeClaim, beyond the OpenAPI
schema: the rules of pkg/apis/core/validation/validation.go (`ValidatePod`,
`ValidatePersistentVolumeClaim`) that a schema cannot say, cheap enough to run offline.

`--validate` runs them on every manifest the real operators build (see validate.py); each
problem is one line naming the field (`spec.containers.0.resources.requests.cpu: ...`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kedro_airflow_k8s import kubernetes_rules as rules

Problems = list[str]
RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
PROTOCOLS = ("TCP", "UDP", "SCTP")
ACCESS_MODES = ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod")
RELAXED_ENV_NAMES_SINCE = (1, 32)  # RelaxedEnvironmentVariableValidation on by default


def _at(path: str, problems: Problems) -> Problems:
    return [f"{path}: {p}" for p in problems]


def _version(k8s_version: str) -> tuple[int, int]:
    major, minor = (k8s_version.split(".") + ["0"])[:2]
    return int(major), int(minor)


def check_manifest(manifest: dict[str, Any], k8s_version: str) -> Problems:
    """What the API server would refuse in `manifest` (a Pod or a PersistentVolumeClaim)."""
    kind = manifest.get("kind")
    if kind == "PersistentVolumeClaim":
        return check_claim(manifest)
    if kind == "Pod" or "containers" in (manifest.get("spec") or {}):
        return check_pod(manifest, k8s_version)
    return []


def check_object_meta(meta: dict[str, Any], name_rule: Callable[[str], Problems]) -> Problems:
    """`ValidateObjectMeta`: the name by the kind's rule (`ValidatePodName`,
    `ValidatePersistentVolumeName`: `NameIsDNSSubdomain`), the namespace (`IsDNS1123Label`),
    labels (`ValidateLabels`) and annotations (`ValidateAnnotations`)."""
    problems = []
    name = meta.get("name") or ""
    problems += _at("metadata.name", name_rule(name) if name else ["is required"])
    if meta.get("namespace"):
        problems += _at("metadata.namespace", rules.dns1123_label(meta["namespace"]))
    problems += check_labels(meta.get("labels") or {}, "metadata.labels")
    problems += check_annotations(meta.get("annotations") or {}, "metadata.annotations")
    return problems


def check_labels(labels: dict[str, Any], path: str) -> Problems:
    """`ValidateLabels`: keys by `IsQualifiedName`, values by `IsValidLabelValue`."""
    problems = []
    for key, value in labels.items():
        problems += _at(f"{path}.{key}", rules.qualified_name(key))
        problems += _at(f"{path}.{key}", [f"value {value!r} {p}"
                                          for p in rules.label_value(str(value))])
    return problems


def check_annotations(annotations: dict[str, Any], path: str) -> Problems:
    """`ValidateAnnotations`: keys by `IsQualifiedName` (case-insensitive), and keys plus
    values at most `TotalAnnotationSizeLimitB` (256 KiB) together."""
    problems = []
    for key in annotations:
        problems += _at(f"{path}.{key}", rules.qualified_name(key.lower()))
    size = sum(len(k) + len(str(v)) for k, v in annotations.items())
    if size > rules.TOTAL_ANNOTATION_SIZE:
        problems.append(f"{path}: {size} bytes in all, more than the "
                        f"{rules.TOTAL_ANNOTATION_SIZE} Kubernetes allows")
    return problems


def check_pod(pod: dict[str, Any], k8s_version: str) -> Problems:
    """`ValidatePodCreate` -> `ValidatePodSpec`: the checks below, in the API server's order."""
    spec = pod.get("spec") or {}
    problems = check_object_meta(pod.get("metadata") or {}, rules.dns1123_subdomain)
    volumes = spec.get("volumes") or []
    problems += check_volumes(volumes)
    names = {v.get("name") for v in volumes}
    relaxed = _version(k8s_version) >= RELAXED_ENV_NAMES_SINCE
    containers = [(f"spec.{field}.{index}", container)
                  for field in ("initContainers", "containers")
                  for index, container in enumerate(spec.get(field) or [])]
    if not spec.get("containers"):
        problems.append("spec.containers: a pod needs at least one container")
    problems += check_container_names(containers)
    problems += check_ports(containers)
    for path, container in containers:
        problems += check_container(container, path, names, relaxed)
    problems += check_pod_fields(spec)
    for index, toleration in enumerate(spec.get("tolerations") or []):
        problems += _at(f"spec.tolerations.{index}", rules.toleration(
            toleration.get("key"), toleration.get("operator"), toleration.get("value"),
            toleration.get("effect"), toleration.get("tolerationSeconds")))
    return problems


def check_volumes(volumes: list[dict[str, Any]]) -> Problems:
    """`ValidateVolumes`: names are DNS-1123 labels and unique; a claim volume names its
    claim (`validatePersistentClaimVolumeSource`), a secret volume its Secret."""
    problems, seen = [], set()
    for index, volume in enumerate(volumes):
        path, name = f"spec.volumes.{index}.name", volume.get("name") or ""
        problems += _at(path, rules.dns1123_label(name) if name else ["is required"])
        if name in seen:
            problems.append(f"{path}: {name!r} is used by another volume of the pod")
        seen.add(name)
        claim = volume.get("persistentVolumeClaim")
        if claim is not None and not claim.get("claimName"):
            problems.append(f"spec.volumes.{index}.persistentVolumeClaim.claimName: is required")
        secret = volume.get("secret")
        if secret is not None and not secret.get("secretName"):
            problems.append(f"spec.volumes.{index}.secret.secretName: is required")
    return problems


def check_container_names(containers: list[tuple[str, dict[str, Any]]]) -> Problems:
    """`validateContainers` / `validateInitContainers`: every name a DNS-1123 label, unique
    across the pod's containers and init containers."""
    problems, seen = [], set()
    for path, container in containers:
        name = container.get("name") or ""
        problems += _at(f"{path}.name", rules.dns1123_label(name) if name else ["is required"])
        if name in seen:
            problems.append(f"{path}.name: {name!r} is used by another container")
        seen.add(name)
    return problems


def check_ports(containers: list[tuple[str, dict[str, Any]]]) -> Problems:
    """`validateContainerPorts`: ports in 1-65535, TCP/UDP/SCTP, names by
    `IsValidPortName` and unique across the pod."""
    problems, seen = [], set()
    for container_path, container in containers:
        for index, port in enumerate(container.get("ports") or []):
            path = f"{container_path}.ports.{index}"
            number = port.get("containerPort")
            if not isinstance(number, int) or not 0 < number < 65536:
                problems.append(f"{path}.containerPort: must be between 1 and 65535")
            if port.get("protocol") and port["protocol"] not in PROTOCOLS:
                problems.append(f"{path}.protocol: must be one of {', '.join(PROTOCOLS)}")
            name = port.get("name")
            if name:
                problems += _at(f"{path}.name", rules.port_name(name))
                if name in seen:
                    problems.append(f"{path}.name: {name!r} is used by another port")
                seen.add(name)
    return problems


def check_container(container: dict[str, Any], path: str, volumes: set[str],
                    relaxed_env: bool) -> Problems:
    """`validateContainersCommon`: an image without surrounding spaces, environment
    (`ValidateEnv`), resources (`ValidateResourceRequirements`) and volume mounts
    (`ValidateVolumeMounts`)."""
    image = container.get("image")
    problems = [] if image and image == image.strip() else [
        f"{path}.image: is required, without leading or trailing spaces"]
    problems += check_env(container, path, relaxed_env)
    resources = container.get("resources") or {}
    problems += _at(f"{path}.resources", rules.resource_requirements(
        resources.get("requests") or {}, resources.get("limits") or {}))
    problems += check_volume_mounts(container.get("volumeMounts") or [], path, volumes)
    return problems


def check_env(container: dict[str, Any], path: str, relaxed: bool) -> Problems:
    """`ValidateEnv` and `ValidateEnvFrom`: names by `validateEnvVarName`, one source per
    valueFrom, Secret and ConfigMap keys by `IsConfigMapKey`, prefixes as names."""
    problems = []
    for index, variable in enumerate(container.get("env") or []):
        problems += _check_env_var(variable, f"{path}.env.{index}", relaxed)
    for index, source in enumerate(container.get("envFrom") or []):
        problems += _check_env_from(source, f"{path}.envFrom.{index}", relaxed)
    return problems


def _check_env_var(variable: dict[str, Any], where: str, relaxed: bool) -> Problems:
    """One `env` entry: its name, and its valueFrom's single source."""
    name = variable.get("name") or ""
    problems = _at(f"{where}.name", rules.env_var_name(name, relaxed)
                   if name else ["is required"])
    source = variable.get("valueFrom")
    if not source:
        return problems
    if len(source) != 1:
        problems.append(f"{where}.valueFrom: must have exactly one source")
    if variable.get("value"):
        problems.append(f"{where}.value: must be empty with valueFrom")
    for ref in ("secretKeyRef", "configMapKeyRef"):
        selector = source.get(ref)
        if selector is not None:
            problems += _at(f"{where}.valueFrom.{ref}.key",
                            rules.config_map_key(selector.get("key") or ""))
            problems += _referenced_name(selector, f"{where}.valueFrom.{ref}")
    return problems


def _check_env_from(source: dict[str, Any], where: str, relaxed: bool) -> Problems:
    """One `envFrom` entry: its prefix as a variable name, the Secret or ConfigMap it names."""
    problems = []
    if source.get("prefix"):
        problems += _at(f"{where}.prefix", rules.env_var_name(source["prefix"], relaxed))
    for ref in ("secretRef", "configMapRef"):
        if source.get(ref) is not None:
            problems += _referenced_name(source[ref], f"{where}.{ref}")
    return problems


def _referenced_name(reference: dict[str, Any], path: str) -> Problems:
    """The Secret or ConfigMap an environment variable reads is named by `ValidateSecretName`
    / `ValidateConfigMapName` (a DNS-1123 subdomain; a secret volume's `secretName` is not
    checked by the API server)."""
    name = reference.get("name")
    return _at(f"{path}.name", rules.dns1123_subdomain(name)) if name else []


def check_volume_mounts(mounts: list[dict[str, Any]], path: str, volumes: set[str]) -> Problems:
    """`ValidateVolumeMounts`: each names a volume of the pod and has a mount path no other
    mount of the container uses (one volume may be mounted twice)."""
    problems, paths = [], set()
    for index, mount in enumerate(mounts):
        where = f"{path}.volumeMounts.{index}"
        if mount.get("name") not in volumes:
            problems.append(f"{where}.name: no volume {mount.get('name')!r} in the pod")
        problems += _sub_path(mount, where)
        mount_path = mount.get("mountPath")
        if not mount_path:
            problems.append(f"{where}.mountPath: is required")
        elif mount_path in paths:
            problems.append(f"{where}.mountPath: {mount_path!r} is used by another mount")
        paths.add(mount_path)
    return problems


def _sub_path(mount: dict[str, Any], where: str) -> Problems:
    """`validateLocalDescendingPath` of `subPath` and `subPathExpr` (relative, no `..`
    element), which exclude each other."""
    problems = []
    if mount.get("subPath") and mount.get("subPathExpr"):
        problems.append(f"{where}.subPathExpr: cannot be set with subPath")
    for field in ("subPath", "subPathExpr"):
        value = mount.get(field) or ""
        if value.startswith("/"):
            problems.append(f"{where}.{field}: {value!r} must be a relative path")
        if ".." in value.split("/"):
            problems.append(f"{where}.{field}: {value!r} must not contain a '..' element")
    return problems


def check_pod_fields(spec: dict[str, Any]) -> Problems:
    """`ValidatePodSpec`'s single fields: restartPolicy and dnsPolicy values, nodeSelector
    (`ValidateLabels`), serviceAccountName (`ValidateServiceAccountName`), priorityClassName,
    hostname and subdomain (`IsDNS1123Label`), activeDeadlineSeconds > 0."""
    problems = []
    for field, allowed in (("restartPolicy", RESTART_POLICIES), ("dnsPolicy", DNS_POLICIES)):
        if spec.get(field) and spec[field] not in allowed:
            problems.append(f"spec.{field}: must be one of {', '.join(allowed)}, got "
                            f"{spec[field]!r}")
    problems += check_labels(spec.get("nodeSelector") or {}, "spec.nodeSelector")
    for field, rule in (("serviceAccountName", rules.dns1123_subdomain),
                        ("priorityClassName", rules.dns1123_subdomain),
                        ("hostname", rules.dns1123_label), ("subdomain", rules.dns1123_label)):
        if spec.get(field):
            problems += _at(f"spec.{field}", rule(spec[field]))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and not 0 < deadline <= 2**31 - 1:
        problems.append("spec.activeDeadlineSeconds: must be between 1 and 2147483647")
    return problems


def check_claim(claim: dict[str, Any]) -> Problems:
    """`ValidatePersistentVolumeClaim`: the name (`ValidatePersistentVolumeName`), at least
    one supported access mode, a positive storage request (`ValidatePositiveQuantityValue`),
    a storage class name that is a DNS subdomain (`ValidateClassName`)."""
    spec = claim.get("spec") or {}
    problems = check_object_meta(claim.get("metadata") or {}, rules.dns1123_subdomain)
    modes = spec.get("accessModes") or []
    if not modes:
        problems.append("spec.accessModes: at least one access mode is required")
    problems += [f"spec.accessModes: {m!r} is not one of {', '.join(ACCESS_MODES)}"
                 for m in modes if m not in ACCESS_MODES]
    if "ReadWriteOncePod" in modes and len(set(modes)) > 1:
        problems.append("spec.accessModes: ReadWriteOncePod cannot be combined with another "
                        "access mode")
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    if storage is None:
        problems.append("spec.resources.requests.storage: is required")
    else:
        try:
            if rules.parse_quantity(str(storage)) <= 0:
                problems.append("spec.resources.requests.storage: must be greater than 0")
        except ValueError as exc:
            problems.append(f"spec.resources.requests.storage: {exc}")
    if spec.get("storageClassName"):
        problems += _at("spec.storageClassName", rules.dns1123_subdomain(
            spec["storageClassName"]))
    return problems
