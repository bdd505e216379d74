"""The NumPy reference of every kernel: the fallback backend, and the oracle of parity tests.

Per-sample work that does not depend on the running state (carrier phases, magnitudes,
coherence and resonance ratios) is vectorised with NumPy.  The exponential recursions are
inherently sequential: they run as a plain loop over Python floats that performs the same
floating-point operations, in the same order, as the Cython loop in ``_compiled.pyx``.  That
is what makes chunked and whole-array processing identical, and the two backends agree to
the last bit wherever NumPy and the C library round their functions the same way.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from kairos.kernels._checks import (
    KernelError,
    as_complex,
    as_real,
    as_times,
    check_hysteresis,
    check_lag,
    check_out,
    check_ring,
    finite,
    positive,
    same_length,
)
from kairos.kernels._state import (
    INTEGRATE_ZERO,
    KURAMOTO_ZERO,
    LOCKIN_ZERO,
    NODE_COLUMNS,
    NODE_WINDOWS,
    RESONANCE_ZERO,
    IntegrateState,
    KuramotoState,
    LockinState,
    NodeStep,
    Pooled,
    ResonanceState,
    WindowStates,
)

__all__ = [
    "KernelError",
    "carrier_cycles",
    "collapse",
    "integrate",
    "kuramoto",
    "lockin",
    "mesh",
    "node_step",
    "nodes_stale",
    "nodes_take",
    "resonance",
    "wrap_phase",
]

NS_PER_S = 1_000_000_000
PI = math.pi
TWO_PI = 2.0 * math.pi


def wrap_phase(x: np.ndarray | float) -> np.ndarray:
    """Angles wrapped into (−π, π]; values already inside are returned unchanged (exactly)."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        inside = (x > -PI) & (x <= PI)
        y = np.fmod(x + PI, TWO_PI)
        y = np.where(y <= 0.0, y + TWO_PI, y) - PI
        y = np.where(y <= -PI, PI, y)
    return np.where(inside, x, y)


def _wrap(x: float) -> float:
    """Scalar twin of :func:`wrap_phase`, for the sequential loops."""
    if -PI < x <= PI:
        return x
    if math.isnan(x) or math.isinf(x):
        return math.nan
    y = math.fmod(x + PI, TWO_PI)
    if y <= 0.0:
        y += TWO_PI
    y -= PI
    return PI if y <= -PI else y


# Veltkamp's constant 2^27 + 1: splits a double into two halves of at most 26 significant
# bits, whose pairwise products are exact (Dekker's two-product below).
_SPLIT = 134217729.0
# Frequencies smaller than this in magnitude are taken as 0 Hz: over the whole int64 range
# they turn less than 2^-866 cycles, and their products would reach the subnormal range where
# neither fma nor Dekker's product is exact (so the backends could differ in the last bit).
TINY_HZ = 2.0**-900


def _split(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = _SPLIT * x
    hi = c - (c - x)
    return hi, x - hi


def _two_prod(x: np.ndarray | float, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """p + e = x·y exactly (Dekker): the same p and e the compiled ``fma`` gives, bit for bit."""
    p = np.multiply(x, y)
    xh, xl = _split(np.asarray(x, dtype=np.float64))
    yh, yl = _split(np.asarray(y, dtype=np.float64))
    return p, ((xh * yh - p) + xh * yl + xl * yh) + xl * yl


def _two_sum(x: np.ndarray | float, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """s + e = x + y exactly (Knuth)."""
    s = np.add(x, y)
    v = s - x
    return s, (x - (s - v)) + (y - v)


def _carrier_terms(freq_hz: float) -> tuple[float, float, float]:
    """(f₁, g_hi, g_lo): f₁ = f mod 1 (exact) and g_hi + g_lo = (f mod 1e9)/1e9 to ~2^-106
    (docs/kernels.md): all of f·t/1e9 mod 1 that depends on f, computed once per call."""
    f = 0.0 if abs(freq_hz) < TINY_HZ else freq_hz
    f9 = math.fmod(f, 1e9)
    g_hi = f9 / 1e9
    m, em = _two_prod(g_hi, 1e9)
    g_lo = ((f9 - float(m)) - float(em)) / 1e9  # (f9 − m) − em: exactly f9 − g_hi·1e9
    return f - float(np.rint(f)), g_hi, g_lo


def _cycles(t: np.ndarray, freq_hz: float) -> np.ndarray:
    """frac(f·t/1e9) rounded once: the exact rational reduced mod 1, then rounded to nearest.

    With t = a·1e9 + b: f·t/1e9 ≡ f₁·a + g·b (mod 1), f₁ = f mod 1, g = (f mod 1e9)/1e9 held
    as g_hi + g_lo.  f₁·a and g_hi·b are formed exactly (two-products), g_lo·b (a few ulps of
    g_hi·b) is rounded; the parts are reduced and summed exactly (two-sums) and rounded once
    at the end.  Step for step as ``_compiled._cycles``.
    """
    f1, g_hi, g_lo = _carrier_terms(freq_hz)
    a, b = np.divmod(t, NS_PER_S)
    bf = b.astype(np.float64)
    p1, e1 = _two_prod(f1, a.astype(np.float64))
    h1 = p1 - np.rint(p1)
    p2, e2 = _two_prod(g_hi, bf)
    l2 = g_lo * bf + e2
    h2 = p2 - np.rint(p2)
    s1, t1 = _two_sum(h1, h2)
    s2, t2 = _two_sum(s1 - np.rint(s1), e1)
    s3, t3 = _two_sum(s2, l2)
    tail = (t1 + t2) + t3
    c = s3 + tail
    negative = c < 0.0
    if negative.any():
        u, eu = _two_sum(1.0, s3[negative])
        c[negative] = u + (eu + tail[negative])
    c[c >= 1.0] = 0.0
    return c + 0.0  # no −0.0


def carrier_cycles(times_ns: np.ndarray, freq_hz: float) -> np.ndarray:
    """frac(f·t) in [0, 1), exact: the exact f·t mod 1, rounded once (docs/kernels.md)."""
    return _cycles(as_times(times_ns), finite(freq_hz, "freq_hz"))


def _magnitude(re: np.ndarray, im: np.ndarray) -> np.ndarray:
    """|re + i·im| as the compiled ``_mag``: sqrt of the squares, hypot where they lose range."""
    with np.errstate(all="ignore"):
        squares = re * re + im * im
        out = np.sqrt(squares)
        bad = ~((squares > 1e-290) & (squares < 1e290))
        if bad.any():
            out[bad] = np.hypot(re[bad], im[bad])
    return out


def _alpha(d: int, tau: float) -> float:
    return -math.expm1(-(d * 1e-9) / tau)


def _fill(out: object, results: tuple, names: tuple[str, ...]) -> tuple:
    """Copy results into caller-supplied arrays (checked as the compiled backend checks them)."""
    arrays = check_out(out, results[0].shape[0], tuple(r.dtype.type for r in results), names)
    for array, result in zip(arrays, results, strict=True):
        array[:] = result
    return arrays


def _complex_array(re: list[float], im: list[float]) -> np.ndarray:
    out = np.empty(len(re), dtype=np.complex128)
    out.real = re
    out.imag = im
    return out


def lockin(
    times_ns: np.ndarray,
    x: np.ndarray,
    freq_hz: float,
    lp_cycles: float = 2.0,
    state: LockinState | None = None,
) -> tuple[np.ndarray, LockinState]:
    """Digital lock-in at ``freq_hz``: z_k = 2·lowpass(x_k·e^{−i2π·cycles_k}), τ = lp_cycles/f."""
    t = as_times(times_ns)
    xs = as_real(x, "x")
    same_length(t, xs, "times_ns and x")
    f = positive(finite(freq_hz, "freq_hz"), "freq_hz")
    tau = positive(lp_cycles, "lp_cycles") / f
    started, t_prev, lp = state if state is not None else LOCKIN_ZERO
    started, t_prev = bool(started), int(t_prev)
    lr, li = float(lp.real), float(lp.imag)
    theta = TWO_PI * _cycles(t, f)
    yr = (xs * np.cos(theta)).tolist()
    yi = (-(xs * np.sin(theta))).tolist()
    out_r: list[float] = []
    out_i: list[float] = []
    last, a, b = -1, 0.0, 1.0
    for k, tk in enumerate(t.tolist()):
        if not started:
            started, t_prev = True, tk
        else:
            d = tk - t_prev
            if d > 0:
                t_prev = tk
                if d != last:
                    last, a = d, _alpha(d, tau)
                    b = 1.0 - a
                lr = a * yr[k] + b * lr
                li = a * yi[k] + b * li
        out_r.append(2.0 * lr)
        out_i.append(2.0 * li)
    return _complex_array(out_r, out_i), LockinState(started, t_prev, complex(lr, li))


def integrate(
    times_ns: np.ndarray,
    z: np.ndarray,
    tau_s: float,
    state: IntegrateState | None = None,
    out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, IntegrateState]:
    """Time-aware exponential means s (of z) and m (of |z|) over τ, and coherence C = |s|/m."""
    t = as_times(times_ns)
    zs = as_complex(z, "z")
    same_length(t, zs, "times_ns and z")
    tau = positive(tau_s, "tau_s")
    started, t_prev, s, m = state if state is not None else INTEGRATE_ZERO
    started, t_prev, m = bool(started), int(t_prev), float(m)
    sr, si = float(s.real), float(s.imag)
    zr = zs.real.tolist()
    zi = zs.imag.tolist()
    mag = _magnitude(zs.real, zs.imag).tolist()
    out_r: list[float] = []
    out_i: list[float] = []
    out_m: list[float] = []
    last, a, b = -1, 0.0, 1.0
    for k, tk in enumerate(t.tolist()):
        if not started:
            started, t_prev = True, tk
        else:
            d = tk - t_prev
            if d > 0:
                t_prev = tk
                if d != last:
                    last, a = d, _alpha(d, tau)
                    b = 1.0 - a
                sr = a * zr[k] + b * sr
                si = a * zi[k] + b * si
                m = a * mag[k] + b * m
        out_r.append(sr)
        out_i.append(si)
        out_m.append(m)
    s_out = _complex_array(out_r, out_i)
    m_out = np.array(out_m, dtype=np.float64)
    c_out = np.zeros(len(out_m), dtype=np.float64)
    with np.errstate(all="ignore"):
        np.divide(_magnitude(s_out.real, s_out.imag), m_out, out=c_out, where=m_out > 0.0)
    c_out[c_out > 1.0] = 1.0
    if out is not None:
        s_out, m_out, c_out = _fill(out, (s_out, m_out, c_out), ("s", "m", "c"))
    return s_out, m_out, c_out, IntegrateState(started, t_prev, complex(sr, si), m)


def resonance(
    times_ns: np.ndarray,
    z: np.ndarray,
    tau_s: float,
    omega_hz: float = 0.0,
    lag: int = 1,
    state: ResonanceState | None = None,
    out: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, ResonanceState]:
    """Streaming cyclic autocorrelation T of the phase velocity at lag L, energies, R."""
    t = as_times(times_ns)
    zs = as_complex(z, "z")
    same_length(t, zs, "times_ns and z")
    tau = positive(tau_s, "tau_s")
    omega = finite(omega_hz, "omega_hz")
    lag = check_lag(lag)
    started, t_prev, zp, ring0, tt, e, e1 = state if state is not None else RESONANCE_ZERO
    check_ring(ring0, lag)
    started, t_prev, e, e1 = bool(started), int(t_prev), float(e), float(e1)
    pr, pi = float(zp.real), float(zp.imag)
    tr, ti = float(tt.real), float(tt.imag)
    ring = deque((float(v.real), float(v.imag)) for v in ring0)
    n = t.shape[0]
    if omega == 0.0:
        cos_w, sin_w = [1.0] * n, [0.0] * n
    else:
        angle = TWO_PI * _cycles(t, omega)
        cos_w, sin_w = np.cos(angle).tolist(), np.sin(angle).tolist()
    zr = zs.real.tolist()
    zi = zs.imag.tolist()
    out_r: list[float] = []
    out_i: list[float] = []
    out_e: list[float] = []
    out_e1: list[float] = []
    last, a, b = -1, 0.0, 1.0
    for k, tk in enumerate(t.tolist()):
        if not started:
            started, t_prev, pr, pi = True, tk, zr[k], zi[k]
        else:
            d = tk - t_prev
            if d > 0:
                t_prev = tk
                dt = d * 1e-9
                vr = (zr[k] - pr) / dt
                vi = (zi[k] - pi) / dt
                pr, pi = zr[k], zi[k]
                if len(ring) == lag:
                    o_r, o_i = ring.popleft()
                    if d != last:
                        last, a = d, _alpha(d, tau)
                        b = 1.0 - a
                    qr = vr * o_r + vi * o_i
                    qi = vi * o_r - vr * o_i
                    xr = qr * cos_w[k] - qi * sin_w[k]
                    xi = qr * sin_w[k] + qi * cos_w[k]
                    tr = a * xr + b * tr
                    ti = a * xi + b * ti
                    e = a * (vr * vr + vi * vi) + b * e
                    e1 = a * (o_r * o_r + o_i * o_i) + b * e1
                ring.append((vr, vi))
        out_r.append(tr)
        out_i.append(ti)
        out_e.append(e)
        out_e1.append(e1)
    t_out = _complex_array(out_r, out_i)
    e_out = np.array(out_e, dtype=np.float64)
    e1_out = np.array(out_e1, dtype=np.float64)
    r_out = np.zeros(n, dtype=np.float64)
    with np.errstate(all="ignore"):
        norm = _magnitude(t_out.real, t_out.imag)
        ok = (e_out > 0.0) & (e1_out > 0.0)
        r_out[ok] = (norm[ok] / e_out[ok]) * (norm[ok] / e1_out[ok])
    r_out[r_out > 1.0] = 1.0
    if out is not None:
        t_out, e_out, e1_out, r_out = _fill(
            out, (t_out, e_out, e1_out, r_out), ("t", "e", "e_lag", "r")
        )
    final = ResonanceState(
        started,
        t_prev,
        complex(pr, pi),
        tuple(complex(vr, vi) for vr, vi in ring),
        complex(tr, ti),
        e,
        e1,
    )
    return t_out, e_out, e1_out, r_out, final


def collapse(
    r: np.ndarray, threshold: float, hysteresis: float, state: bool = False
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Thresholded state with hysteresis: enter at r ≥ threshold, leave at r < threshold − h."""
    rs = as_real(r, "r")
    low = float(threshold) - check_hysteresis(hysteresis)
    with np.errstate(invalid="ignore"):
        event = np.where(rs >= float(threshold), 1, np.where(rs < low, -1, 0))
    index = np.where(event != 0, np.arange(rs.shape[0]), -1)
    np.maximum.accumulate(index, out=index)
    collapsed = np.where(index >= 0, event[index] > 0, bool(state))
    previous = np.concatenate(([bool(state)], collapsed[:-1])) if rs.shape[0] else collapsed
    changes = np.flatnonzero(collapsed != previous).astype(np.int64)
    final = bool(collapsed[-1]) if rs.shape[0] else bool(state)
    return collapsed.astype(np.uint8), changes, final


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is not > 0, clamped to [0, 1] (a
    quotient beyond the float range is 1, as the compiled loop's)."""
    out = np.zeros(numerator.shape)
    with np.errstate(over="ignore"):
        np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out.clip(0.0, 1.0, out=out)


def node_step(
    times_ns: np.ndarray,
    z: np.ndarray,
    taus: tuple[float, float],
    omega_hz: float,
    lag: int,
    windows: tuple[WindowStates, WindowStates],
    others: tuple[Pooled, Pooled] | None,
    threshold: float,
    hysteresis: float,
    collapsed: tuple[bool, bool, bool],
) -> NodeStep:
    """One input's phasors through both windows of its node: the node's rows and events.

    Per window, the input's phasors are integrated (s, m) and their resonance taken (T, E,
    E′); the node pools them with what its other inputs last contributed (``others``: None
    for a node of one input, where nothing is added, not even zero), then C = |Σs| / Σm,
    R = |ΣT|² / (ΣE · ΣE′) and the window's collapse flag.  The pair pools both windows:
    T_sync = (T_fast + T_slow) / 2, its resonance and flag, and Δ = | |T_slow| − |T_fast| |.
    |·| is the kernels' magnitude (docs/kernels.md, "Magnitudes"); docs/design.md §5.1–5.4
    state each formula."""
    t = as_times(times_ns)
    zc = as_complex(z, "z")
    same_length(t, zc, "times_ns and z")
    columns: dict[str, np.ndarray] = {}
    changes = []
    flags = []
    states = []
    pooled_t, pooled_e, pooled_e_lag = [], [], []
    for k, window in enumerate(NODE_WINDOWS):
        s, m, _c, integrate_state = integrate(t, zc, taus[k], windows[k].integrate)
        tw, e, e_lag, _r, resonance_state = resonance(
            t, zc, taus[k], omega_hz, lag, windows[k].resonance
        )
        states.append(WindowStates(integrate_state, resonance_state))
        if others is not None:
            s, m = s + others[k].s, m + others[k].m
            tw, e, e_lag = tw + others[k].t, e + others[k].e, e_lag + others[k].e_lag
        norm = _magnitude(tw.real, tw.imag)
        r = _ratio(norm * norm, e * e_lag)
        flag, changed, final = collapse(r, threshold, hysteresis, collapsed[k])
        columns[f"phase_{window}"] = np.angle(s)
        columns[f"coherence_{window}"] = _ratio(_magnitude(s.real, s.imag), m)
        columns[f"resonance_{window}"] = r
        columns[f"collapsed_{window}"] = flag.astype(np.float64)
        pooled_t.append(tw)
        pooled_e.append(e)
        pooled_e_lag.append(e_lag)
        changes.append(changed)
        flags.append(final)
    t_sum = pooled_t[0] + pooled_t[1]
    norm = _magnitude(t_sum.real, t_sum.imag)
    pair = _ratio(norm * norm, (pooled_e[0] + pooled_e[1]) * (pooled_e_lag[0] + pooled_e_lag[1]))
    flag, changed, final = collapse(pair, threshold, hysteresis, collapsed[2])
    columns["tsync_re"] = t_sum.real / 2
    columns["tsync_im"] = t_sum.imag / 2
    slow, fast = pooled_t[1], pooled_t[0]
    columns["delta"] = np.abs(_magnitude(slow.real, slow.imag) - _magnitude(fast.real, fast.imag))
    columns["resonance_pair"] = pair
    columns["collapsed_pair"] = flag.astype(np.float64)
    changes.append(changed)
    flags.append(final)
    rows = np.empty((t.shape[0], len(NODE_COLUMNS)))
    for i, name in enumerate(NODE_COLUMNS):
        rows[:, i] = columns[name]
    return NodeStep(
        rows,
        (changes[0], changes[1], changes[2]),
        (flags[0], flags[1], flags[2]),
        (states[0], states[1]),
    )


def _total(values: np.ndarray) -> float:
    """Left-to-right sum (as the compiled loop does), not NumPy's pairwise sum."""
    return float(np.add.accumulate(values)[-1])


def mesh(
    coherence: np.ndarray, phase: np.ndarray, weight: np.ndarray
) -> tuple[complex, float, float, float, np.ndarray]:
    """Global phasor G, mesh phase ψ, global coherence, order parameter r, offsets ΔP."""
    c = as_real(coherence, "coherence")
    phi = as_real(phase, "phase")
    w = as_real(weight, "weight")
    same_length(c, phi, "coherence and phase")
    same_length(c, w, "coherence and weight")
    n = c.shape[0]
    if n == 0:
        return 0j, 0.0, 0.0, 0.0, np.zeros(0, dtype=np.float64)
    sw = _total(w)
    if sw == 0.0:
        return 0j, 0.0, 0.0, 0.0, np.zeros(n, dtype=np.float64)
    with np.errstate(all="ignore"):
        wc = w * c
        cos_p, sin_p = np.cos(phi), np.sin(phi)
        gr = _total(wc * cos_p) / sw
        gi = _total(wc * sin_p) / sw
        gc = _total(wc) / sw
        r = float(np.hypot(_total(w * cos_p), _total(w * sin_p))) / sw
        # a zero phasor has no direction: ψ = 0 (atan2 would follow the sign of zero)
        psi = math.atan2(gi, gr) if (gr != 0.0 or gi != 0.0) else 0.0
        delta = wrap_phase(psi - phi)
    if r > 1.0:
        r = 1.0
    return complex(gr, gi), psi, gc, r, delta


def kuramoto(
    times_ns: np.ndarray,
    omega_hz: float,
    coupling: float,
    r: float,
    psi: float,
    state: KuramotoState | None = None,
    theta0: float = 0.0,
) -> tuple[np.ndarray, KuramotoState]:
    """Advance a Kuramoto oscillator: θ_k = wrap(θ + (2π·f + K·r·sin(ψ − θ))·Δt_k)."""
    t = as_times(times_ns)
    w = TWO_PI * finite(omega_hz, "omega_hz")
    kr = finite(coupling, "coupling") * finite(r, "r")
    psi = finite(psi, "psi")
    theta0 = finite(theta0, "theta0")
    started, t_prev, theta = state if state is not None else KURAMOTO_ZERO
    started, t_prev, theta = bool(started), int(t_prev), float(theta)
    out: list[float] = []
    for tk in t.tolist():
        if not started:
            started, t_prev, theta = True, tk, _wrap(float(theta0))
        else:
            d = tk - t_prev
            if d > 0:
                t_prev = tk
                theta = _wrap(theta + (w + kr * math.sin(psi - theta)) * (d * 1e-9))
        out.append(theta)
    return np.array(out, dtype=np.float64), KuramotoState(started, t_prev, theta)


def nodes_take(
    node: np.ndarray,
    times_ns: np.ndarray,
    values: np.ndarray,
    now_ns: int,
    coherence: np.ndarray,
    phase: np.ndarray,
    resonance: np.ndarray,
    collapsed: np.ndarray,
    last_t: np.ndarray,
    heard: np.ndarray,
    last_heard: np.ndarray,
    period: np.ndarray,
    heard_ns: np.ndarray | None = None,
) -> None:
    """Fold one accepted row per message into the sync's per-node state arrays, in order
    (see the compiled twin): message by message, as the arrays must see repeated nodes.
    Each is heard at ``now_ns``, or at ``heard_ns[i]`` when given."""
    node = np.ascontiguousarray(node, dtype=np.int64)
    times_ns = np.ascontiguousarray(times_ns, dtype=np.int64)
    values = np.ascontiguousarray(values, dtype=np.float64)
    nodes = coherence.shape[0]
    same_length(node, times_ns, "node and times_ns")
    same_length(node, values, "node and values")
    if heard_ns is None:
        heard_at = np.full(len(node), now_ns, dtype=np.int64)
    else:
        heard_at = np.ascontiguousarray(heard_ns, dtype=np.int64)
        same_length(node, heard_at, "node and heard_ns")
    if len(node) and (values.ndim != 2 or values.shape[1] != 4):
        raise KernelError(f"values must have 4 columns, not {values.shape[1:]}")
    for name, array in (
        ("phase", phase),
        ("resonance", resonance),
        ("collapsed", collapsed),
        ("last_t", last_t),
        ("heard", heard),
        ("last_heard", last_heard),
        ("period", period),
    ):
        same_length(coherence, array, f"coherence and {name}")
    if len(node) and (node.min() < 0 or node.max() >= nodes):
        bad = node[(node < 0) | (node >= nodes)][0]
        raise KernelError(f"node index {bad} outside 0..{nodes - 1}")
    for i in range(len(node)):
        k = node[i]
        coherence[k], phase[k], resonance[k] = values[i, 0], values[i, 1], values[i, 2]
        collapsed[k] = 1 if values[i, 3] != 0.0 else 0
        last_t[k] = times_ns[i]
        at = int(heard_at[i])
        if heard[k]:
            interval = np.float64(at - int(last_heard[k]))
            if period[k] == 0.0:
                period[k] = interval
            else:
                period[k] = np.float64(0.8) * period[k] + np.float64(0.2) * interval
        heard[k] = 1
        last_heard[k] = at


def nodes_stale(
    heard: np.ndarray,
    last_heard: np.ndarray,
    period: np.ndarray,
    now_ns: int,
    min_stale_ns: int,
    periods: float,
) -> np.ndarray:
    """Per node: never heard, or silent longer than max(min_stale_ns, periods · period)."""
    heard = np.ascontiguousarray(heard, dtype=np.uint8)
    last_heard = np.ascontiguousarray(last_heard, dtype=np.int64)
    period = np.ascontiguousarray(period, dtype=np.float64)
    same_length(heard, last_heard, "heard and last_heard")
    same_length(heard, period, "heard and period")
    limit = np.float64(periods) * period
    limit = np.where(limit > np.float64(min_stale_ns), limit, np.float64(min_stale_ns))
    silent = (np.int64(now_ns) - last_heard).astype(np.float64)
    return ((heard == 0) | (silent > limit)).astype(np.uint8)
