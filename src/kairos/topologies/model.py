"""The validated, resolved form of a topology file, as the launcher and agents use it.

The loader (:mod:`kairos.topologies.loader`) turns a YAML file into these objects after
every check has passed; defaults are filled in (windows from the device class, ports from
``mesh.base_port``), so nothing downstream re-reads the YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

from kairos.errors import ConfigError
from kairos.meshtime import DEFAULT_STEP_THRESHOLD_S
from kairos.registry import Role

__all__ = [
    "DEFAULT_AGENT_PORT",
    "LOCALHOST",
    "MAX_READ_ERRORS",
    "RELAY_INBOUND_OFFSET",
    "RESTART_POLICIES",
    "SENSOR_MESSAGES_HZ",
    "ActorSettings",
    "ActorSpec",
    "Device",
    "Encoding",
    "MeshSpec",
    "RestartPolicy",
    "RestartPolicyName",
    "Role",
    "Topology",
    "default_chunk",
    "relay_inbound",
    "relay_outbound",
]

from kairos.loopback import is_loopback_host

RestartPolicyName = Literal["never", "on-failure", "always"]
RESTART_POLICIES: tuple[RestartPolicyName, ...] = get_args(RestartPolicyName)
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Any) -> RestartPolicy:
        """The policy in ``raw`` (a spec's JSON); ConfigError if it is malformed."""
        policy = _from_dict(cls, raw, "restart policy")
        if policy.policy not in RESTART_POLICIES:
            raise ConfigError(
                f"restart policy {policy.policy!r}; valid: {', '.join(RESTART_POLICIES)}"
            )
        return policy


@dataclass(frozen=True)
class MeshSpec:
    """The mesh-wide numbers of a topology's ``mesh:`` (docs/design.md §5.4–5.5, §6, §7)."""

    emergence_threshold: float = 0.75
    collapse_threshold: float = 0.95
    hysteresis: float = 0.05
    #: name of the reference device, or None for ``consensus``
    clock_reference: str | None = None
    pulse_hz: float = 10.0
    #: seconds a sample may be stamped ahead of its receiver's mesh time before it is dropped
    #: as a future stamp: mesh clocks agree to well under a millisecond (docs/design.md §6),
    #: so 1 s is only ever crossed by a wrong clock
    max_future_s: float = 1.0
    #: a mesh-time correction larger than this while actors run is a step that starts a new
    #: epoch of the device's streams, not a slew (docs/meshtime.md)
    step_threshold_s: float = DEFAULT_STEP_THRESHOLD_S
    #: CurveZMQ on the data plane; left out of the file, true as soon as any device is off
    #: loopback (docs/security.md)
    encrypt: bool = False
    base_port: int = 7800

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Any) -> MeshSpec:
        """The mesh numbers in ``raw`` (a spec's JSON; missing keys take their defaults);
        ConfigError if it is malformed."""
        return _from_dict(cls, raw, "mesh")


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
    #: the agent dials the launcher at ``agent`` (``agent: {dial: …}``): a device behind
    #: NAT that nothing can dial, whose actors publish through :attr:`relay`
    dial: bool = False
    #: the relay actor this device's streams pass through (dialling devices only)
    relay: str | None = None
    #: the network it sits on (``site:``), None: not said; the emulated cluster puts the
    #: dialling devices of one site behind one NAT router
    site: str | None = None

    @property
    def is_local(self) -> bool:
        return self.agent == LOCALHOST

    @property
    def on_loopback(self) -> bool:
        """Its actors bind to a loopback address (unreachable from other machines)."""
        return is_loopback_host(self.host)


@dataclass(frozen=True)
class Encoding:
    """How an engine turns samples into phasors (docs/design.md §5.1): the ``type`` of an
    encoder (built-in or plugin, kairos.registry) and its params, every other key of the
    topology's ``encoding:`` mapping.  The params' defaults are the encoder's own."""

    type: str = "phase"
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The flat mapping, as a topology file writes it: ``{"type": …, <params…>}``."""
        return {**self.params, "type": self.type}

    @classmethod
    def from_dict(cls, raw: Any) -> Encoding:
        """The encoding in the flat mapping ``raw``; ConfigError if it names no type."""
        if not isinstance(raw, Mapping) or not isinstance(raw.get("type"), str):
            raise ConfigError(f"an encoding is a mapping with a string type, not {raw!r}")
        return cls(type=raw["type"], params={k: v for k, v in raw.items() if k != "type"})


#: a relay binds its outbound XPUB at its port and its inbound XSUB at the next one
RELAY_INBOUND_OFFSET = 1


def relay_inbound(endpoint: str) -> str:
    """Where publishers dial a relay whose outbound (subscriber) endpoint is ``endpoint``:
    the same host, port + :data:`RELAY_INBOUND_OFFSET` (docs/sites.md)."""
    base, _, port = endpoint.rpartition(":")
    return f"{base}:{int(port) + RELAY_INBOUND_OFFSET}"


def relay_outbound(inbound: str) -> str:
    """The relay endpoint subscribers read, given its inbound one (:func:`relay_inbound`)."""
    base, _, port = inbound.rpartition(":")
    return f"{base}:{int(port) - RELAY_INBOUND_OFFSET}"


#: messages per second a sensor aims for when its topology gives no ``chunk``
SENSOR_MESSAGES_HZ = 50


def default_chunk(rate_hz: float) -> int:
    """Samples per message of a sensor sampling at ``rate_hz`` that gives no ``chunk``."""
    return max(1, round(rate_hz / SENSOR_MESSAGES_HZ))


@dataclass(frozen=True, kw_only=True)
class ActorSettings:
    """What an actor's role does, as its topology says: the part of an actor that travels
    unchanged from the topology into its process spec (kairos.actors.spec), each default
    defined here.  A new role key is a field here, a property in ``schema.json`` read by
    ``_actors.py``, and the role that uses it; nothing in between copies it by name."""

    adapter: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    #: sensors: samples per second; sync: mesh ticks per second
    rate_hz: float | None = None
    #: sensors: samples per message (None: :func:`default_chunk`)
    chunk: int | None = None
    #: engines: None for the default, ``Encoding()``
    encoding: Encoding | None = None
    #: engines: (fast τ, slow τ) in seconds
    windows: tuple[float, float] | None = None
    #: engines: resonance lag in samples
    lag: int = 1
    #: engines: resonance cyclic frequency
    omega_hz: float = 0.0
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    #: sensors: consecutive failing reads survived (see MAX_READ_ERRORS)
    max_read_errors: int = MAX_READ_ERRORS


@dataclass(frozen=True)
class ActorSpec(ActorSettings):
    """One actor of a topology: its settings, and where it sits in the topology."""

    name: str
    role: Role
    device: str
    port: int
    inputs: tuple[str, ...] = ()
    #: engines: mesh weight override (None: the device's weight)
    weight: float | None = None
    #: sensors with a coupling adapter: the sync actor whose pulse they follow
    pulse: str | None = None
    line: int = 0


@dataclass(frozen=True)
class Topology:
    name: str
    path: Path
    mesh: MeshSpec
    devices: dict[str, Device]
    actors: dict[str, ActorSpec]

    def endpoint(self, actor: str) -> str:
        """Where the actor's streams are read (``tcp://host:port``): the endpoint it binds,
        or for an actor on a dialling device its relay's (docs/sites.md)."""
        relay = self.relay_of(actor)
        return self.endpoint(relay) if relay is not None else self.bound(actor)

    def bound(self, actor: str) -> str:
        """The data-plane endpoint the actor would bind on its own device."""
        spec = self.actors[actor]
        return f"tcp://{self.devices[spec.device].host}:{spec.port}"

    def relay_of(self, actor: str) -> str | None:
        """The relay actor ``actor``'s streams pass through, or None (read directly)."""
        spec = self.actors[actor]
        return None if spec.role == "relay" else self.devices[spec.device].relay

    def publish_to(self, actor: str) -> str | None:
        """Where ``actor``'s XPUB dials instead of binding (its relay's inbound), or None."""
        relay = self.relay_of(actor)
        return relay_inbound(self.bound(relay)) if relay is not None else None

    def actors_on(self, device: str) -> list[ActorSpec]:
        return [a for a in self.actors.values() if a.device == device]


_Typed = TypeVar("_Typed", MeshSpec, RestartPolicy)


def _from_dict(cls: type[_Typed], raw: Any, what: str) -> _Typed:
    """``cls`` from a JSON mapping, each value of its default's type (ConfigError if not)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{what}: must be a mapping, not {type(raw).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{what}: unknown keys {', '.join(map(str, unknown))}")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        default = known[name].default
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if default is None:
            ok, wanted = value is None or isinstance(value, str), "a string or null"
        elif isinstance(default, bool):
            ok, wanted = isinstance(value, bool), "true or false"
        elif isinstance(default, float):
            ok, wanted = number, "a number"
            value = float(value) if ok else value
        elif isinstance(default, int):
            ok, wanted = number and isinstance(value, int), "an integer"
        else:
            ok, wanted = isinstance(value, str), "a string"
        if not ok:
            raise ConfigError(f"{what}: {name} must be {wanted}, not {value!r}")
        values[name] = value
    return cls(**values)
