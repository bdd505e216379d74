"""Which endpoints and hosts are on loopback: the one test behind two security defaults.

An agent bound off loopback must run CurveZMQ (kairos.security.policy), and a topology with
any device whose actors bind off loopback encrypts its data plane unless it says otherwise
(``mesh.encrypt``, kairos.topologies).  Both ask here, so they never disagree about an address.
"""

from __future__ import annotations

import ipaddress

LOCAL_TRANSPORTS = ("ipc://", "inproc://")


def endpoint_host(endpoint: str) -> str:
    """The host part of ``tcp://HOST:PORT`` (brackets of an IPv6 address removed)."""
    rest = endpoint.split("://", 1)[-1]
    if ";" in rest:  # tcp://source;destination: the destination is what we bind/connect
        rest = rest.rsplit(";", 1)[-1]
    if rest.startswith("["):
        return rest[1:].partition("]")[0]
    return rest.rpartition(":")[0] or rest


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, ``lo``, ``127.0.0.0/8`` and ``::1``; a wildcard (``*``,
    ``0.0.0.0``), an interface or host name may face the network and is not."""
    if host in ("localhost", "lo"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_loopback(endpoint: str) -> bool:
    """True for ipc/inproc and for tcp on a loopback host (:func:`is_loopback_host`)."""
    if endpoint.startswith(LOCAL_TRANSPORTS):
        return True
    if not endpoint.startswith("tcp://"):
        return False  # pgm, udp, ws…: never assumed local
    return is_loopback_host(endpoint_host(endpoint))
