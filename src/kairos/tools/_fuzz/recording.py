"""Fuzz target ``recording``: reading a recording may raise only RecordingError.

The input is the whole file.  One run reads it the way ``kairos record info`` does
(``info.summarise`` with truncation allowed, its JSON and text report), then strictly
(``reader.read``).  Seeds are small Kairos recordings: one from the real recorder (lz4
chunks, CRCs), and uncompressed ones without CRCs, chunked and not, so mutations reach the
record parsing instead of stopping at a checksum.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from kairos import wire
from kairos.errors import RecordingError
from kairos.tools._fuzz._target import Run, Target
from kairos.tools._fuzz.records import seed_state, seed_witness


@contextlib.contextmanager
def session() -> Iterator[Run]:
    from kairos.tools._recording import info, reader

    folder = Path(tempfile.mkdtemp(prefix="kairos-fuzz-"))
    path = folder / "input.mcap"

    def run(data: bytes) -> None:
        path.write_bytes(data)
        summary = info.summarise(path, allow_truncated=True)
        summary.to_json()
        info.render(summary)
        for _ in reader.read(path):
            pass  # reading every message to the end is what is being fuzzed

    try:
        yield run
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _messages() -> list[tuple[str, list[bytes], int]]:
    """(stream, header/times/payload frames, log time) of a short mixed recording."""
    out = []
    for seq in range(3):
        frames = wire.encode("osc", seq, 100, 1_000 + seq, [seq * 10, seq * 10 + 5], np.ones(2))
        out.append(("osc", [bytes(f) for f in frames[1:]], 1_000 + seq))
    record = wire.encode("mesh", 0, 100, 2_000, [2_000], seed_state().encode())
    out.append(("mesh", [bytes(f) for f in record[1:]], 2_000))
    witness = wire.encode("eng/witness", 5, 100, 3_000, [3_000], seed_witness().encode())
    out.append(("eng/witness", [bytes(f) for f in witness[1:]], 3_000))
    return out


def _recorded(folder: Path) -> bytes:
    from kairos.tools._recording.writer import RecordingWriter, recording_info

    path = folder / "real.mcap"
    writer = RecordingWriter(path, recording_info("fuzz", {"osc": "tcp://127.0.0.1:1"}, 0, "0"))
    for stream, frames, log_time in _messages():
        writer.add(stream, frames, log_time, log_time, 0, {"endpoint": "tcp://127.0.0.1:1"})
    writer.note_clock("pc", 1_500, 20, 900)
    writer.close()
    return path.read_bytes()


def _plain(folder: Path, chunked: bool) -> bytes:
    """The Kairos layout written without compression or CRCs (valid MCAP either way)."""
    from mcap.writer import CompressionType, Writer

    from kairos.tools._recording import format as fmt
    from kairos.tools._recording.writer import recording_info

    path = folder / f"plain-{chunked}.mcap"
    with path.open("wb") as file:
        writer = Writer(
            file,
            chunk_size=512,
            compression=CompressionType.NONE,
            use_chunking=chunked,
            enable_crcs=False,
        )
        writer.start(profile=fmt.PROFILE, library="kairos-fuzz")
        schema = writer.register_schema(
            fmt.SCHEMA_NAME, fmt.SCHEMA_ENCODING, fmt.SCHEMA_TEXT.encode()
        )
        writer.add_metadata(fmt.RECORDING_METADATA, recording_info("fuzz", {}, 0, "0"))
        writer.add_metadata(
            fmt.CLOCK_METADATA,
            {"device": "pc", "clock_offset_ns": "5", "clock_uncertainty_ns": "1", "t_ns": "1"},
        )
        channels: dict[str, int] = {}
        for stream, frames, log_time in _messages():
            if stream not in channels:
                channels[stream] = writer.register_channel(
                    stream, fmt.MESSAGE_ENCODING, schema, {"endpoint": "tcp://127.0.0.1:1"}
                )
            writer.add_message(channels[stream], log_time, fmt.pack(frames), log_time)
        writer.finish()
    return path.read_bytes()


def seeds() -> list[bytes]:
    folder = Path(tempfile.mkdtemp(prefix="kairos-fuzz-seeds-"))
    try:
        real = _recorded(folder)
        plain = _plain(folder, chunked=True)
        unchunked = _plain(folder, chunked=False)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return [real, plain, unchunked, plain[: len(plain) * 2 // 3], real[:8]]


TARGET = Target(
    name="recording",
    description="reading a Kairos MCAP recording (strict read, then record info)",
    expected=RecordingError,
    seeds=seeds,
    session=session,
)
