"""kairos.client against a launched demo: it reads what ``kairos tap`` shows, and it stands
in for a sensor actor that the engine then consumes."""

from __future__ import annotations

import json
import subprocess
import time
from collections import defaultdict

import numpy as np

from kairos.actors.engine import ENGINE_FIELDS
from kairos.client import ENGINE, Publisher, Received, Subscription
from kairos.records import MeshState, Witness

ENGINES = ("coherent", "noisy")
#: the engine fields ``kairos tap --json`` shows under their own names
ROW_KEYS = tuple(f for f in ENGINE_FIELDS if not f.startswith(("collapsed", "tsync", "delta")))
#: ``kairos tap --json`` key -> Witness attribute
WITNESS_KEYS = {
    "rate_hz": "rate_hz",
    "clock_offset_ns": "clock_offset_ns",
    "clock_uncertainty_ns": "clock_uncertainty_ns",
    "gaps": "gaps",
    "drops": "drops",
    "decode_errors": "decode_errors",
    "latency_ms": "latency_p50_ms",
    "latency_p99_ms": "latency_p99_ms",
}


class Seen:
    """Everything the client received, by stream and seq, and its gap accounting."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, int], Received] = {}
        self.states: dict[int, MeshState] = {}
        self.witnesses: dict[str, list[Witness]] = defaultdict(list)
        self.first: dict[str, Received] = {}
        self.missed = 0
        self.restarts = 0

    def take(self, received: Received) -> None:
        self.first.setdefault(received.stream, received)
        self.missed += received.missed
        self.restarts += received.restarted
        if received.kind == ENGINE:
            self.rows[(received.stream, received.seq)] = received
        elif isinstance(received.record, MeshState):
            self.states[received.seq] = received.record
        elif isinstance(received.record, Witness):
            received.record.role_stats()  # the role's own fields are well-formed too
            self.witnesses[received.record.actor].append(received.record)


def test_client_reads_the_demo_value_for_value_as_the_tap(demo_topology, launch, processes):
    launch(demo_topology)
    streams = [*ENGINES, "mesh", *(f"{e}/witness" for e in ENGINES)]
    seen = Seen()
    with Subscription.from_topology(demo_topology, streams) as sub:
        tap = processes.kairos(
            "tap", str(demo_topology), "--once", "--json", "--timeout", "30",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        while tap.poll() is None:
            if (received := sub.next(timeout_s=0.1)) is not None:
                seen.take(received)
        out, err = tap.communicate(timeout=10)
        # whatever the tap printed has reached our sockets too: take what is queued
        settle = time.monotonic() + 1.0
        while time.monotonic() < settle:
            if (received := sub.next(timeout_s=0.1)) is not None:
                seen.take(received)
        assert sub.decode_errors == 0  # every record the actors sent is a well-formed one
    assert tap.returncode == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    nodes = {r["node"]: r for r in records if r["node"] != "mesh"}
    (mesh,) = [r for r in records if r["node"] == "mesh"]
    assert set(nodes) == set(ENGINES)

    # the mesh state with the tap's seq, as the client decoded it
    state = seen.states[mesh["seq"]]
    assert mesh["t_mesh_ns"] == state.t_ns
    assert mesh["global_coherence"] == state.global_coherence
    assert mesh["order_parameter"] == state.order_parameter
    assert mesh["mesh_phase"] == state.mesh_phase
    assert mesh["phasor"] == [state.phasor.real, state.phasor.imag]
    assert mesh["emerged"] == state.emerged
    assert mesh["stale_nodes"] == list(state.stale_nodes)

    for name, node in nodes.items():
        # the engine message with the tap's seq: its last row, value for value
        received = seen.rows[(name, node["seq"])]
        last = received.data[-1]
        assert node["t_mesh_ns"] == int(received.times[-1])
        for key in ROW_KEYS:
            assert node[key] == last[ENGINE_FIELDS.index(key)], (name, key)
        for window in ("fast", "slow", "pair"):
            assert node[f"collapsed_{window}"] == bool(
                last[ENGINE_FIELDS.index(f"collapsed_{window}")]
            )
        # what the same mesh state says of the node
        assert node["delta_p"] == state.nodes[name].delta_p
        assert node["stale"] == state.nodes[name].stale
        # one of the witnesses the client decoded is the one the tap showed
        shown = tuple(node[key] for key in WITNESS_KEYS)
        heard = [
            tuple(getattr(w, attr) for attr in WITNESS_KEYS.values()) for w in seen.witnesses[name]
        ]
        assert shown in heard, (name, shown, heard)
        assert (node["device"], node["class"]) == (
            seen.witnesses[name][-1].device,
            seen.witnesses[name][-1].device_class,
        )

    # gap accounting: nothing lost on the loopback, no restart; a stream joined after its
    # start says so on its first message and is never a gap
    assert seen.missed == 0 and seen.restarts == 0
    for stream, first in seen.first.items():
        assert first.joined_late == (first.seq > 0), stream
        assert first.missed == 0


def test_a_client_publisher_stands_in_for_a_sensor(demo_topology, launch):
    launch(demo_topology, "--exclude", "osc-a")
    step = 2_500_000  # 400 Hz, as the demo's osc-a
    chunks, chunk = 80, 8
    with (
        Subscription.from_topology(
            demo_topology, ["coherent", "coherent/witness"], actors=["coherent"]
        ) as sub,
        Publisher.for_actor(demo_topology, "osc-a") as pub,
    ):
        assert pub.endpoint.endswith(f":{_port(demo_topology, 'osc-a')}")
        assert pub.wait_ready()  # the engine announced itself as osc-a's consumer
        assert pub.consumers == 1
        # half-way between osc-b's grid points: rows stamped so come from our samples only
        start = (pub.now_ns() // step + 1) * step + step // 2
        sent: list[int] = []
        stamped: set[int] = set()
        witnesses: list[Witness] = []

        def take(received: Received | None) -> None:
            if received is None:
                return
            if received.kind == ENGINE:
                stamped.update(int(t) for t in received.times)
            elif isinstance(received.record, Witness):
                witnesses.append(received.record)

        for k in range(chunks):
            times = start + (np.arange(chunk) + k * chunk) * step
            while pub.now_ns() < times[-1]:
                take(sub.next(timeout_s=0.002))  # keep reading while the samples come due
            assert pub.send(times, np.sin(2 * np.pi * 40.0 * times / 1e9)) == k
            sent.extend(int(t) for t in times)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not _heard_all(witnesses, chunks, sent, stamped):
            take(sub.next(timeout_s=0.5))
    # the engine turned every sample we sent into a row stamped with its time, heard exactly
    # our messages, in order (no gap), from one publisher life (no restart)
    missing = sorted(set(sent) - stamped)
    assert not missing, f"{len(missing)} of {len(sent)} samples sent have no engine row"
    heard = witnesses[-1].inputs["osc-a"]
    assert (heard.msgs, heard.gaps, heard.restarts) == (chunks, 0, 0)


def _heard_all(witnesses: list[Witness], chunks: int, sent: list[int], stamped: set[int]) -> bool:
    """The engine's latest witness counts every message sent, and every sample has its row."""
    inputs = witnesses[-1].inputs if witnesses else {}
    return "osc-a" in inputs and inputs["osc-a"].msgs >= chunks and set(sent) <= stamped


def _port(topology, actor: str) -> int:
    from kairos.client import topology_endpoints

    return int(topology_endpoints(topology)[actor].rsplit(":", 1)[1])
