"""The actor process spec: one typed description, through JSON and back, from a topology."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kairos.actors.spec import ActorProcessSpec, InputLink, NodeInfo, build_specs
from kairos.errors import KairosError
from kairos.launch.plan import make_plan
from kairos.topologies.loader import load
from kairos.topologies.model import Encoding, MeshSpec, RestartPolicy

EXAMPLES = Path(__file__).parents[2] / "topologies"


def full_spec() -> ActorProcessSpec:
    return ActorProcessSpec(
        name="eng",
        role="engine",
        device="pc",
        device_class="pi-4",
        bind="tcp://127.0.0.1:7801",
        inputs=(InputLink("mic", "mic", "tcp://127.0.0.1:7800"),),
        encoding=Encoding("lockin", {"freq_hz": 40.0, "lp_cycles": 3}),
        windows=(0.5, 10.0),
        lag=2,
        omega_hz=0.5,
        pulse=InputLink("mesh", "mesh/pulse", "tcp://127.0.0.1:7802"),
        nodes=(NodeInfo("e", "pc", "pi-4", 1.5),),
        mesh=MeshSpec(collapse_threshold=0.9, hysteresis=0.02, pulse_hz=4.0, encrypt=True),
        restart=RestartPolicy(policy="always", max_restarts=3),
        consumers=("out", "tap"),
        curve={"public": "p", "secret": "s"},
    )


def test_the_spec_round_trips_through_json_with_its_typed_parts() -> None:
    spec = full_spec()
    text = spec.to_json()
    raw = json.loads(text)
    # the encoding travels flat, as a topology writes it; the mesh as its fields
    assert raw["encoding"] == {"type": "lockin", "freq_hz": 40.0, "lp_cycles": 3}
    assert raw["mesh"]["collapse_threshold"] == 0.9 and raw["mesh"]["emergence_threshold"] == 0.75
    back = ActorProcessSpec.from_json(text)
    assert back == spec
    assert isinstance(back.encoding, Encoding) and isinstance(back.mesh, MeshSpec)
    assert back.to_json() == text


def test_defaults_are_the_models_own() -> None:
    raw = json.loads(full_spec().to_json())
    for key in ("mesh", "restart", "encoding", "inputs", "nodes", "pulse", "windows"):
        del raw[key]
    spec = ActorProcessSpec.from_dict(raw)
    assert spec.mesh == MeshSpec() and spec.restart == RestartPolicy() and spec.encoding is None
    assert ActorProcessSpec.from_dict(raw | {"mesh": {"hysteresis": 0.1}}).mesh == MeshSpec(
        hysteresis=0.1
    )


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"mesh": {"hysteresis": "wide"}}, "mesh: hysteresis must be a number, not 'wide'"),
        ({"mesh": {"collapse": 0.9}}, "mesh: unknown keys collapse"),
        ({"mesh": {"encrypt": 1}}, "mesh: encrypt must be true or false, not 1"),
        ({"mesh": [0.9]}, "mesh: must be a mapping"),
        ({"encoding": {"freq_hz": 8}}, "an encoding is a mapping with a string type"),
        ({"restart": {"policy": "sometimes"}}, "restart policy 'sometimes'; valid: never"),
        (
            {"restart": {"max_restarts": 2.5}},
            "restart policy: max_restarts must be an integer, not 2.5",
        ),
        ({"shell": "rm -rf"}, "unknown keys shell"),
    ],
)
def test_a_malformed_spec_says_what_is_wrong(change, words) -> None:
    raw = json.loads(full_spec().to_json()) | change
    with pytest.raises(KairosError, match=f"malformed actor spec: {words}"):
        ActorProcessSpec.from_dict(raw)


def test_specs_carry_the_topologys_own_values() -> None:
    topology = load(EXAMPLES / "demo.yaml")
    specs = build_specs(topology)
    coherent = specs["coherent"]
    assert coherent.encoding is topology.actors["coherent"].encoding
    assert coherent.mesh is topology.mesh
    assert all(s.mesh is topology.mesh for s in specs.values())
    assert coherent.bind == topology.endpoint("coherent") == coherent.endpoint


def test_the_plan_is_made_of_the_specs() -> None:
    topology = load(EXAMPLES / "demo.yaml")
    plan = make_plan(topology, exclude=["osc-a"])
    assert [a.name for a in plan.actors] == sorted(
        topology.actors, key=lambda n: (topology.actors[n].device, n)
    )
    assert all(isinstance(a, ActorProcessSpec) for a in plan.actors)
    assert "osc-a" not in {a.name for a in plan.on("local")}
    assert len(plan.on("local")) == len(topology.actors) - 1
    line = next(line for line in plan.lines() if " osc-a " in line)
    assert line.rstrip().endswith("excluded") and topology.endpoint("osc-a") in line
    assert plan.specs == build_specs(topology)
