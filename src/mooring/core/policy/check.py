"""Pure: judge objects against the rules, with the modes and exceptions that apply to them.

`Judge` is the one place offline checks and the audit decide what the rules say about an
object: it picks the GuardrailContext of the object's namespace (built by context.py at
the given time, so expired exceptions no longer apply), evaluates the rules with the
engine, and attaches each rule's mode for the object's tenant. `mooring check` keeps the
findings, the audit every result (passes too, for its reports).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from mooring.api.guardrail_defaults import Mode
from mooring.api.yamlfast import PathItem
from mooring.core.hostnames import Holdings, holdings
from mooring.core.policy.context import build_context, effective_mode, tenant_of
from mooring.core.policy.engine import Engine, RuleResult, Verdict, resolve_path

if TYPE_CHECKING:
    # Models only as types: plain manifests are judged without pydantic (context.py).
    from mooring.api.exceptions import PolicyException
    from mooring.api.platform import PlatformConfigSpec
    from mooring.api.tenant import Tenant

Level = Literal["error", "warning", "note"]


def describe(obj: dict[str, Any]) -> str:
    """`Kind namespace/name` of an object."""
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    name = meta.get("name") or meta.get("generateName") or "?"
    namespace = meta.get("namespace")
    return f"{obj.get('kind', '?')} {namespace + '/' if namespace else ''}{name}"


def namespace_of(obj: dict[str, Any], default: str | None) -> str | None:
    """The object's namespace, else `default` (`mooring check --namespace`)."""
    meta = obj.get("metadata")
    namespace = meta.get("namespace") if isinstance(meta, dict) else None
    return str(namespace) if namespace else default


@dataclass(frozen=True)
class Judged:
    """One rule's result for one object, with the mode it has there."""

    result: RuleResult
    mode: Mode

    @property
    def verdict(self) -> Verdict:
        return self.result.verdict

    @property
    def level(self) -> Level | None:
        """How loud: an enforced violation is an error, a warned one a warning, the rest notes.

        None for a pass.
        """
        verdict = self.result.verdict
        if verdict == "pass":
            return None
        if verdict == "excepted" or self.mode == "audit":
            return "note"
        return "warning" if self.mode == "warn" else "error"


@dataclass(frozen=True)
class Finding:
    """A rule that an object breaks (or would break, but for an exception)."""

    rule_id: str
    title: str
    severity: str
    mode: Mode
    verdict: Verdict
    level: Level
    object: str
    field: str
    path: tuple[PathItem, ...]  # inside the object (the document's path adds any List item)
    message: str
    exceptions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settled:
    """What a Judge decided for some namespaces, as plain data (dicts of strings, lists
    and numbers): a forked worker judges with it without the platform's models."""

    contexts: dict[str | None, dict[str, Any]]
    modes: dict[str | None, dict[str, Mode]]


class Unsettled(LookupError):
    """A settled Judge met a namespace it was not given (a bug in the caller)."""


@dataclass
class Judge:
    """Everything the rules need besides the object. Build once per run."""

    platform: PlatformConfigSpec | None
    now: datetime
    tenants: Sequence[Tenant] = ()
    exceptions: Sequence[PolicyException] = ()
    default_namespace: str | None = None
    engine: Engine = field(default_factory=Engine)
    _contexts: dict[str | None, dict[str, Any]] = field(default_factory=dict, repr=False)
    _held: Holdings | None = field(default=None, repr=False)
    _modes: dict[str | None, dict[str, Mode]] = field(default_factory=dict, repr=False)
    _settled: bool = field(default=False, repr=False)

    @classmethod
    def settled(
        cls,
        settled: Settled,
        *,
        now: datetime,
        engine: Engine,
        default_namespace: str | None = None,
    ) -> Judge:
        """A Judge for exactly the namespaces another Judge settled (`settle`); any other
        namespace raises Unsettled rather than being judged without the platform."""
        return cls(
            platform=None,
            now=now,
            default_namespace=default_namespace,
            engine=engine,
            _contexts=dict(settled.contexts),
            _modes=dict(settled.modes),
            _settled=True,
        )

    def settle(self, namespaces: Iterable[str | None]) -> Settled:
        """The context and the modes of each namespace, as plain data."""
        chosen = set(namespaces)
        return Settled(
            contexts={n: self.context(n) for n in chosen},
            modes={n: self.modes(n) for n in chosen},
        )

    def namespace_of(self, obj: dict[str, Any]) -> str | None:
        return namespace_of(obj, self.default_namespace)

    def context(self, namespace: str | None) -> dict[str, Any]:
        """The GuardrailContext of a namespace, as the operator would write it at `now`."""
        if namespace not in self._contexts:
            if self._settled:
                raise Unsettled(f"no context settled for namespace {namespace!r}")
            if self._held is None:
                self._held = holdings(self.tenants, self.platform)
            self._contexts[namespace] = build_context(
                namespace,
                self.platform,
                tenants=self.tenants,
                exceptions=self.exceptions,
                now=self.now,
                held=self._held,
            )
        return self._contexts[namespace]

    def judge(self, obj: dict[str, Any], *, failing_only: bool = False) -> list[Judged]:
        """Every rule that looks at this object and is not off for its tenant (with
        `failing_only`, only those that do not pass)."""
        if not self.engine.applies(obj):
            return []
        namespace = self.namespace_of(obj)
        modes = self.modes(namespace)
        return [
            Judged(result, modes[result.rule.id])
            for result in self.engine.evaluate(
                obj, self.context(namespace), failing_only=failing_only
            )
            if modes[result.rule.id] != "off"
        ]

    def modes(self, namespace: str | None) -> dict[str, Mode]:
        """Each rule's mode in a namespace (its tenant's override, else the platform's)."""
        modes = self._modes.get(namespace)
        if modes is None:
            if self._settled:
                raise Unsettled(f"no modes settled for namespace {namespace!r}")
            tenant = tenant_of(self.tenants, namespace)
            settings = self.platform.guardrails if self.platform is not None else None
            modes = {
                rule.id: effective_mode(rule.id, settings, tenant) for rule in self.engine.rules
            }
            self._modes[namespace] = modes
        return modes

    def findings(self, obj: dict[str, Any]) -> list[Finding]:
        """What `mooring check` reports about one object: everything but the passes."""
        found: list[Finding] = []
        judged = self.judge(obj, failing_only=True)
        if not judged:
            return found  # most objects: nothing to describe
        what = describe(obj)
        for item in judged:
            level = item.level
            if level is None:
                continue
            result = item.result

            def finding(
                field: str, message: str, *, item: Judged = item, level: Level = level
            ) -> Finding:
                rule = item.result.rule
                return Finding(
                    rule_id=rule.id,
                    title=rule.title,
                    severity=rule.severity,
                    mode=item.mode,
                    verdict=item.result.verdict,
                    level=level,
                    object=what,
                    field=field,
                    path=resolve_path(obj, field) if field else (),
                    message=message,
                    exceptions=item.result.exceptions,
                )

            if result.verdict == "error":
                error = result.error or result.exceptions_error
                found.append(
                    finding(
                        "",
                        f"the rule could not be evaluated ({error}); check the types of the "
                        "fields it reads",
                    )
                )
                continue
            for violation in result.violations:
                message = violation.message
                if result.exceptions:
                    message += f" (excepted by PolicyException {', '.join(result.exceptions)})"
                found.append(finding(violation.field, message))
        return found


def expand_lists(obj: Any) -> Iterable[tuple[tuple[PathItem, ...], Any]]:
    """A `kind: List` (kubectl get -o yaml) as its items with their paths; else the object."""
    if isinstance(obj, dict) and obj.get("kind") == "List" and isinstance(obj.get("items"), list):
        for index, item in enumerate(obj["items"]):
            yield ("items", index), item
    else:
        yield (), obj
