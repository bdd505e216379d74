"""The systemd notify protocol (sd_notify) without libsystemd: readiness and watchdog pings.

The agent's unit is ``Type=notify`` with ``WatchdogSec=``: systemd considers it started only
after ``READY=1`` and restarts it when ``WATCHDOG=1`` stops arriving.  Outside systemd
(``$NOTIFY_SOCKET`` unset: a terminal, launchd, the emulated cluster) every call is a no-op.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from kairos.errors import AgentError

READY = "READY=1"
WATCHDOG = "WATCHDOG=1"
STOPPING = "STOPPING=1"
RELOADING = "RELOADING=1"


def _address(raw: str) -> str:
    """``@name`` is Linux's abstract namespace: a leading NUL byte on the wire."""
    return "\0" + raw[1:] if raw.startswith("@") else raw


def notify(state: str, *, env: Mapping[str, str] | None = None) -> bool:
    """Send ``state`` (e.g. ``READY=1``, several lines allowed) to systemd.

    Returns False when not run under a notify-aware manager; raises AgentError when the
    socket is set but the datagram cannot be delivered (a watchdog that silently stops
    pinging would get the agent killed for no visible reason).
    """
    environ = os.environ if env is None else env
    target = environ.get("NOTIFY_SOCKET")
    if not target:
        return False
    if not target.startswith(("/", "@")):
        raise AgentError(f"NOTIFY_SOCKET={target!r} is neither a path nor an abstract name")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.sendto(state.encode("utf-8"), _address(target))
        except OSError as exc:
            raise AgentError(
                f"cannot send {state.splitlines()[0]!r} to systemd: {exc.strerror or exc}",
                address=target,
            ) from exc
    return True


def watchdog_interval_s(*, env: Mapping[str, str] | None = None) -> float | None:
    """How often to send ``WATCHDOG=1``: half of ``$WATCHDOG_USEC``, or None when off.

    Like sd_watchdog_enabled(), a ``$WATCHDOG_PID`` naming another process means the
    watchdog is not ours.
    """
    environ = os.environ if env is None else env
    raw = environ.get("WATCHDOG_USEC")
    if not raw:
        return None
    pid = environ.get("WATCHDOG_PID")
    if pid and pid.strip() != str(os.getpid()):
        return None
    try:
        usec = int(raw)
    except ValueError:
        raise AgentError(f"WATCHDOG_USEC={raw!r} is not a whole number of microseconds") from None
    if usec <= 0:
        return None
    return usec / 2 / 1_000_000
