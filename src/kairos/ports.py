"""Free TCP ports for benchmarks and tests that start actors on 127.0.0.1.

A port freed by bind-to-0 lies in the kernel's ephemeral range, so any outgoing connection
(a launcher dialling its agent, a SUB dialling a PUB) may take it before the actor binds it:
the actor then fails with "address in use" and restarts in a loop.  Ports are therefore taken
from below the ephemeral range, checked by binding, and never handed out twice per process.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_LOWEST = 10_000
_handed_out: set[int] = set()


def free_port_range(count: int = 1) -> int:
    """A base port such that ``count`` consecutive ports are free now and were never handed out.

    Raises RuntimeError when no such range is found.
    """
    high = _ephemeral_low()
    if high - _LOWEST < 1000 + count:  # no room below the ephemeral range: use it anyway
        high = 65535
    start = random.randrange(_LOWEST, high - count)
    for base in (*range(start, high - count), *range(_LOWEST, start)):
        span = range(base, base + count)
        if _handed_out.isdisjoint(span) and all(_bindable(port) for port in span):
            _handed_out.update(span)
            return base
    raise RuntimeError(f"no {count} consecutive free ports on 127.0.0.1")


def free_port() -> int:
    """One free port (see :func:`free_port_range`)."""
    return free_port_range(1)


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 49152  # the IANA dynamic range, as on macOS


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
