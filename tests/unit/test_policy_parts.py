"""The guardrails' parts: YAML reading and locating, CEL library functions, evaluation
errors, contexts and expiry, admission objects and modes, reports, validate, render."""

from __future__ import annotations

import copy
import itertools
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mooring.api import yamlfast
from mooring.api.base import ObjectMeta
from mooring.api.documents import iter_documents
from mooring.api.exceptions import PolicyException
from mooring.api.guardrails import GuardrailSettings, RuleMode
from mooring.api.platform import PlatformConfigSpec
from mooring.api.tenant import Environment, GuardrailOverride, Quota, Subjects, Tenant, TenantSpec
from mooring.core.policy.admission import (
    admission_objects,
    denied_entry,
    mode_labels,
    mode_labels_of,
    policy,
    rule_variable,
)
from mooring.core.policy.cel import Program, quote, with_cached_patterns
from mooring.core.policy.check import Judge, Unsettled
from mooring.core.policy.context import (
    build_context,
    context_object,
    context_spec,
    default_spec,
    effective_mode,
    in_force,
    next_expiry,
)
from mooring.core.policy.engine import Engine, offline_expressions, resolve_path
from mooring.core.policy.report import Row, policy_report, reported_through_owner
from mooring.core.policy.rules import _REFERENCE as REFERENCE
from mooring.core.policy.rules import ALL, BY_ID, full_image
from mooring.core.policy.targets import INGRESSES, PODS, SERVICES, TARGETS, Target
from mooring.services.admission import World
from mooring.services.audit import judge_namespace
from mooring.services.check import split_documents
from tests.policy_cases import CASES, CONTEXTS, container, pod_spec, service, workload

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


# -- YAML -------------------------------------------------------------------------------------

TRICKY = """\
a: yes
b: on
c: 0x1F
d: 1_000
e: 1:30
f: 2001-12-14
g: ~
h:
i: '1'
j: .inf
k: -.5e+3
l: !!str 5
m: &x {p: 1}
n: *x
o: |
  block
q: [1, 'a', "b", null]
"""


def test_the_fast_loader_reads_yaml_as_pyyaml_does() -> None:
    assert yamlfast.load_all(TRICKY) == list(yaml.safe_load_all(TRICKY))


def test_what_the_fast_loader_does_not_build_goes_to_pyyaml() -> None:
    merge = "base: &b {x: 1}\nmine:\n  <<: *b\n  y: 2\n"
    with pytest.raises(yamlfast.Unsupported):
        yamlfast.load_all(merge)
    assert yamlfast.safe_load_all(merge) == list(yaml.safe_load_all(merge))


scalars = st.one_of(
    st.integers(-(10**12), 10**12),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
trees = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(min_size=1, max_size=10), children, max_size=4)
    ),
    max_leaves=30,
)


@given(st.lists(trees, min_size=1, max_size=3), st.sampled_from([None, "'", '"', "|"]))
@settings(max_examples=150, deadline=None)
def test_any_dumped_document_loads_the_same_both_ways(
    documents: list[Any], style: str | None
) -> None:
    text = yaml.safe_dump_all(documents, default_style=style)
    assert yamlfast.safe_load_all(text) == list(yaml.safe_load_all(text))


def test_locate_finds_what_document_positions_find() -> None:
    text = (
        "# a comment\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n"
        "spec:\n  containers:\n  - name: app\n    image: x\n    securityContext:\n"
        "      privileged: true\n---\nkind: Other\nlist:\n- 1\n- 2\n"
    )
    paths = [
        ("spec", "containers", 0, "securityContext", "privileged"),
        ("spec", "containers", 0, "securityContext"),
        ("spec", "containers", 0, "missing", "deeper"),
        ("metadata",),
        (),
    ]
    marks = yamlfast.locate(text, {0: paths, 1: [("list", 1)]})
    documents = {d.index: d for d in iter_documents(text, "f")}
    for index, wanted in ((0, paths), (1, [("list", 1)])):
        for path in wanted:
            position = documents[index].position(path)
            deepest = next(path[:n] for n in range(len(path), -1, -1) if (index, path[:n]) in marks)
            assert marks[(index, deepest)] == (position.line, position.column), path


def test_documents_are_split_at_their_markers_with_their_line_offsets() -> None:
    text = "a: 1\n---\nb: 2\nc: |\n  --- not a marker\n---\nd: 4\n"
    parts = split_documents(text)
    assert [offset for offset, _ in parts] == [0, 1, 5]
    assert [yaml.safe_load(part) for _, part in parts] == [
        {"a": 1},
        {"b": 2, "c": "--- not a marker\n"},
        {"d": 4},
    ]
    assert split_documents("%YAML 1.1\n---\na: 1\n") == [(0, "%YAML 1.1\n---\na: 1\n")]


# The splitting as regular expressions say it (what split_documents did before it used
# str.find): the reference the faster search is held to.
_MARKER = re.compile(r"^---(?=[ \t\r\n]|$)", re.MULTILINE)
_AWKWARD = re.compile(r"^(\.\.\.|%)", re.MULTILINE)
_PIECES = ["---", "----", "--- x", "-- -", "...", "%", "a: 1", "#", " ", "\t", "\r", "\n", "\n"]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=14))
def test_documents_are_split_where_the_markers_expression_finds_lines(pieces: list[str]) -> None:
    text = "".join(pieces)
    if _AWKWARD.search(text):
        expected = [(0, text)]
    else:
        starts = [m.start() for m in _MARKER.finditer(text)]
        bounds = [0, *starts, len(text)] if starts and starts[0] else [*starts, len(text)]
        expected = [
            (text.count("\n", 0, begin), text[begin:finish])
            for begin, finish in itertools.pairwise(bounds)
        ] or [(0, text)]
    assert split_documents(text) == expected


def test_a_keyed_field_path_resolves_to_list_indexes() -> None:
    obj = workload("Deployment", pod_spec(container("a"), container("b")))
    field = "spec.template.spec.containers[name=b].securityContext.privileged"
    assert resolve_path(obj, field) == (
        "spec",
        "template",
        "spec",
        "containers",
        1,
        "securityContext",
        "privileged",
    )
    assert resolve_path(obj, "spec.template.spec.containers[name=zz].image") == (
        "spec",
        "template",
        "spec",
        "containers",
    )


# -- CEL --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("'abc 123 x45'.find('[0-9]+')", "123"),
        ("'abc'.find('[0-9]+')", ""),
        ("'abc 123 x45'.findAll('[0-9]+')", ["123", "45"]),
        ("'a1b2c3'.findAll('[0-9]', 2)", ["1", "2"]),
        ("'a1b2c3'.findAll('[0-9]', -1)", ["1", "2", "3"]),
    ],
)
def test_kubernetes_regex_functions(expression: str, value: Any) -> None:
    assert Program(expression).evaluate({}).value == value


def _docker_full_name(image: str) -> str:
    """Docker's reading of an image reference (distribution/reference ParseNormalizedNamed),
    written plainly: the reference the CEL full_image must agree with."""
    first, slash, rest = image.partition("/")
    if not slash or not ("." in first or ":" in first or first == "localhost"):
        first, rest = "docker.io", image
    if first == "index.docker.io":
        first = "docker.io"
    if first == "docker.io" and "/" not in rest:
        rest = "library/" + rest
    return f"{first}/{rest}"


@given(
    st.lists(
        st.sampled_from(
            [
                "docker.io",
                "index.docker.io",
                "localhost",
                "localhost:5000",
                "ghcr.io",
                "acme",
                "registry.acme.example:5000",
                "library",
                "nginx",
                "a.b",
                "x:1",
                "",
            ]
        ),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from(["", ":1.25", ":latest", "@sha256:" + "a" * 64]),
)
@settings(max_examples=300, deadline=None)
def test_the_full_image_name_is_dockers(parts: list[str], suffix: str) -> None:
    image = "/".join(parts) + suffix
    full = Program(full_image("object.image")).evaluate({"object": {"image": image}})
    assert full.error is None, full.error
    assert full.value == _docker_full_name(image), image


@pytest.mark.parametrize(
    ("expression", "written"),
    [
        ("x.matches('^a$')", "x.re2Matches('^a$')"),
        ("x.matches('it\\'s') || y", "x.re2Matches('it\\'s') || y"),
        # Inside a string literal, a pattern that is not a literal, or one RE2 refuses: as is.
        ("'see x.matches(\\'a\\')' + x", "'see x.matches(\\'a\\')' + x"),
        ("\"x.matches('a')\"", "\"x.matches('a')\""),
        ("x.matches(params.pattern)", "x.matches(params.pattern)"),
        ("x.matches('(?=a)')", "x.matches('(?=a)')"),
        ("x.matches('a' + 'b')", "x.matches('a' + 'b')"),
        ("x.matches('b') + 'user'", "x.re2Matches('b') + 'user'"),
        # A raw or bytes literal anywhere: nothing is rewritten (their escapes differ).
        ("x.matches(r'a') || x.matches('b')", "x.matches(r'a') || x.matches('b')"),
        ("x.matches('b') || x.matches(br'a')", "x.matches('b') || x.matches(br'a')"),
    ],
)
def test_literal_patterns_are_matched_by_a_cached_re2(expression: str, written: str) -> None:
    assert with_cached_patterns(expression) == written


def test_every_rule_gives_the_same_answers_with_cached_patterns_as_with_cels_matches() -> None:
    """Each rule's expressions, compiled both ways, on every own case and on strings that
    tell RE2 from other regex engines (a final newline before $, Unicode)."""
    rewritten = 0
    for rule in ALL:
        for expression in offline_expressions(rule):
            rewritten += with_cached_patterns(expression) != expression
            cached, builtin = Program(expression), Program(expression, cached_patterns=False)
            for case in CASES:
                data = {"object": case.obj, "params": context_object("ns", CONTEXTS[case.context])}
                assert cached.evaluate(data) == builtin.evaluate(data), (rule.id, case.id)
    assert rewritten >= 3  # image-pull-policy, resources, external-names


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=40),
        st.sampled_from(["nginx", "nginx\n", "ghcr.io/a/b:1.2", "a/b@sha256:" + "a" * 64, "0\n"]),
    ),
    pattern=st.sampled_from(
        [r"^[+-]?(0+[.]?0*|[.]0+)([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$", "^a+$", "b", "é."]
        + [REFERENCE]
    ),
)
def test_cached_re2_matches_as_cel_does(text: str, pattern: str) -> None:
    data = {"object": {"text": text}}
    expression = f"string(object.text).matches({quote(pattern)})"
    assert with_cached_patterns(expression) != expression
    assert Program(expression).evaluate(data) == Program(
        expression, cached_patterns=False
    ).evaluate(data)


def test_no_rule_uses_what_the_api_server_lacks() -> None:
    for rule in ALL:
        assert "cel.bind" not in rule.violations


def test_a_field_of_the_wrong_type_errs_only_the_rules_that_read_it() -> None:
    obj = workload(
        "Pod", pod_spec(container(securityContext={"capabilities": {"add": "SYS_ADMIN"}}))
    )
    results = {r.rule.id: r for r in Engine().evaluate(obj, build_context("ns", None, now=NOW))}
    assert results["capabilities"].verdict == "error"
    assert results["capabilities"].denied  # an error denies, as failurePolicy Fail does
    assert results["image-tag"].verdict == "pass" and results["privileged"].verdict == "pass"


# -- contexts, modes, expiry ------------------------------------------------------------------


def exception(
    name: str, expires: datetime, namespace: str = "acme-dev", **workloads: Any
) -> PolicyException:
    return PolicyException.model_validate(
        {
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "rules": ["image-tag"],
                "workloads": workloads or {"names": ["web"]},
                "justification": "a good enough reason",
                "approver": "alice",
                "expires": expires.isoformat(),
            },
        }
    )


def tenant(name: str = "acme", overrides: dict[str, str] | None = None, **spec: Any) -> Tenant:
    spec.setdefault("environments", [Environment(name="dev")])
    return Tenant(
        metadata=ObjectMeta(name=name),
        spec=TenantSpec(
            owners=Subjects(users=["alice"]),
            guardrails=[GuardrailOverride(rule=r, mode=m) for r, m in (overrides or {}).items()],  # type: ignore[arg-type]
            **spec,
        ),
    )


PLATFORM = PlatformConfigSpec.model_validate(
    {
        "tiers": {
            "small": {"quota": {"cpu": "2", "memory": "4Gi", "pods": 10, "nodePorts": 0}},
            "large": {
                "quota": {
                    "cpu": "8",
                    "memory": "16Gi",
                    "pods": 50,
                    "nodePorts": 3,
                    "loadBalancers": 1,
                }
            },
        },
        "guardrails": {"defaultMode": "warn", "rules": [{"rule": "image-tag", "mode": "enforce"}]},
    }
)


def test_an_exception_applies_until_the_instant_it_expires() -> None:
    e = exception("x", NOW)
    assert e.in_force(NOW - timedelta(microseconds=1)) and not e.in_force(NOW)
    assert in_force([e], "acme-dev", NOW - timedelta(seconds=1)) == [e]
    assert in_force([e], "other", NOW - timedelta(seconds=1)) == []
    assert (
        next_expiry([e, exception("y", NOW + timedelta(hours=1))], NOW - timedelta(seconds=5))
        == NOW
    )
    assert next_expiry([e], NOW) is None


def test_the_context_carries_parameters_quota_grants_and_exceptions_in_force() -> None:
    tenants = [tenant("acme"), tenant("big", tier="large")]
    exceptions = [
        exception("live", NOW + timedelta(days=1)),
        exception("old", NOW - timedelta(days=1)),
    ]
    small = build_context("acme-dev", PLATFORM, tenants=tenants, exceptions=exceptions, now=NOW)
    assert small["spec"]["tenant"] == "acme"
    assert (small["spec"]["nodePorts"], small["spec"]["loadBalancers"]) == (False, False)
    assert [e["name"] for e in small["spec"]["exceptions"]] == ["live"]
    big = build_context("big-dev", PLATFORM, tenants=tenants, now=NOW)
    assert (big["spec"]["nodePorts"], big["spec"]["loadBalancers"]) == (True, True)
    stranger = build_context("kube-system", PLATFORM, tenants=tenants, now=NOW)
    assert "tenant" not in stranger["spec"] and stranger["spec"]["nodePorts"] is False


@pytest.mark.parametrize("namespace", [None, "default", "team-dev"])
def test_without_platform_tenant_or_exception_the_context_is_the_models_default(
    namespace: str | None,
) -> None:
    """build_context writes this case out without pydantic (`mooring check` of plain
    manifests); it must be exactly what the models give."""
    from_models = context_object(
        namespace, context_spec(GuardrailSettings(), tenant=None, quota=None, exceptions=[])
    )
    assert default_spec() == from_models["spec"]
    assert build_context(namespace, None, now=NOW) == from_models
    # A tenant's namespace or an exception in force there: the models decide.
    tenants = [tenant("x", {"image-tag": "off"})]
    assert build_context(namespace, None, tenants=tenants, now=NOW) == from_models
    assert build_context("x-dev", None, tenants=tenants, now=NOW)["spec"]["modes"] == {
        **default_spec()["modes"],
        "image-tag": "off",
    }
    live = exception("live", NOW + timedelta(days=1))
    excepted = build_context("acme-dev", None, exceptions=[live], now=NOW)
    assert [e["name"] for e in excepted["spec"]["exceptions"]] == ["live"]


def test_a_tenants_own_quota_override_decides_node_ports() -> None:
    granted = tenant("acme", quota=Quota(node_ports=1))
    context = build_context("acme-dev", PLATFORM, tenants=[granted], now=NOW)
    assert context["spec"]["nodePorts"] is True


def test_modes_come_from_the_tenant_then_the_rule_then_the_default() -> None:
    settings_ = PLATFORM.guardrails
    assert effective_mode("image-tag", settings_, None) == "enforce"
    assert effective_mode("privileged", settings_, None) == "warn"
    assert effective_mode("image-tag", settings_, tenant(overrides={"image-tag": "off"})) == "off"


def test_judging_with_an_expired_exception_finds_the_violation_again() -> None:
    app = workload("Deployment", pod_spec(container(image="nginx:latest")), name="web")
    app["metadata"]["namespace"] = "acme-dev"
    e = exception("x", NOW)
    judge = lambda at: {  # noqa: E731
        j.result.rule.id: j.result.verdict
        for j in Judge(PLATFORM, now=at, tenants=[tenant()], exceptions=[e]).judge(app)
    }
    assert judge(NOW - timedelta(seconds=1))["image-tag"] == "excepted"
    assert judge(NOW)["image-tag"] == "fail"


def test_a_settled_judge_judges_as_its_source_and_refuses_a_namespace_it_was_not_given() -> None:
    """`mooring check`'s workers judge with plain data that the parent settled (no models)."""
    bad = workload("Deployment", pod_spec(container(image="nginx:latest")), name="web")
    owned, elsewhere = copy.deepcopy(bad), copy.deepcopy(bad)
    owned["metadata"]["namespace"] = "acme-dev"
    elsewhere["metadata"]["namespace"] = "elsewhere"
    overrides = {"image-tag": "audit", "privileged": "off"}
    source = Judge(PLATFORM, now=NOW, tenants=[tenant(overrides=overrides)])
    settled = source.settle(["acme-dev", "elsewhere"])
    copied = Judge.settled(settled, now=NOW, engine=source.engine)

    def seen(judge: Judge, obj: dict[str, Any]) -> list[tuple[str, str, str]]:
        return [(f.rule_id, f.mode, f.message) for f in judge.findings(obj)]

    assert seen(copied, owned) == seen(source, owned)
    assert seen(copied, elsewhere) == seen(source, elsewhere)
    assert ("image-tag", "audit") in [r[:2] for r in seen(copied, owned)]
    assert ("image-tag", "enforce") in [r[:2] for r in seen(copied, elsewhere)]
    stranger = copy.deepcopy(bad)
    stranger["metadata"]["namespace"] = "stranger"
    assert seen(source, stranger)
    with pytest.raises(Unsettled, match="'stranger'"):
        copied.findings(stranger)


TARGETS_BY_NAME = {target.name: target for target in TARGETS}


# -- admission objects -------------------------------------------------------------------------


def _names(objects: list[dict[str, Any]], kind: str) -> list[str]:
    return [o["metadata"]["name"] for o in objects if o["kind"] == kind]


def test_one_policy_per_target_and_mode_in_use_with_every_rules_own_expressions() -> None:
    objects = admission_objects(GuardrailSettings())
    assert _names(objects, "ValidatingAdmissionPolicy") == [
        "pods-enforce.guardrails.mooring.dev",
        "services-enforce.guardrails.mooring.dev",
        "ingresses-enforce.guardrails.mooring.dev",
    ]
    pods, services, ingresses = objects[:3]
    for obj, target in ((pods, "pods"), (services, "services"), (ingresses, "ingresses")):
        variables = {v["name"]: v["expression"] for v in obj["spec"]["variables"]}
        mine = [rule for rule in ALL if rule.target.name == target]
        # The target's variables, `clear` (the quick check), a variable per rule holding
        # the rule's own expressions, and `denied`, which joins them.
        assert len(variables) == len(TARGETS_BY_NAME[target].variables) + 2 + len(mine)
        for rule in mine:
            assert rule.violations in variables[rule_variable(rule)]
            assert f"variables.{rule_variable(rule)}" in variables["denied"]
        assert "[guardrail " not in variables["denied"]
        assert obj["spec"]["failurePolicy"] == "Fail"
        assert obj["spec"]["paramKind"]["kind"] == "GuardrailContext"
        # One validation (a quick check, then the rules one by one) and its message.
        assert len(obj["spec"]["validations"]) == 1
        assert "matchConditions" not in obj["spec"]  # no group of their own: see admission.py
        assert sum(e.count("[guardrail ") for e in variables.values()) == len(mine)
    (binding_,) = [b for b in objects if b["metadata"]["name"].startswith("pods-enforce")][1:]
    assert binding_["spec"]["validationActions"] == ["Deny"]
    assert binding_["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"] == [
        {"key": "mooring.dev/tenant", "operator": "Exists"}
    ]


def test_the_modes_in_use_decide_which_policies_exist() -> None:
    settings_ = GuardrailSettings(
        default_mode="audit", rules=[RuleMode(rule="resources", mode="off")]
    )
    objects = admission_objects(settings_, [tenant("a", {"image-tag": "warn"}), tenant("b")])
    assert _names(objects, "ValidatingAdmissionPolicyBinding") == [
        "pods-warn.guardrails.mooring.dev",
        "pods-audit.guardrails.mooring.dev",
        "services-audit.guardrails.mooring.dev",
        "ingresses-audit.guardrails.mooring.dev",
    ]  # no services-warn: image-tag, warned about for tenant a, looks at pods only
    actions = {b["metadata"]["name"]: b["spec"]["validationActions"] for b in objects[4:]}
    assert actions["pods-warn.guardrails.mooring.dev"] == ["Warn"]
    assert actions["pods-audit.guardrails.mooring.dev"] == ["Audit"]
    assert admission_objects(GuardrailSettings(default_mode="off")) == []


def test_an_installed_warn_or_audit_policy_stays_when_unused_and_an_enforce_one_goes() -> None:
    # No tenant warns any more; pods-warn and services-audit are installed, as is an
    # enforce policy of a target nothing enforces now.
    settings_ = GuardrailSettings(default_mode="audit")
    kept = {
        "pods-warn.guardrails.mooring.dev",
        "services-audit.guardrails.mooring.dev",
        "services-enforce.guardrails.mooring.dev",
    }
    objects = admission_objects(settings_, [tenant("b")], kept=kept)
    policies = _names(objects, "ValidatingAdmissionPolicy")
    assert policies == [
        "pods-warn.guardrails.mooring.dev",
        "pods-audit.guardrails.mooring.dev",
        "services-audit.guardrails.mooring.dev",
        "ingresses-audit.guardrails.mooring.dev",
    ]
    assert _names(objects, "ValidatingAdmissionPolicyBinding") == policies
    # Without what is installed (`mooring policy render`): the modes in use only.
    assert "pods-warn.guardrails.mooring.dev" not in _names(
        admission_objects(settings_, [tenant("b")]), "ValidatingAdmissionPolicy"
    )
    # Kept, the policy is the same as one made for a mode in use.
    in_use = admission_objects(settings_, [tenant("a", {"image-tag": "warn"})])
    assert objects[0] == in_use[0]


def test_warn_and_audit_policies_are_bound_only_where_a_namespace_uses_their_mode() -> None:
    settings_ = GuardrailSettings(rules=[RuleMode(rule="external-ips", mode="audit")])
    objects = admission_objects(settings_, [tenant("a", {"image-tag": "warn"}), tenant("b")])
    selectors = {
        b["metadata"]["name"].split(".")[0]: b["spec"]["matchResources"]["namespaceSelector"]
        for b in objects
        if b["kind"] == "ValidatingAdmissionPolicyBinding"
    }
    tenant_namespaces = {"key": "mooring.dev/tenant", "operator": "Exists"}
    # Enforce: every tenant namespace (without its context, a namespace refuses).
    assert selectors["pods-enforce"] == {"matchExpressions": [tenant_namespaces]}
    assert selectors["services-enforce"] == {"matchExpressions": [tenant_namespaces]}
    assert selectors["pods-warn"] == {
        "matchExpressions": [
            tenant_namespaces,
            {"key": "mooring.dev/guardrails-pods-warn", "operator": "Exists"},
        ]
    }
    assert selectors["services-audit"] == {
        "matchExpressions": [
            tenant_namespaces,
            {"key": "mooring.dev/guardrails-services-audit", "operator": "Exists"},
        ]
    }
    # The labels come from each namespace's context: tenant a's, not tenant b's.
    tenants = [tenant("a", {"image-tag": "warn"}), tenant("b")]
    platform = PLATFORM.model_copy(update={"guardrails": settings_})
    labels = {
        name: mode_labels(
            build_context(f"{name}-dev", platform, tenants=tenants, now=NOW)["spec"]["modes"]
        )
        for name in ("a", "b")
    }
    assert labels == {
        "a": {
            "mooring.dev/guardrails-pods-warn": "true",
            "mooring.dev/guardrails-services-audit": "true",
        },
        "b": {"mooring.dev/guardrails-services-audit": "true"},
    }


@pytest.mark.parametrize(
    ("modes", "labels"),
    [
        ({}, {}),
        ({"image-tag": "enforce", "external-ips": "off"}, {}),
        ({"resources": "warn", "image-tag": "warn"}, {"mooring.dev/guardrails-pods-warn": "true"}),
        (
            {"resources": "audit", "ingress-hosts": "warn"},
            {
                "mooring.dev/guardrails-ingresses-warn": "true",
                "mooring.dev/guardrails-pods-audit": "true",
            },
        ),
        ({"no-such-rule": "warn"}, {}),
    ],
    ids=[
        "no modes, no labels",
        "enforce and off need none",
        "two pod rules warn: one label",
        "one label per target and mode",
        "an unknown rule counts for nothing",
    ],
)
def test_a_namespaces_mode_labels_follow_its_modes(
    modes: dict[str, str], labels: dict[str, str]
) -> None:
    assert mode_labels(modes) == labels
    # Read back from a namespace's labels, the others left out (the lab's, the tenant's).
    on_namespace = {**labels, "mooring.dev/tenant": "a", "mooring.dev/guardrails-lab": "x"}
    assert mode_labels_of(on_namespace) == labels


def test_a_rules_validation_applies_only_where_the_context_gives_it_that_mode() -> None:
    rule = BY_ID["image-tag"]
    latest = workload("Pod", pod_spec(container(image="nginx:latest")))

    def passes(mode: str, modes: dict[str, str] | None) -> bool:
        # The target's variables a Pod's rules read, given here as fields of `object`.
        expression = denied_entry(rule, mode).replace("variables.", "object.")  # type: ignore[arg-type]
        spec = {"modes": modes} if modes is not None else {}
        found = {**latest, "spec": latest["spec"], "at": "spec", "name": "web"}
        data = {"params": {"spec": spec}, "object": found}
        outcome = Program(f"size({expression}) == 0").evaluate(data)
        assert outcome.error is None, outcome.error
        return outcome.value is True

    assert passes("warn", {"image-tag": "warn"}) is False  # warned about
    assert passes("warn", {"image-tag": "enforce"}) is True  # another policy's business
    assert passes("warn", {"image-tag": "off"}) is True
    assert passes("warn", None) is True
    assert passes("enforce", None) is False  # a context without modes enforces: fail closed


def test_the_policies_judge_pods_and_workloads_on_create_and_update() -> None:
    rules = policy(PODS, "enforce", [BY_ID["privileged"]])["spec"]["matchConstraints"][
        "resourceRules"
    ]
    by_resource = {r: tuple(rule["operations"]) for rule in rules for r in rule["resources"]}
    assert by_resource["pods"] == ("CREATE", "UPDATE")
    assert by_resource["pods/ephemeralcontainers"] == ("UPDATE",)
    assert by_resource["pods/resize"] == ("UPDATE",)
    assert "pods/status" not in by_resource
    assert by_resource["deployments"] == ("CREATE", "UPDATE")
    assert by_resource["cronjobs"] == ("CREATE", "UPDATE")


def test_the_context_tells_each_rules_mode() -> None:
    context = build_context("a-dev", PLATFORM, tenants=[tenant("a", {"image-tag": "off"})], now=NOW)
    modes = context["spec"]["modes"]
    assert set(modes) == set(BY_ID)
    assert modes["image-tag"] == "off" and modes["privileged"] == "warn"


# -- reports ----------------------------------------------------------------------------------


def test_the_report_has_a_result_per_object_and_rule_and_lists_exceptions() -> None:
    app = workload("Deployment", pod_spec(container(image="nginx:latest")), name="web")
    app["metadata"]["namespace"] = "acme-dev"
    e = exception("later", NOW + timedelta(days=3))
    judged = Judge(PLATFORM, now=NOW, tenants=[tenant()], exceptions=[e]).judge(app)
    report = policy_report("acme-dev", [Row(app, tuple(judged))], NOW, [e], "acme")
    assert report["apiVersion"] == "wgpolicyk8s.io/v1alpha2" and report["kind"] == "PolicyReport"
    assert len(report["results"]) == sum(report["summary"].values()) == len(judged)
    (tag,) = [r for r in report["results"] if r["rule"] == "image-tag"]
    assert tag["result"] == "skip"
    assert tag["properties"]["exception"] == "later" and tag["properties"]["approver"] == "alice"
    assert tag["resources"][0] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "web",
        "namespace": "acme-dev",
    }
    (escalation,) = [r for r in report["results"] if r["rule"] == "privilege-escalation"]
    assert escalation["result"] == "pass"


def test_objects_a_controller_made_are_reported_through_their_owner() -> None:
    made = copy.deepcopy(workload("Pod", owner=True, name="web-abc"))
    assert reported_through_owner(made)
    made["metadata"]["ownerReferences"][0]["kind"] = "SomethingCustom"
    assert not reported_through_owner(made)
    assert not reported_through_owner(workload("Pod"))


# -- commands ---------------------------------------------------------------------------------


def test_policy_render_prints_the_admission_objects(tmp_path: Any) -> None:
    platform = {
        "apiVersion": "mooring.dev/v1alpha1",
        "kind": "PlatformConfig",
        "metadata": {"name": "default"},
        "spec": PLATFORM.model_dump(mode="json", by_alias=True, exclude_none=True),
    }
    (tmp_path / "platform.yaml").write_text(yaml.safe_dump(platform))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mooring.cli",
            "policy",
            "render",
            str(tmp_path),
            "--rule",
            "image-tag",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    objects = list(yaml.safe_load_all(done.stdout))
    # image-tag alone, enforced by the platform: one policy, one binding.
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("ValidatingAdmissionPolicy", "pods-enforce.guardrails.mooring.dev"),
        ("ValidatingAdmissionPolicyBinding", "pods-enforce.guardrails.mooring.dev"),
    ]
    assert len(objects[0]["spec"]["validations"]) == 1
    assert objects[1]["spec"]["validationActions"] == ["Deny"]


def test_validate_checks_policy_exceptions_and_rule_ids(tmp_path: Any) -> None:
    from mooring.api.documents import parse_documents
    from mooring.core.validate import validate_documents

    text = yaml.safe_dump(
        {
            "apiVersion": "mooring.dev/v1alpha1",
            "kind": "PolicyException",
            "metadata": {"name": "x"},
            "spec": {
                "rules": ["image-tag", "no-such-rule"],
                "workloads": {"names": ["web"]},
                "justification": "a good enough reason",
                "approver": "alice",
                "expires": "2030-01-01T00:00:00Z",
            },
        }
    )
    _, findings = validate_documents(parse_documents(text, "pex.yaml"))
    assert {f.code for f in findings} == {"unknown-rule", "exception-namespace"}
    (unknown,) = [f for f in findings if f.code == "unknown-rule"]
    assert unknown.field_path == "spec.rules[1]"


@pytest.mark.parametrize(
    ("kind", "operation", "change", "sub_resource", "judged"),
    [
        ("Deployment", "CREATE", None, None, True),
        ("Deployment", "UPDATE", "replicas", None, False),
        ("Deployment", "UPDATE", "annotation", None, False),
        ("Deployment", "UPDATE", "template", None, True),
        ("Deployment", "UPDATE", "labels", None, True),
        ("Pod", "CREATE", None, None, True),
        ("Pod", "UPDATE", "image", None, True),
        ("Pod", "UPDATE", "ephemeral", "ephemeralcontainers", True),
        ("Pod", "UPDATE", "resize", "resize", True),
        ("Pod", "UPDATE", "labels", None, True),
        ("Pod", "UPDATE", "annotation", None, False),
        ("Pod", "UPDATE", "finalizers", None, False),
    ],
    ids=[
        "judges a create",
        "does not judge scaling again",
        "does not judge a new annotation again",
        "judges a changed pod template",
        "judges changed labels",
        "judges a pod create",
        "judges a pod whose image is patched",
        "judges added ephemeral containers",
        "judges a pod resized in place",
        "judges a pod's changed labels",
        "does not judge a pod's new annotation again",
        "does not judge a pod's finalizers again",
    ],
)
def test_which_updates_are_judged_again(
    kind: str, operation: str, change: str | None, sub_resource: str | None, judged: bool
) -> None:
    old = workload(kind, pod_spec(container()))
    new = copy.deepcopy(old)
    spec = new["spec"] if kind == "Pod" else new["spec"]["template"]["spec"]
    if change == "replicas":
        new["spec"]["replicas"] = 5
    elif change == "annotation":
        new["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "2"}
    elif change in ("template", "image"):
        spec["containers"][0]["image"] = "evil.io/miner:latest"
    elif change == "labels":
        new["metadata"]["labels"]["extra"] = "x"
    elif change == "ephemeral":
        spec["ephemeralContainers"] = [{"name": "debug", "image": "busybox:1.36"}]
    elif change == "resize":
        spec["containers"][0]["resources"]["limits"]["cpu"] = "300m"
    elif change == "finalizers":
        new["metadata"]["finalizers"] = ["example.com/keep"]
    request: dict[str, Any] = {"operation": operation}  # no subResource key, as the API server
    if sub_resource:
        request["subResource"] = sub_resource
    condition = Program(PODS.match_condition)
    data = {"request": request, "object": new, "oldObject": old if operation == "UPDATE" else None}
    assert condition.evaluate(data).value is judged


@pytest.mark.parametrize(
    ("target", "change", "judged"),
    [
        (SERVICES, "type", True),
        (SERVICES, "externalIPs", True),
        (SERVICES, "externalName", True),
        (SERVICES, "annotation", False),
        (INGRESSES, "host", True),
        (INGRESSES, "snippet", True),
        (INGRESSES, "status", False),
    ],
    ids=[
        "judges a Service whose type changes",
        "judges a Service given externalIPs",
        "judges a Service whose externalName changes",
        "does not judge a Service's new annotation again",
        "judges an Ingress whose host changes",
        "judges an Ingress given a snippet annotation",
        "does not judge an Ingress's status again",
    ],
)
def test_which_service_and_ingress_updates_are_judged_again(
    target: Target, change: str, judged: bool
) -> None:
    if target is SERVICES:
        old: dict[str, Any] = service("ClusterIP")
    else:
        old = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "web"},
            "spec": {"rules": [{"host": "shop.example.com"}]},
        }
    new = copy.deepcopy(old)
    if change == "type":
        new["spec"]["type"] = "NodePort"
    elif change == "externalIPs":
        new["spec"]["externalIPs"] = ["203.0.113.7"]
    elif change == "externalName":
        new["spec"] = {"type": "ExternalName", "externalName": "kubernetes.default"}
    elif change == "annotation":
        new["metadata"]["annotations"] = {"example.com/note": "x"}
    elif change == "host":
        new["spec"]["rules"][0]["host"] = "victim.example.com"
    elif change == "snippet":
        new["metadata"]["annotations"] = {
            "nginx.ingress.kubernetes.io/server-snippet": "location / { return 200; }"
        }
    elif change == "status":
        new["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}]}}
    data = {"request": {"operation": "UPDATE"}, "object": new, "oldObject": old}
    assert Program(target.match_condition).evaluate(data).value is judged


def test_the_context_carries_the_tiers_classes_and_the_platforms_namespaces() -> None:
    config = PLATFORM.model_dump(mode="json", by_alias=True, exclude_none=True)
    config["tiers"]["large"]["priorityClasses"] = ["tenant-batch"]
    config["tiers"]["large"]["ingress"] = {"classes": ["nginx"]}
    config["clusterDomain"] = "corp.internal"
    spec = PlatformConfigSpec.model_validate(config)
    big = tenant("big", tier="large")
    context = build_context("big-dev", spec, tenants=[big, tenant()], now=NOW)["spec"]
    assert context["allowedPriorityClasses"] == ["tenant-batch"]
    assert context["ingressClasses"] == ["nginx"]
    assert context["clusterDomain"] == "corp.internal"
    assert {"default", "kube-system", "ingress-nginx", "mooring-system"} <= set(
        context["platformNamespaces"]
    )
    small = build_context("acme-dev", spec, tenants=[big, tenant()], now=NOW)["spec"]
    assert small["allowedPriorityClasses"] == [] and small["ingressClasses"] == []


@pytest.mark.parametrize("name", ["system-node-critical", "system-cluster-critical", "system-x"])
def test_a_tier_may_not_give_tenants_a_system_priority_class(name: str) -> None:
    config = PLATFORM.model_dump(mode="json", by_alias=True, exclude_none=True)
    config["tiers"]["small"]["priorityClasses"] = [name]
    with pytest.raises(ValueError, match="reserved to the cluster's own components"):
        PlatformConfigSpec.model_validate(config)


def test_the_audit_reports_ingresses_and_services_with_the_names_the_tenant_holds() -> None:
    """The audit judges with the same context as admission: hosts held, and not."""
    owner = tenant("acme", hostnames=["shop.example.com"])
    rival = tenant("rival", hostnames=["rival.example.com"])
    world = World(
        platform=PLATFORM,
        tenants=[owner, rival],
        namespaces={"acme-dev": "acme", "rival-dev": "rival"},
    )

    def ingress(name: str, host: str) -> dict[str, Any]:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": name, "namespace": "acme-dev"},
            "spec": {"rules": [{"host": host}]},
        }

    captured = service("ClusterIP", name="captured")
    captured["metadata"]["namespace"] = "acme-dev"
    captured["spec"]["externalIPs"] = ["203.0.113.7"]
    objects = [ingress("own", "shop.example.com"), ingress("theirs", "rival.example.com"), captured]
    audit = judge_namespace("acme-dev", objects, world, NOW, Engine())
    assert audit.report is not None
    results = {(r["resources"][0]["name"], r["rule"]): r["result"] for r in audit.report["results"]}
    assert results[("own", "ingress-hosts")] == "pass"
    assert results[("theirs", "ingress-hosts")] == "warn"  # the platform's mode here: warn
    assert results[("captured", "external-ips")] == "warn"


def test_the_operators_indexed_world_gives_the_same_contexts_as_the_core() -> None:
    """services.admission.World looks tenants and exceptions up by namespace (the operator
    keeps thousands); every context must be what core's build_context makes from the lists."""
    from mooring.services.admission import World, desired_contexts

    tenants = [
        tenant("acme", environments=[Environment(name="dev"), Environment(name="prod")]),
        tenant("big", tier="large"),
        tenant("loose", overrides={"image-tag": "off"}),
    ]
    exceptions = [
        exception("live", NOW + timedelta(days=1)),
        exception("prod", NOW + timedelta(days=1), namespace="acme-prod"),
        exception("old", NOW - timedelta(days=1)),
    ]
    namespaces = {"acme-dev": "acme", "acme-prod": "acme", "big-dev": "big", "loose-dev": "loose"}
    world = World(PLATFORM, tenants, exceptions, {**namespaces, "retained": "acme"})
    contexts = dict(desired_contexts(world, NOW))
    for namespace in [*namespaces, "retained"]:
        expected = build_context(
            namespace, PLATFORM, tenants=tenants, exceptions=exceptions, now=NOW
        )
        assert contexts[namespace] == expected, namespace
    assert dict(desired_contexts(world, NOW, only=["big-dev", "elsewhere"])).keys() == {"big-dev"}


def test_desired_contexts_builds_each_context_only_when_it_is_asked_for() -> None:
    """A pass over every tenant namespace holds one GuardrailContext at a time: the next
    one is built when the caller moves on, never all of them at once."""
    from mooring.services.admission import World, desired_contexts

    built: list[str] = []

    class Counting(World):
        def context(self, namespace: str, now: datetime) -> dict[str, Any]:
            built.append(namespace)
            return super().context(namespace, now)

    wanted = [f"team{i}-dev" for i in range(5)]
    world = Counting(PLATFORM, [], [], {name: name.removesuffix("-dev") for name in wanted})
    contexts = desired_contexts(world, NOW)
    assert built == []
    first, _ = next(contexts)
    assert (first, built) == ("team0-dev", ["team0-dev"])
    assert [namespace for namespace, _ in contexts] == wanted[1:]
    assert built == wanted
