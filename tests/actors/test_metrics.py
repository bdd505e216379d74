"""The witness's latency quantiles: NumPy's, without importing numpy.ma in the actor."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from kairos.actors._metrics import LatencyWindow, linear_quantiles


@pytest.mark.parametrize("n", [1, 2, 3, 7, 100, 101, 2047, 2048])
def test_the_same_bits_as_numpy(n: int) -> None:
    rng = np.random.default_rng(n)
    for values in (
        rng.exponential(0.2, n),
        rng.integers(0, 5, n).astype(float),  # ties
        np.full(n, 0.125),
        np.sort(rng.normal(1.0, 0.3, n))[::-1].copy(),
    ):
        quantiles = (0.0, 0.01, 0.5, 0.9, 0.99, 0.999, 1.0)
        assert linear_quantiles(values, quantiles) == list(np.quantile(values, quantiles))


def test_the_window_reports_p50_and_p99() -> None:
    window = LatencyWindow(size=4)
    assert window.percentiles() == (None, None)
    for value in (9.0, 1.0, 2.0, 3.0, 4.0):  # the oldest falls out
        window.add(value)
    assert window.percentiles() == tuple(np.percentile([1.0, 2.0, 3.0, 4.0], [50, 99]))


def test_a_witness_record_leaves_numpy_ma_unimported() -> None:
    code = textwrap.dedent(
        """
        import sys
        from kairos.actors._metrics import LatencyWindow
        window = LatencyWindow()
        for i in range(1000):
            window.add(i * 0.001)
        window.percentiles()
        print("numpy.ma" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "False"
