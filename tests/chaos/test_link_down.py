"""A device's network link down for 30 s, on the emulated cluster.

``edge`` (a sensor and its engine) and ``hub`` (the sync actor) are two network namespaces;
the launcher runs in the root namespace.  Pulling edge's cable must be noticed within 3 s
(the launcher's LOST, the sync actor's stale node); once plugged back, data must flow again
within 2 s; and no control command may run twice because of the outage.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from chaos.harness import Observer, actor_state, command_ids, drive, record_result
from support import free_port

from kairos.launch import Launch

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.emulated,
    pytest.mark.skipif(
        not sys.platform.startswith("linux") or os.geteuid() != 0,
        reason="the emulated cluster needs Linux and root",
    ),
]

DOWN_S = 30.0
#: how long after the link is back the test waits to measure recovery at all
RECOVERY_WAIT_S = 45.0


@dataclass
class LinkDown:
    lost_s: float | None  # cable pulled -> the launcher reports edge LOST
    stale_s: float | None  # cable pulled -> the sync actor reports the engine stale
    back_s: float | None  # cable back -> the launcher hears edge again
    flowing_s: float | None  # cable back -> the sync actor gets fresh engine data
    command_ids: list[str] = field(default_factory=list)
    before: dict[str, Any] = field(default_factory=dict)  # edge actors' rows before the cut
    after: dict[str, Any] = field(default_factory=dict)  # and after recovery


def _engine_node(observer: Observer) -> dict[str, Any] | None:
    state = observer.latest("mesh")
    return state.data["nodes"].get("eng") if state is not None else None


@pytest.fixture(scope="module")
def link_down(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LinkDown]:
    tmp = tmp_path_factory.mktemp("link")
    topology = tmp / "link.yaml"
    topology.write_text(
        "name: chaos-link\n"
        f"mesh: {{base_port: {free_port()}, clock: consensus}}\n"
        "devices:\n"
        "  edge: {class: pi-4, agent: localhost}\n"
        "  hub: {class: mac-mini, agent: localhost}\n"
        "actors:\n"
        "  src: {role: sensor, device: edge, adapter: oscillator, rate_hz: 100,\n"
        "        params: {freq_hz: 2.0}}\n"
        "  eng: {role: engine, device: edge, inputs: [src],\n"
        "        encoding: {type: lockin, freq_hz: 2.0}, windows: {fast: 1, slow: 10}}\n"
        "  mesh: {role: sync, device: hub, inputs: [eng], rate_hz: 10}\n"
    )
    state = tmp / "launch"
    launch = Launch(topology, state_dir=state, emulate=True)
    observer: Observer | None = None
    try:
        plan = launch.start()
        sync = next(a.endpoint for a in plan.actors if a.name == "mesh")
        observer = Observer([sync], ["mesh"])

        def edge_rows() -> dict[str, Any]:
            return {name: actor_state(launch, name) for name in ("src", "eng")}

        def fresh(after_ns: int) -> bool:
            node = _engine_node(observer)  # type: ignore[arg-type]
            return bool(node and not node["stale"] and node["last_t_ns"] > after_ns)

        drive(launch, lambda: fresh(0), 60)
        drive(launch, lambda: all(r["pid"] for r in edge_rows().values()), 10)
        before = edge_rows()
        cluster = launch.cluster
        cut_at_ns = _engine_node(observer)["last_t_ns"]  # type: ignore[index]
        cluster.link_down("edge")
        down = time.monotonic()
        lost_at = stale_at = None
        while time.monotonic() < down + DOWN_S:
            launch.tick(0.05)
            if lost_at is None and launch.status()["devices"]["edge"]["lost"]:
                lost_at = time.monotonic()
            node = _engine_node(observer)
            if stale_at is None and node is not None and node["stale"]:
                stale_at = time.monotonic()
        last_heard_ns = _engine_node(observer)["last_t_ns"]  # type: ignore[index]
        up = time.monotonic()
        cluster.link_up("edge")
        back_at = flowing_at = None
        while time.monotonic() < up + RECOVERY_WAIT_S and (back_at is None or flowing_at is None):
            launch.tick(0.05)
            if back_at is None and not launch.status()["devices"]["edge"]["lost"]:
                back_at = time.monotonic()
            if flowing_at is None and fresh(max(last_heard_ns, cut_at_ns)):
                flowing_at = time.monotonic()
        settle = time.monotonic()
        drive(launch, lambda: time.monotonic() > settle + 3, 10)
        after = edge_rows()
        log = (state / "agents" / "edge.log").read_text(errors="replace")
        yield LinkDown(
            lost_s=None if lost_at is None else lost_at - down,
            stale_s=None if stale_at is None else stale_at - down,
            back_s=None if back_at is None else back_at - up,
            flowing_s=None if flowing_at is None else flowing_at - up,
            command_ids=command_ids(log),
            before=before,
            after=after,
        )
    finally:
        if observer is not None:
            observer.close()
        launch.stop()


def test_link_down_detected_within_3s(link_down: LinkDown) -> None:
    record_result(
        "link_down_detect",
        down_s=DOWN_S,
        launcher_lost_s=link_down.lost_s,
        sync_stale_s=link_down.stale_s,
    )
    assert link_down.lost_s is not None and link_down.lost_s <= 3.0
    assert link_down.stale_s is not None and link_down.stale_s <= 3.0


def test_data_flows_within_2s_of_link_up(link_down: LinkDown) -> None:
    record_result(
        "link_down_recover",
        launcher_back_s=link_down.back_s,
        data_flowing_s=link_down.flowing_s,
        waited_up_to_s=RECOVERY_WAIT_S,
    )
    assert link_down.back_s is not None
    assert link_down.flowing_s is not None and link_down.flowing_s <= 2.0


def test_no_control_command_executed_twice(link_down: LinkDown) -> None:
    repeated = {i: n for i, n in Counter(link_down.command_ids).items() if n > 1}
    record_result(
        "link_down_commands",
        commands_logged=len(link_down.command_ids),
        executed_twice=len(repeated),
        edge_actors_after={n: (r["state"], r["restarts"]) for n, r in link_down.after.items()},
    )
    assert link_down.command_ids, "the agent logged no command at all: the check saw nothing"
    assert repeated == {}
    for name, row in link_down.after.items():
        assert row["state"] == "running" and row["restarts"] == 0
        assert row["pid"] == link_down.before[name]["pid"]
