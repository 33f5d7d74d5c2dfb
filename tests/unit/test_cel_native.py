"""The native evaluator (mooring_native.Expression, native/src/celeval.rs) against CEL here.

The engine trusts the native quick check only when it is true: then every rule's violations
must be empty, as the reference (cel-expr-python, the same answers as the API server's
cel-go, test_policy_rules.py) finds. These tests hold the native evaluator to the reference
on every value it gives, not only `true`: on Mooring's own cases, on those cases' objects
changed at random places into values of every type YAML gives, and on single operations
over random values. Where the native evaluator errs, the reference decides; the tests count
those answers, so that a native evaluator that errs on everything would fail them.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mooring.core.policy.cel import NativeCheck, Outcome, Program, native_check, quote
from mooring.core.policy.context import context_object
from mooring.core.policy.engine import Engine
from mooring.core.policy.rules import ALL, quick_check, select
from mooring.core.policy.targets import TARGETS, Target
from tests.policy_cases import CASES, CONTEXTS

try:
    import mooring_native  # noqa: F401
except ImportError:  # pragma: no cover - a failure, not a skip: bootstrap builds it
    pytest.fail(
        "mooring_native is not installed: run scripts/bootstrap (it builds native/ with cargo)",
        pytrace=False,
    )

_TARGET = {target.name: target for target in TARGETS}
_PARAMS = {name: context_object("ns", spec) for name, spec in CONTEXTS.items()}


def _rules(target: Target) -> list[Any]:
    return [rule for rule in ALL if rule.target is target]


def _native(expression: str, target: Target | None) -> NativeCheck:
    check = native_check(expression, target.variables if target is not None else ())
    assert check is not None, f"the native evaluator does not compile {expression[:200]}"
    return check


def _reference(expression: str, target: Target | None) -> Program:
    """The expression with the target's variables bound as the engine's pack binds them."""
    if target is None:
        return Program(expression)
    variables = ", ".join(f"{quote(name)}: {value}" for name, value in target.variables)
    return Program(f"cel.bind(variables, {{{variables}}}, {expression})", bindings=True)


_QUICK = {
    target.name: (
        _native(quick_check(_rules(target)), target),
        _reference(quick_check(_rules(target)), target),
    )
    for target in TARGETS
}


def _agree(native: Outcome, reference: Outcome) -> bool:
    """The native answer is the reference's, or the native evaluator erred (the reference
    then decides)."""
    if native.error is not None:
        return True
    return reference.error is None and _same(native.value, reference.value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


# -- what compiles ----------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_every_quick_check_compiles_natively(target: Target) -> None:
    """All rules, the default selection and each rule alone: the native evaluator has
    every function and form the rules use (else the engine would quietly not use it)."""
    selections = [_rules(target), [r for r in select(()) if r.target is target]]
    selections += [[rule] for rule in _rules(target)]
    for rules in selections:
        if rules:
            _native(quick_check(rules), target)


@pytest.mark.parametrize(
    "expression",
    [
        "object.?a.b.orValue(1) == 1 && dyn(1) == 1",  # dyn: not a function here
        "object.exists(k, v, true)",  # two variables
        "b'abc' == b'abc'",  # bytes
        "variables.nothing == 1",
        "[?object.?a]",  # optional list item
    ],
)
def test_what_the_native_evaluator_lacks_does_not_compile(expression: str) -> None:
    assert native_check(expression, _TARGET["pods"].variables) is None


# -- Mooring's own cases -----------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_the_native_quick_check_is_the_references(case: Any) -> None:
    target = next(t for t in TARGETS if (case.obj["apiVersion"], case.obj["kind"]) in t.kinds)
    native, reference = _QUICK[target.name]
    params = _PARAMS[case.context]
    got = native.evaluate(case.obj, params)
    expected = reference.evaluate({"object": case.obj, "params": params})
    assert _agree(got, expected), (got, expected)
    if target.name != "ingresses":
        # Plain objects: the native evaluator answers. (An Ingress's annotations are a map
        # the snippets rule filters into a list, whose order is the reference's own.)
        assert got.error is None, got.error


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_the_engine_gives_the_same_results_with_and_without_the_native_check(
    case: Any,
) -> None:
    params = _PARAMS[case.context]
    with_native = Engine().evaluate(case.obj, params)
    assert with_native == Engine(native=False).evaluate(case.obj, params)
    assert with_native == Engine().evaluate(case.obj, params, exact=True)


def test_the_native_check_decides_most_compliant_cases() -> None:
    """Not vacuous: for most cases the rule allows, the native check finds all clean
    (those whose context has exceptions, or that another rule flags, excepted)."""
    clean = 0
    allowed = [case for case in CASES if not case.denied]
    for case in allowed:
        target = next(t for t in TARGETS if (case.obj["apiVersion"], case.obj["kind"]) in t.kinds)
        if _QUICK[target.name][0].holds(case.obj, _PARAMS[case.context]):
            clean += 1
    assert clean >= len(allowed) // 3, (clean, len(allowed))


# -- the cases' objects, changed at random places ------------------------------------------------

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=2**63, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "",
            "0",
            "0.0",
            "-0",
            "1",
            "true",
            "false",
            "Always",
            "windows",
            "latest",
            "nginx",
            "nginx:latest",
            "nginx:1.2",
            "ghcr.io/acme/app:1.4.2",
            "ghcr.io/acme/app@sha256:" + "a" * 64,
            "docker.io/library/nginx:1",
            "index.docker.io/nginx",
            "localhost/app:1",
            "registry.acme.example:5000/x:1",
            "evil.example/acme/app:1",
            "NET_BIND_SERVICE",
            "NET_RAW",
            "SYS_ADMIN",
            "500m",
            "0m",
            "0Gi",
            ".0",
            "1e3",
            "team",
            "acme",
            "backend",
            "ünïcödé/ïmage:tåg",
            "a\u0661b",  # an Arabic digit
            " \t trim me \u00a0",
            "shop.example.com",
            "x.acme.example.com",
            "nginx.ingress.kubernetes.io/server-snippet",
        ]
    ),
    st.text(max_size=12),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.one_of(
                st.sampled_from(
                    [
                        "name",
                        "image",
                        "securityContext",
                        "privileged",
                        "runAsNonRoot",
                        "runAsUser",
                        "hostPort",
                        "ports",
                        "limits",
                        "cpu",
                        "memory",
                        "add",
                        "hostPath",
                        "labels",
                        "imagePullPolicy",
                    ]
                ),
                st.text(max_size=5),
            ),
            inner,
            max_size=3,
        ),
    ),
    max_leaves=6,
)


def _places(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every dict key and list index in the object, as paths."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((*path, key))
            found += _places(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.append((*path, index))
            found += _places(value, (*path, index))
    return found


def _set(obj: Any, path: Sequence[Any], value: Any, add: str | None) -> None:
    node = obj
    for step in path[:-1]:
        node = node[step]
    if add is not None and isinstance(node[path[-1]], dict):
        node[path[-1]][add] = value  # a key beside the others
    else:
        node[path[-1]] = value


_TRIED: dict[str, int] = {"native": 0, "true": 0, "all": 0}


@settings(max_examples=1500, deadline=None)
@given(
    case=st.sampled_from(CASES),
    changes=st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=1, exclude_max=True),
            _VALUES,
            st.one_of(st.none(), st.sampled_from(["hostPath", "name", "image", "extra"])),
        ),
        min_size=1,
        max_size=3,
    ),
    context=st.sampled_from(sorted(_PARAMS)),
)
def test_the_native_quick_check_agrees_on_changed_objects(
    case: Any, changes: list[tuple[float, Any, str | None]], context: str
) -> None:
    obj = copy.deepcopy(case.obj)
    for where, value, add in changes:
        places = _places(obj)
        if places:
            _set(obj, places[int(where * len(places))], value, add)
    kind = (obj.get("apiVersion"), obj.get("kind"))
    if not all(isinstance(part, str) for part in kind):
        return
    target = next((t for t in TARGETS if kind in t.kinds), None)
    if target is None:
        return
    native, reference = _QUICK[target.name]
    params = _PARAMS[context]
    got = native.evaluate(obj, params)
    expected = reference.evaluate({"object": obj, "params": params})
    assert _agree(got, expected), (obj, got, expected)
    _TRIED["all"] += 1
    _TRIED["native"] += got.error is None
    _TRIED["true"] += got.value is True


def test_the_changed_objects_were_mostly_answered_natively() -> None:
    """Runs after the test above (pytest keeps the file's order): the native evaluator
    answered most of the changed objects itself, so the agreement is not vacuous."""
    if _TRIED["all"] == 0:
        test_the_native_quick_check_agrees_on_changed_objects()
    assert _TRIED["native"] >= _TRIED["all"] // 3, _TRIED
    assert _TRIED["true"] >= _TRIED["all"] // 20, _TRIED  # the answer the engine trusts


# -- single operations over random values ------------------------------------------------------

_OPERATIONS = [
    "object == params",
    "object != params",
    "object < params",
    "object <= params",
    "object > params",
    "object >= params",
    "object + params",
    "object - params",
    "-object",
    "!object",
    "object in params",
    "object[params]",
    "object[?params].orValue('none')",
    "object[?params].hasValue()",
    "object.?a.orValue('none')",
    "object.?a.?b.orValue('none')",
    "object.a",
    "has(object.a)",
    "size(object)",
    "object.size()",
    "string(object)",
    "object.contains(params)",
    "object.startsWith(params)",
    "object.endsWith(params)",
    "object.indexOf(params)",
    "object.lastIndexOf(params)",
    "object.substring(params)",
    "object.substring(0, params)",
    "object.lowerAscii()",
    "object.trim()",
    "object.split(params)",
    "object.join(params)",
    "object.join()",
    "object.matches(params)",
    "object.matches('^[a-z0-9]+([._-][a-z0-9]+)*$')",
    "object.matches('^[+-]?(0+[.]?0*|[.]0+)([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$')",
    "object.exists(x, x == params)",
    "object.all(x, x != params)",
    "object.map(x, [x, params])",
    "object.filter(x, x == params)",
    "object.exists_one(x, x == params)",
    "object ? params : 'no'",
    "object || params",
    "object && params",
    "[object, params]",
    "{'a': object, 'b': params}",
    "{object: 1}",
]
_OPERANDS = st.one_of(
    _SCALARS,
    st.sampled_from(
        ["a", "b", "/", ":", "é", "a/b:c", "a,b , c", "\u0661", "^a", "[a-z]+", "\\d+"]
    ),
    st.integers(min_value=-3, max_value=12),
    st.lists(_SCALARS, max_size=3),
    st.dictionaries(st.sampled_from(["a", "b", "c"]), _SCALARS, max_size=2),
    st.fixed_dictionaries({"a": st.one_of(_SCALARS, st.fixed_dictionaries({"b": _SCALARS}))}),
)
_OPERATION_PROGRAMS = {text: (_native(text, None), _reference(text, None)) for text in _OPERATIONS}


@settings(max_examples=4000, deadline=None)
@given(operation=st.sampled_from(_OPERATIONS), left=_OPERANDS, right=_OPERANDS)
def test_each_operation_agrees_with_the_reference(operation: str, left: Any, right: Any) -> None:
    native, reference = _OPERATION_PROGRAMS[operation]
    got = native.evaluate(left, right)
    expected = reference.evaluate({"object": left, "params": right})
    assert _agree(got, expected), (operation, left, right, got, expected)


_MATCHES = _OPERATION_PROGRAMS["object.matches(params)"]


@settings(max_examples=3000, deadline=None)
@given(
    pattern=st.text(alphabet="ab-[]^$*+?{}()|.,0129&~\\/:_", max_size=9),
    text=st.text(alphabet="ab-]&~{},1:/", max_size=6),
)
def test_matches_agrees_with_re2_on_random_patterns(pattern: str, text: str) -> None:
    """The `regex` crate and RE2 read some patterns differently; the native evaluator
    answers only for those they read alike."""
    native, reference = _MATCHES
    got = native.evaluate(text, pattern)
    expected = reference.evaluate({"object": text, "params": pattern})
    assert _agree(got, expected), (pattern, text, got, expected)


# Per operation, operands it is answered natively for (so the agreement above is not only
# the native evaluator erring).
_ANSWERABLE: dict[str, list[tuple[Any, Any]]] = {
    "object == params": [(1, 1.0), ("a", "a"), ([1, "a"], [1.0, "a"]), ({"a": 1}, {"a": 1})],
    "object != params": [(1, "1"), (None, False), ({"a": 1}, {"a": 2})],
    "object < params": [(1, 1.5), ("a", "b"), (False, True), (-1, 2**62)],
    "object <= params": [(2, 2.0), ("b", "a")],
    "object > params": [(3, -1), (0.5, 0)],
    "object >= params": [(3, 3), ("é", "e")],
    "object + params": [(1, 2), ("a", "é"), ([1], ["a"]), (0.5, 0.25)],
    "object - params": [(1, 2), (0.5, 0.25)],
    "-object": [(5, None), (-0.5, None)],
    "!object": [(True, None)],
    "object in params": [("a", ["b", "a"]), (1, [1.0]), ("a", {"a": 1}), ("x", {"a": 1})],
    "object[params]": [({"a": 1}, "a"), ([1, 2], 1)],
    "object[?params].orValue('none')": [({"a": 1}, "a"), ({"a": 1}, "b"), ([1], 3)],
    "object[?params].hasValue()": [({"a": 1}, "a"), ([1], 0)],
    "object.?a.orValue('none')": [({"a": 1}, None), ({}, None)],
    "object.?a.?b.orValue('none')": [({"a": {"b": 1}}, None), ({"a": {}}, None)],
    "object.a": [({"a": [1]}, None)],
    "has(object.a)": [({"a": None}, None), ({"b": 1}, None)],
    "size(object)": [("héllo", None), ([1, 2], None), ({"a": 1}, None)],
    "object.size()": [("abc", None)],
    "string(object)": [(12, None), (True, None), ("x", None), (-(2**63), None)],
    "object.contains(params)": [("abc", "b"), ("abc", "")],
    "object.startsWith(params)": [("abc", "ab")],
    "object.endsWith(params)": [("abc", "bc")],
    "object.indexOf(params)": [("aéb/c", "/"), ("abc", "x")],
    "object.lastIndexOf(params)": [("a/é/c", "/"), ("abc", "x")],
    "object.substring(params)": [("héllo", 2), ("abc", 3)],
    "object.substring(0, params)": [("héllo", 2), ("abc", 0)],
    "object.lowerAscii()": [("AbÉ", None)],
    "object.trim()": [(" \t a b \n", None)],
    "object.split(params)": [("a,b,,c", ","), ("abc", "x")],
    "object.join(params)": [(["a", "b"], ", "), ([], "-")],
    "object.join()": [(["a", "b"], None)],
    "object.matches(params)": [("abc", "^a[bc]+$"), ("abc", "x")],
    "object.matches('^[a-z0-9]+([._-][a-z0-9]+)*$')": [("my-app.v2", None), ("My", None)],
    "object.matches('^[+-]?(0+[.]?0*|[.]0+)([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$')": [
        ("0m", None),
        ("500m", None),
        ("0.0Gi", None),
    ],
    "object.exists(x, x == params)": [([1, 2], 2), ([], 1), ({"a": 1}, "a")],
    "object.all(x, x != params)": [([1, 2], 3), ({"a": 1}, "b")],
    "object.map(x, [x, params])": [([1, "a"], None)],
    "object.filter(x, x == params)": [([1, 2, 1], 1)],
    "object.exists_one(x, x == params)": [([1, 2, 1], 1), ([1, 2], 2)],
    "object ? params : 'no'": [(True, 1), (False, 1)],
    "object || params": [(False, True), (False, False), (True, "x"), ("x", True)],
    "object && params": [(True, False), (True, True), (False, "x"), ("x", False)],
    "[object, params]": [(1, "a")],
    "{'a': object, 'b': params}": [(1, [2])],
    "{object: 1}": [("k", None), (3, None)],
}


def test_every_operation_has_operands_it_is_answered_natively_for() -> None:
    assert set(_ANSWERABLE) == set(_OPERATIONS)
    for operation, examples in _ANSWERABLE.items():
        native, reference = _OPERATION_PROGRAMS[operation]
        for left, right in examples:
            got = native.evaluate(left, right)
            expected = reference.evaluate({"object": left, "params": right})
            assert got.error is None, (operation, left, right, got)
            assert _agree(got, expected), (operation, left, right, got, expected)


# -- what the native evaluator leaves to the reference ----------------------------------------


@pytest.mark.parametrize(
    ("expression", "left", "right"),
    [
        ("string(object)", 1.5, None),  # doubles print differently from one CEL to another
        ("object.matches('^\\\\d+$')", "\u0661", None),  # \d is ASCII in RE2, not in Rust
        ("object.matches(params)", "A", "(?i)a"),  # flags
        ("object.matches(params)", "a", "a{0,1001}"),  # beyond RE2's repetition limit
        ("object.matches(params)", "a", "a**"),  # RE2 refuses a repeated repetition
        ("object.matches(params)", "a", "[a-z&&b]"),  # a set operation to the crate only
        ("object.trim()", "\u00a0x", None),  # Unicode spaces
        ("object.indexOf('')", "abc", None),
        ("object.split('')", "abc", None),
        ("object.substring(0, 3)", "abc", None),  # cel-expr-python errs, cel-go does not
        ("object == 1", 2**64, None),  # beyond int64
        ("object.a == 1", {"a": object()}, None),  # not a YAML type
        ("object.a == 1", {"a": 1, "b": 2**64}, None),  # the reference converts all of it
        ("object.a == 1", {"a": 1, "b": {None: 1}}, None),
        ("object.a == 1", {"a": 1, "b": [(1, 2)]}, None),
        ("object.exists(x, x.a == 1)", [1, {"a": 1}], None),  # an error, then true
    ],
)
def test_the_native_evaluator_leaves_what_might_differ_to_the_reference(
    expression: str, left: Any, right: Any
) -> None:
    got = _native(expression, None).evaluate(left, right)
    assert got.error is not None, got


def test_the_engine_compiles_the_native_check_from_the_nth_object_of_a_target(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mooring.core.policy import engine as engine_module

    compiled: list[str] = []

    def counting(expression: str, variables: Sequence[tuple[str, str]] = ()) -> Any:
        compiled.append(expression)
        return native_check(expression, variables)

    monkeypatch.setattr(engine_module, "native_check", counting)
    engine = Engine(native_from=3)
    pods = [case for case in CASES if case.obj["kind"] == "Deployment"][:5]
    params = _PARAMS["standard"]
    for number, case in enumerate(pods):
        results = engine.evaluate(case.obj, params)
        assert results == Engine(native=False).evaluate(case.obj, params)
        assert len(compiled) == (0 if number < 3 else 1)
