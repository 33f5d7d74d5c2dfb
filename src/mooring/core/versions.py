"""Pure: which Kubernetes versions Mooring supports, and what to say about a server's.

The floor is a hard requirement: guardrails are ValidatingAdmissionPolicies
(admissionregistration.k8s.io/v1, GA in Kubernetes 1.30). The ceiling is the newest minor
version the project tests against (the local control plane's, tools/controlplane); newer
servers are expected to work and are only warned about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MINIMUM = (1, 30)
TESTED = (1, 37)


@dataclass(frozen=True)
class Verdict:
    supported: bool  # False: the operator refuses to start
    message: str  # empty when there is nothing to say


def supported_range() -> str:
    return f"{MINIMUM[0]}.{MINIMUM[1]} to {TESTED[0]}.{TESTED[1]}"


def parse(info: dict[str, object]) -> tuple[int, int] | None:
    """(major, minor) from the API server's /version; None when it cannot be read.

    Managed clusters report minors such as "30+" (EKS, GKE): the digits count.
    """
    major = re.match(r"\d+", str(info.get("major", "")))
    minor = re.match(r"\d+", str(info.get("minor", "")))
    if major and minor:
        return int(major.group()), int(minor.group())
    found = re.match(r"v?(\d+)\.(\d+)", str(info.get("gitVersion", "")))
    return (int(found.group(1)), int(found.group(2))) if found else None


def judge(info: dict[str, object]) -> Verdict:
    """Whether Mooring can run against a server with this /version."""
    version = parse(info)
    shown = str(info.get("gitVersion") or f"{info.get('major')}.{info.get('minor')}")
    if version is None:
        return Verdict(
            True, f"cannot read the Kubernetes version ({shown}); assuming it is supported"
        )
    if version < MINIMUM:
        return Verdict(
            False,
            f"Kubernetes {shown} is too old: Mooring needs {MINIMUM[0]}.{MINIMUM[1]} or newer "
            "(its guardrails are ValidatingAdmissionPolicies, admissionregistration.k8s.io/v1, "
            f"GA in 1.30); supported: {supported_range()}. Upgrade the cluster first.",
        )
    if version > TESTED:
        return Verdict(
            True,
            f"Kubernetes {shown} is newer than the newest version Mooring is tested with "
            f"({TESTED[0]}.{TESTED[1]}); it should work, report anything that does not",
        )
    return Verdict(True, "")
