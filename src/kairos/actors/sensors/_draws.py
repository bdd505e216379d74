"""Seeded random draws for the random sensors, from the standard library's generator.

Why not ``numpy.random``: importing it costs a sensor 2.8 MB of RSS (26.6 -> 29.4 MB with
NumPy and pyzmq already loaded and OpenSSL kept out, as an actor does), for its eight compiled
modules and, through ``secrets``, ``hashlib`` and ``hmac``.  That alone took the demo's sensors
over their 32 MB (docs/performance.md).  Python's ``random`` is loaded in every actor anyway and
costs nothing more.  Its draws are slower: 6.5 µs for 20 normals against NumPy's 0.8 µs, 2.0 ms
against 0.3 ms for 32 000, so a 1 kHz sensor spends 0.03 % of a core on its noise here, and
one at 32 000 samples/s 0.2 %.

The draws are its Mersenne Twister's 32-bit words, read in bulk (``randbytes``) and turned
into 53-bit uniforms in (0, 1] and [0, 1) with NumPy; normals come from the Box-Muller
transform, one pair of uniforms per value.  A draw of n values always takes 4·n words
(normal) or 2·n words (uniform), so the values do not depend on how the reads are split:
``standard_normal(3)`` then ``standard_normal(5)`` equal ``standard_normal(8)``.
"""

from __future__ import annotations

import math
import random

import numpy as np

#: 2⁻⁵³: a 53-bit integer times this is a double in [0, 1) with every bit random
_ULP = 2.0**-53
#: bytes of generator output per uniform (one 64-bit word, of which the top 53 bits are kept)
_UNIFORM_BYTES = 8


class Draws:
    """One reproducible stream: the same ``seed`` and ``stream`` give the same values.

    ``stream`` names independent streams of one seed (a sensor's noise and its phase
    jitter): the generator is seeded with the string ``"{seed}:{stream}"``, which Python
    hashes with SHA-512 into the twister's whole state."""

    def __init__(self, seed: int, stream: str = "") -> None:
        self._random = random.Random(f"{seed}:{stream}")

    def uniform(self, n: int) -> np.ndarray:
        """n doubles uniform in [0, 1)."""
        words = np.frombuffer(self._random.randbytes(_UNIFORM_BYTES * n), dtype="<u8")
        return (words >> np.uint64(11)).astype(np.float64) * _ULP

    def standard_normal(self, n: int) -> np.ndarray:
        """n draws of N(0, 1): √(−2·ln u₁)·cos(2π·u₂), with u₁ in (0, 1] so the log is finite."""
        u = self.uniform(2 * n)
        radius = np.sqrt(-2.0 * np.log(1.0 - u[0::2]))
        return radius * np.cos((2.0 * math.pi) * u[1::2])
