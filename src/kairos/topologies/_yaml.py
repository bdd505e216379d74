"""YAML reading that remembers where every key and value was, and refuses duplicate keys.

PyYAML's ``safe_load`` forgets positions and lets a repeated key silently overwrite the
first.  Here the document is composed into nodes (which carry marks) and converted by hand:
plain Python values come back together with a table of 1-based (line, column) positions
keyed by the path of each key and value, and every duplicate key becomes a problem.

A topology file may come from anyone, so reading it is bounded: nesting deeper than
:data:`MAX_DEPTH`, an alias that contains itself, or aliases that expand the document past
:data:`MAX_VALUES` values stop the reading with one located error (PyYAML itself would
recurse until the interpreter gives up, or expand a "billion laughs" file until memory does).
A scalar whose explicit tag does not fit its text (``!!int x``) is a located problem, and so
is a number that is not finite or beyond float range: the topology travels to the actors as
JSON, which has no NaN or infinity.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any, Final

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Path = tuple[Any, ...]
Position = tuple[int, int]

#: Deepest nesting of lists and mappings read (a topology needs about six levels).
MAX_DEPTH: Final = 64
#: Most values a document may expand to through aliases (the largest real topologies hold a
#: few thousand; a "billion laughs" file holds billions).
MAX_VALUES: Final = 100_000

#: What SafeConstructor raises for a scalar whose text does not fit its tag: ``!!int x`` is
#: a ValueError, ``!!int ''`` an IndexError, ``!!timestamp z`` an AttributeError, ``!!bool x``
#: a KeyError; unknown tags and bad ``!!binary`` are YAMLErrors.
_BAD_SCALAR = (yaml.YAMLError, ValueError, TypeError, AttributeError, IndexError, KeyError)
#: open brackets the pure-Python scanner reads before it stops (see _PureLoader)
_MAX_OPEN: Final = 4 * MAX_DEPTH
_STANDARD_TAG = "tag:yaml.org,2002:"
_MERGE = _STANDARD_TAG + "merge"


@dataclass
class Marked:
    """A parsed document: the data, where each path's value and key sit, and problems."""

    data: Any
    values: dict[Path, Position] = field(default_factory=dict)
    keys: dict[Path, Position] = field(default_factory=dict)
    #: (path, line, column, message) for duplicate or non-string keys
    problems: list[tuple[Path, int, int, str]] = field(default_factory=list)
    #: paths of values already reported as unreadable (a bad tag, not finite): any further
    #: complaint about them (wrong type, out of range) would only repeat the problem
    refused: set[Path] = field(default_factory=set)

    def value_at(self, path: Path) -> Position:
        """Position of the value at ``path``, or of the nearest enclosing value."""
        return _nearest(self.values, path)

    def key_at(self, path: Path) -> Position:
        """Position of the key that ends ``path`` (falls back to its value, then parents)."""
        if path in self.keys:
            return self.keys[path]
        return _nearest(self.values, path)


class YamlSyntaxError(Exception):
    """The text is not one well-formed YAML document within the reading bounds (too deep, a
    recursive alias, too many values); carries a 1-based position."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


def parse(text: str) -> Marked:
    """Parse one YAML document, keeping positions; raise YamlSyntaxError if it is not YAML."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except _TooDeep as exc:
        raise YamlSyntaxError(_too_deep(), exc.line, exc.column) from None
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


class _TooDeep(Exception):
    def __init__(self, line: int, column: int) -> None:
        super().__init__(_too_deep())
        self.line = line
        self.column = column


def _too_many() -> str:
    return (
        f"document expands to more than {MAX_VALUES} values (aliases of aliases?); "
        "a topology needs far fewer"
    )


def _too_deep() -> str:
    return f"nesting too deep: more than {MAX_DEPTH} levels of lists and mappings"


class _DepthLimit:
    """Stops PyYAML's (recursive) composer at MAX_DEPTH instead of at the interpreter's
    recursion limit."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[attr-defined]
                raise _TooDeep(mark.line + 1, mark.column + 1)
            return super().compose_node(parent, index)  # type: ignore[misc, no-any-return]
        finally:
            self._depth -= 1


class _PureLoader(_DepthLimit, yaml.SafeLoader):
    """The pure-Python SafeLoader, bounded; its scanner also stops at _MAX_OPEN brackets.

    The scanner check is about time: every open ``[`` or ``{`` is a possible simple key that
    PyYAML rechecks at each token until its line ends, so a line of n brackets costs n² (the
    fuzzer's slowest topology, 2.5 KB, took 685 ms).  The scanner reads ahead of the composer,
    so its limit is above MAX_DEPTH: up to there the composer reports the same place as with
    libyaml.
    """

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        if self.flow_level >= _MAX_OPEN:
            mark = self.get_mark()
            raise _TooDeep(mark.line + 1, mark.column + 1)
        super().fetch_flow_collection_start(TokenClass)


def _libyaml_loader() -> type | None:
    """libyaml's scanner and parser (8x faster) feeding PyYAML's bounded Python composer.

    Not ``CSafeLoader``: its composer is C recursion, which no depth limit reaches.
    """
    try:
        from yaml._yaml import CParser
    except ImportError:  # PyYAML built without libyaml: the pure loader does the same job
        return None
    from yaml.composer import Composer
    from yaml.resolver import Resolver

    class _LibyamlLoader(_DepthLimit, Composer, CParser, Resolver):  # type: ignore[misc]
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            Resolver.__init__(self)

    return _LibyamlLoader


_Loader: type = _libyaml_loader() or _PureLoader


class _Walker:
    def __init__(self, marked: Marked) -> None:
        self.marked = marked
        self.constructor = SafeConstructor()
        self.count = 0
        #: ids of the collection nodes being converted (the current path): an alias to one
        #: of them would expand forever
        self.open: set[int] = set()
        #: merge-key flattening: sizes of the mappings checked, ids of those being checked
        self.merged: dict[int, int] = {}
        self.merging: set[int] = set()

    def convert(self, node: Node, path: Path) -> Any:
        where = _position(node)
        self.count += 1
        if self.count > MAX_VALUES:
            raise YamlSyntaxError(_too_many(), *where)
        if len(path) > MAX_DEPTH:  # reachable through aliases only: the composer checks too
            raise YamlSyntaxError(_too_deep() + " (through aliases)", *where)
        self.marked.values[path] = where
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        if not isinstance(node, (MappingNode, SequenceNode)):
            return None
        if id(node) in self.open:
            raise YamlSyntaxError(
                "recursive alias: the value anchored here contains an alias to itself", *where
            )
        self.open.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
        finally:
            self.open.discard(id(node))

    def _scalar(self, node: ScalarNode, path: Path) -> Any:
        line, column = _position(node)
        try:
            value = self.constructor.construct_object(node, deep=True)
        except _BAD_SCALAR as exc:
            self.marked.problems.append((path, line, column, _bad_scalar(node, exc)))
            self.marked.refused.add(path)
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.marked.refused.add(path)
            self.marked.problems.append(
                (
                    path,
                    line,
                    column,
                    f"{node.value} is not a finite number; every number in a topology must be "
                    "finite (it reaches the actors as JSON, which has no NaN or infinity)",
                )
            )
        elif isinstance(value, int) and abs(value) > sys.float_info.max:
            self.marked.refused.add(path)
            self.marked.problems.append(
                (path, line, column, f"{_cut(node.value)} is too large for any setting")
            )
        return value

    def _mapping(self, node: MappingNode, path: Path) -> dict[str, Any]:
        seen: dict[str, Position] = {}
        explicit: set[int] = set()
        first: set[int] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
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
            if any(key.tag == _MERGE for key, _ in node.value):
                self._merged_size(node)  # flatten_mapping recurses and copies without bound
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

    def _merged_size(self, node: MappingNode) -> int:
        """How many pairs ``node`` holds once its merge keys are flattened; raises on a merge
        cycle, a merge chain deeper than MAX_DEPTH or a size beyond MAX_VALUES."""
        known = self.merged.get(id(node))
        if known is not None:
            return known
        where = _position(node)
        if id(node) in self.merging:
            raise YamlSyntaxError(
                "recursive alias: a merge key (<<) merges this mapping into itself", *where
            )
        if len(self.merging) >= MAX_DEPTH:
            raise YamlSyntaxError(_too_deep() + " (through merge keys)", *where)
        self.merging.add(id(node))
        try:
            size = 0
            for key, value in node.value:
                if key.tag != _MERGE:
                    size += 1
                    continue
                sources = value.value if isinstance(value, SequenceNode) else [value]
                for source in sources:
                    if isinstance(source, MappingNode):  # flatten_mapping reports the rest
                        size += self._merged_size(source)
        finally:
            self.merging.discard(id(node))
        if size > MAX_VALUES:
            raise YamlSyntaxError(_too_many(), *where)
        self.merged[id(node)] = size
        return size

    def _key(self, node: Node, path: Path, report: bool = True) -> str:
        if isinstance(node, ScalarNode):
            try:
                value = self.constructor.construct_object(node, deep=True)
            except _BAD_SCALAR:
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


def _bad_scalar(node: ScalarNode, exc: BaseException) -> str:
    """'bad value for tag !!int: 'x'', plus PyYAML's reason when it gives one."""
    tag = node.tag
    shown = "!!" + tag[len(_STANDARD_TAG) :] if tag.startswith(_STANDARD_TAG) else tag
    message = f"bad value for tag {shown}: {_cut(node.value)!r}"
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        message += f" ({exc.problem})"
    return message


def _cut(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _position(node: Node) -> Position:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _nearest(table: dict[Path, Position], path: Path) -> Position:
    while path not in table and path:
        path = path[:-1]
    return table.get(path, (1, 1))
