"""Load a topology file into a resolved :class:`~kairos.topologies.model.Topology`.

Validation happens before anything starts and reports every problem of a file at once, each
located by file, line and column: YAML syntax, duplicate keys, the JSON Schema
(``schema.json``, shipped with the package), then the cross-checks of
:mod:`kairos.topologies._resolve`.  Any problem raises :class:`~kairos.errors.TopologyError`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from kairos.errors import Problem, TopologyError
from kairos.hardware.detect import Detection, detect_class
from kairos.registry import ROLES
from kairos.topologies._report import Report
from kairos.topologies._resolve import resolve
from kairos.topologies._yaml import Marked, YamlSyntaxError, parse
from kairos.topologies.model import Topology

__all__ = ["load", "load_text", "schema"]


@functools.cache
def schema() -> dict[str, Any]:
    """The topology JSON Schema (draft 2020-12) shipped as ``kairos/topologies/schema.json``."""
    text = resources.files("kairos.topologies").joinpath("schema.json").read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    document["$defs"]["actor"]["properties"]["role"]["enum"] = list(ROLES)  # the one list
    return document


def load(path: str | Path, *, detect: Callable[[], Detection] = detect_class) -> Topology:
    """Read, validate and resolve the topology file at ``path``.

    ``detect`` resolves ``class: auto`` devices (default: this machine's detection).
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise TopologyError(
            [Problem(str(path), 1, 1, "", f"cannot read the file: {reason}")]
        ) from None
    return load_text(text, str(path), path=file, detect=detect)


def load_text(
    text: str,
    name: str = "<topology>",
    *,
    path: Path | None = None,
    detect: Callable[[], Detection] = detect_class,
) -> Topology:
    """Validate and resolve topology ``text``; ``name`` is the file name used in problems."""
    try:
        marked = parse(text)
    except YamlSyntaxError as exc:
        raise TopologyError([Problem(name, exc.line, exc.column, "", exc.message)]) from None
    report = Report(name, marked)
    data = marked.data
    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        line, column = marked.value_at(())
        raise TopologyError(
            [
                Problem(
                    name,
                    line,
                    column,
                    "",
                    f"a topology is a mapping with name, devices and actors, not {found}",
                )
            ]
        )
    _validate_schema(marked, report)
    topology = resolve(data, report, path if path is not None else Path(name), detect)
    if report.problems or topology is None:
        raise TopologyError(report.sorted())
    return topology


def _validate_schema(marked: Marked, report: Report) -> None:
    from jsonschema import Draft202012Validator

    for path, line, column, message in marked.problems:
        report.at(path, line, column, message)
    validator = Draft202012Validator(schema())
    report.schema_errors(validator.iter_errors(marked.data))
