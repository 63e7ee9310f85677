"""Pods and claims at the edges of the API server's rules, each with the verdict of the real
kube-apiserver (v1.37, server-side dry run): `--validate` (schema + apiserver_checks) must give
the same verdict on every one. A case is (description, edit of a valid manifest, accepted).

The verdicts were read from the real server and are checked against it on every run
(tests/e2e/test_kubernetes.py), so a copy of a rule that drifts from Kubernetes fails there.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
Manifest = dict[str, Any]


def golden_manifests() -> list[tuple[str, Manifest]]:
    """Every pod and claim of the golden corpus, as the real operators built them, with the
    stand-ins of the stored form (the pod name's random suffix, a secret volume's uuid) made
    concrete again: ("<config>/<task>", manifest)."""
    found = []
    for path in sorted(GOLDEN.glob("*.json")):
        for task_id, record in json.loads(path.read_text())["tasks"].items():
            if record.get("manifest"):
                text = (json.dumps(record["manifest"]).replace("<suffix>", "x7k2p9qa")
                        .replace("secretvol<uuid>", "secretvol0b9e2c1a-1111-4222-8333-9444"
                                                    "55556666"))
                found.append((f"{path.stem}/{task_id}", json.loads(text)))
    return found


def base_pod() -> Manifest:
    """The node pod of the configuration that sets most pod fields."""
    return copy.deepcopy(dict(golden_manifests())["k8s-full-config/n"])


def base_claim() -> Manifest:
    return copy.deepcopy(dict(golden_manifests())["k8s-full-config/create-data-volume"])


def _container(pod: Manifest) -> dict[str, Any]:
    return pod["spec"]["containers"][0]


def _meta(key: str, value: Any) -> Callable[[Manifest], None]:
    def edit(m: Manifest) -> None:
        m["metadata"][key] = value
    return edit


def _label(key: str, value: str) -> Callable[[Manifest], None]:
    return lambda m: m["metadata"]["labels"].__setitem__(key, value)


def _annotations(values: dict[str, str]) -> Callable[[Manifest], None]:
    return lambda m: m["metadata"].__setitem__("annotations", values)


def _resources(requests: dict[str, str], limits: dict[str, str] | None = None,
               ) -> Callable[[Manifest], None]:
    def edit(m: Manifest) -> None:
        _container(m)["resources"] = {"requests": requests, **({"limits": limits}
                                                               if limits else {})}
    return edit


def _env(name: str) -> Callable[[Manifest], None]:
    return lambda m: _container(m)["env"].append({"name": name, "value": "1"})


def _spec(key: str, value: Any) -> Callable[[Manifest], None]:
    return lambda m: m["spec"].__setitem__(key, value)


def _mount(**fields: Any) -> Callable[[Manifest], None]:
    return lambda m: _container(m)["volumeMounts"][0].update(fields)


def _toleration(**fields: Any) -> Callable[[Manifest], None]:
    return lambda m: m["spec"].__setitem__("tolerations", [fields])


def _claim(**fields: Any) -> Callable[[Manifest], None]:
    return lambda m: m["spec"].update(fields)


def _annotation_bytes(total: int) -> dict[str, str]:
    return {"blob": "x" * (total - len("blob"))}


POD_CASES: list[tuple[str, Callable[[Manifest], None], bool]] = [
    ("name of 253 characters", _meta("name", "a" * 253), True),
    ("name of 254 characters", _meta("name", "a" * 254), False),
    ("name with dots", _meta("name", "train.model-1"), True),
    ("name with a capital", _meta("name", "Train"), False),
    ("name ending in '-'", _meta("name", "train-"), False),
    ("label value of 63 characters", _label("run_id", "r" * 63), True),
    ("label value of 64 characters", _label("run_id", "r" * 64), False),
    ("empty label value", _label("team", ""), True),
    ("label value with '_' and '.'", _label("team", "data_science.v2"), True),
    ("label value starting with '-'", _label("team", "-ds"), False),
    ("label key name of 63 characters", _label("k" * 63, "v"), True),
    ("label key name of 64 characters", _label("k" * 64, "v"), False),
    ("label key with a capital in its prefix", _label("Example.com/team", "v"), False),
    ("label key with two slashes", _label("a/b/c", "v"), False),
    ("annotation key with a capital in its prefix",
     _annotations({"Example.com/note": "v"}), True),
    ("annotations of exactly 256 KiB", _annotations(_annotation_bytes(262144)), True),
    ("annotations of 256 KiB and one byte", _annotations(_annotation_bytes(262145)), False),
    ("cpu 0.5 and memory 1.5Gi", _resources({"cpu": "0.5", "memory": "1.5Gi"}), True),
    ("cpu 1e3", _resources({"cpu": "1e3"}), True),
    ("memory 100M", _resources({"memory": "100M"}), True),
    ("cpu with a trailing space", _resources({"cpu": "1 "}), True),
    ("cpu with a trailing newline", _resources({"cpu": "1\n"}), False),
    ("memory with a space inside", _resources({"memory": "1 Gi"}), False),
    ("negative memory", _resources({"memory": "-1Gi"}), False),
    ("request above limit", _resources({"memory": "2Gi"}, {"memory": "1Gi"}), False),
    ("request equal to limit", _resources({"memory": "1Gi"}, {"memory": "1Gi"}), True),
    ("limit alone", _resources({}, {"cpu": "2"}), True),
    ("gpu request and limit", _resources({"nvidia.com/gpu": "1"}, {"nvidia.com/gpu": "1"}), True),
    ("gpu request without limit", _resources({"nvidia.com/gpu": "1"}), False),
    ("gpu limit alone", _resources({}, {"nvidia.com/gpu": "2"}), True),
    ("half a gpu", _resources({"nvidia.com/gpu": "0.5"}, {"nvidia.com/gpu": "0.5"}), False),
    ("unprefixed unknown resource", _resources({"widgets": "1"}), False),
    ("hugepages request equal to limit",
     _resources({"hugepages-2Mi": "4Mi", "memory": "1Gi"},
                {"hugepages-2Mi": "4Mi", "memory": "1Gi"}), True),
    ("ephemeral storage", _resources({"ephemeral-storage": "10Gi"}), True),
    ("env name starting with a digit", _env("1ST"), True),
    ("env name with a dot and a dash", _env("my.var-1"), True),
    ("env name with a space", _env("MY VAR"), True),
    ("env name with '='", _env("A=B"), False),
    ("env name with a non-ASCII letter", _env("CAFÉ"), False),
    ("duplicate env name", _env("A"), True),
    ("mount sub path inside the volume", _mount(subPath="project/data"), True),
    ("mount sub path going up", _mount(subPath="../etc"), False),
    ("mount sub path absolute", _mount(subPath="/etc"), False),
    ("relative mount path", _mount(mountPath="data"), True),
    ("toleration Exists without a key", _toleration(operator="Exists"), True),
    ("toleration Equal without a key", _toleration(operator="Equal", value="x"), False),
    ("toleration seconds with NoExecute",
     _toleration(key="k", operator="Exists", effect="NoExecute", tolerationSeconds=60), True),
    ("toleration seconds with NoSchedule",
     _toleration(key="k", operator="Exists", effect="NoSchedule", tolerationSeconds=60), False),
    ("toleration operator Gt", _toleration(key="k", operator="Gt", value="3"), False),
    ("node selector value with a space", _spec("nodeSelector", {"pool": "high mem"}), False),
    ("node selector value of 63 characters", _spec("nodeSelector", {"pool": "p" * 63}), True),
    ("active deadline 0", _spec("activeDeadlineSeconds", 0), False),
    ("active deadline 1", _spec("activeDeadlineSeconds", 1), True),
    ("negative grace period", _spec("terminationGracePeriodSeconds", -1), True),
    ("restart policy OnFailure", _spec("restartPolicy", "OnFailure"), True),
    ("service account with a capital", _spec("serviceAccountName", "Kedro"), False),
    ("image with a space inside", lambda m: _container(m).update(image="my image:1"), True),
    ("image with a trailing space", lambda m: _container(m).update(image="image:1 "), False),
    ("image pull secret with a capital",
     _spec("imagePullSecrets", [{"name": "Reg_Cred"}]), True),
    ("secret volume naming a Secret with a capital",
     lambda m: m["spec"]["volumes"][1]["secret"].update(secretName="Gcp_SA"), True),
    ("env from a Secret named with a capital",
     lambda m: _container(m)["envFrom"][0]["secretRef"].update(name="All_Env"), False),
    ("env from a ConfigMap named with a capital",
     lambda m: _container(m)["envFrom"].append({"configMapRef": {"name": "Settings"}}), False),
    ("env from a Secret with a prefix starting with a digit",
     lambda m: _container(m)["envFrom"][0].update(prefix="1_"), True),
    ("a Secret's key named with a capital Secret",
     lambda m: _container(m)["env"][3]["valueFrom"]["secretKeyRef"].update(name="Airflow_S"),
     False),
    ("sub path expression going up", _mount(subPathExpr="../$(POD)"), False),
    ("sub path and sub path expression", _mount(subPath="a", subPathExpr="$(POD)"), False),
    ("sub path with '..' inside a name", _mount(subPath="a..b/c"), True),
    ("sub path with '..' between backslashes", _mount(subPath="a\\..\\b"), True),
]

CLAIM_CASES: list[tuple[str, Callable[[Manifest], None], bool]] = [
    ("claim name of 253 characters", _meta("name", "c" * 253), True),
    ("claim name with '_'", _meta("name", "run_data"), False),
    ("size 1.5Gi", _claim(resources={"requests": {"storage": "1.5Gi"}}), True),
    ("size 0", _claim(resources={"requests": {"storage": "0"}}), False),
    ("no access mode", _claim(accessModes=[]), False),
    ("ReadWriteOncePod", _claim(accessModes=["ReadWriteOncePod"]), True),
    ("ReadWriteOncePod beside another mode",
     _claim(accessModes=["ReadWriteOncePod", "ReadWriteOnce"]), False),
    ("storage class with a capital", _claim(storageClassName="Fast"), False),
    ("empty storage class (static binding)", _claim(storageClassName=""), True),
    ("volume mode Block", _claim(volumeMode="Block"), True),
]


def cases() -> list[tuple[str, Manifest, bool]]:
    """(description, manifest, accepted) for every case."""
    built = []
    for table, base in ((POD_CASES, base_pod), (CLAIM_CASES, base_claim)):
        for description, edit, accepted in table:
            manifest = base()
            edit(manifest)
            built.append((description, manifest, accepted))
    return built
