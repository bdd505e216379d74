"""Reading Kairos recordings with the official ``mcap`` stream reader, summary or not.

A recording is read front to back (the data section), so a file whose recorder was killed
reads up to its last complete chunk.  Every failure becomes one :class:`RecordingError` that
says what is wrong with which file; a file that ends early is *truncated* (refused unless the
caller allows it), anything else that does not parse is *malformed*, and a valid MCAP file
without Kairos channels is *foreign*.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgpack
from mcap.exceptions import McapError
from mcap.records import Channel, Footer, Message, Metadata, Schema
from mcap.stream_reader import StreamReader

from kairos.errors import RecordingError
from kairos.tools._recording import format as fmt

#: Largest single MCAP record accepted (a corrupt length must not allocate gigabytes).
RECORD_LIMIT = 256 * 1024 * 1024


@dataclass(frozen=True)
class Recorded:
    """One recorded message: its stream, the recorder's stamps and the stored frames."""

    stream: str
    log_time: int
    publish_time: int
    header: bytes
    times: bytes
    payload: bytes
    channel_metadata: dict[str, str]


@dataclass
class Extras:
    """What a pass over the file found besides messages."""

    recording: dict[str, str] = field(default_factory=dict)
    clocks: list[dict[str, str]] = field(default_factory=list)
    truncated: bool = False
    #: bytes of the file that were read successfully
    good_bytes: int = 0
    finished: bool = False
    foreign_channels: int = 0

    @property
    def endpoints(self) -> dict[str, str]:
        try:
            value = json.loads(self.recording.get("endpoints", "{}"))
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


class _Counting:
    """A read-only file that remembers how far it has been read."""

    def __init__(self, path: Path) -> None:
        try:
            self._file = path.open("rb")
        except OSError as exc:
            raise RecordingError(f"{path}: cannot open: {exc.strerror}") from None
        self.size = path.stat().st_size

    def read(self, n: int = -1) -> bytes:
        return self._file.read(n)

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        self._file.close()


def read(
    path: Path, extras: Extras | None = None, allow_truncated: bool = False
) -> Iterator[Recorded]:
    """Yield the Kairos messages of ``path`` in file order; fill ``extras`` on the way.

    Raises RecordingError for a missing, malformed or foreign file, and for a truncated one
    unless ``allow_truncated`` (then reading stops at the last complete record).
    """
    extras = extras if extras is not None else Extras()
    source = _Counting(path)
    schemas: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}
    kairos_channels = 0
    try:
        records = StreamReader(source, validate_crcs=True, record_size_limit=RECORD_LIMIT).records  # type: ignore[arg-type]
        while True:
            try:
                record = next(records)
            except StopIteration:
                break
            except (
                McapError,
                struct.error,
                ValueError,
                RuntimeError,
                EOFError,
                MemoryError,
                OverflowError,  # a record length beyond 2**63
                KeyError,
                IndexError,
                TypeError,
            ) as exc:
                if extras.good_bytes == 0:
                    raise RecordingError(
                        f"{path}: not an MCAP file (it does not start with an MCAP header)"
                    ) from None
                if source.tell() >= source.size:
                    extras.truncated = True
                    if not allow_truncated:
                        raise RecordingError(
                            f"{path}: truncated after byte {extras.good_bytes} of {source.size} "
                            "(the recorder did not finish); pass --allow-truncated to use "
                            "the data up to the last complete chunk"
                        ) from None
                    break
                raise RecordingError(
                    f"{path}: malformed MCAP near byte {source.tell()}: {_say(exc)}"
                ) from None
            extras.good_bytes = source.tell()
            if isinstance(record, Schema):
                schemas[record.id] = record
            elif isinstance(record, Channel):
                channels[record.id] = record
                if record.message_encoding == fmt.MESSAGE_ENCODING:
                    kairos_channels += 1
                else:
                    extras.foreign_channels += 1
            elif isinstance(record, Metadata):
                if record.name == fmt.RECORDING_METADATA:
                    extras.recording = dict(record.metadata)
                elif record.name == fmt.CLOCK_METADATA:
                    extras.clocks.append(dict(record.metadata))
            elif isinstance(record, Message):
                channel = channels.get(record.channel_id)
                if channel is None:
                    raise RecordingError(
                        f"{path}: malformed: message on undeclared channel {record.channel_id}"
                    )
                if channel.message_encoding != fmt.MESSAGE_ENCODING:
                    continue
                where = f"{path}: stream {channel.topic!r} at log time {record.log_time}"
                header, times, payload = fmt.unpack(record.data, where)
                yield Recorded(
                    stream=channel.topic,
                    log_time=record.log_time,
                    publish_time=record.publish_time,
                    header=header,
                    times=times,
                    payload=payload,
                    channel_metadata=dict(channel.metadata),
                )
            elif isinstance(record, Footer):
                extras.finished = True
    finally:
        source.close()
    if kairos_channels == 0 and (extras.foreign_channels or not extras.recording):
        raise RecordingError(
            f"{path}: not a Kairos recording (no channel with message encoding "
            f"{fmt.MESSAGE_ENCODING!r} and no {fmt.RECORDING_METADATA} metadata)"
        )


def header_of(message: Recorded) -> dict:
    """The decoded header map of a recorded message (RecordingError if it is not one)."""
    try:
        header = msgpack.unpackb(message.header, raw=False)
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise RecordingError(f"stream {message.stream!r}: header is not msgpack: {exc}") from None
    if not isinstance(header, dict):
        raise RecordingError(f"stream {message.stream!r}: header is not a map")
    return header


def _say(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
