"""What a node pod is made of: resources and tolerations, the per-run volume, secrets, pod
templates and the Kubernetes connection."""

from __future__ import annotations

import re
from typing import Any, Literal

import yaml
from pydantic import Field, field_validator, model_validator

from kedro_airflow_k8s import kubernetes_rules
from kedro_airflow_k8s.config.base import ImageReference, ResourceAmounts, _amount, _Model


class Toleration(_Model):
    key: str | None = Field(
        None, description="Taint key the toleration matches; empty (with operator Exists) "
        "matches every taint."
    )
    operator: Literal["Exists", "Equal"] = Field(
        "Equal", description="Equal: the taint's value is `value`; Exists: any value."
    )
    value: str | None = Field(None, description="Taint value (with operator Equal).")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        None, description="Taint effect to tolerate; empty tolerates every effect."
    )
    toleration_seconds: int | None = Field(
        None, description="How long a NoExecute taint is tolerated (needs effect NoExecute)."
    )

    @model_validator(mode="after")
    def _kubernetes_accepts(self) -> Toleration:
        problems = kubernetes_rules.toleration(self.key, self.operator, self.value,
                                               self.effect, self.toleration_seconds)
        if problems:
            raise ValueError(problems[0])
        return self


def _label_problems(labels: dict[str, str], values: bool = True) -> list[str]:
    problems = []
    for key, value in labels.items():
        problems += [f"{key!r}: {p}" for p in kubernetes_rules.qualified_name(key)]
        if values:
            problems += [f"{key}: value {value!r} {p}"
                         for p in kubernetes_rules.label_value(value)]
    return problems


class ResourceProfile(_Model):
    node_selectors: dict[str, str] = Field(
        default_factory=dict, description="Node labels the pod must be scheduled on."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Labels put on the pod.")
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Annotations put on the pod."
    )
    tolerations: list[Toleration] = Field(
        default_factory=list, description="Kubernetes tolerations of the pod."
    )
    requests: ResourceAmounts = Field(
        default_factory=dict,
        description="Resources requested for the container, by Kubernetes resource name: "
        "cpu, memory, ephemeral-storage, hugepages-<size>, or a device like nvidia.com/gpu "
        "(Kubernetes quantities: 500m, 2, 1Gi).",
    )
    limits: ResourceAmounts = Field(
        default_factory=dict,
        description="Resource limits of the container, by resource name as in requests; "
        "each request must be at most its limit, and equal to it for devices (nvidia.com/gpu) "
        "and hugepages.",
    )

    @field_validator("node_selectors", "labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        problems = _label_problems(value)
        if problems:
            raise ValueError(problems[0])
        return value

    @field_validator("annotations")
    @classmethod
    def _annotation_keys(cls, value: dict[str, str]) -> dict[str, str]:
        problems = _label_problems(value, values=False)
        if problems:
            raise ValueError(problems[0])
        return value

    @model_validator(mode="after")
    def _kubernetes_accepts(self) -> ResourceProfile:
        problems = kubernetes_rules.resource_requirements(self.requests, self.limits)
        if problems:
            raise ValueError(problems[0])
        return self


AccessMode = Literal["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]


def _read_write_once() -> list[AccessMode]:
    return ["ReadWriteOnce"]


class VolumeConfig(_Model):
    storageclass: str | None = Field(
        None, description="Storage class of the per-run volume; null means the cluster default."
    )
    size: str = Field("1Gi", description="Size of the per-run volume.")
    access_modes: list[AccessMode] = Field(
        default_factory=_read_write_once,
        description="Access modes of the volume; ReadWriteMany where the cluster supports it.",
    )
    skip_init: bool = Field(
        False, description="Skip the data-volume-init task that copies the image's data in."
    )
    owner: int = Field(0, ge=0, description="fsGroup of every pod (0: root group, works on GKE).")
    disabled: bool = Field(
        False, description="No shared volume at all; the other volume keys are then ignored."
    )
    mount_path: str = Field(
        "/home/kedro/data", description="Where the volume is mounted (the project's data/ dir)."
    )

    @field_validator("size", mode="before")
    @classmethod
    def _positive_size(cls, value: Any) -> str:
        """The API server refuses a claim whose storage request is not above zero
        (ValidatePersistentVolumeClaimSpec)."""
        text = _amount(value)
        if kubernetes_rules.parse_quantity(text) == 0:
            raise ValueError(f"must be above zero, got {text!r}")
        return text

    @field_validator("storageclass")
    @classmethod
    def _storage_class_name(cls, value: str | None) -> str | None:
        """A StorageClass is an object name: a DNS-1123 subdomain (ValidateClassName)."""
        problems = kubernetes_rules.dns1123_subdomain(value) if value is not None else []
        if problems:
            raise ValueError(f"{value!r}: {'; '.join(problems)}")
        return value

    @field_validator("mount_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or value.rstrip("/") == "":
            raise ValueError(f"expected an absolute path other than /, got {value!r}")
        return value.rstrip("/")


class SecretConfig(_Model):
    deploy_type: Literal["env", "volume"] = Field(
        "env", description="env: environment variables; volume: files under deploy_target."
    )
    deploy_target: str | None = Field(
        None,
        description="Variable name (env) or mount path (volume); empty with env and no key "
        "exposes every key of the secret.",
    )
    secret: str = Field(description="Name of the Kubernetes Secret.")
    key: str | None = Field(None, description="One key of the Secret; empty means all keys.")

    @field_validator("secret")
    @classmethod
    def _secret_name(cls, value: str) -> str:
        """A Secret is an object name (DNS-1123 subdomain): the API server refuses a pod whose
        environment names another, and no Secret a volume could name is called so."""
        problems = kubernetes_rules.dns1123_subdomain(value)
        if problems:
            raise ValueError(f"{value!r}: {'; '.join(problems)}")
        return value

    @model_validator(mode="after")
    def _target_fits_type(self) -> SecretConfig:
        if self.deploy_type == "volume" and not self.deploy_target:
            raise ValueError("deploy_type volume needs deploy_target (the mount path)")
        if self.deploy_type == "env" and self.key and not self.deploy_target:
            raise ValueError("deploy_type env with a key needs deploy_target (the variable name)")
        if self.deploy_type == "env" and self.deploy_target and not self.key:
            raise ValueError("deploy_type env with deploy_target needs the key to expose")
        return self


# The top-level fields of a Kubernetes Pod (kubernetes.client.V1Pod.attribute_map); the
# kubernetes package is not a dependency of the compile path.
POD_FIELDS = ("apiVersion", "kind", "metadata", "spec", "status")
# 0.8 templates were Python format strings: `{image}`, `{self._pvc_name}`,
# `{PodGenerator.make_unique_pod_id(...)}`. Jinja's `{{ }}` and `{% %}` and a shell's `${VAR}`
# are not that; neither is a YAML flow mapping (`{a: b}`).
_FORMAT_FIELD = re.compile(r"(?<![{$])\{\s*[A-Za-z_][\w.]*\s*(\(.*?\)\s*)?\}(?!\})")
_FORMAT_NAME = re.compile(r"^[A-Za-z_][\w.]*(\(.*\))?$")


def _format_placeholder(value: Any) -> str | None:
    """The first 0.8-style `{expression}` in a template; a bare `{image}` in YAML is a
    mapping of one key to null. A container's command and args are scripts: not looked at."""
    if isinstance(value, str):
        match = _FORMAT_FIELD.search(value)
        return match.group(0) if match else None
    if isinstance(value, dict):
        if len(value) == 1:
            (key, item), = value.items()
            if item is None and isinstance(key, str) and _FORMAT_NAME.match(key):
                return f"{{{key}}}"
        values = [item for key, item in value.items() if key not in ("command", "args")]
    elif isinstance(value, list):
        values = value
    else:
        return None
    for item in values:
        found = _format_placeholder(item)
        if found:
            return found
    return None


def _placeholder_08(placeholder: str) -> str:
    return (f"{placeholder} is a placeholder of 0.8 templates, which are no longer filled in: "
            "write the value, or leave the field out (the plugin sets the pod's name, image, "
            "namespace, data volume and MLflow run itself)")


class PodTemplateConfig(_Model):
    template: dict[str, Any] = Field(
        description="A Kubernetes Pod manifest (a YAML string or a mapping) the node pods start "
        "from; plugin settings win on conflict."
    )
    image: ImageReference | None = Field(
        None, description="Image for the nodes using this template.")

    @field_validator("template", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError as exc:
                # 0.8's templates are seldom valid YAML: say what makes them 0.8's
                placeholder = _FORMAT_FIELD.search(value)
                if placeholder:
                    raise ValueError(_placeholder_08(placeholder.group(0))) from None
                raise ValueError(f"not valid YAML ({str(exc).splitlines()[0]})") from None
        field = _format_placeholder(value)
        if field:
            raise ValueError(_placeholder_08(field))
        if not isinstance(value, dict):
            raise ValueError("expected a Pod manifest (a mapping)")
        for key in value:
            if key not in POD_FIELDS:
                fix = ("write `kind: Pod` (0.8 templates said `type: Pod`)" if key == "type"
                       else "move it under spec or metadata")
                raise ValueError(f"{key!r} is not a field of a Pod ({', '.join(POD_FIELDS)}): "
                                 f"{fix}")
        if value.get("kind", "Pod") != "Pod":
            raise ValueError(f"kind: expected Pod, got {value['kind']!r}")
        return value


_CONN_ID = re.compile(r"[\w#!()\-.:/\\]{1,250}")  # airflow.models.connection.sanitize_conn_id


class KubernetesConnection(_Model):
    kubernetes_conn_id: str | None = Field(
        None, description="Airflow connection (type Kubernetes) of the cluster; empty: the "
        "provider's default, kubernetes_default."
    )
    in_cluster: bool | None = Field(
        None, description="true: the Airflow worker's own cluster (its service account); "
        "false: a kubeconfig; empty: the connection's setting. Pods only: the volume tasks "
        "take it from the connection."
    )
    config_file: str | None = Field(
        None, description="Path of a kubeconfig on the Airflow worker; empty: the "
        "connection's, else $KUBECONFIG or ~/.kube/config."
    )
    cluster_context: str | None = Field(
        None, description="Context of the kubeconfig to use; empty: its current context. Pods "
        "only: the volume tasks take it from the connection."
    )

    @field_validator("kubernetes_conn_id")
    @classmethod
    def _conn_id(cls, value: str | None) -> str | None:
        if value is not None and not _CONN_ID.fullmatch(value):
            raise ValueError("expected an Airflow connection id (at most 250 letters, digits "
                             f"and #!()-.:/\\_), got {value!r}")
        return value

    @field_validator("config_file", "cluster_context")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("expected a non-empty string, or no key")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> KubernetesConnection:
        if self.in_cluster and (self.config_file or self.cluster_context):
            raise ValueError("in_cluster: true ignores config_file and cluster_context; set "
                             "one or the other")
        return self

    def pod_arguments(self) -> dict[str, Any]:
        """What the KubernetesPodOperator takes: the keys set, by the operator's names."""
        return self.model_dump(exclude_none=True)

    def resource_arguments(self) -> dict[str, Any]:
        """What the resource operators (the volume tasks) take: no in_cluster or context."""
        return {k: v for k, v in self.pod_arguments().items()
                if k in ("kubernetes_conn_id", "config_file")}
