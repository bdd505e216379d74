"""Seconds, as the rest of Kairos counts time, turned into ZeroMQ poll timeouts.

ZeroMQ polls take whole milliseconds.  Rounding a remaining time *down* turned 0.9 ms into
``poll(0)``, which returns at once: a loop waiting for a deadline then spun on the CPU until it
passed (the idle agent went from 0.1–0.2 % to 0.5 % CPU that way).  Every wait in Kairos
therefore converts here, rounding up and never going below zero.
"""

from __future__ import annotations

import math

#: what ``poll`` takes for "wait until something arrives"
FOREVER = -1


def poll_ms(seconds: float | None) -> int:
    """``seconds`` as a poll timeout in milliseconds: rounded up, at least 0; None → forever."""
    if seconds is None:
        return FOREVER
    if seconds <= 0:
        return 0
    return math.ceil(seconds * 1000)
