"""Status shapes shared by Mooring's resources: metav1.Condition and helpers.

Pure. `set_condition` keeps lastTransitionTime when a condition's status is unchanged, as
Kubernetes conventions require; the caller passes the time in.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mooring.api.base import Lenient

ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(Lenient):
    """metav1.Condition."""

    type: str = Field(max_length=316, description="What the condition is about, such as Ready.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        description="Why, as one CamelCase word, such as Reconciled or ApplyFailed.",
    )
    message: str = Field("", max_length=32768, description="Why, for people: what to do.")
    last_transition_time: str = Field(description="When the status last changed (RFC 3339).")
    observed_generation: int | None = Field(
        None, description="The spec generation the condition was set for."
    )


def set_condition(
    conditions: list[Condition],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    now: str,
    generation: int | None = None,
) -> list[Condition]:
    """A new list with `type_` set; the transition time moves only when the status does."""
    previous = next((c for c in conditions if c.type == type_), None)
    since = previous.last_transition_time if previous and previous.status == status else now
    updated = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    )
    return [c for c in conditions if c.type != type_] + [updated]
