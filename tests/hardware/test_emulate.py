"""The emulated cluster on real namespaces, veths and cgroups (needs root on Linux)."""

from __future__ import annotations

import argparse
import errno
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import zmq
from support import kill_tree, run_kairos

from kairos.emulate import cgroups as _cgroups
from kairos.emulate import netns as _netns
from kairos.emulate.cluster import (
    STATE_DIR,
    Budget,
    EmulatedCluster,
    clean_leftovers,
    find_leftovers,
)
from kairos.errors import EmulationError
from kairos.tools import emulate as emulate_tool
from kairos.topologies.model import Device, MeshSpec, Topology

pytestmark = [
    pytest.mark.emulated,
    pytest.mark.skipif(
        not sys.platform.startswith("linux") or os.geteuid() != 0,
        reason="the emulated cluster needs root on Linux",
    ),
]

CLASSES = {"kitchen": "pi-zero", "living": "pi-4", "desk": "mac-mini"}

REP_SERVER = textwrap.dedent(
    """
    import sys, zmq
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REP)
    sock.linger = 0
    sock.bind(sys.argv[1])
    print("bound", flush=True)
    for _ in range(int(sys.argv[2])):
        sock.send(b"pong:" + sock.recv())
    sock.close()
    ctx.destroy(linger=0)
    """
)

REQ_CLIENT = textwrap.dedent(
    """
    import sys, zmq
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)
    sock.linger = 0
    sock.rcvtimeo = 30000
    sock.connect(sys.argv[1])
    sock.send(sys.argv[2].encode())
    print(sock.recv().decode(), flush=True)
    sock.close()
    ctx.destroy(linger=0)
    """
)


def make_topology() -> Topology:
    devices = {
        name: Device(name=name, device_class=cls, agent="localhost", host="127.0.0.1", weight=1.0)
        for name, cls in CLASSES.items()
    }
    return Topology(
        name="emulated-test",
        path=Path("emulated-test.yaml"),
        mesh=MeshSpec(),
        devices=devices,
        actors={},
    )


def new_id() -> str:
    return "t" + secrets.token_hex(3)


@pytest.fixture
def cluster() -> Iterator[EmulatedCluster]:
    with EmulatedCluster(make_topology(), cluster_id=new_id()) as built:
        yield built


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def remains(cluster_id: str) -> list[str]:
    """Everything carrying the cluster's names that is still on the machine."""
    prefix = f"kz{cluster_id}-"
    found = [n for n in _netns.namespaces() if n.startswith(prefix)]
    found += [n for n in _netns.links() if n.startswith(prefix)]
    layout = _cgroups.CgroupLayout.detect()
    found += [str(d) for d in layout.cluster_dirs(cluster_id) if d.exists()]
    found += [str(p) for p in STATE_DIR.glob(f"{cluster_id}.json")]
    return found


def test_topology_points_agents_into_namespaces(cluster: EmulatedCluster) -> None:
    topo = cluster.topology()
    addresses = {name: dev.host for name, dev in topo.devices.items()}
    assert len(set(addresses.values())) == 3
    gateway = cluster.gateway
    assert gateway.endswith(".1") and gateway.startswith("10.77.")
    for name, dev in topo.devices.items():
        assert dev.agent == f"tcp://{dev.host}:7700"
        assert dev.host.rsplit(".", 1)[0] == gateway.rsplit(".", 1)[0]
        assert dev.device_class == CLASSES[name]
    for dev in cluster.devices().values():
        assert len(dev.host_veth) <= 15 and len(dev.ns_veth) <= 15
        assert dev.namespace in _netns.namespaces()


def test_zeromq_between_namespaces_and_from_root(cluster: EmulatedCluster) -> None:
    """A REP in pi-4's namespace answers a REQ from pi-zero's namespace and one from the root."""
    endpoint = f"tcp://{cluster.address('living')}:5555"
    server = cluster.spawn(
        "living",
        [sys.executable, "-c", REP_SERVER, f"tcp://{cluster.address('living')}:5555", "2"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    assert server.stdout.readline().strip() == "bound"

    client = cluster.spawn(
        "kitchen",
        [sys.executable, "-c", REQ_CLIENT, endpoint, "from-kitchen"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = client.communicate(timeout=60)
    assert client.returncode == 0, err
    assert out.strip() == "pong:from-kitchen"

    ctx = zmq.Context()
    try:
        sock = ctx.socket(zmq.REQ)
        sock.linger = 0
        sock.rcvtimeo = 30000
        sock.connect(endpoint)
        sock.send(b"from-root")
        assert sock.recv() == b"pong:from-root"
        sock.close()
    finally:
        ctx.destroy(linger=0)
    assert server.wait(timeout=30) == 0
    server.stdout.close()
    assert client.stdout is not None and client.stderr is not None
    client.stdout.close()
    client.stderr.close()


def test_loopback_inside_namespace_is_private(cluster: EmulatedCluster) -> None:
    """127.0.0.1 in a device's namespace is its own: a root-namespace listener is not there."""
    probe = textwrap.dedent(
        """
        import socket, sys
        s = socket.socket()
        s.settimeout(5)
        print(s.connect_ex(("127.0.0.1", int(sys.argv[1]))))
        """
    )
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        done = cluster.spawn(
            "desk",
            [sys.executable, "-c", probe, str(listener.getsockname()[1])],
            stdout=subprocess.PIPE,
            text=True,
        )
        out, _ = done.communicate(timeout=30)
        assert int(out.strip()) != 0  # refused: nobody listens in the namespace
    finally:
        listener.close()
        if done.stdout is not None:
            done.stdout.close()


def test_class_budgets_read_back(cluster: EmulatedCluster) -> None:
    zero = cluster.cgroup_limits("kitchen")
    assert zero["cpu_quota_us"] == 10_000
    assert zero["cpu_period_us"] == 100_000
    assert zero["memory_limit_bytes"] == 512 * 1024 * 1024
    pi4 = cluster.cgroup_limits("living")
    assert pi4["cpu_quota_us"] == 100_000
    mac = cluster.cgroup_limits("desk")
    assert mac["cpu_quota_us"] is None
    assert mac["memory_limit_bytes"] is None


def test_spawned_process_is_in_the_device_cgroups(cluster: EmulatedCluster) -> None:
    proc = cluster.spawn("kitchen", ["sleep", "30"])
    try:
        deadline = time.monotonic() + 30
        while psutil.Process(proc.pid).name() != "sleep" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.pid in cluster.cgroup_pids("kitchen")
        assert psutil.Process(proc.pid).name() == "sleep"
        ns_pids = _netns.netns_pids(cluster.devices()["kitchen"].namespace)
        assert proc.pid in ns_pids
        assert proc.pid not in cluster.cgroup_pids("living")
    finally:
        kill_tree(proc.pid)
        proc.wait(timeout=10)


def test_memory_limit_kills_a_process_that_exceeds_it(cluster: EmulatedCluster) -> None:
    cluster.set_limits("desk", Budget(cpu_quota=None, memory_mb=48))
    assert cluster.cgroup_limits("desk")["memory_limit_bytes"] == 48 * 1024 * 1024
    hog = cluster.spawn(
        "desk",
        [sys.executable, "-c", "b = b'x' * (256 << 20); print('survived', len(b))"],
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = hog.communicate(timeout=60)
    assert hog.returncode == -signal.SIGKILL
    assert "survived" not in out
    # the same program fits once the budget allows it
    cluster.set_limits("desk", Budget(cpu_quota=None, memory_mb=1024))
    fits = cluster.spawn(
        "desk",
        [sys.executable, "-c", "b = b'x' * (64 << 20); print('survived', len(b))"],
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = fits.communicate(timeout=60)
    assert fits.returncode == 0
    assert out.strip() == f"survived {64 << 20}"


def test_link_down_cuts_the_device_off(cluster: EmulatedCluster) -> None:
    probe = textwrap.dedent(
        """
        import socket, sys
        s = socket.socket()
        s.settimeout(2)
        print(s.connect_ex((sys.argv[1], 9)))
        """
    )

    def reach() -> int:
        proc = cluster.spawn(
            "kitchen",
            [sys.executable, "-c", probe, cluster.address("living")],
            stdout=subprocess.PIPE,
            text=True,
        )
        out, _ = proc.communicate(timeout=60)
        assert proc.stdout is not None
        proc.stdout.close()
        return int(out.strip())

    assert reach() == errno.ECONNREFUSED  # reachable: nobody listens on port 9
    cluster.link_down("kitchen")
    assert reach() != errno.ECONNREFUSED  # unreachable: no answer at all
    cluster.link_up("kitchen")
    # the bridge may take a moment to forward again after the port comes back
    deadline = time.monotonic() + 30
    while (result := reach()) != errno.ECONNREFUSED and time.monotonic() < deadline:
        time.sleep(0.2)
    assert result == errno.ECONNREFUSED


def test_close_leaves_nothing_behind() -> None:
    cluster_id = new_id()
    cluster = EmulatedCluster(make_topology(), cluster_id=cluster_id)
    cluster.start()
    sleepers = [cluster.spawn(name, ["sleep", "60"]) for name in CLASSES]
    # a grandchild that escapes the Popen tree by double-forking is still in the cgroup
    escaped = cluster.spawn("living", ["sh", "-c", "(sleep 60 &) ; sleep 60"])
    deadline = time.monotonic() + 30
    while len(cluster.cgroup_pids("living")) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    inside = {pid for name in CLASSES for pid in cluster.cgroup_pids(name)}
    assert {p.pid for p in sleepers} | {escaped.pid} <= inside
    assert len(inside) >= 5  # three sleepers, the shell and its detached grandchild
    assert remains(cluster_id)
    cluster.close()
    cluster.close()  # idempotent
    assert remains(cluster_id) == []
    assert [pid for pid in inside if alive(pid)] == []


def test_failed_start_undoes_everything() -> None:
    cluster_id = new_id()
    with EmulatedCluster(make_topology(), cluster_id=cluster_id):
        clash = EmulatedCluster(make_topology(), cluster_id=cluster_id)
        with pytest.raises(EmulationError, match="in use"):
            clash.start()
        assert remains(cluster_id)  # the first cluster was not touched by the failed one
    assert remains(cluster_id) == []


def test_two_clusters_get_different_subnets() -> None:
    with (
        EmulatedCluster(make_topology(), cluster_id=new_id()) as first,
        EmulatedCluster(make_topology(), cluster_id=new_id()) as second,
    ):
        assert first.gateway != second.gateway


def test_bad_cluster_id_is_refused() -> None:
    with pytest.raises(EmulationError, match="cluster id"):
        EmulatedCluster(make_topology(), cluster_id="Not-OK-too-long")


BUILDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from kairos.emulate.cluster import EmulatedCluster
    from kairos.topologies.model import Device, MeshSpec, Topology
    devices = {
        n: Device(name=n, device_class=c, agent="localhost", host="127.0.0.1", weight=1.0)
        for n, c in [("a", "pi-zero"), ("b", "pi-4")]
    }
    topo = Topology(name="x", path=Path("x.yaml"), mesh=MeshSpec(), devices=devices, actors={})
    cluster = EmulatedCluster(topo, cluster_id=sys.argv[1]).start()
    child = cluster.spawn("a", ["sleep", "120"])
    print(child.pid, flush=True)
    time.sleep(120)
    """
)


def crashed_builder(cluster_id: str) -> int:
    """Build a cluster in a subprocess, SIGKILL it, return the pid of its orphaned child."""
    builder = subprocess.Popen(
        [sys.executable, "-c", BUILDER, cluster_id], stdout=subprocess.PIPE, text=True
    )
    try:
        assert builder.stdout is not None
        orphan = int(builder.stdout.readline())
        os.kill(builder.pid, signal.SIGKILL)
        builder.wait(timeout=10)
    finally:
        if builder.poll() is None:
            kill_tree(builder.pid)
            builder.wait(timeout=10)
        if builder.stdout is not None:
            builder.stdout.close()
    return orphan


def test_clean_leftovers_after_a_killed_builder() -> None:
    cluster_id = new_id()
    orphan = crashed_builder(cluster_id)
    try:
        info = find_leftovers()[cluster_id]
        assert not info.owner_alive
        assert len(info.namespaces) == 2 and len(info.links) == 3
        removed = clean_leftovers(cluster_id)
        assert f"process {orphan}" in removed
        assert any(r.startswith("netns ") for r in removed)
        assert remains(cluster_id) == []
        assert not alive(orphan)
        assert clean_leftovers(cluster_id) == []
    finally:
        clean_leftovers(cluster_id, force=True)
        if alive(orphan):
            kill_tree(orphan)


def test_clean_leaves_a_live_cluster_alone(cluster: EmulatedCluster) -> None:
    assert clean_leftovers(cluster.cluster_id) == []
    assert remains(cluster.cluster_id)


def emulate_cli(*argv: str) -> int:
    """``kairos emulate ARGV`` through the subcommand's own configure/run, in this process."""
    parser = argparse.ArgumentParser(prog="kairos emulate")
    emulate_tool.configure(parser)
    return emulate_tool.run(parser.parse_args(argv))


def test_cli_list_and_clean(capsys: pytest.CaptureFixture[str]) -> None:
    cluster_id = new_id()
    orphan = crashed_builder(cluster_id)
    try:
        real = run_kairos("emulate", "list")  # through the installed `kairos` command
        assert real.returncode == 0, real.stderr
        assert f"cluster {cluster_id}:" in real.stdout
        assert emulate_cli("list") == 0
        listed = capsys.readouterr().out
        assert f"cluster {cluster_id}:" in listed
        assert f"kz{cluster_id}-a" in listed
        assert emulate_cli("list", "--json") == 0
        assert json.loads(capsys.readouterr().out)[cluster_id]["owner_alive"] is False
        assert emulate_cli("clean", "--cluster", cluster_id) == 0
        cleaned = capsys.readouterr().out
        assert f"removed netns kz{cluster_id}-a" in cleaned
        assert f"removed process {orphan}" in cleaned
        assert remains(cluster_id) == []
        assert emulate_cli("clean", "--cluster", cluster_id) == 0
        assert capsys.readouterr().out.strip() == "nothing to clean"
    finally:
        clean_leftovers(cluster_id, force=True)
        if alive(orphan):
            kill_tree(orphan)
