"""Fuzz target ``topology``: :func:`kairos.topologies.loader.load_text` may raise only
TopologyError.

The input is the file's bytes, decoded as UTF-8 (undecodable bytes replaced, as a reader
would have refused them earlier).  Seeds are the example topologies shipped with the package
and a minimal one.
"""

from __future__ import annotations

from kairos.errors import TopologyError
from kairos.hardware.detect import Detection
from kairos.tools._fuzz._mutate import mutate_yaml
from kairos.tools._fuzz._target import Target, stateless
from kairos.topologies import EXAMPLES, example

MINIMAL = b"""\
name: t
mesh: {emergence_threshold: 0.75, clock: {reference: pc}}
devices:
  pc: {class: mac-mini, agent: localhost}
  pz: {class: pi-zero, agent: tcp://127.0.0.1:7700}
  me: {class: auto, agent: localhost}
actors:
  s: {role: sensor, device: pc, adapter: oscillator, rate_hz: 100, params: {freq_hz: 8.0}}
  e: {role: engine, device: pz, inputs: [s], windows: {fast: 0.1, slow: 1.0}}
  m: {role: sync, device: me, inputs: [e]}
  o: {role: output, device: pc, inputs: [m], adapter: log}
"""

ANCHORED = b"""\
name: anchors
devices:
  pc: &dev {class: mac-mini, agent: localhost}
  pc2: {<<: *dev, weight: 2}
actors:
  s: &sensor {role: sensor, device: pc, adapter: oscillator, rate_hz: 100}
  s2: {<<: *sensor, device: pc2}
  e: {role: engine, device: pc, inputs: [s, s2]}
"""


def _detect() -> Detection:
    return Detection("pi-4", "fixed by the fuzz harness")


def _run(data: bytes) -> None:
    from kairos.topologies.loader import load_text

    load_text(data.decode("utf-8", "replace"), "fuzz.yaml", detect=_detect)


def seeds() -> list[bytes]:
    out = [example(name).read_bytes() for name in EXAMPLES]
    return [*out, MINIMAL, ANCHORED, b"name: x\n", b""]


TARGET = Target(
    name="topology",
    description="kairos.topologies.loader.load_text of a topology file",
    expected=TopologyError,
    seeds=seeds,
    session=lambda: stateless(_run),
    mutators=(mutate_yaml,),
)
