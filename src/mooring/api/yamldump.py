"""Pure: objects to YAML text the way people and kubectl expect to read it.

PyYAML writes an object that appears twice (a shared list of verbs, the same labels on two
objects) once, with an anchor (`&id001`), and later as an alias (`*id001`). That is valid
YAML, but it is unreadable in a review, and some tools refuse it. Every dump here writes
each value out in full, in the order the keys were given.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

try:
    _Base: type[yaml.SafeDumper] = yaml.CSafeDumper  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Base = yaml.SafeDumper


class _NoAliases(_Base):  # type: ignore[valid-type, misc]
    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(obj: Any, *, sort_keys: bool = False, width: int | None = None) -> str:
    """One document (`width`: where to fold long lines; PyYAML's default, 80, if None)."""
    text: str = yaml.dump(
        obj, Dumper=_NoAliases, sort_keys=sort_keys, allow_unicode=True, width=width
    )
    return text


def dump_all(objects: Iterable[Any], *, sort_keys: bool = False) -> str:
    """A stream of documents separated by `---`."""
    text: str = yaml.dump_all(
        list(objects), Dumper=_NoAliases, sort_keys=sort_keys, allow_unicode=True
    )
    return text
