"""YAML reading that remembers where every key and value was, and refuses duplicate keys.

PyYAML's ``safe_load`` forgets positions and lets a repeated key silently overwrite the
first.  Here the document is composed into nodes (which carry marks) and converted by hand:
plain Python values come back together with a table of 1-based (line, column) positions
keyed by the path of each key and value, and every duplicate key becomes a problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Path = tuple[Any, ...]
Position = tuple[int, int]


@dataclass
class Marked:
    """A parsed document: the data, where each path's value and key sit, and problems."""

    data: Any
    values: dict[Path, Position] = field(default_factory=dict)
    keys: dict[Path, Position] = field(default_factory=dict)
    #: (path, line, column, message) for duplicate or non-string keys
    problems: list[tuple[Path, int, int, str]] = field(default_factory=list)

    def value_at(self, path: Path) -> Position:
        """Position of the value at ``path``, or of the nearest enclosing value."""
        return _nearest(self.values, path)

    def key_at(self, path: Path) -> Position:
        """Position of the key that ends ``path`` (falls back to its value, then parents)."""
        if path in self.keys:
            return self.keys[path]
        return _nearest(self.values, path)


class YamlSyntaxError(Exception):
    """The text is not one well-formed YAML document; carries a 1-based position."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


def parse(text: str) -> Marked:
    """Parse one YAML document, keeping positions; raise YamlSyntaxError if it is not YAML."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or str(exc)
        context = f" ({exc.context})" if exc.context else ""
        raise YamlSyntaxError(f"YAML syntax error: {problem}{context}", line, column) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(f"YAML error: {exc}", 1, 1) from None
    marked = Marked(data=None)
    if root is None:
        return marked
    marked.data = _Walker(marked).convert(root, ())
    return marked


class _Walker:
    def __init__(self, marked: Marked) -> None:
        self.marked = marked
        self.constructor = SafeConstructor()

    def convert(self, node: Node, path: Path) -> Any:
        self.marked.values[path] = _position(node)
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
        if isinstance(node, ScalarNode):
            try:
                return self.constructor.construct_object(node, deep=True)
            except yaml.YAMLError as exc:
                line, column = _position(node)
                self.marked.problems.append((path, line, column, f"bad value: {exc}"))
                return None
        return None

    def _mapping(self, node: MappingNode, path: Path) -> dict[str, Any]:
        seen: dict[str, Position] = {}
        explicit: set[int] = set()
        first: set[int] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            explicit.add(id(key_node))
            name = self._key(key_node, path)
            where = _position(key_node)
            if name in seen:
                self.marked.problems.append(
                    (
                        (*path, name),
                        *where,
                        f"duplicate key {name!r} (first at line {seen[name][0]}); "
                        "names must be unique",
                    )
                )
            else:
                seen[name] = where
                first.add(id(key_node))
        try:
            # resolves `<<:` merge keys in place: merged pairs first, explicit keys after
            self.constructor.flatten_mapping(node)
        except yaml.YAMLError as exc:
            self.marked.problems.append((path, *_position(node), f"bad merge key: {exc}"))
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if id(key_node) in explicit and id(key_node) not in first:
                continue  # a duplicate, reported above: the first occurrence counts
            name = self._key(key_node, path, report=False)
            child = (*path, name)
            self.marked.keys[child] = _position(key_node)
            result[name] = self.convert(value_node, child)  # later pairs win, as in YAML
        return result

    def _key(self, node: Node, path: Path, report: bool = True) -> str:
        if isinstance(node, ScalarNode):
            try:
                value = self.constructor.construct_object(node, deep=True)
            except yaml.YAMLError:
                value = node.value
            if isinstance(value, str):
                return value
            if report:
                line, column = _position(node)
                self.marked.problems.append(
                    (
                        (*path, str(node.value)),
                        line,
                        column,
                        f"key {node.value!r} must be a string (quote it)",
                    )
                )
            return str(node.value)
        if report:
            line, column = _position(node)
            self.marked.problems.append((path, line, column, "a key must be a plain name"))
        return f"<{node.id} key>"


def _position(node: Node) -> Position:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _nearest(table: dict[Path, Position], path: Path) -> Position:
    while path not in table and path:
        path = path[:-1]
    return table.get(path, (1, 1))
