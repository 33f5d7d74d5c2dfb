"""The guardrails' two loops (operator/guardrails.py): a new tenant's GuardrailContext is
written while a policy write still waits on the API server (which compiles a policy for
seconds), and the policies are still written once it answers."""

from __future__ import annotations

import asyncio
from typing import Any

from mooring.api import names
from mooring.kube.informer import Informer, _key, metadata_only
from mooring.operator.guardrails import CONFIG_KINDS, Guardrails, _namespace
from mooring.services import audit
from tests.builders import platform_body, tenant_body

Obj = dict[str, Any]


class SlowPolicies:
    """A client whose policy and binding writes wait until `answer` is set."""

    def __init__(self) -> None:
        self.answer = asyncio.Event()
        self.policy_asked = asyncio.Event()
        self.written: list[str] = []
        self.context = asyncio.Event()

    async def apply(self, obj: Obj, **_: Any) -> Obj:
        kind = str(obj["kind"])
        if kind.startswith("ValidatingAdmissionPolicy"):
            self.policy_asked.set()
            await self.answer.wait()
        if kind == "GuardrailContext":
            self.context.set()
        self.written.append(f"{kind} {obj['metadata']['name']}")
        return obj

    async def patch(self, *_: Any, **__: Any) -> Obj:
        return {}

    async def has_kind(self, *_: Any) -> bool:
        return True


def guardrails_with_one_tenant(kube: SlowPolicies) -> Guardrails:
    guardrails = Guardrails(kube)  # type: ignore[arg-type]
    for api_version, kind in CONFIG_KINDS:
        keep = metadata_only if kind in ("Tenant", "Namespace") else None
        guardrails.informers[kind] = Informer(None, api_version, kind, keep=keep)  # type: ignore[arg-type]
    for api_version, kind in audit.AUDITED:
        guardrails.informers[kind] = Informer(None, api_version, kind, index=_namespace)  # type: ignore[arg-type]
    platform = platform_body()
    platform["metadata"]["generation"] = 1
    guardrails.on_config("PlatformConfig")("ADDED", platform)
    body = tenant_body("acme", guardrails=[{"rule": "resources", "mode": "warn"}])
    body["metadata"]["generation"] = 1
    guardrails.on_config("Tenant")("ADDED", body)
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "acme-dev",
            "resourceVersion": "7",
            "labels": {names.LABEL_TENANT: "acme"},
        },
    }
    guardrails.on_config("Namespace")("ADDED", namespace)
    guardrails.informers["Namespace"]._store(_key(namespace), metadata_only(namespace))
    return guardrails


async def test_a_context_is_written_while_a_policy_write_still_waits() -> None:
    kube = SlowPolicies()
    guardrails = guardrails_with_one_tenant(kube)
    guardrails.wake.set()
    guardrails.policies_wake.set()
    task = asyncio.create_task(guardrails.run())
    try:
        await asyncio.wait_for(kube.policy_asked.wait(), 10)
        await asyncio.wait_for(kube.context.wait(), 10)
        assert "GuardrailContext guardrails" in kube.written
        assert not any(w.startswith("ValidatingAdmissionPolicy") for w in kube.written)
        kube.answer.set()

        async def policies_written() -> None:
            while "ValidatingAdmissionPolicyBinding pods-warn.guardrails.mooring.dev" not in (
                kube.written
            ):
                await asyncio.sleep(0.05)

        await asyncio.wait_for(policies_written(), 10)
        assert "ValidatingAdmissionPolicy pods-enforce.guardrails.mooring.dev" in kube.written
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
