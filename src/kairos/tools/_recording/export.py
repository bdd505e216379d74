"""``kairos record export``: a recording as JSON MCAP (any MCAP viewer) or as CSV files.

The recording itself stays raw wire frames (replay must be bit-identical); an export is a
view of it.  Both formats hold one row per *sample* (kairos.jsonview): an engine message of
8 rows gives 8 JSON messages, a record message gives one.

* ``json``: one channel per stream, schema encoding ``jsonschema``, message encoding
  ``json`` (the MCAP conventions Foxglove documents), log time = the sample's mesh time,
  publish time = the message's ``sent_ns``, sequence = its ``seq``; the recording's
  ``kairos.recording`` and ``kairos.clock`` metadata are copied as they are.
* ``csv``: a directory with one ``<stream>.csv`` per stream (``/`` becomes ``.``): columns
  ``t_ns, seq, epoch, sent_ns, row`` and the values, nested maps flattened with dots
  (``nodes.coherent.coherence``), lists written as JSON text.  Two passes over the
  recording (columns first), so memory does not grow with its length.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kairos import jsonview, wire
from kairos.errors import RecordingError
from kairos.tools._recording import format as fmt
from kairos.tools._recording.reader import Extras, read

FORMATS = ("json", "csv")
#: the CSV columns every stream has, before its values
CSV_LEAD = ("t_ns", "seq", "epoch", "sent_ns", "row")


def _samples(path: Path, extras: Extras) -> Iterator[tuple[Any, wire.Message, list]]:
    """``(recorded, message, [(t_ns, json message)])`` for each message of the recording."""
    for recorded in read(path, extras):
        frames = [recorded.stream.encode(), recorded.header, recorded.times, recorded.payload]
        where = f"{path}: stream {recorded.stream!r} at log time {recorded.log_time}"
        try:
            message = wire.decode(frames)
            yield recorded, message, jsonview.json_messages(message)
        except wire.WireError as exc:
            raise RecordingError(f"{where}: {exc}") from None


def export_json(path: Path, out: Path) -> dict[str, int]:
    """Write ``path`` as a JSON MCAP file ``out``; JSON messages written per stream."""
    from mcap.writer import CompressionType, Writer

    from kairos import __version__
    from kairos.tools._tap.catalog import message_schema

    counts: dict[str, int] = {}
    extras = Extras()
    try:
        handle = out.open("wb")
    except OSError as exc:
        raise RecordingError(f"{out}: cannot create: {exc.strerror}") from None
    with handle:
        writer = Writer(handle, compression=CompressionType.LZ4)
        writer.start(profile="", library=f"kairos {__version__}")
        schemas: dict[tuple[str, str], int] = {}
        channels: dict[str, int] = {}
        for recorded, message, samples in _samples(path, extras):
            channel = channels.get(message.stream)
            if channel is None:
                name, schema = message_schema(message)
                text = json.dumps(schema)
                schema_id = schemas.get((name, text))
                if schema_id is None:
                    schema_id = schemas[(name, text)] = writer.register_schema(
                        name, jsonview.SCHEMA_ENCODING, text.encode()
                    )
                channel = channels[message.stream] = writer.register_channel(
                    message.stream,
                    jsonview.MESSAGE_ENCODING,
                    schema_id,
                    dict(recorded.channel_metadata),
                )
                counts[message.stream] = 0
            for t_ns, body in samples:
                writer.add_message(
                    channel,
                    log_time=t_ns,
                    data=json.dumps(body, allow_nan=False).encode(),
                    publish_time=message.sent_ns,
                    sequence=message.seq % 2**32,
                )
            counts[message.stream] += len(samples)
        if extras.recording:
            writer.add_metadata(fmt.RECORDING_METADATA, extras.recording)
        for clock in extras.clocks:
            writer.add_metadata(fmt.CLOCK_METADATA, clock)
        writer.finish()
    return counts


def csv_name(stream: str) -> str:
    """The CSV file of a stream: ``mesh/pulse`` -> ``mesh.pulse.csv``."""
    return stream.replace("/", ".") + ".csv"


def _flat(body: dict[str, Any]) -> dict[str, Any]:
    head = body[jsonview.WIRE_KEY]
    t = body[jsonview.TIMESTAMP_KEY]
    row: dict[str, Any] = {
        "t_ns": t["sec"] * 1_000_000_000 + t["nsec"],
        **{key: head[key] for key in CSV_LEAD[1:]},
    }
    for key, value in body.items():
        if key not in (jsonview.WIRE_KEY, jsonview.TIMESTAMP_KEY):
            _flatten(key, value, row)
    return row


def _flatten(prefix: str, value: Any, into: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}", inner, into)
    elif isinstance(value, list):
        into[prefix] = json.dumps(value)
    else:
        into[prefix] = "" if value is None else value


def export_csv(path: Path, out: Path) -> dict[str, int]:
    """Write one CSV file per stream of ``path`` into the directory ``out``."""
    columns: dict[str, dict[str, None]] = {}
    for _, message, samples in _samples(path, Extras()):
        seen = columns.setdefault(message.stream, dict.fromkeys(CSV_LEAD))
        for _, body in samples:
            seen.update(dict.fromkeys(_flat(body)))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RecordingError(f"{out}: cannot create the directory: {exc.strerror}") from None
    handles = {}
    writers = {}
    counts = dict.fromkeys(columns, 0)
    try:
        for stream, names in columns.items():
            handles[stream] = (out / csv_name(stream)).open("w", newline="")
            writers[stream] = csv.DictWriter(handles[stream], fieldnames=list(names))
            writers[stream].writeheader()
        for _, message, samples in _samples(path, Extras()):
            for _, body in samples:
                writers[message.stream].writerow(_flat(body))
            counts[message.stream] += len(samples)
    finally:
        for handle in handles.values():
            handle.close()
    return counts
