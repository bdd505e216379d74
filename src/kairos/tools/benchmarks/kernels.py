"""Throughput of the numeric kernels: compiled, NumPy reference, a plain Python loop, SciPy.

``run`` returns one row per measurement, ``{"kernel", "backend", "chunk", "samples_per_s",
"samples"}``: ``chunk`` is how many samples each call processes (a long stream is fed chunk
by chunk carrying the state, as a live engine does, and the total time is measured);
``samples`` is how many were processed in total.  For ``mesh``, ``chunk`` is the node count
N and ``samples_per_s`` counts nodes per second.  ``scipy.signal.lfilter`` runs the same
integration for regular sampling only (it has no notion of time stamps), where SciPy is
installed.  The pure-Python loop is measured on a smaller stream.
"""

from __future__ import annotations

import cmath
import importlib
import math
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from kairos.kernels import _reference
from kairos.kernels._state import WindowStates


def _import_compiled() -> ModuleType | None:
    """The compiled kernels, or None: the measured rows then lack that backend."""
    try:
        return importlib.import_module("kairos.kernels._compiled")
    except ImportError:
        return None


_compiled = _import_compiled()

T0 = 1_735_689_600_000_000_000
PERIOD_NS = 1_000_000  # 1 kHz
TAU_S = 0.05
CHUNKS = (64, 1024, 1_000_000)
QUICK_CHUNKS = (64, 1024, 65_536)
MESH_NODES = (10, 1000)

Progress = Callable[[str], None] | None


def python_integrate(times: Sequence[int], z: Sequence[complex], tau: float) -> tuple:
    """The integration written as a plain Python loop (what the kernels replace)."""
    started, t_prev, s, m = False, 0, 0j, 0.0
    out_s, out_m, out_c = [], [], []
    for tk, zk in zip(times, z, strict=True):
        if not started:
            started, t_prev = True, tk
        elif tk > t_prev:
            alpha = -math.expm1(-((tk - t_prev) * 1e-9) / tau)
            s = alpha * zk + (1.0 - alpha) * s
            m = alpha * abs(zk) + (1.0 - alpha) * m
            t_prev = tk
        out_s.append(s)
        out_m.append(m)
        out_c.append(min(abs(s) / m, 1.0) if m > 0.0 else 0.0)
    return out_s, out_m, out_c


def python_resonance(
    times: Sequence[int], z: Sequence[complex], tau: float, omega_hz: float, lag: int
) -> tuple:
    """Resonance as a plain Python loop with complex numbers."""
    started, t_prev, z_prev = False, 0, 0j
    ring: list[complex] = []
    t_acc, e, e_lag = 0j, 0.0, 0.0
    out_t, out_r = [], []
    for tk, zk in zip(times, z, strict=True):
        if not started:
            started, t_prev, z_prev = True, tk, zk
        elif tk > t_prev:
            dt = (tk - t_prev) * 1e-9
            v = (zk - z_prev) / dt
            t_prev, z_prev = tk, zk
            if len(ring) == lag:
                old = ring.pop(0)
                alpha = -math.expm1(-dt / tau)
                rot = cmath.exp(2j * math.pi * ((omega_hz * tk * 1e-9) % 1.0))
                t_acc = alpha * v * old.conjugate() * rot + (1.0 - alpha) * t_acc
                e = alpha * abs(v) ** 2 + (1.0 - alpha) * e
                e_lag = alpha * abs(old) ** 2 + (1.0 - alpha) * e_lag
            ring.append(v)
        out_t.append(t_acc)
        out_r.append(min(abs(t_acc) ** 2 / (e * e_lag), 1.0) if e > 0 and e_lag > 0 else 0.0)
    return out_t, out_r


def python_mesh(coherence: Sequence[float], phase: Sequence[float], weight: Sequence[float]):
    """The mesh aggregation as a plain Python loop."""
    total = sum(weight)
    if total == 0.0:
        return 0j, 0.0, 0.0, 0.0, [0.0] * len(phase)
    g = sum(w * c * cmath.exp(1j * p) for c, p, w in zip(coherence, phase, weight, strict=True))
    order = sum(w * cmath.exp(1j * p) for p, w in zip(phase, weight, strict=True))
    g /= total
    psi = cmath.phase(g)
    delta = [math.remainder(psi - p, 2 * math.pi) for p in phase]
    return (
        g,
        psi,
        sum(w * c for c, w in zip(coherence, weight, strict=True)) / total,
        abs(order) / total,
        delta,
    )


def _best(run: Callable[[], Any], repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def _row(kernel: str, backend: str, chunk: int, samples: int, seconds: float) -> dict:
    return {
        "kernel": kernel,
        "backend": backend,
        "chunk": chunk,
        "samples_per_s": samples / seconds if seconds > 0 else math.inf,
        "samples": samples,
    }


def _stream(n: int, jitter: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    t = T0 + np.arange(n, dtype=np.int64) * PERIOD_NS
    if jitter:
        t += rng.integers(0, PERIOD_NS // 10, n)
    phase = 2 * np.pi * 3.0 * np.arange(n) * PERIOD_NS * 1e-9 + rng.normal(0, 0.3, n)
    return t, rng.uniform(0.5, 1.5, n) * np.exp(1j * phase)


def _pieces(arrays: Sequence[np.ndarray], chunk: int) -> list[tuple[np.ndarray, ...]]:
    n = arrays[0].shape[0]
    return [tuple(a[i : i + chunk] for a in arrays) for i in range(0, n, chunk)]


def _chunked_kernel(backend: Any, kernel: str, pieces: list, out: tuple | None) -> Callable:
    if kernel == "integrate":

        def run() -> None:
            state = None
            for t, z in pieces:
                state = backend.integrate(t, z, TAU_S, state, out=out)[3]

    else:

        def run() -> None:
            state = None
            for t, z in pieces:
                state = backend.resonance(t, z, TAU_S, 0.0, 1, state, out=out)[4]

    return run


def _lfilter_run(pieces: list) -> Callable[[], None] | None:
    try:
        from scipy.signal import lfilter
    except ImportError:
        return None
    alpha = -math.expm1(-(PERIOD_NS * 1e-9) / TAU_S)
    b, a = np.array([alpha]), np.array([1.0, alpha - 1.0])

    def run() -> None:
        zi_s = np.zeros(1, dtype=np.complex128)
        zi_m = np.zeros(1)
        for _, z in pieces:
            s, zi_s = lfilter(b, a, z, zi=zi_s)
            m, zi_m = lfilter(b, a, np.abs(z), zi=zi_m)
            c = np.zeros_like(m)
            np.divide(np.abs(s), m, out=c, where=m > 0.0)

    return run


def _stream_rows(kernel: str, quick: bool, progress: Progress) -> list[dict]:
    repeats = 1 if quick else 3
    chunks = QUICK_CHUNKS if quick else CHUNKS
    total = max(chunks)
    t, z = _stream(total)
    rows = []
    for chunk in chunks:
        pieces = _pieces((t, z), chunk)
        backends = [("compiled", _compiled), ("reference", _reference)]
        for name, backend in backends:
            if backend is None:
                continue
            if progress:
                progress(f"{kernel}: {name}, chunks of {chunk}")
            seconds = _best(_chunked_kernel(backend, kernel, pieces, None), repeats)
            rows.append(_row(kernel, name, chunk, total, seconds))
        if _compiled is not None and chunk == total:
            # the same with caller-owned outputs: no fresh pages to fault in on each call
            outs = [np.empty(total, np.complex128)] + [np.empty(total) for _ in range(3)]
            out = tuple(outs[:3]) if kernel == "integrate" else tuple(outs)
            run = _chunked_kernel(_compiled, kernel, pieces, out)
            rows.append(_row(kernel, "compiled, out=", chunk, total, _best(run, repeats)))
        if kernel == "integrate":
            lfilter_run = _lfilter_run(pieces)
            if lfilter_run is not None:
                if progress:
                    progress(f"{kernel}: scipy lfilter, chunks of {chunk}")
                seconds = _best(lfilter_run, repeats)
                rows.append(_row(kernel, "scipy.lfilter", chunk, total, seconds))
    if kernel == "integrate":
        tj, zj = _stream(total, jitter=True)
        for name, backend in (("compiled", _compiled), ("reference", _reference)):
            if backend is not None:
                whole = _repeat(backend.integrate, (tj, zj, TAU_S), 1)
                seconds = _best(whole, repeats)
                rows.append(_row("integrate (jittered)", name, total, total, seconds))
    small = 5_000 if quick else 20_000
    ts, zs = t[:small].tolist(), z[:small].tolist()
    if progress:
        progress(f"{kernel}: pure Python loop, {small} samples")
    if kernel == "integrate":
        seconds = _best(lambda: python_integrate(ts, zs, TAU_S), repeats)
    else:
        seconds = _best(lambda: python_resonance(ts, zs, TAU_S, 0.0, 1), repeats)
    rows.append(_row(kernel, "python", small, small, seconds))
    return rows


def _repeat(call: Callable[..., Any], args: tuple, times: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(times):
            call(*args)

    return run


def _mesh_rows(quick: bool, progress: Progress) -> list[dict]:
    repeats = 1 if quick else 3
    rng = np.random.default_rng(2)
    rows = []
    for nodes in MESH_NODES:
        args = (rng.uniform(size=nodes), rng.uniform(-np.pi, np.pi, nodes), np.ones(nodes))
        calls = max(20, (20_000 if quick else 200_000) // nodes)
        for name, backend in (("compiled", _compiled), ("reference", _reference)):
            if backend is None:
                continue
            if progress:
                progress(f"mesh: {name}, {nodes} nodes")
            seconds = _best(_repeat(backend.mesh, args, calls), repeats)
            rows.append(_row("mesh", name, nodes, nodes * calls, seconds))
        py_calls = max(5, calls // 20)
        lists = tuple(a.tolist() for a in args)
        seconds = _best(_repeat(python_mesh, lists, py_calls), repeats)
        rows.append(_row("mesh", "python", nodes, nodes * py_calls, seconds))
    return rows


#: rows per call of an engine's whole step: a 1 kHz sensor's 20-sample messages (the demo,
#: the pipeline) and the hop benchmark's 64-sample chunks
NODE_CHUNKS = (20, 64)


def _node_rows(quick: bool, progress: Progress) -> list[dict]:
    """An engine's whole step per input message (``node_step``: both windows, resonance,
    pooling, collapse, the row's columns), one message's rows per call, the states carried
    from call to call as a live engine carries them."""
    repeats = 1 if quick else 3
    rows = []
    for chunk in NODE_CHUNKS:
        for name, backend in (("compiled", _compiled), ("reference", _reference)):
            if backend is None:
                continue
            total = chunk * ((500 if quick else 2_000) if name == "compiled" else 50)
            pieces = _pieces(_stream(total), chunk)
            if progress:
                progress(f"node_step: {name}, messages of {chunk} rows")

            def run(backend: Any = backend, pieces: list = pieces) -> None:
                windows = (WindowStates(), WindowStates())
                flags = (False, False, False)
                for t, z in pieces:
                    step = backend.node_step(
                        t, z, (0.5, 10.0), 0.0, 1, windows, None, 0.6, 0.05, flags
                    )
                    windows, flags = step.windows, step.collapsed

            rows.append(_row("node_step", name, chunk, total, _best(run, repeats)))
    return rows


def run(progress: Callable[[str], None] | None = None, quick: bool = False) -> list[dict]:
    """Measure every kernel configuration; ``quick`` uses smaller arrays and one repeat."""
    rows = _stream_rows("integrate", quick, progress)
    rows += _stream_rows("resonance", quick, progress)
    rows += _mesh_rows(quick, progress)
    rows += _node_rows(quick, progress)
    return rows


if __name__ == "__main__":
    import json
    import sys

    result = run(progress=lambda line: print(line, file=sys.stderr), quick="--quick" in sys.argv)
    print(json.dumps({"kernels": result}, indent=1))
