"""Guardrail settings of the platform (PlatformConfig.spec.guardrails).

Pure models: per-rule modes and the parameters rules read (allowed registries, allowed
capabilities, required labels).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mooring.api.base import Model

Mode = Literal["enforce", "warn", "audit", "off"]


class RuleMode(Model):
    rule: str = Field(min_length=1, max_length=63)
    mode: Mode


class GuardrailSettings(Model):
    default_mode: Mode = "enforce"
    rules: list[RuleMode] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["rule"]},
    )
    allowed_registries: list[str] = Field(default_factory=list)
    allowed_capabilities: list[str] = Field(default_factory=lambda: ["NET_BIND_SERVICE"])
    required_labels: list[str] = Field(default_factory=list)
