"""``mesh.step_threshold_s``: validated where it is written, 0.1 s by default, sent with every
correction (the launcher's keeper), like mesh.max_future_s."""

from __future__ import annotations

import pytest

from kairos.errors import TopologyError
from kairos.launch.meshtime import MeshTimeKeeper
from kairos.meshtime import DEFAULT_STEP_THRESHOLD_S
from kairos.topologies.loader import load_text
from kairos.topologies.model import MeshSpec

TOPOLOGY = """\
name: t
mesh: {{step_threshold_s: {value}}}
devices:
  pc: {{class: mac-mini, agent: localhost}}
actors:
  s: {{role: sensor, device: pc, adapter: oscillator, rate_hz: 100}}
"""


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("0", "t.yaml:2:26: mesh.step_threshold_s: 0 is out of range; valid: > 0"),
        ("-1", "t.yaml:2:26: mesh.step_threshold_s: -1 is out of range; valid: > 0"),
        ("soon", "t.yaml:2:26: mesh.step_threshold_s: must be a number, not a string 'soon'"),
    ],
)
def test_a_bad_step_threshold_is_reported_at_its_line(value: str, problem: str) -> None:
    with pytest.raises(TopologyError) as caught:
        load_text(TOPOLOGY.format(value=value), "t.yaml")
    problems = [str(p) for p in caught.value.problems]
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_the_step_threshold_defaults_to_a_tenth_of_a_second() -> None:
    assert load_text(TOPOLOGY.format(value="2.5"), "t.yaml").mesh.step_threshold_s == 2.5
    without = TOPOLOGY.format(value="1").replace("mesh: {step_threshold_s: 1}\n", "")
    default = load_text(without, "t.yaml").mesh
    assert default.step_threshold_s == MeshSpec.step_threshold_s == DEFAULT_STEP_THRESHOLD_S
    assert DEFAULT_STEP_THRESHOLD_S == 0.1
    assert MeshTimeKeeper(None).step_threshold_s == DEFAULT_STEP_THRESHOLD_S
