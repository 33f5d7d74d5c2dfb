"""Pure: YAML to Python objects, fast and bounded, and the line of a field only when asked.

PyYAML's loader builds a node tree and then, in Python, an object from each node. Here
there are three speeds, each taking over what the one before does not read:

- `_lines`: the block YAML that manifests are almost always written in (one `key: value`,
  `- item` or `- key: value` per line, plain or one-line quoted scalars, `[]` and `{}`),
  read a line at a time with one regular expression for the whole text. libyaml's
  parser hands PyYAML a Python object per event (about three per line), and those cost
  most of the time; this reads the same texts about twice as fast. It reads only what it
  is sure of, and gives up (Unsupported) on anything else: flow collections, block
  scalars, multi-line or escaped scalars, anchors, tags, tabs, control characters, odd
  indentation, a repeated key. Fuzzed against libyaml's reading (tests/unit/
  test_yaml_lines.py): same objects, same root positions, never a text libyaml refuses.
  Its port to Rust (`mooring_native`, built from native/ by scripts/bootstrap) reads
  the same texts to the same objects several times faster, and is used when installed
  (tests/unit/test_yaml_native.py holds it to `_lines`).
- `_events`: objects built straight from libyaml's events; plain scalars are resolved once
  per distinct text (manifests repeat the same keys and values), nothing is kept for
  positions.
- `_full`: PyYAML's own loader, for what the events path does not build (merge keys,
  explicit tags other than !!str, complex keys).
The result equals `yaml.safe_load_all` whichever path reads it (`load_documents` tries
them in turn).

Every text Mooring reads goes through `load_documents`, with the same bounds whatever the
command: a mapping may not repeat a key (YAML says keys are unique; PyYAML would keep the
last value silently, hiding a second `owners:` below the first), nesting stops at
MAX_DEPTH levels, and aliases may not expand beyond MAX_EXPANDED_NODES nodes or
MAX_DEPTH levels (a "billion laughs" is small text and huge data). Each is `Refused` with
the line, before anything else sees the objects.

`locate` reads the text again and returns where given field paths start, so the
source positions of findings cost a second pass only over files that have findings: the
native module's walk of the line reader when installed and it reads the text (the marks
libyaml's events would give; tests/unit/test_yaml_native_locate.py holds it to them), else
libyaml's events (`_locate_events`).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentEndEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import ScalarNode

_read: Callable[[str, Callable[[str], Any], type[Exception]], list[tuple[Any, int, int]]] | None
try:
    from mooring_native import read as _read
except ImportError:  # pragma: no cover - scripts/bootstrap builds it; else _lines reads
    _read = None
_native_locate: (
    Callable[
        [
            str,
            Mapping[int, Collection[tuple[PathItem, ...]]],
            Callable[[str], Any],
            type[Exception],
        ],
        dict[tuple[int, tuple[PathItem, ...]], Mark],
    ]
    | None
)
try:
    from mooring_native import locate as _native_locate
except ImportError:  # pragma: no cover - scripts/bootstrap builds it; else libyaml locates
    _native_locate = None

try:
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader

PathItem = str | int
STR = "tag:yaml.org,2002:str"
# Nesting deeper than this is refused. The deepest manifests in the wild are CRDs' schemas
# (Argo CD's ApplicationSet: 35 levels); Python readers of the objects recurse per level.
MAX_DEPTH = 128
# Nodes one document may expand to through aliases (written out, that is about 10 MiB).
MAX_EXPANDED_NODES = 1_000_000
_CONSTRUCTOR: Any = yaml.constructor.SafeConstructor()
_RESOLVER: Any = yaml.resolver.Resolver()
_PLAIN: dict[str, Any] = {}
_PLAIN_LIMIT = 200_000


class Unsupported(Exception):
    """YAML this loader does not build; PyYAML's full loader will."""


class Refused(Exception):
    """YAML that parses but is not accepted: a repeated key, nesting or expansion beyond
    the bounds. Says where (line and column from 1) and why, for a person."""

    def __init__(self, line: int, column: int, message: str) -> None:
        self.line = line
        self.column = column
        self.message = message
        super().__init__(f"line {line}: {message}")


class _Repeated(Exception):
    """A mapping built with fewer entries than keys; `scan` then says which and where."""


@dataclass(frozen=True)
class Loaded:
    """One document: its object, and where its root starts (line and column from 1)."""

    obj: Any
    line: int
    column: int


def _too_deep(event: Any) -> Refused:
    line, column = _mark(event)
    return Refused(
        line,
        column,
        f"YAML nested deeper than {MAX_DEPTH} levels; no manifest needs that many",
    )


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


def _node(get: Callable[[], Any], event: Any, anchors: dict[str, Any], depth: int) -> Any:
    # Scalars are handled inline (most events are scalars; a call each would cost more).
    kind = type(event)
    if kind is MappingStartEvent:
        if depth > MAX_DEPTH:
            raise _too_deep(event)
        if event.tag is not None and event.tag != "!" and not event.implicit:
            raise Unsupported(f"explicit tag {event.tag}")
        mapping: dict[Any, Any] = {}
        if event.anchor is not None:
            anchors[event.anchor] = mapping
        keys = 0
        while True:
            key_event = get()
            key_kind = type(key_event)
            if key_kind is MappingEndEvent:
                if len(mapping) != keys:
                    raise _Repeated
                return mapping
            keys += 1
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
                key = _node(get, key_event, anchors, depth)
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
                mapping[key] = _node(get, value_event, anchors, depth + 1)
    if kind is SequenceStartEvent:
        if depth > MAX_DEPTH:
            raise _too_deep(event)
        if event.tag is not None and event.tag != "!" and not event.implicit:
            raise Unsupported(f"explicit tag {event.tag}")
        sequence: list[Any] = []
        if event.anchor is not None:
            anchors[event.anchor] = sequence
        while True:
            item = get()
            if type(item) is SequenceEndEvent:
                return sequence
            sequence.append(_node(get, item, anchors, depth + 1))
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


# -- the line reader ---------------------------------------------------------------------------

# One line of block YAML: indentation, a sequence entry's dash, a plain key, the rest. A key
# is letters, digits and `_./-` (what manifests' keys are: `app.kubernetes.io/name`), 251
# characters at most (libyaml refuses an implicit key over 1,024).
_LINE = re.compile(
    r"^( *+)(-(?: ++|$))?(?:([A-Za-z_][A-Za-z0-9_./-]{0,250}+):(?: ++|$))?(.*)", re.MULTILINE
)
# What the line reader leaves to libyaml: tabs, carriage returns and YAML 1.1's other line
# breaks (\x85, \u2028, \u2029), a byte-order mark, and every character libyaml refuses.
_NOT_LINES = (
    r"[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
# The same for ASCII text (most manifests): compiling the whole class costs about 5 ms, a
# CI step's `mooring check` of one file pays it at start-up; other text compiles it once.
_NOT_LINES_ASCII = re.compile(r"[^\n\x20-\x7e]")


@lru_cache(maxsize=1)
def _not_lines() -> re.Pattern[str]:
    return re.compile(_NOT_LINES)


def _leaves_to_libyaml(text: str) -> bool:
    """The text has characters the line reader leaves to libyaml."""
    pattern = _NOT_LINES_ASCII if text.isascii() else _not_lines()
    return pattern.search(text) is not None


# A value starting with one of these is not a plain scalar (or, for `-`, may not be).
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")
# Frames deeper than this go to libyaml, which refuses beyond MAX_DEPTH with the line.
_LINES_DEPTH = 100


def _after_scalar(value: str, end: int) -> None:
    """Only blanks, or a comment after a blank, may follow a quoted scalar or `[]`/`{}`."""
    rest = value[end:]
    if rest.strip(" ") and (rest[0] != " " or rest.lstrip(" ")[0] != "#"):
        raise Unsupported("text after a scalar")


def _plain_value(value: str) -> Any:
    """A plain scalar that ends its line (a comment after a blank is not part of it)."""
    if " #" in value:
        value = value[: value.index(" #")]
    value = value.rstrip(" ")
    if ":" in value and (": " in value or value[-1] == ":"):
        raise Unsupported("': ' in a plain scalar")  # libyaml: a mapping, or an error
    known = _PLAIN.get(value, _PLAIN)
    return _plain(value) if known is _PLAIN else known


def _indicated(value: str) -> Any:
    """A value that starts with an indicator: one-line quoted scalars, `[]`, `{}`, `-x`."""
    first = value[0]
    if first == "'":
        start = 1
        while True:
            end = value.find("'", start)
            if end < 0:
                raise Unsupported("a quoted scalar over several lines")
            if not value.startswith("'", end + 1):
                break
            start = end + 2
        _after_scalar(value, end + 1)
        return value[1:end].replace("''", "'")
    if first == '"':
        end = value.find('"', 1)
        if end < 0 or "\\" in value[1:end]:
            raise Unsupported("a double-quoted scalar with escapes or over several lines")
        _after_scalar(value, end + 1)
        return value[1:end]
    if value.startswith(("[]", "{}")):
        _after_scalar(value, 2)
        return [] if first == "[" else {}
    if first == "-" and len(value) > 1 and value[1] != " ":
        return _plain_value(value)
    raise Unsupported(f"a value starting with {first!r}")


def _lines(text: str) -> list[Loaded]:
    """Block YAML a line at a time; Unsupported for anything it is not sure to read as
    libyaml does (libyaml then reads the text, or says what is wrong with it)."""
    if _leaves_to_libyaml(text):
        raise Unsupported("characters the line reader leaves to libyaml")
    documents: list[Loaded] = []
    started = False  # a document is open (`---` seen, or content)
    root: Any = None
    mark: Mark | None = None
    # Open collections, outermost first: (indent, container, is a sequence, is a sequence
    # at its key's own indentation, which a key at that indentation closes).
    frames: list[tuple[int, Any, bool, bool]] = []
    pending: tuple[dict[Any, Any], Any, int] | None = None  # a key whose value is below it
    mapping: dict[Any, Any] = {}  # the mapping a key at `indent` goes to
    indent = -2  # -2: no such mapping (the next line is not a sibling key)
    plain = _PLAIN
    line = 0
    for spaces, dash, key_text, value in _LINE.findall(text):
        line += 1
        width = len(spaces)
        if not key_text or dash or pending is not None or width != indent:
            # Anything but a sibling key: comments, `---`, structure.
            if not key_text and not dash:
                if not value or value[0] == "#":
                    continue
                if width == 0 and value.startswith("---") and value[3:4] in ("", " "):
                    if value[3:].strip(" ") and value[3:].lstrip(" ")[0] != "#":
                        raise Unsupported("a node on the line of ---")
                    if started:
                        documents.append(Loaded(root, *(mark or (line, 1))))
                    started, root, mark, frames, pending, indent = True, None, None, [], None, -2
                    continue
                raise Unsupported("a line that is neither a key nor an item")
            if pending is not None:
                parent, parent_key, parent_indent = pending
                pending = None
                if width > parent_indent or (width == parent_indent and dash):
                    block: Any = [] if dash else {}
                    frames.append((width, block, bool(dash), width == parent_indent))
                    parent[parent_key] = block
            elif not frames:
                if root is not None:
                    raise Unsupported("a line after the document's root")
                started = True
                mark = (line, width + 1)
                root = [] if dash else {}
                frames.append((width, root, bool(dash), False))
            while frames:
                top = frames[-1]
                if top[0] > width or (top[0] == width and top[3] and not dash):
                    frames.pop()
                else:
                    break
            if not frames or top[0] != width or len(frames) > _LINES_DEPTH:
                raise Unsupported("indentation the line reader does not follow")
            if not top[2]:
                if dash:
                    raise Unsupported("an item among a mapping's keys")
                mapping, indent = top[1], width
            elif not dash:
                raise Unsupported("a key among a sequence's items")
            elif key_text:
                mapping = {}
                indent = width + len(dash)
                top[1].append(mapping)
                frames.append((indent, mapping, False, False))
            else:
                if not value or value[0] == "#" or (value[0] == "-" and value[1:2] in ("", " ")):
                    raise Unsupported("an empty or nested item")
                top[1].append(_indicated(value) if value[0] in _INDICATORS else _plain_value(value))
                indent = -2
                continue
        # A key of `mapping`, and its value if it is on the same line.
        key = plain.get(key_text, plain)
        if key is plain:
            key = _plain(key_text)
        if key in mapping:
            raise Unsupported("a repeated key")  # libyaml's path says where
        if not value or value[0] == "#":
            mapping[key] = None
            pending = (mapping, key, indent)
        elif value[0] in _INDICATORS:
            mapping[key] = _indicated(value)
        else:
            if " #" in value:
                value = value[: value.index(" #")]
            value = value.rstrip(" ")
            if ":" in value and (": " in value or value[-1] == ":"):
                raise Unsupported("': ' in a plain scalar")
            known = plain.get(value, plain)
            mapping[key] = _plain(value) if known is plain else known
    if started:
        # An empty document starts where the stream ends: after the last line break.
        end = (text.count("\n") + (1 if text.endswith("\n") else 2), 1)
        documents.append(Loaded(root, *(mark or end)))
    return documents


def _native_lines(text: str) -> list[Loaded]:
    """`_lines`, read by its port to Rust: the same documents, or Unsupported."""
    assert _read is not None
    return [Loaded(obj, line, column) for obj, line, column in _read(text, _plain, Unsupported)]


# The line reader on the hot path: the native port when it is installed.
_read_lines: Callable[[str], list[Loaded]] = _lines if _read is None else _native_lines


def load_all(text: str) -> list[Any]:
    """Every document of the text (None for an empty one), by the fast path only.

    Raises yaml.YAMLError, Refused or Unsupported."""
    return [loaded.obj for loaded in _fast(text)]


def safe_load_all(text: str) -> list[Any]:
    """Every document of the text, bounded; `load_documents` without the positions."""
    return [loaded.obj for loaded in load_documents(text)]


def load_documents(text: str) -> list[Loaded]:
    """Every document of the text (None for an empty one) with where it starts: the fast
    path, or PyYAML's loader for what it does not build. Same bounds either way.

    Raises Refused (a repeated key, too deep, aliases expanding too far) or yaml.YAMLError.
    """
    try:
        return _fast(text)
    except Unsupported:
        return _full(text)
    except _Repeated:
        scan(text)
        raise Refused(1, 1, "a mapping repeats a key") from None  # scan names it; not reached


def _fast(text: str) -> list[Loaded]:
    """The line reader, or libyaml's events for what it does not read."""
    try:
        return _read_lines(text)
    except Unsupported:
        return _events(text)


def _events(text: str) -> list[Loaded]:
    loader = _Loader(text)
    try:
        get: Callable[[], Any] = loader.get_event
        get()  # StreamStartEvent
        documents: list[Loaded] = []
        while True:
            event = get()
            if type(event) is StreamEndEvent:
                return documents
            root = get()
            anchors: dict[str, Any] = {}
            line, column = _mark(root)
            obj = _node(get, root, anchors, 1)
            if anchors:
                check_expansion(obj, line, column)
            documents.append(Loaded(obj, line, column))
            if type(get()) is not DocumentEndEvent:
                raise Unsupported("a document that does not end")
    finally:
        loader.dispose()


def _full(text: str) -> list[Loaded]:
    """PyYAML's own loader, after `scan` has checked what its C composer would recurse on."""
    scan(text)
    loader = _Loader(text)
    documents: list[Loaded] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node said there is one
                break
            line, column = node.start_mark.line + 1, node.start_mark.column + 1
            obj = loader.construct_document(node)
            check_expansion(obj, line, column)
            documents.append(Loaded(obj, line, column))
    finally:
        loader.dispose()
    return documents


def _key(event: ScalarEvent) -> Any:
    """A scalar key as the loaders build it; None for a merge key (`<<`), which may repeat."""
    tag = event.tag
    if tag is not None and tag != "!":
        return event.value if tag == STR else (tag, event.value)
    if event.implicit[0]:
        try:
            return _plain(event.value)
        except Unsupported:
            return None
    return event.value


def scan(text: str) -> None:
    """Raise Refused at the first repeated key (naming both lines) or nesting beyond
    MAX_DEPTH. Reads events with a stack of its own, so no depth can exhaust it."""
    loader = _Loader(text)
    # One frame per open collection: a mapping's keys so far (key -> line, text) and whether the
    # next node is a key; None for a sequence.
    stack: list[list[Any] | None] = []
    try:
        get: Callable[[], Any] = loader.get_event
        while True:
            event = get()
            kind = type(event)
            if kind is StreamEndEvent:
                return
            if not (isinstance(event, CollectionStartEvent) or kind is ScalarEvent) and not (
                kind is MappingEndEvent or kind is SequenceEndEvent or kind is AliasEvent
            ):
                continue  # stream, document starts and ends
            if kind is MappingEndEvent or kind is SequenceEndEvent:
                stack.pop()
                continue
            frame = stack[-1] if stack else None
            if frame is not None:
                if frame[1] and kind is ScalarEvent:
                    key = _key(event)
                    line = event.start_mark.line + 1
                    if key is not None:
                        first = frame[0].get(key)
                        if first is not None:
                            same = (
                                f"key {event.value!r}"
                                if first[1] == event.value
                                else f"key {event.value!r} (the same key as {first[1]!r})"
                            )
                            raise Refused(
                                line,
                                event.start_mark.column + 1,
                                f"{same} is repeated: first on line {first[0]}, again on line "
                                f"{line}; YAML would keep only the last value, so write it once",
                            )
                        frame[0][key] = (line, event.value)
                frame[1] = not frame[1]
            if isinstance(event, CollectionStartEvent):
                if len(stack) >= MAX_DEPTH:
                    raise _too_deep(event)
                stack.append([{}, True] if kind is MappingStartEvent else None)
    finally:
        loader.dispose()


def check_expansion(obj: Any, line: int, column: int) -> None:
    """Refused when aliases make `obj` more than MAX_EXPANDED_NODES nodes or MAX_DEPTH
    levels written out, or make it contain itself. Iterative; shared parts counted once."""
    if not isinstance(obj, dict | list):
        return
    sizes: dict[int, tuple[int, int]] = {}  # id -> (nodes, depth) written out
    open_: set[int] = set()
    stack: list[tuple[Any, bool]] = [(obj, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        children = node.values() if isinstance(node, dict) else node
        if finished:
            nodes, depth = 1, 1
            for child in children:
                if isinstance(child, dict | list):
                    child_nodes, child_depth = sizes[id(child)]
                    nodes += child_nodes
                    depth = max(depth, child_depth + 1)
                else:
                    nodes += 1
            open_.discard(key)
            sizes[key] = (nodes, depth)
            if nodes > MAX_EXPANDED_NODES:
                raise Refused(
                    line,
                    column,
                    f"YAML aliases expand to more than {MAX_EXPANDED_NODES} nodes; write the "
                    "objects out without anchors",
                )
            if depth > MAX_DEPTH:
                raise Refused(
                    line,
                    column,
                    f"YAML aliases nest deeper than {MAX_DEPTH} levels; write the objects out "
                    "without anchors",
                )
            continue
        if key in sizes:
            continue
        open_.add(key)
        stack.append((node, True))
        for child in children:
            if isinstance(child, dict | list):
                if id(child) in open_:
                    raise Refused(
                        line, column, "a YAML alias refers to the node that holds it (a loop)"
                    )
                if id(child) not in sizes:
                    stack.append((child, False))


Mark = tuple[int, int]  # line, column; from 1


def locate(
    text: str, wanted: Mapping[int, Collection[tuple[PathItem, ...]]]
) -> dict[tuple[int, tuple[PathItem, ...]], Mark]:
    """Where each wanted path (and every prefix of it) starts, by document index.

    A mapping entry whose value is a block starts at its key, as `Document.position` does.
    Keys in paths are as written (`yes`, not True). The native walk answers the texts the
    line reader reads, libyaml's events (`_locate_events`) the rest: the same marks.
    """
    if _native_locate is not None:
        with contextlib.suppress(Unsupported):
            return _native_locate(text, wanted, _resolved_or_given_up, Unsupported)
    return _locate_events(text, wanted)


def _resolved_or_given_up(text: str) -> Any:
    """`_plain` for the native locate, which builds the objects and drops them: where the
    constructor fails (a date such as 2001-02-30), it gives up, and libyaml's events say
    where the nodes are, as they would without the native module."""
    try:
        return _plain(text)
    except Exception as error:  # Unsupported, or whatever a constructor raises
        raise Unsupported(f"scalar {text!r}: {error}") from error


def _locate_events(
    text: str, wanted: Mapping[int, Collection[tuple[PathItem, ...]]]
) -> dict[tuple[int, tuple[PathItem, ...]], Mark]:
    """`locate` by libyaml's events: the reference, and the path for any text."""
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
            if type(key) is ScalarEvent:
                child = (*path, key.value)
            else:  # a complex key (`? [a]`): its own events come before the value's
                _skip(get, key)
                child = (*path, "?")
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
