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
