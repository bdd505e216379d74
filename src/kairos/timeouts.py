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
#: (``stop``, agent shutdown), and every process the emulated cluster tears down.  An actor
#: on SIGTERM finishes its current step, closes its publisher with a 500 ms linger (so the
#: last messages still leave) and exits; 3 s covers that on a 0.1-CPU emulated device with
#: room to spare, while a hung actor (the reason for SIGKILL at all) delays a stop by at most
#: 3 s.  It is also ``stop``'s default and the launcher's grace at the end of a launch.
STOP_GRACE_S = 3.0
