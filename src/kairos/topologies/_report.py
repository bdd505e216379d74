"""Collecting topology problems, located by file, line and column, in words a user can act on.

Also translates JSON Schema errors (from the ``jsonschema`` library) into such problems: an
unknown key names the nearest valid key, an enum names every valid value, and so on.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

from kairos.errors import Problem
from kairos.topologies._yaml import Marked, Path


def label(path: Path) -> str:
    """A path as users write it: ``actors.osc-a.inputs[1]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def nearest(word: str, valid: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest valid word, or ''."""
    match = difflib.get_close_matches(word, list(valid), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def one_of(valid: Iterable[str]) -> str:
    names = sorted(valid)
    return ", ".join(names) if names else "(none declared)"


class Report:
    """The problems found in one file so far."""

    def __init__(self, file: str, marked: Marked) -> None:
        self.file = file
        self.marked = marked
        self.problems: list[Problem] = []

    def at_value(self, path: Path, message: str) -> None:
        """A problem with the value at ``path`` (points at the value)."""
        line, column = self.marked.value_at(path)
        self.problems.append(Problem(self.file, line, column, label(path), message))

    def at_key(self, path: Path, message: str) -> None:
        """A problem with the key that ends ``path`` (points at the key)."""
        line, column = self.marked.key_at(path)
        self.problems.append(Problem(self.file, line, column, label(path), message))

    def at(self, path: Path, line: int, column: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, column, label(path), message))

    def sorted(self) -> list[Problem]:
        unique = dict.fromkeys(self.problems)  # one report per distinct problem, in order
        return sorted(unique, key=lambda p: (p.line, p.column, p.key))

    # -- JSON Schema ---------------------------------------------------------------------

    def schema_errors(self, errors: Iterable[Any], prefix: Path = ()) -> None:
        """Turn jsonschema ValidationErrors for data at ``prefix`` into problems."""
        for error in errors:
            self._schema_error(error, prefix)

    def _schema_error(self, error: Any, prefix: Path) -> None:
        path: Path = (*prefix, *error.absolute_path)
        kind = error.validator
        value = error.instance
        if path in self.marked.refused:
            return  # the YAML reader could not take this value and said so
        schema = error.schema if isinstance(error.schema, dict) else {}
        if "propertyNames" in error.absolute_schema_path:
            description = schema.get("description", "not a valid name")
            self.at_key((*path, value), f"name {show(value)} is not valid: {description}")
        elif kind == "additionalProperties":
            allowed = set(schema.get("properties", {}))
            for key in value:
                if key not in allowed:
                    self.at_key(
                        (*path, key),
                        f"unknown key {show(key)}{nearest(str(key), allowed)}; "
                        f"valid: {one_of(allowed)}",
                    )
        elif kind == "required":
            for key in error.validator_value:
                if key not in value:
                    because = _because(value, key, schema)
                    self.at_key(path, f"missing required key {key!r}{because}")
        elif kind == "enum":
            what = path[-1] if path and isinstance(path[-1], str) else "value"
            self.at_value(
                path, f"unknown {what} {show(value)}; valid: {', '.join(error.validator_value)}"
            )
        elif kind == "type":
            self.at_value(path, f"must be {_article(error.validator_value)}, not {_kind(value)}")
        elif kind in _BOUNDS:
            self.at_value(
                path,
                f"{show(value)} is out of range; valid: {_BOUNDS[kind]} {error.validator_value}",
            )
        elif kind == "pattern":
            description = schema.get("description", f"must match {error.validator_value}")
            self.at_value(path, f"{show(value)} is not valid: {description}")
        elif kind == "minItems":
            self.at_value(path, "must not be empty; list at least one name")
        elif kind == "uniqueItems":
            self.at_value(path, "lists the same name twice; each may appear once")
        elif kind == "minProperties":
            self.at_value(path, "must not be empty; declare at least one")
        elif kind == "minLength":
            self.at_value(path, "must not be empty")
        elif kind in ("oneOf", "anyOf"):
            self._alternatives(error, prefix, schema)
        else:
            self.at_value(path, error.message)

    def _alternatives(self, error: Any, prefix: Path, schema: dict[str, Any]) -> None:
        """For `a or b` schemas, report the branch of the value's own type, if there is one."""
        value = error.instance
        branches: Sequence[Any] = error.validator_value
        for index, branch in enumerate(branches):
            if isinstance(branch, dict) and branch.get("type") == _json_type(value):
                inner = [e for e in error.context if e.relative_schema_path[0] == index]
                if inner:
                    self.schema_errors(inner, prefix)
                    return
        path: Path = (*prefix, *error.absolute_path)
        description = schema.get("description", error.message)
        self.at_value(path, f"{show(value)} is not valid; valid: {description}")


_BOUNDS = {
    "minimum": "≥",
    "maximum": "≤",
    "exclusiveMinimum": ">",
    "exclusiveMaximum": "<",
}


def _because(instance: Any, key: str, schema: dict[str, Any]) -> str:
    if isinstance(instance, dict) and isinstance(instance.get("role"), str):
        return f" (every {instance['role']} needs {key})"
    prop = schema.get("properties", {}).get(key)
    description = prop.get("description") if isinstance(prop, dict) else None
    return f" ({key}: {description})" if description else ""


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (int, float)):
        return "number"
    return "null"


def _kind(value: Any) -> str:
    names = {"object": "a mapping", "array": "a list", "null": "empty"}
    kind = _json_type(value)
    return names.get(kind, f"{_article(kind)} {show(value)}".strip())


def _article(kind: Any) -> str:
    if isinstance(kind, list):
        return " or ".join(_article(k) for k in kind)
    names = {"object": "a mapping", "array": "a list", "integer": "an integer"}
    return names.get(kind, f"a {kind}")
