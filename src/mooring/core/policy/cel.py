"""Pure: CEL as the Kubernetes API server speaks it, evaluated in-process with cel-expr-python.

The environment mirrors what a ValidatingAdmissionPolicy expression may use: the standard
library and macros, optional types (`a.?b.orValue(c)`), the strings extension (split,
join, substring, lastIndexOf, ...), and the Kubernetes library functions Mooring's rules
call that cel-expr-python lacks, written here in Python with the same semantics:

- regex `find(pattern)`: the first match of a regular expression in the string, or ''.
- regex `findAll(pattern)` / `findAll(pattern, n)`: every match (at most n when n >= 0).

`matches` with a literal pattern is evaluated by `re2Matches`: the same RE2, through its
Python binding, each pattern compiled once (cel-expr-python compiles the pattern on every
call, which made one rule's image-reference check cost about 1.8 ms per Deployment).
Program rewrites `x.matches('...')` to it when the literal compiles
(with_cached_patterns); other patterns (a PlatformConfig's label regex) stay with the
built-in `matches`.

Only functions the API server also has may appear in a rule (tests check the generated
policies against a real API server). Evaluation errors are values, never exceptions.

`native_check` compiles a boolean expression for Mooring's own evaluator in Rust
(`mooring_native.Expression`, native/src/celeval.rs), which reads the Python objects in place
instead of converting them. It is strict (what it does not model, or might answer otherwise,
is an error) and only its `true` is trusted: the engine uses it for the quick check, and
evaluates here whatever it does not find true.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import re2
from cel_expr_python import cel
from cel_expr_python.ext import ext_bindings, ext_optional, ext_strings
from re2 import _re2

_NativeExpression: Callable[[str, list[str], list[tuple[str, str]]], Any] | None
try:
    from mooring_native import Expression as _NativeExpression
except ImportError:  # pragma: no cover - scripts/bootstrap builds it; else CEL here decides
    _NativeExpression = None

# The names a ValidatingAdmissionPolicy's expressions see, all dynamically typed here
# (the API server, too, evaluates against unstructured objects).
VARIABLES = ("object", "oldObject", "params", "request", "namespaceObject")


# Serialized programs by key (Program.key), or None: services/cel_store.py reads them.
Stored = Callable[[str], bytes | None]
# Told each program compiled here (not loaded), serialized, by key: services/cel_store.py
# keeps them for the next run.
Keep = Callable[[str, bytes], None]


class CelError(ValueError):
    """An expression does not compile; carries the compiler's message."""


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _find(text: str, pattern: str) -> str:
    """Kubernetes regex library: `'abc 123'.find('[0-9]+')` == '123'."""
    match = _regex(pattern).search(text)
    return match.group(0) if match else ""


def _find_all(text: str, pattern: str) -> list[str]:
    return [m.group(0) for m in _regex(pattern).finditer(text)]


def _find_all_n(text: str, pattern: str, limit: int) -> list[str]:
    found = _find_all(text, pattern)
    return found if limit < 0 else found[:limit]


def _re2_options() -> Any:
    options = re2.Options()
    options.log_errors = False  # a pattern that does not compile is an answer, not a log line
    options.never_capture = True  # whether it matches, not where: RE2's fastest path
    return options


_RE2_OPTIONS = _re2_options()
_UNANCHORED = _re2.RE2.Anchor.UNANCHORED
_NO_MATCH = (-1, -1)


@lru_cache(maxsize=256)
def _compiled_re2(pattern: str) -> Any:
    """RE2 itself, through the binding's core (re2's Python layer costs 20 to 50 us a call
    building match objects). Raises ValueError for a pattern RE2 does not accept."""
    compiled = _re2.RE2(pattern.encode(), _RE2_OPTIONS)
    if not compiled.ok():
        raise ValueError(compiled.error().decode(errors="replace"))
    return compiled


def _re2_matches(text: str, pattern: str) -> bool:
    """CEL's `matches`: RE2, a match anywhere in the string (anchor with ^ and $)."""
    data = text.encode()
    return bool(_compiled_re2(pattern).Match(_UNANCHORED, data, 0, len(data))[0] != _NO_MATCH)


# `.matches(` and the string literal that follows, in the single-quoted form quote()
# writes (escapes \\, \' and \n only), then `)`: the literal's text is group 1.
_MATCHES = re.compile(r"\.matches\('((?:[^'\\\n]|\\[\\'n])*)'\)")
# Any CEL string literal in single or double quotes, any escape.
_LITERAL = re.compile(r"""'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*\"""")
_ESCAPE = re.compile(r"\\([\\'n])")
# Code that ends with a raw or bytes prefix: the literal after it reads its escapes
# otherwise, so nothing is rewritten (the built-in `matches` answers).
_PREFIX = re.compile(r"(?<![A-Za-z0-9_])[rRbB]{1,2}$")


def _unquote(text: str) -> str:
    return _ESCAPE.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


def with_cached_patterns(expression: str) -> str:
    """`expression` with each `x.matches('literal')` outside string literals written as
    `x.re2Matches('literal')` when the literal compiles in RE2: the same answer, the
    pattern compiled once. Expressions with raw or triple-quoted strings stay as they are."""
    if "'''" in expression or '"""' in expression:
        return expression
    parts: list[str] = []
    position = 0
    for literal in _LITERAL.finditer(expression):
        if _PREFIX.search(expression, position, literal.start()):
            return expression
        parts.append(_rewrite(expression, position, literal.start()))
        parts.append(literal.group(0))
        position = literal.end()
    parts.append(_rewrite(expression, position, len(expression)))
    return "".join(parts)


def _rewrite(expression: str, start: int, end: int) -> str:
    """The code between two literals, its `.matches(` (if it ends with one) rewritten when
    the literal after it is the whole, compiling pattern."""
    code = expression[start:end]
    call = ".matches("
    if not code.endswith(call):
        return code
    match = _MATCHES.match(expression, end - len(call))
    if match is None:
        return code
    try:
        _compiled_re2(_unquote(match.group(1)))
    except ValueError:
        return code
    return code[: -len(call)] + ".re2Matches("


def _functions() -> list[cel.FunctionDecl]:
    string, integer = cel.Type.STRING, cel.Type.INT
    strings = cel.Type.List(cel.Type.STRING)
    return [
        cel.FunctionDecl(
            "re2Matches",
            [
                cel.Overload(
                    "string_re2_matches_string",
                    cel.Type.BOOL,
                    [string, string],
                    True,
                    _re2_matches,
                )
            ],
        ),
        cel.FunctionDecl(
            "find",
            [cel.Overload("string_find_string", string, [string, string], True, _find)],
        ),
        cel.FunctionDecl(
            "findAll",
            [
                cel.Overload("string_find_all_string", strings, [string, string], True, _find_all),
                cel.Overload(
                    "string_find_all_string_int",
                    strings,
                    [string, string, integer],
                    True,
                    _find_all_n,
                ),
            ],
        ),
    ]


@lru_cache(maxsize=2)
def environment(bindings: bool = False) -> Any:
    """The CEL environment (built once per process).

    `bindings` adds `cel.bind`, which the API server does not offer: only the engine's
    combined expressions use it, to evaluate shared variables once (engine.py).
    """
    extensions = [ext_strings.ExtStrings(), ext_optional.ExtOptional()]
    if bindings:
        extensions.append(ext_bindings.ExtBindings())
    return cel.NewEnv(
        variables=dict.fromkeys(VARIABLES, cel.Type.DYN),
        extensions=extensions,
        functions=_functions(),
    )


@dataclass(frozen=True)
class Outcome:
    """What an expression gave: a plain Python value, or the evaluation error's message."""

    value: Any = None
    error: str | None = None


class Program:
    """A compiled expression; compile once, evaluate many times.

    `stored`, when given, looks up a checked expression that `serialize()` wrote for the
    same text in the same environment, by `key`: loading one skips the parse and the type
    check (about 5 ms against 40 for the pod rules' pack). Without one, or one that does
    not load, the expression is compiled, and `keep`, when given, is told it.
    """

    def __init__(
        self,
        expression: str,
        *,
        bindings: bool = False,
        cached_patterns: bool = True,
        stored: Stored | None = None,
        keep: Keep | None = None,
    ) -> None:
        self.expression = expression
        self.bindings = bindings
        self.source = with_cached_patterns(expression) if cached_patterns else expression
        serialized = stored(self.key) if stored is not None else None
        loaded = _load(serialized, bindings) if serialized is not None else None
        self.loaded = loaded is not None  # from `stored`, not compiled here
        self._compiled: Any = loaded if loaded is not None else self._compile()
        if loaded is None and keep is not None:
            keep(self.key, self.serialize())

    def _compile(self) -> Any:
        try:
            return environment(self.bindings).compile(self.source)
        except RuntimeError as error:
            raise CelError(str(error)) from None

    @property
    def key(self) -> str:
        """What a serialized form is stored under: the compiled text and environment."""
        return program_key(self.source, self.bindings)

    def serialize(self) -> bytes:
        """The checked expression (CEL's CheckedExpr protobuf, as cel-expr-python writes it)."""
        data = self._compiled.serialize()
        assert isinstance(data, bytes)
        return data

    def evaluate(self, data: Mapping[str, Any]) -> Outcome:
        return self.evaluate_in(activation(data))

    def evaluate_in(self, bound: Any) -> Outcome:
        """Evaluate in an activation from `activation()` (shares one conversion of the data)."""
        value = self._compiled.eval(bound)
        if value.type() == cel.Type.ERROR:
            return Outcome(error=str(value.value()))
        return Outcome(value=value.plain_value())


def program_key(source: str, bindings: bool) -> str:
    """A serialized program's name: the SHA-256 of the text it was compiled from, and of
    whether `cel.bind` was in its environment."""
    return hashlib.sha256(f"{int(bindings)}\n{source}".encode()).hexdigest()


def _load(serialized: bytes, bindings: bool) -> Any:
    try:
        return environment(bindings).deserialize(serialized)
    except (RuntimeError, ValueError, TypeError):
        return None  # damaged or from an incompatible version: compiled instead


def activation(data: Mapping[str, Any], *, bindings: bool = False) -> Any:
    """The variables converted to CEL values once, for several evaluations (of programs
    compiled with the same `bindings`)."""
    return environment(bindings).Activation(dict(data))


class NativeCheck:
    """A boolean expression compiled for the native evaluator, over `object` and `params`
    and the target's variables (`variables.<name>`, evaluated first, as `cel.bind` binds
    them)."""

    def __init__(self, compiled: Any) -> None:
        self._compiled = compiled

    def holds(self, obj: Any, params: Any) -> bool:
        """True only when the expression evaluates to true; False for false, an error, or
        anything the native evaluator leaves to the reference."""
        return bool(self._compiled.holds((obj, params)))

    def evaluate(self, obj: Any, params: Any) -> Outcome:
        """The value, or the native evaluator's error (for tests)."""
        ok, value = self._compiled.evaluate((obj, params))
        return Outcome(value=value) if ok else Outcome(error=str(value))


def native_check(expression: str, variables: Sequence[tuple[str, str]] = ()) -> NativeCheck | None:
    """`expression` compiled natively; None when mooring_native is not installed or the
    expression calls something it does not evaluate."""
    if _NativeExpression is None:
        return None
    try:
        return NativeCheck(_NativeExpression(expression, ["object", "params"], list(variables)))
    except ValueError:
        return None


def quote(text: str) -> str:
    """A CEL string literal."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    return f"'{escaped}'"
