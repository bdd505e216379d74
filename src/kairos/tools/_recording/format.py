"""How one Kairos message is stored in an MCAP message record (see docs/recording.md).

The MCAP message data is the exact received wire frames after the topic (the topic is the
channel's topic): header, times and payload, each preceded by its length as a little-endian
uint32.  Replay sends these bytes back verbatim, so a replayed message is byte-identical to
the recorded one.
"""

from __future__ import annotations

import fnmatch
import struct
from collections.abc import Sequence

from kairos.errors import RecordingError
from kairos.records import split_stream

MESSAGE_ENCODING = "kairos-wire-v1"
SCHEMA_NAME = "kairos.wire.v1"
SCHEMA_ENCODING = "text"
#: Name of the metadata record written once at the start of a recording.
RECORDING_METADATA = "kairos.recording"
#: Name of the metadata records carrying one device's clock offset to mesh time.
CLOCK_METADATA = "kairos.clock"
PROFILE = "kairos"
#: key of the kairos.recording metadata holding the topology's mesh thresholds (JSON)
MESH_METADATA = "mesh"
#: the mesh settings stored there (kairos.topologies.model.Mesh attributes)
MESH_THRESHOLDS = ("emergence_threshold", "collapse_threshold", "hysteresis")

SCHEMA_TEXT = """\
Kairos wire format v1, as stored in MCAP (channel topic = stream name).

MCAP message data = three length-prefixed frames, verbatim as received:
  u32le len(header)  header   msgpack map
  u32le len(times)   times    int64 little-endian mesh-time ns, one per sample
  u32le len(payload) payload  raw little-endian array bytes, or a msgpack map
                              when header.dtype == "msgpack" (records)

header keys:
  version  int     wire format version (1)
  stream   str     stream name (equals the channel topic)
  seq      int     sequence number, from 0 in each publisher epoch
  epoch    int     mesh time (ns) at which the publishing process started
  sent_ns  int     mesh time (ns) at which the message was sent
  dtype    str     NumPy dtype string ("<f8", "<c16", ...) or "msgpack"
  shape    [int]   array shape, samples first (records: [number of stamps])
  fields   [str]   optional column names of a 2-D array
  extra    map     optional

MCAP message fields:
  log_time      receive time on the recorder's mesh clock (ns); replay follows it
  publish_time  header sent_ns
  sequence      header seq modulo 2**32
"""

_LENGTH = struct.Struct("<I")


def pack(frames: Sequence[bytes]) -> bytes:
    """The MCAP message data for the header, times and payload frames of one message."""
    parts: list[bytes] = []
    for frame in frames:
        parts.append(_LENGTH.pack(len(frame)))
        parts.append(bytes(frame))
    return b"".join(parts)


def unpack(data: bytes, where: str) -> tuple[bytes, bytes, bytes]:
    """The header, times and payload frames stored in one MCAP message's data."""
    frames: list[bytes] = []
    offset = 0
    view = memoryview(data)
    for _ in range(3):
        if offset + 4 > len(data):
            raise RecordingError(f"{where}: message data ends inside a frame length")
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += 4
        if offset + length > len(data):
            raise RecordingError(f"{where}: message frame of {length} bytes overruns the data")
        frames.append(bytes(view[offset : offset + length]))
        offset += length
    if offset != len(data):
        raise RecordingError(f"{where}: {len(data) - offset} stray bytes after the payload frame")
    return frames[0], frames[1], frames[2]


def matches(stream: str, globs: Sequence[str]) -> bool:
    """True when no globs are given or ``stream`` matches one of them (fnmatch syntax)."""
    return not globs or any(fnmatch.fnmatchcase(stream, glob) for glob in globs)


def actor_of(stream: str) -> str:
    """The actor that publishes ``stream`` (streams are ``<actor>`` or ``<actor>/<kind>``)."""
    return split_stream(stream)[0]
