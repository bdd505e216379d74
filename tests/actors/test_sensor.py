"""The sensor role through the test double: the sample grid, whole chunks, stalls, files."""

from __future__ import annotations

import numpy as np

from kairos.actors.sensor import Sensor
from kairos.actors.spec import ActorProcessSpec

T0 = 1_763_770_000_000_000_000
MS = 1_000_000


def spec(tmp_path=None, **changes) -> ActorProcessSpec:
    values = dict(
        name="mic",
        role="sensor",
        device="local",
        device_class="mac-mini",
        bind="tcp://127.0.0.1:1",
        adapter="oscillator",
        params={"freq_hz": 5.0},
        rate_hz=1000.0,
        chunk=10,
    )
    values.update(changes)
    return ActorProcessSpec(**values)


def test_samples_sit_on_the_rate_grid_in_whole_chunks(harness_of):
    harness = harness_of(Sensor(spec()))
    assert harness.tick(T0 + 3 * MS + 500) == []  # the grid starts at the next whole ms
    out = harness.tick(T0 + 26 * MS)  # samples 4..26 are due: two whole chunks
    assert [len(o.times) for o in out] == [10, 10]
    stamps = np.concatenate([o.times for o in out])
    assert stamps.tolist() == [T0 + k * MS for k in range(4, 24)]
    nxt = harness.tick(T0 + 33 * MS)
    assert nxt[0].times[0] == T0 + 24 * MS  # carries on without a hole


def test_a_stall_skips_ahead_and_counts_the_skipped_samples(harness_of):
    sensor = Sensor(spec())
    harness = harness_of(sensor)
    harness.tick(T0)
    out = harness.tick(T0 + 5_000 * MS)  # five seconds late: do not burst out old samples
    assert sum(len(o.times) for o in out) < 20
    assert sensor.skipped > 4_900


def test_a_file_that_ends_sends_what_is_left_then_stays_quiet(harness_of, tmp_path):
    data = tmp_path / "x.npy"
    np.save(data, np.arange(25, dtype=np.float64))
    sensor = Sensor(spec(adapter="file", params={"path": str(data)}))
    harness = harness_of(sensor)
    harness.tick(T0)
    out = harness.tick(T0 + 40 * MS)
    assert [len(o.times) for o in out] == [10, 10, 5]
    assert np.concatenate([o.data for o in out]).tolist() == list(range(25))
    assert sensor.exhausted and harness.tick(T0 + 80 * MS) == []
