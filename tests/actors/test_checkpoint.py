"""Engine checkpoints: atomic, checksummed, and resuming exactly where the state was."""

from __future__ import annotations

import numpy as np
import pytest

from kairos.actors._checkpoint import CheckpointError, read_checkpoint, write_checkpoint
from kairos.actors.engine import CHECKPOINT_FILE, ENGINE_FIELDS, Engine
from kairos.actors.spec import ActorProcessSpec, InputLink
from kairos.testing import ActorHarness, message
from kairos.topologies.model import Encoding

T0 = 1_763_770_000_000_000_000
STEP = 5_000_000


def spec(**changes) -> ActorProcessSpec:
    values = dict(
        name="eng",
        role="engine",
        device="local",
        device_class="pi-2",
        bind="tcp://127.0.0.1:1",
        inputs=(InputLink("mic", "mic", "tcp://127.0.0.1:2"),),
        encoding=Encoding(type="lockin", params={"freq_hz": 40.0, "lp_cycles": 2.0}),
        windows=(0.5, 60.0),
        checkpoint_s=1.0,
    )
    values.update(changes)
    return ActorProcessSpec(**values)


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
    whole = ActorHarness(Engine(spec()), work_dir=tmp_path / "whole")
    expected = feed_all(whole, times, values)
    whole.close()
    # the same stream, with the engine stopped halfway and started again from its checkpoint
    first = ActorHarness(Engine(spec()), work_dir=tmp_path / "split")
    rows_a = feed_all(first, times[:1000], values[:1000])
    first.close()  # a clean stop writes a final checkpoint
    assert (tmp_path / "split" / CHECKPOINT_FILE).exists()
    second = ActorHarness(Engine(spec()), work_dir=tmp_path / "split")
    assert second.actor.restored_from_ns is not None
    rows_b = feed_all(second, times[1000:], values[1000:], start=50)
    second.close()
    assert np.vstack([rows_a, rows_b]).tobytes() == expected.tobytes()


def test_periodic_checkpoint_is_written_while_running(tmp_path):
    times, values = signal(600)  # 3 s of samples, checkpoint every 1 s
    harness = ActorHarness(Engine(spec()), work_dir=tmp_path)
    feed_all(harness, times, values)
    document = read_checkpoint(tmp_path / CHECKPOINT_FILE)
    assert document["t_ns"] >= T0 + 2_000_000_000
    harness.close()


def test_corrupt_checkpoint_is_ignored_with_a_warning(tmp_path):
    (tmp_path / CHECKPOINT_FILE).write_bytes(b"KAIROSCP\x01" + b"\x00" * 40)
    harness = ActorHarness(Engine(spec()), work_dir=tmp_path)
    assert harness.actor.restored_from_ns is None
    times, values = signal(100)
    rows = feed_all(harness, times, values)
    assert rows.shape == (100, len(ENGINE_FIELDS))
    harness.close()


def test_checkpoint_of_another_engine_shape_is_not_used(tmp_path):
    harness = ActorHarness(Engine(spec()), work_dir=tmp_path)
    times, values = signal(100)
    feed_all(harness, times, values)
    harness.close()
    other = ActorHarness(Engine(spec(windows=(0.5, 30.0))), work_dir=tmp_path)
    assert other.actor.restored_from_ns is None
    other.close()
