"""The admission benchmark's peer: Kyverno, built from its Go module and run out of cluster.

Kyverno (pinned in tools/peers/kyverno, built into Mooring's cache by the go command) runs as
a local process, registered with the API server as a webhook on loopback, the way Kyverno's
DEVELOPMENT.md runs it outside a cluster: `--serverIP` makes it register its webhooks by URL
(https://127.0.0.1:<port>/...) instead of through a Service; it makes its own CA and serving
certificate (Secrets in the kyverno namespace, with 127.0.0.1 among the certificate's IP
addresses) and puts the CA in the webhooks' caBundle. Its CRDs come from the module's
config/crds. Admission reports and events are off (`--admissionReports=false`,
`--omitEvents`), so that its figure is the admission path alone, as Mooring's is.

The guardrails are given to Kyverno twice, each in a namespace of its own:
- `cluster_policy`: a ClusterPolicy in Kyverno's own language (patterns, JMESPath
  conditions, foreach), one rule per guardrail;
- `validating_policy`: a ValidatingPolicy (policies.kyverno.io/v1, CEL) with the very
  expressions of Mooring's generated admission policy; the GuardrailContext's parameters
  are written into it as a constant (Kyverno has no per-namespace params), which spares
  Kyverno the lookup Mooring's policy makes.

Benchmark code only: Kyverno is not part of Mooring, its tests or CI.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from mooring.devcluster.binaries import GoTool, ensure_built, repository_root

KYVERNO = GoTool("peers/kyverno", {"kyverno": "github.com/kyverno/kyverno/cmd/kyverno"})
NAMESPACE = "kyverno"
CA_SECRET = "kyverno-svc.kyverno.svc.kyverno-tls-ca"
TLS_SECRET = "kyverno-svc.kyverno.svc.kyverno-tls-pair"
# Kyverno's webhooks are called only for namespaces with this label (its ConfigMap says so).
SELECTOR_LABEL = "mooring.dev/kyverno-benchmark"
Obj = dict[str, Any]


def binary() -> Path:
    return ensure_built([KYVERNO])["kyverno"]


def module_dir() -> Path:
    """Where the go command keeps the pinned Kyverno module's source (for its CRDs)."""
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly"}
    done = subprocess.run(
        ["go", "mod", "download", "-json", "github.com/kyverno/kyverno"],
        cwd=repository_root() / "tools" / KYVERNO.module_dir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(json.loads(done.stdout)["Dir"])


def crds() -> list[Obj]:
    """Kyverno's CustomResourceDefinitions, from the module's config/crds."""
    found = []
    for path in sorted((module_dir() / "config" / "crds").rglob("*.yaml")):
        found += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return found


def setup_objects() -> list[Obj]:
    """The namespace and ConfigMaps Kyverno reads at start (its Helm chart's, reduced)."""
    webhooks = {
        "namespaceSelector": {"matchExpressions": [{"key": SELECTOR_LABEL, "operator": "Exists"}]}
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "kyverno", "namespace": NAMESPACE},
            "data": {"webhooks": json.dumps(webhooks), "generateSuccessEvents": "false"},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "kyverno-metrics", "namespace": NAMESPACE},
            "data": {},
        },
    ]


class Kyverno:
    """The Kyverno admission controller as a local process."""

    def __init__(self, kubeconfig: Path, port: int, log: Path) -> None:
        self.kubeconfig = kubeconfig
        self.port = port
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [
            str(binary()),
            f"--kubeconfig={self.kubeconfig}",
            f"--serverIP=127.0.0.1:{self.port}",
            "--webhookServerHost=127.0.0.1",
            f"--webhookServerPort={self.port}",
            f"--caSecretName={CA_SECRET}",
            f"--tlsSecretName={TLS_SECRET}",
            "--backgroundServiceAccountName=system:serviceaccount:kyverno:kyverno-background-controller",
            "--reportsServiceAccountName=system:serviceaccount:kyverno:kyverno-reports-controller",
            "--admissionReports=false",
            "--omitEvents=PolicyApplied,PolicyViolation,PolicySkipped,PolicyError",
            "--disableMetrics=true",
            "--controllerRuntimeMetricsAddress=0",
            "--autoMemLimitEnabled=false",
            "--v=1",
        ]
        env = {
            **os.environ,
            "KYVERNO_NAMESPACE": NAMESPACE,
            "KYVERNO_SERVICEACCOUNT_NAME": "kyverno-admission-controller",
            "KYVERNO_DEPLOYMENT": "kyverno-admission-controller",
            "KYVERNO_POD_NAME": "kyverno-local",
            "INIT_CONFIG": "kyverno",
            "METRICS_CONFIG": "kyverno-metrics",
        }
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def cpu_seconds(self) -> float:
        assert self.process is not None
        return process_cpu(self.process.pid)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(check: Any, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.5)


# -- the guardrails as a ClusterPolicy ---------------------------------------------------------


def _all_containers(container: Obj, *, ephemeral: bool = True, init: bool = True) -> Obj:
    """A pattern applied to every container list of a pod spec (the optional ones optional)."""
    spec: Obj = {"containers": [container]}
    if init:
        spec["=(initContainers)"] = [container]
    if ephemeral:
        spec["=(ephemeralContainers)"] = [container]
    return {"spec": spec}


_EVERY_CONTAINER = "request.object.spec.[ephemeralContainers, initContainers, containers][]"


def _rule(name: str, message: str, validate: Obj, **extra: Any) -> Obj:
    return {
        "name": name,
        # CREATE and UPDATE, as Mooring's policies (its webhook then sees no DELETE either).
        "match": {"any": [{"resources": {"kinds": ["Pod"], "operations": ["CREATE", "UPDATE"]}}]},
        **extra,
        "validate": {"failureAction": "Enforce", "message": message, **validate},
    }


def cluster_policy(params: Obj, namespace: str) -> Obj:
    """The 13 pod guardrails in Kyverno's own language, for pods of `namespace`.

    Same intent as Mooring's rules; where Kyverno's patterns cannot say exactly the same
    (`nginx` meaning docker.io/library/nginx), the nearest pattern Kyverno's own policy
    library uses.
    """
    spec = params["spec"]
    registries = " | ".join(f"{r}/*" for r in spec.get("allowedRegistries", [])) or "*"
    capabilities = spec.get("allowedCapabilities", [])
    labels = {r["key"]: "?*" for r in spec.get("requiredLabels", [])}
    classes = spec.get("allowedPriorityClasses", [])
    not_windows = {
        "all": [
            {
                "key": "{{ request.object.spec.os.name || '' }}",
                "operator": "NotEquals",
                "value": "windows",
            }
        ]
    }
    rules = [
        _rule(
            "privileged",
            "containers must not run privileged",
            {"pattern": _all_containers({"=(securityContext)": {"=(privileged)": "false"}})},
        ),
        _rule(
            "privilege-escalation",
            "containers must set securityContext.allowPrivilegeEscalation to false",
            {
                "pattern": _all_containers(
                    {"securityContext": {"allowPrivilegeEscalation": "false"}}
                )
            },
            preconditions=not_windows,
        ),
        _rule(
            "run-as-non-root",
            "containers must run as a non-root user",
            {
                "foreach": [
                    {
                        "list": _EVERY_CONTAINER,
                        "deny": {
                            "conditions": {
                                "any": [
                                    {
                                        "key": "{{ not_null(element.securityContext.runAsNonRoot,"
                                        " request.object.spec.securityContext.runAsNonRoot,"
                                        " `false`) }}",
                                        "operator": "NotEquals",
                                        "value": True,
                                    },
                                    {
                                        "key": "{{ not_null(element.securityContext.runAsUser,"
                                        " request.object.spec.securityContext.runAsUser,"
                                        " `-1`) }}",
                                        "operator": "Equals",
                                        "value": 0,
                                    },
                                ]
                            }
                        },
                    }
                ]
            },
        ),
        _rule(
            "host-namespaces",
            "pods must not share the node's namespaces",
            {
                "pattern": {
                    "spec": {
                        "=(hostNetwork)": "false",
                        "=(hostPID)": "false",
                        "=(hostIPC)": "false",
                    }
                }
            },
        ),
        _rule(
            "host-path",
            "pods must not mount hostPath volumes",
            {"pattern": {"spec": {"=(volumes)": [{"X(hostPath)": "null"}]}}},
        ),
        _rule(
            "host-ports",
            "containers must not bind host ports",
            {"pattern": _all_containers({"=(ports)": [{"=(hostPort)": 0}]})},
        ),
        _rule(
            "capabilities",
            "containers may add only the allowed capabilities",
            {
                "foreach": [
                    {
                        "list": _EVERY_CONTAINER,
                        "deny": {
                            "conditions": {
                                "any": [
                                    {
                                        "key": "{{ element.securityContext.capabilities.add[] "
                                        "|| `[]` }}",
                                        "operator": "AnyNotIn",
                                        "value": capabilities,
                                    }
                                ]
                            }
                        },
                    }
                ]
            },
        ),
        _rule(
            "image-tag",
            "images must name a version other than latest",
            {"pattern": _all_containers({"image": "*:* & !*:latest"})},
        ),
        _rule(
            "allowed-registries",
            "images must come from an allowed registry",
            {"pattern": _all_containers({"image": registries})},
        ),
        _rule(
            "image-pull-policy",
            "containers must set imagePullPolicy: Always",
            {"pattern": _all_containers({"imagePullPolicy": "Always"})},
        ),
        _rule(
            "resources",
            "containers must set cpu and memory limits above zero",
            {
                "pattern": _all_containers(
                    {"resources": {"limits": {"cpu": "?* & !0", "memory": "?* & !0"}}},
                    ephemeral=False,
                )
            },
        ),
        _rule(
            "required-labels",
            "pods must carry the required labels",
            {"pattern": {"metadata": {"labels": labels}}},
        ),
        _rule(
            "priority-classes",
            "pods may name only the allowed priority classes",
            {
                "deny": {
                    "conditions": {
                        "all": [
                            {
                                "key": "{{ request.object.spec.priorityClassName || '' }}",
                                "operator": "NotEquals",
                                "value": "",
                            },
                            {
                                "key": "{{ request.object.spec.priorityClassName || '' }}",
                                "operator": "AnyNotIn",
                                "value": classes or ["-"],
                            },
                        ]
                    }
                }
            },
        ),
    ]
    return {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {
            "name": "mooring-guardrails",
            # Pods only: no rules generated for the controllers that make them.
            "annotations": {"pod-policies.kyverno.io/autogen-controllers": "none"},
        },
        "spec": {
            "background": False,
            "admission": True,
            # A webhook of its own, called only for the benchmark's namespace.
            "webhookConfiguration": {
                "matchConditions": [
                    {"name": "namespace", "expression": f"request.namespace == '{namespace}'"}
                ]
            },
            "rules": rules,
        },
    }


# -- the guardrails as a ValidatingPolicy (CEL) --------------------------------------------------

_PARAMS = re.compile(r"\bparams\.")


def cel_literal(value: Any) -> str:
    """A JSON-like value as a CEL literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(cel_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        # dyn(): the type checker (Kyverno checks a policy when it is created) takes a map
        # literal's value type from its first entry; the GuardrailContext mixes types.
        return (
            "{"
            + ", ".join(f"{json.dumps(k)}: dyn({cel_literal(v)})" for k, v in value.items())
            + "}"
        )
    raise TypeError(f"no CEL literal for {type(value).__name__}")


def validating_policy(admission_policy: Obj, params: Obj, namespace: str) -> Obj:
    """Mooring's generated ValidatingAdmissionPolicy as a Kyverno ValidatingPolicy.

    The same variables, validations and messages; `params` becomes a variable holding the
    namespace's GuardrailContext as a constant; pods of `namespace` only.
    """
    spec = admission_policy["spec"]

    def rewrite(expression: str) -> str:
        return _PARAMS.sub("variables.params.", expression)

    variables = [{"name": "params", "expression": cel_literal({"spec": params["spec"]})}]
    variables += [
        {"name": v["name"], "expression": rewrite(v["expression"])} for v in spec["variables"]
    ]
    validations = []
    for validation in spec["validations"]:
        copied = dict(validation)
        copied["expression"] = rewrite(copied["expression"])
        if "messageExpression" in copied:
            copied["messageExpression"] = rewrite(copied["messageExpression"])
        validations.append(copied)
    return {
        "apiVersion": "policies.kyverno.io/v1",
        "kind": "ValidatingPolicy",
        "metadata": {"name": "mooring-guardrails-cel"},
        "spec": {
            "failurePolicy": "Fail",
            "validationActions": ["Deny"],
            "evaluation": {"admission": {"enabled": True}, "background": {"enabled": False}},
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["pods"],
                    }
                ],
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            },
            "matchConditions": [
                {"name": c["name"], "expression": rewrite(c["expression"])}
                for c in spec.get("matchConditions", [])
            ],
            "variables": variables,
            "validations": validations,
        },
    }
