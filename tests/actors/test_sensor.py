"""The sensor role through the test double: the sample grid, whole chunks, stalls, files."""

from __future__ import annotations

import numpy as np

from kairos.testing import START_NS as T0

MS = 1_000_000


def sensor(role_of, **changes):
    """A 1 kHz sensor sending chunks of 10 samples (a 5 Hz oscillator unless changed)."""
    keys = {"adapter": "oscillator", "params": {"freq_hz": 5.0}, "rate_hz": 1000.0, "chunk": 10}
    return role_of("sensor", name="mic", **{**keys, **changes})


def test_samples_sit_on_the_rate_grid_in_whole_chunks(role_of):
    harness = sensor(role_of)
    assert harness.tick(T0 + 3 * MS + 500) == []  # the grid starts at the next whole ms
    out = harness.tick(T0 + 26 * MS)  # samples 4..26 are due: two whole chunks
    assert [len(o.times) for o in out] == [10, 10]
    stamps = np.concatenate([o.times for o in out])
    assert stamps.tolist() == [T0 + k * MS for k in range(4, 24)]
    nxt = harness.tick(T0 + 33 * MS)
    assert nxt[0].times[0] == T0 + 24 * MS  # carries on without a hole


def test_a_stall_skips_ahead_and_counts_the_skipped_samples(role_of):
    harness = sensor(role_of)
    harness.tick(T0)
    out = harness.tick(T0 + 5_000 * MS)  # five seconds late: do not burst out old samples
    assert sum(len(o.times) for o in out) < 20
    assert harness.actor.skipped > 4_900


def test_a_file_that_ends_sends_what_is_left_then_stays_quiet(role_of, tmp_path):
    data = tmp_path / "x.npy"
    np.save(data, np.arange(25, dtype=np.float64))
    harness = sensor(role_of, adapter="file", params={"path": str(data)})
    harness.tick(T0)
    out = harness.tick(T0 + 40 * MS)
    assert [len(o.times) for o in out] == [10, 10, 5]
    assert np.concatenate([o.data for o in out]).tolist() == list(range(25))
    assert harness.actor.exhausted and harness.tick(T0 + 80 * MS) == []
