"""A stop flag raised by SIGINT or SIGTERM, so that long loops end cleanly (files finalised,
sockets closed) instead of dying inside a write."""

from __future__ import annotations

import signal
from types import FrameType


class StopOnSignal:
    """Installs itself for SIGINT and SIGTERM; ``restore()`` puts the old handlers back."""

    def __init__(self) -> None:
        self.raised = False
        self._previous = {
            sig: signal.signal(sig, self._raise) for sig in (signal.SIGINT, signal.SIGTERM)
        }

    def _raise(self, signum: int, frame: FrameType | None) -> None:
        self.raised = True

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
