"""The emulated cluster (docs/design.md §9): one network namespace and cgroup set per device.

A topology's devices become namespaces on one Linux bridge, each with its own address in a
/24 of 10.77.0.0/16 and its device class's CPU and memory budget enforced by cgroups.
Multi-device tests and ``kairos launch --emulate`` run agents inside it with :meth:`spawn`.

Everything created carries the prefix ``kz<cluster id>`` (interfaces, namespaces) or lives
below ``<controller>/kairos/<cluster id>`` (cgroups), and an owner file under
``/run/kairos/emulate`` names the process that built it, so :func:`clean_leftovers` can
remove what a crashed builder left without touching a live cluster.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import fcntl
import ipaddress
import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

from kairos.emulate import cgroups as _cgroups
from kairos.emulate import netns as _netns
from kairos.errors import EmulationError
from kairos.timeouts import STOP_GRACE_S
from kairos.topologies.model import DEFAULT_AGENT_PORT, Topology

PREFIX = "kz"
STATE_DIR = Path("/run/kairos/emulate")
JOIN_TIMEOUT_S = 5.0
_CLUSTER_ID = re.compile(r"^[a-z0-9]{1,8}$")
_NAME = re.compile(rf"^{PREFIX}([a-z0-9]{{1,8}})-")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class Budget:
    """The resources one emulated device may use: CPUs (None: all) and MiB (None: all)."""

    cpu_quota: float | None
    memory_mb: int | None


def class_budget(device_class: str) -> Budget:
    """The emulated budget a device class declares (``hardware/classes``)."""
    try:
        from kairos.hardware.classes import load_class
    except ImportError as exc:
        raise EmulationError(
            f"cannot read the budget of device class {device_class!r}: "
            f"kairos.hardware.classes is not importable ({exc})"
        ) from exc
    budget = load_class(device_class).budget
    memory = budget.memory_mb if budget.memory_mb and budget.memory_mb > 0 else None
    return Budget(cpu_quota=budget.cpu_quota, memory_mb=memory)


@dataclass(frozen=True)
class EmulatedDevice:
    """Names and address of one device in the emulated cluster."""

    name: str
    namespace: str
    host_veth: str
    ns_veth: str
    address: ipaddress.IPv4Address
    budget: Budget
    #: the namespace of the NAT router it sits behind (a dialling device), None: on the bridge
    router: str | None = None


#: the LAN behind every emulated NAT router; each lives in its own router's namespace, so
#: sites may share it as real homes do (nothing outside routes to it)
NAT_LAN = ipaddress.IPv4Network("192.168.77.0/24")
#: the first LAN address handed to a device behind a NAT (.1 is the router)
NAT_FIRST_HOST = 10


@dataclass(frozen=True)
class EmulatedSite:
    """A NAT router (docs/sites.md): its namespace, its uplink on the bridge and its LAN."""

    name: str
    namespace: str
    #: the uplink's root end (on the bridge) and its router end
    wan_host_veth: str
    wan_ns_veth: str
    #: the router's address on the bridge: all an outsider sees of the site
    wan_address: ipaddress.IPv4Address
    #: the LAN bridge, inside the router's namespace
    lan: str
    devices: tuple[str, ...]


@dataclass
class Leftovers:
    """What exists of one cluster id on this machine, and whether its builder is alive."""

    cluster_id: str
    namespaces: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    cgroups: list[Path] = field(default_factory=list)
    state_file: Path | None = None
    owner_pid: int | None = None
    owner_alive: bool = False
    subnet: str | None = None


def _check_host() -> _cgroups.CgroupLayout:
    if not sys.platform.startswith("linux"):
        raise EmulationError(
            f"the emulated cluster needs Linux namespaces and cgroups; this is {sys.platform}"
        )
    if os.geteuid() != 0:
        raise EmulationError(
            "the emulated cluster needs root (network namespaces, veths, cgroups): "
            f"running as uid {os.geteuid()}; retry with sudo"
        )
    _netns.ip_binary()
    return _cgroups.CgroupLayout.detect()


@contextlib.contextmanager
def _state_lock() -> Iterator[None]:
    """Serialise subnet choice and clean-up between processes building clusters."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with open(STATE_DIR / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _owner_alive(pid: int | None, started: float | None) -> bool:
    """True when ``pid`` still runs and is the same process (same start time) as recorded."""
    if pid is None:
        return False
    try:
        proc = psutil.Process(pid)
        return started is None or abs(proc.create_time() - started) < 1.0
    except psutil.NoSuchProcess:
        return False


def _read_state(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _signal_and_reap(pids: set[int], popens: Sequence[subprocess.Popen[Any]]) -> None:
    """SIGTERM every pid, SIGKILL survivors after the grace period, reap our children."""
    me = os.getpid()
    procs: list[psutil.Process] = []
    for pid in sorted(pids - {me}):
        with contextlib.suppress(psutil.NoSuchProcess):
            procs.append(psutil.Process(pid))
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _gone, alive = psutil.wait_procs(procs, timeout=STOP_GRACE_S)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=STOP_GRACE_S)
    for popen in popens:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=STOP_GRACE_S)


def _tree(pid: int) -> set[int]:
    try:
        parent = psutil.Process(pid)
        return {pid, *(child.pid for child in parent.children(recursive=True))}
    except psutil.NoSuchProcess:
        return set()


class EmulatedCluster:
    """A topology's devices as namespaces on one bridge, with cgroup budgets (a context manager).

    ``budgets`` overrides the device classes' budgets for some devices (tests, what-ifs).
    """

    def __init__(
        self,
        topology: Topology,
        *,
        cluster_id: str | None = None,
        budgets: Mapping[str, Budget] | None = None,
    ) -> None:
        cluster_id = cluster_id if cluster_id is not None else secrets.token_hex(3)
        if not _CLUSTER_ID.match(cluster_id):
            raise EmulationError(
                f"cluster id {cluster_id!r} must be 1-8 lowercase letters or digits "
                "(it goes into interface names of at most 15 characters)"
            )
        if len(topology.devices) + len(_sites(topology)) > 253:
            raise EmulationError(
                f"topology {topology.name!r} has {len(topology.devices)} devices and "
                f"{len(_sites(topology))} NAT sites; an emulated cluster holds at most 253 "
                "(one /24)"
            )
        unknown = sorted(set(budgets or {}) - set(topology.devices))
        if unknown:
            raise EmulationError(f"budgets given for devices not in the topology: {unknown}")
        self.cluster_id = cluster_id
        self.prefix = f"{PREFIX}{cluster_id}"
        self._topology = topology
        self._budget_overrides = dict(budgets or {})
        self._layout: _cgroups.CgroupLayout | None = None
        self._devices: dict[str, EmulatedDevice] = {}
        self._sites: dict[str, EmulatedSite] = {}
        self._subnet: ipaddress.IPv4Network | None = None
        self._processes: list[subprocess.Popen[Any]] = []
        self._started = False
        #: True once this object wrote the owner file: only then may close() delete by name
        self._claimed = False

    # -- names ---------------------------------------------------------------------------

    @property
    def bridge(self) -> str:
        return f"{self.prefix}-br"

    @property
    def state_file(self) -> Path:
        return STATE_DIR / f"{self.cluster_id}.json"

    @property
    def gateway(self) -> str:
        """The bridge's address: how namespaces reach the root namespace."""
        return str(self._require_subnet().network_address + 1)

    def devices(self) -> dict[str, EmulatedDevice]:
        return dict(self._devices)

    def device(self, name: str) -> EmulatedDevice:
        try:
            return self._devices[name]
        except KeyError:
            if not self._started:
                raise EmulationError(f"emulated cluster {self.cluster_id} is not started") from None
            raise EmulationError(
                f"no device {name!r} in emulated cluster {self.cluster_id} "
                f"(devices: {', '.join(self._devices)})"
            ) from None

    def address(self, device: str) -> str:
        return str(self.device(device).address)

    def sites(self) -> dict[str, EmulatedSite]:
        """The NAT routers, by site name (the devices' ``site:``; ``nat`` when unnamed)."""
        return dict(self._sites)

    def site_of(self, device: str) -> EmulatedSite | None:
        """The NAT site ``device`` sits behind, or None (reachable on the bridge)."""
        return next((s for s in self._sites.values() if device in s.devices), None)

    def _require_subnet(self) -> ipaddress.IPv4Network:
        if self._subnet is None:
            raise EmulationError(f"emulated cluster {self.cluster_id} is not started")
        return self._subnet

    def _plan(self, subnet: ipaddress.IPv4Network, budgets: Mapping[str, Budget]) -> None:
        hosts = list(subnet.hosts())  # .1 is the bridge
        namespaces: dict[str, str] = {}
        for index, name in enumerate(self._topology.devices):
            namespace = f"{self.prefix}-{_UNSAFE.sub('_', name)[:48]}"
            clash = [other for other, ns in namespaces.items() if ns == namespace]
            if clash:
                raise EmulationError(
                    f"devices {name!r} and {clash[0]!r} map to the same namespace name "
                    f"{namespace!r}; rename one"
                )
            namespaces[name] = namespace
            self._devices[name] = EmulatedDevice(
                name=name,
                namespace=namespace,
                host_veth=f"{self.prefix}-v{index}",
                ns_veth=f"{self.prefix}-p{index}",
                address=hosts[index + 1],
                budget=budgets[name],
            )
        lan_hosts = list(NAT_LAN.hosts())
        for number, (site, members) in enumerate(_sites(self._topology).items()):
            router = f"{self.prefix}-nat{number}"
            self._sites[site] = EmulatedSite(
                name=site,
                namespace=router,
                wan_host_veth=f"{self.prefix}-w{number}",
                wan_ns_veth=f"{self.prefix}-x{number}",
                wan_address=hosts[len(self._topology.devices) + 1 + number],
                lan=f"{self.prefix}-l{number}",
                devices=tuple(members),
            )
            for position, name in enumerate(members):
                self._devices[name] = dataclasses.replace(
                    self._devices[name],
                    address=lan_hosts[NAT_FIRST_HOST - 1 + position],
                    router=router,
                )

    # -- life cycle ----------------------------------------------------------------------

    def __enter__(self) -> EmulatedCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> EmulatedCluster:
        """Build bridge, namespaces, veths and cgroups; on any failure undo all and raise."""
        if self._started:
            raise EmulationError(f"emulated cluster {self.cluster_id} is already started")
        self._layout = _check_host()
        budgets = {
            name: self._budget_overrides.get(name) or class_budget(device.device_class)
            for name, device in self._topology.devices.items()
        }
        self._started = True
        atexit.register(self.close)
        try:
            with _state_lock():
                self._claim(budgets)
                for site in self._sites.values():
                    self._build_site(site)
                for device in self._devices.values():
                    self._build_device(device)
        except BaseException:
            with contextlib.suppress(EmulationError):
                self.close()
            raise
        return self

    def _claim(self, budgets: Mapping[str, Budget]) -> None:
        """Check the id is free, choose a subnet, record ownership, create the bridge."""
        everything = find_leftovers()
        existing = everything.get(self.cluster_id)
        if existing is not None:
            raise EmulationError(
                f"cluster id {self.cluster_id} is in use on this machine "
                f"(owner pid {existing.owner_pid}, alive: {existing.owner_alive}); "
                "pick another id, or run 'kairos emulate clean' if its builder crashed"
            )
        reserved = [
            ipaddress.IPv4Network(info.subnet) for info in everything.values() if info.subnet
        ]
        subnet = _netns.free_subnet(reserved)
        self._plan(subnet, budgets)
        self._subnet = subnet
        me = psutil.Process()
        self.state_file.write_text(
            json.dumps(
                {
                    "cluster_id": self.cluster_id,
                    "owner_pid": me.pid,
                    "owner_started": me.create_time(),
                    "topology": self._topology.name,
                    "subnet": str(subnet),
                    "devices": {d.name: str(d.address) for d in self._devices.values()},
                }
            )
        )
        self._claimed = True
        _netns.add_bridge(self.bridge, ipaddress.IPv4Interface(f"{self.gateway}/24"))

    def _build_site(self, site: EmulatedSite) -> None:
        """The NAT router of ``site``: its namespace, uplink on the bridge, LAN and rules."""
        _netns.add_namespace(site.namespace)
        _netns.add_veth(
            site.wan_host_veth,
            site.wan_ns_veth,
            site.namespace,
            self.bridge,
            ipaddress.IPv4Interface(f"{site.wan_address}/24"),
            ipaddress.IPv4Address(self.gateway),
        )
        _netns.add_nat_router(
            site.namespace,
            site.wan_ns_veth,
            site.lan,
            ipaddress.IPv4Interface(f"{_nat_gateway()}/{NAT_LAN.prefixlen}"),
        )

    def _build_device(self, device: EmulatedDevice) -> None:
        assert self._layout is not None and self._subnet is not None
        _netns.add_namespace(device.namespace)
        if device.router is not None:
            site = next(s for s in self._sites.values() if s.namespace == device.router)
            _netns.add_lan_veth(
                device.host_veth,
                device.ns_veth,
                device.namespace,
                device.router,
                site.lan,
                ipaddress.IPv4Interface(f"{device.address}/{NAT_LAN.prefixlen}"),
                _nat_gateway(),
            )
        else:
            _netns.add_veth(
                device.host_veth,
                device.ns_veth,
                device.namespace,
                self.bridge,
                ipaddress.IPv4Interface(f"{device.address}/24"),
                ipaddress.IPv4Address(self.gateway),
            )
        _cgroups.create(self._layout, self.cluster_id, device.name)
        _cgroups.set_limits(
            self._layout,
            self.cluster_id,
            device.name,
            cpu_quota=device.budget.cpu_quota,
            memory_mb=device.budget.memory_mb,
        )

    def close(self) -> None:
        """Kill every process, delete namespaces, links, bridge and cgroups; idempotent."""
        if not self._started:
            return
        atexit.unregister(self.close)
        if not self._claimed:  # failed before owning anything: nothing here is ours
            self._started = False
            self._devices.clear()
            return
        errors: list[str] = []
        layout = self._layout
        pids: set[int] = set()
        for proc in self._processes:
            if proc.poll() is None:
                pids |= _tree(proc.pid)
        for device in self._devices.values():
            pids.update(_netns.netns_pids(device.namespace))
            if layout is not None:
                pids.update(_cgroups.device_pids(layout, self.cluster_id, device.name))
        _signal_and_reap(pids, self._processes)
        # each device's and each NAT router's host-side veth, then its namespace
        hosts = [(d.host_veth, d.namespace) for d in self._devices.values()]
        hosts += [(s.wan_host_veth, s.namespace) for s in self._sites.values()]
        for veth, namespace in hosts:
            for step in (
                lambda v=veth: _netns.delete_link(v),
                lambda n=namespace: _netns.delete_namespace(n),
            ):
                try:
                    step()
                except EmulationError as exc:
                    errors.append(str(exc))
        try:
            _netns.delete_link(self.bridge)
        except EmulationError as exc:
            errors.append(str(exc))
        if layout is not None:
            for directory in layout.cluster_dirs(self.cluster_id):
                try:
                    _cgroups.remove_tree(directory)
                except EmulationError as exc:
                    errors.append(str(exc))
        self._processes.clear()
        if not errors:
            self.state_file.unlink(missing_ok=True)
            self._started = False
            self._claimed = False
            self._devices.clear()
            self._sites.clear()
            self._subnet = None
            return
        raise EmulationError(
            f"emulated cluster {self.cluster_id} was not fully removed "
            f"(run 'kairos emulate clean'): " + "; ".join(errors)
        )

    # -- using it ------------------------------------------------------------------------

    def topology(self) -> Topology:
        """The topology with each device's agent and host set to its namespace's address;
        a dialling device's agent dials the launcher at the bridge's address (the launcher
        runs in the root namespace), on the port its topology gives."""
        devices = {
            name: dataclasses.replace(
                spec,
                agent=(
                    f"tcp://{self.gateway}:{spec.agent.rsplit(':', 1)[-1]}"
                    if spec.dial
                    else f"tcp://{self.address(name)}:{DEFAULT_AGENT_PORT}"
                ),
                host=self.address(name),
            )
            for name, spec in self._topology.devices.items()
        }
        return dataclasses.replace(self._topology, devices=devices)

    def spawn(
        self,
        device: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        **popen_kwargs: Any,
    ) -> subprocess.Popen[Any]:
        """Run ``argv`` inside the device's namespace and cgroups.

        No ``preexec_fn`` (forking a Python process that holds a ZeroMQ context is unsafe):
        a small ``sh`` writes its own pid into the cgroups, then execs ``ip netns exec``, so
        the program never runs a single instruction outside its budget.
        """
        target = self.device(device)
        assert self._layout is not None
        if not argv:
            raise EmulationError(f"spawn on device {device!r}: empty command")
        joins = " && ".join(
            f"echo $$ > {shlex.quote(str(path))}"
            for path in self._layout.procs_files(self.cluster_id, device)
        )
        script = f"{joins} && exec {shlex.quote(_netns.ip_binary())} netns exec " + (
            f'{shlex.quote(target.namespace)} "$@"'
        )
        wrapper = ["/bin/sh", "-c", script, f"{self.prefix}-spawn", *argv]
        try:
            proc = subprocess.Popen(
                wrapper, env=dict(env) if env is not None else None, **popen_kwargs
            )
        except OSError as exc:
            raise EmulationError(f"cannot spawn {argv[0]!r} on device {device!r}: {exc}") from exc
        self._processes.append(proc)
        self._wait_joined(device, proc)
        return proc

    def _wait_joined(self, device: str, proc: subprocess.Popen[Any]) -> None:
        """Return only once the process sits in its device's cgroups, so that whoever kills
        this builder right after a spawn leaves nothing a clean-up could miss."""
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        while proc.pid not in self.cgroup_pids(device):
            if proc.poll() is not None:
                return  # already over: nothing left behind to account for
            if time.monotonic() > deadline:
                raise EmulationError(
                    f"spawn on device {device!r}: the process did not join its cgroups "
                    f"within {JOIN_TIMEOUT_S} s"
                )
            time.sleep(0.005)

    def cgroup_limits(self, device: str) -> dict[str, int | None]:
        """The device's limits as the kernel holds them (quota/period µs, memory bytes)."""
        self.device(device)
        assert self._layout is not None
        return _cgroups.read_limits(self._layout, self.cluster_id, device)

    def cgroup_pids(self, device: str) -> list[int]:
        """Every pid currently in the device's cgroups."""
        self.device(device)
        assert self._layout is not None
        return _cgroups.device_pids(self._layout, self.cluster_id, device)

    def set_limits(self, device: str, budget: Budget) -> None:
        """Change a running device's budget (tests, chaos: squeeze memory or CPU)."""
        target = self.device(device)
        assert self._layout is not None
        _cgroups.set_limits(
            self._layout,
            self.cluster_id,
            device,
            cpu_quota=budget.cpu_quota,
            memory_mb=budget.memory_mb,
        )
        self._devices[device] = dataclasses.replace(target, budget=budget)

    def site_down(self, site: str) -> None:
        """Cut a NAT site's uplink: every device behind it loses the outside world."""
        _netns.set_link(self._site(site).wan_host_veth, up=False)

    def site_up(self, site: str, timeout: float = 5.0) -> None:
        """Restore a NAT site's uplink; return once the router's end has carrier again."""
        target = self._site(site)
        _netns.set_link(target.wan_host_veth, up=True)
        deadline = time.monotonic() + timeout
        while _netns.operstate(target.wan_ns_veth, target.namespace) != "UP":
            if time.monotonic() > deadline:
                raise EmulationError(
                    f"site {site!r}: {target.wan_ns_veth} did not come up within {timeout:g} s"
                )
            time.sleep(0.02)
        _netns.flush_neighbours(target.namespace)

    def _site(self, name: str) -> EmulatedSite:
        try:
            return self._sites[name]
        except KeyError:
            raise EmulationError(
                f"no NAT site {name!r} in emulated cluster {self.cluster_id} "
                f"(sites: {', '.join(self._sites) or 'none'})"
            ) from None

    def link_down(self, device: str) -> None:
        """Cut the device off the bridge, or off its NAT router's LAN (its veth goes down) —
        a pulled network cable."""
        target = self.device(device)
        _netns.set_link(target.host_veth, up=False, namespace=target.router)

    def link_up(self, device: str, timeout: float = 5.0) -> None:
        """Plug the cable back in; return once the device's end reports carrier again."""
        target = self.device(device)
        _netns.set_link(target.host_veth, up=True, namespace=target.router)
        deadline = time.monotonic() + timeout
        while _netns.operstate(target.ns_veth, target.namespace) != "UP":
            if time.monotonic() > deadline:
                raise EmulationError(
                    f"device {device!r}: {target.ns_veth} did not come up within {timeout:g} s"
                )
            time.sleep(0.02)
        _netns.flush_neighbours(target.namespace)


def _sites(topology: Topology) -> dict[str, list[str]]:
    """The dialling devices of ``topology`` by site (``nat`` for those naming none): each
    site becomes one NAT router."""
    sites: dict[str, list[str]] = {}
    for name, device in topology.devices.items():
        if device.dial:
            sites.setdefault(device.site or "nat", []).append(name)
    return sites


def _nat_gateway() -> ipaddress.IPv4Address:
    return NAT_LAN.network_address + 1


# -- leftovers ---------------------------------------------------------------------------


def find_leftovers() -> dict[str, Leftovers]:
    """Every Kairos cluster id with something on this machine, with what and who owns it."""
    found: dict[str, Leftovers] = {}

    def entry(cluster_id: str) -> Leftovers:
        return found.setdefault(cluster_id, Leftovers(cluster_id))

    for name in _netns.namespaces():
        if match := _NAME.match(name):
            entry(match.group(1)).namespaces.append(name)
    for name in _netns.links():
        if match := _NAME.match(name):
            entry(match.group(1)).links.append(name)
    with contextlib.suppress(EmulationError):
        layout = _cgroups.CgroupLayout.detect()
        for cluster_id, dirs in _cgroups.kairos_clusters(layout).items():
            entry(cluster_id).cgroups.extend(dirs)
    if STATE_DIR.is_dir():
        for path in sorted(STATE_DIR.glob("*.json")):
            info = entry(path.stem)
            data = _read_state(path)
            info.state_file = path
            pid = data.get("owner_pid")
            info.owner_pid = pid if isinstance(pid, int) else None
            info.owner_alive = _owner_alive(info.owner_pid, data.get("owner_started"))
            info.subnet = data.get("subnet") if isinstance(data.get("subnet"), str) else None
    return found


def _remove(info: Leftovers) -> list[str]:
    removed: list[str] = []
    pids: set[int] = set()
    for namespace in info.namespaces:
        pids.update(_netns.netns_pids(namespace))
    for directory in info.cgroups:
        pids.update(_cgroups.pids_in(directory))
    if pids:
        _signal_and_reap(pids, ())
        removed.extend(f"process {pid}" for pid in sorted(pids))
    # veths first (deleting one end removes its peer), the bridge after them
    for link in sorted(info.links, key=lambda n: n.endswith("-br")):
        if _netns.delete_link(link):
            removed.append(f"link {link}")
    for namespace in info.namespaces:
        if _netns.delete_namespace(namespace):
            removed.append(f"netns {namespace}")
    for directory in info.cgroups:
        if _cgroups.remove_tree(directory):
            removed.append(f"cgroup {directory}")
    if info.state_file is not None and info.state_file.exists():
        info.state_file.unlink()
        removed.append(f"state {info.state_file}")
    return removed


def clean_leftovers(cluster_id: str | None = None, *, force: bool = False) -> list[str]:
    """Remove what crashed builders left: processes, namespaces, links, cgroups; say what.

    Clusters whose builder still runs are left alone unless ``force``; ``cluster_id``
    restricts the clean-up to one cluster.
    """
    _check_host()
    removed: list[str] = []
    with _state_lock():
        for info in find_leftovers().values():
            if cluster_id is not None and info.cluster_id != cluster_id:
                continue
            if info.owner_alive and not force:
                continue
            removed.extend(_remove(info))
    return removed
