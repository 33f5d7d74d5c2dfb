"""Mooring's own guardrail cases: objects from small builders, one rule each, with verdicts.

Shared by the unit tests (offline engine) and the cluster tests (the same objects through a
real API server with the generated admission policies). Every object is a valid Kubernetes
object, so the API server's verdict comes from the policies and nothing else.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mooring.api.guardrails import ExceptionInForce, GuardrailContextSpec, RequiredLabel
from mooring.core.policy.context import platform_namespaces

Obj = dict[str, Any]
DELETE = object()  # in an override: remove the key
GOOD_IMAGE = "ghcr.io/acme/app:1.4.2"
DIGEST = "sha256:" + "a" * 64
WORKLOAD_KINDS = (
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
)
KINDS = ("Pod", *WORKLOAD_KINDS)
API_VERSIONS = {
    "Pod": "v1",
    "ReplicationController": "v1",
    "Service": "v1",
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "ReplicaSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
}
LABELS = {"app": "web", "team": "acme", "tier": "backend"}
# PriorityClasses the cases name (the cluster tests create them: a Pod naming a class that
# does not exist is refused before admission policies run).
TENANT_CLASS = "tenant-batch"
OTHER_CLASS = "platform-high"
PRIORITY_CLASSES = (TENANT_CLASS, OTHER_CLASS)

# The GuardrailContexts the cases are judged in (one namespace each in the cluster tests).
CONTEXTS: dict[str, GuardrailContextSpec] = {
    "standard": GuardrailContextSpec(
        tenant="acme",
        allowed_registries=["ghcr.io/acme", "registry.acme.example:5000", "docker.io/library"],
        allowed_capabilities=["NET_BIND_SERVICE"],
        required_labels=[
            RequiredLabel(key="team"),
            RequiredLabel(key="tier", allowed_regex="^(frontend|backend)$"),
        ],
        allowed_priority_classes=[TENANT_CLASS],
        ingress_classes=["nginx"],
        hostnames=["shop.example.com", "*.acme.example.com"],
        platform_namespaces=platform_namespaces(None),
    ),
    # No registry list, node ports and load balancers granted by the quota, no class lists.
    "generous": GuardrailContextSpec(
        tenant="bigco",
        allowed_capabilities=["NET_BIND_SERVICE", "NET_RAW"],
        node_ports=True,
        load_balancers=True,
        hostnames=["bigco.example.org"],
        cluster_domain="corp.internal",
    ),
    "excepted": GuardrailContextSpec(
        tenant="legacy",
        allowed_registries=["ghcr.io/acme"],
        allowed_capabilities=["NET_BIND_SERVICE"],
        required_labels=[RequiredLabel(key="team")],
        exceptions=[
            ExceptionInForce(
                name="node-agent",
                rules=["privileged", "host-path", "host-namespaces"],
                names=["agent"],
                expires="2099-01-01T00:00:00Z",
            ),
            ExceptionInForce(
                name="pinned-later",
                rules=["image-tag", "allowed-registries"],
                match_labels={"exempt": "yes"},
                expires="2099-01-01T00:00:00Z",
            ),
        ],
    ),
}


def merge(base: Any, override: Any) -> Any:
    """`base` with `override` merged in: dicts recursively, DELETE removes a key."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return copy.deepcopy(override)
    result = copy.deepcopy(base)
    for key, value in override.items():
        if value is DELETE:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value) if isinstance(value, dict) else value
    return result


def container(name: str = "app", image: str = GOOD_IMAGE, **override: Any) -> Obj:
    """A container that breaks no rule; keyword arguments change it (merged)."""
    base = {
        "name": name,
        "image": image,
        "imagePullPolicy": "Always",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "resources": {
            "requests": {"cpu": "100m", "memory": "64Mi"},
            "limits": {"cpu": "200m", "memory": "128Mi"},
        },
    }
    return merge(base, override)  # type: ignore[no-any-return]


def ephemeral(name: str = "debug", image: str = GOOD_IMAGE, **override: Any) -> Obj:
    """An ephemeral container that breaks no rule (they may not declare resources)."""
    return merge(container(name, image, resources=DELETE), override)  # type: ignore[no-any-return]


def pod_spec(
    *containers: Obj, init: tuple[Obj, ...] = (), ephemerals: tuple[Obj, ...] = (), **fields: Any
) -> Obj:
    spec: Obj = {"containers": list(containers) or [container()]}
    if init:
        spec["initContainers"] = list(init)
    if ephemerals:
        spec["ephemeralContainers"] = list(ephemerals)
    return merge(spec, fields)  # type: ignore[no-any-return]


def workload(
    kind: str,
    spec: Obj | None = None,
    *,
    name: str = "web",
    labels: dict[str, str] | None = None,
    template_labels: dict[str, str] | None = None,
    job_labels: dict[str, str] | None = None,
    owner: bool = False,
) -> Obj:
    """A Pod, or any workload whose pod template is `spec` (a valid object of that kind)."""
    spec = copy.deepcopy(spec if spec is not None else pod_spec())
    labels = dict(LABELS if labels is None else labels)
    template_labels = dict(LABELS if template_labels is None else template_labels)
    metadata: Obj = {"name": name, "labels": labels}
    if owner:
        metadata["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": name.rsplit("-", 1)[0],
                "uid": "8c5f3b5e-0000-4000-8000-000000000001",
                "controller": True,
            }
        ]
    obj: Obj = {"apiVersion": API_VERSIONS[kind], "kind": kind, "metadata": metadata}
    if kind == "Pod":
        obj["spec"] = spec
        return obj
    if kind in ("Job", "CronJob"):
        spec.setdefault("restartPolicy", "Never")
    template = {"metadata": {"labels": template_labels}, "spec": spec}
    selector = {"matchLabels": {"app": template_labels.get("app", "web")}}
    if kind == "Job":
        obj["spec"] = {"template": template}
    elif kind == "CronJob":
        job_metadata = {"labels": dict(LABELS if job_labels is None else job_labels)}
        obj["spec"] = {
            "schedule": "*/30 * * * *",
            "jobTemplate": {"metadata": job_metadata, "spec": {"template": template}},
        }
    elif kind == "ReplicationController":
        obj["spec"] = {"replicas": 1, "selector": selector["matchLabels"], "template": template}
    else:
        obj["spec"] = {"selector": selector, "template": template}
        if kind == "StatefulSet":
            obj["spec"]["serviceName"] = name
    if template_labels.get("app") is None:
        # Selectors must match the template; without an app label select on the first one.
        first = next(iter(template_labels.items()), None)
        if first is None:
            template["metadata"]["labels"] = {"run": name}
            first = ("run", name)
        if kind == "ReplicationController":
            obj["spec"]["selector"] = dict([first])
        elif kind not in ("Job", "CronJob"):
            obj["spec"]["selector"] = {"matchLabels": dict([first])}
    return obj


def service(service_type: str | None = "ClusterIP", name: str = "web") -> Obj:
    spec: Obj = {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}
    if service_type is not None:
        spec["type"] = service_type
    if service_type == "ExternalName":
        spec = {"type": "ExternalName", "externalName": "db.example.com"}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": dict(LABELS)},
        "spec": spec,
    }


@dataclass(frozen=True)
class Case:
    """An object and the verdict the rule must give it; with `before`, an UPDATE: `before`
    is created (it complies) and then changed into `obj`, which is judged."""

    id: str
    rule: str
    obj: Obj = field(compare=False)
    denied: bool
    context: str = "standard"
    before: Obj | None = field(default=None, compare=False)
    subresource: str | None = None  # the update goes through it (resize, ...)

    @property
    def has_ephemeral(self) -> bool:
        return bool(self.obj.get("kind") == "Pod" and self.obj["spec"].get("ephemeralContainers"))


def ingress(
    *hosts: str | None,
    tls: list[Obj] | None = None,
    annotations: dict[str, str] | None = None,
    class_name: str | None = "nginx",
    default_backend: bool = False,
    name: str = "web",
) -> Obj:
    """An Ingress routing `hosts` (None: a rule without a host) to Service web."""
    backend = {"service": {"name": "web", "port": {"number": 80}}}
    paths = [{"path": "/", "pathType": "Prefix", "backend": backend}]
    rules: list[Obj] = []
    for host in hosts:
        rule: Obj = {"http": {"paths": copy.deepcopy(paths)}}
        if host is not None:
            rule["host"] = host
        rules.append(rule)
    spec: Obj = {"rules": rules}
    if class_name is not None:
        spec["ingressClassName"] = class_name
    if tls is not None:
        spec["tls"] = tls
    if default_backend:
        spec["defaultBackend"] = backend
    metadata: Obj = {"name": name, "labels": dict(LABELS)}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata,
        "spec": spec,
    }


def external_name(target: str, name: str = "db") -> Obj:
    obj = service("ExternalName", name=name)
    obj["spec"] = {"type": "ExternalName", "externalName": target}
    return obj


def _article(kind: str) -> str:
    return "an" if kind[0] in "AEIOU" else "a"


def _each_kind(
    rule: str, verb: str, what: str, spec: Obj, denied: bool, context: str = "standard"
) -> Iterator[Case]:
    for kind in KINDS:
        yield Case(
            f"{verb} {what} in {_article(kind)} {kind}", rule, workload(kind, spec), denied, context
        )


# -- per rule ---------------------------------------------------------------------------------


def privileged() -> Iterator[Case]:
    rule = "privileged"
    bad = container(securityContext={"privileged": True, "allowPrivilegeEscalation": DELETE})
    yield from _each_kind(rule, "denies", "a privileged container", pod_spec(bad), True)
    yield from _each_kind(rule, "allows", "unprivileged containers", pod_spec(), False)
    yield Case(
        "denies a privileged init container",
        rule,
        workload(
            "Deployment",
            pod_spec(
                init=(
                    container(
                        "init",
                        securityContext={
                            "privileged": True,
                            "allowPrivilegeEscalation": DELETE,
                        },
                    ),
                )
            ),
        ),
        True,
    )
    yield Case(
        "denies a privileged ephemeral container",
        rule,
        workload(
            "Pod",
            pod_spec(
                ephemerals=(
                    ephemeral(
                        securityContext={"privileged": True, "allowPrivilegeEscalation": DELETE}
                    ),
                )
            ),
        ),
        True,
    )
    yield Case(
        "allows privileged: false",
        rule,
        workload("Pod", pod_spec(container(securityContext={"privileged": False}))),
        False,
    )
    yield Case(
        "denies a privileged second container",
        rule,
        workload(
            "Pod",
            pod_spec(
                container(),
                container(
                    "sidecar",
                    securityContext={"privileged": True, "allowPrivilegeEscalation": DELETE},
                ),
            ),
        ),
        True,
    )
    yield Case(
        "allows a pod without any securityContext on privileged",
        rule,
        workload("Pod", pod_spec(container(securityContext=DELETE))),
        False,
    )


def privilege_escalation() -> Iterator[Case]:
    rule = "privilege-escalation"
    unset = container(securityContext={"allowPrivilegeEscalation": DELETE})
    yield from _each_kind(rule, "denies", "a container that may escalate", pod_spec(unset), True)
    yield from _each_kind(rule, "allows", "allowPrivilegeEscalation false", pod_spec(), False)
    yield Case(
        "denies allowPrivilegeEscalation: true",
        rule,
        workload("Pod", pod_spec(container(securityContext={"allowPrivilegeEscalation": True}))),
        True,
    )
    yield Case(
        "denies an init container that may escalate",
        rule,
        workload(
            "Job",
            pod_spec(
                init=(container("init", securityContext={"allowPrivilegeEscalation": DELETE}),)
            ),
        ),
        True,
    )
    yield Case(
        "denies an ephemeral container without a securityContext",
        rule,
        workload("Pod", pod_spec(ephemerals=(ephemeral(securityContext=DELETE),))),
        True,
    )
    yield Case(
        "allows a Windows pod, which may not set allowPrivilegeEscalation",
        rule,
        workload("Pod", pod_spec(container(securityContext=DELETE), os={"name": "windows"})),
        False,
    )
    yield Case(
        "allows an ephemeral container with allowPrivilegeEscalation false",
        rule,
        workload("Pod", pod_spec(ephemerals=(ephemeral(),))),
        False,
    )


def run_as_non_root() -> Iterator[Case]:
    rule = "run-as-non-root"
    unset = container(securityContext={"runAsNonRoot": DELETE})
    yield from _each_kind(rule, "denies", "a container that may run as root", pod_spec(unset), True)
    yield from _each_kind(rule, "allows", "runAsNonRoot on the container", pod_spec(), False)
    yield from _each_kind(
        rule,
        "allows",
        "runAsNonRoot on the pod only",
        pod_spec(unset, securityContext={"runAsNonRoot": True}),
        False,
    )
    cases = [
        (
            "denies a container setting false over the pod's true",
            pod_spec(
                container(securityContext={"runAsNonRoot": False}),
                securityContext={"runAsNonRoot": True},
            ),
            True,
        ),
        (
            "allows a container setting true over the pod's false",
            pod_spec(container(), securityContext={"runAsNonRoot": False}),
            False,
        ),
        (
            "denies the pod's false when the container says nothing",
            pod_spec(unset, securityContext={"runAsNonRoot": False}),
            True,
        ),
        (
            "denies runAsUser 0 even with runAsNonRoot",
            pod_spec(container(securityContext={"runAsUser": 0})),
            True,
        ),
        (
            "denies the pod's runAsUser 0 inherited by a container",
            pod_spec(container(), securityContext={"runAsUser": 0}),
            True,
        ),
        (
            "allows a container's runAsUser 1000 over the pod's 0",
            pod_spec(
                container(securityContext={"runAsUser": 1000}), securityContext={"runAsUser": 0}
            ),
            False,
        ),
        (
            "denies runAsUser 1000 without runAsNonRoot",
            pod_spec(container(securityContext={"runAsNonRoot": DELETE, "runAsUser": 1000})),
            True,
        ),
        (
            "denies an init container that may run as root under a pod without a setting",
            pod_spec(init=(container("init", securityContext={"runAsNonRoot": DELETE}),)),
            True,
        ),
        (
            "allows an init container covered by the pod's runAsNonRoot",
            pod_spec(
                unset,
                init=(container("init", securityContext={"runAsNonRoot": DELETE}),),
                securityContext={"runAsNonRoot": True},
            ),
            False,
        ),
        (
            "denies an ephemeral container that may run as root",
            pod_spec(ephemerals=(ephemeral(securityContext={"runAsNonRoot": DELETE}),)),
            True,
        ),
        (
            "allows an ephemeral container covered by the pod's runAsNonRoot",
            pod_spec(
                ephemerals=(ephemeral(securityContext={"runAsNonRoot": DELETE}),),
                securityContext={"runAsNonRoot": True},
            ),
            False,
        ),
    ]
    for title, spec, denied in cases:
        yield Case(title, rule, workload("Pod", spec), denied)


def host_namespaces() -> Iterator[Case]:
    rule = "host-namespaces"
    for field_ in ("hostNetwork", "hostPID", "hostIPC"):
        yield Case(
            f"denies {field_} in a Pod", rule, workload("Pod", pod_spec(**{field_: True})), True
        )
        yield Case(
            f"denies {field_} in a DaemonSet",
            rule,
            workload("DaemonSet", pod_spec(**{field_: True})),
            True,
        )
        yield Case(
            f"allows {field_}: false", rule, workload("Pod", pod_spec(**{field_: False})), False
        )
    yield from _each_kind(rule, "allows", "no host namespaces", pod_spec(), False)
    yield Case(
        "denies hostPID in a CronJob", rule, workload("CronJob", pod_spec(hostPID=True)), True
    )


def host_path() -> Iterator[Case]:
    rule = "host-path"
    host = {"name": "node", "hostPath": {"path": "/var/run"}}
    yield from _each_kind(rule, "denies", "a hostPath volume", pod_spec(volumes=[host]), True)
    others = [
        ("an emptyDir volume", {"name": "tmp", "emptyDir": {}}),
        ("a configMap volume", {"name": "cfg", "configMap": {"name": "settings"}}),
        (
            "a persistentVolumeClaim volume",
            {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
        ),
        ("a secret volume", {"name": "creds", "secret": {"secretName": "creds"}}),
    ]
    for title, volume in others:
        yield Case(f"allows {title}", rule, workload("Pod", pod_spec(volumes=[volume])), False)
    yield Case(
        "denies a hostPath volume among others",
        rule,
        workload("StatefulSet", pod_spec(volumes=[others[0][1], host])),
        True,
    )
    yield Case(
        "denies a hostPath volume of type Directory",
        rule,
        workload(
            "Pod",
            pod_spec(volumes=[{"name": "n", "hostPath": {"path": "/etc", "type": "Directory"}}]),
        ),
        True,
    )


def host_ports() -> Iterator[Case]:
    rule = "host-ports"
    bound = container(ports=[{"containerPort": 8080, "hostPort": 8080}])
    yield from _each_kind(rule, "denies", "a host port", pod_spec(bound), True)
    yield from _each_kind(
        rule,
        "allows",
        "container ports only",
        pod_spec(container(ports=[{"containerPort": 8080}])),
        False,
    )
    yield Case(
        "denies a host port on an init container",
        rule,
        workload(
            "Pod",
            pod_spec(init=(container("init", ports=[{"containerPort": 9000, "hostPort": 9000}]),)),
        ),
        True,
    )
    yield Case(
        "denies hostNetwork with a container port (every port is on the node)",
        rule,
        workload("Pod", pod_spec(container(ports=[{"containerPort": 8080}]), hostNetwork=True)),
        True,
    )
    yield Case(
        "denies hostNetwork with a container port in a Deployment",
        rule,
        workload(
            "Deployment", pod_spec(container(ports=[{"containerPort": 8080}]), hostNetwork=True)
        ),
        True,
    )
    yield Case(
        "allows hostNetwork without ports",
        rule,
        workload("Pod", pod_spec(hostNetwork=True)),
        False,
    )
    yield Case(
        "denies the second of two ports",
        rule,
        workload(
            "Pod",
            pod_spec(
                container(ports=[{"containerPort": 80}, {"containerPort": 81, "hostPort": 81}])
            ),
        ),
        True,
    )


def capabilities() -> Iterator[Case]:
    rule = "capabilities"

    def adding(*caps: str, name: str = "app") -> Obj:
        return container(
            name, securityContext={"capabilities": {"add": list(caps), "drop": ["ALL"]}}
        )

    yield from _each_kind(rule, "denies", "adding SYS_ADMIN", pod_spec(adding("SYS_ADMIN")), True)
    yield from _each_kind(
        rule, "allows", "adding NET_BIND_SERVICE", pod_spec(adding("NET_BIND_SERVICE")), False
    )
    yield Case(
        "denies one disallowed capability among allowed ones",
        rule,
        workload("Pod", pod_spec(adding("NET_BIND_SERVICE", "SYS_TIME"))),
        True,
    )
    yield Case("allows dropping capabilities only", rule, workload("Pod", pod_spec()), False)
    yield Case("allows an empty add list", rule, workload("Pod", pod_spec(adding())), False)
    yield Case(
        "denies capabilities case-sensitively",
        rule,
        workload("Pod", pod_spec(adding("net_bind_service"))),
        True,
    )
    yield Case(
        "denies NET_RAW where only NET_BIND_SERVICE is allowed",
        rule,
        workload("Pod", pod_spec(adding("NET_RAW"))),
        True,
    )
    yield Case(
        "allows NET_RAW where the platform allows it",
        rule,
        workload("Pod", pod_spec(adding("NET_RAW"))),
        False,
        "generous",
    )
    yield Case(
        "denies an init container adding NET_ADMIN",
        rule,
        workload("Job", pod_spec(init=(adding("NET_ADMIN", name="init"),))),
        True,
    )
    yield Case(
        "denies an ephemeral container adding SYS_PTRACE",
        rule,
        workload(
            "Pod",
            pod_spec(
                ephemerals=(ephemeral(securityContext={"capabilities": {"add": ["SYS_PTRACE"]}}),)
            ),
        ),
        True,
    )


def image_tag() -> Iterator[Case]:
    rule = "image-tag"
    images = [
        ("nginx", True, "an untagged image"),
        ("nginx:latest", True, "the latest tag"),
        ("nginx:1.25.3", False, "a version tag"),
        (f"nginx@{DIGEST}", False, "a digest without a tag"),
        (f"nginx:latest@{DIGEST}", False, "latest pinned by a digest"),
        ("registry.acme.example:5000/app", True, "a registry port mistaken for a tag"),
        ("registry.acme.example:5000/app:2.1", False, "a tag after a registry port"),
        ("registry.acme.example:5000/app:latest", True, "latest after a registry port"),
        ("ghcr.io/acme/app:latest", True, "latest on another registry"),
        ("localhost:5000/tools/app:v1", False, "a tag on a localhost registry"),
        ("ghcr.io/acme/app:latest-2024", False, "a tag that starts with latest"),
        ("ghcr.io/acme/app:LATEST", False, "an upper-case LATEST (tags are case-sensitive)"),
        ("docker.io/library/busybox", True, "an untagged fully qualified image"),
    ]
    for image, denied, title in images:
        yield Case(
            f"{'denies' if denied else 'allows'} {title} ({image})",
            rule,
            workload("Pod", pod_spec(container(image=image))),
            denied,
        )
    latest = container(image="ghcr.io/acme/app:latest")
    yield from _each_kind(rule, "denies", ":latest", pod_spec(latest), True)
    yield Case(
        "denies :latest in an init container",
        rule,
        workload("Deployment", pod_spec(init=(container("init", image="busybox:latest"),))),
        True,
    )
    yield Case(
        "denies an untagged image in an init container",
        rule,
        workload("CronJob", pod_spec(init=(container("init", image="busybox"),))),
        True,
    )
    yield Case(
        "denies :latest in an ephemeral container",
        rule,
        workload("Pod", pod_spec(ephemerals=(ephemeral(image="busybox:latest"),))),
        True,
    )
    yield Case(
        "allows a tagged ephemeral container",
        rule,
        workload("Pod", pod_spec(ephemerals=(ephemeral(image="busybox:1.36"),))),
        False,
    )


def allowed_registries() -> Iterator[Case]:
    rule = "allowed-registries"
    images = [
        ("nginx:1.25", False, "nginx, which is docker.io/library/nginx"),
        ("docker.io/nginx:1.25", False, "docker.io/nginx, which is docker.io/library/nginx"),
        ("index.docker.io/library/nginx:1.25", False, "index.docker.io as docker.io"),
        ("docker.io/library/nginx:1.25", False, "docker.io/library written in full"),
        ("index.docker.io/nginx:1.25", False, "a single name on index.docker.io"),
        ("docker.io/bitnami/redis:7.0", True, "docker.io outside library, written in full"),
        ("bitnami/redis:7.0", True, "a docker.io image outside library"),
        ("ghcr.io/acme/app:1.0", False, "an image under an allowed repository prefix"),
        ("ghcr.io/acme/tools/cli:2", False, "an image deeper under an allowed prefix"),
        ("ghcr.io/acme:1.0", False, "the allowed repository itself"),
        ("ghcr.io/acmex/app:1.0", True, "a prefix that only shares characters"),
        ("ghcr.io/other/app:1.0", True, "another repository on an allowed host"),
        ("registry.acme.example:5000/app:1", False, "an allowed registry with a port"),
        ("registry.acme.example/app:1", True, "the allowed host without its port"),
        ("registry.acme.example:5001/app:1", True, "the allowed host on another port"),
        (f"ghcr.io/acme/app@{DIGEST}", False, "an allowed image by digest"),
        (f"quay.io/acme/app@{DIGEST}", True, "a disallowed image by digest"),
        ("localhost/app:1", True, "a localhost image"),
        ("localhost:5000/app:1", True, "a localhost image with a port"),
        ("quay.io/prometheus/node-exporter:v1.8.0", True, "a quay.io image"),
    ]
    for image, denied, title in images:
        yield Case(
            f"{'denies' if denied else 'allows'} {title} ({image})",
            rule,
            workload("Pod", pod_spec(container(image=image))),
            denied,
        )
    outsider = container(image="quay.io/acme/app:1.0")
    yield from _each_kind(rule, "denies", "an image from quay.io", pod_spec(outsider), True)
    yield Case(
        "denies a disallowed init container image",
        rule,
        workload("Deployment", pod_spec(init=(container("init", image="quay.io/x/y:1"),))),
        True,
    )
    yield Case(
        "denies a disallowed ephemeral container image",
        rule,
        workload("Pod", pod_spec(ephemerals=(ephemeral(image="quay.io/x/debug:1"),))),
        True,
    )
    yield Case(
        "allows any registry where the platform lists none",
        rule,
        workload("Pod", pod_spec(container(image="quay.io/acme/app:1.0"))),
        False,
        "generous",
    )


def resources() -> Iterator[Case]:
    rule = "resources"
    none = container(resources=DELETE)
    yield from _each_kind(rule, "denies", "a container without resources", pod_spec(none), True)
    yield from _each_kind(rule, "allows", "requests and limits", pod_spec(), False)
    variants = [
        ("allows limits alone (requests default to limits)", {"requests": DELETE}, False),
        ("denies requests without limits", {"limits": DELETE}, True),
        ("denies a missing cpu limit", {"limits": {"cpu": DELETE}}, True),
        ("denies a missing memory limit", {"limits": {"memory": DELETE}}, True),
        (
            "allows a missing cpu request when the limit is set",
            {"requests": {"cpu": DELETE}},
            False,
        ),
        (
            "denies a missing memory request and limit",
            {"requests": {"memory": DELETE}, "limits": {"memory": DELETE}},
            True,
        ),
    ]
    for title, override, denied in variants:
        yield Case(title, rule, workload("Pod", pod_spec(container(resources=override))), denied)
    yield Case(
        "denies an init container without resources",
        rule,
        workload("Job", pod_spec(init=(container("init", resources=DELETE),))),
        True,
    )
    yield Case(
        "allows an ephemeral container without resources (they may not have any)",
        rule,
        workload("Pod", pod_spec(ephemerals=(ephemeral(),))),
        False,
    )
    for limits, what in (
        ({"cpu": "0", "memory": "128Mi"}, 'a cpu limit of "0"'),
        ({"cpu": "0m", "memory": "128Mi"}, 'a cpu limit of "0m"'),
        ({"cpu": 0, "memory": "128Mi"}, "a cpu limit of integer 0"),
        ({"cpu": "200m", "memory": "0"}, 'a memory limit of "0"'),
        ({"cpu": "200m", "memory": "0Mi"}, 'a memory limit of "0Mi"'),
        ({"cpu": "0.0", "memory": "0.0Gi"}, "limits of 0.0 and 0.0Gi"),
    ):
        zero = container(resources={"requests": DELETE, "limits": limits})
        yield Case(
            f"denies {what} (zero means no limit)", rule, workload("Pod", pod_spec(zero)), True
        )
    yield Case(
        "allows a zero cpu request under a limit",
        rule,
        workload("Pod", pod_spec(container(resources={"requests": {"cpu": "0"}}))),
        False,
    )
    yield Case(
        "allows a small but not zero limit (0.5m, 10m)",
        rule,
        workload(
            "Pod",
            pod_spec(
                container(
                    resources={
                        "requests": DELETE,
                        "limits": {"cpu": "10m", "memory": "1Mi"},
                    }
                )
            ),
        ),
        False,
    )
    yield Case(
        "allows integer cpu and memory quantities",
        rule,
        workload(
            "Pod", pod_spec(container(resources={"limits": {"cpu": 1, "memory": 1073741824}}))
        ),
        False,
    )


def required_labels() -> Iterator[Case]:
    rule = "required-labels"
    missing = {"app": "web", "tier": "backend"}
    yield Case("allows a Pod with the required labels", rule, workload("Pod"), False)
    yield Case("denies a Pod without team", rule, workload("Pod", labels=missing), True)
    yield Case(
        "denies a tier label off its pattern",
        rule,
        workload("Pod", labels={**LABELS, "tier": "database"}),
        True,
    )
    yield Case(
        "allows a tier label on its pattern",
        rule,
        workload("Pod", labels={**LABELS, "tier": "frontend"}),
        False,
    )
    for kind in WORKLOAD_KINDS:
        yield Case(f"allows a labelled {kind}", rule, workload(kind), False)
        yield Case(
            f"denies a {kind} without team on itself", rule, workload(kind, labels=missing), True
        )
        yield Case(
            f"denies a {kind} whose pod template lacks team",
            rule,
            workload(kind, template_labels=missing),
            True,
        )
    yield Case(
        "denies a CronJob whose job template lacks team",
        rule,
        workload("CronJob", job_labels=missing),
        True,
    )
    yield Case(
        "allows any labels where the platform requires none",
        rule,
        workload("Pod", labels={"app": "web"}),
        False,
        "generous",
    )


def services() -> Iterator[Case]:
    for rule, kind in (
        ("node-port-services", "NodePort"),
        ("load-balancer-services", "LoadBalancer"),
    ):
        yield Case(f"denies a {kind} Service without quota for it", rule, service(kind), True)
        yield Case(
            f"allows a {kind} Service where the quota grants it",
            rule,
            service(kind),
            False,
            "generous",
        )
        yield Case(f"allows a ClusterIP Service ({rule})", rule, service("ClusterIP"), False)
        yield Case(f"allows a Service without a type ({rule})", rule, service(None), False)
        yield Case(f"allows an ExternalName Service ({rule})", rule, service("ExternalName"), False)
    yield Case(
        "allows a LoadBalancer Service to the node-port rule",
        "node-port-services",
        service("LoadBalancer"),
        False,
    )


def exceptions() -> Iterator[Case]:
    bad = container(securityContext={"privileged": True, "allowPrivilegeEscalation": DELETE})
    yield Case(
        "allows a privileged Pod named in an exception",
        "privileged",
        workload("Pod", pod_spec(bad), name="agent"),
        False,
        "excepted",
    )
    yield Case(
        "denies a privileged Pod not named in the exception",
        "privileged",
        workload("Pod", pod_spec(bad), name="other"),
        True,
        "excepted",
    )
    yield Case(
        "allows a privileged DaemonSet named in an exception",
        "privileged",
        workload("DaemonSet", pod_spec(bad), name="agent"),
        False,
        "excepted",
    )
    yield Case(
        "allows the pods a named workload makes (controller owner, name prefix)",
        "privileged",
        workload("Pod", pod_spec(bad), name="agent-7d9f8-x2x4z", owner=True),
        False,
        "excepted",
    )
    configmap_owned = workload("Pod", pod_spec(bad), name="agent-x", owner=True)
    configmap_owned["metadata"]["ownerReferences"][0].update(
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "agent"}
    )
    yield Case(
        "denies a Pod with the name prefix whose controller is a ConfigMap",
        "privileged",
        configmap_owned,
        True,
        "excepted",
    )
    unrelated = workload("Pod", pod_spec(bad), name="agent-x-1", owner=True)
    unrelated["metadata"]["ownerReferences"][0]["name"] = "other-x"
    yield Case(
        "denies a Pod with the name prefix whose ReplicaSet is not the named workload's",
        "privileged",
        unrelated,
        True,
        "excepted",
    )
    job_pod = workload("Pod", pod_spec(bad), name="agent-28901-x2x4z", owner=True)
    job_pod["metadata"]["ownerReferences"][0].update(
        {"apiVersion": "batch/v1", "kind": "Job", "name": "agent-28901"}
    )
    yield Case(
        "allows the pods of a Job a named CronJob made",
        "privileged",
        job_pod,
        False,
        "excepted",
    )
    stateful = workload("Pod", pod_spec(bad), name="agent-0", owner=True)
    stateful["metadata"]["ownerReferences"][0].update({"kind": "StatefulSet", "name": "agent"})
    yield Case(
        "allows the pods of a named StatefulSet",
        "privileged",
        stateful,
        False,
        "excepted",
    )
    yield Case(
        "denies a Pod with the name prefix but no controller owner",
        "privileged",
        workload("Pod", pod_spec(bad), name="agent-7d9f8-x2x4z"),
        True,
        "excepted",
    )
    yield Case(
        "allows a hostPath volume in the excepted workload",
        "host-path",
        workload(
            "DaemonSet", pod_spec(volumes=[{"name": "n", "hostPath": {"path": "/"}}]), name="agent"
        ),
        False,
        "excepted",
    )
    yield Case(
        "denies what the exception does not list (host ports)",
        "host-ports",
        workload(
            "Pod", pod_spec(container(ports=[{"containerPort": 80, "hostPort": 80}])), name="agent"
        ),
        True,
        "excepted",
    )
    latest = container(image="ghcr.io/acme/app:latest")
    yield Case(
        "allows :latest in a workload whose template carries the exception's labels",
        "image-tag",
        workload("Deployment", pod_spec(latest), template_labels={**LABELS, "exempt": "yes"}),
        False,
        "excepted",
    )
    yield Case(
        "allows :latest in a workload carrying the exception's labels itself",
        "image-tag",
        workload("Deployment", pod_spec(latest), labels={**LABELS, "exempt": "yes"}),
        False,
        "excepted",
    )
    yield Case(
        "denies :latest when the label value differs",
        "image-tag",
        workload("Pod", pod_spec(latest), labels={**LABELS, "exempt": "no"}),
        True,
        "excepted",
    )
    yield Case(
        "denies :latest without the exception's labels",
        "image-tag",
        workload("Pod", pod_spec(latest)),
        True,
        "excepted",
    )
    yield Case(
        "allows a disallowed registry under a label exception",
        "allowed-registries",
        workload(
            "Pod", pod_spec(container(image="quay.io/x/y:1")), labels={**LABELS, "exempt": "yes"}
        ),
        False,
        "excepted",
    )


def image_pull_policy() -> Iterator[Case]:
    rule = "image-pull-policy"
    for policy, denied in (("Always", False), ("IfNotPresent", True), ("Never", True)):
        yield from _each_kind(
            rule,
            "denies" if denied else "allows",
            f"imagePullPolicy {policy}",
            pod_spec(container(imagePullPolicy=policy)),
            denied,
        )
    # Left out, the API server writes Always for latest (or no tag), IfNotPresent otherwise.
    omitted = [
        ("ghcr.io/acme/app:1.4.2", True, "a pinned tag"),
        (f"ghcr.io/acme/app@{DIGEST}", True, "a digest"),
        ("ghcr.io/acme/app:latest", False, "the tag latest"),
        ("ghcr.io/acme/app", False, "no tag"),
        (f"ghcr.io/acme/app:latest@{DIGEST}", False, "latest pinned by a digest"),
        ("registry.acme.example:5000/app", False, "no tag after a registry port"),
        ("registry.acme.example:5000/app:2.1", True, "a tag after a registry port"),
        ("ghcr.io/Acme/app", True, "an upper-case repository (not a reference Docker reads)"),
    ]
    for image, denied, what in omitted:
        for kind in ("Pod", "Deployment"):
            yield Case(
                f"{'denies' if denied else 'allows'} no imagePullPolicy with {what} "
                f"({image}) in {_article(kind)} {kind}",
                rule,
                workload(kind, pod_spec(container(image=image, imagePullPolicy=DELETE))),
                denied,
            )
    yield Case(
        "denies an init container pulled IfNotPresent",
        rule,
        workload("Job", pod_spec(init=(container("init", imagePullPolicy="IfNotPresent"),))),
        True,
    )
    yield Case(
        "denies an ephemeral container pulled IfNotPresent",
        rule,
        workload("Pod", pod_spec(ephemerals=(ephemeral(imagePullPolicy="IfNotPresent"),))),
        True,
    )
    yield Case(
        "denies an ephemeral container with a pinned image and no imagePullPolicy",
        rule,
        workload("Pod", pod_spec(ephemerals=(ephemeral(imagePullPolicy=DELETE),))),
        True,
    )
    yield Case(
        "allows an ephemeral container pulled Always",
        rule,
        workload("Pod", pod_spec(ephemerals=(ephemeral(),))),
        False,
    )


def priority_classes() -> Iterator[Case]:
    rule = "priority-classes"
    cases = [
        (None, False, "no priority class"),
        (TENANT_CLASS, False, "a class the tier allows"),
        (OTHER_CLASS, True, "a class the tier does not allow"),
        ("system-node-critical", True, "system-node-critical"),
        ("system-cluster-critical", True, "system-cluster-critical"),
    ]
    for name, denied, what in cases:
        fields = {} if name is None else {"priorityClassName": name}
        yield from _each_kind(
            rule, "denies" if denied else "allows", what, pod_spec(**fields), denied
        )
    yield Case(
        "denies system-node-critical even where no class is allowed at all",
        rule,
        workload("Pod", pod_spec(priorityClassName="system-node-critical")),
        True,
        "generous",
    )
    yield Case(
        "denies a class where the tier allows none",
        rule,
        workload("Deployment", pod_spec(priorityClassName=TENANT_CLASS)),
        True,
        "generous",
    )


def external_ips() -> Iterator[Case]:
    rule = "external-ips"
    with_ips = service("ClusterIP")
    with_ips["spec"]["externalIPs"] = ["203.0.113.7"]
    yield Case("denies a Service with externalIPs (CVE-2020-8554)", rule, with_ips, True)
    yield Case(
        "denies externalIPs even where load balancers are granted",
        rule,
        with_ips,
        True,
        "generous",
    )
    many = service("NodePort")
    many["spec"]["externalIPs"] = ["203.0.113.7", "198.51.100.2"]
    yield Case("denies a NodePort Service with externalIPs", rule, many, True, "generous")
    yield Case("allows a Service without externalIPs", rule, service("ClusterIP"), False)
    empty = service("ClusterIP")
    empty["spec"]["externalIPs"] = []
    yield Case("allows an empty externalIPs list", rule, empty, False)
    yield Case(
        "denies a Service updated to add externalIPs",
        rule,
        with_ips,
        True,
        before=service("ClusterIP"),
    )


def external_names() -> Iterator[Case]:
    rule = "external-names"
    names = [
        ("db.example.com", False, "a public name"),
        ("db.example.com.", False, "a fully qualified public name"),
        ("api.stripe.com", False, "a public API"),
        ("db.example.xn--p1ai", False, "an internationalised top-level domain"),
        ("db.shop-prod", True, "another tenant's Service by service.namespace"),
        ("db.shop-prod.svc", True, "another namespace's Service with .svc"),
        ("db.shop-prod.svc.cluster.local", True, "a Service by its cluster name"),
        ("db.shop-prod.svc.cluster.local.", True, "a Service by its absolute cluster name"),
        ("kubernetes.default", True, "the API server by its short name"),
        ("kubernetes.default.svc", True, "the API server by its .svc name"),
        ("kube-dns.kube-system", True, "a platform namespace's Service"),
        ("x.ingress-nginx", True, "the ingress controller's namespace"),
        ("db", True, "a single label (completed by the search path)"),
        ("10.96.0.1", True, "a cluster IP address"),
        ("169.254.169.254", True, "the cloud metadata address"),
        ("db.local", True, "an mDNS .local name"),
    ]
    for target, denied, what in names:
        yield Case(
            f"{'denies' if denied else 'allows'} an ExternalName to {what} ({target})",
            rule,
            external_name(target),
            denied,
        )
    yield Case(
        "denies a name under a custom cluster domain",
        rule,
        external_name("db.shop-prod.svc.corp.internal"),
        True,
        "generous",
    )
    yield Case(
        "allows cluster.local as a public suffix where the cluster domain differs",
        rule,
        external_name("db.example.com"),
        False,
        "generous",
    )
    yield Case("allows a ClusterIP Service (external-names)", rule, service("ClusterIP"), False)
    yield Case(
        "denies a Service updated to point into the cluster",
        rule,
        external_name("kubernetes.default.svc.cluster.local"),
        True,
        before=external_name("db.example.com"),
    )


def ingress_hosts() -> Iterator[Case]:
    rule = "ingress-hosts"
    hosts = [
        ("shop.example.com", False, "a host the tenant holds"),
        ("api.acme.example.com", False, "a host under a wildcard the tenant holds"),
        ("a.b.acme.example.com", False, "a host deeper under the wildcard"),
        ("*.acme.example.com", False, "the wildcard the tenant holds"),
        ("*.eu.acme.example.com", False, "a wildcard under the tenant's wildcard"),
        ("victim.example.com", True, "another tenant's host"),
        ("acme.example.com", True, "the name of the wildcard itself (not below it)"),
        ("*.example.com", True, "a wider wildcard"),
        ("evilshop.example.com", True, "a host that only ends like the tenant's"),
    ]
    for host, denied, what in hosts:
        yield Case(
            f"{'denies' if denied else 'allows'} {what} ({host})", rule, ingress(host), denied
        )
    yield Case(
        "denies a rule without a host (catch-all)", rule, ingress("shop.example.com", None), True
    )
    yield Case(
        "denies a default backend (catch-all)",
        rule,
        ingress("shop.example.com", default_backend=True),
        True,
    )
    yield Case(
        "allows TLS for a host the tenant holds",
        rule,
        ingress(
            "shop.example.com",
            tls=[{"hosts": ["shop.example.com"], "secretName": "shop-tls"}],
        ),
        False,
    )
    yield Case(
        "denies TLS for another tenant's host",
        rule,
        ingress(
            "shop.example.com",
            tls=[{"hosts": ["shop.example.com", "victim.example.com"], "secretName": "t"}],
        ),
        True,
    )
    yield Case(
        "denies a TLS entry without hosts",
        rule,
        ingress("shop.example.com", tls=[{"secretName": "any-tls"}]),
        True,
    )
    alias = "nginx.ingress.kubernetes.io/server-alias"
    yield Case(
        "denies a server alias for another tenant's host",
        rule,
        ingress(
            "shop.example.com", annotations={alias: "www.acme.example.com, victim.example.com"}
        ),
        True,
    )
    yield Case(
        "allows server aliases the tenant holds",
        rule,
        ingress("shop.example.com", annotations={alias: "www.acme.example.com"}),
        False,
    )
    yield Case(
        "denies every host where the tenant holds none",
        rule,
        ingress("shop.example.com"),
        True,
        "excepted",
    )
    yield Case(
        "allows an Ingress of another tenant's own hosts",
        rule,
        ingress("bigco.example.org"),
        False,
        "generous",
    )
    yield Case(
        "denies an Ingress updated to another tenant's host",
        rule,
        ingress("victim.example.com"),
        True,
        before=ingress("shop.example.com"),
    )


def ingress_classes() -> Iterator[Case]:
    rule = "ingress-classes"
    yield Case("allows an allowed class", rule, ingress("shop.example.com"), False)
    yield Case(
        "denies another class", rule, ingress("shop.example.com", class_name="internal"), True
    )
    yield Case(
        "allows no class (the cluster's default class)",
        rule,
        ingress("shop.example.com", class_name=None),
        False,
    )
    yield Case(
        "denies another class named by the old annotation",
        rule,
        ingress(
            "shop.example.com",
            class_name=None,
            annotations={"kubernetes.io/ingress.class": "internal"},
        ),
        True,
    )
    yield Case(
        "allows any class where the tier lists none",
        rule,
        ingress("bigco.example.org", class_name="internal"),
        False,
        "generous",
    )


def ingress_snippets() -> Iterator[Case]:
    rule = "ingress-snippets"
    for key in (
        "nginx.ingress.kubernetes.io/configuration-snippet",
        "nginx.ingress.kubernetes.io/server-snippet",
        "nginx.ingress.kubernetes.io/auth-snippet",
        "nginx.ingress.kubernetes.io/stream-snippet",
        "nginx.ingress.kubernetes.io/modsecurity-snippet",
        "nginx.org/server-snippets",
        "nginx.org/location-snippets",
    ):
        yield Case(
            f"denies the annotation {key}",
            rule,
            ingress("shop.example.com", annotations={key: "return 200 'owned';"}),
            True,
        )
    yield Case(
        "allows ordinary controller annotations",
        rule,
        ingress(
            "shop.example.com",
            annotations={"nginx.ingress.kubernetes.io/proxy-body-size": "8m"},
        ),
        False,
    )
    yield Case("allows an Ingress without annotations", rule, ingress("shop.example.com"), False)
    yield Case(
        "denies an Ingress updated to carry a snippet",
        rule,
        ingress(
            "shop.example.com",
            annotations={"nginx.ingress.kubernetes.io/server-snippet": "location /x {}"},
        ),
        True,
        before=ingress("shop.example.com"),
    )


def updates() -> Iterator[Case]:
    """A compliant object changed into one the rule denies (or still allows)."""
    good = workload("Pod")
    miner = workload("Pod", pod_spec(container(image="evil.io/miner:latest")))
    yield Case(
        "denies a Pod whose image is patched to :latest",
        "image-tag",
        miner,
        True,
        before=good,
    )
    yield Case(
        "denies a Pod whose image is patched to another registry",
        "allowed-registries",
        miner,
        True,
        before=good,
    )
    yield Case(
        "allows a Pod whose image is patched to another pinned version",
        "image-tag",
        workload("Pod", pod_spec(container(image="ghcr.io/acme/app:1.4.3"))),
        False,
        before=good,
    )
    yield Case(
        "denies a Pod whose init container image is patched to :latest",
        "image-tag",
        workload("Pod", pod_spec(init=(container("init", image="busybox:latest"),))),
        True,
        before=workload("Pod", pod_spec(init=(container("init", image="busybox:1.36"),))),
    )
    yield Case(
        "denies a Pod whose required label is removed",
        "required-labels",
        workload("Pod", labels={"app": "web", "tier": "backend"}),
        True,
        before=good,
    )
    resized = pod_spec(container(resources={"requests": {"cpu": "0"}, "limits": {"cpu": "0"}}))
    yield Case(
        "denies a Pod resized in place to a zero cpu limit",
        "resources",
        workload("Pod", resized),
        True,
        before=good,
        subresource="resize",
    )
    yield Case(
        "allows a Pod resized in place to other limits",
        "resources",
        workload("Pod", pod_spec(container(resources={"limits": {"cpu": "300m"}}))),
        False,
        before=good,
        subresource="resize",
    )
    yield Case(
        "denies a Deployment whose template image is patched to :latest",
        "image-tag",
        workload("Deployment", pod_spec(container(image="ghcr.io/acme/app:latest"))),
        True,
        before=workload("Deployment"),
    )


CASES: tuple[Case, ...] = tuple(
    case
    for family in (
        privileged,
        privilege_escalation,
        run_as_non_root,
        host_namespaces,
        host_path,
        host_ports,
        capabilities,
        image_tag,
        allowed_registries,
        resources,
        required_labels,
        services,
        exceptions,
        image_pull_policy,
        priority_classes,
        external_ips,
        external_names,
        ingress_hosts,
        ingress_classes,
        ingress_snippets,
        updates,
    )
    for case in family()
)
