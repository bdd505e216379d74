"""topologies/sites.yaml launched on an emulated cluster: two homes behind NAT, a cloud VM.

The launcher runs in the root namespace (the cloud VM's launcher: the dialling agents reach
it at the bridge's address, through their routers); the tap and the driver are those of the
home run (tests/emulated/home_run.py), the tap reading each endpoint once (every NAT'd stream
is read at the relay).  Each NAT'd device's agent runs on a shifted clock.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from emulated.home_run import HomeRun, start_run

SITES = Path(__file__).resolve().parents[2] / "topologies" / "sites.yaml"
#: the clock shift injected into each NAT'd device's agent
SHIFTS_NS = {"zero": -2_345_678, "pi4": 1_234_567, "mini": -765_432}
#: how long every actor must have published before the run counts as started
READY_TIMEOUT_S = 90.0
#: the issue's run is 60 s and its cut 30 s; CI runs shorter ones (KAIROS_SITES_RUN_S,
#: KAIROS_SITES_CUT_S set them: docs/sites.md)
RUN_S = float(os.environ.get("KAIROS_SITES_RUN_S", "20"))
CUT_S = float(os.environ.get("KAIROS_SITES_CUT_S", "10"))


def start_sites(state_dir: Path) -> HomeRun:
    return start_run(SITES, state_dir, SHIFTS_NS, READY_TIMEOUT_S)


LISTEN = """
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(8); print("listening", flush=True)
s.settimeout(0.2)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    try:
        s.accept()[0].close()
    except TimeoutError:  # no connection in 0.2 s: look at the clock again
        continue
"""

CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
    print("connected")
except OSError as exc:
    print(f"refused: {exc}")
"""


def listen_in(namespace: str, port: int, seconds: float) -> subprocess.Popen[str]:
    """A TCP listener inside ``namespace`` for ``seconds`` (ready when this returns)."""
    proc = subprocess.Popen(
        ["ip", "netns", "exec", namespace, sys.executable, "-c", LISTEN, str(port), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "listening"
    return proc


def connects(namespace: str, host: str, port: int, timeout_s: float = 2.0) -> bool:
    """Whether a TCP connection from inside ``namespace`` to ``host:port`` succeeds."""
    done = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            namespace,
            sys.executable,
            "-c",
            CONNECT,
            host,
            str(port),
            str(timeout_s),
        ],
        capture_output=True,
        text=True,
        timeout=timeout_s + 20,
    )
    return done.stdout.strip() == "connected"


def free_port_in(namespace: str) -> int:
    """A port for a test listener: the namespaces are fresh, so any high port is free; one
    the host is not using keeps the number honest in logs."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
