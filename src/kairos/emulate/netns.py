"""Thin wrappers over iproute2 for the emulated cluster: namespaces, veths, bridges.

Every call goes through :func:`ip`, which turns a failing command into an
:class:`~kairos.errors.EmulationError` carrying the command line and its stderr, so a
half-built cluster can say exactly which step failed.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
import shutil
import subprocess
from collections.abc import Sequence

from kairos.errors import EmulationError

#: Subnets handed out to emulated clusters, one /24 each.
EMULATION_NET = ipaddress.IPv4Network("10.77.0.0/16")
#: Linux limit on interface names (IFNAMSIZ - 1).
MAX_IFNAME = 15


def ip_binary() -> str:
    """The ``ip`` command, or an error saying iproute2 is missing."""
    path = shutil.which("ip")
    if path is None:
        raise EmulationError("the emulated cluster needs iproute2: no 'ip' command on PATH")
    return path


def ip(*args: str, check: bool = True, timeout: float = 20.0) -> str:
    """Run ``ip ARGS`` and return its stdout; raise with the command and stderr on failure."""
    argv = [ip_binary(), *args]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise EmulationError(f"'{shlex.join(argv)}' did not finish in {timeout:g} s") from exc
    if check and done.returncode != 0:
        raise EmulationError(
            f"'{shlex.join(argv)}' failed (exit {done.returncode}): {done.stderr.strip()}"
        )
    return done.stdout


def namespaces() -> list[str]:
    """Names of every network namespace mounted under /run/netns."""
    out = ip("-json", "netns", "list")
    if not out.strip():
        return []
    return [entry["name"] for entry in json.loads(out)]


def links() -> list[str]:
    """Names of every network interface of the root namespace."""
    out = ip("-json", "link", "show")
    if not out.strip():
        return []
    return [entry["ifname"] for entry in json.loads(out)]


def link_exists(name: str) -> bool:
    return name in links()


def netns_pids(namespace: str) -> list[int]:
    """Processes whose network namespace is ``namespace`` (``ip netns pids``)."""
    out = ip("netns", "pids", namespace, check=False)
    return [int(word) for word in out.split() if word.isdigit()]


def used_subnets() -> set[ipaddress.IPv4Network]:
    """The /24s of 10.77.0.0/16 that an address in the root namespace already occupies."""
    out = ip("-json", "-4", "addr", "show")
    used: set[ipaddress.IPv4Network] = set()
    for entry in json.loads(out) if out.strip() else []:
        for addr in entry.get("addr_info", []):
            address = ipaddress.IPv4Address(addr["local"])
            if address in EMULATION_NET:
                used.add(ipaddress.IPv4Network(f"{address}/24", strict=False))
    return used


def free_subnet(reserved: Sequence[ipaddress.IPv4Network] = ()) -> ipaddress.IPv4Network:
    """The lowest /24 of 10.77.0.0/16 that no interface uses and nobody reserved."""
    taken = used_subnets() | set(reserved)
    for subnet in EMULATION_NET.subnets(new_prefix=24):
        if subnet.network_address.packed[2] == 0:
            continue  # keep 10.77.0.0/24 out: it reads like a network address
        if subnet not in taken:
            return subnet
    raise EmulationError(f"no free /24 left in {EMULATION_NET} for another emulated cluster")


def add_bridge(name: str, address: ipaddress.IPv4Interface) -> None:
    ip("link", "add", name, "type", "bridge")
    ip("addr", "add", str(address), "dev", name)
    ip("link", "set", name, "up")


def add_namespace(name: str) -> None:
    ip("netns", "add", name)
    ip("-n", name, "link", "set", "lo", "up")


def add_veth(
    host_end: str,
    ns_end: str,
    namespace: str,
    bridge: str,
    address: ipaddress.IPv4Interface,
    gateway: ipaddress.IPv4Address,
) -> None:
    """A veth pair: ``host_end`` on the bridge, ``ns_end`` in the namespace with ``address``."""
    ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
    ip("link", "set", ns_end, "netns", namespace)
    ip("link", "set", host_end, "master", bridge)
    ip("link", "set", host_end, "up")
    ip("-n", namespace, "addr", "add", str(address), "dev", ns_end)
    ip("-n", namespace, "link", "set", ns_end, "up")
    ip("-n", namespace, "route", "add", "default", "via", str(gateway))


def set_link(name: str, up: bool, namespace: str | None = None) -> None:
    where = ["-n", namespace] if namespace else []
    ip(*where, "link", "set", name, "up" if up else "down")


def operstate(name: str, namespace: str | None = None) -> str:
    """The kernel's operational state of an interface (``UP``, ``DOWN``, ``LOWERLAYERDOWN``)."""
    where = ["-n", namespace] if namespace else []
    out = ip(*where, "-json", "link", "show", "dev", name)
    entries = json.loads(out) if out.strip() else []
    return str(entries[0].get("operstate", "UNKNOWN")) if entries else "MISSING"


def flush_neighbours(namespace: str) -> None:
    """Forget cached (possibly FAILED) neighbour entries, so traffic resumes at once."""
    ip("-n", namespace, "neigh", "flush", "all")


def delete_link(name: str) -> bool:
    """Delete an interface of the root namespace; False when it was already gone."""
    if name not in links():
        return False
    ip("link", "del", name)
    return True


def delete_namespace(name: str) -> bool:
    """Delete a network namespace; False when it was already gone."""
    if name not in namespaces():
        return False
    ip("netns", "del", name)
    return True


def in_namespace(namespace: str, *argv: str, timeout: float = 20.0) -> str:
    """Run ``argv`` inside ``namespace`` (``ip netns exec``); EmulationError on failure."""
    return ip("netns", "exec", namespace, *argv, timeout=timeout)


def iptables_binary() -> str:
    """The ``iptables`` command, or an error saying how to get it (an emulated NAT needs it)."""
    path = shutil.which("iptables")
    if path is None:
        raise EmulationError(
            "an emulated NAT needs iptables: install the distribution's package "
            "(apt-get install iptables)"
        )
    return path


def add_nat_router(
    namespace: str,
    wan: str,
    lan: str,
    lan_address: ipaddress.IPv4Interface,
) -> None:
    """Make ``namespace`` a home router: forwarding from ``lan`` (a bridge it creates, at
    ``lan_address``) out of ``wan`` with MASQUERADE, and nothing in from ``wan`` but the
    replies of connections opened from inside (conntrack ESTABLISHED): new connections
    from outside are dropped, to the LAN and to the router itself.  The WAN side has no
    route to the LAN at all; the rules make sure even a forged one would lead nowhere."""
    iptables = iptables_binary()
    ip("-n", namespace, "link", "add", lan, "type", "bridge")
    ip("-n", namespace, "addr", "add", str(lan_address), "dev", lan)
    ip("-n", namespace, "link", "set", lan, "up")
    in_namespace(namespace, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    subnet = str(lan_address.network)
    established = ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"]
    for rule in (
        ["-t", "nat", "-A", "POSTROUTING", "-s", subnet, "-o", wan, "-j", "MASQUERADE"],
        ["-P", "FORWARD", "DROP"],
        ["-A", "FORWARD", "-i", lan, "-o", wan, "-j", "ACCEPT"],
        # within the LAN (where br_netfilter hands bridged frames to iptables too)
        ["-A", "FORWARD", "-i", lan, "-o", lan, "-j", "ACCEPT"],
        ["-A", "FORWARD", "-i", wan, "-o", lan, *established],
        ["-A", "INPUT", "-i", wan, *established],
        ["-A", "INPUT", "-i", wan, "-j", "DROP"],
    ):
        in_namespace(namespace, iptables, *rule)


def add_lan_veth(
    host_end: str,
    ns_end: str,
    namespace: str,
    router: str,
    lan: str,
    address: ipaddress.IPv4Interface,
    gateway: ipaddress.IPv4Address,
) -> None:
    """A device behind a NAT router: ``host_end`` on the router's LAN bridge (inside the
    router's namespace), ``ns_end`` in the device's namespace, routed via the router."""
    ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
    ip("link", "set", ns_end, "netns", namespace)
    ip("link", "set", host_end, "netns", router)
    ip("-n", router, "link", "set", host_end, "master", lan)
    ip("-n", router, "link", "set", host_end, "up")
    ip("-n", namespace, "addr", "add", str(address), "dev", ns_end)
    ip("-n", namespace, "link", "set", ns_end, "up")
    ip("-n", namespace, "route", "add", "default", "via", str(gateway))
