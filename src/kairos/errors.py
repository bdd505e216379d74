"""The exception hierarchy: one root, one subclass per kind of failure.

Every exception carries enough context (file and line, actor, address) to say what went
wrong and where, so that the CLI can print it as one clear line and exit non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: Exit status of every ``kairos`` command and process: success ...
EXIT_OK: Final = 0
#: ... a failure at run time (a KairosError: an agent unreachable, a file unreadable) ...
EXIT_FAILURE: Final = 1
#: ... and a usage error or invalid input (bad options, a topology that does not validate),
#: which argparse itself also exits with: a script tells "fix the call" from "it broke".
EXIT_USAGE: Final = 2


class KairosError(Exception):
    """Root of every error Kairos raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One problem found in a topology file, located by file, line and column."""

    file: str
    line: int
    column: int
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class TopologyError(KairosError):
    """Raised when a topology file is unreadable or invalid; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class DeviceClassError(KairosError):
    """Raised when a device class is unknown or its data file is malformed."""


class WireError(KairosError):
    """Raised when a frame does not decode as wire format v1 (the receiver drops and counts it)."""


class ProtocolError(KairosError):
    """Raised when a control message is malformed, unknown, expired, or of another version."""


class AgentError(KairosError):
    """Raised when an agent refuses a command, cannot be reached, or fails to start an actor."""

    def __init__(self, message: str, *, address: str | None = None, code: str | None = None):
        self.address = address
        self.code = code
        where = f" (agent {address})" if address else ""
        super().__init__(f"{message}{where}")


class ClockError(KairosError):
    """Raised when clock inputs are inconsistent (probe times out of order, a bad window…)."""


class ConfigError(KairosError):
    """Raised when an actor cannot start as configured: an unknown role, adapter or encoding,
    or parameters its class refuses.  An actor process exits 2 on it (kairos.actors)."""


class AdapterError(ConfigError):
    """Raised when an adapter is unknown or its parameters are invalid."""


class DeviceError(KairosError):
    """Raised when the device a sensor adapter reads keeps failing while the actor runs
    (more than ``max_read_errors`` reads in a row).  Not a configuration error: the actor
    exits 1, so its restart policy reopens the device."""


class RecordingError(KairosError):
    """Raised when a recording is missing, truncated beyond use, or not a Kairos MCAP file."""


class EmulationError(KairosError):
    """Raised when the emulated cluster cannot be built or torn down (not root, no cgroups…)."""


class SecurityError(KairosError):
    """Raised when keys are missing or unsafe, or a peer is refused."""
