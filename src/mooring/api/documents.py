"""YAML documents with their source positions, and readable model errors.

Pure: takes text, not files. Objects come from `yamlfast` (its line reader or libyaml's
events, with its bounds: no repeated keys, no nesting or alias expansion beyond its
limits). A document's YAML nodes, which say where any field starts so that a finding can
name its file and line, are composed from the same text only when a position is first
asked for.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from mooring.api import yamlfast
from mooring.api.yamlfast import PathItem

if TYPE_CHECKING:
    from pydantic import BaseModel

try:
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader

__all__ = ["PathItem"]


@dataclass(frozen=True)
class Position:
    source: str
    line: int
    column: int = 1

    def __str__(self) -> str:
        return f"{self.source}:{self.line}"


class DocumentError(ValueError):
    """Text that is not YAML at all; says where."""

    def __init__(self, position: Position, message: str) -> None:
        self.position = position
        self.message = message
        super().__init__(f"{position}: {message}")


class Nodes:
    """The YAML nodes of one text, composed on first use (only findings need positions).

    Composing is safe: the text passed `yamlfast`'s depth bound first, and libyaml's
    composer recurses once per level."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._roots: list[yaml.Node] | None = None

    def root(self, index: int) -> yaml.Node | None:
        if self._roots is None:
            loader = _Loader(self.text)
            roots: list[yaml.Node] = []
            try:
                while loader.check_node():
                    node = loader.get_node()
                    if node is not None:
                        roots.append(node)
            except yaml.YAMLError:  # pragma: no cover - the text parsed before
                pass
            finally:
                loader.dispose()
            self._roots = roots
        return self._roots[index] if index < len(self._roots) else None


@dataclass
class Document:
    """One YAML document of a file (or of standard input)."""

    source: str
    index: int  # position in the file, from 0
    obj: Any
    line: int = 1  # where the document's root starts
    nodes: Nodes | None = field(default=None, repr=False, compare=False)

    @property
    def node(self) -> yaml.Node | None:
        return self.nodes.root(self.index) if self.nodes is not None else None

    def position(self, path: Sequence[PathItem] = ()) -> Position:
        """Where the deepest existing node along `path` starts."""
        node = self.node
        for item in path:
            child = _child(node, item)
            if child is None:
                break
            node = child
        if node is None:
            return Position(self.source, 1)
        return Position(self.source, node.start_mark.line + 1, node.start_mark.column + 1)


def _child(node: yaml.Node | None, item: PathItem) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == item:
                # A key's own line reads better than a value block starting a line later.
                return value if isinstance(value, yaml.ScalarNode) else _at_key(key, value)
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(item, int):
        return node.value[item] if 0 <= item < len(node.value) else None
    return None


def _at_key(key: yaml.Node, value: yaml.Node) -> yaml.Node:
    # Same children as `value`, positioned at its key.
    return type(value)(value.tag, value.value, key.start_mark, value.end_mark)


def parse_documents(text: str, source: str) -> list[Document]:
    """Every document in the text; empty documents are skipped. Raises DocumentError."""
    return list(iter_documents(text, source))


def iter_documents(text: str, source: str) -> Iterator[Document]:
    """Every non-empty document of the text. Raises DocumentError naming the line."""
    try:
        loaded = yamlfast.load_documents(text)
    except yamlfast.Refused as refused:
        raise DocumentError(
            Position(source, refused.line, refused.column), refused.message
        ) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        column = mark.column + 1 if mark else 1
        problem = error.problem or "malformed YAML"
        context = f" ({error.context})" if error.context else ""
        raise DocumentError(
            Position(source, line, column), f"not valid YAML: {problem}{context}"
        ) from None
    except yaml.YAMLError as error:
        raise DocumentError(Position(source, 1), f"not valid YAML: {error}") from None
    nodes = Nodes(text)
    for index, document in enumerate(loaded):
        if document.obj is not None:
            yield Document(source, index, document.obj, document.line, nodes)


@dataclass(frozen=True)
class FieldError:
    path: tuple[PathItem, ...]
    message: str

    @property
    def dotted(self) -> str:
        return dotted(self.path)


def dotted(path: Sequence[PathItem]) -> str:
    text = ""
    for item in path:
        text += f"[{item}]" if isinstance(item, int) else (f".{item}" if text else item)
    return text


def model_errors(model: type[BaseModel], obj: Any) -> tuple[BaseModel | None, list[FieldError]]:
    """Validate; on failure, every error with its field path and a message for people."""
    # Imported here: reading documents needs no pydantic (`mooring check` starts without
    # it); a model to validate against means pydantic is loaded already.
    from pydantic import ValidationError

    try:
        return model.model_validate(obj), []
    except ValidationError as error:
        return None, [_explain(e) for e in error.errors(include_url=False)]


def _explain(error: Any) -> FieldError:
    from mooring.api.base import DNS_LABEL_PATTERN, LABEL_VALUE_PATTERN

    loc = tuple(item for item in error["loc"] if not _is_internal(item))
    kind = error["type"]
    field_name = loc[-1] if loc else ""
    message = error["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        message = f"unknown field {field_name!r}; check its spelling and indentation"
    elif kind == "missing":
        message = f"required field {field_name!r} is missing"
    elif kind == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern")
        if pattern == DNS_LABEL_PATTERN:
            message = (
                f"{error['input']!r} is not a DNS label: use lower-case letters, digits and "
                "'-', starting and ending with a letter or digit"
            )
        elif pattern == LABEL_VALUE_PATTERN:
            message = (
                f"{error['input']!r} is not a valid label value: letters, digits, '-', '_' "
                "and '.', starting and ending with a letter or digit"
            )
        else:
            message = f"{error['input']!r} does not match the pattern {pattern}"
    elif kind == "literal_error":
        message = f"{error['input']!r} is not allowed: {message.lower()}"
    return FieldError(loc, message)


def _is_internal(item: Any) -> bool:
    # pydantic adds union branch names such as 'str' or 'function-after[...]' to locations.
    return isinstance(item, str) and (
        item.startswith(("function-", "tagged-union[", "lax-or-strict[")) or item in ("str", "int")
    )
