"""Malformed, truncated, foreign or missing files: one clear line, exit 1, no traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mcap.writer import Writer

from kairos import wire
from kairos.tools._recording.writer import RecordingWriter, recording_info


def _good(path: Path) -> Path:
    writer = RecordingWriter(path, recording_info(None, {"a": "tcp://127.0.0.1:1"}, 0, "t"))
    for seq in range(2000):
        frames = wire.encode("a", seq, 1, seq, [seq], np.random.default_rng(seq).random(1))
        writer.add("a", [bytes(f) for f in frames[1:]], seq * 10**6, seq, seq)
        if seq % 500 == 0:
            writer._writer.flush()  # several chunks
    writer.close()
    return path


def _variants(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = _good(tmp_path / "good.mcap")
    data = good.read_bytes()
    truncated = tmp_path / "truncated.mcap"
    truncated.write_bytes(data[: len(data) * 2 // 3])
    corrupt = tmp_path / "corrupt.mcap"
    broken = bytearray(data)
    middle = len(data) // 2
    broken[middle : middle + 8] = b"\xff" * 8
    corrupt.write_bytes(bytes(broken))
    text = tmp_path / "notes.txt"
    text.write_text("not a recording\n")
    foreign = tmp_path / "foreign.mcap"
    with foreign.open("wb") as file:
        writer = Writer(file)
        writer.start()
        schema = writer.register_schema("x", "jsonschema", b"{}")
        channel = writer.register_channel("/pose", "json", schema)
        writer.add_message(channel, 1, b"{}", 1)
        writer.finish()
    return {
        "truncated": (truncated, "truncated"),
        "corrupt": (corrupt, "malformed"),
        "text": (text, "not an MCAP file"),
        "foreign": (foreign, "not a Kairos recording"),
        "missing": (tmp_path / "nope.mcap", "cannot open"),
        "empty": (_empty(tmp_path), "not an MCAP file"),
    }


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.mcap"
    path.write_bytes(b"")
    return path


@pytest.mark.parametrize("kind", ["truncated", "corrupt", "text", "foreign", "missing", "empty"])
@pytest.mark.parametrize("command", ["info", "replay"])
def test_bad_file_is_one_clear_error(kairos, tmp_path: Path, kind: str, command: str) -> None:
    path, problem = _variants(tmp_path)[kind]
    args = ("record", "info", str(path)) if command == "info" else ("replay", str(path))
    result = kairos(*args)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and problem in lines[0] and str(path) in lines[0]


def test_good_file_reads_and_truncated_one_reads_with_permission(kairos, tmp_path: Path) -> None:
    variants = _variants(tmp_path)
    good = kairos("record", "info", str(tmp_path / "good.mcap"), "--json")
    assert good.returncode == 0, good.stderr
    assert '"messages": 2000' in good.stdout
    truncated = kairos("record", "info", str(variants["truncated"][0]), "--allow-truncated")
    assert truncated.returncode == 0, truncated.stderr
    assert "truncated" in truncated.stdout
