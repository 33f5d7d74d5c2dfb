"""The base of every Mooring model: camelCase fields, unknown fields refused, metadata.

Pure. Specs are strict (a typo is an error, not a silently ignored field); metadata read
from the API server carries more than we model, and that is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
LABEL_KEY_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)

DnsLabel = Annotated[
    str,
    Field(
        min_length=1,
        max_length=63,
        pattern=DNS_LABEL_PATTERN,
        description="A DNS label: lower-case letters, digits and '-', starting and ending "
        "with a letter or digit, at most 63 characters.",
    ),
]
LabelValue = Annotated[str, Field(max_length=63, pattern=LABEL_VALUE_PATTERN)]
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS_NAME_PATTERN = rf"^{_LABEL}(\.{_LABEL})*$"
DnsName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=253,
        pattern=DNS_NAME_PATTERN,
        description="A DNS name in lower case, such as apps.example.com.",
    ),
]


class Model(BaseModel):
    """Strict, camelCase, immutable."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        validate_default=True,
        defer_build=True,
    )

    def to_json(self) -> dict[str, Any]:
        """The Kubernetes form: camelCase keys, unset optional fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Lenient(BaseModel):
    """camelCase, and unknown fields ignored: what Mooring reads back from the API server
    (metadata, status), which carries more than is modelled here.

    Like Model, its schema is built at first use, not at import: a command that reads one
    kind (`mooring check --platform`) does not pay for building the others."""

    model_config = ConfigDict(
        extra="ignore", alias_generator=to_camel, populate_by_name=True, defer_build=True
    )


class ObjectMeta(Lenient):
    """The part of metadata Mooring reads; the rest of what the server sends is ignored."""

    name: str
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    deletion_timestamp: str | None = None
    creation_timestamp: str | None = None  # RFC 3339 (UTC, 'Z'): sorts by time as text


T = TypeVar("T")


def unique(items: Sequence[T], key: Callable[[T], Any], what: str) -> Sequence[T]:
    """For validators: `items` unchanged, or a ValueError naming the first repeated key."""
    seen: set[Any] = set()
    for item in items:
        value = key(item)
        if value in seen:
            raise ValueError(f"{what} {value!r} is listed twice")
        seen.add(value)
    return items


def check_name(name: str, limit: int, what: str) -> None:
    """For validators: a resource name that becomes part of other names must be a DNS
    label of at most `limit` characters."""
    if not re.fullmatch(DNS_LABEL_PATTERN, name) or len(name) > limit:
        raise ValueError(
            f"{what} name {name!r} must be a DNS label of at most {limit} characters "
            "(lower-case letters, digits and '-')"
        )


class Resource(Model):
    """The envelope of Mooring's kinds: subclasses set `kind` (a Literal) and `spec`."""

    api_version: Literal["mooring.dev/v1alpha1"] = "mooring.dev/v1alpha1"
    kind: str
    metadata: ObjectMeta
    # Written by the operator; read from the cluster, never part of what Git says.
    status: dict[str, Any] | None = Field(None, exclude=True)
