"""The positions file keeps every seq the wire allows, across a restart of the actor."""

from __future__ import annotations

from pathlib import Path

import pytest

from kairos.actors._metrics import InputPositions, StreamTrack


@pytest.mark.parametrize("seq", [0, 41, 2**63 - 1, 2**63, 2**64 - 2])
def test_a_stream_position_survives_a_restart_whatever_its_seq(tmp_path: Path, seq: int) -> None:
    path = tmp_path / "inputs.pos"
    positions = InputPositions(path, ["a", "b"])
    positions.record("b", StreamTrack(epoch=-5, last_seq=seq, last_t_ns=-(2**63)))
    positions.close()

    again = InputPositions(path, ["a", "b"])
    try:
        tracks = again.load()
    finally:
        again.close()
    assert list(tracks) == ["b"]  # "a" was never heard
    track = tracks["b"]
    assert (track.epoch, track.last_seq, track.last_t_ns) == (-5, seq, -(2**63))


def test_seqs_past_int64_are_counted_and_kept_like_any_other(tmp_path: Path) -> None:
    positions = InputPositions(tmp_path / "inputs.pos", ["a"])
    track = StreamTrack()
    try:
        missed = []
        for seq in (2**63 - 1, 2**63, 2**63 + 3):  # across the signed limit, two lost
            missed.append(track.advance(7, seq, 1_000, 2_000))
            positions.record("a", track)
        assert missed == [0, 0, 2] and track.gaps == 2
        assert positions.load()["a"].last_seq == 2**63 + 3
    finally:
        positions.close()
