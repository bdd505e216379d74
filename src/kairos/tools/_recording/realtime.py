"""Real-time scheduling for the timing-critical loops (replay's sender, the recorder's stamps).

On a busy machine a normal process waking from sleep can wait milliseconds for a CPU; under
SCHED_FIFO it runs at once, which is what keeps replay's timing error well under 1 ms.
Linux only, and only with root or CAP_SYS_NICE.
"""

from __future__ import annotations

import os

from kairos.errors import KairosError

PRIORITY = 10


def request_realtime() -> None:
    """Switch this process to SCHED_FIFO at a low real-time priority, or say why not."""
    setter = getattr(os, "sched_setscheduler", None)
    if setter is None:
        raise KairosError("--realtime needs Linux (SCHED_FIFO is not available here)")
    try:
        setter(0, os.SCHED_FIFO, os.sched_param(PRIORITY))
    except OSError as exc:
        raise KairosError(
            f"--realtime refused: {exc.strerror} (needs root or CAP_SYS_NICE)"
        ) from None
