"""What a platform engineer sees with the real kubectl (built from the same Kubernetes
release as the control plane): Events in `kubectl describe tenant`, field descriptions in
`kubectl explain`, printer columns in `kubectl get`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mooring.api import names
from mooring.devcluster.binaries import ensure_built
from mooring.kube.client import Kube
from mooring.operator.events import KOPF_OBJECT_LOGGER, install
from tests.cluster.conftest import OperatorProcess, eventually, tenant, wait_ready

pytestmark = pytest.mark.cluster
API = names.API_VERSION


@pytest.fixture(scope="session")
def kubectl(kubeconfig: Path) -> list[str]:
    return [str(ensure_built()["kubectl"]), "--kubeconfig", str(kubeconfig)]


def run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stderr}"
    return done.stdout


def events_section(described: str) -> str:
    return described.split("\nEvents:", 1)[1] if "\nEvents:" in described else ""


async def test_kubectl_describe_tenant_shows_the_operators_events(
    kube: Kube, kubectl: list[str], operator: OperatorProcess, name: str, cleanup: list[str]
) -> None:
    cleanup.append(name)
    await kube.apply(tenant(name))
    await wait_ready(kube, name)

    async def described() -> str | None:
        text = await asyncio.to_thread(run, [*kubectl, "describe", "tenant", name])
        return text if "Reconciled" in events_section(text) else None

    text = await eventually(described, timeout=20, what="the Reconciled event in describe")
    assert "applied" in events_section(text)
    # As kubectl itself asks: every namespace, involvedObject.namespace empty.
    listed = json.loads(
        run(
            [
                *kubectl,
                "get",
                "events",
                "--all-namespaces",
                "--field-selector",
                f"involvedObject.name={name},involvedObject.kind=Tenant,involvedObject.namespace=",
                "-o",
                "json",
            ]
        )
    )
    assert listed["items"], "no Tenant events with an empty involvedObject.namespace"
    for event in listed["items"]:
        assert event["metadata"]["namespace"] == "default"
        assert "namespace" not in event["involvedObject"]


async def test_kopfs_own_warnings_about_a_tenant_are_described_too(
    kube: Kube, kubectl: list[str], operator: OperatorProcess, name: str, cleanup: list[str]
) -> None:
    """A handler failure kopf logs (retries) reaches `kubectl describe` through the bridge."""
    cleanup.append(name)
    await kube.apply(tenant(name))
    body = await wait_ready(kube, name)
    logger = logging.getLogger(KOPF_OBJECT_LOGGER)
    bridge = install(kube)
    try:
        ref = {"apiVersion": API, "kind": "Tenant", "name": name, "uid": body["metadata"]["uid"]}
        # As kopf's ObjectLogger logs: the object's reference rides on the record.
        logger.error("Handler 'probe' failed temporarily: a test", extra={"k8s_ref": ref})
        logger.warning("said locally only", extra={"k8s_ref": ref, "k8s_skip": True})
        await bridge.close_async()
    finally:
        logger.removeHandler(bridge)
    text = run([*kubectl, "describe", "tenant", name])
    assert "Handler 'probe' failed temporarily: a test" in events_section(text)
    assert "said locally only" not in text


async def test_the_same_event_again_is_counted_not_repeated(
    kube: Kube, operator: OperatorProcess, name: str, cleanup: list[str]
) -> None:
    from mooring.kube.events import post_event

    cleanup.append(name)
    await kube.apply(tenant(name))
    body = await wait_ready(kube, name)
    for _ in range(3):
        await post_event(kube, body, "Warning", "Probe", "the same message")
    found = [
        e
        for e in await kube.list("v1", "Event", "default")
        if e["involvedObject"].get("name") == name and e["reason"] == "Probe"
    ]
    assert [e["count"] for e in found] == [3]


def test_kubectl_explain_describes_tenant_fields(
    kubectl: list[str], platform: dict[str, Any]
) -> None:
    text = run([*kubectl, "explain", "tenant.spec.network.egress.toFqdns"])
    assert "Needs Cilium" in text
    text = run([*kubectl, "explain", "platformconfig.status.conditions"])
    assert "Valid" in text


async def test_a_policy_exceptions_expiry_prints_as_a_time(
    kube: Kube, kubectl: list[str], operator: OperatorProcess, name: str, cleanup: list[str]
) -> None:
    cleanup.append(name)
    await kube.apply(tenant(name))
    await wait_ready(kube, name)
    namespace = f"{name}-dev"
    await kube.apply(
        {
            "apiVersion": API,
            "kind": "PolicyException",
            "metadata": {"name": "legacy", "namespace": namespace},
            "spec": {
                "rules": ["image-tag"],
                "workloads": {"names": ["legacy"]},
                "justification": "the vendor ships only :latest until the next release",
                "approver": "platform-team@example.com",
                "expires": "2099-06-30T00:00:00Z",
            },
        }
    )
    text = run([*kubectl, "get", "policyexceptions", "-n", namespace])
    assert "2099-06-30T00:00:00Z" in text
    assert "<invalid>" not in text


async def test_kubectl_finds_and_runs_mooring_as_a_plugin(
    kube: Kube, kubectl: list[str], operator: OperatorProcess, name: str, cleanup: list[str]
) -> None:
    """Installing the package puts `kubectl-mooring` beside `mooring`: `kubectl mooring ...`."""
    cleanup.append(name)
    await kube.apply(tenant(name))
    await wait_ready(kube, name)
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "kubectl-mooring").is_file(), "the kubectl-mooring entry point is missing"
    binary, _, kubeconfig = kubectl
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "KUBECONFIG": kubeconfig}

    def plugin(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )

    listed = plugin("plugin", "list")
    assert str(bin_dir / "kubectl-mooring") in listed.stdout, listed.stdout + listed.stderr
    rules = plugin("mooring", "policy", "rules", "-o", "name")
    assert rules.returncode == 0, rules.stderr
    assert "image-tag" in rules.stdout.split()
    # It talks to the cluster kubectl was pointed at (KUBECONFIG).
    card = plugin("mooring", "tenant", "status", name, "-o", "json")
    assert card.returncode == 0, card.stderr
    assert json.loads(card.stdout)["tenant"] == name
