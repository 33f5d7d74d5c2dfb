"""Mooring's native parts (native/): the YAML line reader and the rules' quick checks."""

from collections.abc import Callable, Collection, Mapping
from typing import Any

def read(
    text: str, resolve: Callable[[str], Any], unsupported: type[Exception]
) -> list[tuple[Any, int, int]]:
    """Every document of `text` as (object, line, column), as yamlfast._lines reads it;
    raises `unsupported` where it gives up (a few more texts than _lines)."""

def locate(
    text: str,
    wanted: Mapping[int, Collection[tuple[str | int, ...]]],
    resolve: Callable[[str], Any],
    unsupported: type[Exception],
) -> dict[tuple[int, tuple[str | int, ...]], tuple[int, int]]:
    """Where each wanted path (and every prefix of it) starts, by document index, as
    yamlfast.locate finds it with libyaml's events; only for texts `read` reads (the same
    walk) and paths of exact str and int items, else raises `unsupported`."""

class Expression:
    """A CEL expression compiled for Mooring's native evaluator (native/src/celeval.rs)."""

    def __init__(
        self, source: str, inputs: list[str], variables: list[tuple[str, str]]
    ) -> None:
        """Compile `source` over the names `inputs` and `variables` ((name, expression),
        read as `variables.<name>`, none reading another); ValueError when an expression
        does not parse or uses what the native evaluator does not have."""

    def evaluate(self, values: tuple[Any, ...]) -> tuple[bool, Any]:
        """(True, value) or (False, the error's text); `values` in the order of `inputs`."""

    def holds(self, values: tuple[Any, ...]) -> bool:
        """True only when the expression evaluates to true for `values`."""
