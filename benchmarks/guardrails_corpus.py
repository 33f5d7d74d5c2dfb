"""A generated corpus of Kubernetes manifests for the guardrails benchmarks.

Mixed workloads (Deployments, StatefulSets, DaemonSets, Jobs, CronJobs, Pods, Services),
mostly compliant, with every rule broken somewhere. Deterministic for a seed, so every
tool runs on the same bytes and runs can be compared.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import yaml

try:
    _Base: type[yaml.SafeDumper] = yaml.CSafeDumper  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Base = yaml.SafeDumper


class _Dumper(_Base):  # type: ignore[valid-type, misc]
    """Writes shared objects out in full, as helm and kustomize do (no anchors)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


KINDS = (  # kind, weight
    ("Deployment", 40),
    ("StatefulSet", 8),
    ("DaemonSet", 4),
    ("Job", 8),
    ("CronJob", 8),
    ("Pod", 12),
    ("Service", 20),
)
REGISTRIES = ("ghcr.io/acme", "registry.acme.example:5000", "docker.io/library")
# A violation in about one manifest in PER.
PER = 25

PLATFORM = {
    "apiVersion": "mooring.dev/v1alpha1",
    "kind": "PlatformConfig",
    "metadata": {"name": "default"},
    "spec": {
        "tiers": {"small": {"quota": {"cpu": "4", "memory": "8Gi", "pods": 50}}},
        "guardrails": {
            "allowedRegistries": list(REGISTRIES),
            "allowedCapabilities": ["NET_BIND_SERVICE"],
            "requiredLabels": [{"key": "app.kubernetes.io/name"}, {"key": "team"}],
        },
    },
}


def _container(rng: random.Random, name: str, bad: set[str]) -> dict[str, Any]:
    registry = rng.choice(REGISTRIES)
    image = f"{registry}/{name}:{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"
    if registry == "docker.io/library":
        image = f"{name}:{rng.randint(1, 9)}.{rng.randint(0, 30)}"
    if "image-tag" in bad:
        image = rng.choice([image.rsplit(":", 1)[0], image.rsplit(":", 1)[0] + ":latest"])
    if "allowed-registries" in bad:
        image = f"quay.io/someone/{name}:1.0"
    security: dict[str, Any] = {
        "allowPrivilegeEscalation": "privilege-escalation" in bad,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
    }
    if "privileged" in bad:
        security["privileged"] = True
    if "capabilities" in bad:
        security["capabilities"]["add"] = ["NET_ADMIN"]
    if "run-as-non-root" in bad:
        security["runAsNonRoot"] = False
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "ports": [{"containerPort": rng.choice([8080, 8443, 9090]), "name": "http"}],
        "env": [{"name": f"VAR_{i}", "value": str(rng.random())} for i in range(rng.randint(0, 4))],
        "resources": {
            "requests": {
                "cpu": f"{rng.randint(1, 10) * 50}m",
                "memory": f"{rng.randint(1, 8) * 64}Mi",
            },
            "limits": {
                "cpu": f"{rng.randint(2, 20) * 100}m",
                "memory": f"{rng.randint(2, 16) * 64}Mi",
            },
        },
        "securityContext": security,
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10},
    }
    if "resources" in bad:
        del container["resources"]["limits"]
    if "host-ports" in bad:
        container["ports"][0]["hostPort"] = container["ports"][0]["containerPort"]
    return container


def _pod_spec(rng: random.Random, bad: set[str]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [_container(rng, "app", bad)],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    if rng.random() < 0.4:
        spec["containers"].append(_container(rng, "proxy", set()))
    if rng.random() < 0.2:
        spec["initContainers"] = [_container(rng, "migrate", set())]
    if "host-namespaces" in bad:
        spec["hostPID"] = True
    if "host-path" in bad:
        spec["volumes"].append({"name": "node", "hostPath": {"path": "/var/run"}})
    return spec


def _labels(name: str, bad: set[str]) -> dict[str, str]:
    labels = {"app.kubernetes.io/name": name, "team": "acme"}
    if "required-labels" in bad:
        del labels["team"]
    return labels


WORKLOAD_RULES = (
    "privileged",
    "privilege-escalation",
    "run-as-non-root",
    "host-namespaces",
    "host-path",
    "host-ports",
    "capabilities",
    "image-tag",
    "allowed-registries",
    "resources",
    "required-labels",
)

# The rules the peers' Rego implements too (benchmarks/conftest/policy): the pack as it was
# when the comparison was written. Mooring's later rules are left out of the comparison.
PEER_RULES = (*WORKLOAD_RULES, "node-port-services", "load-balancer-services")


def manifest(rng: random.Random, number: int) -> dict[str, Any]:
    kind = rng.choices([k for k, _ in KINDS], weights=[w for _, w in KINDS])[0]
    name = f"{kind.lower()}-{number}"
    namespace = f"team-{number % 7}"
    if kind == "Service":
        service_type = "ClusterIP"
        if rng.randrange(PER) == 0:
            service_type = rng.choice(["NodePort", "LoadBalancer"])
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "labels": _labels(name, set())},
            "spec": {
                "type": service_type,
                "selector": {"app.kubernetes.io/name": name},
                "ports": [{"port": 80, "targetPort": "http", "protocol": "TCP"}],
            },
        }
    bad = {rng.choice(WORKLOAD_RULES)} if rng.randrange(PER) < 3 else set()
    labels = _labels(name, bad)
    pod_spec = _pod_spec(rng, bad)
    template = {"metadata": {"labels": labels}, "spec": pod_spec}
    meta = {"name": name, "namespace": namespace, "labels": labels}
    selector = {"matchLabels": {"app.kubernetes.io/name": name}}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec}
    if kind == "Job":
        pod_spec["restartPolicy"] = "Never"
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": meta,
            "spec": {"template": template},
        }
    if kind == "CronJob":
        pod_spec["restartPolicy"] = "OnFailure"
        return {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": meta,
            "spec": {
                "schedule": "*/15 * * * *",
                "jobTemplate": {"metadata": {"labels": labels}, "spec": {"template": template}},
            },
        }
    spec: dict[str, Any] = {"selector": selector, "template": template}
    if kind != "DaemonSet":
        spec["replicas"] = rng.randint(1, 5)
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": spec}


def generate(folder: Path, manifests: int = 10_000, per_file: int = 5, seed: int = 4) -> list[Path]:
    """Write `manifests` manifests, `per_file` documents per file; return the files."""
    rng = random.Random(seed)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    files = []
    for start in range(0, manifests, per_file):
        documents = [manifest(rng, n) for n in range(start, min(start + per_file, manifests))]
        path = folder / f"app-{start // per_file:05d}.yaml"
        path.write_text(yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False))
        files.append(path)
    return files


def write_platform(path: Path) -> Path:
    path.write_text(yaml.dump(PLATFORM, Dumper=_Dumper, sort_keys=False))
    return path
