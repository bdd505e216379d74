"""The recording writer: one MCAP channel per stream, small lz4 chunks, a stated flush policy.

Flush policy: a chunk is closed when it holds 256 KiB or its oldest message is 0.5 s old, and
every closed chunk is written straight to the operating system (the file object below has no
user-space buffer).  A recorder killed with SIGKILL therefore loses at most the open chunk;
the file then has no summary, and readers stream its data section (see reader.py).  The file
is fsynced once, when the recording is finalised; a power cut may lose what the kernel had not
written back yet.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mcap.writer import CompressionType, Writer

from kairos.errors import RecordingError
from kairos.tools._recording import format as fmt

CHUNK_BYTES = 256 * 1024
CHUNK_SECONDS = 0.5


class _DirectFile:
    """A write-only file without a user-space buffer: every write reaches the kernel at once."""

    def __init__(self, path: Path) -> None:
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as exc:
            raise RecordingError(f"{path}: cannot create the recording: {exc.strerror}") from None
        self._path = path
        self._position = 0

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data)
        written = 0
        try:
            while written < len(view):
                written += os.write(self._fd, view[written:])
        except OSError as exc:
            raise RecordingError(f"{self._path}: write failed: {exc.strerror}") from None
        self._position += written
        return written

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        """Nothing is buffered here; durability is :meth:`sync`'s job."""

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


class RecordingWriter:
    """Writes received messages to an MCAP file; ``close()`` finalises it (summary, fsync)."""

    def __init__(self, path: Path, info: Mapping[str, str]) -> None:
        self.path = path
        self._file = _DirectFile(path)
        self._writer = Writer(
            self._file,  # type: ignore[arg-type]  # duck-typed stream: write/tell/flush
            chunk_size=CHUNK_BYTES,
            compression=CompressionType.LZ4,
        )
        self._writer.start(profile=fmt.PROFILE, library=f"kairos/{info.get('kairos_version')}")
        self._schema = self._writer.register_schema(
            fmt.SCHEMA_NAME, fmt.SCHEMA_ENCODING, fmt.SCHEMA_TEXT.encode()
        )
        self._writer.add_metadata(fmt.RECORDING_METADATA, dict(info))
        self._channels: dict[str, int] = {}
        self._clocks: dict[str, tuple[int, int]] = {}
        self._chunk_opened: float | None = None
        self.messages = 0
        self.closed = False

    def add(
        self,
        stream: str,
        frames: Sequence[bytes],
        log_time: int,
        sent_ns: int,
        seq: int,
        channel_metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Store the header, times and payload frames of one message, as received."""
        channel = self._channels.get(stream)
        if channel is None:
            channel = self._writer.register_channel(
                stream, fmt.MESSAGE_ENCODING, self._schema, dict(channel_metadata or {})
            )
            self._channels[stream] = channel
        self._writer.add_message(
            channel_id=channel,
            log_time=log_time,
            data=fmt.pack(frames),
            publish_time=max(0, sent_ns),
            sequence=seq & 0xFFFFFFFF,
        )
        self.messages += 1
        if self._chunk_opened is None:
            self._chunk_opened = time.monotonic()

    def note_clock(self, device: str, offset_ns: int, uncertainty_ns: int, t_ns: int) -> None:
        """Store a device's clock offset to mesh time when it differs from the last one."""
        if self._clocks.get(device) == (offset_ns, uncertainty_ns):
            return
        self._clocks[device] = (offset_ns, uncertainty_ns)
        self._writer.add_metadata(
            fmt.CLOCK_METADATA,
            {
                "device": device,
                "clock_offset_ns": str(offset_ns),
                "clock_uncertainty_ns": str(uncertainty_ns),
                "t_ns": str(t_ns),
            },
        )

    def tick(self) -> None:
        """Close the open chunk once its oldest message is CHUNK_SECONDS old."""
        opened = self._chunk_opened
        if opened is not None and time.monotonic() - opened >= CHUNK_SECONDS:
            self._writer.flush()
            self._chunk_opened = None

    def close(self) -> None:
        """Write the last chunk, the summary and the footer, fsync and close."""
        if self.closed:
            return
        self.closed = True
        try:
            self._writer.finish()
            self._file.sync()
        finally:
            self._file.close()


def recording_info(
    topology: str | None,
    endpoints: Mapping[str, str],
    start_ns: int,
    version: str,
    mesh: Any = None,
) -> dict[str, str]:
    """The ``kairos.recording`` metadata: where the data came from and when, and the
    topology's mesh thresholds (``mesh``, for ``kairos plot`` to draw) when it has one."""
    info: dict[str, Any] = {
        "format": fmt.MESSAGE_ENCODING,
        "kairos_version": version,
        "topology": topology or "",
        "endpoints": json.dumps(dict(endpoints), sort_keys=True),
        "start_ns": str(start_ns),
        "start_unix_ns": str(time.time_ns()),
    }
    if mesh is not None:
        thresholds = {key: float(getattr(mesh, key)) for key in fmt.MESH_THRESHOLDS}
        info[fmt.MESH_METADATA] = json.dumps(thresholds, sort_keys=True)
    return {key: str(value) for key, value in info.items()}
