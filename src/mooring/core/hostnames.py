"""Pure: who holds which DNS names, for the Ingress guardrail, `mooring validate` and the
operator.

A tenant claims names in its spec (`hostnames`): `shop.example.com`, or a wildcard
`*.shop.example.com` for every name below it. A name belongs to one tenant: claims are
taken in order (the oldest Tenant first, then by name; a repository has no creation times,
so there the order is by name), and a claim that overlaps a name an earlier tenant holds is
refused, as is a claim outside the tier's host suffixes. What a tenant holds goes into its
namespaces' GuardrailContexts; its Ingresses may serve only those names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mooring.api.platform import PlatformConfigSpec
    from mooring.api.tenant import Tenant


def covers(claim: str, host: str) -> bool:
    """Does `claim` include `host`? (A wildcard claim covers every name below it, and
    wildcard hosts below it too: `*.a.com` covers `b.a.com`, `c.b.a.com` and `*.b.a.com`.)"""
    if claim == host:
        return True
    return claim.startswith("*.") and host.endswith(claim[1:])


def overlap(first: str, second: str) -> bool:
    """Could some name be served under both claims?"""
    return covers(first, second) or covers(second, first)


def under_suffix(claim: str, suffixes: Sequence[str]) -> bool:
    """Is `claim` strictly below one of `suffixes` (any name when there are none)?

    The suffix itself, or a wildcard of it, is never a tenant's: it would take every name
    the platform offers.
    """
    if not suffixes:
        return True
    name = claim[2:] if claim.startswith("*.") else claim
    return any(name.endswith("." + suffix) for suffix in suffixes)


@dataclass(frozen=True)
class Refusal:
    """A claim a tenant does not get, and why (for `validate`, Events and logs)."""

    tenant: str
    index: int  # in the tenant's spec.hostnames
    hostname: str
    holder: str | None  # the tenant holding an overlapping name, if that is the reason
    reason: str


@dataclass
class Holdings:
    """The outcome: what each tenant holds, and the claims refused."""

    held: dict[str, list[str]] = field(default_factory=dict)  # tenant -> names
    refused: list[Refusal] = field(default_factory=list)

    def of(self, tenant: str | None) -> list[str]:
        return list(self.held.get(tenant or "", []))


def claim_order(tenant: Tenant) -> tuple[str, str]:
    """The cluster's order: the oldest Tenant first (its creation time), then by name."""
    return (tenant.metadata.creation_timestamp or "", tenant.name)


def _proper_suffixes(name: str) -> list[str]:
    """`a.b.c` -> [`b.c`, `c`]."""
    labels = name.split(".")
    return [".".join(labels[i:]) for i in range(1, len(labels))]


class _Index:
    """Claims held so far, indexed so that a new claim is checked in time linear in its
    number of labels (not in the number of claims)."""

    def __init__(self) -> None:
        self.exact: dict[str, tuple[str, str]] = {}  # name -> (claim, tenant)
        self.wild: dict[str, tuple[str, str]] = {}  # S of *.S -> (claim, tenant)
        # S -> tenant -> a claim of that tenant whose base name is strictly below S
        self.below: dict[str, dict[str, str]] = {}

    def holder(self, claim: str, tenant: str) -> tuple[str, str] | None:
        """(claim, tenant) of another tenant's claim that overlaps `claim`, if any."""
        wildcard = claim.startswith("*.")
        base = claim[2:] if wildcard else claim
        found: list[tuple[str, str]] = []
        if wildcard:
            found += [self.wild[s] for s in [base, *_proper_suffixes(base)] if s in self.wild]
            found += [(c, t) for t, c in self.below.get(base, {}).items()]
        else:
            found += [self.exact[base]] if base in self.exact else []
            found += [self.wild[s] for s in _proper_suffixes(base) if s in self.wild]
        return next(((c, t) for c, t in found if t != tenant), None)

    def add(self, claim: str, tenant: str) -> None:
        wildcard = claim.startswith("*.")
        base = claim[2:] if wildcard else claim
        (self.wild if wildcard else self.exact).setdefault(base, (claim, tenant))
        for suffix in _proper_suffixes(base):
            self.below.setdefault(suffix, {}).setdefault(tenant, claim)


def holdings(tenants: Iterable[Tenant], platform: PlatformConfigSpec | None) -> Holdings:
    """Pure: who holds what, taking the tenants' claims in `claim_order`."""
    result = Holdings()
    index = _Index()
    for tenant in sorted(tenants, key=claim_order):
        mine = result.held.setdefault(tenant.name, [])
        suffixes = _suffixes(tenant, platform)
        for position, claim in enumerate(tenant.spec.hostnames):
            if not under_suffix(claim, suffixes):
                result.refused.append(
                    Refusal(
                        tenant.name,
                        position,
                        claim,
                        None,
                        f"hostname {claim!r} is not below the tier's host suffixes "
                        f"({', '.join(suffixes)}); claim a name such as "
                        f"myapp.{suffixes[0]}",
                    )
                )
                continue
            found = index.holder(claim, tenant.name)
            if found is not None:
                held, holder = found
                result.refused.append(
                    Refusal(
                        tenant.name,
                        position,
                        claim,
                        holder,
                        f"hostname {claim!r} overlaps {held!r}, which tenant {holder!r} "
                        "already holds; choose another name (a name belongs to one tenant)",
                    )
                )
                continue
            index.add(claim, tenant.name)
            mine.append(claim)
    return result


def _suffixes(tenant: Tenant, platform: PlatformConfigSpec | None) -> list[str]:
    if platform is None:
        return []
    tier = platform.tiers.get(tenant.spec.tier or platform.default_tier)
    return list(tier.ingress.host_suffixes) if tier is not None else []
