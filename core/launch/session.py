"""One launch of a topology: validate, plan, start agents, deploy, watch, tear down.

The launcher is single-threaded: ``tick()`` does a bounded amount of work (heartbeats and
status requests pipelined to every agent, reconciliation, a mesh-time round, witness
records) and ``run()`` calls it until the duration ends or ``request_stop()`` is called
(from a signal handler).  ``stop()`` is safe to call at any point, also after a failed start.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import zmq

from kairos import _log
from kairos.actors.spec import ActorProcessSpec, build_specs
from kairos.control.client import ControlClient
from kairos.control.commands.spawn import spec_digest
from kairos.errors import AgentError, KairosError
from kairos.launch.agents import StartedAgent, start_agent
from kairos.launch.meshtime import MeshTimeKeeper
from kairos.launch.plan import Plan, make_plan
from kairos.launch.witness import WitnessMonitor
from kairos.topologies.model import DEFAULT_AGENT_PORT, Topology

HEARTBEAT_EVERY_S: Final = 1.0
#: a device is LOST after this many heartbeats without an answer
MISSED_FOR_LOST: Final = 3
CLOCK_EVERY_S: Final = 2.0
STOP_GRACE_S: Final = 2.0
HELLO_TIMEOUT_S: Final = 10.0


@dataclass
class DeviceLink:
    """The launcher's connection to one device's agent."""

    name: str
    endpoint: str
    client: ControlClient
    started: StartedAgent | None = None
    missed: int = 0
    lost: bool = False
    pending: dict[str, str] = field(default_factory=dict)  # request id -> "heartbeat"|"status"
    actors: dict[str, dict[str, Any]] = field(default_factory=dict)
    needs_reconcile: bool = False


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
    ) -> None:
        self.topology_path = Path(topology_path)
        #: where agents' state, logs and outputs go; a fresh temp dir is made at start()
        self.state_dir: Path | None = Path(state_dir) if state_dir else None
        self.exclude = tuple(exclude)
        self.emulate = emulate
        self.topology: Topology | None = None
        self.plan: Plan | None = None
        self.specs: dict[str, ActorProcessSpec] = {}
        self.links: dict[str, DeviceLink] = {}
        self._context: zmq.Context | None = None
        self._cluster: Any = None
        self._witness: WitnessMonitor | None = None
        self._clock = MeshTimeKeeper(None) if clock_sync else None
        self._stop_requested = False
        self._started_at = time.monotonic()
        self._next_heartbeat = 0.0
        self._next_clock = 0.0
        self._log = _log.get("launch")

    # -- lifecycle -----------------------------------------------------------------------

    def load(self) -> Plan:
        """Validate the topology (TopologyError lists every problem) and plan; starts nothing."""
        from kairos.topologies.loader import load

        self.topology = load(self.topology_path)
        self.plan = make_plan(self.topology, self.exclude)
        return self.plan

    def start(self) -> Plan:
        """Start agents where needed, connect to all, handshake, deploy every actor."""
        plan = self.plan or self.load()
        if self.state_dir is None:
            self.state_dir = Path(tempfile.mkdtemp(prefix="kairos-launch-"))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._context = zmq.Context()
        topology = self._start_emulated() if self.emulate else plan.topology
        if topology is not plan.topology:
            self.topology = topology
            self.plan = plan = make_plan(topology, self.exclude)
        if self._clock is not None:
            self._clock.reference = topology.mesh.clock_reference
        for device in topology.devices.values():
            self._check_stop()
            if device.name in self.links:  # an emulated device's agent, started above
                continue
            started = None
            endpoint = device.agent
            if device.is_local:
                started = start_agent(device.name, device.device_class, self.state_dir)
                endpoint = started.endpoint
            link = DeviceLink(
                device.name,
                endpoint,
                ControlClient(endpoint, context=self._context),
                started=started,
            )
            self.links[device.name] = link
        for link in self.links.values():
            self._check_stop()
            hello = link.client.hello(timeout_s=HELLO_TIMEOUT_S)
            self._log.info(
                "agent ready",
                device=link.name,
                endpoint=link.endpoint,
                agent_device=hello["device"],
                device_class=hello["class"],
            )
        self.specs = build_specs(topology, self.state_dir / "work")  # agents set work_dir
        self._witness = WitnessMonitor(self._context, [(a.name, a.endpoint) for a in plan.actors])
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
        for link in reachable:
            with contextlib.suppress(AgentError):
                waiting.append(
                    (link, link.client.send("stop", {"all": True, "grace_s": STOP_GRACE_S}))
                )
        deadline = time.monotonic() + STOP_GRACE_S + 1.0
        for link, request_id in waiting:
            try:
                link.client.wait(request_id, max(0.0, deadline - time.monotonic()), "stop")
            except KairosError as exc:
                self._log.warning("stop not confirmed", device=link.name, error=str(exc))
        for link in self.links.values():
            if link.started is not None:
                link.started.stop()
            link.client.close()
        self.links.clear()
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
            for link in self.links.values():
                self._beat(link)
        for link in self.links.values():
            for reply in link.client.collect(0.0):
                self._on_reply(link, reply)
            if link.needs_reconcile and not link.lost:
                self._reconcile(link)
        if self._clock is not None and now >= self._next_clock:
            self._next_clock = now + CLOCK_EVERY_S
            # an agent that missed a heartbeat would stall every probe of the burst: skip it
            live = {d: link.client for d, link in self.links.items() if link.missed == 0}
            if live:
                self._clock.round(live)
        if self._witness is not None:
            if self._witness.sock.poll(int(timeout_s * 1000), zmq.POLLIN):
                self._witness.drain()
        elif timeout_s:
            time.sleep(timeout_s)

    def status(self) -> dict[str, Any]:
        """What the launcher knows now: per actor state, pid, restarts, rate; per device."""
        plan = self.plan
        actors = []
        for actor in plan.actors if plan else ():
            link = self.links.get(actor.device)
            info = link.actors.get(actor.name, {}) if link else {}
            actors.append(
                {
                    "name": actor.name,
                    "device": actor.device,
                    "role": actor.role,
                    "endpoint": actor.endpoint,
                    "state": "excluded" if actor.excluded else info.get("state", "unknown"),
                    "pid": info.get("pid"),
                    "restarts": info.get("restarts", 0),
                    "rate_hz": self._witness.rate(actor.name) if self._witness else None,
                }
            )
        return {
            "topology": plan.topology.name if plan else str(self.topology_path),
            "uptime_s": time.monotonic() - self._started_at,
            "actors": actors,
            "devices": {
                name: {"endpoint": link.endpoint, "lost": link.lost, "missed": link.missed}
                for name, link in self.links.items()
            },
            "witness_bad_frames": self._witness.bad_frames if self._witness else 0,
        }

    # -- internals -----------------------------------------------------------------------

    def _check_stop(self) -> None:
        if self._stop_requested:
            raise KeyboardInterrupt

    def _spawn(self, link: DeviceLink, name: str) -> None:
        spec = self.specs[name]
        result = link.client.call("spawn", {"spec": _spec_map(spec)})
        link.actors[name] = {
            "state": "running",
            "pid": result["pid"],
            "restarts": 0,
            "spec_hash": result["spec_hash"],
        }
        self._log.info("actor deployed", actor=name, device=link.name, outcome=result["outcome"])

    def _beat(self, link: DeviceLink) -> None:
        if "heartbeat" in link.pending.values():
            link.missed += 1
            if link.missed >= MISSED_FOR_LOST and not link.lost:
                link.lost = True
                self._log.error(
                    "device LOST: no heartbeat answered", device=link.name, missed=link.missed
                )
        link.pending = {}  # unanswered requests of the last round are given up
        for kind in ("heartbeat", "status"):
            try:
                link.pending[link.client.send(kind)] = kind
            except AgentError:
                if kind == "heartbeat":
                    link.pending["unsent"] = "heartbeat"

    def _on_reply(self, link: DeviceLink, reply: Any) -> None:
        kind = link.pending.pop(reply.id, None)
        if kind is None or not reply.ok:
            return
        if kind == "heartbeat":
            if link.lost:
                self._log.warning("device back: reconciling", device=link.name)
                link.needs_reconcile = True
            link.lost = False
            link.missed = 0
        elif kind == "status":
            link.actors = {a["name"]: a for a in reply.result.get("actors", [])}
            planned = {a.name for a in self.plan.on(link.name)} if self.plan else set()
            active = {n for n, a in link.actors.items() if a["state"] in ("running", "backoff")}
            if planned - set(link.actors) or active - planned:
                link.needs_reconcile = True

    def _reconcile(self, link: DeviceLink) -> None:
        """Make the agent match the plan: spawn what is missing, stop what is not planned."""
        link.needs_reconcile = False
        try:
            status = link.client.call("status", timeout_s=2.0)
            present = {a["name"]: a for a in status["actors"]}
            planned = [a.name for a in self.plan.on(link.name)] if self.plan else []
            for name in planned:
                current = present.get(name)
                wanted = spec_digest(self.specs[name])
                if current is None or current["spec_hash"] != wanted:
                    self._spawn(link, name)
            extra = [
                name
                for name, a in present.items()
                if name not in planned and a["state"] in ("running", "backoff")
            ]
            if extra:
                link.client.call(
                    "stop", {"names": extra, "grace_s": STOP_GRACE_S}, timeout_s=STOP_GRACE_S + 2.0
                )
                self._log.warning("stopped actors not in the plan", device=link.name, actors=extra)
        except AgentError as exc:
            link.needs_reconcile = True
            self._log.warning("reconciliation failed, will retry", device=link.name, error=str(exc))

    def _start_emulated(self) -> Topology:
        """Build the emulated cluster and one agent per device inside it."""
        from kairos.hardware.emulate import EmulatedCluster

        if self.plan is None or self.state_dir is None:
            raise KairosError("load() the topology before starting an emulated cluster")
        self._cluster = EmulatedCluster(self.plan.topology)
        self._cluster.start()
        topology = self._cluster.topology()
        for device in topology.devices.values():
            ip = self._cluster.address(device.name)
            state = self.state_dir / "agents" / device.name
            state.mkdir(parents=True, exist_ok=True)
            bind = f"tcp://{ip}:{DEFAULT_AGENT_PORT}"
            log_path = self.state_dir / "agents" / f"{device.name}.log"
            with open(log_path, "ab") as log:
                proc = self._cluster.spawn(
                    device.name,
                    [
                        sys.executable,
                        "-m",
                        "kairos.tools.cli",
                        "agent",
                        "run",
                        "--bind",
                        bind,
                        "--class",
                        device.device_class,
                        "--device",
                        device.name,
                        "--state-dir",
                        str(state),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            self.links[device.name] = DeviceLink(
                device.name,
                bind,
                ControlClient(bind, context=self._context),
                started=StartedAgent(device.name, proc, bind, log_path),
            )
        return topology


def _spec_map(spec: ActorProcessSpec) -> dict[str, Any]:
    return json.loads(spec.to_json())
