"""Kuramoto through the real mesh (design.md §5.6): 16 `kuramoto` sensors, one engine each, one
sync whose pulse they follow, launched as real processes, against the same 16 oscillators
integrated ideally here (NumPy, forward Euler on the sensors' grid, r and ψ without delay).

Natural frequencies are Lorentzian around 0.1 Hz (γ = 0.5 rad/s, so K_c = 2γ = 1 rad/s) from a
fixed seed; K = 2 K_c.  The run is as short as the physics allows: from twelve random starts
the ideal r and common frequency Ω over [6 s, 18 s] match their averages over [40 s, 300 s]
within 0.0014 and 0.0005 rad/s (over [4 s, 12 s]: 0.020 and 0.004, too close to the bounds),
so the test measures 12 s from 6 s after the last node joined: about 26 s in all with the
start-up of 33 processes.  Measured: r 0.8684 against 0.8687 ideal, Ω 0.4612 against 0.4609
rad/s; with the pulse held between ticks, as before it carried Ω, Ω was 0.4276 (−0.033).
"""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from kairos import wire
from kairos.ports import free_port_range
from kairos.records import PULSE_STREAM, MeshState, Pulse, stream_name
from kairos.topologies.loader import load

N = 16
GAMMA = 0.5  # rad/s: Lorentzian half width; K_c = 2γ
K = 2 * (2 * GAMMA)  # K = 2 K_c
CENTRE_HZ = 0.1
SEED = 8
RATE_HZ = 20  # sensors' rate: the Euler step of both sides; also the pulse rate
SETTLE_S, MEASURE_S = 6.0, 12.0
SYNC = "mesh"

pytestmark = pytest.mark.timeout(180)


def oscillators() -> tuple[np.ndarray, np.ndarray]:
    """Natural frequencies ω (rad/s) and initial phases θ0 from the fixed seed."""
    rng = np.random.default_rng(SEED)
    omega = 2 * math.pi * CENTRE_HZ + GAMMA * np.tan(math.pi * (rng.uniform(size=N) - 0.5))
    return omega, rng.uniform(-math.pi, math.pi, N)


def ideal(seconds: float = 300.0, start_s: float = 40.0) -> tuple[float, float]:
    """Mean r and common frequency (slope of the unwrapped ψ) of the ideal same-N system."""
    omega, theta = oscillators()
    dt = 1.0 / RATE_HZ
    steps = int(seconds * RATE_HZ)
    r, psi = np.empty(steps), np.empty(steps)
    for k in range(steps):
        z = np.mean(np.exp(1j * theta))
        r[k], psi[k] = abs(z), np.angle(z)
        theta = theta + (omega + K * r[k] * np.sin(psi[k] - theta)) * dt
    t = np.arange(steps) * dt
    keep = t >= start_s
    return float(r[keep].mean()), float(np.polyfit(t[keep], np.unwrap(psi[keep]), 1)[0])


def topology(tmp_path: Path) -> Path:
    omega, theta0 = oscillators()
    lines = [
        "name: kuramoto-mesh",
        f"mesh: {{pulse_hz: {RATE_HZ}, base_port: {free_port_range(2 * N + 2)}}}",
        "devices:",
        "  here: {class: cloud, agent: localhost}",  # windows from 1 ms: far below 1/ω
        "actors:",
    ]
    for i in range(N):
        lines += [
            f"  osc{i}:",
            "    role: sensor",
            "    device: here",
            "    adapter: kuramoto",
            f"    rate_hz: {RATE_HZ}",
            "    chunk: 1",
            f"    pulse: {SYNC}",
            f"    params: {{omega_hz: {float(omega[i] / (2 * math.pi))!r}, coupling: {K!r}, "
            f"theta0: {float(theta0[i])!r}}}",
            f"  eng{i}:",
            "    role: engine",
            "    device: here",
            f"    inputs: [osc{i}]",
            "    encoding: {type: phase}",
            "    windows: {fast: 0.001, slow: 0.001}",
        ]
    lines += [
        f"  {SYNC}:",
        "    role: sync",
        "    device: here",
        f"    inputs: [{', '.join(f'eng{i}' for i in range(N))}]",
        f"    rate_hz: {RATE_HZ}",
    ]
    path = tmp_path / "kuramoto.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_mesh_locks_as_the_ideal_same_n_system(tmp_path: Path):
    want_r, want_omega = ideal()
    path = topology(tmp_path)
    endpoint = load(path).endpoint(SYNC)
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.connect(endpoint)
    sub.setsockopt(zmq.SUBSCRIBE, SYNC.encode())
    launcher = subprocess.Popen(
        [
            *(sys.executable, "-m", "kairos.tools.cli", "launch", str(path)),
            *("--duration", "150", "--state-dir", str(tmp_path / "state")),
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    pulses: list[Pulse] = []
    live_ns: int | None = None
    try:
        deadline = time.monotonic() + 150
        while launcher.poll() is None and time.monotonic() < deadline:
            if not sub.poll(200):
                continue
            message = wire.decode(sub.recv_multipart(copy=False))
            if message.stream == SYNC and live_ns is None:
                state = MeshState.decode(message.data, message.stream)
                if len(state.nodes) == N and not state.stale_nodes:
                    live_ns = state.t_ns
            elif message.stream == stream_name(SYNC, PULSE_STREAM) and live_ns is not None:
                pulses.append(Pulse.decode(message.data, message.stream))
                if pulses[-1].t_ns - live_ns >= (SETTLE_S + MEASURE_S) * 1e9:
                    break
    finally:
        sub.close()
        ctx.destroy(linger=0)
        launcher.send_signal(signal.SIGINT)  # Ctrl-C: the launcher stops every actor it started
        try:
            _, stderr = launcher.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            launcher.kill()
            _, stderr = launcher.communicate()
    assert live_ns is not None, f"the 16 nodes never were all live: {stderr[-2000:]}"
    t = np.array([(p.t_ns - live_ns) * 1e-9 for p in pulses])
    keep = t >= SETTLE_S
    assert t[-1] >= SETTLE_S + MEASURE_S - 0.5, "the run ended early"
    assert np.all(np.diff(t[keep]) < 0.5), "pulses went missing"
    r = float(np.mean([p.order_parameter for p in np.array(pulses)[keep]]))
    psi = np.unwrap([p.mesh_phase for p in np.array(pulses)[keep]])
    omega = float(np.polyfit(t[keep], psi, 1)[0])
    print(f"r {r:.4f} (ideal {want_r:.4f}), Ω {omega:.4f} rad/s (ideal {want_omega:.4f})")
    assert r == pytest.approx(want_r, abs=0.03)
    assert omega == pytest.approx(want_omega, abs=0.005)
