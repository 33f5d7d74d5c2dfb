"""services.admission.sync_policies against what is installed: a warn or audit policy no
namespace uses any more stays (creating it again costs the API server seconds), an
unused enforce policy goes (bound to every tenant namespace), bindings before policies."""

from __future__ import annotations

from typing import Any

from mooring.api.guardrails import GuardrailSettings, RuleMode
from mooring.core.policy.admission import admission_objects
from mooring.services.admission import World, sync_policies
from tests.builders import platform, tenant

Obj = dict[str, Any]


class Recording:
    def __init__(self) -> None:
        self.applied: list[str] = []
        self.deleted: list[str] = []

    async def apply(self, obj: Obj, **_: Any) -> Obj:
        self.applied.append(f"{obj['kind']} {obj['metadata']['name']}")
        return obj

    async def delete(self, api_version: str, kind: str, name: str, *_: Any) -> None:
        self.deleted.append(f"{kind} {name}")


async def test_an_unused_warn_policy_stays_and_an_unused_enforce_policy_goes() -> None:
    # Installed while tenant a warned about image-tag and the platform enforced.
    warned = tenant("a", guardrails=[{"rule": "image-tag", "mode": "warn"}])
    installed = admission_objects(GuardrailSettings(), [warned])
    assert "pods-warn.guardrails.mooring.dev" in {o["metadata"]["name"] for o in installed}
    # Now tenant a is gone and the platform audits everything, turning one rule off.
    settings = GuardrailSettings(
        default_mode="audit", rules=[RuleMode(rule="resources", mode="off")]
    )
    world = World(platform=platform(guardrails=settings.model_dump()).spec, tenants=[tenant("b")])
    kube = Recording()
    changed, errors = await sync_policies(kube, world, installed)  # type: ignore[arg-type]
    assert errors == []
    enforce = [f"{t}-enforce.guardrails.mooring.dev" for t in ("pods", "services", "ingresses")]
    # Bindings first: a binding never names a policy that is gone.
    assert set(kube.deleted[:3]) == {f"ValidatingAdmissionPolicyBinding {n}" for n in enforce}
    assert set(kube.deleted[3:]) == {f"ValidatingAdmissionPolicy {n}" for n in enforce}
    assert not any("pods-warn" in d for d in kube.deleted)
    assert not any("pods-warn" in a for a in kube.applied)  # kept as it is
    assert "ValidatingAdmissionPolicy pods-audit.guardrails.mooring.dev" in kube.applied
    assert changed == kube.applied + [f"deleted {d}" for d in kube.deleted]
