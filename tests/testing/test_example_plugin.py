"""The example plugin package (examples/kairos-example-plugin), used as a user uses it.

The package is pip-installed (into a directory of its own, on the path of this process and of
every process it starts), its adapter and encoding are checked against their formulas through
kairos.testing, and its topology is launched with real processes: each engine's live output
must equal, bit for bit, the recorded sensor samples run through the same engine alone, and,
to 1e-12, the plugin's encoding followed by the engine's integration computed directly.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import yaml
from support import run_kairos

from kairos import wire
from kairos.actors import adapters
from kairos.actors.adapters import AdapterContext
from kairos.actors.engine import ENGINE_FIELDS
from kairos.errors import AdapterError, TopologyError
from kairos.kernels import carrier_cycles, integrate
from kairos.ports import free_port_range
from kairos.testing import START_NS, RoleHarness, role_harness, run_encoder, run_sensor
from kairos.topologies.loader import load

PLUGIN = Path(__file__).resolve().parents[2] / "examples" / "kairos-example-plugin"
PACKAGE = "kairos_example_plugin"
#: pip builds and installs the wheel in ~3 s here; the bound stays under pytest-timeout's 120 s,
#: so a stuck install fails with pip's own output instead of a bare timeout
INSTALL_TIMEOUT_S = 90
SENSORS = ("tone-a", "tone-b")
ENGINES = {"phase-a": "tone-a", "phase-b": "tone-b"}


def _builds_wheels_here() -> bool:
    """Whether this environment's setuptools builds a wheel by itself: from 70.1 on, or with
    the ``wheel`` package.  The venv ``python3 -m venv`` makes on Python 3.11 holds setuptools
    65.5 without ``wheel``; then pip builds in isolation, taking setuptools from the package
    index it is configured with (or its cache)."""
    if importlib.util.find_spec("wheel") is not None:
        return True
    try:
        major, minor = (int(part) for part in metadata.version("setuptools").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return False
    return (major, minor) >= (70, 1)


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The example plugin, pip-installed (no dependencies) into a directory of its own that
    this process and the processes it starts put on their path; yields their environment.

    Not into this interpreter's site-packages: a plugin installed there is seen by every
    later test and every later run — the valid adapter names that tests/topologies/bad/*.yaml
    expect gain ``am-tone`` — and nothing is ever uninstalled.  Built from a copy: pip builds
    in the source tree, which must stay clean.
    """
    root = tmp_path_factory.mktemp("plugin")
    source, target = root / "source", root / "site"
    shutil.copytree(
        PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    )
    argv = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-input", "--quiet"]
    if _builds_wheels_here():
        argv.append("--no-build-isolation")  # no download at all
    installed = subprocess.run(
        [*argv, "--target", str(target), str(source)],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    adapters.reset_plugin_cache()  # the entry points are read again, with the plugin's
    inherited = os.environ.get("PYTHONPATH")
    path = os.pathsep.join([str(target), *([inherited] if inherited else [])])
    try:
        yield {**os.environ, "PYTHONPATH": path}
    finally:
        sys.path.remove(str(target))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]
        importlib.invalidate_caches()
        adapters.reset_plugin_cache()


def _am_params(**changes: float) -> dict[str, float]:
    return {"carrier_hz": 40.0, "mod_hz": 0.5, "depth": 0.6, "phase": 0.3, **changes}


# -- the sensor adapter -------------------------------------------------------------------------


def test_the_plugin_registers_its_adapter_and_encoding(plugin):
    assert "am-tone" in adapters.sensor_names()
    encodings = {ep.name: ep.value for ep in metadata.entry_points(group="kairos.encodings")}
    assert encodings["hilbert"] == "kairos_example_plugin.hilbert:HilbertPhase"


def test_am_tone_follows_its_formula_by_name_and_by_class(plugin):
    from kairos_example_plugin.am import AmTone

    by_name = run_sensor("am-tone", _am_params(), rate_hz=400, n=500)
    by_class = run_sensor(AmTone, _am_params(), rate_hz=400, n=500)
    assert by_name.values.tobytes() == by_class.values.tobytes()
    t = by_name.times
    envelope = 1.0 + 0.6 * np.cos(2 * math.pi * carrier_cycles(t, 0.5))
    expected = envelope * np.cos(2 * math.pi * carrier_cycles(t, 40.0) + 0.3)
    assert np.allclose(by_name.values, expected, rtol=0, atol=1e-12)


def test_am_tone_noise_repeats_and_ignores_chunking(plugin):
    params = _am_params(noise=0.5)
    one = run_sensor("am-tone", params, rate_hz=400, n=300, chunk=7)
    other = run_sensor("am-tone", params, rate_hz=400, n=300, chunk=50)
    assert one.values.tobytes() == other.values.tobytes()
    assert np.std(one.values - run_sensor("am-tone", _am_params(), 400, 300).values) > 0.4


def test_am_tone_params_are_checked_like_any_adapters(plugin):
    with pytest.raises(TopologyError, match="carrier_hz"):
        role_harness("sensor", adapter="am-tone", rate_hz=400, params={"mod_hz": 1.0})
    with pytest.raises(TopologyError, match="depth"):
        role_harness("sensor", adapter="am-tone", rate_hz=400, params=_am_params(depth=2.0))


# -- the encoding (needs kairos.actors.Encoder) -------------------------------------------------


def _tone(n: int = 2000, **changes: float):
    from kairos_example_plugin.am import AmTone

    return run_sensor(AmTone, _am_params(**changes), rate_hz=400, n=n)


def test_hilbert_reads_a_steady_tones_phase_and_envelope(plugin):
    from kairos_example_plugin.am import AmTone
    from kairos_example_plugin.hilbert import HilbertPhase

    tone = _tone()
    half = 31  # 63 taps
    z = run_encoder(HilbertPhase, tone.times, tone.values, params={"demod_hz": 40.0})
    assert np.all(z[:half] == 0)  # nothing M stamps back yet
    # after the start-up transient: the phase within the filter's 0.2 % gain ripple
    assert np.abs(np.angle(z[2 * half :]) - 0.3).max() < 1e-3
    assert np.allclose(np.abs(z[half:]), 1.0)
    raw = run_encoder(HilbertPhase, tone.times, tone.values, params={"unit": False})
    adapter = AmTone(_am_params(), 400, AdapterContext("x", plugin))
    late = adapter.envelope(tone.times)[half:-half]  # the envelope M samples back
    assert np.abs(np.abs(raw[2 * half :]) - late).max() < 2e-3
    # undemodulated, the phase advances by +2π·f/rate a sample: the analytic sign convention
    step = np.angle(raw[2 * half + 1 :] / raw[2 * half : -1])
    assert np.allclose(step, 2 * math.pi * 40.0 / 400, atol=2e-3)


def test_hilbert_streams_across_messages_and_restarts(plugin):
    from kairos_example_plugin.hilbert import HilbertPhase

    tone = _tone(noise=0.2)
    params = {"taps": 31, "demod_hz": 40.0}
    whole = run_encoder(HilbertPhase, tone.times, tone.values, params=params)
    cut = run_encoder(HilbertPhase, tone.times, tone.values, params=params, chunk=7)
    restarted = run_encoder(
        HilbertPhase, tone.times, tone.values, params=params, chunk=7, restart_every=3
    )
    assert np.allclose(cut, whole, rtol=0, atol=1e-12)
    assert restarted.tobytes() == cut.tobytes()


def test_hilbert_refuses_a_state_of_another_length(plugin):
    from kairos_example_plugin.hilbert import HilbertPhase

    short = HilbertPhase({"taps": 31})
    short.encode(START_NS + np.arange(40), np.zeros(40))
    with pytest.raises(ValueError, match="63 taps keep 62"):
        HilbertPhase({"taps": 63}).restore(short.state() or [])


def test_hilbert_params_are_checked(plugin):
    from kairos_example_plugin.hilbert import HilbertPhase

    with pytest.raises(AdapterError, match="taps"):
        run_encoder(HilbertPhase, START_NS + np.arange(4), np.zeros(4), params={"taps": 64})


# -- the topology, launched ---------------------------------------------------------------------


def _moved(tmp_path: Path) -> Path:
    """The example topology on a free port range (tests run side by side)."""
    text = (PLUGIN / "topology.yaml").read_text()
    moved, count = re.subn(r"base_port: \d+", f"base_port: {free_port_range(8)}", text)
    assert count == 1, "topology.yaml has no single mesh.base_port to move"
    path = tmp_path / "topology.yaml"
    path.write_text(moved)
    return path


def _recorded(path: Path) -> dict[str, list[wire.Message]]:
    from kairos.tools._recording.reader import read

    out: dict[str, list[wire.Message]] = {}
    for m in read(path):
        decoded = wire.decode([m.stream.encode(), m.header, m.times, m.payload])
        out.setdefault(m.stream, []).append(decoded)
    return out


@pytest.mark.timeout(300)
def test_launched_engines_equal_the_encoding_computed_directly(plugin, processes, tmp_path):
    from kairos_example_plugin.am import AmTone
    from kairos_example_plugin.hilbert import HilbertPhase

    topology = _moved(tmp_path)
    checked = run_kairos("validate", str(topology), env=plugin)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    live = tmp_path / "live.mcap"
    recorder = processes.kairos(
        "record", str(topology), "-o", str(live), "--streams", *SENSORS, *ENGINES, env=plugin
    )
    time.sleep(1.0)  # dialling before the sensors start: their first message is recorded
    launch = run_kairos(
        "launch",
        str(topology),
        "--duration",
        "6",
        "--no-status",
        "--state-dir",
        str(tmp_path / "state"),
        timeout=120,
        env=plugin,
    )
    assert launch.returncode == 0, launch.stderr[-3000:]
    recorder.send_signal(signal.SIGINT)
    assert recorder.wait(timeout=30) == 0
    recorded = _recorded(live)
    plan = load(topology)
    keys = yaml.safe_load(topology.read_text())["actors"]
    for engine, sensor in ENGINES.items():
        samples = recorded[sensor]
        assert [m.seq for m in samples] == list(range(len(samples))), f"{sensor}: a gap"
        times = np.concatenate([m.times for m in samples])
        values = np.concatenate([np.asarray(m.data) for m in samples])
        # the sensor process sampled exactly what the adapter gives for those stamps
        adapter = AmTone(keys[sensor]["params"], 400, AdapterContext(sensor, tmp_path))
        assert adapter.read(times).tobytes() == values.tobytes(), sensor

        # 1. the same engine, alone, on the same messages: bit for bit
        with RoleHarness(plan, engine) as alone:
            again = [o for m in samples for o in alone.feed(m) if o.stream == ""]
            windows = alone.spec.windows
        live_rows = recorded[engine]
        common = min(len(live_rows), len(again))
        assert common >= 0.9 * len(samples), (engine, len(live_rows), len(again), len(samples))
        for got, want in zip(live_rows[:common], again[:common], strict=True):
            assert np.array_equal(got.times, want.times)
            assert np.asarray(got.data).tobytes() == np.asarray(want.data).tobytes(), engine

        # 2. the plugin's encoding, then the engine's integration, computed directly
        params = {k: v for k, v in keys[engine]["encoding"].items() if k != "type"}
        chunk = len(samples[0].times)
        z = run_encoder(HilbertPhase, times, values, params=params, chunk=chunk)
        table = np.vstack([np.asarray(m.data) for m in live_rows[:common]])
        n = len(table)
        assert windows is not None
        for window, tau in zip(("fast", "slow"), windows, strict=True):
            s, m, _, _ = integrate(times[:n], z[:n], tau)
            coherence = np.minimum(np.divide(np.abs(s), m, out=np.zeros(n), where=m > 0), 1.0)
            phase = table[:, ENGINE_FIELDS.index(f"phase_{window}")]
            assert np.allclose(phase, np.angle(s), rtol=0, atol=1e-12), (engine, window)
            got = table[:, ENGINE_FIELDS.index(f"coherence_{window}")]
            assert np.allclose(got, coherence, rtol=0, atol=1e-12), (engine, window)
        # and it means what the example says: a steady tone reads coherence ≈ 1 at its phase
        assert table[-1, ENGINE_FIELDS.index("coherence_slow")] > 0.99
        expected_phase = keys[sensor]["params"].get("phase", 0.0)
        assert table[-1, ENGINE_FIELDS.index("phase_slow")] == pytest.approx(
            expected_phase, abs=0.01
        )
