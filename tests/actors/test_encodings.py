"""Encodings: the built-in Encoder classes, their params, their state, and plugin encodings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import plugins
import pytest
from jsonschema import Draft202012Validator

from kairos import kernels, registry
from kairos.actors import Encoder
from kairos.actors.encodings import (
    LOCKIN_LP_CYCLES,
    ComplexEncoder,
    DirectEncoder,
    LockinEncoder,
    PhaseEncoder,
    encoder_class,
    make_encoder,
)
from kairos.actors.engine import ENGINE_FIELDS, Engine
from kairos.actors.spec import ActorProcessSpec, InputLink
from kairos.errors import ConfigError
from kairos.testing import ActorHarness, message
from kairos.topologies.model import Encoding

T0 = 1_763_770_000_000_000_000
STEP = 5_000_000  # 200 Hz
BUILTINS = {"lockin": LockinEncoder, "phase": PhaseEncoder, "direct": DirectEncoder}
BUILTINS["complex"] = ComplexEncoder


def stamps(n: int, start: int = 0) -> np.ndarray:
    return T0 + STEP * np.arange(start, start + n, dtype=np.int64)


def test_the_registry_lists_the_builtins_as_encoder_classes() -> None:
    assert set(BUILTINS) <= set(registry.names(registry.ENCODINGS))
    for name, cls in BUILTINS.items():
        assert encoder_class(name) is cls and issubclass(cls, Encoder)
        assert registry.is_kind(cls, registry.ENCODINGS)
        Draft202012Validator.check_schema(cls.params_schema)
        assert cls.params_schema["additionalProperties"] is False
        for key, prop in cls.params_schema.get("properties", {}).items():
            assert prop.get("description"), f"{name}.{key} documents itself"


@pytest.mark.parametrize(
    ("name", "params", "words"),
    [
        ("lockin", {}, "missing required key freq_hz"),
        ("lockin", {"freq_hz": "8"}, "freq_hz: must be a number"),
        (
            "lockin",
            {"freq_hz": 8, "demod_hz": 1},
            "unknown key demod_hz; valid: freq_hz, lp_cycles",
        ),
        ("lockin", {"freq_hz": 0}, "lockin encoding needs freq_hz > 0"),
        ("phase", {"demod_hz": True}, "demod_hz: must be a number"),
        ("direct", {"gain": 2}, "unknown key gain; valid: (none)"),
        ("hilbert", {}, "unknown encoding 'hilbert'; valid: complex, direct, lockin, phase"),
    ],
)
def test_params_an_encoder_cannot_take_are_a_config_error(name, params, words) -> None:
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
        make_encoder(name, params)


def test_builtins_compute_the_formulas_of_section_5_1() -> None:
    t = stamps(50)
    theta = np.linspace(-3, 3, 50)
    assert np.allclose(make_encoder("phase", {}).encode(t, theta), np.exp(1j * theta))
    demod = make_encoder("phase", {"demod_hz": 5.0}).encode(t, theta)
    assert np.allclose(demod, np.exp(1j * (theta - 2 * np.pi * kernels.carrier_cycles(t, 5.0))))
    assert np.array_equal(make_encoder("direct", {}).encode(t, theta), theta + 0j)
    z = theta * np.exp(1j * theta)
    assert np.array_equal(make_encoder("complex", {}).encode(t, z), z)
    rows = np.column_stack([theta, -theta])  # multi-column sensors: the first column counts
    assert np.array_equal(make_encoder("direct", {}).encode(t, rows), theta + 0j)
    lockin, _ = kernels.lockin(t, np.cos(theta), 8.0, LOCKIN_LP_CYCLES, None)
    assert np.array_equal(make_encoder("lockin", {"freq_hz": 8.0}).encode(t, np.cos(theta)), lockin)


def test_lockin_state_survives_json_and_continues_exactly() -> None:
    t = stamps(400)
    x = np.cos(2 * np.pi * 8.0 * (t - T0) / 1e9) + np.random.default_rng(3).normal(0, 0.3, 400)
    whole = make_encoder("lockin", {"freq_hz": 8.0, "lp_cycles": 3}).encode(t, x)
    first = make_encoder("lockin", {"freq_hz": 8.0, "lp_cycles": 3})
    head = first.encode(t[:150], x[:150])
    saved = json.loads(json.dumps(first.state()))  # what a checkpoint carries
    second = make_encoder("lockin", {"freq_hz": 8.0, "lp_cycles": 3})
    second.restore(saved)
    tail = second.encode(t[150:], x[150:])
    assert np.array_equal(np.concatenate([head, tail]), whole)
    assert make_encoder("phase", {}).state() is None


# -- a plugin encoding, registered through a test-only entry point


MODULE = "kairos_test_encoding_plugin"


@pytest.fixture
def scaled_phase(tmp_path: Path) -> Iterator[Path]:
    root = plugins.install(
        tmp_path / "site",
        MODULE,
        plugins.SCALED_PHASE,
        {
            "kairos.encodings": {
                "scaled-phase": "ScaledPhase",
                "not-one": "NotAnEncoder",
                "broken": "kairos_no_such_module:Thing",
            }
        },
    )
    yield root
    plugins.uninstall(root, MODULE)


def engine(encoding: Encoding, work_dir: Path) -> ActorHarness:
    spec = ActorProcessSpec(
        name="eng",
        role="engine",
        device="local",
        device_class="mac-mini",
        bind="tcp://127.0.0.1:1",
        inputs=(InputLink("mic", "mic", "tcp://127.0.0.1:2"),),
        encoding=encoding,
        windows=(0.5, 10.0),
        checkpoint_s=1.0,
    )
    return ActorHarness(Engine(spec), work_dir=work_dir)


def run(harness: ActorHarness, theta: np.ndarray, start: int = 0) -> np.ndarray:
    rows = []
    for k in range(0, len(theta), 10):
        out = harness.feed(message("mic", stamps(10, start + k), theta[k : k + 10], seq=k))
        rows += [o.data for o in out if o.stream == ""]
    return np.vstack(rows)


@pytest.mark.usefixtures("scaled_phase")
def test_a_plugin_encoding_is_listed_and_checked_by_its_own_schema() -> None:
    names = registry.names(registry.ENCODINGS)
    assert "scaled-phase" in names and "not-one" not in names and "broken" not in names
    with pytest.raises(ConfigError, match="missing required key gain"):
        make_encoder("scaled-phase", {})
    with pytest.raises(ConfigError, match=r"plugin 'not-one' .* is not an encoding"):
        make_encoder("not-one", {})
    with pytest.raises(ConfigError, match=r"plugin 'broken' .* failed to load"):
        make_encoder("broken", {})


def test_an_engine_runs_a_plugin_encoding_and_checkpoints_its_state(
    scaled_phase: Path, tmp_path: Path
) -> None:
    theta = np.random.default_rng(7).uniform(-1, 1, 200)
    # the plugin's phasors are the phase encoding's of gain·θ: the engine's outputs agree
    reference = engine(Encoding("phase"), tmp_path / "ref")
    expected = run(reference, 2.5 * theta)
    reference.close()
    plugin = engine(Encoding("scaled-phase", {"gain": 2.5}), tmp_path / "plugin")
    assert np.array_equal(run(plugin, theta), expected)
    assert plugin.actor.inputs["mic"].encoder.state() == [200]
    plugin.close()  # writes the checkpoint, the encoder's state() in it
    resumed = engine(Encoding("scaled-phase", {"gain": 2.5}), tmp_path / "plugin")
    assert resumed.actor.restored_from_ns is not None
    assert resumed.actor.inputs["mic"].encoder.state() == [200]
    more = run(resumed, theta[:20], start=200)
    assert more.shape == (20, len(ENGINE_FIELDS))
    resumed.close()
    other = engine(Encoding("scaled-phase", {"gain": 3.0}), tmp_path / "plugin")
    assert other.actor.restored_from_ns is None  # another encoding: the checkpoint is not its
    other.close()
