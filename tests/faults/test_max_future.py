"""``mesh.max_future_s``: validated where it is written, 1 s by default, and in every actor."""

from __future__ import annotations

import pytest

from kairos.actors.spec import build_specs
from kairos.errors import TopologyError
from kairos.topologies.loader import load_text
from kairos.topologies.model import MeshSpec

TOPOLOGY = """\
name: t
mesh: {{max_future_s: {value}}}
devices:
  pc: {{class: mac-mini, agent: localhost}}
actors:
  s: {{role: sensor, device: pc, adapter: oscillator, rate_hz: 100}}
  e: {{role: engine, device: pc, inputs: [s]}}
"""


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("0", "t.yaml:2:22: mesh.max_future_s: 0 is out of range; valid: > 0"),
        ("-1", "t.yaml:2:22: mesh.max_future_s: -1 is out of range; valid: > 0"),
        ("soon", "t.yaml:2:22: mesh.max_future_s: must be a number, not a string 'soon'"),
        (".inf", "t.yaml:2:22: mesh.max_future_s: .inf is not a finite number"),
    ],
)
def test_a_bad_max_future_s_is_reported_at_its_line(value: str, problem: str) -> None:
    with pytest.raises(TopologyError) as caught:
        load_text(TOPOLOGY.format(value=value), "t.yaml")
    problems = [str(p) for p in caught.value.problems]
    assert len(problems) == 1 and problems[0].startswith(problem)


def test_max_future_s_reaches_every_actor_and_defaults_to_one_second(tmp_path) -> None:
    topology = load_text(TOPOLOGY.format(value="2.5"), "t.yaml")
    assert {s.mesh.max_future_s for s in build_specs(topology, tmp_path).values()} == {2.5}
    without = TOPOLOGY.format(value="1").replace("mesh: {max_future_s: 1}\n", "")
    assert "max_future_s" not in without
    default = load_text(without, "t.yaml")
    assert default.mesh.max_future_s == MeshSpec.max_future_s == 1.0
    assert build_specs(default, tmp_path)["e"].mesh.max_future_s == 1.0
