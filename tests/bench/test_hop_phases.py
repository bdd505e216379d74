"""The hop benchmark runs Kairos's pair and the raw pair side by side, at opposite phases."""

from __future__ import annotations

import numpy as np
import pytest

from kairos.tools.benchmarks import hop


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_the_pairs_share_their_seconds_and_send_half_a_period_apart(tmp_path) -> None:
    case = hop.Case(200.0, 1, 1000)  # a 5 ms period; quick settings measure 100 messages
    settings = hop.Settings.choose(quick=True)
    kairos_ms, raw_ms = hop._latency(tmp_path, case, settings)
    assert len(kairos_ms) >= 80 and len(raw_ms) >= 80
    assert abs(len(kairos_ms) - len(raw_ms)) <= 2  # the same seconds, so as many messages
    kairos = hop.Arrivals.load(tmp_path / "kairos.npz")
    raw = hop.Arrivals.load(tmp_path / "raw.npz")
    period_ns = round(1e9 / case.rate)
    # each sender stamps after it woke, tens of µs past its instant: compare the instants
    # nearest in time, which are half a period (2.5 ms) apart when the phases are opposite
    after = np.searchsorted(kairos.sent, raw.sent)
    inside = (after > 0) & (after < len(kairos.sent))
    lead = raw.sent[inside] - kairos.sent[after[inside] - 1]
    assert np.median(lead) == pytest.approx(period_ns / 2, abs=0.2 * period_ns)
