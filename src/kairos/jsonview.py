"""Kairos messages as JSON, with a JSON Schema for each stream: what Foxglove and any MCAP
viewer can read (``kairos bridge foxglove``, ``kairos record export``; docs/recording.md).

The schemas are generated here, from the one definition of each record (the dataclasses of
:mod:`kairos.records`: field names, their wire names, their types, which keys are required)
and, for array streams, from the columns a message carries (``fields``, dtype).  Nothing
re-spells a record's keys.

One wire message becomes one or more JSON messages, each at a *sample* time, so a viewer's
time axis is mesh time, not receive time:

* an array message gives one JSON message per row: ``{"timestamp", "wire", <field>: value}``
  (a row without column names is ``{"value": ...}``), stamped with that row's sample time;
* a record message gives one JSON message: ``{"timestamp", "wire", **record}``, the typed
  record encoded again (so defaults an older producer omitted are filled in), stamped with
  its last sample time.

``timestamp`` is ``{"sec", "nsec"}``, the time convention Foxglove documents for JSON;
``wire`` holds the header fields (``seq``, ``epoch``, ``sent_ns``) and ``row``, the row's
index in its message.  JSON has no NaN or infinity: a non-finite number is written ``null``
(and every number's schema allows it).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Union

import numpy as np

from kairos import records
from kairos.records import (
    ROLE_STATS,
    Event,
    InputStats,
    MeshState,
    NodeState,
    Pulse,
    Witness,
    record_class,
)

#: JSON Schema dialect of every schema (Foxglove reads draft 2020-12 and older)
DIALECT = "https://json-schema.org/draft/2020-12/schema"
#: MCAP / Foxglove WebSocket encodings of the JSON view
SCHEMA_ENCODING = "jsonschema"
MESSAGE_ENCODING = "json"
#: the keys every JSON message has beside its values
TIMESTAMP_KEY = "timestamp"
WIRE_KEY = "wire"
#: the key of a row's values when the array names no columns
VALUE_KEY = "value"

_NUMBER: dict[str, Any] = {"type": ["number", "null"]}
_TIMESTAMP: dict[str, Any] = {
    "type": "object",
    "title": "sample time (mesh time)",
    "properties": {
        "sec": {"type": "integer", "minimum": 0},
        "nsec": {"type": "integer", "minimum": 0, "maximum": 999_999_999},
    },
    "required": ["sec", "nsec"],
}
_WIRE: dict[str, Any] = {
    "type": "object",
    "title": "wire header of the message this sample came in",
    "properties": {
        "seq": {"type": "integer"},
        "epoch": {"type": "integer"},
        "sent_ns": {"type": "integer"},
        "row": {"type": "integer", "minimum": 0},
    },
    "required": ["seq", "epoch", "sent_ns", "row"],
}


# -- schemas of the records, from their dataclasses ----------------------------------------------


def _type_schema(hint: Any) -> dict[str, Any]:
    """The JSON Schema of one annotated field type."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        inner = _type_schema(options[0]) if len(options) == 1 else {}
        if type(None) in args:
            kind = inner.get("type")
            if isinstance(kind, str):
                return {**inner, "type": [kind, "null"]}
            if isinstance(kind, list):
                return {**inner, "type": sorted(set(kind) | {"null"})}
            return {"anyOf": [inner, {"type": "null"}]}
        return inner
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is float:
        return dict(_NUMBER)
    if hint is str:
        return {"type": "string"}
    if hint is complex:  # on the wire [re, im]
        return {"type": "array", "items": dict(_NUMBER), "minItems": 2, "maxItems": 2}
    if origin in (tuple, list, Sequence) and args:
        return {"type": "array", "items": _type_schema(args[0])}
    if origin in (Mapping, dict) and len(args) == 2:
        return {"type": "object", "additionalProperties": _type_schema(args[1])}
    if dataclasses.is_dataclass(hint):
        return record_schema(hint)  # type: ignore[arg-type]
    raise TypeError(f"no JSON Schema for the field type {hint!r}")


def _properties(cls: type, skip: Sequence[str] = ()) -> dict[str, Any]:
    """Wire key -> schema of every field of a record class."""
    hints = typing.get_type_hints(cls, vars(records))
    renamed: Mapping[str, str] = getattr(cls, "RENAMED", {})
    return {
        renamed.get(f.name, f.name): _type_schema(hints[f.name])
        for f in dataclasses.fields(cls)
        if f.name not in skip
    }


def record_schema(cls: type) -> dict[str, Any]:
    """The JSON Schema of one record class's payload: its keys, their types, the required
    ones (the class's ``KEYS``); unknown keys are allowed, as a reader ignores them."""
    skip = ("role_fields",) if cls is Witness else ()
    properties = _properties(cls, skip)
    if cls is Witness:  # each role's own keys travel beside the common ones
        for stats in ROLE_STATS.values():
            for key, schema in _properties(stats).items():
                properties.setdefault(key, schema)
    if cls is Event:
        properties["kind"] = {"type": "string", "enum": list(records.EVENT_KINDS)}
        properties["window"] = {"type": "string", "enum": list(records.EVENT_WINDOWS)}
    return {
        "type": "object",
        "title": cls.__name__,
        "description": (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " "),
        "properties": properties,
        "required": list(cls.KEYS),  # type: ignore[attr-defined]
        "additionalProperties": True,
    }


def _message_schema(title: str, properties: Mapping[str, Any], required: Sequence[str]) -> dict:
    return {
        "$schema": DIALECT,
        "type": "object",
        "title": title,
        "properties": {TIMESTAMP_KEY: _TIMESTAMP, WIRE_KEY: _WIRE, **properties},
        "required": [TIMESTAMP_KEY, WIRE_KEY, *required],
    }


#: the record classes that travel on their own streams (records.record_class)
RECORD_CLASSES = (MeshState, Pulse, Event, Witness)
#: classes that only appear inside another record
NESTED_CLASSES = (NodeState, InputStats)


def schema_name(cls_or_kind: type | str) -> str:
    """The MCAP / Foxglove schema name of a record class, or of an array stream's kind."""
    name = cls_or_kind if isinstance(cls_or_kind, str) else cls_or_kind.__name__
    return f"kairos.{name}"


def record_message_schema(cls: type) -> dict[str, Any]:
    """The schema of the JSON messages of a record stream carrying ``cls``."""
    body = record_schema(cls)
    schema = _message_schema(cls.__name__, body["properties"], body["required"])
    schema["description"] = body["description"]
    return schema


def array_message_schema(title: str, fields: Sequence[str], dtype: np.dtype | str) -> dict:
    """The schema of the JSON messages of an array stream: one per row, its columns named
    by ``fields`` (an array without column names: ``value``, a number or a list)."""
    value = _dtype_schema(np.dtype(dtype))
    if fields:
        properties = {name: value for name in fields}
        return _message_schema(title, properties, list(fields))
    either = {"anyOf": [value, {"type": "array", "items": value}]}
    return _message_schema(title, {VALUE_KEY: either}, [VALUE_KEY])


def _dtype_schema(dtype: np.dtype) -> dict[str, Any]:
    if dtype.kind == "b":
        return {"type": "boolean"}
    if dtype.kind in "iu":
        return {"type": "integer"}
    if dtype.kind == "c":
        return {
            "type": "object",
            "properties": {"re": _NUMBER, "im": _NUMBER},
            "required": ["re", "im"],
        }
    return dict(_NUMBER)


# -- messages ----------------------------------------------------------------------------------


def timestamp(t_ns: int) -> dict[str, int]:
    """``{"sec", "nsec"}`` of a mesh time in ns (Foxglove's JSON time)."""
    sec, nsec = divmod(int(t_ns), 1_000_000_000)
    return {"sec": sec, "nsec": nsec}


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float made None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _cell(value: Any) -> Any:
    if isinstance(value, (complex, np.complexfloating)):
        return {"re": _finite(float(value.real)), "im": _finite(float(value.imag))}
    if isinstance(value, np.ndarray):
        return [_cell(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    return _finite(value)


def json_messages(message: Any, record: Any = None) -> list[tuple[int, dict[str, Any]]]:
    """``(sample time ns, JSON message)`` for each sample of a decoded wire message
    (:class:`kairos.wire.Message`), given its typed ``record`` if already decoded; a record
    that does not decode raises WireError."""
    times = message.times
    wire = {"seq": message.seq, "epoch": message.epoch, "sent_ns": message.sent_ns}
    if message.is_record:
        if record is None:
            record = record_class(message.stream).decode(message.data, message.stream)
        t_ns = int(times[-1]) if len(times) else int(message.sent_ns)
        body = {
            TIMESTAMP_KEY: timestamp(t_ns),
            WIRE_KEY: {**wire, "row": 0},
            **_finite(record.encode()),
        }
        return [(t_ns, body)]
    data = message.data
    fields = tuple(message.fields)
    out = []
    for row, t_ns in enumerate(times.tolist()):
        body = {TIMESTAMP_KEY: timestamp(t_ns), WIRE_KEY: {**wire, "row": row}}
        values = data[row]
        if fields and getattr(values, "ndim", 0) == 1 and len(values) == len(fields):
            body.update({name: _cell(v) for name, v in zip(fields, values, strict=True)})
        else:
            body[VALUE_KEY] = _cell(values)
        out.append((t_ns, body))
    return out


def message_schema(message: Any) -> tuple[str, dict[str, Any]]:
    """The schema name and schema of the JSON messages of ``message``'s stream."""
    if message.is_record:
        cls = record_class(message.stream)
        return schema_name(cls), record_message_schema(cls)
    fields = tuple(message.fields)
    data = message.data
    if fields and (data.ndim != 2 or data.shape[1] != len(fields)):
        fields = ()
    kind = "Rows" if fields else "Samples"
    return schema_name(kind), array_message_schema(kind, fields, data.dtype)
