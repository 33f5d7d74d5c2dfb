"""Cases from the external corpora (../shared/corpora), mapped onto Mooring's rules.

Verdicts in the corpora are per policy, so each corpus policy is mapped to the Mooring
rule (or rules) that judges the same thing, with its parameters translated into a
GuardrailContext. What does not translate is kept as a case with a written skip reason,
so the coverage figure is honest (the reasons are printed at the end of the run).

- gatekeeper-library: library/<group>/<policy>/suite.yaml; each test names a constraint
  (the parameters) and cases with an object and `violations: yes|no|<count>`.
- pod-security-admission: test/testdata/<level>/<version>/<pass|fail>/<check><n>.yaml;
  a `fail` fixture breaks exactly its check, a `pass` fixture breaks no check of its level.
  Identical fixtures of several Kubernetes versions are one case (their ids list them).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mooring.api.guardrails import GuardrailContextSpec, RequiredLabel

ROOT = Path(__file__).resolve().parents[2]


def _find_corpora() -> Path:
    """`../shared/corpora` from the project root, as the corpora's README says; a clone
    elsewhere (CI's clean clone) finds them in an ancestor folder or the workplace's
    /work/shared; $MOORING_CORPORA overrides. Missing everywhere: the first candidate,
    and test_the_corpora_are_there fails saying where it looked."""
    configured = os.environ.get("MOORING_CORPORA")
    candidates = [Path(configured)] if configured else []
    candidates += [parent / "shared" / "corpora" for parent in ROOT.parents]
    candidates.append(Path("/work/shared/corpora"))
    return next((c.resolve() for c in candidates if c.is_dir()), candidates[0].resolve())


CORPORA = _find_corpora()
GATEKEEPER = CORPORA / "gatekeeper-library" / "library"
PSA = CORPORA / "pod-security-admission" / "test" / "testdata"

# Pod Security's baseline: the capabilities a container may add.
BASELINE_CAPABILITIES = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
]


@dataclass(frozen=True)
class ExternalCase:
    id: str
    source: str  # file, relative to the corpora folder
    rules: tuple[str, ...]  # denied when any of them denies
    context: str  # name of the GuardrailContext
    obj: dict[str, Any] = field(compare=False)
    denied: bool
    count: int | None = None  # expected number of violations, when the corpus says
    skip: str | None = None  # not judged at all, and why
    offline_only: str | None = None  # not judged at admission, and why

    @property
    def key(self) -> tuple[tuple[str, ...], str]:
        return self.rules, self.context


@dataclass(frozen=True)
class Mapping:
    rules: tuple[str, ...]
    context: str


CONTEXTS: dict[str, GuardrailContextSpec] = {
    "corpus": GuardrailContextSpec(tenant="corpus", allowed_capabilities=["NET_BIND_SERVICE"]),
    "openpolicyagent-repos": GuardrailContextSpec(
        allowed_registries=["docker.io/openpolicyagent"],
        allowed_capabilities=["NET_BIND_SERVICE"],
    ),
    "pizza-label": GuardrailContextSpec(
        allowed_capabilities=["NET_BIND_SERVICE"], required_labels=[RequiredLabel(key="pizza")]
    ),
    "baseline-capabilities": GuardrailContextSpec(allowed_capabilities=BASELINE_CAPABILITIES),
}

AMOUNTS = (
    "judges amounts against maximums (cpu 200m, memory 1Gi); Mooring requires requests and "
    "limits to be set and leaves amounts to quotas and LimitRanges"
)
# (policy folder, test name) -> the Mooring rules and context, or why it does not translate.
GATEKEEPER_TESTS: dict[tuple[str, str], Mapping | str] = {
    # repos: ["openpolicyagent/"] is the prefix docker.io/openpolicyagent.
    ("allowedrepos", "allowed-repos"): Mapping(("allowed-registries",), "openpolicyagent-repos"),
    ("block-loadbalancer-services", "block-loadbalancer-services"): Mapping(
        ("load-balancer-services",), "corpus"
    ),
    ("block-nodeport-services", "block-nodeport-services"): Mapping(
        ("node-port-services",), "corpus"
    ),
    ("containerlimits", "container-limits"): AMOUNTS,
    ("containerlimits", "container-limits-ignore-cpu"): AMOUNTS,
    ("containerrequests", "container-requests"): AMOUNTS,
    ("containerresources", "container-limits-and-requests"): Mapping(("resources",), "corpus"),
    ("containerresources", "container-cpu-requests-memory-limits-and-requests"): (
        "requires no cpu limit; Mooring's resources rule always requires cpu and memory limits"
    ),
    ("containerresources", "no-enforcements"): (
        "requires nothing; Mooring has no such setting (a rule is turned off by its mode)"
    ),
    ("disallowedtags", "disallowed-tags"): Mapping(("image-tag",), "corpus"),
    ("requiredlabels", "must-have-owner"): (
        "judges Namespaces, which Mooring renders itself; required labels apply to workloads"
    ),
    ("requiredlabels", "must-have-key"): Mapping(("required-labels",), "pizza-label"),
    ("allow-privilege-escalation", "allow-privilege-escalation"): Mapping(
        ("privilege-escalation",), "corpus"
    ),
    ("capabilities", "capabilities-baseline"): Mapping(("capabilities",), "baseline-capabilities"),
    ("capabilities", "capabilities-restricted"): Mapping(("capabilities",), "corpus"),
    ("host-filesystem", "host-filesystem"): (
        "allows read-only hostPath volumes under /foo; Mooring allows no hostPath volume "
        "(a PolicyException lifts the rule for one workload)"
    ),
    ("host-filesystem", "no-host-paths"): Mapping(("host-path",), "corpus"),
    ("host-namespaces", "host-namespace"): Mapping(("host-namespaces",), "corpus"),
    ("host-network-ports", "port-range-with-host-network-allowed"): (
        "allows hostNetwork and host ports 80-9000; Mooring allows neither"
    ),
    ("host-network-ports", "host-network-forbidden"): Mapping(("host-namespaces",), "corpus"),
    # hostNetwork forbidden and host ports limited: Mooring's host-namespaces and host-ports.
    ("host-network-ports", "port-range-with-host-network-forbidden"): Mapping(
        ("host-namespaces", "host-ports"), "corpus"
    ),
    ("privileged-containers", "privileged-containers-disallowed"): Mapping(
        ("privileged",), "corpus"
    ),
    ("users", "users-and-groups-together"): Mapping(("run-as-non-root",), "corpus"),
}
GATEKEEPER_CASE_SKIPS: dict[tuple[str, str, str], str] = {
    (
        "host-network-ports",
        "port-range-with-host-network-forbidden",
        "in-range-host-network-false",
    ): ("a host port inside the allowed range 80-9000; Mooring allows no host ports"),
}
EXEMPT_IMAGES = (
    "exempted by image (exemptImages); Mooring exempts workloads with PolicyExceptions, "
    "not by image"
)
UPDATE = (
    "an AdmissionReview for an UPDATE that gatekeeper's policy lets through whatever the pod "
    "says (it has no oldObject); Mooring judges a pod UPDATE that changes its spec or labels "
    "(tests/policy_cases.py: updates), and the fields these policies read cannot change"
)
NO_CONTAINERS = (
    "the sample pod has no containers, so the API server refuses it before admission "
    "(ephemeral containers can only be added to a valid pod)"
)


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _expected(assertions: list[dict[str, Any]]) -> tuple[bool, int | None]:
    """(violated, count) from a gatekeeper case's assertions."""
    total = None
    violated = False
    for assertion in assertions:
        value = assertion.get("violations")
        if value is None:
            continue
        if isinstance(value, bool) or value in ("yes", "no"):
            hit = value is True or value == "yes"
        else:
            hit = int(value) > 0
            if "message" not in assertion:
                total = int(value)
        violated = violated or hit
    return violated, total


def gatekeeper_cases() -> list[ExternalCase]:
    cases = []
    for suite_path in sorted(GATEKEEPER.glob("*/*/suite.yaml")):
        folder = suite_path.parent
        policy = folder.name
        for test in _load(suite_path).get("tests") or []:
            mapping = GATEKEEPER_TESTS.get((policy, test["name"]))
            if mapping is None:
                mapping = f"no mapping written for {policy}/{test['name']} yet"
            constraint = _load(folder / test["constraint"])
            exempt_images = bool((constraint["spec"].get("parameters") or {}).get("exemptImages"))
            for case in test.get("cases") or []:
                obj = _load(folder / case["object"])
                denied, count = _expected(case.get("assertions") or [])
                source = str((folder / case["object"]).relative_to(CORPORA))
                skip = mapping if isinstance(mapping, str) else None
                skip = skip or GATEKEEPER_CASE_SKIPS.get((policy, test["name"], case["name"]))
                if obj.get("kind") == "AdmissionReview":
                    skip = skip or UPDATE
                if exempt_images and not denied and "exempt" in case["name"]:
                    skip = skip or EXEMPT_IMAGES
                offline_only = None
                if obj.get("kind") == "Pod" and not (obj.get("spec") or {}).get("containers"):
                    offline_only = NO_CONTAINERS
                rules, context = (
                    (mapping.rules, mapping.context) if isinstance(mapping, Mapping) else ((), "")
                )
                cases.append(
                    ExternalCase(
                        id=f"gatekeeper {policy}/{test['name']}/{case['name']}",
                        source=source,
                        rules=rules,
                        context=context,
                        obj=obj,
                        denied=denied,
                        count=count,
                        skip=skip,
                        offline_only=offline_only,
                    )
                )
    return cases


# Pod Security check -> (Mooring rule, context).
PSA_CHECKS: dict[str, tuple[str, str]] = {
    "privileged": ("privileged", "corpus"),
    "allowprivilegeescalation": ("privilege-escalation", "corpus"),
    "runasnonroot": ("run-as-non-root", "corpus"),
    "runasuser": ("run-as-non-root", "corpus"),
    "hostnamespaces": ("host-namespaces", "corpus"),
    "hostpathvolumes": ("host-path", "corpus"),
    "hostports": ("host-ports", "corpus"),
    "capabilities_baseline": ("capabilities", "baseline-capabilities"),
    "capabilities_restricted": ("capabilities", "corpus"),
}
LEVEL_CHECKS = {
    "baseline": (
        "privileged",
        "hostnamespaces",
        "hostpathvolumes",
        "hostports",
        "capabilities_baseline",
    ),
}
LEVEL_CHECKS["restricted"] = (
    *LEVEL_CHECKS["baseline"][:-1],
    "allowprivilegeescalation",
    "runasnonroot",
    "runasuser",
    "capabilities_restricted",
)
_CHECK = re.compile(r"^(?P<check>[a-z_]+?)\d+$")


def _adds_beyond(obj: dict[str, Any], allowed: set[str]) -> bool:
    spec = obj.get("spec") or {}
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(key) or []:
            added = ((container.get("securityContext") or {}).get("capabilities") or {}).get(
                "add"
            ) or []
            if set(added) - allowed:
                return True
    return False


def psa_cases() -> list[ExternalCase]:
    found: dict[tuple[str, tuple[str, ...], str, bool, str], list[str]] = {}
    objects: dict[str, dict[str, Any]] = {}
    skips: dict[tuple[str, tuple[str, ...], str, bool, str], str] = {}
    for path in sorted(PSA.glob("*/v1.*/*/*.yaml")):
        level, version, outcome = path.parts[-4], path.parts[-3], path.parts[-2]
        stem = path.stem
        obj = _load(path)
        digest = hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]
        objects[digest] = obj
        label = f"{level}/{outcome}/{stem}"
        if outcome == "pass":
            for check in LEVEL_CHECKS[level]:
                rule, context = PSA_CHECKS[check]
                key = (label + f" judged by {rule}", (rule,), context, False, digest)
                found.setdefault(key, []).append(version)
            continue
        match = _CHECK.match(stem)
        check = match.group("check") if match else stem
        if check not in PSA_CHECKS:
            key = (label, (), "", True, digest)
            skips[key] = (
                f"Pod Security check {check}: no Mooring rule (Pod Security Admission itself "
                "enforces it in tenant namespaces)"
            )
            found.setdefault(key, []).append(version)
            continue
        rule, context = PSA_CHECKS[check]
        key = (label, (rule,), context, True, digest)
        if check == "capabilities_restricted" and not _adds_beyond(obj, {"NET_BIND_SERVICE"}):
            skips[key] = (
                "fails Pod Security only for not dropping ALL capabilities; Mooring has no "
                "rule requiring drops (it limits what is added)"
            )
        found.setdefault(key, []).append(version)
    cases = []
    for key, versions in sorted(found.items()):
        label, rules, context, denied, digest = key
        cases.append(
            ExternalCase(
                id=f"psa {label} ({_versions(versions)})",
                source=f"pod-security-admission/test/testdata/{label.split(' ')[0]}",
                rules=rules,
                context=context,
                obj=objects[digest],
                denied=denied,
                skip=skips.get(key),
            )
        )
    return cases


def _versions(versions: list[str]) -> str:
    return ",".join(v.removeprefix("v") for v in versions)
