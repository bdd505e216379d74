"""How the launcher reaches agents: the ones it starts itself, and the keys it talks with.

A local agent is the launcher's child in its own session (a Ctrl-C in the terminal reaches
the launcher only, which then tears down in order); it binds port 0 and reports its real
endpoint through a ready file.  An agent beyond loopback is spoken to over CurveZMQ only:
the launcher's own key pair (``kairos keys``, default name ``launcher``) as client, the
device's ``agent_key`` as server key, and the handshake is watched so a refused or wrong key
is an :class:`~kairos.errors.AgentError`, never a silent hang.  Agents the launcher starts
beyond loopback (the emulated cluster) get a fresh key pair each and trust this launcher.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from kairos import keys
from kairos.control.client import ControlClient
from kairos.control.sockets import CurveKeys
from kairos.errors import AgentError, SecurityError
from kairos.loopback import is_loopback
from kairos.meshkey import MeshKey
from kairos.security.handshake import HandshakeWatch
from kairos.timeouts import STOP_GRACE_S
from kairos.topologies.model import Device, Topology

READY_TIMEOUT_S = 20.0
#: an agent on SIGTERM stops its actors (each within STOP_GRACE_S) before it exits: killing
#: it sooner would leave them running without an agent
STOP_TIMEOUT_S = STOP_GRACE_S + 1.0
HANDSHAKE_TIMEOUT_S = 5.0
DEFAULT_LAUNCHER_KEY = "launcher"


@dataclass(frozen=True)
class AgentCredentials:
    """Keys of an agent this launcher starts beyond loopback: its pair and its trusted dir."""

    pair: keys.KeyPair
    trusted_dir: Path


def needs_curve(device: Device) -> bool:
    """An agent the launcher does not start on loopback: CurveZMQ is required."""
    return not device.is_local and not is_loopback(device.agent)


def check_agent_keys(topology: Topology) -> None:
    """Every device whose agent is beyond loopback names its ``agent_key`` (all listed)."""
    missing = [d for d in topology.devices.values() if needs_curve(d) and not d.agent_key]
    if missing:
        names = ", ".join(f"{d.name} ({d.agent})" for d in missing)
        raise SecurityError(
            f"{topology.path}: no agent_key for agents beyond loopback: {names}; set each "
            "device's agent_key: to its agent's public key (40 characters, or its agent.key "
            "file), which `kairos agent install` prints on the device (docs/security.md); "
            "or try the topology on one machine with --emulate"
        )


def launcher_pair(name_or_file: str | None, state_dir: Path, *, required: bool) -> keys.KeyPair:
    """The launcher's key pair (``--key``); without one, a pair made for this launch alone,
    which only agents this launcher starts itself can trust."""
    try:
        return keys.resolve_pair(name_or_file or DEFAULT_LAUNCHER_KEY)
    except SecurityError:
        if required or name_or_file is not None:
            raise
    return keys.generate(state_dir / "keys", "launcher", force=True)


def client_curve(launcher: keys.KeyPair, agent_key: str | bytes) -> CurveKeys:
    """The launcher's CurveZMQ client keys towards an agent with public key ``agent_key``."""
    if launcher.secret is None:
        raise SecurityError(f"launcher key {launcher.name!r} has no secret key")
    server = keys.check_key(agent_key, "agent_key")
    return CurveKeys(launcher.public, launcher.secret, server)


def connect(
    endpoint: str,
    *,
    context: zmq.Context,
    curve: CurveKeys | None,
    timeout_s: float = HANDSHAKE_TIMEOUT_S,
) -> ControlClient:
    """A control client for an agent; with CurveZMQ the handshake is proven first."""
    if curve is not None:
        check_handshake(context, endpoint, curve, timeout_s)
    elif not is_loopback(endpoint):
        raise SecurityError(
            f"refusing to command agent {endpoint} without CurveZMQ: set the device's agent_key"
        )
    return ControlClient(endpoint, context=context, curve=curve)


def check_handshake(
    context: zmq.Context, endpoint: str, curve: CurveKeys, timeout_s: float
) -> None:
    """AgentError unless a CurveZMQ handshake with ``endpoint`` succeeds in ``timeout_s``."""
    if curve.server_public is None:
        raise AgentError("a CurveZMQ client needs the agent's public key", address=endpoint)
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, curve.public)
    sock.setsockopt(zmq.CURVE_SECRETKEY, curve.secret)
    sock.setsockopt(zmq.CURVE_SERVERKEY, curve.server_public)
    watch = HandshakeWatch(sock)
    try:
        sock.connect(endpoint)
        outcome = watch.wait(timeout_s)
    finally:
        watch.close()
        sock.close(linger=0)
    if outcome.status == "refused":
        raise AgentError(
            f"CurveZMQ handshake refused: this launcher's key {keys.fingerprint(curve.public)}… "
            "is not trusted there (run `kairos keys trust LAUNCHER.key` on the device)",
            address=endpoint,
            code="refused",
        )
    if not outcome.ok:
        raise AgentError(f"CurveZMQ handshake failed: {outcome.detail}", address=endpoint)


def mesh_curve(
    specs: dict[str, Any], topology: Topology, secured: set[str], key: MeshKey
) -> dict[str, Any]:
    """Specs with the mesh key set (``mesh.encrypt``); refuses to give it to an agent beyond
    loopback that is not spoken to over CurveZMQ (``secured``: such devices' names)."""
    exposed = sorted(
        {
            spec.device
            for spec in specs.values()
            if needs_curve(topology.devices[spec.device]) and spec.device not in secured
        }
    )
    if exposed:
        raise SecurityError(
            f"mesh.encrypt: refusing to send the mesh key to agents without CurveZMQ: "
            f"{', '.join(exposed)}"
        )
    curve = key.as_spec()
    return {name: dataclasses.replace(spec, curve=curve) for name, spec in specs.items()}


def agent_credentials(state_root: Path, device: str, launcher_public: bytes) -> AgentCredentials:
    """A fresh key pair for an agent this launcher starts, trusting this launcher alone."""
    directory = state_root / "agents" / device / "keys"
    pair = keys.generate(directory, "agent", force=True)
    trusted = directory / "trusted"
    trusted.mkdir(parents=True, exist_ok=True, mode=0o700)
    for stale in trusted.glob(f"*{keys.PUBLIC_SUFFIX}"):
        stale.unlink()
    keys.write_certificate(
        trusted / f"launcher{keys.PUBLIC_SUFFIX}", "launcher", launcher_public, None, force=True
    )
    return AgentCredentials(pair, trusted)


@dataclass
class StartedAgent:
    """An agent process this launcher owns, and its control endpoint."""

    device: str
    proc: subprocess.Popen[Any]
    endpoint: str
    log_path: Path

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM (the agent stops its actors), SIGKILL if it does not go in time."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def agent_argv(
    bind: str,
    device: str,
    device_class: str,
    state_dir: Path,
    ready: Path | None,
    credentials: AgentCredentials | None = None,
    *,
    dial: bool = False,
) -> list[str]:
    """How the launcher runs an agent: ``python -m kairos.agent`` (= ``kairos agent run``);
    with ``dial`` the agent connects out to ``bind`` (where this launcher listens) instead."""
    secure = (
        [
            "--curve-key",
            str(credentials.pair.secret_file),
            "--trusted-dir",
            str(credentials.trusted_dir),
        ]
        if credentials is not None
        else []
    )
    ready_args = ["--ready-file", str(ready)] if ready is not None else []
    return [
        sys.executable,
        "-m",
        "kairos.agent",
        "--dial" if dial else "--bind",
        bind,
        "--class",
        device_class,
        "--device",
        device,
        "--state-dir",
        str(state_dir),
        *ready_args,
        *secure,
    ]


def start_agent(
    device: str,
    device_class: str,
    state_root: Path,
    *,
    bind: str = "tcp://127.0.0.1:0",
    spawn: Callable[[list[str], Any, Path], subprocess.Popen[Any]] | None = None,
    credentials: AgentCredentials | None = None,
) -> StartedAgent:
    """Start an agent for ``device`` and wait until it serves (bounded).

    The agent runs in its own state directory (``spawn(argv, log, cwd)`` must too): never in
    the caller's, where a stray ``kairos/`` folder would shadow the installed package.
    """
    state_dir = (state_root / "agents" / device).absolute()
    state_dir.mkdir(parents=True, exist_ok=True)
    ready = state_dir / "ready"
    ready.unlink(missing_ok=True)
    log_path = state_root / "agents" / f"{device}.log"
    argv = agent_argv(bind, device, device_class, state_dir, ready, credentials)
    with open(log_path, "ab") as log:
        if spawn is None:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=state_dir,
            )
        else:
            proc = spawn(argv, log, state_dir)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not ready.exists():
        if proc.poll() is not None:
            raise AgentError(
                f"agent for device {device!r} exited with {proc.returncode} before serving; "
                f"see {log_path}"
            )
        if time.monotonic() > deadline:
            StartedAgent(device, proc, "", log_path).stop()
            raise AgentError(f"agent for device {device!r} not ready in {READY_TIMEOUT_S:.0f} s")
        time.sleep(0.02)
    return StartedAgent(device, proc, ready.read_text().strip(), log_path)
