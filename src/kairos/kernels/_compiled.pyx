# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
# distutils: extra_compile_args = -ffp-contract=off
"""The compiled kernels: typed memoryviews, GIL released in every per-sample loop.

Each function performs, sample by sample, the same floating-point operations in the same
order as ``_reference.py`` (``-ffp-contract=off`` keeps the compiler from fusing them), so
the two backends agree to rounding and chunked processing equals one pass exactly.  Inputs
that are already contiguous arrays of the right dtype are used in place; anything else goes
through the shared checks in ``_checks.py`` (the slow path).
"""

from cpython.complex cimport PyComplex_FromDoubles
from libc.math cimport atan2, cos, expm1, floor, fmod, hypot, isfinite, isinf, isnan, sin, sqrt
from libc.math cimport fabs, fma, rint  # the exact carrier (_cycles)
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc

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
)
from kairos.kernels._state import (
    NODE_COLUMNS,
    NODE_WINDOWS,
    IntegrateState,
    KuramotoState,
    LockinState,
    NodeStep,
    ResonanceState,
    WindowStates,
)

cdef double PI = 3.141592653589793
cdef double TWO_PI = 2.0 * 3.141592653589793
cdef int64_t NS_PER_S = 1000000000

_empty = np.empty
_zeros = np.zeros
_F8 = np.float64
_C16 = np.complex128
_I8 = np.int64
_U1 = np.uint8
_new_tuple = tuple.__new__


# ---------------------------------------------------------------- inputs (fast path first)

cdef const int64_t[::1] _times(object values):
    cdef const int64_t[::1] view
    try:
        view = values
    except (TypeError, ValueError):
        view = as_times(values)
    return view


cdef const double[::1] _real(object values, str name):
    cdef const double[::1] view
    try:
        view = values
    except (TypeError, ValueError):
        view = as_real(values, name)
    return view


cdef const double complex[::1] _complex(object values, str name):
    cdef const double complex[::1] view
    try:
        view = values
    except (TypeError, ValueError):
        view = as_complex(values, name)
    return view


cdef inline void _same(Py_ssize_t a, Py_ssize_t b, str names) except *:
    if a != b:
        raise KernelError(f"{names} differ in length: {a} != {b}")


cdef inline double* _dptr(const double complex[::1] view) noexcept nogil:
    # C99 and C++ guarantee a double complex is laid out as two doubles (re, im)
    if view.shape[0] == 0:
        return NULL
    return <double*> &view[0]


# ---------------------------------------------------------------- per-sample helpers

cdef inline double _wrap(double x) noexcept nogil:
    cdef double y
    if x > -PI and x <= PI:
        return x
    if isnan(x) or isinf(x):
        return x - x
    y = fmod(x + PI, TWO_PI)
    if y <= 0.0:
        y += TWO_PI
    y -= PI
    if y <= -PI:
        y = PI
    return y


cdef inline double _mag(double x, double y) noexcept nogil:
    # sqrt(x² + y²) is ~10x faster than libm hypot; hypot only where the squares lose range
    cdef double r2 = x * x + y * y
    if r2 > 1e-290 and r2 < 1e290:
        return sqrt(r2)
    return hypot(x, y)


cdef double TINY_HZ = 2.0 ** -900  # |f| below this is 0 Hz (see _reference.TINY_HZ)


cdef struct _Carrier:
    # what frac(f·t/1e9) needs of f, computed once per call (f1 = f mod 1, g_hi + g_lo =
    # (f mod 1e9)/1e9 to ~2^-106), and the part of the last stamp's second a (h1 + e1 =
    # f1·a mod 1, exactly), which successive stamps mostly share
    double f1
    double g_hi
    double g_lo
    int64_t a
    double h1
    double e1


cdef inline _Carrier _carrier(double f) noexcept nogil:
    cdef _Carrier c
    cdef double f9
    if fabs(f) < TINY_HZ:
        f = 0.0
    f9 = fmod(f, 1e9)
    c.f1 = f - rint(f)
    c.g_hi = f9 / 1e9
    c.g_lo = fma(-c.g_hi, 1e9, f9) / 1e9  # the remainder f9 − g_hi·1e9 is exact
    c.a = -(1 << 62)  # no stamp's second: t / 1e9 stays within ±9.3e9
    c.h1 = 0.0
    c.e1 = 0.0
    return c


cdef inline double _cycles(_Carrier* cr, int64_t t) noexcept nogil:
    # frac(f·t/1e9) rounded once: with t = a·1e9 + b, f·t/1e9 ≡ f1·a + (g_hi + g_lo)·b; f1·a
    # and g_hi·b are exact through fma (the same p and e as the reference's Dekker product),
    # the parts are summed exactly and rounded at the end.  Step for step as _reference._cycles.
    cdef int64_t a = t / NS_PER_S
    cdef int64_t b = t - a * NS_PER_S
    cdef double p1, h1, p2, e2, l2, h2, s1, t1, s2, t2, s3, t3, v, tail, c
    if b < 0:
        b += NS_PER_S
        a -= 1
    if a != cr.a:
        cr.a = a
        p1 = cr.f1 * <double> a
        cr.e1 = fma(cr.f1, <double> a, -p1)
        cr.h1 = p1 - rint(p1)
    h1 = cr.h1
    p2 = cr.g_hi * <double> b
    e2 = fma(cr.g_hi, <double> b, -p2)
    l2 = cr.g_lo * <double> b + e2
    h2 = p2 - rint(p2)
    s1 = h1 + h2
    v = s1 - h1
    t1 = (h1 - (s1 - v)) + (h2 - v)
    s1 = s1 - rint(s1)
    s2 = s1 + cr.e1
    v = s2 - s1
    t2 = (s1 - (s2 - v)) + (cr.e1 - v)
    s3 = s2 + l2
    v = s3 - s2
    t3 = (s2 - (s3 - v)) + (l2 - v)
    tail = (t1 + t2) + t3
    c = s3 + tail
    if c < 0.0:
        s1 = 1.0 + s3
        v = s1 - 1.0
        c = s1 + (((1.0 - (s1 - v)) + (s3 - v)) + tail)
    if c >= 1.0:
        c = 0.0
    return c + 0.0


# ---------------------------------------------------------------- kernels

def wrap_phase(x):
    """Angles wrapped into (−π, π]; values already inside are returned unchanged (exactly)."""
    cdef const double[::1] xs = as_real(np.atleast_1d(np.asarray(x, dtype=np.float64)), "x")
    cdef Py_ssize_t n = xs.shape[0], k
    out = _empty(n, dtype=_F8)
    cdef double[::1] o = out
    with nogil:
        for k in range(n):
            o[k] = _wrap(xs[k])
    return out.reshape(np.shape(x))


def carrier_cycles(times_ns, double freq_hz):
    """frac(f·t) in [0, 1), exact: the exact f·t mod 1, rounded once (docs/kernels.md)."""
    cdef const int64_t[::1] t = _times(times_ns)
    finite(freq_hz, "freq_hz")
    cdef Py_ssize_t n = t.shape[0], k
    cdef _Carrier carrier = _carrier(freq_hz)
    out = _empty(n, dtype=_F8)
    cdef double[::1] o = out
    with nogil:
        for k in range(n):
            o[k] = _cycles(&carrier, t[k])
    return out


def lockin(times_ns, x, double freq_hz, double lp_cycles=2.0, state=None):
    """Digital lock-in at ``freq_hz``: z_k = 2·lowpass(x_k·e^{−i2π·cycles_k}), τ = lp_cycles/f."""
    cdef const int64_t[::1] t = _times(times_ns)
    cdef const double[::1] xs = _real(x, "x")
    cdef Py_ssize_t n = t.shape[0], k
    _same(n, xs.shape[0], "times_ns and x")
    positive(finite(freq_hz, "freq_hz"), "freq_hz")
    cdef double tau = positive(lp_cycles, "lp_cycles") / freq_hz
    cdef bint started = False
    cdef int64_t t_prev = 0, d, last = -1, tk
    cdef double complex lp0 = 0
    if state is not None:
        started, t_prev, lp0 = state[0], state[1], state[2]
    cdef double lr = lp0.real, li = lp0.imag
    cdef _Carrier carrier = _carrier(freq_hz)
    cdef double a = 0.0, b = 1.0, theta, yr, yi
    out = _empty(n, dtype=_C16)
    cdef double complex[::1] ov = out
    cdef double* o = _dptr(ov)
    with nogil:
        for k in range(n):
            tk = t[k]
            if not started:
                started = True
                t_prev = tk
            else:
                d = tk - t_prev
                if d > 0:
                    t_prev = tk
                    if d != last:
                        last = d
                        a = -expm1(-(<double> d * 1e-9) / tau)
                        b = 1.0 - a
                    theta = TWO_PI * _cycles(&carrier, tk)
                    yr = xs[k] * cos(theta)
                    yi = -(xs[k] * sin(theta))
                    lr = a * yr + b * lr
                    li = a * yi + b * li
            o[2 * k] = 2.0 * lr
            o[2 * k + 1] = 2.0 * li
    return out, _new_tuple(LockinState, (started, t_prev, PyComplex_FromDoubles(lr, li)))


def integrate(times_ns, z, double tau_s, state=None, out=None):
    """Time-aware exponential means s (of z) and m (of |z|) over τ, and coherence C = |s|/m."""
    cdef const int64_t[::1] t = _times(times_ns)
    cdef const double complex[::1] zv = _complex(z, "z")
    cdef Py_ssize_t n = t.shape[0], k
    _same(n, zv.shape[0], "times_ns and z")
    if not tau_s > 0.0:
        positive(tau_s, "tau_s")
    cdef bint started = False
    cdef int64_t t_prev = 0, d, last = -1, tk
    cdef double complex s0 = 0
    cdef double m = 0.0
    if state is not None:
        started, t_prev, s0, m = state[0], state[1], state[2], state[3]
    cdef double sr = s0.real, si = s0.imag
    cdef double a = 0.0, b = 1.0, mag, c
    if out is None:
        s_out = _empty(n, dtype=_C16)
        m_out = _empty(n, dtype=_F8)
        c_out = _empty(n, dtype=_F8)
    else:
        s_out, m_out, c_out = check_out(out, n, (_C16, _F8, _F8), ("s", "m", "c"))
    cdef double complex[::1] sv = s_out
    cdef double[::1] mv = m_out
    cdef double[::1] cv = c_out
    cdef const double* zp = _dptr(zv)
    cdef double* sp = _dptr(sv)
    with nogil:
        for k in range(n):
            tk = t[k]
            if not started:
                started = True
                t_prev = tk
            else:
                d = tk - t_prev
                if d > 0:
                    t_prev = tk
                    if d != last:
                        last = d
                        a = -expm1(-(<double> d * 1e-9) / tau_s)
                        b = 1.0 - a
                    sr = a * zp[2 * k] + b * sr
                    si = a * zp[2 * k + 1] + b * si
                    m = a * _mag(zp[2 * k], zp[2 * k + 1]) + b * m
            sp[2 * k] = sr
            sp[2 * k + 1] = si
            mv[k] = m
            if m > 0.0:
                c = _mag(sr, si) / m
                if c > 1.0:
                    c = 1.0
            else:
                c = 0.0
            cv[k] = c
    final = _new_tuple(
        IntegrateState, (started, t_prev, PyComplex_FromDoubles(sr, si), m)
    )
    return s_out, m_out, c_out, final


def resonance(times_ns, z, double tau_s, double omega_hz=0.0, lag=1, state=None, out=None):
    """Streaming cyclic autocorrelation T of the phase velocity at lag L, energies, R."""
    cdef const int64_t[::1] t = _times(times_ns)
    cdef const double complex[::1] zv = _complex(z, "z")
    cdef Py_ssize_t n = t.shape[0], k, i
    _same(n, zv.shape[0], "times_ns and z")
    positive(tau_s, "tau_s")
    finite(omega_hz, "omega_hz")
    cdef Py_ssize_t L = check_lag(lag)
    cdef bint started = False
    cdef int64_t t_prev = 0, d, last = -1, tk
    cdef double complex zp0 = 0, t0 = 0
    cdef double e = 0.0, e1 = 0.0
    ring0 = ()
    if state is not None:
        started, t_prev, zp0, ring0, t0, e, e1 = state
        check_ring(ring0, L)
    cdef double pr = zp0.real, pi_ = zp0.imag, tr = t0.real, ti = t0.imag
    cdef double* ring = <double*> malloc(2 * L * sizeof(double))
    if ring == NULL:
        raise MemoryError(f"resonance: cannot allocate a ring of {L} velocities")
    cdef Py_ssize_t head = 0, count = 0
    cdef double complex v0
    for v in ring0:
        v0 = v
        ring[2 * count] = v0.real
        ring[2 * count + 1] = v0.imag
        count += 1
    cdef _Carrier carrier = _carrier(omega_hz)
    cdef bint rotate = omega_hz != 0.0
    cdef double a = 0.0, b = 1.0, dt, vr, vi, o_r, o_i, qr, qi, xr, xi, cw = 1.0, sw = 0.0
    cdef double angle, norm, r
    if out is None:
        t_out = _empty(n, dtype=_C16)
        e_out = _empty(n, dtype=_F8)
        e1_out = _empty(n, dtype=_F8)
        r_out = _empty(n, dtype=_F8)
    else:
        t_out, e_out, e1_out, r_out = check_out(
            out, n, (_C16, _F8, _F8, _F8), ("t", "e", "e_lag", "r")
        )
    cdef double complex[::1] tv = t_out
    cdef double[::1] ev = e_out
    cdef double[::1] e1v = e1_out
    cdef double[::1] rv = r_out
    cdef const double* zq = _dptr(zv)
    cdef double* tq = _dptr(tv)
    try:
        with nogil:
            for k in range(n):
                tk = t[k]
                if not started:
                    started = True
                    t_prev = tk
                    pr = zq[2 * k]
                    pi_ = zq[2 * k + 1]
                else:
                    d = tk - t_prev
                    if d > 0:
                        t_prev = tk
                        dt = <double> d * 1e-9
                        vr = (zq[2 * k] - pr) / dt
                        vi = (zq[2 * k + 1] - pi_) / dt
                        pr = zq[2 * k]
                        pi_ = zq[2 * k + 1]
                        if count == L:
                            o_r = ring[2 * head]
                            o_i = ring[2 * head + 1]
                            ring[2 * head] = vr
                            ring[2 * head + 1] = vi
                            head = head + 1
                            if head == L:
                                head = 0
                            if d != last:
                                last = d
                                a = -expm1(-dt / tau_s)
                                b = 1.0 - a
                            if rotate:
                                angle = TWO_PI * _cycles(&carrier, tk)
                                cw = cos(angle)
                                sw = sin(angle)
                            qr = vr * o_r + vi * o_i
                            qi = vi * o_r - vr * o_i
                            xr = qr * cw - qi * sw
                            xi = qr * sw + qi * cw
                            tr = a * xr + b * tr
                            ti = a * xi + b * ti
                            e = a * (vr * vr + vi * vi) + b * e
                            e1 = a * (o_r * o_r + o_i * o_i) + b * e1
                        else:
                            i = head + count
                            if i >= L:
                                i -= L
                            ring[2 * i] = vr
                            ring[2 * i + 1] = vi
                            count += 1
                tq[2 * k] = tr
                tq[2 * k + 1] = ti
                ev[k] = e
                e1v[k] = e1
                if e > 0.0 and e1 > 0.0:
                    norm = _mag(tr, ti)
                    r = (norm / e) * (norm / e1)
                    if r > 1.0:
                        r = 1.0
                else:
                    r = 0.0
                rv[k] = r
        velocities = []
        for k in range(count):
            i = head + k
            if i >= L:
                i -= L
            velocities.append(PyComplex_FromDoubles(ring[2 * i], ring[2 * i + 1]))
    finally:
        free(ring)
    final = _new_tuple(
        ResonanceState,
        (
            started,
            t_prev,
            PyComplex_FromDoubles(pr, pi_),
            tuple(velocities),
            PyComplex_FromDoubles(tr, ti),
            e,
            e1,
        ),
    )
    return t_out, e_out, e1_out, r_out, final


def collapse(r, double threshold, double hysteresis, state=False):
    """Thresholded state with hysteresis: enter at r ≥ threshold, leave at r < threshold − h."""
    cdef const double[::1] rs = _real(r, "r")
    cdef double low = threshold - check_hysteresis(hysteresis)
    cdef Py_ssize_t n = rs.shape[0], k, changes = 0
    cdef bint on = bool(state), initial = on
    out = _empty(n, dtype=_U1)
    cdef unsigned char[::1] o = out
    with nogil:
        for k in range(n):
            if on:
                if rs[k] < low:
                    on = False
                    changes += 1
            elif rs[k] >= threshold:
                on = True
                changes += 1
            o[k] = on
    index = _empty(changes, dtype=_I8)
    cdef int64_t[::1] ix = index
    cdef Py_ssize_t j = 0
    with nogil:
        on = initial
        for k in range(n):
            if o[k] != on:
                on = o[k]
                ix[j] = k
                j += 1
    return out, index, bool(on)


# where node_step writes each column of a row (NODE_COLUMNS is the one list of them)
cdef Py_ssize_t NCOLUMNS = len(NODE_COLUMNS)
cdef Py_ssize_t[2] COL_PHASE, COL_COHERENCE, COL_RESONANCE, COL_COLLAPSED
for _w, _window in enumerate(NODE_WINDOWS):
    COL_PHASE[_w] = NODE_COLUMNS.index(f"phase_{_window}")
    COL_COHERENCE[_w] = NODE_COLUMNS.index(f"coherence_{_window}")
    COL_RESONANCE[_w] = NODE_COLUMNS.index(f"resonance_{_window}")
    COL_COLLAPSED[_w] = NODE_COLUMNS.index(f"collapsed_{_window}")
cdef Py_ssize_t COL_TSYNC_RE = NODE_COLUMNS.index("tsync_re")
cdef Py_ssize_t COL_TSYNC_IM = NODE_COLUMNS.index("tsync_im")
cdef Py_ssize_t COL_DELTA = NODE_COLUMNS.index("delta")
cdef Py_ssize_t COL_RESONANCE_PAIR = NODE_COLUMNS.index("resonance_pair")
cdef Py_ssize_t COL_COLLAPSED_PAIR = NODE_COLUMNS.index("collapsed_pair")


cdef inline double _ratio(double numerator, double denominator) noexcept nogil:
    # as the reference's _ratio: 0 unless the denominator is > 0, clamped to [0, 1]
    cdef double r
    if not denominator > 0.0:
        return 0.0
    r = numerator / denominator
    if r > 1.0:
        return 1.0
    if r < 0.0:
        return 0.0
    return r


cdef inline bint _flag(bint on, double r, double threshold, double low) noexcept nogil:
    # one step of collapse(): enter at r >= threshold, leave at r < threshold - hysteresis
    if on:
        return not r < low
    return r >= threshold


def node_step(times_ns, z, taus, double omega_hz, lag, windows, others, double threshold,
              double hysteresis, collapsed):
    """One input's phasors through both windows of its node: the node's rows and events
    (the reference's ``node_step`` says what each column is)."""
    cdef const int64_t[::1] t = _times(times_ns)
    cdef const double complex[::1] zv = _complex(z, "z")
    cdef Py_ssize_t n = t.shape[0], k, w
    _same(n, zv.shape[0], "times_ns and z")
    cdef double low = threshold - check_hysteresis(hysteresis)
    # each window's own running means and resonance, from the kernels above
    cdef double* sp[2]
    cdef double* mp[2]
    cdef double* tp[2]
    cdef double* ep[2]
    cdef double* e1p[2]
    cdef double complex[::1] sv, tv
    cdef double[::1] mv, ev, e1v
    keep = []  # the window kernels' arrays, alive while the pointers below read them
    states = []
    for w in range(2):
        s_w, m_w, _c, integrate_state = integrate(times_ns, z, taus[w], windows[w].integrate)
        t_w, e_w, e1_w, _r, resonance_state = resonance(
            times_ns, z, taus[w], omega_hz, lag, windows[w].resonance
        )
        states.append(_new_tuple(WindowStates, (integrate_state, resonance_state)))
        keep.append((s_w, m_w, t_w, e_w, e1_w))
        sv, mv, tv, ev, e1v = s_w, m_w, t_w, e_w, e1_w
        sp[w] = _dptr(sv)
        tp[w] = _dptr(tv)
        mp[w] = &mv[0] if n else NULL
        ep[w] = &ev[0] if n else NULL
        e1p[w] = &e1v[0] if n else NULL
    # what the node's other inputs add (nothing at all for a node of one input)
    cdef bint pool = others is not None
    cdef double[2] o_sr, o_si, o_m, o_tr, o_ti, o_e, o_e1
    cdef double complex oc
    for w in range(2):
        o_sr[w] = o_si[w] = o_m[w] = o_tr[w] = o_ti[w] = o_e[w] = o_e1[w] = 0.0
        if pool:
            oc = others[w].s
            o_sr[w], o_si[w], o_m[w] = oc.real, oc.imag, others[w].m
            oc = others[w].t
            o_tr[w], o_ti[w], o_e[w], o_e1[w] = oc.real, oc.imag, others[w].e, others[w].e_lag
    cdef bint[3] on
    for w in range(3):
        on[w] = bool(collapsed[w])
    rows = _empty((n, NCOLUMNS), dtype=_F8)
    cdef double[:, ::1] rv = rows
    changes_out = [_empty(n, dtype=_I8) for w in range(3)]
    cdef int64_t[::1] ch0 = changes_out[0], ch1 = changes_out[1], ch2 = changes_out[2]
    cdef int64_t* ch[3]
    cdef Py_ssize_t[3] nch
    ch[0] = &ch0[0] if n else NULL
    ch[1] = &ch1[0] if n else NULL
    ch[2] = &ch2[0] if n else NULL
    nch[0] = nch[1] = nch[2] = 0
    cdef double sr, si, mm, tr[2], ti[2], e[2], e1[2], norm, r, pr, pi_
    cdef bint flag
    with nogil:
        for k in range(n):
            for w in range(2):
                sr = sp[w][2 * k]
                si = sp[w][2 * k + 1]
                mm = mp[w][k]
                tr[w] = tp[w][2 * k]
                ti[w] = tp[w][2 * k + 1]
                e[w] = ep[w][k]
                e1[w] = e1p[w][k]
                if pool:
                    sr = sr + o_sr[w]
                    si = si + o_si[w]
                    mm = mm + o_m[w]
                    tr[w] = tr[w] + o_tr[w]
                    ti[w] = ti[w] + o_ti[w]
                    e[w] = e[w] + o_e[w]
                    e1[w] = e1[w] + o_e1[w]
                rv[k, COL_PHASE[w]] = atan2(si, sr)
                rv[k, COL_COHERENCE[w]] = _ratio(_mag(sr, si), mm)
                norm = _mag(tr[w], ti[w])
                r = _ratio(norm * norm, e[w] * e1[w])
                rv[k, COL_RESONANCE[w]] = r
                flag = _flag(on[w], r, threshold, low)
                if flag != on[w]:
                    on[w] = flag
                    ch[w][nch[w]] = k
                    nch[w] += 1
                rv[k, COL_COLLAPSED[w]] = 1.0 if flag else 0.0
            pr = tr[0] + tr[1]
            pi_ = ti[0] + ti[1]
            rv[k, COL_TSYNC_RE] = pr / 2
            rv[k, COL_TSYNC_IM] = pi_ / 2
            rv[k, COL_DELTA] = fabs(_mag(tr[1], ti[1]) - _mag(tr[0], ti[0]))
            norm = _mag(pr, pi_)
            r = _ratio(norm * norm, (e[0] + e[1]) * (e1[0] + e1[1]))
            rv[k, COL_RESONANCE_PAIR] = r
            flag = _flag(on[2], r, threshold, low)
            if flag != on[2]:
                on[2] = flag
                ch[2][nch[2]] = k
                nch[2] += 1
            rv[k, COL_COLLAPSED_PAIR] = 1.0 if flag else 0.0
    return _new_tuple(
        NodeStep,
        (
            rows,
            (changes_out[0][: nch[0]], changes_out[1][: nch[1]], changes_out[2][: nch[2]]),
            (bool(on[0]), bool(on[1]), bool(on[2])),
            (states[0], states[1]),
        ),
    )


def mesh(coherence, phase, weight):
    """Global phasor G, mesh phase ψ, global coherence, order parameter r, offsets ΔP."""
    cdef const double[::1] c = _real(coherence, "coherence")
    cdef const double[::1] phi = _real(phase, "phase")
    cdef const double[::1] w = _real(weight, "weight")
    cdef Py_ssize_t n = c.shape[0], k
    _same(n, phi.shape[0], "coherence and phase")
    _same(n, w.shape[0], "coherence and weight")
    delta = _zeros(n, dtype=_F8)
    if n == 0:
        return 0j, 0.0, 0.0, 0.0, delta
    cdef double[::1] dv = delta
    cdef double sw = 0.0, swc = 0.0, sgr = 0.0, sgi = 0.0, sor = 0.0, soi = 0.0
    cdef double wc, cp, sp, gr, gi, psi, r
    with nogil:
        for k in range(n):
            sw = sw + w[k]
    if sw == 0.0:
        return 0j, 0.0, 0.0, 0.0, delta
    with nogil:
        for k in range(n):
            wc = w[k] * c[k]
            cp = cos(phi[k])
            sp = sin(phi[k])
            swc = swc + wc
            sgr = sgr + wc * cp
            sgi = sgi + wc * sp
            sor = sor + w[k] * cp
            soi = soi + w[k] * sp
        gr = sgr / sw
        gi = sgi / sw
        r = hypot(sor, soi) / sw
        if r > 1.0:
            r = 1.0
        # a zero phasor has no direction: ψ = 0 (atan2 would follow the sign of zero)
        psi = atan2(gi, gr) if (gr != 0.0 or gi != 0.0) else 0.0
        for k in range(n):
            dv[k] = _wrap(psi - phi[k])
    return PyComplex_FromDoubles(gr, gi), psi, swc / sw, r, delta


def kuramoto(
    times_ns, double omega_hz, double coupling, double r, double psi, state=None,
    double theta0=0.0,
):
    """Advance a Kuramoto oscillator: θ_k = wrap(θ + (2π·f + K·r·sin(ψ − θ))·Δt_k)."""
    cdef const int64_t[::1] t = _times(times_ns)
    cdef Py_ssize_t n = t.shape[0], k
    if not isfinite(omega_hz + coupling + r + psi + theta0):
        for value, name in zip(
            (omega_hz, coupling, r, psi, theta0), ("omega_hz", "coupling", "r", "psi", "theta0")
        ):
            finite(value, name)
    cdef double w = TWO_PI * omega_hz
    cdef double kr = coupling * r
    cdef bint started = False
    cdef int64_t t_prev = 0, d, tk
    cdef double theta = 0.0
    if state is not None:
        started, t_prev, theta = state[0], state[1], state[2]
    out = _empty(n, dtype=_F8)
    cdef double[::1] o = out
    with nogil:
        for k in range(n):
            tk = t[k]
            if not started:
                started = True
                t_prev = tk
                theta = _wrap(theta0)
            else:
                d = tk - t_prev
                if d > 0:
                    t_prev = tk
                    theta = _wrap(theta + (w + kr * sin(psi - theta)) * (<double> d * 1e-9))
            o[k] = theta
    return out, _new_tuple(KuramotoState, (started, t_prev, theta))


# ---------------------------------------------------------------- sync: per-node state


def nodes_take(node, times_ns, values, int64_t now_ns, coherence, phase, resonance, collapsed,
               last_t, heard, last_heard, period, heard_ns=None):
    """Fold one accepted row per message into the sync's per-node state arrays, in order.

    Message ``i`` is node ``node[i]``'s newest row: ``times_ns[i]`` and ``values[i]``
    (coherence, phase, resonance, collapsed).  The node takes it and is heard at ``now_ns``
    (or at ``heard_ns[i]``, when each message's own time is known: the compiled drain):
    its period smooths as 0.8 · period + 0.2 · interval (the first interval as it is).
    """
    cdef const int64_t[::1] nv = np.ascontiguousarray(node, dtype=_I8)
    cdef const int64_t[::1] tv = np.ascontiguousarray(times_ns, dtype=_I8)
    cdef const double[:, ::1] vv = np.ascontiguousarray(values, dtype=_F8)
    cdef double[::1] cv = coherence
    cdef double[::1] pv = phase
    cdef double[::1] rv = resonance
    cdef unsigned char[::1] kv = collapsed
    cdef int64_t[::1] lt = last_t
    cdef unsigned char[::1] hv = heard
    cdef int64_t[::1] lh = last_heard
    cdef double[::1] per = period
    cdef Py_ssize_t m = nv.shape[0], nodes = cv.shape[0], i
    cdef int64_t k, interval, at = now_ns
    cdef bint each = heard_ns is not None
    cdef const int64_t[::1] hn = np.ascontiguousarray(heard_ns if each else [], dtype=_I8)
    if each:
        _same(m, hn.shape[0], "node and heard_ns")
    _same(m, tv.shape[0], "node and times_ns")
    _same(m, vv.shape[0], "node and values")
    if m and vv.shape[1] != 4:
        raise KernelError(f"values must have 4 columns, not {vv.shape[1]}")
    for name, array in (("phase", pv), ("resonance", rv), ("collapsed", kv), ("last_t", lt),
                        ("heard", hv), ("last_heard", lh), ("period", per)):
        _same(nodes, array.shape[0], f"coherence and {name}")
    for i in range(m):
        if nv[i] < 0 or nv[i] >= nodes:
            raise KernelError(f"node index {nv[i]} outside 0..{nodes - 1}")
    with nogil:
        for i in range(m):
            k = nv[i]
            cv[k] = vv[i, 0]
            pv[k] = vv[i, 1]
            rv[k] = vv[i, 2]
            kv[k] = 1 if vv[i, 3] != 0.0 else 0
            lt[k] = tv[i]
            if each:
                at = hn[i]
            if hv[k]:
                interval = at - lh[k]
                if per[k] == 0.0:
                    per[k] = <double>interval
                else:
                    per[k] = 0.8 * per[k] + 0.2 * <double>interval
            hv[k] = 1
            lh[k] = at


def nodes_stale(heard, last_heard, period, int64_t now_ns, int64_t min_stale_ns,
                double periods):
    """Per node: never heard, or silent longer than max(min_stale_ns, periods · period)."""
    cdef const unsigned char[::1] hv = np.ascontiguousarray(heard, dtype=_U1)
    cdef const int64_t[::1] lh = np.ascontiguousarray(last_heard, dtype=_I8)
    cdef const double[::1] per = np.ascontiguousarray(period, dtype=_F8)
    cdef Py_ssize_t n = hv.shape[0], k
    _same(n, lh.shape[0], "heard and last_heard")
    _same(n, per.shape[0], "heard and period")
    out = _zeros(n, dtype=_U1)
    cdef unsigned char[::1] ov = out
    cdef double limit, floor_ns = <double>min_stale_ns
    with nogil:
        for k in range(n):
            if not hv[k]:
                ov[k] = 1
                continue
            limit = periods * per[k]
            if not limit > floor_ns:
                limit = floor_ns
            ov[k] = 1 if <double>(now_ns - lh[k]) > limit else 0
    return out
