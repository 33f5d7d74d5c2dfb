from collections.abc import Callable
from typing import Any

def read(
    text: str, resolve: Callable[[str], Any], unsupported: type[Exception]
) -> list[tuple[Any, int, int]]:
    """Every document of `text` as (object, line, column), as yamlfast._lines reads it;
    raises `unsupported` where it gives up (a few more texts than _lines)."""
