"""PolicyException: a namespaced, approved, expiring exemption from guardrail rules.

Pure models. An exception names the rules, the workloads (by name or by labels), why, who
approved it and until when. It applies only in its own namespace and only until it
expires; `in_force` is the one test of that, given the time by the caller.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from mooring.api.base import LabelValue, Lenient, Model, Resource, unique
from mooring.api.guardrails import ExceptionInForce, RuleId, check_label_keys
from mooring.api.status import Condition

WorkloadName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="A workload's metadata.name in the exception's namespace.",
    ),
]


class Workloads(Model):
    """Which workloads: any of these names, or every workload carrying all these labels."""

    names: list[WorkloadName] = Field(
        default_factory=list,
        description="Workload names. A name also covers what that workload makes: objects "
        "named <name>-... that have a controller owner (its ReplicaSets, Jobs and Pods).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    match_labels: dict[str, LabelValue] = Field(
        default_factory=dict,
        description="Labels on the workload or on its pod template; all must match.",
    )

    @field_validator("match_labels")
    @classmethod
    def _label_keys(cls, labels: dict[str, str]) -> dict[str, str]:
        return check_label_keys(labels)

    @model_validator(mode="after")
    def _something(self) -> Workloads:
        if not self.names and not self.match_labels:
            raise ValueError("name the workloads: give `names` or `matchLabels` (or both)")
        return self


class PolicyExceptionSpec(Model):
    """Which rules, for which workloads, why, approved by whom, until when."""

    rules: list[RuleId] = Field(
        min_length=1,
        description="The guardrail rule ids this exception lifts.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    workloads: Workloads = Field(description="The workloads of this namespace it covers.")
    justification: str = Field(
        min_length=10, max_length=2048, description="Why the workload needs the exception."
    )
    approver: str = Field(
        min_length=1, max_length=253, description="Who approved it (a person or a ticket)."
    )
    expires: datetime = Field(
        description="When the exception stops applying (RFC 3339, e.g. 2026-06-30T00:00:00Z)."
    )

    @field_validator("expires")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2026-06-30T00:00:00Z")
        return value.astimezone(UTC)

    @field_validator("rules")
    @classmethod
    def _unique(cls, rules: list[str]) -> list[str]:
        unique(rules, lambda rule: rule, "rule")
        return rules


class PolicyExceptionStatus(Lenient):
    """Written by the operator only."""

    phase: Literal["Active", "Expired", "Invalid"] | None = Field(
        None,
        description="Active: in force; Expired: past spec.expires, no longer applies; "
        "Invalid: the spec is refused (see conditions).",
    )
    expires: str | None = Field(None, description="spec.expires, normalised to UTC.")
    observed_generation: int | None = Field(
        None, description="The spec generation this status describes."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
        description="Active: True while the exception is in force, with why not otherwise.",
    )


class PolicyException(Resource):
    kind: Literal["PolicyException"] = "PolicyException"
    spec: PolicyExceptionSpec

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str | None:
        return self.metadata.namespace

    def in_force(self, now: datetime) -> bool:
        """Pure: does the exception apply at `now`? (Expired exactly at `expires`.)"""
        return now < self.spec.expires

    def as_context_entry(self) -> ExceptionInForce:
        return ExceptionInForce(
            name=self.metadata.name,
            rules=list(self.spec.rules),
            names=list(self.spec.workloads.names),
            match_labels=dict(self.spec.workloads.match_labels),
            expires=format_time(self.spec.expires),
        )


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a Z, as Kubernetes writes times."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
