"""The loader: examples resolve with every default filled in; problems come all at once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import plugins
import pytest
from jsonschema import Draft202012Validator

from kairos import registry
from kairos.errors import TopologyError
from kairos.hardware.detect import Detection
from kairos.topologies._yaml import parse
from kairos.topologies.loader import load, load_text, schema
from kairos.topologies.model import Encoding, RestartPolicy

EXAMPLES = Path(__file__).parents[2] / "topologies"
EXAMPLE_FILES = ("demo", "home", "lab", "robot")

BASE = """\
name: t
devices:
  pc: {class: mac-mini, agent: localhost}
actors:
  s: {role: sensor, device: pc, adapter: oscillator, rate_hz: 100}
"""


def problems_of(text: str, **kwargs: Any) -> list[str]:
    with pytest.raises(TopologyError) as caught:
        load_text(text, "t.yaml", **kwargs)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_examples_are_valid(name: str) -> None:
    topology = load(EXAMPLES / f"{name}.yaml")
    assert topology.name == name
    roles = {a.role for a in topology.actors.values()}
    assert roles == {"sensor", "engine", "sync", "output"}


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_examples_satisfy_the_published_schema(name: str) -> None:
    data = parse((EXAMPLES / f"{name}.yaml").read_text()).data
    assert list(Draft202012Validator(schema()).iter_errors(data)) == []


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(schema())
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_demo_resolves_every_default() -> None:
    topology = load(EXAMPLES / "demo.yaml")
    local = topology.devices["local"]
    assert (local.device_class, local.agent, local.host, local.weight) == (
        "mac-mini",
        "localhost",
        "127.0.0.1",
        1.5,
    )
    assert [a.port for a in topology.actors.values()] == list(range(7800, 7808))
    osc = topology.actors["osc-a"]
    assert (osc.rate_hz, osc.chunk, osc.adapter) == (400.0, 8, "oscillator")
    assert osc.restart == RestartPolicy()
    coherent = topology.actors["coherent"]
    assert coherent.encoding == Encoding(type="lockin", params={"freq_hz": 40, "lp_cycles": 2})
    assert coherent.windows == (0.5, 10.0)
    assert (coherent.weight, topology.actors["noisy"].weight) == (None, 0.1)
    assert coherent.inputs == ("osc-a", "osc-b")
    assert topology.actors["mesh"].rate_hz == 10.0
    assert topology.endpoint("mesh") == "tcp://127.0.0.1:7805"
    assert topology.actors["journal"].params == {"path": "mesh.jsonl"}
    assert topology.mesh.clock_reference is None


def test_home_takes_windows_weights_and_hosts_from_classes() -> None:
    topology = load(EXAMPLES / "home.yaml")
    assert topology.mesh.clock_reference == "living-room"
    kitchen = topology.devices["kitchen"]
    assert (kitchen.host, kitchen.agent, kitchen.weight) == (
        "10.77.0.11",
        "tcp://10.77.0.11:7700",
        0.5,
    )
    assert topology.actors["living-engine"].windows == (1.0, 60.0)  # pi-4 class defaults
    assert topology.actors["mesh"].restart.policy == "always"
    assert topology.actors["mesh"].rate_hz == 10.0  # mesh.pulse_hz
    assert topology.actors["motion"].chunk == 2  # round(100 / 50)
    assert topology.endpoint("mic") == "tcp://10.77.0.11:7800"


def test_defaults_for_a_minimal_engine_and_sync() -> None:
    text = (
        BASE
        + "  e: {role: engine, device: pc, inputs: [s]}\n"
        + "  y: {role: sync, device: pc, inputs: [e], rate_hz: 4, weight: 3}\n"
        + "  o: {role: output, device: pc, inputs: [y], adapter: log,"
        + " restart: {policy: never, backoff_s: 1}}\n"
    )
    topology = load_text(text, "t.yaml")
    engine = topology.actors["e"]
    assert engine.encoding == Encoding(type="phase")
    assert engine.windows == (0.1, 600.0)  # mac-mini τ_base, τ_max
    assert (engine.lag, engine.omega_hz, engine.weight) == (1, 0.0, None)
    assert (topology.actors["y"].rate_hz, topology.actors["y"].weight) == (4.0, 3.0)
    assert topology.actors["o"].restart == RestartPolicy(policy="never", backoff_s=1.0)
    assert topology.actors["s"].chunk == 2
    assert topology.actors["s"].line == 5
    assert topology.path == Path("t.yaml")


def test_agent_urls_are_normalised_and_ipv6_works() -> None:
    text = """\
name: t
devices:
  a: {class: pi-4, agent: "tcp://10.77.0.5"}
  b: {class: cloud, agent: "tcp://[fd00::7]:7701", host: "fd00::7"}
actors:
  s: {role: sensor, device: a, adapter: oscillator, rate_hz: 100}
  e: {role: engine, device: b, inputs: [s], port: 7701}
"""
    with pytest.raises(TopologyError) as caught:
        load_text(text, "t.yaml")
    (problem,) = caught.value.problems
    assert "port 7701 on fd00::7 is already used by the agent of device 'b'" in problem.message
    topology = load_text(text.replace("port: 7701", "port: 7702"), "t.yaml")
    assert topology.devices["a"].agent == "tcp://10.77.0.5:7700"
    assert topology.devices["b"].agent == "tcp://[fd00::7]:7701"
    assert topology.endpoint("e") == "tcp://fd00::7:7702"


def test_auto_class_is_resolved_by_detection() -> None:
    text = BASE.replace("class: mac-mini", "class: auto")
    topology = load_text(text, "t.yaml", detect=lambda: Detection("pi-4", "test"))
    assert topology.devices["pc"].device_class == "pi-4"
    assert topology.devices["pc"].weight == 1.0


def test_auto_class_uses_the_environment_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIROS_DEVICE_CLASS", "pi-2")
    topology = load_text(BASE.replace("class: mac-mini", "class: auto"), "t.yaml")
    assert topology.devices["pc"].device_class == "pi-2"
    monkeypatch.setenv("KAIROS_DEVICE_CLASS", "pi-9")
    (problem,) = problems_of(BASE.replace("class: mac-mini", "class: auto"))
    assert problem.startswith("t.yaml:3:15: devices.pc.class: cannot detect the class")
    assert "valid: cloud, mac-mini, pi-2, pi-4, pi-zero" in problem


def test_every_problem_is_reported_at_once() -> None:
    # an engine on an undeclared device has no class, so its windows get no verdict
    text = """\
name: t
mesh: {clock: {reference: nowhere}, pulse_hz: 0}
devices:
  pc: {class: pi-zero, agent: tcp://10.77.0.2:7700, colour: red}
actors:
  s: {role: sensor, device: pc, adapter: oscillator, rate_hz: 2000}
  e: {role: engine, device: elsewhere, inputs: [s, ghost], windows: {fast: 5}}
  y: {role: sync, device: pc, inputs: [s]}
  o: {role: output, device: pc, inputs: [y], adapter: printer}
  e: {role: engine, device: pc, inputs: [s]}
"""
    problems = problems_of(text)
    expected = [
        "t.yaml:2:27: mesh.clock.reference: names no device",
        "t.yaml:2:47: mesh.pulse_hz: 0 is out of range",
        "t.yaml:4:3: devices.pc: sensors sample 2000 Hz in total",
        "t.yaml:4:53: devices.pc.colour: unknown key 'colour'",
        "t.yaml:7:29: actors.e.device: actor on undeclared device 'elsewhere'",
        "t.yaml:7:52: actors.e.inputs[1]: names no actor: 'ghost'",
        "t.yaml:8:40: actors.y.inputs[0]: 's' is a sensor",
        "t.yaml:9:55: actors.o.adapter: unknown output adapter 'printer'",
        "t.yaml:10:3: actors.e: duplicate key 'e'",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), f"{start!r} not in {problems}"
    assert len(problems) == len(expected)


def test_windows_are_checked_against_the_resolved_device() -> None:
    text = BASE + "  e: {role: engine, device: pc, inputs: [s], windows: {fast: 0.05}}\n"
    (problem,) = problems_of(text)
    assert "0.05 s is outside the bounds of device class 'mac-mini'" in problem


def test_yaml_anchors_and_merge_keys_work() -> None:
    text = """\
name: t
devices:
  pc: {class: mac-mini, agent: localhost}
actors:
  s: &osc {role: sensor, device: pc, adapter: oscillator, rate_hz: 100}
  s2:
    <<: *osc
    rate_hz: 50
  e: {role: engine, device: pc, inputs: [s, s2]}
"""
    topology = load_text(text, "t.yaml")
    assert topology.actors["s2"].rate_hz == 50.0
    assert topology.actors["s2"].adapter == "oscillator"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "t.yaml:1:1: a topology is a mapping with name, devices and actors, not an empty"),
        (
            "- a\n- b\n",
            "t.yaml:1:1: a topology is a mapping with name, devices and actors, not a list",
        ),
        ("a: [1, 2\n", "t.yaml:2:1: YAML syntax error"),
        ("a: 1\n---\nb: 2\n", "t.yaml:2:1: YAML syntax error"),
    ],
)
def test_files_that_are_not_topologies(text: str, message: str) -> None:
    (problem,) = problems_of(text)
    assert problem.startswith(message)


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(TopologyError) as caught:
        load(missing)
    assert str(caught.value) == f"{missing}:1:1: cannot read the file: No such file or directory"


def test_non_string_keys_are_reported() -> None:
    text = BASE + "  1: {role: sensor, device: pc, adapter: oscillator, rate_hz: 1}\n"
    problems = problems_of(text)
    assert any(p.startswith("t.yaml:6:3: actors.1: key '1' must be a string") for p in problems)


# -- adapters: their schema and rate limit apply; an adapter that cannot be imported is unknown


FAKE_PLUGINS = """
import numpy as np
from kairos.actors import Encoder, SensorAdapter


class FakeSensor(SensorAdapter):
    name = "fake"
    params_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["gain"],
        "properties": {"gain": {"type": "number", "maximum": 10}},
    }
    max_rate_hz = 50.0

    def read(self, times_ns):
        raise AssertionError("validating a topology must never sample an adapter")


class Doubling(Encoder):
    params_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["gain"],
        "properties": {"gain": {"type": "number", "exclusiveMinimum": 0}},
    }

    def encode(self, times, values):
        raise AssertionError("validating a topology must never encode")
"""


@pytest.fixture
def fake_adapter(tmp_path: Path) -> Iterator[None]:
    """A plugin distribution with a sensor adapter ``fake`` and an encoding ``doubling``."""
    module = "kairos_test_loader_plugins"
    root = plugins.install(
        tmp_path / "site",
        module,
        FAKE_PLUGINS,
        {"kairos.adapters": {"fake": "FakeSensor"}, "kairos.encodings": {"doubling": "Doubling"}},
    )
    yield
    plugins.uninstall(root, module)


@pytest.mark.usefixtures("fake_adapter")
def test_adapter_params_schema_and_rate_limit() -> None:
    text = (
        BASE + "  f: {role: sensor, device: pc, adapter: fake, rate_hz: 80, params: {gain: 11}}\n"
    )
    problems = problems_of(text)
    assert problems == [
        "t.yaml:6:57: actors.f.rate_hz: 80 Hz is more than adapter 'fake' supports; valid: ≤ 50 Hz",
        "t.yaml:6:76: actors.f.params.gain: 11 is out of range; valid: ≤ 10",
    ]
    load_text(text.replace("rate_hz: 80", "rate_hz: 50").replace("11", "10"), "t.yaml")


def test_adapter_that_cannot_be_imported_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(target: str) -> type:
        raise ImportError(f"No module named {target.partition(':')[0]!r}")

    monkeypatch.setattr(registry, "load_target", broken)
    (problem,) = problems_of(BASE)
    assert problem.startswith(
        "t.yaml:5:42: actors.s.adapter: unknown sensor adapter 'oscillator': it is registered "
        "but its class cannot be imported"
    )
    assert "valid: (none importable)" in problem


# -- encodings: the type is an installed encoder, the other keys its params


ENGINE = "  e: {role: engine, device: pc, inputs: [s], encoding: %s}\n"


def test_unknown_encoding_lists_the_installed_ones_at_its_line() -> None:
    (problem,) = problems_of(BASE + ENGINE % "{type: hilbert}")
    # the built-ins, then any installed plugin
    assert problem.startswith(
        "t.yaml:6:63: actors.e.encoding.type: unknown type 'hilbert'; "
        "valid: complex, direct, lockin, phase"
    )
    assert problem.endswith(", ".join(registry.names(registry.ENCODINGS)))


def test_builtin_encoding_params_are_checked_against_its_schema() -> None:
    problems = problems_of(BASE + ENGINE % "{type: lockin, freq_hz: -2, lp_cycles: x}")
    assert problems == [
        "t.yaml:6:80: actors.e.encoding.freq_hz: -2 is out of range; valid: > 0",
        "t.yaml:6:95: actors.e.encoding.lp_cycles: must be a number, not a string 'x'",
    ]


@pytest.mark.usefixtures("fake_adapter")
def test_a_plugin_encoding_validates_with_its_own_schema() -> None:
    assert "doubling" in registry.names(registry.ENCODINGS)
    problems = problems_of(BASE + ENGINE % "{type: doubling, gain: 0, bias: 1}")
    assert problems == [
        "t.yaml:6:79: actors.e.encoding.gain: 0 is out of range; valid: > 0",
        "t.yaml:6:82: actors.e.encoding.bias: 'bias' does not apply to a doubling encoding; "
        "valid: gain, type",
    ]
    topology = load_text(BASE + ENGINE % "{type: doubling, gain: 2}", "t.yaml")
    assert topology.actors["e"].encoding == Encoding(type="doubling", params={"gain": 2})


def test_roles_come_from_the_registry() -> None:
    assert schema()["$defs"]["actor"]["properties"]["role"]["enum"] == list(registry.ROLES)
    (problem,) = problems_of(BASE + "  x: {role: filter, device: pc}\n")
    assert "unknown role 'filter'; valid: sensor, engine, sync, output" in problem


def test_resolved_topology_round_trips_through_json() -> None:
    from kairos.tools.validate import to_json

    topology = load(EXAMPLES / "robot.yaml")
    document = json.loads(json.dumps(to_json(topology)))
    assert document["actors"]["left-leg"]["pulse"] == "reflexes"
    assert document["actors"]["body"]["inputs"] == ["reflexes", "posture"]
    assert document["endpoints"]["body"] == "tcp://10.77.0.44:7808"
    assert document["devices"]["reflex-left"]["weight"] == 0.5


def test_two_devices_on_one_agent_and_ports_beyond_65535() -> None:
    text = """\
name: t
mesh: {base_port: 65535}
devices:
  a: {class: pi-4, agent: "tcp://10.77.0.2:7700"}
  b: {class: pi-4, agent: "tcp://10.77.0.2:7700"}
actors:
  s: {role: sensor, device: a, adapter: oscillator, rate_hz: 100}
  e: {role: engine, device: b, inputs: [s]}
"""
    assert problems_of(text) == [
        "t.yaml:5:27: devices.b.agent: agent endpoint tcp://10.77.0.2:7700 is already used by "
        "the agent of device 'a'; valid: one agent endpoint per device",
        "t.yaml:8:3: actors.e: planned port 65536 (mesh.base_port + position) is above 65535; "
        "valid: a lower mesh.base_port, or an explicit port",
    ]
