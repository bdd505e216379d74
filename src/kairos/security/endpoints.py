"""Which endpoints count as loopback, and how to reach a bound endpoint from this host.

Only a loopback (or ipc/inproc) bind may run a control plane without CurveZMQ: anything
else is reachable from the network, so an agent bound there must not obey strangers.
"""

from __future__ import annotations

import ipaddress

LOCAL_TRANSPORTS = ("ipc://", "inproc://")
_WILDCARDS = {"*", "0.0.0.0", "::", "[::]"}


def endpoint_host(endpoint: str) -> str:
    """The host part of ``tcp://HOST:PORT`` (brackets of an IPv6 address removed)."""
    rest = endpoint.split("://", 1)[-1]
    if ";" in rest:  # tcp://source;destination: the destination is what we bind/connect
        rest = rest.rsplit(";", 1)[-1]
    if rest.startswith("["):
        return rest[1:].partition("]")[0]
    return rest.rpartition(":")[0] or rest


def is_loopback(endpoint: str) -> bool:
    """True for ipc/inproc and for tcp on ``localhost``, ``127.0.0.0/8``, ``::1`` or ``lo``."""
    if endpoint.startswith(LOCAL_TRANSPORTS):
        return True
    if not endpoint.startswith("tcp://"):
        return False  # pgm, udp, ws…: never assumed local
    host = endpoint_host(endpoint)
    if host in ("localhost", "lo"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # an interface or host name: may face the network


def reachable_from_here(bound: str) -> str:
    """An endpoint this host can connect to for a bound one (a wildcard becomes loopback)."""
    if not bound.startswith("tcp://"):
        return bound
    host = endpoint_host(bound)
    port = bound.rsplit(":", 1)[-1]
    if host in _WILDCARDS:
        return f"tcp://{'[::1]' if ':' in host else '127.0.0.1'}:{port}"
    return bound
