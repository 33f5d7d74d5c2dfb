"""Pure: YAML to Python objects, fast, and the line of a field only when one is asked for.

PyYAML's loader builds a node tree and then, in Python, an object from each node. Here
the objects are built straight from libyaml's events, plain scalars are resolved once per
distinct text (manifests repeat the same keys and values), and nothing is kept for
positions. The result equals `yaml.safe_load_all` for what manifests use; anything rarer
(merge keys, explicit tags other than !!str, complex keys) raises `Unsupported`, and the
caller uses PyYAML's own loader for that text.

`locate` reads the events again and returns where given field paths start, so the
source positions of findings cost a second pass only over files that have findings.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import ScalarNode

from mooring.api.documents import PathItem

try:
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader

STR = "tag:yaml.org,2002:str"
_CONSTRUCTOR: Any = yaml.constructor.SafeConstructor()
_RESOLVER: Any = yaml.resolver.Resolver()
_PLAIN: dict[str, Any] = {}
_PLAIN_LIMIT = 200_000


class Unsupported(Exception):
    """YAML this loader does not build; PyYAML's full loader will."""


def _plain(text: str) -> Any:
    """A plain scalar as YAML 1.1 (PyYAML) reads it: 'true' -> True, '80' -> 80, '' -> None."""
    known = _PLAIN.get(text, _PLAIN)
    if known is not _PLAIN:
        return known
    tag = _RESOLVER.resolve(ScalarNode, text, (True, False))
    if tag == STR:
        value: Any = text
    else:
        construct = _CONSTRUCTOR.yaml_constructors.get(tag)
        if construct is None or tag.endswith((":merge", ":value")):
            raise Unsupported(f"scalar {text!r} resolves to {tag}")
        value = construct(_CONSTRUCTOR, ScalarNode(tag, text))
    if len(_PLAIN) > _PLAIN_LIMIT:
        _PLAIN.clear()
    _PLAIN[text] = value
    return value


def _scalar(event: ScalarEvent) -> Any:
    tag = event.tag
    if tag is not None and tag != "!":
        if tag == STR:
            return event.value
        raise Unsupported(f"explicit tag {tag}")
    if event.implicit[0]:
        return _plain(event.value)
    return event.value


def _node(get: Callable[[], Any], event: Any, anchors: dict[str, Any]) -> Any:
    # Scalars are handled inline (most events are scalars; a call each would cost more).
    kind = type(event)
    if kind is MappingStartEvent:
        if event.tag is not None and event.tag != "!" and not event.implicit:
            raise Unsupported(f"explicit tag {event.tag}")
        mapping: dict[Any, Any] = {}
        if event.anchor is not None:
            anchors[event.anchor] = mapping
        while True:
            key_event = get()
            key_kind = type(key_event)
            if key_kind is MappingEndEvent:
                return mapping
            if key_kind is not ScalarEvent:
                raise Unsupported("a key that is not a scalar")
            if key_event.tag is None and key_event.anchor is None:
                text = key_event.value
                if key_event.implicit[0]:
                    key = _PLAIN.get(text, _PLAIN)
                    if key is _PLAIN:
                        key = _plain(text)
                else:
                    key = text
            else:
                key = _node(get, key_event, anchors)
            value_event = get()
            if (
                type(value_event) is ScalarEvent
                and value_event.tag is None
                and value_event.anchor is None
            ):
                text = value_event.value
                if value_event.implicit[0]:
                    value = _PLAIN.get(text, _PLAIN)
                    if value is _PLAIN:
                        value = _plain(text)
                else:
                    value = text
                mapping[key] = value
            else:
                mapping[key] = _node(get, value_event, anchors)
    if kind is SequenceStartEvent:
        if event.tag is not None and event.tag != "!" and not event.implicit:
            raise Unsupported(f"explicit tag {event.tag}")
        sequence: list[Any] = []
        if event.anchor is not None:
            anchors[event.anchor] = sequence
        while True:
            item = get()
            if type(item) is SequenceEndEvent:
                return sequence
            sequence.append(_node(get, item, anchors))
    if kind is ScalarEvent:
        value = _scalar(event)
        if event.anchor is not None:
            anchors[event.anchor] = value
        return value
    if kind is AliasEvent:
        if event.anchor not in anchors:
            raise Unsupported(f"unknown alias {event.anchor}")
        return anchors[event.anchor]
    raise Unsupported(f"unexpected {kind.__name__}")


def load_all(text: str) -> list[Any]:
    """Every document of the text (None for an empty one). Raises yaml.YAMLError,
    RecursionError or Unsupported."""
    loader = _Loader(text)
    try:
        get: Callable[[], Any] = loader.get_event
        get()  # StreamStartEvent
        documents: list[Any] = []
        while True:
            event = get()
            if type(event) is StreamEndEvent:
                return documents
            documents.append(_node(get, get(), {}))
            if type(get()) is not DocumentEndEvent:
                raise Unsupported("a document that does not end")
    finally:
        loader.dispose()


def safe_load_all(text: str) -> list[Any]:
    """`load_all`, or PyYAML's loader for what it does not build."""
    try:
        return load_all(text)
    except Unsupported:
        return list(yaml.load_all(text, Loader=_Loader))


Mark = tuple[int, int]  # line, column; from 1


def locate(
    text: str, wanted: Mapping[int, Collection[tuple[PathItem, ...]]]
) -> dict[tuple[int, tuple[PathItem, ...]], Mark]:
    """Where each wanted path (and every prefix of it) starts, by document index.

    A mapping entry whose value is a block starts at its key, as `Document.position` does.
    """
    prefixes: dict[int, set[tuple[PathItem, ...]]] = {}
    for index, paths in wanted.items():
        found = prefixes.setdefault(index, set())
        for path in paths:
            found.update(path[:n] for n in range(len(path) + 1))
    marks: dict[tuple[int, tuple[PathItem, ...]], Mark] = {}
    loader = _Loader(text)
    try:
        get: Callable[[], Any] = loader.get_event
        get()
        index = 0
        while True:
            event = get()
            if type(event) is StreamEndEvent:
                return marks
            root = get()
            targets = prefixes.get(index)
            if targets:
                _walk(get, root, (), targets, index, marks, None)
            else:
                _skip(get, root)
            get()  # DocumentEndEvent
            index += 1
    finally:
        loader.dispose()


def _mark(event: Any) -> Mark:
    return event.start_mark.line + 1, event.start_mark.column + 1


def _walk(
    get: Callable[[], Any],
    event: Any,
    path: tuple[PathItem, ...],
    targets: set[tuple[PathItem, ...]],
    index: int,
    marks: dict[tuple[int, tuple[PathItem, ...]], Mark],
    key_mark: Mark | None,
) -> None:
    kind = type(event)
    if path in targets:
        block = kind is MappingStartEvent or kind is SequenceStartEvent
        marks[(index, path)] = key_mark if block and key_mark is not None else _mark(event)
    if kind is MappingStartEvent:
        while True:
            key = get()
            if type(key) is MappingEndEvent:
                return
            child = (*path, key.value) if type(key) is ScalarEvent else (*path, "?")
            value = get()
            if child in targets:
                _walk(get, value, child, targets, index, marks, _mark(key))
            else:
                _skip(get, value)
    elif kind is SequenceStartEvent:
        position = 0
        while True:
            item = get()
            if type(item) is SequenceEndEvent:
                return
            child = (*path, position)
            if child in targets:
                _walk(get, item, child, targets, index, marks, None)
            else:
                _skip(get, item)
            position += 1


def _skip(get: Callable[[], Any], event: Any) -> None:
    """Consume the events of one node."""
    kind = type(event)
    if kind is not MappingStartEvent and kind is not SequenceStartEvent:
        return
    depth = 1
    while depth:
        kind = type(get())
        if kind is MappingStartEvent or kind is SequenceStartEvent:
            depth += 1
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            depth -= 1
