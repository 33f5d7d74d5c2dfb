"""Pure: CEL as the Kubernetes API server speaks it, evaluated in-process with cel-expr-python.

The environment mirrors what a ValidatingAdmissionPolicy expression may use: the standard
library and macros, optional types (`a.?b.orValue(c)`), the strings extension (split,
join, substring, lastIndexOf, ...), and the Kubernetes library functions Mooring's rules
call that cel-expr-python lacks, written here in Python with the same semantics:

- regex `find(pattern)`: the first match of a regular expression in the string, or ''.
- regex `findAll(pattern)` / `findAll(pattern, n)`: every match (at most n when n >= 0).

Only functions the API server also has may appear in a rule (tests check the generated
policies against a real API server). Evaluation errors are values, never exceptions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_bindings, ext_optional, ext_strings

# The names a ValidatingAdmissionPolicy's expressions see, all dynamically typed here
# (the API server, too, evaluates against unstructured objects).
VARIABLES = ("object", "oldObject", "params", "request", "namespaceObject")


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


def _functions() -> list[cel.FunctionDecl]:
    string, integer = cel.Type.STRING, cel.Type.INT
    strings = cel.Type.List(cel.Type.STRING)
    return [
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
    """A compiled expression; compile once, evaluate many times."""

    def __init__(self, expression: str, *, bindings: bool = False) -> None:
        self.expression = expression
        self.bindings = bindings
        try:
            self._compiled = environment(bindings).compile(expression)
        except RuntimeError as error:
            raise CelError(str(error)) from None

    def evaluate(self, data: Mapping[str, Any]) -> Outcome:
        return self.evaluate_in(activation(data))

    def evaluate_in(self, bound: Any) -> Outcome:
        """Evaluate in an activation from `activation()` (shares one conversion of the data)."""
        value = self._compiled.eval(bound)
        if value.type() == cel.Type.ERROR:
            return Outcome(error=str(value.value()))
        return Outcome(value=value.plain_value())


def activation(data: Mapping[str, Any], *, bindings: bool = False) -> Any:
    """The variables converted to CEL values once, for several evaluations (of programs
    compiled with the same `bindings`)."""
    return environment(bindings).Activation(dict(data))


def quote(text: str) -> str:
    """A CEL string literal."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    return f"'{escaped}'"
