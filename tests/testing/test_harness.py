"""kairos.testing as a user meets it: roles from their topology keys, adapters, encodings."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from kairos.actors.adapters import AdapterContext, OutputState, SensorAdapter, sensor_adapter
from kairos.actors.engine import ENGINE_FIELDS
from kairos.actors.spec import ActorProcessSpec
from kairos.errors import AdapterError, TopologyError
from kairos.hardware.classes import load_class
from kairos.kernels import integrate
from kairos.testing import (
    DEVICE_CLASS,
    START_NS,
    HarnessError,
    RoleHarness,
    message,
    messages,
    records,
    role_harness,
    rows,
    run_encoder,
    run_output,
    run_role,
    run_sensor,
)
from kairos.topologies import example
from kairos.topologies.model import MeshSpec

DEMO = Path(str(example("demo")))

# -- roles -------------------------------------------------------------------------------------


def test_an_engine_alone_gets_the_spec_its_topology_would_give_it():
    """The demo's `coherent` engine, and the same keys given to the harness: one spec."""
    in_demo = RoleHarness(DEMO, "coherent")
    alone = role_harness(
        "engine",
        name="coherent",
        inputs=["osc-a", "osc-b"],
        encoding={"type": "lockin", "freq_hz": 40.0, "lp_cycles": 2},
        windows={"fast": 0.5, "slow": 10},
        mesh={"emergence_threshold": 0.75, "collapse_threshold": 0.95, "hysteresis": 0.05},
    )
    try:
        # where it runs and who listens to it, not what it computes
        placed = {"bind", "device", "inputs", "work_dir", "consumers"}
        for field in dataclasses.fields(ActorProcessSpec):
            if field.name not in placed:
                assert getattr(alone.spec, field.name) == getattr(in_demo.spec, field.name), field
        assert [link.stream for link in alone.spec.inputs] == ["osc-a", "osc-b"]
    finally:
        in_demo.close()
        alone.close()


def test_left_out_keys_take_the_launch_defaults():
    with role_harness("engine", inputs=["mic"]) as engine:
        spec = engine.spec
    cls = load_class(DEVICE_CLASS)
    assert spec.windows == (cls.tau_base_s, cls.tau_max_s)  # the device class's bounds
    defaults = MeshSpec()
    assert spec.mesh.collapse_threshold == defaults.collapse_threshold
    assert spec.mesh.hysteresis == defaults.hysteresis
    assert spec.checkpoint_s == ActorProcessSpec.__dataclass_fields__["checkpoint_s"].default


def test_a_sync_gets_its_nodes_weights_from_the_input_keys():
    with role_harness(
        "sync", inputs={"a": {"weight": 1.0}, "b": {"weight": 3.0}, "c": {}}, rate_hz=5
    ) as sync:
        nodes = {node.name: node.weight for node in sync.spec.nodes}
        assert sync.spec.rate_hz == 5
    assert nodes["a"] == 1.0 and nodes["b"] == 3.0
    assert nodes["c"] == load_class(DEVICE_CLASS).weight  # no override: the device's weight


def test_a_cell_of_cells_and_a_coupled_sensor_get_their_stand_ins():
    with role_harness("sync", inputs={"cell": {"role": "sync"}}) as sync:
        assert [n.name for n in sync.spec.nodes] == ["cell"]
    with role_harness(
        "sensor", adapter="kuramoto", params={"omega_hz": 1.0}, rate_hz=100, pulse="mesh"
    ) as sensor:
        assert sensor.spec.pulse is not None and sensor.spec.pulse.stream == "mesh/pulse"


@pytest.mark.parametrize(
    ("role", "keys", "problem"),
    [
        ("engine", {"inputs": ["mic"], "windows": {"fast": 0.01}}, "outside the bounds"),
        ("engine", {"inputs": ["mic"], "encoding": {"type": "lockin"}}, "freq_hz"),
        ("sensor", {"adapter": "oscilator", "rate_hz": 10}, "oscillator"),
        ("sensor", {"adapter": "oscillator", "rate_hz": 10, "params": {"freq": 1}}, "freq"),
        ("output", {"inputs": ["mesh"], "adapter": "jsonl", "params": {"path": 3}}, "path"),
    ],
)
def test_invalid_keys_fail_as_kairos_validate_fails(role, keys, problem):
    with pytest.raises(TopologyError) as caught:
        role_harness(role, **keys)
    assert problem in str(caught.value)


def test_misuse_is_named():
    with pytest.raises(HarnessError, match="unknown role 'engin'"):
        role_harness("engin", inputs=["mic"])
    with pytest.raises(HarnessError, match="takes no inputs"):
        role_harness("sensor", inputs=["x"], adapter="oscillator", rate_hz=10)
    with pytest.raises(HarnessError, match="no actor 'ghost'"):
        RoleHarness(DEMO, "ghost")


def test_work_dirs_are_removed_unless_given(tmp_path):
    with role_harness("engine", inputs=["mic"]) as engine:
        made = engine.work_root
        assert engine.work_dir == made / "engine" and made.is_dir()
    assert not made.exists()
    given = tmp_path / "kept"
    with role_harness("engine", inputs=["mic"], work_dir=given) as engine:
        assert engine.work_dir == given / "engine"
    assert (given / "engine").is_dir()  # a directory the caller gave is kept


def test_restart_continues_from_the_checkpoint_bit_for_bit():
    times = START_NS + 5_000_000 * np.arange(600)
    theta = np.random.default_rng(5).uniform(-np.pi, np.pi, 600)
    parts = messages("mic", times, theta, 20)
    keys = {"inputs": ["mic"], "windows": {"fast": 0.5, "slow": 10}}
    with role_harness("engine", **keys) as whole:
        expected = rows(whole.run(parts))
    first = role_harness("engine", **keys)
    got = first.run(parts[:13])
    second = first.restart()
    assert second.actor.restored_from_ns is not None  # type: ignore[attr-defined]
    got += second.run(parts[13:])
    root = second.work_root
    second.close()
    assert not root.exists()  # the restarted harness owns the directory now
    assert rows(got).tobytes() == expected.tobytes()


def test_run_role_delivers_in_sample_time_order_across_streams():
    times = START_NS + 5_000_000 * np.arange(200)
    a = messages("a", times, np.zeros(200), 20)
    b = messages("b", times, np.full(200, 0.5), 20)
    keys = {"windows": {"fast": 0.5, "slow": 10}}
    # in step, as a live engine takes them: a's chunk k, then b's chunk k (ties: input order)
    one = rows(run_role("engine", {"a": a, "b": b}, **keys))
    with role_harness("engine", inputs=["a", "b"], **keys) as engine:
        by_hand = rows(engine.run(m for pair in zip(a, b, strict=True) for m in pair))
    assert one.shape == (400, len(ENGINE_FIELDS))  # a row per sample of each
    assert one.tobytes() == by_hand.tobytes()
    coherence = one[-1, ENGINE_FIELDS.index("coherence_slow")]
    assert coherence == pytest.approx(math.cos(0.25), rel=1e-3)  # |1 + e^{0.5i}| / 2


def test_an_output_role_acts_on_sync_records(tmp_path):
    out = tmp_path / "journal.jsonl"
    with role_harness("sync", inputs=["eng"], rate_hz=10) as sync:
        row = np.zeros((1, len(ENGINE_FIELDS)))
        row[0, ENGINE_FIELDS.index("coherence_slow")] = 0.9
        sync.feed(message("eng", [START_NS], row, fields=ENGINE_FIELDS))
        states = sync.tick(START_NS + 200_000_000)
    mesh_state = records(states)[-1]
    with role_harness(
        "output", inputs=["mesh"], adapter="jsonl", params={"path": str(out)}
    ) as output:
        output.feed(message("mesh", [mesh_state["t_ns"]], mesh_state))
    written = json.loads(out.read_text())
    assert written["coherence"] == pytest.approx(0.9)


# -- sensors ------------------------------------------------------------------------------------


def test_run_sensor_samples_the_rate_grid_as_the_adapter_reads_it():
    params = {"freq_hz": 7.0, "noise": 0.3, "seed": 4}
    run = run_sensor("oscillator", params, rate_hz=400, n=100, name="osc")
    step = 2_500_000
    first = (START_NS // step + 1) * step  # the next grid point after the start
    assert run.times.tolist() == [first + k * step for k in range(100)]
    adapter = sensor_adapter("oscillator")(params, 400, AdapterContext("osc", Path(".")))
    assert run.values.tobytes() == adapter.read(run.times).tobytes()
    assert [m.seq for m in run.messages] == list(range(len(run.messages)))
    assert {m.stream for m in run.messages} == {"osc"}
    assert [len(m.times) for m in run.messages] == [8] * 12 + [4]  # 400 Hz / 50 per s: 8


class Ramp(SensorAdapter):
    """A test adapter no registry lists: slope·(sample index since its first read)."""

    name = "ramp"
    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"slope": {"type": "number"}},
    }
    max_rate_hz = 1000.0

    def __init__(self, params: Mapping[str, Any], rate_hz: float, context: AdapterContext):
        super().__init__(params, rate_hz, context)
        self.count = 0

    def read(self, times_ns: np.ndarray) -> np.ndarray:
        values = float(self.params.get("slope", 1.0)) * (self.count + np.arange(len(times_ns)))
        self.count += len(times_ns)
        return values


def test_run_sensor_takes_an_adapter_class_no_registry_lists():
    run = run_sensor(Ramp, {"slope": 2.0}, rate_hz=100, n=10, chunk=3)
    assert run.values.tolist() == [2.0 * k for k in range(10)]
    assert [len(m.times) for m in run.messages] == [3, 3, 3, 1]
    with pytest.raises(AdapterError, match="slope"):
        run_sensor(Ramp, {"slope": "steep"}, rate_hz=100, n=10)
    with pytest.raises(AdapterError, match="more than Ramp supports"):
        run_sensor(Ramp, {}, rate_hz=5000, n=10)


def test_a_file_sensor_runs_out(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(25, dtype=np.float64))
    run = run_sensor("file", {"path": "x.npy"}, rate_hz=100, n=100, base_dir=tmp_path)
    assert run.values.tolist() == list(range(25))


# -- outputs ------------------------------------------------------------------------------------


def test_run_output_writes_each_state(tmp_path):
    states = [
        OutputState("mesh", START_NS + k, complex(0.5, 0.1 * k), 0.5, 0.1 * k, k > 1)
        for k in range(3)
    ]
    done = run_output("jsonl", {"path": "out.jsonl"}, states, work_dir=tmp_path)
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert done.writes == 3 and [line["active"] for line in lines] == [False, False, True]
    with pytest.raises(AdapterError, match="path"):
        run_output("jsonl", {"path": 3}, states, work_dir=tmp_path)


# -- encodings ----------------------------------------------------------------------------------


class Smoother:
    """A stateful toy encoding: z = e^{iθ̄}, θ̄ the running mean of every sample so far."""

    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {"scale": {"type": "number"}},
        "additionalProperties": False,
    }

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.scale = float(params.get("scale", 1.0))
        self.total, self.count = 0.0, 0

    def encode(self, times: np.ndarray, values: np.ndarray) -> np.ndarray:
        sums = self.total + np.cumsum(values)
        counts = self.count + np.arange(1, len(values) + 1)
        self.total, self.count = float(sums[-1]), int(counts[-1])
        return np.exp(1j * self.scale * sums / counts)

    def state(self) -> list[Any] | None:
        return [self.total, self.count]

    def restore(self, state: list[Any]) -> None:
        self.total, self.count = state


class Forgetful(Smoother):
    """The same, with a state that does not survive a restart."""

    def state(self) -> list[Any] | None:
        return None


def test_run_encoder_chunks_and_restarts():
    times = START_NS + np.arange(50)
    values = np.random.default_rng(2).normal(size=50)
    whole = run_encoder(Smoother, times, values, params={"scale": 0.5})
    assert whole.dtype == np.complex128 and whole.shape == (50,)
    assert np.angle(whole[-1]) == pytest.approx(0.5 * values.mean())
    chunked = run_encoder(Smoother, times, values, params={"scale": 0.5}, chunk=7)
    restarted = run_encoder(
        Smoother, times, values, params={"scale": 0.5}, chunk=7, restart_every=2
    )
    assert np.allclose(chunked, whole, rtol=0, atol=1e-12)
    assert restarted.tobytes() == chunked.tobytes()
    # the same check catches a plugin whose carry-over is lost in a restart
    lost = run_encoder(Forgetful, times, values, params={"scale": 0.5}, chunk=7, restart_every=2)
    assert not np.allclose(lost, chunked)


def test_run_encoder_checks_the_contract():
    times = START_NS + np.arange(4)

    class Wrong(Smoother):
        def encode(self, times: np.ndarray, values: np.ndarray) -> np.ndarray:
            return np.zeros(len(values))  # float, not complex

    with pytest.raises(HarnessError, match=r"complex128 of shape \(4,\)"):
        run_encoder(Wrong, times, np.zeros(4))
    with pytest.raises(AdapterError, match="scale"):
        run_encoder(Smoother, times, np.zeros(4), params={"scale": "big"})
    with pytest.raises(HarnessError, match="do not pair up"):
        run_encoder(Smoother({}), times, np.zeros(5))
    with pytest.raises(HarnessError, match="encoding class"):
        run_encoder(Smoother({}), times, np.zeros(4), restart_every=1)


def test_engine_math_on_encoded_phasors_matches_the_kernels():
    """The harness's engine integrates phasors exactly as kairos.kernels.integrate does."""
    run = run_sensor("oscillator", {"freq_hz": 3.0, "noise": 0.2}, rate_hz=200, n=400)
    out = rows(run_role("engine", {"sensor": list(run.messages)}, windows={"fast": 0.5}))
    z = np.exp(1j * run.values)  # the built-in phase encoding, by its formula
    s, m, _, _ = integrate(run.times, z, 0.5)
    assert np.allclose(out[:, ENGINE_FIELDS.index("phase_fast")], np.angle(s), atol=1e-12)
    coherence = np.minimum(np.abs(s) / np.where(m > 0, m, 1), 1.0)
    assert np.allclose(out[:, ENGINE_FIELDS.index("coherence_fast")], coherence, atol=1e-12)
