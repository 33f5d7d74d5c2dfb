"""Guardrail settings (PlatformConfig.spec.guardrails) and the per-namespace GuardrailContext.

Pure models. The platform sets per-rule modes and the parameters rules read (allowed
registries, allowed capabilities, required labels). The operator writes one
GuardrailContext per tenant namespace: the parameters, what the tenant's quota allows and
the PolicyExceptions in force there. The admission policies read it as their `params`,
and `mooring check` and the audit build the same object, so all three read the same view.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, field_validator

from mooring.api.base import LABEL_KEY_PATTERN, LabelValue, Lenient, Model, unique
from mooring.api.guardrail_defaults import (
    DEFAULT_ALLOWED_CAPABILITIES,
    DEFAULT_CLUSTER_DOMAIN,
    DEFAULT_MODE,
)
from mooring.api.guardrail_defaults import MODES as MODES  # re-exported
from mooring.api.guardrail_defaults import Mode as Mode

RULE_ID_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
RuleId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=63,
        pattern=RULE_ID_PATTERN,
        description="A guardrail rule id, such as privileged or image-tag.",
    ),
]
LabelKey = Annotated[str, Field(min_length=1, max_length=317, pattern=LABEL_KEY_PATTERN)]
# A registry host (with an optional port) or a repository prefix below one; no scheme.
REGISTRY_PATTERN = r"^(localhost|[a-z0-9]([-a-z0-9.]*[a-z0-9])?)(:[0-9]{1,5})?(/[a-z0-9._-]+)*$"
Registry = Annotated[
    str,
    Field(
        min_length=1,
        max_length=255,
        pattern=REGISTRY_PATTERN,
        description="A registry host such as ghcr.io or registry.example.com:5000, or a "
        "repository prefix such as docker.io/library; no scheme and no trailing '/'.",
    ),
]


def check_label_keys(labels: dict[str, str]) -> dict[str, str]:
    """Label keys as Kubernetes allows them (a dict's keys get no schema pattern in a CRD)."""
    for key in labels:
        if len(key) > 317 or not re.fullmatch(LABEL_KEY_PATTERN, key):
            raise ValueError(
                f"{key!r} is not a label key: an optional DNS prefix and '/', then letters, "
                "digits, '-', '_' and '.', starting and ending with a letter or digit"
            )
    return labels


Capability = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Z][A-Z0-9_]*$")]


class RuleMode(Model):
    """The mode of one rule."""

    rule: RuleId
    mode: Mode = Field(
        description="enforce: refused at admission; warn: admitted with a warning; audit: "
        "reported only; off: not checked."
    )


class RequiredLabel(Model):
    """A label every workload must carry, optionally with a value matching a pattern."""

    key: LabelKey = Field(description="The label's key, such as app.kubernetes.io/name.")
    allowed_regex: str | None = Field(
        None,
        max_length=1024,
        description="An RE2 regular expression the label's value must match (anywhere, "
        "unless anchored with ^ and $).",
    )

    @field_validator("allowed_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"{value!r} is not a regular expression: {error}") from None
        if "(?=" in value or "(?!" in value or "(?<" in value or "\\1" in value:
            raise ValueError(
                f"{value!r} uses look-around or back-references, which RE2 (the API server's "
                "regular expressions) does not support"
            )
        return value


class GuardrailSettings(Model):
    """How the guardrails apply across the platform."""

    default_mode: Mode = Field(
        DEFAULT_MODE, description="The mode of every rule the `rules` list does not name."
    )
    rules: list[RuleMode] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["rule"]},
        description="Per-rule modes, over defaultMode.",
    )
    allowed_registries: list[Registry] = Field(
        default_factory=list,
        description="Images must come from one of these (empty: any registry). An image "
        "without a registry is on docker.io; `nginx` is docker.io/library/nginx.",
    )
    allowed_capabilities: list[Capability] = Field(
        default_factory=lambda: list(DEFAULT_ALLOWED_CAPABILITIES),
        description="Linux capabilities containers may add.",
    )
    required_labels: list[RequiredLabel] = Field(
        default_factory=list, description="Labels every workload must carry."
    )

    @field_validator("rules")
    @classmethod
    def _unique_rules(cls, rules: list[RuleMode]) -> list[RuleMode]:
        unique(rules, lambda entry: entry.rule, "rule")
        return rules

    def mode(self, rule: str) -> Mode:
        """The platform's mode for one rule."""
        return next((r.mode for r in self.rules if r.rule == rule), self.default_mode)


# -- the per-namespace view the admission policies read --------------------------------------


class ExceptionInForce(Model):
    """A PolicyException as the policies see it: only while it is in force."""

    name: str = Field(min_length=1, max_length=253, description="The PolicyException's name.")
    rules: list[RuleId] = Field(min_length=1, description="The rules it lifts.")
    names: list[str] = Field(default_factory=list, description="The workloads it names.")
    match_labels: dict[str, LabelValue] = Field(
        default_factory=dict, description="The labels of the workloads it covers."
    )
    expires: str = Field(description="RFC 3339; the operator removes the entry at this time.")


class GuardrailContextSpec(Model):
    """What the admission policies read in one namespace."""

    tenant: str | None = Field(None, description="The tenant the namespace belongs to.")
    modes: dict[str, Mode] = Field(
        default_factory=dict,
        description="Each rule's mode in this namespace (the tenant's, else the platform's).",
    )
    allowed_registries: list[str] = Field(
        default_factory=list, description="Registries images may come from (empty: any)."
    )
    allowed_capabilities: list[str] = Field(
        default_factory=list, description="Linux capabilities containers may add."
    )
    required_labels: list[RequiredLabel] = Field(
        default_factory=list, description="Labels every workload and pod template must carry."
    )
    node_ports: bool = Field(False, description="The tenant's quota allows NodePort Services.")
    load_balancers: bool = Field(
        False, description="The tenant's quota allows LoadBalancer Services."
    )
    allowed_priority_classes: list[str] = Field(
        default_factory=list,
        description="PriorityClasses pods may name (the tier's); empty: none.",
    )
    ingress_classes: list[str] = Field(
        default_factory=list,
        description="IngressClasses Ingresses may use (the tier's); empty: any.",
    )
    hostnames: list[str] = Field(
        default_factory=list,
        description="The DNS names the tenant holds (its claims no other tenant held first); "
        "Ingress hosts must be among them.",
    )
    cluster_domain: str = Field(
        DEFAULT_CLUSTER_DOMAIN, description="The cluster's DNS domain (ExternalName Services)."
    )
    platform_namespaces: list[str] = Field(
        default_factory=list,
        description="Namespaces of the platform whose names an ExternalName Service could "
        "reach through the DNS search path (service.namespace).",
    )
    exceptions: list[ExceptionInForce] = Field(
        default_factory=list, description="The PolicyExceptions in force in this namespace."
    )


class GuardrailContextStatus(Lenient):
    """Written by the operator only."""

    next_expiry: str | None = Field(
        None, description="When the next exception in force expires (RFC 3339)."
    )
