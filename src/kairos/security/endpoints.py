"""How to reach a bound endpoint from this host (the self-test dials its own agent).

Only a loopback (or ipc/inproc) bind may run a control plane without CurveZMQ: anything
else is reachable from the network, so an agent bound there must not obey strangers.  What
counts as loopback is decided once, in :mod:`kairos.loopback`.
"""

from __future__ import annotations

from kairos.loopback import endpoint_host

_WILDCARDS = {"*", "0.0.0.0", "::", "[::]"}


def reachable_from_here(bound: str) -> str:
    """An endpoint this host can connect to for a bound one (a wildcard becomes loopback)."""
    if not bound.startswith("tcp://"):
        return bound
    host = endpoint_host(bound)
    port = bound.rsplit(":", 1)[-1]
    if host in _WILDCARDS:
        return f"tcp://{'[::1]' if ':' in host else '127.0.0.1'}:{port}"
    return bound
