"""`kairos validate` on sites: every edge reachable, and which relay each stream takes."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import run_kairos

from kairos.errors import TopologyError
from kairos.topologies.loader import load

SITES = Path(__file__).resolve().parents[2] / "topologies" / "sites.yaml"


def test_sites_yaml_routes_every_nat_stream_through_the_relay() -> None:
    topology = load(SITES)
    relayed = {name for name in topology.actors if topology.relay_of(name)}
    assert relayed == {"mic", "zero-engine", "motion", "pi4-engine", "desk", "mini-engine"}
    relay = topology.endpoint("relay")
    # a subscriber of a NAT'd stream dials the relay; the NAT'd publisher dials its inbound
    assert all(topology.endpoint(name) == relay for name in relayed)
    assert topology.publish_to("mic") == "tcp://203.0.113.10:7807"
    assert topology.endpoint("mesh") == "tcp://203.0.113.10:7808"  # after the relay's two
    assert topology.mesh.encrypt
    done = run_kairos("validate", str(SITES))
    assert done.returncode == 0, done.stderr
    assert "stream mic (zero, dials out): through relay 'relay'" in done.stdout


def write(tmp_path: Path, devices: str, actors: str) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(f"name: t\ndevices:\n{devices}actors:\n{actors}")
    return path


NAT_DEVICE = "  far: {class: pi-4, agent: {dial: tcp://10.1.2.3:7701}}\n"
CLOUD = "  vm: {class: cloud, agent: tcp://10.1.2.3:7700}\n"
SENSOR = "  s: {role: sensor, device: far, adapter: oscillator, rate_hz: 50}\n"


@pytest.mark.parametrize(
    ("devices", "actors", "problem"),
    [
        # a NAT'd publisher with nobody to publish through: its edges cannot be reached
        (NAT_DEVICE + CLOUD, SENSOR, "streams need a relay"),
        # a relay behind NAT is no better
        (NAT_DEVICE, SENSOR + "  r: {role: relay, device: far}\n", "nothing can dial a relay"),
        # two relays: the device must say which one
        (
            NAT_DEVICE + CLOUD,
            SENSOR + "  r1: {role: relay, device: vm}\n  r2: {role: relay, device: vm}\n",
            "several relays",
        ),
        # relay: names an actor that is not a relay
        (
            "  far: {class: pi-4, agent: {dial: tcp://10.1.2.3:7701}, relay: s}\n" + CLOUD,
            SENSOR,
            "names no relay actor",
        ),
        # the relay's inbound port is taken by the next actor's explicit port
        (
            CLOUD,
            "  r: {role: relay, device: vm, port: 7900}\n"
            "  s: {role: sensor, device: vm, adapter: oscillator, rate_hz: 50, port: 7901}\n",
            "inbound side",
        ),
    ],
)
def test_unreachable_edges_are_refused_with_a_located_reason(
    tmp_path: Path, devices: str, actors: str, problem: str
) -> None:
    with pytest.raises(TopologyError) as caught:
        load(write(tmp_path, devices, actors))
    text = "\n".join(map(str, caught.value.problems))
    assert problem in text, text
    assert f"{tmp_path / 't.yaml'}:" in text  # file:line:col
