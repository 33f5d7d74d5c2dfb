"""What the guardrails' state makes of its watch events (operator/guardrails.py): only a
change of what the guardrails read marks work."""

from __future__ import annotations

from typing import Any

from mooring.api import names
from mooring.api.platform import PLATFORM_CONFIG_NAME
from mooring.operator.guardrails import Guardrails


def platform(generation: int, fits: str = "True") -> dict[str, Any]:
    return {
        "apiVersion": names.API_VERSION,
        "kind": "PlatformConfig",
        "metadata": {"name": PLATFORM_CONFIG_NAME, "generation": generation},
        "spec": {},
        "status": {"conditions": [{"type": "Ready", "status": fits}]},
    }


def settled(guardrails: Guardrails) -> Guardrails:
    guardrails.policies_dirty = guardrails.contexts_dirty = False
    guardrails.next_full_audit = 1e12
    guardrails.wake.clear()
    return guardrails


def test_a_platform_status_write_marks_nothing_and_a_spec_change_marks_everything() -> None:
    """The operator writes the PlatformConfig's status as tenants come (whether the quotas
    fit); taken for a change, each write made the next step a full pass over every
    namespace's context and audit."""
    guardrails = Guardrails(None)  # type: ignore[arg-type]  # no I/O in an event
    on_platform = guardrails.on_config("PlatformConfig")
    on_platform("ADDED", platform(1))
    assert guardrails.contexts_dirty and guardrails.next_full_audit == 0.0

    settled(guardrails)
    on_platform("MODIFIED", platform(1, fits="False"))  # status only; or a relist
    assert not guardrails.contexts_dirty and not guardrails.policies_dirty
    assert not guardrails.wake.is_set() and guardrails.next_full_audit == 1e12

    on_platform("MODIFIED", platform(2))  # the spec changed
    assert guardrails.contexts_dirty and guardrails.policies_dirty
    assert guardrails.wake.is_set() and guardrails.next_full_audit == 0.0

    settled(guardrails)
    on_platform("DELETED", platform(2))
    assert guardrails.contexts_dirty and guardrails.platform is None
    settled(guardrails)
    on_platform("ADDED", platform(2))  # the same generation again, after a deletion
    assert guardrails.contexts_dirty
