"""The MCAP message layout: three length-prefixed frames, verbatim."""

from __future__ import annotations

import pytest

from kairos.errors import RecordingError
from kairos.tools._recording import format as fmt


def test_pack_unpack_round_trip_keeps_bytes() -> None:
    frames = (b"\x85header", b"\x00" * 16, b"payload-bytes")
    assert fmt.unpack(fmt.pack(frames), "here") == frames


def test_empty_frames_round_trip() -> None:
    assert fmt.unpack(fmt.pack((b"h", b"", b"")), "here") == (b"h", b"", b"")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x01\x00", "ends inside a frame length"),
        (b"\x05\x00\x00\x00abc", "overruns"),
        (fmt.pack((b"a", b"b", b"c")) + b"x", "stray bytes"),
    ],
)
def test_bad_message_data_is_a_recording_error(data: bytes, problem: str) -> None:
    with pytest.raises(RecordingError, match=problem):
        fmt.unpack(data, "rec.mcap")


def test_stream_globs_and_actor_of() -> None:
    assert fmt.matches("mic", [])
    assert fmt.matches("mic/witness", ["*/witness"])
    assert not fmt.matches("mic", ["eng*"])
    assert fmt.actor_of("mesh/pulse") == "mesh"
    assert fmt.actor_of("mic") == "mic"
