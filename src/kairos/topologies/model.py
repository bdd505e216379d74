"""The validated, resolved form of a topology file, as the launcher and agents use it.

The loader (:mod:`kairos.topologies.loader`) turns a YAML file into these objects after
every check has passed; defaults are filled in (windows from the device class, ports from
``mesh.base_port``), so nothing downstream re-reads the YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kairos.loopback import is_loopback_host

Role = Literal["sensor", "engine", "sync", "output"]
RestartPolicyName = Literal["never", "on-failure", "always"]
LOCALHOST = "localhost"
DEFAULT_AGENT_PORT = 7700
#: consecutive failing reads a sensor survives (each read's rows skipped, counted, logged);
#: one more ends the actor, so that its restart policy reopens the device.  At the usual 50
#: reads a second that is one second of nothing but errors, while a flaky bus or connector
#: fails a read here and there or a few in a row
MAX_READ_ERRORS = 50


@dataclass(frozen=True)
class RestartPolicy:
    """When the agent restarts a dead actor, and how fast it backs off."""

    policy: RestartPolicyName = "on-failure"
    max_restarts: int = 10
    backoff_s: float = 0.2
    backoff_max_s: float = 10.0


@dataclass(frozen=True)
class MeshSpec:
    emergence_threshold: float = 0.75
    collapse_threshold: float = 0.95
    hysteresis: float = 0.05
    #: name of the reference device, or None for ``consensus``
    clock_reference: str | None = None
    pulse_hz: float = 10.0
    #: CurveZMQ on the data plane; left out of the file, true as soon as any device is off
    #: loopback (docs/security.md)
    encrypt: bool = False
    base_port: int = 7800


@dataclass(frozen=True)
class Device:
    name: str
    device_class: str
    #: control endpoint of the agent (``tcp://host:port``); ``localhost`` devices get a
    #: launcher-started agent whose endpoint is known only at launch
    agent: str
    #: address actors on this device bind their PUB sockets to
    host: str
    #: mesh weight of this device's engines (class default unless overridden)
    weight: float
    line: int = 0
    #: the agent's CurveZMQ public key (Z85), from ``agent_key``; None: not given
    agent_key: str | None = None

    @property
    def is_local(self) -> bool:
        return self.agent == LOCALHOST

    @property
    def on_loopback(self) -> bool:
        """Its actors bind to a loopback address (unreachable from other machines)."""
        return is_loopback_host(self.host)


@dataclass(frozen=True)
class Encoding:
    """How an engine turns samples into phasors (docs/design.md §5.1)."""

    type: Literal["lockin", "phase", "direct", "complex"] = "phase"
    freq_hz: float | None = None  # lockin
    lp_cycles: float = 2.0  # lockin
    demod_hz: float | None = None  # phase


@dataclass(frozen=True)
class ActorSpec:
    name: str
    role: Role
    device: str
    port: int
    inputs: tuple[str, ...] = ()
    adapter: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    #: sensors: samples per second; sync: mesh ticks per second
    rate_hz: float | None = None
    #: sensors: samples per message
    chunk: int | None = None
    encoding: Encoding | None = None
    #: engines: (fast τ, slow τ) in seconds
    windows: tuple[float, float] | None = None
    lag: int = 1
    omega_hz: float = 0.0
    #: engines: mesh weight override (None: the device's weight)
    weight: float | None = None
    #: sensors with a coupling adapter: the sync actor whose pulse they follow
    pulse: str | None = None
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    #: sensors: consecutive failing reads survived (see MAX_READ_ERRORS)
    max_read_errors: int = MAX_READ_ERRORS
    line: int = 0


@dataclass(frozen=True)
class Topology:
    name: str
    path: Path
    mesh: MeshSpec
    devices: dict[str, Device]
    actors: dict[str, ActorSpec]

    def endpoint(self, actor: str) -> str:
        """The data-plane endpoint the actor binds (``tcp://host:port``)."""
        spec = self.actors[actor]
        return f"tcp://{self.devices[spec.device].host}:{spec.port}"

    def actors_on(self, device: str) -> list[ActorSpec]:
        return [a for a in self.actors.values() if a.device == device]
