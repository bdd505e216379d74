"""Issue 4, on the emulated cluster: topologies/home.yaml across a pi-zero, a pi-4 and a mac-mini.

The tests share one launch (see conftest.py) and run in file order: 20 s of running, the
injected clock offset, the pi-zero's budget, then kill -9 of the pi-zero's agent, and last
the teardown.  Everything is observed from outside: the launcher's API, a tap subscribed to
every actor from the root namespace, the agents' clock files, cgroups and /proc.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path

import psutil
import pytest
from emulated.home_run import (
    KITCHEN_SHIFT_NS,
    HomeRun,
    Received,
    coverage_problems,
    needs_root_reason,
)

from kairos.clocksync import accuracy
from kairos.emulate import cgroups as _cgroups
from kairos.emulate.cluster import STATE_DIR, find_leftovers

pytestmark = [
    pytest.mark.emulated,
    pytest.mark.skipif(needs_root_reason() is not None, reason=str(needs_root_reason())),
]

RUN_S = 20.0
CLOCK_ESTIMATES = 30
#: the issue's bounds
CLOCK_P95_NS = 100_000
LOST_WITHIN_S = 3.0
PI_ZERO_RATE_HZ = 100.0
CPU_WINDOW_S = 8.0


def _contiguous(messages: list[Received], step_ns: int) -> list[str]:
    """Where sequence numbers or sample times of one epoch do not follow on (empty: none)."""
    problems = []
    for before, after in itertools.pairwise(messages):
        if after.epoch != before.epoch:
            problems.append(f"new epoch after seq {before.seq}")
        elif after.seq != before.seq + 1:
            problems.append(f"seq {before.seq} -> {after.seq}")
        elif after.first_t != before.last_t + step_ns:
            problems.append(f"samples {before.last_t} -> {after.first_t} (step {step_ns})")
    return problems


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    used = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        used[pid] = times.user + times.system
    return used


def _throttling(cpu_stat: Path) -> dict[str, int]:
    """The CFS bandwidth counters of a cgroup's ``cpu.stat``."""
    words = cpu_stat.read_text().split()
    return {key: int(value) for key, value in zip(words[::2], words[1::2], strict=True)}


@pytest.mark.timeout(150)
def test_home_runs_with_every_actor_publishing_and_every_node_in_the_mesh(home: HomeRun) -> None:
    topology = home.launch.topology
    assert topology is not None
    classes = {d.device_class for d in topology.devices.values()}
    assert {"pi-zero", "pi-4", "mac-mini"} <= classes
    home.wait(lambda: time.monotonic() >= home.ready_at + RUN_S, RUN_S + 10, "20 s of running")
    now = time.monotonic()

    status = home.driver.status()
    assert {a["name"]: a["state"] for a in status["actors"]} == dict.fromkeys(
        home.actors, "running"
    )
    assert all(a["restarts"] == 0 for a in status["actors"]), status["actors"]
    assert not any(info["lost"] for info in status["devices"].values()), status["devices"]
    assert [e for e in home.driver.events if e.lost] == []

    for actor in home.actors:
        witnesses = home.tap.messages(f"{actor}/witness", since=home.ready_at)
        assert len(witnesses) >= RUN_S / 2, (actor, len(witnesses))
        assert witnesses[-1].at > now - 3.0, actor
        sent = [w.record["msgs_out"] for w in witnesses if w.record is not None]
        assert sent[-1] > sent[0], (actor, sent)
        if topology.actors[actor].role in ("sensor", "engine", "sync"):
            main = home.tap.messages(actor, since=home.ready_at)
            assert len(main) >= 5 * RUN_S, (actor, len(main))  # nominal: 10-50 per second
            assert main[-1].at > now - 2.0, actor

    nodes = set(topology.actors["mesh"].inputs)
    states = home.mesh_states(since=home.ready_at + 5.0)
    assert len(states) >= 5 * (RUN_S - 5.0)  # 10 Hz pulse
    last = states[-1]
    assert set(last["nodes"]) == nodes
    assert last["stale_nodes"] == []
    assert all(not n["stale"] and n["delta_p"] is not None for n in last["nodes"].values()), last
    complete = [s for s in states if not s["stale_nodes"] and set(s["nodes"]) == nodes]
    assert len(complete) >= 0.9 * len(states), [s["stale_nodes"] for s in states]


@pytest.mark.timeout(150)
def test_injected_clock_offset_is_estimated_within_100_us(home: HomeRun) -> None:
    """The 30 estimates are the launcher's rounds once every actor runs: while the pi-zero
    starts two Python processes its agent is starved and answers probes late, which the
    estimator reports as up to ~1 ms of uncertainty (those rounds must still cover the truth,
    by the per-run rule of ``coverage_problems``).
    """

    def kitchen_rounds() -> list:
        return [m for t, m in home.driver.rounds if t >= home.ready_at and "kitchen" in m.offsets]

    rounds = home.wait(
        lambda: len(kitchen_rounds()) >= CLOCK_ESTIMATES and kitchen_rounds(),
        2.5 * CLOCK_ESTIMATES + 20,
        f"{CLOCK_ESTIMATES} mesh-time rounds",
    )[:CLOCK_ESTIMATES]
    assert all(m.reference == "living-room" for m in rounds)
    estimates = [m.offsets["kitchen"] for m in rounds]
    assert all(e.n > 0 for e in estimates)  # from probe samples, not a default

    # truth: both agents share CLOCK_MONOTONIC, so the kitchen's correction onto the
    # living room's clock is exactly the difference of the bases they sampled
    truth = home.clock_base("living-room") - home.clock_base("kitchen")
    assert abs(truth + KITCHEN_SHIFT_NS) < 1_000_000, truth  # the shift reached that agent
    startup = [
        m.offsets["kitchen"]
        for t, m in home.driver.rounds
        if t < home.ready_at and "kitchen" in m.offsets
    ]
    misses = coverage_problems(startup + estimates, truth)
    assert not misses, misses
    report = accuracy(estimates, truth)
    figures = (
        f"truth {truth} ns; p50 {report.p50_error_ns:.0f} ns, p95 {report.p95_error_ns:.0f} ns, "
        f"max {report.max_error_ns:.0f} ns; uncertainty "
        f"{min(e.uncertainty_ns for e in estimates)}..{max(e.uncertainty_ns for e in estimates)} ns"
    )
    print(f"kitchen clock over {report.n} estimates: {figures}")
    assert report.p95_error_ns < CLOCK_P95_NS, figures

    # what the tap shows: the kitchen's actors run on that correction (their witness)
    witness = home.witness("kitchen-engine")
    assert witness is not None
    assert abs(witness["clock_offset_ns"] - truth) <= witness["clock_uncertainty_ns"], witness
    device = home.driver.status()["devices"]["kitchen"]
    assert abs(device["clock_offset_ns"] - truth) <= device["clock_uncertainty_ns"], device


@pytest.mark.timeout(150)
def test_pi_zero_budget_is_enforced_and_its_sensor_and_engine_keep_up(home: HomeRun) -> None:
    cluster = home.launch.cluster
    limits = cluster.cgroup_limits("kitchen")
    assert limits == {
        "cpu_quota_us": 10_000,
        "cpu_period_us": 100_000,
        "memory_limit_bytes": 512 * 2**20,
    }
    in_budget = set(cluster.cgroup_pids("kitchen"))
    actors = home.actor_processes()
    agent = home.launch.links["kitchen"].started
    assert agent is not None and agent.proc.pid in in_budget
    assert {actors["mic"][0], actors["kitchen-engine"][0]} <= in_budget

    cpu_stat = _cgroups.CgroupLayout.detect().device_dirs(home.cluster_id, "kitchen")[0]
    start_stat, start_cpu = _throttling(cpu_stat / "cpu.stat"), _cpu_seconds(sorted(in_budget))
    start = time.monotonic()
    time.sleep(CPU_WINDOW_S)
    end_stat, end_cpu = _throttling(cpu_stat / "cpu.stat"), _cpu_seconds(sorted(in_budget))
    elapsed = time.monotonic() - start
    share = {p: (end_cpu[p] - start_cpu[p]) / elapsed for p in end_cpu if p in start_cpu}
    used = sum(share.values())
    names = {agent.proc.pid: "agent", actors["mic"][0]: "mic"}
    names[actors["kitchen-engine"][0]] = "kitchen-engine"
    periods = end_stat["nr_periods"] - start_stat["nr_periods"]
    throttled = end_stat["nr_throttled"] - start_stat["nr_throttled"]
    print(
        f"pi-zero over {elapsed:.1f} s: {used:.3f} CPU of 0.1 "
        f"({', '.join(f'{names.get(p, p)} {v:.3f}' for p, v in share.items())}); "
        f"throttled in {throttled} of {periods} CFS periods"
    )
    assert used <= 0.1 * 1.1, used  # CFS bandwidth: the quota holds (10 % slack for accounting)

    mic = home.launch.topology.actors["mic"]
    assert mic.rate_hz is not None and mic.rate_hz >= PI_ZERO_RATE_HZ
    step_ns = round(1e9 / mic.rate_hz)
    for stream in ("mic", "kitchen-engine"):
        received = home.tap.messages(stream)
        assert _contiguous(received, step_ns) == [], stream
        span_s = (received[-1].last_t - received[0].first_t) / 1e9
        wall_s = received[-1].at - received[0].at
        assert span_s >= 0.95 * wall_s, (stream, span_s, wall_s)  # samples keep pace
    # the engine keeps up: its newest sample is close behind the sensor's newest
    lag_s = (home.tap.latest("mic").last_t - home.tap.latest("kitchen-engine").last_t) / 1e9
    assert lag_s < 0.5, lag_s

    sensor, engine = home.witness("mic"), home.witness("kitchen-engine")
    assert sensor is not None and engine is not None
    assert sensor["skipped_samples"] == 0 and sensor["drops"] == 0, sensor
    assert sensor["samples_per_s"] >= 0.9 * mic.rate_hz, sensor
    assert engine["gaps"] == 0 and engine["inputs"]["mic"]["gaps"] == 0, engine
    assert engine["inputs"]["mic"]["restarts"] == 0, engine


@pytest.mark.timeout(150)
def test_agent_kill9_is_lost_stale_then_redeployed_without_duplicates(home: HomeRun) -> None:
    kitchen = {"mic", "kitchen-engine"}
    before = home.actor_processes()
    assert {name: len(pids) for name, pids in before.items()} == dict.fromkeys(home.actors, 1)
    old_pids = {pid for name in kitchen for pid in before[name]}
    old_epoch = home.tap.latest("kitchen-engine").epoch
    agent = home.launch.links["kitchen"].started
    assert agent is not None

    killed_at = time.monotonic()
    os.kill(agent.proc.pid, signal.SIGKILL)
    agent.proc.wait(timeout=10)

    lost = home.wait(
        lambda: [e for e in home.driver.events if e.device == "kitchen" and e.lost],
        LOST_WITHIN_S + 5,
        "the launcher reporting the kitchen LOST",
    )[0]
    print(f"kitchen LOST after {lost.at - killed_at:.2f} s")
    assert lost.at - killed_at <= LOST_WITHIN_S
    assert home.driver.status()["devices"]["kitchen"]["lost"]

    # its actors notice their agent is gone and stop on their own
    home.wait(
        lambda: not any(psutil.pid_exists(p) and _alive(p) for p in old_pids),
        5.0,
        "the dead agent's actors exiting",
    )
    gone_after = time.monotonic() - killed_at

    def stale_state() -> dict | None:
        for state in reversed(home.mesh_states(since=killed_at)):
            if state["stale_nodes"] == ["kitchen-engine"]:
                return state
        return None

    state = home.wait(stale_state, 5.0, "the sync marking the kitchen's node stale")
    node, living = state["nodes"]["kitchen-engine"], state["nodes"]["living-engine"]
    assert node["stale"] and node["delta_p"] is None  # left out of the mesh
    assert not living["stale"] and living["delta_p"] is not None
    assert state["global_coherence"] == pytest.approx(living["coherence"], abs=1e-9)
    assert state["order_parameter"] == pytest.approx(1.0)  # one node agrees with itself
    print(f"kitchen actors gone {gone_after:.2f} s after the kill")

    restarted_at = time.monotonic()
    home.driver.call(lambda launch: launch.spawn_emulated_agent("kitchen"))

    home.wait(
        lambda: any(
            e.device == "kitchen" and not e.lost and e.at >= restarted_at
            for e in home.driver.events
        ),
        40.0,
        "the restarted kitchen agent answering",
    )

    def redeployed() -> bool:
        running = {
            a["name"]: a["pid"]
            for a in home.driver.status()["actors"]
            if a["name"] in kitchen and a["state"] == "running"
        }
        return set(running) == kitchen and not set(running.values()) & old_pids

    home.wait(redeployed, 30.0, "mic and kitchen-engine redeployed")

    def back_in_mesh() -> bool:
        latest = home.tap.latest("kitchen-engine")
        states = home.mesh_states(since=restarted_at)
        return (
            latest is not None
            and latest.epoch != old_epoch
            and bool(states)
            and states[-1]["stale_nodes"] == []
        )

    home.wait(back_in_mesh, 40.0, "the kitchen's node back in the mesh state")
    print(f"kitchen back in the mesh {time.monotonic() - restarted_at:.1f} s after the restart")
    in_budget = set(home.launch.cluster.cgroup_pids("kitchen"))
    for _ in range(4):  # no duplicate actor anywhere, for a while
        running = home.actor_processes()
        assert {name: len(pids) for name, pids in running.items()} == dict.fromkeys(
            home.actors, 1
        ), running
        assert {running["mic"][0], running["kitchen-engine"][0]} <= in_budget
        time.sleep(0.5)
    home.remember_pids()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.timeout(60)
def test_nothing_of_the_run_remains_after_teardown(home: HomeRun) -> None:
    home.close()
    leftovers = find_leftovers()
    assert home.cluster_id not in leftovers, leftovers.get(home.cluster_id)
    assert not (STATE_DIR / f"{home.cluster_id}.json").exists()
    for root in _cgroups.CgroupLayout.detect().roots():
        assert not (root / _cgroups.KAIROS_GROUP / home.cluster_id).exists(), root
    assert home.pids, "no process was recorded"
    survivors = [pid for pid in home.pids if _alive(pid) and _mentions(pid, home.state_dir)]
    assert survivors == []
    assert [p.pid for p in psutil.process_iter() if _mentions(p.pid, home.state_dir)] == []


def _mentions(pid: int, path: Path) -> bool:
    try:
        return any(str(path) in part for part in psutil.Process(pid).cmdline())
    except psutil.Error:
        return False
