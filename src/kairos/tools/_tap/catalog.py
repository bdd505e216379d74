"""The streams a topology's actors publish, with their endpoint and what they carry.

``kairos tap --list`` prints them and ``kairos bridge foxglove`` makes each a channel.  What
each role publishes is what the actors send (kairos.actors.sensor/engine/sync and the runtime's
witness; docs/architecture.md, "Streams"): a sensor its samples, an engine its rows
(kairos.actors.engine.ENGINE_FIELDS) and its events, a sync the mesh state, the pulse and its
events, and every actor a witness once a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kairos.records import (
    EVENTS_STREAM,
    PULSE_STREAM,
    WITNESS_STREAM,
    Event,
    MeshState,
    Pulse,
    Witness,
    stream_name,
)

#: what a stream carries: a record class, or rows of an array
SAMPLES = "samples"
ENGINE_ROWS = "engine rows"

#: role -> (stream suffix, what it carries) of every stream an actor of that role publishes
ROLE_STREAMS: dict[str, tuple[tuple[str, Any], ...]] = {
    "sensor": (("", SAMPLES), (WITNESS_STREAM, Witness)),
    "engine": (("", ENGINE_ROWS), (EVENTS_STREAM, Event), (WITNESS_STREAM, Witness)),
    "sync": (
        ("", MeshState),
        (PULSE_STREAM, Pulse),
        (EVENTS_STREAM, Event),
        (WITNESS_STREAM, Witness),
    ),
    "output": ((WITNESS_STREAM, Witness),),
}


@dataclass(frozen=True)
class StreamInfo:
    """One stream of a topology: who publishes it where, and what it carries."""

    stream: str
    actor: str
    role: str
    endpoint: str
    #: a record class (MeshState, Pulse, Event, Witness), ENGINE_ROWS or SAMPLES
    carries: Any

    @property
    def type_name(self) -> str:
        return self.carries if isinstance(self.carries, str) else self.carries.__name__


def topology_streams(topology: Any) -> list[StreamInfo]:
    """Every stream the actors of a loaded topology publish, in topology order."""
    out = []
    for name, actor in topology.actors.items():
        for suffix, carries in ROLE_STREAMS.get(actor.role, ((WITNESS_STREAM, Witness),)):
            out.append(
                StreamInfo(
                    stream_name(name, suffix), name, actor.role, topology.endpoint(name), carries
                )
            )
    return out


# -- JSON schemas of streams (the bridge's channels, the exported recording's) -----------------

#: the schema title of an engine's rows
ENGINE_ROW = "EngineRow"


def stream_schema(info: StreamInfo) -> tuple[str, dict[str, Any]]:
    """Schema name and JSON schema of a topology stream (kairos.jsonview)."""
    from kairos import jsonview

    if info.carries == ENGINE_ROWS:
        return _engine_schema()
    if info.carries == SAMPLES:
        raise ValueError(f"{info.stream}: a sensor's samples have a schema only per message")
    return jsonview.schema_name(info.carries), jsonview.record_message_schema(info.carries)


def message_schema(message: Any) -> tuple[str, dict[str, Any]]:
    """Schema name and JSON schema of the stream of a decoded message: an engine's rows as
    :func:`stream_schema` gives them, anything else from the message (kairos.jsonview)."""
    from kairos import jsonview
    from kairos.actors.engine import ENGINE_FIELDS

    if not message.is_record and tuple(message.fields) == ENGINE_FIELDS:
        return _engine_schema()
    return jsonview.message_schema(message)


def _engine_schema() -> tuple[str, dict[str, Any]]:
    from kairos import jsonview
    from kairos.actors.engine import ENGINE_FIELDS

    schema = jsonview.array_message_schema(ENGINE_ROW, ENGINE_FIELDS, "<f8")
    return jsonview.schema_name(ENGINE_ROW), schema
