"""The random sensors' draws (sensors/_draws.py): repeatable, split-invariant, as distributed."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from kairos.actors.sensors._draws import Draws


def test_same_seed_and_stream_repeat_and_others_differ():
    first = Draws(7, "noise").standard_normal(100)
    np.testing.assert_array_equal(first, Draws(7, "noise").standard_normal(100))
    assert not np.array_equal(first, Draws(8, "noise").standard_normal(100))
    assert not np.array_equal(first, Draws(7, "jitter").standard_normal(100))


@pytest.mark.parametrize("kind", ["uniform", "standard_normal"])
def test_values_do_not_depend_on_how_the_draws_are_split(kind):
    whole = getattr(Draws(3), kind)(1000)
    draws = Draws(3)
    parts = [getattr(draws, kind)(n) for n in (1, 0, 6, 93, 400, 500)]
    np.testing.assert_array_equal(whole, np.concatenate(parts))


def test_uniforms_are_the_twisters_top_53_bits():
    words = random.Random("5:").getrandbits(64 * 4).to_bytes(32, "little")
    want = [(int.from_bytes(words[i : i + 8], "little") >> 11) / 2**53 for i in range(0, 32, 8)]
    assert Draws(5).uniform(4).tolist() == want


def test_uniforms_fill_the_unit_interval():
    u = Draws(11).uniform(200_000)
    assert u.dtype == np.float64 and u.min() >= 0.0 and u.max() < 1.0
    counts, _ = np.histogram(u, bins=20, range=(0.0, 1.0))
    # each bin holds 10 000 ± 100 (one σ): 5 σ allows no real bias through
    assert np.all(np.abs(counts - 10_000) < 500)


def test_normals_have_the_standard_normal_moments_and_tails():
    z = Draws(12).standard_normal(400_000)
    assert np.all(np.isfinite(z))
    # standard errors at n = 4e5: mean 0.0016, std 0.0011, skew 0.0039, excess kurtosis 0.0077
    assert abs(z.mean()) < 0.008
    assert abs(z.std() - 1.0) < 0.006
    assert abs(np.mean(z**3)) < 0.02
    assert abs(np.mean(z**4) - 3.0) < 0.04
    for k in (1.0, 2.0, 3.0):
        beyond = np.mean(np.abs(z) > k)
        assert beyond == pytest.approx(math.erfc(k / math.sqrt(2.0)), rel=0.05)


def test_normals_are_uncorrelated_from_one_draw_to_the_next():
    z = Draws(13).standard_normal(200_000)
    lag1 = float(np.corrcoef(z[:-1], z[1:])[0, 1])
    assert abs(lag1) < 0.012  # 5 standard errors (1/√n = 0.0022)
