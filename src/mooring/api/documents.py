"""YAML documents with their source positions, and readable model errors.

Pure: takes text, not files. Each document keeps its YAML node, so a finding about any
field can name the file and line it came from. Parsing uses libyaml (PyYAML's C loader).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from mooring.api.base import DNS_LABEL_PATTERN, LABEL_VALUE_PATTERN

try:
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader

PathItem = str | int


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


@dataclass
class Document:
    """One YAML document of a file (or of standard input)."""

    source: str
    index: int  # position in the file, from 0
    obj: Any
    node: yaml.Node | None

    @property
    def line(self) -> int:
        return self.node.start_mark.line + 1 if self.node is not None else 1

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
    loader = _Loader(text)
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            obj = loader.construct_document(node)
            if obj is not None:
                yield Document(source, index, obj, node)
            index += 1
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
    finally:
        loader.dispose()


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
    try:
        return model.model_validate(obj), []
    except ValidationError as error:
        return None, [_explain(e) for e in error.errors(include_url=False)]


def _explain(error: Any) -> FieldError:
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
