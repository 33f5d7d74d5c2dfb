"""Argo CD's health for Mooring's kinds: Healthy, Progressing or Degraded, with Mooring's message.

Offline: the Lua checks run in Argo CD's own Lua VM (`argocd admin settings
resource-overrides health`, the built binary), one case per status a person can meet.
In the cluster: a team's file synced by Argo CD shows each kind Healthy, then Degraded with
the operator's message after a broken change, and Healthy again after the fix.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mooring.devcluster.binaries import GITOPS, ensure_built
from mooring.devcluster.postgres import LocalPostgres
from mooring.gitops import applications
from mooring.gitops.applications import AppView
from mooring.gitops.repository import argocd_cm
from mooring.kube.client import Kube
from mooring.services.databases import register_server
from tests.gitops.conftest import API, Loop, app_state, path_of, tenant_file

pytestmark = pytest.mark.gitops


def obj(kind: str, generation: int = 1, **status: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": API,
        "kind": kind,
        "metadata": {"name": "x", "generation": generation},
    }
    if status:
        body["status"] = status
    return body


def condition(type_: str, status: str, reason: str, message: str) -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


CASES = [
    (
        obj("Tenant"),
        "Progressing",
        "waiting for the Mooring operator to reconcile it",
    ),
    (
        obj(
            "Tenant",
            3,
            observedGeneration=2,
            conditions=[condition("Ready", "True", "Reconciled", "ok")],
        ),
        "Progressing",
        "the Mooring operator has not reconciled generation 3 yet",
    ),
    (
        obj(
            "Tenant",
            observedGeneration=1,
            conditions=[condition("Ready", "True", "Reconciled", "all objects applied")],
        ),
        "Healthy",
        "Reconciled: all objects applied",
    ),
    (
        obj(
            "Tenant",
            observedGeneration=1,
            conditions=[condition("Ready", "False", "InvalidSpec", "unknown tier 'gold'")],
        ),
        "Degraded",
        "InvalidSpec: unknown tier 'gold'",
    ),
    (
        obj(
            "Database",
            observedGeneration=1,
            conditions=[condition("Ready", "False", "Starting", "the server starts")],
        ),
        "Progressing",
        "Starting: the server starts",
    ),
    (
        obj(
            "Database",
            observedGeneration=1,
            conditions=[condition("Ready", "False", "OverLimit", "tier 'small' allows 5Gi")],
        ),
        "Degraded",
        "OverLimit: tier 'small' allows 5Gi",
    ),
    (
        obj(
            "PolicyException",
            observedGeneration=1,
            conditions=[condition("Active", "True", "Active", "lifts resources")],
        ),
        "Healthy",
        "Active: lifts resources",
    ),
    (
        obj(
            "PolicyException",
            observedGeneration=1,
            conditions=[condition("Active", "False", "Expired", "expired at 2020-01-01T00:00:00Z")],
        ),
        "Degraded",
        "Expired: expired at 2020-01-01T00:00:00Z",
    ),
    (
        obj(
            "PlatformConfig",
            observedGeneration=1,
            conditions=[condition("Ready", "False", "TierMissing", "tier 'gold' is used")],
        ),
        "Degraded",
        "TierMissing: tier 'gold' is used",
    ),
]


@pytest.fixture(scope="module")
def argocd_admin(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    binary = ensure_built(GITOPS, say=lambda _: None)["argocd"]
    folder = tmp_path_factory.mktemp("argocd-cm")
    cm = folder / "argocd-cm.yaml"
    cm.write_text(yaml.safe_dump(argocd_cm("argocd")))
    return binary, cm


@pytest.mark.parametrize(
    ("body", "status", "message"),
    CASES,
    ids=[f"{b['kind']} {s}: {m[:40]}" for b, s, m in CASES],
)
def test_argo_cds_lua_vm_reads_mooring_status_as_a_person_would(
    argocd_admin: tuple[Path, Path], tmp_path: Path, body: dict[str, Any], status: str, message: str
) -> None:
    binary, cm = argocd_admin
    resource = tmp_path / "resource.yaml"
    resource.write_text(yaml.safe_dump(body))
    done = subprocess.run(
        [
            str(binary),
            "admin",
            "settings",
            "resource-overrides",
            "health",
            str(resource),
            "--argocd-cm-path",
            str(cm),
        ],
        env={**os.environ, "ARGOCD_BINARY_NAME": "argocd"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"STATUS: {status}\nMESSAGE: {message}\n" in done.stdout


def resource(app: AppView, kind: str) -> applications.ResourceView:
    return next(r for r in app.resources if r.kind == kind)


def health_is(kind: str, status: str) -> Any:
    def check(app: AppView) -> bool:
        found = [r for r in app.resources if r.kind == kind]
        return bool(found) and found[0].health == status

    return check


@pytest.fixture(scope="module")
def postgres(loop: Loop) -> Any:
    server = LocalPostgres()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server.remove()


def exception(expires: str) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "PolicyException",
        "metadata": {"name": "legacy-agent", "namespace": "eps-dev"},
        "spec": {
            "rules": ["resources"],
            "workloads": {"names": ["agent"]},
            "justification": "a vendor agent without resource settings, until its next release",
            "approver": "platform-team",
            "expires": expires,
        },
    }


def database(storage: str, name: str = "orders") -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Database",
        "metadata": {"name": name, "namespace": "eps-dev"},
        "spec": {"storage": storage},
    }


async def test_each_kind_is_healthy_then_degraded_with_moorings_message_then_healthy(
    loop: Loop, kube: Kube, postgres: LocalPostgres
) -> None:
    admin = postgres.create_admin()
    # Registered outside Git, under its own field manager: selfHeal must leave it (argocd-cm's
    # ignoreDifferences for PlatformConfig), or the Database could never find its server.
    await register_server(
        kube, "local", postgres.host, postgres.port, admin.username, admin.password
    )
    good = tenant_file("eps", database("1Gi"), exception("2099-01-01T00:00:00Z"))
    loop.commit({path_of("eps"): good}, "eps with a database and an exception")
    app = await app_state(kube, "tenant-eps", applications.healthy, 120, "Healthy")
    assert {r.kind: r.health for r in app.resources if r.name != "reports"} == {
        "Tenant": "Healthy",
        "Database": "Healthy",
        "PolicyException": "Healthy",
    }
    assert resource(app, "PolicyException").message.startswith("Active: lifts resources until")
    platform = await kube.get(API, "PlatformConfig", "default")
    assert platform["spec"]["databases"]["defaultServer"] == "local"

    # A new Database beyond the tier's storage (one already provisioned keeps working when
    # it grows: its data is never taken away), and an exception past its expiry.
    broken = tenant_file(
        "eps", database("1Gi"), database("50Gi", "reports"), exception("2020-01-01T00:00:00Z")
    )
    loop.commit({path_of("eps"): broken}, "eps asks for too much")

    def reports_degraded(app: AppView) -> bool:
        return any(r.name == "reports" and r.health == "Degraded" for r in app.resources)

    app = await app_state(kube, "tenant-eps", reports_degraded, 90, "Degraded")
    assert app.health == "Degraded"
    reports = next(r for r in app.resources if r.name == "reports")
    assert reports.message.startswith("OverLimit: tier 'small' allows 10Gi")
    app = await app_state(
        kube, "tenant-eps", health_is("PolicyException", "Degraded"), 60, "Degraded"
    )
    assert resource(app, "PolicyException").message.startswith("Expired: expired at 2020-01-01")

    loop.commit(
        {path_of("zeta"): tenant_file("zeta", tier="gold")}, "zeta on a tier that is not there"
    )
    zeta = await app_state(kube, "tenant-zeta", health_is("Tenant", "Degraded"), 60, "Degraded")
    assert "gold" in resource(zeta, "Tenant").message
    config = await app_state(
        kube, "platform-config", health_is("PlatformConfig", "Degraded"), 60, "Degraded"
    )
    assert resource(config, "PlatformConfig").message.startswith(
        "TierMissing: tier 'gold' is used by tenant(s) zeta but not defined"
    )

    loop.commit({path_of("eps"): good}, "eps fixed", remove=(path_of("zeta"),))
    await app_state(kube, "tenant-eps", applications.healthy, 60, "Healthy again")
    await app_state(kube, "platform-config", health_is("PlatformConfig", "Healthy"), 60, "Healthy")
