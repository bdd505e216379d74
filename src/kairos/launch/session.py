"""One launch of a topology: validate, plan, start agents, deploy, watch, tear down.

Each device's agent comes from an agent provider (kairos.launch.providers: remote, local or
emulated); this module keeps what is the launch's own: keys and data-plane encryption, the
witness, liveness and reconciliation, and mesh time.

The launcher is single-threaded: ``tick()`` does a bounded amount of work (heartbeats and
status requests pipelined to every agent, reconciliation, a mesh-time round, witness
records) and ``run()`` calls it until the duration ends or ``request_stop()`` is called
(from a signal handler).  ``stop()`` is safe to call at any point, also after a failed start.

Liveness: a heartbeat goes to every agent every ``HEARTBEAT_EVERY_S``; a device is LOST
once its oldest unanswered heartbeat has waited ``LOST_AFTER_S``, so a dead agent is
reported within ``HEARTBEAT_EVERY_S + LOST_AFTER_S`` (2 s) of its death, while a live but
starved agent (a 0.1-CPU device waits up to 90 ms per CFS period) has 1.5 s to answer.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import zmq

from kairos import _log
from kairos.actors.spec import ActorProcessSpec
from kairos.clocksync import MeshOffsets
from kairos.control.client import ControlClient
from kairos.control.commands import ActorStatus, Heartbeat, Spawn, Status, Stop
from kairos.control.commands.spawn import spec_digest
from kairos.control.commands.status import RUNNING
from kairos.control.protocol import Reply
from kairos.errors import AgentError, KairosError, ProtocolError
from kairos.keys import KeyPair
from kairos.launch.agents import (
    StartedAgent,
    check_agent_keys,
    client_curve,
    launcher_pair,
    mesh_curve,
)
from kairos.launch.meshtime import MeshTimeKeeper
from kairos.launch.plan import Plan, make_plan
from kairos.launch.providers import (
    AgentProvider,
    EmulatedAgent,
    LocalAgent,
    RemoteAgent,
    agent_environ,
    emulated_agents,
    wait_ready,
)
from kairos.launch.witness import WitnessMonitor
from kairos.meshkey import MeshKey
from kairos.timeouts import STOP_GRACE_S, poll_ms
from kairos.topologies.model import Device, Topology

if TYPE_CHECKING:
    from kairos.emulate.cluster import EmulatedCluster

#: a running actor silent (no witness record) this long is reported hung
HUNG_AFTER_S: Final = 2.5
HEARTBEAT_EVERY_S: Final = 0.5
#: status requests (which list the agent's actors) go out this often
STATUS_EVERY_S: Final = 1.0
#: a device is LOST once a heartbeat has waited this long (3 heartbeat periods) for an answer
LOST_AFTER_S: Final = 1.5
#: unanswered heartbeats remembered per agent (the oldest one is always kept)
MAX_UNANSWERED: Final = 32
HELLO_TIMEOUT_S: Final = 10.0
#: how long a reconciliation's ``status`` may take to come back
RECONCILE_STATUS_TIMEOUT_S: Final = 2.0


@dataclass
class DeviceLink:
    """The launcher's connection to one device's agent, and what it knows of it."""

    name: str
    endpoint: str
    client: ControlClient
    #: where the agent comes from (and who stops it)
    provider: AgentProvider
    #: heartbeats sent before the latest beat and still unanswered
    missed: int = 0
    lost: bool = False
    #: monotonic time LOST was declared (None while the device answers)
    lost_since: float | None = None
    #: unanswered heartbeats (request id -> monotonic send time), oldest first
    heartbeats: dict[str, float] = field(default_factory=dict)
    #: status requests in flight (request id -> monotonic send time)
    statuses: dict[str, float] = field(default_factory=dict)
    actors: dict[str, ActorStatus] = field(default_factory=dict)
    needs_reconcile: bool = False
    #: spoken to over CurveZMQ (may be given the mesh key of ``mesh.encrypt``)
    curve: bool = False

    @property
    def started(self) -> StartedAgent | None:
        """The agent process this launcher started for the device (None: it started none)."""
        return self.provider.started


class Launch:
    """A topology, launched; ``start()``, then ``run()`` or ``tick()``/``status()``, ``stop()``."""

    def __init__(
        self,
        topology_path: Path | str,
        *,
        state_dir: Path | None = None,
        exclude: tuple[str, ...] | list[str] = (),
        emulate: bool = False,
        clock_sync: bool = True,
        agent_env: Mapping[str, Mapping[str, str]] | None = None,
        key: str | None = None,
    ) -> None:
        self.topology_path = Path(topology_path)
        #: the launcher's CurveZMQ pair (``--key``): a name in CONFIG/keys or a secret file;
        #: None means ``launcher``
        self.key = key
        #: extra environment per device for the agents this launcher starts (emulated ones),
        #: e.g. ``{"kitchen": {"KAIROS_CLOCK_SHIFT_NS": "2500000"}}`` to shift a device's clock
        self.agent_env = {device: dict(env) for device, env in (agent_env or {}).items()}
        #: where agents' state, logs and outputs go; a fresh temp dir is made at start().
        #: Absolute: agents and actors run in their own directories, not in the caller's
        self.state_dir: Path | None = Path(state_dir).absolute() if state_dir else None
        self.exclude = tuple(exclude)
        self.emulate = emulate
        self.topology: Topology | None = None
        self.plan: Plan | None = None
        self.specs: dict[str, ActorProcessSpec] = {}
        self.links: dict[str, DeviceLink] = {}
        #: each device's agent provider, from the moment it may have started an agent
        self.providers: dict[str, AgentProvider] = {}
        self._context: zmq.Context | None = None
        self._cluster: EmulatedCluster | None = None
        self._witness: WitnessMonitor | None = None
        self._clock = MeshTimeKeeper(None) if clock_sync else None
        self._stop_requested = False
        self._started_at = time.monotonic()
        self._next_heartbeat = 0.0
        self._next_status = 0.0
        self._next_clock = 0.0
        self._launcher_key: KeyPair | None = None
        #: the data-plane key file written for ``mesh.encrypt`` (tap/record/replay --mesh-key)
        self.mesh_key_file: Path | None = None
        self._log = _log.get("launch")
        self._hung: set[str] = set()

    # -- lifecycle -----------------------------------------------------------------------

    def load(self) -> Plan:
        """Validate the topology (TopologyError lists every problem) and plan; starts nothing."""
        from kairos.topologies.loader import load

        self.topology = load(self.topology_path)
        self.plan = make_plan(self.topology, self.exclude)
        return self.plan

    def check_keys(self) -> None:
        """SecurityError before anything starts: a device beyond loopback without
        ``agent_key`` (all named at once), or no launcher key pair to speak CurveZMQ with.

        Emulated devices are exempt: the launcher starts their agents with fresh keys.
        """
        plan = self.plan or self.load()
        if self.emulate:
            return
        check_agent_keys(plan.topology)
        if self._launcher_key is None and any(
            d.agent_key for d in plan.topology.devices.values() if not d.is_local
        ):
            # the agents trust a key the user installed there: never one made up for this run
            self._launcher_key = launcher_pair(self.key, Path(), required=True)

    def start(self) -> Plan:
        """Start agents where needed, connect to all, handshake, deploy every actor."""
        plan = self.plan or self.load()
        self.check_keys()
        if self.state_dir is None:
            self.state_dir = Path(tempfile.mkdtemp(prefix="kairos-launch-"))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._check_agent_env(plan.topology)
        self._context = zmq.Context()
        topology = plan.topology
        if self.emulate:
            self._cluster, topology, emulated = emulated_agents(
                plan.topology, self.state_dir, self._launcher_pair(), self._agent_environ
            )
            self.providers.update(emulated)
            self.topology = topology
            self.plan = plan = make_plan(topology, self.exclude)
        else:
            for device in topology.devices.values():
                self.providers[device.name] = self._provider(device)
        if self._clock is not None:
            self._clock.reference = topology.mesh.clock_reference
            self._clock.step_threshold_s = topology.mesh.step_threshold_s
        for name, provider in self.providers.items():
            self._check_stop()
            agent = provider.start(self._context)
            self.links[name] = DeviceLink(
                name, agent.endpoint, agent.client, provider, curve=agent.curve
            )
        wait_ready(self.providers, self._check_stop)
        for link in self.links.values():
            self._check_stop()
            hello = link.client.hello(timeout_s=HELLO_TIMEOUT_S)
            self._log.info(
                "agent ready",
                device=link.name,
                agent=link.provider.describe(),
                agent_device=hello.device,
                device_class=hello.device_class,
            )
        self.specs = dict(plan.specs)  # each agent sets the work dir and clock file
        mesh_key = None
        if topology.mesh.encrypt:
            mesh_key = MeshKey.new()
            secured = {name for name, link in self.links.items() if link.curve}
            self.specs = mesh_curve(self.specs, topology, secured, mesh_key)
            self.mesh_key_file = mesh_key.write(self.state_dir)
            self._log.info("data plane encrypted", mesh_key_file=str(self.mesh_key_file))
        self._witness = WitnessMonitor(
            self._context,
            [(a.name, a.endpoint) for a in plan.actors],
            syncs=[a.name for a in plan.actors if a.role == "sync"],
            mesh_key=mesh_key,
        )
        if self._clock is not None:
            # each agent's first correction is a step: take it before any actor publishes
            self._clock.join({name: link.client for name, link in self.links.items()})
            self._next_clock = time.monotonic() + self._clock.interval(self.links)
        for link in self.links.values():
            for actor in plan.on(link.name):
                self._check_stop()
                self._spawn(link, actor.name)
        self._started_at = time.monotonic()
        return plan

    def run(self, duration_s: float | None = None, view: Any = None) -> None:
        """Tick until ``duration_s`` passes or a stop is requested."""
        end = time.monotonic() + duration_s if duration_s is not None else float("inf")
        while not self._stop_requested and time.monotonic() < end:
            self.tick(timeout_s=min(0.1, max(0.0, end - time.monotonic())))
            if view is not None:
                view.update(self.status())

    def request_stop(self, *_: Any) -> None:
        """Ask ``run``/``start`` to return soon; safe from a signal handler."""
        self._stop_requested = True

    def stop(self) -> None:
        """Stop every actor on every agent, stop the agents we started, release everything."""
        reachable = [link for link in self.links.values() if not link.lost]
        waiting: list[tuple[DeviceLink, str]] = []
        stop_all = Stop(grace_s=STOP_GRACE_S)
        for link in reachable:
            with contextlib.suppress(AgentError):
                waiting.append((link, link.client.send(stop_all)))
        deadline = time.monotonic() + STOP_GRACE_S + 1.0
        for link, request_id in waiting:
            try:
                link.client.wait(request_id, max(0.0, deadline - time.monotonic()), Stop.name)
            except KairosError as exc:
                self._log.warning("stop not confirmed", device=link.name, error=str(exc))
        for provider in self.providers.values():
            provider.stop()
        for link in self.links.values():
            link.client.close()
        self.links.clear()
        self.providers.clear()
        if self._witness is not None:
            self._witness.close()
            self._witness = None
        if self._cluster is not None:
            cluster, self._cluster = self._cluster, None
            cluster.close()
        if self._context is not None:
            self._context.term()
            self._context = None

    # -- the watch loop ------------------------------------------------------------------

    def tick(self, timeout_s: float = 0.1) -> None:
        """One bounded round of watching: heartbeats, replies, reconciliation, clocks."""
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + HEARTBEAT_EVERY_S
            ask_status = now >= self._next_status
            if ask_status:
                self._next_status = now + STATUS_EVERY_S
            for link in self.links.values():
                self._beat(link, now, ask_status)
        for link in self.links.values():
            for reply in link.client.collect(0.0):
                self._on_reply(link, reply)
            self._check_lost(link, time.monotonic())
            if link.needs_reconcile and not link.lost:
                self._reconcile(link)
        if self._clock is not None and now >= self._next_clock:
            # an agent that missed a heartbeat would stall every probe of the burst: skip it
            live = {
                d: link.client
                for d, link in self.links.items()
                if link.missed == 0 and not link.lost
            }
            if live:
                self._clock.round(live)
            # every 2 s, every 0.25 s while a live device's estimator is young (iburst)
            self._next_clock = now + self._clock.interval(live)
        if self._witness is not None:
            if self._witness.sock.poll(poll_ms(timeout_s), zmq.POLLIN):
                self._witness.drain()
        elif timeout_s:
            time.sleep(timeout_s)

    @property
    def mesh_time(self) -> MeshOffsets | None:
        """The latest mesh-time round: each device's correction ± uncertainty (None: none yet).

        A new object after every round that produced corrections, so callers can collect
        the series of estimates by identity.
        """
        return self._clock.last if self._clock is not None else None

    @property
    def cluster(self) -> EmulatedCluster | None:
        """The emulated cluster this launch built (``EmulatedCluster``), or None."""
        return self._cluster

    def _state_of(self, actor: str, info: ActorStatus | None) -> str:
        """The agent's word for an actor, except that a running actor whose witness record
        has been missing for HUNG_AFTER_S is hung (stopped, deadlocked, starved): the agent
        sees a live process, only its silence tells.  Silence counts from the later of its
        last record and its process's start, so an actor just respawned (a restart, a device
        back and reconciled) is not called hung for its predecessor's silence."""
        state = info.state if info is not None else "unknown"
        silent = self._witness.silent_for(actor) if self._witness else None
        if silent is not None and info is not None:
            silent = min(silent, info.uptime_s)
        if state == RUNNING and silent is not None and silent > HUNG_AFTER_S:
            if actor not in self._hung:
                self._hung.add(actor)
                self._log.warning("actor hung: no witness record", actor=actor, silent_s=silent)
            return "hung"
        self._hung.discard(actor)
        return state

    def status(self) -> dict[str, Any]:
        """What the launcher knows now: per actor state, pid, restarts, rate; per device."""
        plan = self.plan
        actors = []
        for actor in plan.actors if plan else ():
            link = self.links.get(actor.device)
            info = link.actors.get(actor.name) if link else None
            actors.append(
                {
                    "name": actor.name,
                    "device": actor.device,
                    "role": actor.role,
                    "endpoint": actor.endpoint,
                    "state": "excluded"
                    if plan and actor.name in plan.excluded
                    else self._state_of(actor.name, info),
                    "pid": info.pid if info else None,
                    "restarts": info.restarts if info else 0,
                    "rate_hz": self._witness.rate(actor.name) if self._witness else None,
                    "coherence": self._witness.coherence(actor.name) if self._witness else None,
                }
            )
        return {
            "topology": plan.topology.name if plan else str(self.topology_path),
            "uptime_s": time.monotonic() - self._started_at,
            "actors": actors,
            "devices": {name: self._device_status(name, link) for name, link in self.links.items()},
            "witness_bad_frames": self._witness.bad_frames if self._witness else 0,
            # the latest kairos.records.MeshState of each sync actor
            "mesh": dict(self._witness.mesh) if self._witness else {},
        }

    # -- internals -----------------------------------------------------------------------

    def _check_stop(self) -> None:
        if self._stop_requested:
            raise KeyboardInterrupt

    def _spawn(self, link: DeviceLink, name: str) -> None:
        result = link.client.call(Spawn(self.specs[name]))
        link.actors[name] = ActorStatus(name, RUNNING, pid=result.pid, spec_hash=result.spec_hash)
        self._log.info("actor deployed", actor=name, device=link.name, outcome=result.outcome)

    def _device_status(self, name: str, link: DeviceLink) -> dict[str, Any]:
        info: dict[str, Any] = {"endpoint": link.endpoint, "lost": link.lost, "missed": link.missed}
        mesh = self.mesh_time
        estimate = mesh.offsets.get(name) if mesh is not None else None
        info["clock_offset_ns"] = estimate.offset_ns if estimate is not None else None
        info["clock_uncertainty_ns"] = estimate.uncertainty_ns if estimate is not None else None
        return info

    def _beat(self, link: DeviceLink, now: float, ask_status: bool) -> None:
        try:
            if not link.provider.ready():
                return  # an agent we (re)started is not serving yet: stay quiet
        except AgentError as exc:
            self._log.error("agent failed to start", device=link.name, error=str(exc))
        link.missed = len(link.heartbeats)
        try:
            link.heartbeats[link.client.send(Heartbeat())] = now
        except AgentError:  # not connected: counts as a heartbeat nobody answered
            link.heartbeats[f"unsent-{now!r}"] = now
        if len(link.heartbeats) > MAX_UNANSWERED:  # a long-lost agent: keep the oldest send
            ids = list(link.heartbeats)
            for stale in ids[1 : len(ids) - MAX_UNANSWERED + 1]:
                del link.heartbeats[stale]
        if ask_status:
            # a status older than one round is given up (its reply would be stale anyway)
            link.statuses = {}
            with contextlib.suppress(AgentError):
                link.statuses[link.client.send(Status())] = now

    def _check_lost(self, link: DeviceLink, now: float) -> None:
        if link.lost or not link.heartbeats:
            return
        waited = now - next(iter(link.heartbeats.values()))
        if waited >= LOST_AFTER_S:
            link.lost = True
            link.lost_since = now
            self._log.error(
                "device LOST: no heartbeat answered",
                device=link.name,
                waited_s=round(waited, 2),
                unanswered=len(link.heartbeats),
            )

    def _on_reply(self, link: DeviceLink, reply: Reply) -> None:
        if reply.id in link.heartbeats:
            sent = link.heartbeats[reply.id]
            if not reply.ok:
                return
            # the agent lives: every heartbeat up to this one is settled
            link.heartbeats = {i: t for i, t in link.heartbeats.items() if t > sent}
            link.missed = 0
            if link.lost:
                self._log.warning("device back: reconciling", device=link.name)
                link.needs_reconcile = True
            link.lost = False
            link.lost_since = None
        elif link.statuses.pop(reply.id, None) is not None and reply.ok:
            try:
                status = Status.parse_result(reply.result)
            except ProtocolError as exc:
                self._log.warning("unreadable status", device=link.name, error=str(exc))
                return
            link.actors = {a.name: a for a in status.actors}
            planned = {a.name for a in self.plan.on(link.name)} if self.plan else set()
            active = {n for n, a in link.actors.items() if a.active}
            if planned - set(link.actors) or active - planned:
                link.needs_reconcile = True
        elif self._clock is not None:
            self._clock.settle(reply)

    def _reconcile(self, link: DeviceLink) -> None:
        """Make the agent match the plan: spawn what is missing, stop what is not planned."""
        link.needs_reconcile = False
        try:
            status = link.client.call(Status(), timeout_s=RECONCILE_STATUS_TIMEOUT_S)
            present = {a.name: a for a in status.actors}
            planned = [a.name for a in self.plan.on(link.name)] if self.plan else []
            for name in planned:
                current = present.get(name)
                wanted = spec_digest(self.specs[name])
                if current is None or current.spec_hash != wanted:
                    self._spawn(link, name)
            extra = [name for name, a in present.items() if name not in planned and a.active]
            if extra:
                link.client.call(Stop(tuple(extra), STOP_GRACE_S), timeout_s=STOP_GRACE_S + 2.0)
                self._log.warning("stopped actors not in the plan", device=link.name, actors=extra)
        except (AgentError, ProtocolError) as exc:
            link.needs_reconcile = True
            self._log.warning("reconciliation failed, will retry", device=link.name, error=str(exc))

    def _check_agent_env(self, topology: Topology) -> None:
        """``agent_env`` only reaches agents this launcher starts: say so before starting."""
        for device in self.agent_env:
            spec = topology.devices.get(device)
            if spec is None:
                raise KairosError(
                    f"agent_env names device {device!r}, not in topology {topology.name!r} "
                    f"(devices: {', '.join(topology.devices)})"
                )
            if not (self.emulate or spec.is_local):
                raise KairosError(
                    f"agent_env for device {device!r}: its agent runs at {spec.agent}, not "
                    "started by this launcher; set the environment where that agent runs"
                )

    def _agent_environ(self, device: str) -> dict[str, str] | None:
        return agent_environ(self.agent_env.get(device))

    def _provider(self, device: Device) -> AgentProvider:
        """A local agent this launcher starts, or a remote one it connects to (over
        CurveZMQ when the device names its ``agent_key``)."""
        assert self.state_dir is not None
        if device.is_local:
            return LocalAgent(
                device.name,
                device.device_class,
                self.state_dir,
                env=self._agent_environ(device.name),
            )
        curve = client_curve(self._launcher_pair(), device.agent_key) if device.agent_key else None
        return RemoteAgent(device.name, device.agent, curve, listen=device.dial)

    def _launcher_pair(self) -> KeyPair:
        """This launcher's CurveZMQ pair: ``key`` (default CONFIG/keys/launcher); for agents
        this launcher starts itself, else a pair made for this launch."""
        if self._launcher_key is None:
            if self.state_dir is None:
                raise KairosError("start() the launch before asking for its key pair")
            self._launcher_key = launcher_pair(self.key, self.state_dir, required=False)
        return self._launcher_key

    def spawn_emulated_agent(self, device: str) -> subprocess.Popen[Any]:
        """(Re)start ``device``'s agent inside the emulated cluster, as ``start()`` did.

        Same command, state directory and ``agent_env``; the launcher owns the new process
        (``stop()`` stops it).  Used after an agent died: the launcher sees it answer again
        and redeploys its actors.  The previous process must be gone (same address).
        """
        provider = self.providers.get(device)
        if not isinstance(provider, EmulatedAgent):
            raise KairosError(
                f"device {device!r} has no agent in an emulated cluster of this launch"
            )
        return provider.restart()
