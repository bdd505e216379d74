"""Where each device's agent comes from: one interface, three ways to get a connected agent.

The launcher asks an :class:`AgentProvider` per device to :meth:`~AgentProvider.start` (start
an agent if it runs one, and connect to it), whether the agent :meth:`~AgentProvider.ready`
serves, and to :meth:`~AgentProvider.stop` what it started.  The launcher itself does not
care which provider it holds:

- :class:`RemoteAgent`: an agent already running on a device (``kairos agent install``),
  reached at the topology's endpoint; over CurveZMQ with the device's ``agent_key`` (the
  handshake proven at connect), or on loopback without.
- :class:`LocalAgent`: an agent the launcher starts on this machine (``agent: local``), on
  loopback port 0, connected once its ready file names the real endpoint.
- :class:`EmulatedAgent`: an agent the launcher starts inside an emulated device's network
  namespace and cgroups (kairos.emulate), with a fresh key pair that trusts this launcher;
  :func:`emulated_agents` builds the cluster and one provider per device.
"""

from __future__ import annotations

import os
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import zmq

from kairos.control.client import ControlClient
from kairos.control.sockets import CurveKeys
from kairos.errors import AgentError, SecurityError
from kairos.keys import KeyPair
from kairos.launch.agents import (
    StartedAgent,
    agent_argv,
    agent_credentials,
    client_curve,
    connect,
    start_agent,
)
from kairos.loopback import is_loopback
from kairos.topologies.model import DEFAULT_AGENT_PORT, Device, Topology

if TYPE_CHECKING:
    from kairos.emulate.cluster import EmulatedCluster

#: an emulated agent on a 0.1-CPU device needs seconds just to import
EMULATED_READY_TIMEOUT_S: Final = 30.0


@dataclass(frozen=True)
class AgentLink:
    """A connected agent: its endpoint, the control client speaking to it, and whether that
    client speaks CurveZMQ (only then may the agent be given the mesh key)."""

    device: str
    endpoint: str
    client: ControlClient
    curve: bool


class AgentProvider(ABC):
    """How the launcher gets one device's agent; see the module docstring."""

    #: seconds :meth:`ready` may take after :meth:`start` before the launch gives up
    ready_timeout_s: float = 0.0

    def __init__(self, device: str) -> None:
        self.device = device
        #: the agent process this provider started (None: it starts none, or not yet)
        self.started: StartedAgent | None = None

    @abstractmethod
    def start(self, context: zmq.Context) -> AgentLink:
        """Start the agent if this provider runs one, and connect to it (AgentError or
        SecurityError when that fails)."""

    def ready(self) -> bool:
        """Whether the agent serves; nothing may be sent to it before.  AgentError if an
        agent this provider started died first."""
        return True

    def not_ready(self) -> AgentError:
        """The error for an agent still not serving after :attr:`ready_timeout_s`."""
        return AgentError(
            f"agent of device {self.device!r} not serving after {self.ready_timeout_s:.0f} s"
        )

    def stop(self) -> None:
        """Stop the agent this provider started (its actors were stopped before)."""
        if self.started is not None:
            self.started.stop()

    @abstractmethod
    def describe(self) -> str:
        """One line for logs and errors: which agent, where, how it is reached."""


class RemoteAgent(AgentProvider):
    """An agent that runs on its device already; the launcher only connects to it, or with
    ``listen`` (``agent: {dial: …}``, a device behind NAT) waits at the endpoint for the
    agent to dial in."""

    def __init__(
        self, device: str, endpoint: str, curve: CurveKeys | None, *, listen: bool = False
    ) -> None:
        super().__init__(device)
        self.endpoint = endpoint
        self.curve = curve
        self.listen = listen
        #: the listening client until the agent has dialled in, then None
        self._awaiting: ControlClient | None = None
        if listen:
            self.ready_timeout_s = DIAL_IN_TIMEOUT_S

    def start(self, context: zmq.Context) -> AgentLink:
        if self.listen:
            client = listening_client(self.endpoint, context, self.curve)
            self._awaiting = client
            return AgentLink(self.device, client.endpoint, client, self.curve is not None)
        # the CurveZMQ handshake is proven here: a refused key is an AgentError
        client = connect(self.endpoint, context=context, curve=self.curve)
        return AgentLink(self.device, self.endpoint, client, self.curve is not None)

    def ready(self) -> bool:
        # asked before every heartbeat: once the agent has dialled in, the heartbeats are
        # what follows it (a cut makes it LOST, its return makes it back)
        if self._awaiting is not None and dialled_in(self._awaiting):
            self._awaiting = None
        return self._awaiting is None

    def not_ready(self) -> AgentError:
        if not self.listen:
            return super().not_ready()
        return AgentError(
            f"the agent of device {self.device!r} did not dial in to {self.endpoint} within "
            f"{self.ready_timeout_s:.0f} s: is it running with `--dial {self.endpoint}`, and "
            "does it trust this launcher's key (`kairos keys trust LAUNCHER.key`)?",
            address=self.endpoint,
        )

    def describe(self) -> str:
        how = "CurveZMQ" if self.curve is not None else "loopback, no CurveZMQ"
        if self.listen:
            return f"dial-out agent of {self.device}, awaited at {self.endpoint} ({how})"
        return f"remote agent of {self.device} at {self.endpoint} ({how})"


#: how long a launch waits for a dial-out agent to connect (it retries every 0.5 s)
DIAL_IN_TIMEOUT_S: Final = 30.0
#: one hello's wait while polling for a dial-out agent
_DIAL_PROBE_S: Final = 0.3


def listening_client(endpoint: str, context: zmq.Context, curve: CurveKeys | None) -> ControlClient:
    """A control client listening where a dial-out agent connects; beyond loopback only with
    CurveZMQ (the handshake then proves the agent's key, the agent checks ours)."""
    if curve is None and not is_loopback(endpoint):
        raise SecurityError(
            f"refusing to listen for agent at {endpoint} without CurveZMQ: set the device's "
            "agent_key"
        )
    return ControlClient(endpoint, context=context, curve=curve, listen=True)


def dialled_in(client: ControlClient) -> bool:
    """Whether the dial-out agent answers now (one short hello)."""
    try:
        client.hello(timeout_s=_DIAL_PROBE_S)
    except AgentError:
        return False
    return True


class LocalAgent(AgentProvider):
    """An agent the launcher starts on this machine, on loopback (no CurveZMQ needed)."""

    def __init__(
        self,
        device: str,
        device_class: str,
        state_root: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(device)
        self.device_class = device_class
        self.state_root = state_root
        #: the whole environment of the agent (None: the launcher's own)
        self.env = dict(env) if env is not None else None

    def start(self, context: zmq.Context) -> AgentLink:
        self.started = start_agent(
            self.device, self.device_class, self.state_root, spawn=self._spawner()
        )
        endpoint = self.started.endpoint
        return AgentLink(
            self.device, endpoint, connect(endpoint, context=context, curve=None), False
        )

    def describe(self) -> str:
        where = self.started.endpoint if self.started is not None else "not started"
        return f"local agent of {self.device} ({self.device_class}) at {where}"

    def _spawner(self) -> Callable[[list[str], Any, Path], subprocess.Popen[Any]] | None:
        """How start_agent starts it: like it does itself, with this provider's environment."""
        env = self.env
        if env is None:
            return None

        def spawn(argv: list[str], log: Any, cwd: Path) -> subprocess.Popen[Any]:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                cwd=cwd,
            )

        return spawn


class EmulatedAgent(AgentProvider):
    """An agent the launcher starts inside one device of an emulated cluster.

    Beyond loopback an agent serves CurveZMQ only: a fresh key pair per device that trusts
    this launcher alone (kairos.launch.agents).  :meth:`start` returns at once; the agent
    proves its CurveZMQ allow-list on its own socket before serving, and a request arriving
    during that self-test would be taken for the test's probe, so the launcher waits for
    :meth:`ready` (its ready file) before sending anything.
    """

    ready_timeout_s = EMULATED_READY_TIMEOUT_S

    def __init__(
        self,
        cluster: EmulatedCluster,
        device: Device,
        state_root: Path,
        launcher: KeyPair,
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(device.name)
        self.cluster = cluster
        self.state_root = state_root
        self.state_dir = state_root / "agents" / device.name
        self.log_path = state_root / "agents" / f"{device.name}.log"
        #: a device behind an emulated NAT dials this launcher (the topology's agent URL,
        #: set by the cluster); any other agent binds its namespace's address
        self.dial = device.dial
        self.endpoint = (
            device.agent
            if device.dial
            else f"tcp://{cluster.address(device.name)}:{DEFAULT_AGENT_PORT}"
        )
        self.ready_file = self.state_dir / "ready"
        self.env = dict(env) if env is not None else None
        self.state_dir.mkdir(parents=True, exist_ok=True)
        credentials = agent_credentials(state_root, device.name, launcher.public)
        self.curve = client_curve(launcher, credentials.pair.public)
        self.argv = agent_argv(
            self.endpoint,
            device.name,
            device.device_class,
            self.state_dir,
            self.ready_file,
            credentials,
            dial=device.dial,
        )
        self._client: ControlClient | None = None
        #: started and not yet serving: nothing is sent to it meanwhile
        self.starting = False

    def start(self, context: zmq.Context) -> AgentLink:
        if self.dial:  # listening before the agent starts: its first dial finds us
            self._client = listening_client(self.endpoint, context, self.curve)
        self.restart()
        client = self._client or ControlClient(self.endpoint, context=context, curve=self.curve)
        return AgentLink(self.device, self.endpoint, client, True)

    def restart(self) -> subprocess.Popen[Any]:
        """(Re)start the agent process the same way (command, state directory, environment).

        The previous process must be gone: the new one binds the same address."""
        if self.started is not None and self.started.proc.poll() is None:
            raise AgentError(
                f"the agent of device {self.device!r} still runs (pid {self.started.proc.pid})",
                address=self.endpoint,
            )
        self.ready_file.unlink(missing_ok=True)
        self.starting = True
        with open(self.log_path, "ab") as log:
            proc = self.cluster.spawn(
                self.device,
                self.argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.state_dir,  # never the caller's directory
            )
        self.started = StartedAgent(self.device, proc, self.endpoint, self.log_path)
        return proc

    def ready(self) -> bool:
        if not self.starting:
            return True
        if self.ready_file.exists() and (self._client is None or dialled_in(self._client)):
            self.starting = False
            return True
        proc = self.started.proc if self.started is not None else None
        if proc is not None and proc.poll() is not None:
            self.starting = False
            raise AgentError(
                f"agent of device {self.device!r} exited with {proc.returncode} before "
                f"serving; see {self.log_path}",
                address=self.endpoint,
            )
        return False

    def not_ready(self) -> AgentError:
        return AgentError(
            f"emulated agent of device {self.device!r} not serving after "
            f"{self.ready_timeout_s:.0f} s; see {self.log_path}",
            address=self.endpoint,
        )

    def describe(self) -> str:
        return f"emulated agent of {self.device} at {self.endpoint} (CurveZMQ)"


def emulated_agents(
    topology: Topology,
    state_root: Path,
    launcher: KeyPair,
    environ: Callable[[str], Mapping[str, str] | None],
) -> tuple[EmulatedCluster, Topology, dict[str, EmulatedAgent]]:
    """Build the emulated cluster of ``topology``; the cluster, the topology with each
    device's agent at its namespace's address, and one provider per device (not started).

    ``environ(device)`` is the whole environment of that device's agent (None: the
    launcher's own).  The caller owns the cluster (``close()`` it, also after an error).
    """
    from kairos.emulate.cluster import EmulatedCluster

    cluster = EmulatedCluster(topology)
    try:
        cluster.start()
        emulated = cluster.topology()
        providers = {
            device.name: EmulatedAgent(cluster, device, state_root, launcher, environ(device.name))
            for device in emulated.devices.values()
        }
    except BaseException:
        cluster.close()
        raise
    return cluster, emulated, providers


def wait_ready(
    providers: Mapping[str, AgentProvider],
    check_stop: Callable[[], None],
    poll_s: float = 0.05,
) -> None:
    """Wait until every provider's agent serves, each within its ``ready_timeout_s`` from
    now (they start in parallel); AgentError for the first that died or took too long."""
    started = time.monotonic()
    for provider in providers.values():
        deadline = started + provider.ready_timeout_s
        while not provider.ready():
            check_stop()
            if time.monotonic() > deadline:
                raise provider.not_ready()
            time.sleep(poll_s)


def agent_environ(extra: Mapping[str, str] | None) -> dict[str, str] | None:
    """The environment of an agent given ``extra`` variables (None: the launcher's own)."""
    return None if extra is None else {**os.environ, **extra}


__all__ = [
    "AgentLink",
    "AgentProvider",
    "EmulatedAgent",
    "LocalAgent",
    "RemoteAgent",
    "agent_environ",
    "emulated_agents",
    "wait_ready",
]
