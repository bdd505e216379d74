"""Issue 14 on the emulated cluster: topologies/sites.yaml, two homes behind NAT and a cloud VM.

The tests share one launch (conftest.py) and run in file order: the run with every actor
publishing and no gap; both NATs closed to inbound connections; the NAT'd devices' injected
clock offsets; the relay killed with -9; home A's uplink cut; the teardown.  Durations: the
issue's 60 s run and 30 s cut, shorter in CI (KAIROS_SITES_RUN_S, KAIROS_SITES_CUT_S).
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time

import pytest
from emulated.home_run import HomeRun, Received, coverage_problems
from sites.sites_run import CUT_S, RUN_S, SHIFTS_NS, connects, free_port_in, listen_in

from kairos.clocksync import accuracy
from kairos.emulate.cluster import find_leftovers

pytestmark = [pytest.mark.emulated]

CLOCK_ESTIMATES = 30
CLOCK_P95_NS = 100_000
#: the issue: the dial-out agent is back this soon after its link is
RECONNECT_S = 3.0
#: a device is reported LOST this soon after its link goes (tests/emulated's bound)
LOST_WITHIN_S = 3.0
NAT_DEVICES = ("zero", "pi4", "mini")
RELAYED = ("mic", "zero-engine", "motion", "pi4-engine", "desk", "mini-engine")


def holes(messages: list[Received]) -> tuple[int, int]:
    """(messages missing between consecutive seqs, new epochs) in what the tap received."""
    missing = epochs = 0
    for before, after in itertools.pairwise(messages):
        if after.epoch != before.epoch:
            epochs += 1
        else:
            missing += after.seq - before.seq - 1
    return missing, epochs


@pytest.mark.timeout(RUN_S + 120)
def test_every_actor_publishes_through_the_nats_with_no_gap(sites: HomeRun) -> None:
    topology = sites.launch.topology
    assert topology is not None
    assert {d for d, dev in topology.devices.items() if dev.dial} == set(NAT_DEVICES)
    sites.wait(lambda: time.monotonic() >= sites.ready_at + RUN_S, RUN_S + 20, "the run")
    now = time.monotonic()
    status = sites.driver.status()
    assert {a["name"]: a["state"] for a in status["actors"]} == dict.fromkeys(
        sites.actors, "running"
    )
    assert all(a["restarts"] == 0 for a in status["actors"]), status["actors"]
    assert not [e for e in sites.driver.events if e.lost]
    for actor in sites.actors:
        witnesses = [w for w in sites.tap.messages(f"{actor}/witness", sites.ready_at)]
        assert len(witnesses) >= RUN_S / 2, (actor, len(witnesses))
        last = witnesses[-1].record
        assert last is not None and witnesses[-1].at > now - 3.0, actor
        # every subscriber counted every input message: 0 gaps, 0 drops, all run long
        assert last["gaps"] == 0 and last["drops"] == 0, (actor, last)
        if actor != "relay":
            main = sites.tap.messages(actor, since=sites.ready_at)
            assert len(main) >= 5 * RUN_S, (actor, len(main))
            assert holes(main) == (0, 0), actor
    relay = sites.witness("relay")
    assert relay is not None
    assert set(RELAYED) <= set(relay["inputs"]), relay["inputs"].keys()
    assert relay["subscribers"] >= 4  # the three engines and the mesh announced themselves
    print(
        f"sites: {RUN_S:g} s, {len(sites.actors)} actors publishing, 0 gaps; relay "
        f"{relay['rate_hz']:.0f} msg/s, {relay['msgs_out']} forwarded, {relay['drops']} drops"
    )


@pytest.mark.timeout(120)
def test_both_nats_are_closed_to_inbound_connections(sites: HomeRun) -> None:
    cluster = sites.launch.cluster
    sites_by_name = cluster.sites()
    assert set(sites_by_name) == {"home-a", "home-b"}
    assert set(sites_by_name["home-a"].devices) == {"zero", "pi4"}
    cloud = cluster.device("cloud").namespace
    for site in sites_by_name.values():
        inside = cluster.device(site.devices[0])
        port = free_port_in(inside.namespace)
        listener = listen_in(inside.namespace, port, 30.0)
        try:
            # control: on the home's own LAN the listener is reachable (from the router,
            # or from the other device of the home)
            neighbour = (
                cluster.device(site.devices[1]).namespace
                if len(site.devices) > 1
                else site.namespace
            )
            assert connects(neighbour, str(inside.address), port)
            # from outside, the router's address is all there is, and it takes nothing
            assert not connects(cloud, str(site.wan_address), port)
            # even with a forged route to the LAN through the router, nothing gets in
            lan = f"{inside.address}/32"
            subprocess.run(
                ["ip", "-n", cloud, "route", "add", lan, "via", str(site.wan_address)],
                check=True,
            )
            try:
                assert not connects(cloud, str(inside.address), port)
            finally:
                subprocess.run(["ip", "-n", cloud, "route", "del", lan], check=True)
        finally:
            listener.kill()
            listener.communicate()


@pytest.mark.timeout(180)
def test_nat_devices_clock_offsets_are_estimated_within_100_us(sites: HomeRun) -> None:
    def rounds() -> list:
        return [
            m
            for t, m in sites.driver.rounds
            if t >= sites.ready_at and all(d in m.offsets for d in NAT_DEVICES)
        ]

    found = sites.wait(
        lambda: len(rounds()) >= CLOCK_ESTIMATES and rounds(),
        2.5 * CLOCK_ESTIMATES + 30,
        f"{CLOCK_ESTIMATES} mesh-time rounds",
    )[:CLOCK_ESTIMATES]
    assert all(m.reference == "cloud" for m in found)
    for device, shift in SHIFTS_NS.items():
        estimates = [m.offsets[device] for m in found]
        truth = sites.clock_base("cloud") - sites.clock_base(device)
        assert abs(truth + shift) < 1_000_000, (device, truth)  # the shift reached it
        report = accuracy(estimates, truth)
        figures = (
            f"{device}: truth {truth} ns; p50 {report.p50_error_ns:.0f} ns, p95 "
            f"{report.p95_error_ns:.0f} ns, max {report.max_error_ns:.0f} ns; uncertainty "
            f"{min(e.uncertainty_ns for e in estimates)}.."
            f"{max(e.uncertainty_ns for e in estimates)} ns"
        )
        print(figures)
        assert report.p95_error_ns < CLOCK_P95_NS, figures
        misses = coverage_problems(estimates, truth)
        assert not misses, (figures, misses)


@pytest.mark.chaos
@pytest.mark.timeout(120)
def test_relay_killed_is_restarted_and_the_gap_is_reported(sites: HomeRun) -> None:
    before = sites.actor_processes()["relay"]
    assert len(before) == 1
    killed_at = time.monotonic()
    os.kill(before[0], signal.SIGKILL)

    def restarted() -> list[int] | None:
        pids = sites.actor_processes().get("relay", [])
        return pids if pids and pids != before else None

    after = sites.wait(restarted, 20.0, "the relay restarted by its agent")
    assert len(after) == 1
    # every relayed stream flows again, through the new relay, for a few seconds
    sites.wait(
        lambda: all(len(sites.tap.messages(s, since=time.monotonic() - 1.0)) > 0 for s in RELAYED),
        30.0,
        "every relayed stream back",
    )
    time.sleep(3.0)
    topology = sites.launch.topology
    for stream in RELAYED:
        seen = sites.tap.messages(stream, since=killed_at - 2.0)
        missing, epochs = holes(seen)
        # the publisher kept its epoch and seq: a hole is a gap, never hidden behind a restart
        assert epochs == 0, (stream, epochs)
        actor = topology.actors[stream]
        if actor.role != "sensor":
            continue  # an engine publishes on input: while the relay was down it had none
        # a sensor publishes on its clock, so its sample times say what was really lost:
        # message by message, the hole by seq is the hole by sample time (0 loss unreported).
        # What the publisher sent while the relay was down waited in its queue and went out
        # to the new relay; only what reached the new relay before a subscriber did is lost
        step_ns = round(1e9 / actor.rate_hz)
        for before, after in itertools.pairwise(seen):
            by_time = (after.first_t - before.last_t - step_ns) // (step_ns * actor.chunk)
            assert after.seq - before.seq - 1 == by_time, (stream, before, after)
        print(f"relay kill -9: the tap lost {missing} {stream} messages, each reported")
    # the engines, subscribers through the relay, saw no restart of their sensor: whatever
    # they lost is in their gaps
    for engine, sensor in (
        ("zero-engine", "mic"),
        ("pi4-engine", "motion"),
        ("mini-engine", "desk"),
    ):
        record = sites.witness(engine)
        assert record is not None
        counted = record["inputs"][sensor]
        assert counted["restarts"] == 0, (engine, counted)
        print(f"relay kill -9: {engine} reports {counted['gaps']} {sensor} messages lost")
    status = sites.driver.status()
    assert next(a for a in status["actors"] if a["name"] == "relay")["restarts"] >= 1


@pytest.mark.chaos
@pytest.mark.timeout(CUT_S + 120)
def test_a_cut_nat_link_is_rejoined_by_the_dialling_agents_within_3_s(sites: HomeRun) -> None:
    cluster = sites.launch.cluster
    home = cluster.sites()["home-a"]
    pids_before = sites.actor_processes()
    cut_at = time.monotonic()
    cluster.site_down("home-a")
    try:
        sites.wait(
            lambda: all(
                any(e.device == d and e.lost and e.at > cut_at for e in sites.driver.events)
                for d in home.devices
            ),
            15.0,
            "home A's devices LOST",
        )
        lost_after = {
            d: round(
                min(e.at for e in sites.driver.events if e.device == d and e.lost and e.at > cut_at)
                - cut_at,
                2,
            )
            for d in home.devices
        }
        # lost-device detection keeps its figures for a dialling agent (as tests/emulated)
        assert all(delay <= LOST_WITHIN_S for delay in lost_after.values()), lost_after
        time.sleep(max(0.0, cut_at + CUT_S - time.monotonic()))
    finally:
        cluster.site_up("home-a")
    up_at = time.monotonic()

    def back() -> dict[str, float] | None:
        times = {
            d: e.at
            for d in home.devices
            for e in sites.driver.events
            if e.device == d and not e.lost and e.at > up_at
        }
        return times if set(times) == set(home.devices) else None

    returned = sites.wait(back, 30.0, "home A's agents back")
    delays = {d: round(t - up_at, 2) for d, t in returned.items()}
    print(
        f"cut {up_at - cut_at:.0f} s; LOST after {lost_after} s; dial-out agents back after "
        f"{delays} s"
    )
    assert all(delay <= RECONNECT_S for delay in delays.values()), delays
    # reconciled without duplicates: the same single process per actor, nothing restarted
    time.sleep(2.0)
    pids_after = sites.actor_processes()
    for actor in sites.actors:
        assert len(pids_after.get(actor, [])) == 1, (actor, pids_after.get(actor))
    for device in home.devices:
        for actor in sites.launch.topology.actors_on(device):
            assert pids_after[actor.name] == pids_before[actor.name], actor.name
    # and their streams flow again through the relay
    sites.wait(
        lambda: all(
            sites.tap.messages(s, since=up_at + 1.0) for s in ("mic", "zero-engine", "motion")
        ),
        20.0,
        "home A's streams flowing again",
    )


@pytest.mark.timeout(120)
def test_nothing_of_the_sites_run_remains_after_teardown(sites: HomeRun) -> None:
    cluster_id = sites.cluster_id
    sites.close()
    assert cluster_id not in find_leftovers()
    alive = [pid for pid in sites.pids if _alive(pid)]
    assert alive == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
