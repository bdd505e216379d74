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


#: Seconds a process gets between SIGTERM and SIGKILL: an actor stopped by its agent
#: (``stop``, agent shutdown), every process the emulated cluster tears down, and the
#: launcher's ``stop`` at the end of a launch.  An oscillator sensor exits 32 ms after SIGTERM
#: (5 runs on a shared 2-core x86 host); its publisher may linger up to 500 ms more for
#: unsent messages, and a 0.1-CPU emulated device runs ten times slower, so about 1 s is
#: what an orderly exit needs there.  3 s leaves room for an adapter closing a device or a
#: file, while a hung actor (the reason for SIGKILL at all) delays a stop by at most 3 s.
STOP_GRACE_S = 3.0
