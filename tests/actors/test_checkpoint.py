"""Engine checkpoints: atomic, checksummed, and resuming exactly where the state was."""

from __future__ import annotations

import numpy as np
import pytest

from kairos.actors._checkpoint import CheckpointError, read_checkpoint, write_checkpoint
from kairos.actors.engine import CHECKPOINT_FILE, ENGINE_FIELDS
from kairos.testing import START_NS as T0
from kairos.testing import RoleHarness, message, role_harness

STEP = 5_000_000


def engine(work_dir, **changes) -> RoleHarness:
    """A lock-in engine on ``mic`` whose work directory (and so checkpoint) is ``work_dir``."""
    keys = {
        "encoding": {"type": "lockin", "freq_hz": 40.0, "lp_cycles": 2.0},
        "windows": {"fast": 0.5, "slow": 60.0},
    }
    return role_harness(
        "engine", name="eng", inputs=["mic"], work_dir=work_dir, **{**keys, **changes}
    )


def signal(n, seed=1):
    rng = np.random.default_rng(seed)
    times = T0 + STEP * np.arange(n)
    return times, np.cos(2 * np.pi * 40.0 * (times - T0) / 1e9) + rng.normal(0, 0.5, n)


def feed_all(harness, times, values, start=0):
    rows = []
    for k, i in enumerate(range(0, len(times), 20)):
        out = harness.feed(message("mic", times[i : i + 20], values[i : i + 20], seq=start + k))
        rows += [o.data for o in out if o.stream == ""]
    return np.vstack(rows)


def test_checkpoint_round_trip_keeps_complex_values(tmp_path):
    path = tmp_path / "c.bin"
    write_checkpoint(path, {"z": 1.5 - 2.25j, "l": [0j, 3.0], "n": None})
    assert read_checkpoint(path) == {"z": 1.5 - 2.25j, "l": [0j, 3.0], "n": None}
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:20],  # truncated
        lambda b: b"NOTKAIROS" + b[9:],  # foreign
        lambda b: b[:-1] + bytes([b[-1] ^ 0xFF]),  # a flipped bit in the payload
        lambda b: b[:8] + b"\x09" + b[9:],  # another format version
    ],
)
def test_damaged_checkpoints_are_detected(tmp_path, damage):
    path = tmp_path / "c.bin"
    write_checkpoint(path, {"a": 1})
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointError):
        read_checkpoint(path)


def test_restarted_engine_continues_exactly(tmp_path):
    times, values = signal(2000)
    # the reference: one engine sees everything
    with engine(tmp_path / "whole") as whole:
        expected = feed_all(whole, times, values)
    # the same stream, with the engine stopped halfway and started again from its checkpoint
    first = engine(tmp_path / "split")
    rows_a = feed_all(first, times[:1000], values[:1000])
    second = first.restart()  # a clean stop writes a final checkpoint; the new one reads it
    assert (second.work_dir / CHECKPOINT_FILE).exists()
    assert second.actor.restored_from_ns is not None
    rows_b = feed_all(second, times[1000:], values[1000:], start=50)
    second.close()
    assert np.vstack([rows_a, rows_b]).tobytes() == expected.tobytes()


def test_periodic_checkpoint_is_written_while_running(tmp_path):
    harness = engine(tmp_path)
    period_ns = int(harness.spec.checkpoint_s * 1e9)
    # a little over two checkpoint periods of samples: the first periodic one is on disk
    times, values = signal(int(2.2 * period_ns / STEP))
    feed_all(harness, times, values)
    document = read_checkpoint(harness.work_dir / CHECKPOINT_FILE)
    assert document["t_ns"] >= T0 + period_ns
    harness.close()


def test_corrupt_checkpoint_is_ignored_with_a_warning(tmp_path):
    (tmp_path / "eng").mkdir()
    (tmp_path / "eng" / CHECKPOINT_FILE).write_bytes(b"KAIROSCP\x01" + b"\x00" * 40)
    harness = engine(tmp_path)
    assert harness.work_dir == tmp_path / "eng"  # it did find the damaged file…
    assert harness.actor.restored_from_ns is None  # …and did not use it
    times, values = signal(100)
    rows = feed_all(harness, times, values)
    assert rows.shape == (100, len(ENGINE_FIELDS))
    harness.close()


def test_checkpoint_of_another_engine_shape_is_not_used(tmp_path):
    harness = engine(tmp_path)
    times, values = signal(100)
    feed_all(harness, times, values)
    harness.close()
    assert (tmp_path / "eng" / CHECKPOINT_FILE).exists()
    other = engine(tmp_path, windows={"fast": 0.5, "slow": 30.0})
    assert other.actor.restored_from_ns is None
    other.close()
