"""Whether an agent's control plane must use CurveZMQ, and with which keys.

A loopback bind may run without CurveZMQ (the launcher's local agents); any other bind
without a key pair is refused before anything starts, with one line saying how to fix it.
A configured key pair switches CurveZMQ on whatever the bind, always with the allow-list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kairos import keys
from kairos.control.sockets import CurveKeys
from kairos.errors import SecurityError
from kairos.loopback import is_loopback


@dataclass(frozen=True)
class ControlSecurity:
    """The agent's CurveZMQ server keys and allow-list, or neither (loopback only)."""

    curve: CurveKeys | None
    trusted_dir: Path | None

    @property
    def enabled(self) -> bool:
        return self.curve is not None


def control_security(bind: str, curve_key: str | None, trusted_dir: Path | None) -> ControlSecurity:
    """Decide before binding; SecurityError for a non-loopback bind without keys."""
    if curve_key is None:
        if not is_loopback(bind):
            raise SecurityError(
                f"refusing to serve {bind} without CurveZMQ: run `kairos keys generate --name "
                "agent` and `kairos keys trust LAUNCHER.key` here, then start with "
                "`--curve-key agent` (or bind tcp://127.0.0.1)"
            )
        return ControlSecurity(None, None)
    pair = keys.resolve_pair(curve_key)
    if pair.secret is None:
        raise SecurityError(f"key pair {curve_key!r} has no secret key")
    trusted = trusted_dir if trusted_dir is not None else keys.default_trusted_dir()
    return ControlSecurity(CurveKeys(pair.public, pair.secret), trusted)
