"""Clock offset estimation for mesh time: NTP-style probes in, per-device corrections out.

The launcher probes every agent in bursts of four-timestamp probes.  :class:`OffsetEstimator`
turns one device's bursts into its clock's offset and skew relative to the launcher, with an
uncertainty meant to cover the truth 99 % of the time (a hard bound before the fit, a GUM
expanded uncertainty with it, never wider than the hard bound);
:func:`mesh_offsets` turns every device's estimate into its correction to mesh time (a named
reference device, or the consensus of the clocks that agree).  Pure logic: the launcher owns
the sockets.  docs/meshtime.md derives the bounds.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from kairos.meshtime import ClockError

#: Probes per burst (NTP keeps the best of 8; LSL sends 8 every 2 s).
BURST_SIZE = 8
#: Seconds between bursts once every device's estimator is established (LSL's cadence).
BURST_INTERVAL_S = 2.0
#: Seconds between bursts while some device's estimator is young, as NTP's ``iburst``: the
#: fit's t factor falls with its degrees of freedom (9.9 at 2, 4.6 at 4, 2.75 at 30), so the
#: sooner a device holds a window of samples, the sooner its uncertainty is tight.  At 2 s a
#: 20 s emulated run had at most 10 samples per device and a median uncertainty 8.4× its
#: median error; with these fast rounds (and the fit from :data:`FIT_SAMPLES`) 11 runs gave
#: 5.4× at 100 % coverage (4.8× with :func:`paired_corrections`).  0.25 s is also the
#: cadence the loopback test always drove the keeper at.
YOUNG_INTERVAL_S = 0.25
#: Accepted samples an estimator fits (≈ 1 min at :data:`BURST_INTERVAL_S`): long enough for
#: a t factor near its limit (2.75 at 30 degrees of freedom against 2.576), short enough
#: that the skew stays constant within it (crystal wander is 1–2 ppm per day).
WINDOW = 32
#: Samples from which the skew fit is made whatever their span (it is made from 3 once they
#: span 5 s).  At :data:`YOUNG_INTERVAL_S` 5 s take 21 samples, and until then every
#: correction carried the hard bound (100–190 µs on the emulated links, against errors of
#: 3–6 µs).  A short span leaves the slope less certain, but that is in the fit's standard
#: error (the extrapolation to the current instant grows its cᵢ) and the result is still
#: clipped to the hard bounds; below 8 samples the t factor (4.0 at 5 degrees of freedom,
#: 9.9 at 2) makes the interval about as wide as the hard bound, and the lag-1
#: autocorrelation is estimated from too few residuals to be worth anything.  8 samples:
#: 6 degrees of freedom, a t factor of 3.71.
FIT_SAMPLES = 8
#: A device's estimator is young while it holds fewer accepted samples than this: a full
#: window, the estimator's designed memory (8 s at :data:`YOUNG_INTERVAL_S`), after which
#: the 2 s samples replace the fast ones one by one.  A device whose clock was stepped (its
#: history dropped) is young again.
YOUNG_SAMPLES = WINDOW
#: Probability the fitted uncertainty is meant to cover (issue 15: coverage ≥ 99 %).  The
#: interval is an expanded uncertainty in the GUM's sense (JCGM 100:2008, §6 and annex G):
#: the fit's standard error (type A, from the residuals) and the asymmetry no scatter shows
#: (type B, a rectangular bound) are combined in quadrature, then multiplied by the Student-t
#: quantile of this probability at the Welch–Satterthwaite degrees of freedom — so a fit of
#: few samples, whose scale is itself uncertain, gets a wider factor (63.7 at 1 degree of
#: freedom, 4.6 at 4, 2.75 at 30) instead of a fixed one.  Replayed over 2 560 loopback
#: corrections recorded under load (docs/meshtime.md) it covered 99.9 % with the median
#: uncertainty 4.1× the median error; the fixed factor of 3 plus a linear 3 % gave 4.8×.
#: Over 3 840 (with the fit from :data:`FIT_SAMPLES`): 99.7 %, 4.3×.
COVERAGE = 0.99
#: Half-width of the asymmetry bound, as a share of the best half round trip (type B,
#: rectangular: its standard uncertainty is that half-width / √3).  The two paths'
#: processing differs by a steady amount that moves every sample alike, so no scatter shows
#: it: after the agent's send delay is counted, offsets vs the launcher were still biased by
#: up to 1.2 µs on a ~35 µs half round trip (3.4 %).
ASYMMETRY_SHARE = 0.03
#: Largest lag-1 autocorrelation of the fit's residuals taken at face value: its estimate
#: from at most ``window`` residuals is itself noisy, and at 0.9 the standard error is
#: already inflated 4.4-fold.
MAX_AUTOCORRELATION = 0.9
#: Floor of the fitted uncertainty, per device: the granularity of a Python clock read
#: (~50–100 ns), so a window that happens to be quiet never claims better than that.
FLOOR_NS = 100


def _beta_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _t_two_sided_tail(t: float, dof: float) -> float:
    """P(|T| > t) for Student's t with ``dof`` degrees of freedom: I_{ν/(ν+t²)}(ν/2, 1/2)."""
    x = dof / (dof + t * t)
    a, b = dof / 2, 0.5
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def coverage_factor(dof: float, coverage: float = COVERAGE) -> float:
    """The Student-t factor k with P(|T| ≤ k) = ``coverage`` at ``dof`` (> 0, may be
    fractional) degrees of freedom: 63.66 at 1, 9.92 at 2, 2.75 at 30, → 2.576 (normal)."""
    if dof <= 0 or not 0 < coverage < 1:
        raise ClockError(
            f"a coverage factor needs dof > 0 and 0 < coverage < 1, got {dof}, {coverage}"
        )
    tail = 1.0 - coverage
    lo, hi = 0.0, 1.0
    while _t_two_sided_tail(hi, dof) > tail:
        lo, hi = hi, hi * 2
    for _ in range(100):  # bisection: the tail falls monotonically in t
        mid = (lo + hi) / 2
        if _t_two_sided_tail(mid, dof) > tail:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-9 * hi:
            break
    return hi


def expanded_uncertainty(se_ns: float, dof: int, asymmetry_ns: float) -> float:
    """The fitted estimate's expanded uncertainty (GUM): type A ``se_ns`` with ``dof``
    degrees of freedom and a type B rectangular bound ±``asymmetry_ns`` combined in
    quadrature, times the t factor of :data:`COVERAGE` at the Welch–Satterthwaite degrees
    of freedom (the type B part has infinitely many), plus :data:`FLOOR_NS`."""
    type_b = asymmetry_ns / math.sqrt(3.0)
    combined = math.hypot(se_ns, type_b)
    if combined <= 0.0:
        return float(FLOOR_NS)
    # beyond a million degrees of freedom the factor is the normal one to 1e-6
    effective = min(dof * (combined / se_ns) ** 4, 1e6) if se_ns > 0 else 1e6
    return coverage_factor(effective) * combined + FLOOR_NS


__all__ = [
    "BURST_INTERVAL_S",
    "BURST_SIZE",
    "COVERAGE",
    "FIT_SAMPLES",
    "WINDOW",
    "YOUNG_INTERVAL_S",
    "YOUNG_SAMPLES",
    "Accuracy",
    "ClockError",
    "ClockEstimate",
    "Correction",
    "MeshOffsets",
    "OffsetEstimator",
    "ProbeSample",
    "accuracy",
    "coverage_factor",
    "expanded_uncertainty",
    "find_falsetickers",
    "mesh_offsets",
    "paired_correction",
    "paired_corrections",
    "run_burst",
    "track",
]


@dataclass(frozen=True)
class ProbeSample:
    """One four-timestamp probe; t1, t4 on the prober's clock, t2, t3 on the device's.

    t1 = prober send, t2 = device receive, t3 = device send, t4 = prober receive.
    """

    t1: int
    t2: int
    t3: int
    t4: int

    def __post_init__(self) -> None:
        if self.t4 < self.t1:
            raise ClockError(f"probe answered before it was sent: t1={self.t1} > t4={self.t4}")
        if self.t3 < self.t2:
            raise ClockError(f"device replied before it received: t2={self.t2} > t3={self.t3}")

    @property
    def offset_ns(self) -> float:
        """Offset of the device clock relative to the prober: ((t2−t1)+(t3−t4))/2."""
        return ((self.t2 - self.t1) + (self.t3 - self.t4)) / 2

    @property
    def delay_ns(self) -> int:
        """Round trip spent on the network: (t4−t1)−(t3−t2)."""
        return (self.t4 - self.t1) - (self.t3 - self.t2)

    @property
    def mid_ns(self) -> int:
        """Prober time the offset refers to (the middle of the round trip)."""
        return (self.t1 + self.t4) // 2

    @property
    def bound_ns(self) -> float:
        """Largest possible error of ``offset_ns``: half the round trip (never negative)."""
        return max(self.delay_ns, 0) / 2


@dataclass(frozen=True)
class ClockEstimate:
    """A clock's offset (ns) and skew (ppm) at prober time ``at_ns``, ± ``uncertainty_ns``.

    ``n`` is the number of burst samples behind the estimate (0: no estimate yet).
    """

    offset_ns: int
    skew_ppm: float
    uncertainty_ns: int
    n: int
    at_ns: int = 0
    #: from the skew fit with its statistical uncertainty (False: the hard bound of the
    #: best sample, before the window spans enough time)
    fitted: bool = False

    def contains(self, true_offset_ns: float) -> bool:
        """Whether ``true_offset_ns`` lies within offset ± uncertainty."""
        return abs(true_offset_ns - self.offset_ns) <= self.uncertainty_ns


class _LineFit:
    """Weighted least squares of y against x (weights 1/h², h each sample's hard bound),
    evaluated at ``xt``: the offset there is Σ cᵢ yᵢ, so its hard bound is Σ |cᵢ| hᵢ (it
    grows when extrapolating) and its standard error κ·√Σ(cᵢ hᵢ)², κ² the weighted mean
    square of the residuals over n − 2 degrees of freedom (each sample errs by about κ·hᵢ).

    Errors that persist over several samples (a load episode lasting seconds) make
    neighbouring residuals alike and the scatter understate the error of their mean: the
    standard error is inflated by √((1 + ρ)/(1 − ρ)), the variance factor of the mean of an
    AR(1) series, ρ the lag-1 autocorrelation of the normalised residuals (clipped to
    [0, MAX_AUTOCORRELATION]).  On loopback under load, four corrections in a row after the
    first fit were missed without it (98.75 % in that run), none with it."""

    def __init__(self, x: np.ndarray, y: np.ndarray, h: np.ndarray, xt: float) -> None:
        hh = h + 1.0  # a sample read at the clock's granularity still has a finite weight
        w = 1.0 / hh**2
        total = float(w.sum())
        xm = float((w * x).sum()) / total
        dx = x - xm
        sxx = float((w * dx * dx).sum())
        c = w * (1.0 / total + dx * (xt - xm) / sxx)
        self.offset = float((c * y).sum())
        self.bound = float((np.abs(c) * h).sum())
        self.slope = float((w * dx * y).sum()) / sxx
        resid = y - (self.offset + self.slope * (x - xt))
        self.dof = len(x) - 2
        #: κ², the weighted mean square of the residuals: each sample's variance over hᵢ²
        self.kappa2 = float((w * resid * resid).sum()) / self.dof
        z = resid / hh
        norm = float((z * z).sum())
        rho = float((z[1:] * z[:-1]).sum()) / norm if len(z) >= 4 and norm > 0 else 0.0
        self.rho = min(max(rho, 0.0), MAX_AUTOCORRELATION)
        self._leverage = float((c * c * hh * hh).sum())  # Σ(cᵢ hᵢ)²
        self.se = self.standard_error(self.kappa2, self.rho)

    def standard_error(self, kappa2: float, rho: float) -> float:
        """The fitted offset's standard error for a scale ``kappa2`` and a lag-1
        autocorrelation ``rho`` (this fit's own, or pooled over several fits alike)."""
        return math.sqrt(kappa2 * (1.0 + rho) / (1.0 - rho) * self._leverage)


class OffsetEstimator:
    """One device's offset and skew relative to the prober, from bursts of probes.

    Each burst contributes its minimum-delay probe.  A burst whose best round trip exceeds
    ``reject_factor`` × the minimum of the last ``window`` bursts plus ``reject_floor_ns`` is
    rejected (Wi-Fi power save, congestion): it is never averaged in.  The last ``window``
    accepted samples are fitted by weighted least squares (offset vs prober time, weight
    1/bound²) once ``min_fit_samples`` of them span ``min_fit_span_ns``, or ``fit_samples``
    of them whatever their span (:data:`FIT_SAMPLES`); before that the
    estimate is the sample whose bound, widened by ``max_skew_ppm`` of drift, is smallest.
    The uncertainty before a fit is that hard bound (half a round trip); with a fit it is
    the expanded uncertainty of :func:`expanded_uncertainty` (the fit's standard error and
    the asymmetry bound :data:`ASYMMETRY_SHARE`, to :data:`COVERAGE`), clipped to the hard
    bounds — half a round trip on loopback is 35–120 µs while the error is 1.5–5 µs, so the
    hard bound alone says little (docs/meshtime.md has the measured coverage).
    A sample that contradicts the current model beyond both bounds means the device clock
    was stepped (agent restart): the history is dropped and estimation starts again.
    """

    def __init__(
        self,
        window: int = WINDOW,
        *,
        min_fit_samples: int = 3,
        min_fit_span_ns: int = 5_000_000_000,
        fit_samples: int = FIT_SAMPLES,
        reject_factor: float = 3.0,
        reject_floor_ns: int = 500_000,
        max_skew_ppm: float = 500.0,
    ) -> None:
        if window < 1:
            raise ClockError(f"estimator window must hold at least 1 sample, got {window}")
        if min_fit_samples < 3 or fit_samples < min_fit_samples:
            raise ClockError(
                "a skew fit needs at least 3 samples, and fit_samples >= min_fit_samples, "
                f"got {min_fit_samples}, {fit_samples}"
            )
        if reject_factor < 1.0 or reject_floor_ns < 0 or max_skew_ppm <= 0:
            raise ClockError(
                "reject_factor must be >= 1, reject_floor_ns >= 0 and max_skew_ppm > 0, got "
                f"{reject_factor}, {reject_floor_ns}, {max_skew_ppm}"
            )
        self.window = window
        self.min_fit_samples = min_fit_samples
        self.min_fit_span_ns = min_fit_span_ns
        self.fit_samples = fit_samples
        self.reject_factor = reject_factor
        self.reject_floor_ns = reject_floor_ns
        self.max_skew_ppm = max_skew_ppm
        self._samples: deque[ProbeSample] = deque(maxlen=window)
        self._burst_delays: deque[int] = deque(maxlen=window)
        #: bursts taken in, bursts rejected as round-trip outliers, history resets (clock steps)
        self.bursts = 0
        self.rejected = 0
        self.resets = 0

    @property
    def samples(self) -> tuple[ProbeSample, ...]:
        """The accepted minimum-delay samples currently in the window, oldest first."""
        return tuple(self._samples)

    @property
    def young(self) -> bool:
        """Fewer than :data:`YOUNG_SAMPLES` accepted samples (or a full window, if smaller):
        the prober should burst at :data:`YOUNG_INTERVAL_S`, not :data:`BURST_INTERVAL_S`."""
        return len(self._samples) < min(YOUNG_SAMPLES, self.window)

    def _threshold(self) -> float:
        return self.reject_factor * min(self._burst_delays) + self.reject_floor_ns

    def add_burst(self, samples: Iterable[ProbeSample]) -> ProbeSample | None:
        """Take in one burst; return the sample kept, or None if the burst was not used."""
        burst = list(samples)
        if not burst:
            return None
        self.bursts += 1
        best = min(burst, key=lambda s: s.delay_ns)
        delay = max(best.delay_ns, 0)
        outlier = bool(self._burst_delays) and delay > self._threshold()
        self._burst_delays.append(delay)
        if outlier:
            self.rejected += 1
            return None
        if self._usable():
            before = self.estimate(best.mid_ns)
            if abs(best.offset_ns - before.offset_ns) > before.uncertainty_ns + best.bound_ns + 1:
                self._samples.clear()  # the device clock was stepped: old samples are void
                self.resets += 1
        else:
            self._samples.clear()  # everything kept so far is an outlier by today's minimum
        self._samples.append(best)
        return best

    def usable(self) -> list[ProbeSample]:
        """The samples the fit uses: the window's, less those over today's outlier limit."""
        return self._usable()

    def _usable(self) -> list[ProbeSample]:
        # samples taken in before the running minimum fell may now count as outliers
        if not self._samples:
            return []
        limit = self._threshold()
        return [s for s in self._samples if max(s.delay_ns, 0) <= limit]

    def estimate(self, at_local_ns: int) -> ClockEstimate:
        """Offset and skew at prober time ``at_local_ns``; raises ClockError with no data."""
        kept = self._usable()
        if not kept:
            raise ClockError("no clock estimate yet: no usable probe burst was taken in")
        ref = kept[-1]
        x = np.array([s.mid_ns - ref.mid_ns for s in kept], dtype=np.float64)
        y = np.array([s.offset_ns - ref.offset_ns for s in kept], dtype=np.float64)
        h = np.array([s.bound_ns for s in kept], dtype=np.float64)
        xt = float(at_local_ns - ref.mid_ns)
        # constant model: the best sample, its bound widened by the largest credible drift
        widened = h + self.max_skew_ppm * 1e-6 * np.abs(xt - x)
        i = int(np.argmin(widened))
        offset, bound, skew = float(y[i]), float(widened[i]), 0.0
        span = float(x.max() - x.min())
        fitted = len(kept) >= self.min_fit_samples and (
            span >= self.min_fit_span_ns or len(kept) >= self.fit_samples
        )
        if fitted:
            line = _LineFit(x, y, h, xt)
            skew = line.slope * 1e6
            lo = max(offset - bound, line.offset - line.bound)
            hi = min(offset + bound, line.offset + line.bound)
            if lo <= hi:  # both hold: the truth is in their intersection
                offset, bound = (lo + hi) / 2, (hi - lo) / 2
            elif line.bound < bound:
                offset, bound = line.offset, line.bound
                lo, hi = line.offset - line.bound, line.offset + line.bound
            else:
                lo, hi = offset - bound, offset + bound
            # the statistical interval: the fit's standard error and the asymmetry bound,
            # expanded to COVERAGE (see there), clipped to the hard interval [lo, hi]
            spread = expanded_uncertainty(line.se, line.dof, ASYMMETRY_SHARE * float(h.min()))
            slo, shi = max(lo, line.offset - spread), min(hi, line.offset + spread)
            if slo <= shi and shi - slo < hi - lo:
                offset, bound = (slo + shi) / 2, (shi - slo) / 2
        return ClockEstimate(
            offset_ns=round(ref.offset_ns + offset),
            skew_ppm=skew,
            uncertainty_ns=math.ceil(bound + 0.5),  # + rounding of the offset
            n=len(kept),
            at_ns=at_local_ns,
            fitted=fitted,
        )


def _pairs(
    reference: OffsetEstimator, device: OffsetEstimator
) -> list[tuple[ProbeSample, ProbeSample]]:
    """Each of ``device``'s usable samples with the reference's nearest in prober time,
    within half of :data:`YOUNG_INTERVAL_S` (the rounds are at least that far apart), each
    reference sample used once: (reference's, device's), oldest first."""
    mine = device.usable()
    theirs = reference.usable()
    within = YOUNG_INTERVAL_S * 1e9 / 2
    used: set[int] = set()
    pairs: list[tuple[ProbeSample, ProbeSample]] = []
    for sample in mine:
        k = min(range(len(theirs)), key=lambda j: abs(theirs[j].mid_ns - sample.mid_ns))
        if k not in used and abs(theirs[k].mid_ns - sample.mid_ns) <= within:
            used.add(k)
            pairs.append((theirs[k], sample))
    return pairs


class _PairedFit:
    """The weighted line through the differences of a device's and the reference's samples
    of the same rounds (:func:`paired_correction`), before its scale is chosen."""

    def __init__(
        self, pairs: Sequence[tuple[ProbeSample, ProbeSample]], ref_skew: float, at_ns: int
    ) -> None:
        self.n = len(pairs)
        self.at_ns = at_ns
        last = pairs[-1][1]
        x = np.array([s.mid_ns - last.mid_ns for _, s in pairs], dtype=np.float64)
        # the reference's offset moved to the device's instant by its own skew
        y = np.array(
            [r.offset_ns + ref_skew * (s.mid_ns - r.mid_ns) - s.offset_ns for r, s in pairs],
            dtype=np.float64,
        )
        self.y0 = float(y[-1])
        h = np.array([r.bound_ns + s.bound_ns for r, s in pairs], dtype=np.float64)
        self.line = _LineFit(x, y - self.y0, h, float(at_ns - last.mid_ns))
        self.asymmetry = ASYMMETRY_SHARE * math.hypot(
            min(r.bound_ns for r, _ in pairs), min(s.bound_ns for _, s in pairs)
        )

    @staticmethod
    def of(
        reference: OffsetEstimator, device: OffsetEstimator, at_local_ns: int
    ) -> _PairedFit | None:
        """The fit at prober time ``at_local_ns``, or None while fewer than the device's
        ``fit_samples`` pairs exist."""
        if len(device.usable()) < device.fit_samples or len(reference.usable()) < 2:
            return None
        pairs = _pairs(reference, device)
        if len(pairs) < device.fit_samples:
            return None
        ref_skew = reference.estimate(at_local_ns).skew_ppm * 1e-6
        return _PairedFit(pairs, ref_skew, at_local_ns)

    def correction(self, kappa2: float, rho: float) -> ClockEstimate:
        """The correction with the scale ``kappa2`` and autocorrelation ``rho``."""
        se = self.line.standard_error(kappa2, rho)
        spread = min(expanded_uncertainty(se, self.line.dof, self.asymmetry), self.line.bound)
        return ClockEstimate(
            offset_ns=round(self.y0 + self.line.offset),
            skew_ppm=self.line.slope * 1e6,
            uncertainty_ns=math.ceil(spread + 0.5),  # + rounding of the offset
            n=self.n,
            at_ns=self.at_ns,
            fitted=True,
        )


def paired_correction(
    reference: OffsetEstimator, device: OffsetEstimator, at_local_ns: int
) -> ClockEstimate | None:
    """``device``'s correction onto ``reference``'s clock (θ_R − θ_i) at prober time
    ``at_local_ns``, fitted to the differences of the two devices' samples of the same
    rounds; None while fewer than the device's ``fit_samples`` pairs exist.

    Whatever disturbs the prober (its scheduling, its socket), and the bias every
    prober–agent path shares, move both devices' samples of a round alike and cancel in
    their difference: the two offsets' errors were correlated (+0.71 over a 60 s emulated
    run, +0.33 on loopback), yet their uncertainties were combined in quadrature as if
    independent.  The differences' scatter holds only what does not cancel.  Each pair is
    the device's sample and the reference's sample nearest in prober time, within half of
    :data:`YOUNG_INTERVAL_S` (the rounds are at least that far apart), the reference's
    moved to the device's instant by its own fitted skew; its hard bound is the sum of the
    two half round trips.  The fit, its expanded uncertainty and the clip to its hard bound
    are those of :meth:`OffsetEstimator.estimate`, with the two asymmetry bounds (each
    :data:`ASYMMETRY_SHARE` of its path's best half round trip, independent) combined in
    quadrature.  This is the fit with its own scale; the launcher pools the scale over
    every device paired with the same reference (:func:`paired_corrections`)."""
    fit = _PairedFit.of(reference, device, at_local_ns)
    return None if fit is None else fit.correction(fit.line.kappa2, fit.line.rho)


def paired_corrections(
    estimators: Mapping[str, OffsetEstimator],
    reference: str | None,
    at_local_ns: int,
    base_errors: Mapping[str, int] | None = None,
) -> dict[str, ClockEstimate]:
    """The paired correction (:func:`paired_correction`) of every device but a named
    ``reference`` (none with consensus, whose reference is a median of several clocks) that
    has enough pairs, with the scale and autocorrelation of their residuals **pooled** over
    all of them, each uncertainty widened by the two devices' ``base_errors`` (mesh time is
    meant to be the reference's true time, not its reading): what :func:`mesh_offsets`
    takes as ``paired``.

    Why pooled: every pair holds the reference's path and the launcher's, and the devices'
    own paths run the same agent on the same kind of link, so their normalised scatter κ
    (each sample's error over its half round trip) measures one process: at the end of each
    recorded run the devices' κ were within 1.6× of each other (0.033–0.111 overall).  One
    device's κ and lag-1 autocorrelation ρ, estimated from its 6–30 residuals, are
    themselves uncertain, and a device whose window happened to be quiet claimed an
    interval half as wide as the others' — while a load episode biased its pair of paths
    for seconds, which moves every difference alike and which no scatter shows: in one
    recorded loopback run a device's standard error was 3.4–4.7 µs against 7–8.5 µs for the
    three others in the same rounds, and its corrections, 13–19 µs off, were missed in 8
    consecutive rounds (97.5 % in that run; none with the pooled scale).  So κ² and ρ are
    the dof-weighted means over the devices (the GUM's pooled variance, JCGM 100:2008
    §4.2.8, for one process under statistical control), each device keeping its own
    leverage (the cᵢ of its window) and its own degrees of freedom for the t factor: the
    devices' residuals share the reference's path, so they are not independent (two
    devices' normalised residuals in the same rounds correlated by a median of +0.62 on
    loopback, +0.52 on the emulated links), and their summed degrees of freedom would claim
    a narrower factor than the data give.  Replayed
    over the recorded runs: docs/meshtime.md ("Where the targets stand")."""
    if reference is None or reference not in estimators:
        return {}
    fits: dict[str, _PairedFit] = {}
    for device, estimator in estimators.items():
        if device != reference:
            fit = _PairedFit.of(estimators[reference], estimator, at_local_ns)
            if fit is not None:
                fits[device] = fit
    if not fits:
        return {}
    dof = sum(fit.line.dof for fit in fits.values())
    kappa2 = sum(fit.line.kappa2 * fit.line.dof for fit in fits.values()) / dof
    rho = sum(fit.line.rho * fit.line.dof for fit in fits.values()) / dof
    errors = base_errors or {}
    out: dict[str, ClockEstimate] = {}
    for device, fit in fits.items():
        direct = fit.correction(kappa2, rho)
        widen = errors.get(device, 0) + errors.get(reference, 0)
        out[device] = dataclasses.replace(direct, uncertainty_ns=direct.uncertainty_ns + widen)
    return out


@dataclass(frozen=True)
class Correction:
    """What the launcher sends an agent: mesh = local + offset + skew·(local − anchor)."""

    offset_ns: int
    skew_ppm: float
    uncertainty_ns: int
    #: the device's local time at which ``offset_ns`` holds
    anchor_ns: int


@dataclass(frozen=True)
class MeshOffsets:
    """Each device's correction to mesh time (what it must ADD to its local clock).

    ``reference`` is the reference device, or None for consensus; ``falsetickers`` are the
    devices left out of the consensus (with a named reference: only reported).
    """

    offsets: dict[str, ClockEstimate]
    falsetickers: set[str]
    reference: str | None = None
    #: each device's local time at the instant the estimates refer to
    anchors: Mapping[str, int] | None = None

    def correction(self, device: str) -> Correction:
        """The correction to send to ``device``'s agent."""
        if device not in self.offsets:
            raise ClockError(f"no mesh offset for device {device!r}")
        est = self.offsets[device]
        anchor = (self.anchors or {}).get(device, est.at_ns)
        return Correction(est.offset_ns, est.skew_ppm, est.uncertainty_ns, anchor)


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def find_falsetickers(
    estimates: Mapping[str, ClockEstimate],
    *,
    tolerance_ns: int = 1_000_000,
    mad_k: float = 3.0,
) -> set[str]:
    """Devices whose clock disagrees with the majority.

    First Marzullo's intersection of the intervals offset ± uncertainty: if more than half
    of them share a point, every device outside that majority is a falseticker.  When the
    intervals are too tight for a majority (honest clocks that differ by more than their
    uncertainty, the usual case on unsynchronised hardware), a device is a falseticker when
    it is further from the median than max(mad_k·1.4826·MAD, tolerance_ns) plus its own
    uncertainty.  Fewer than 3 devices, or no strict majority left: nobody is left out.
    """
    names = sorted(estimates)
    n = len(names)
    if n < 3:
        return set()
    events: list[tuple[float, int]] = []
    for name in names:
        e = estimates[name]
        events.append((e.offset_ns - e.uncertainty_ns, 0))  # starts sort before ends
        events.append((e.offset_ns + e.uncertainty_ns, 1))
    events.sort()
    count = best = 0
    region = (0.0, 0.0)
    for k, (value, kind) in enumerate(events):
        if kind == 0:
            count += 1
            if count > best:
                best = count
                region = (value, events[k + 1][0])
        else:
            count -= 1
    if best * 2 > n:
        lo, hi = region
        return {
            name
            for name in names
            if not (
                estimates[name].offset_ns - estimates[name].uncertainty_ns <= lo
                and estimates[name].offset_ns + estimates[name].uncertainty_ns >= hi
            )
        }
    offsets = [float(estimates[name].offset_ns) for name in names]
    med = _median(offsets)
    mad = _median([abs(o - med) for o in offsets])
    limit = max(mad_k * 1.4826 * mad, float(tolerance_ns))
    out = {
        name
        for name, o in zip(names, offsets, strict=True)
        if abs(o - med) > limit + estimates[name].uncertainty_ns
    }
    return out if (n - len(out)) * 2 > n else set()


def _consensus(chimers: Sequence[ClockEstimate]) -> tuple[float, float, float]:
    """Median offset, its skew, and a hard bound on its error, of the agreeing clocks."""
    ordered = sorted(chimers, key=lambda e: e.offset_ns)
    mid = len(ordered) // 2
    middle = ordered[mid : mid + 1] if len(ordered) % 2 else ordered[mid - 1 : mid + 1]
    offset = sum(e.offset_ns for e in middle) / len(middle)
    skew = sum(e.skew_ppm for e in middle) / len(middle)
    # each true offset lies in its interval, and the median is monotone in every input, so
    # the true median lies between the medians of the interval ends
    upper = _median([e.offset_ns + e.uncertainty_ns for e in chimers])
    lower = _median([e.offset_ns - e.uncertainty_ns for e in chimers])
    return offset, skew, max(upper - offset, offset - lower)


def mesh_offsets(
    estimates: Mapping[str, ClockEstimate],
    reference: str | None,
    *,
    tolerance_ns: int = 1_000_000,
    mad_k: float = 3.0,
    paired: Mapping[str, ClockEstimate] | None = None,
) -> MeshOffsets:
    """Every device's correction to mesh time, from its estimate relative to the prober.

    ``estimates`` must all refer to the same prober instant (``at_ns``); the prober's own
    clock cancels out.  With a named ``reference`` mesh time is that device's clock; with
    None it is the median of the clocks that are not falsetickers.  Uncertainties add in
    quadrature: the device's and the reference's (0 for the reference device itself) —
    except where ``paired`` gives a device's correction fitted to the differences of its
    and the reference's samples (:func:`paired_correction`, at the same instant): with a
    named reference that one is sent, since the errors both offsets share cancel in it.
    """
    if not estimates:
        return MeshOffsets({}, set(), reference, {})
    instants = {e.at_ns for e in estimates.values()}
    if len(instants) > 1:
        raise ClockError(
            f"clock estimates refer to different prober instants {sorted(instants)}: "
            "evaluate every estimator at the same time"
        )
    if reference is not None and reference not in estimates:
        raise ClockError(
            f"mesh clock reference {reference!r} is not among the probed devices "
            f"{sorted(estimates)}"
        )
    false = find_falsetickers(estimates, tolerance_ns=tolerance_ns, mad_k=mad_k)
    if reference is not None:
        ref = estimates[reference]
        ref_offset, ref_skew, ref_bound = (
            float(ref.offset_ns),
            ref.skew_ppm,
            float(ref.uncertainty_ns),
        )
    else:
        chimers = [e for name, e in estimates.items() if name not in false]
        ref_offset, ref_skew, ref_bound = _consensus(chimers)
    offsets: dict[str, ClockEstimate] = {}
    anchors: dict[str, int] = {}
    for name, e in estimates.items():
        own = name == reference
        direct = (paired or {}).get(name) if reference is not None and not own else None
        if direct is not None:
            if direct.at_ns != e.at_ns:
                raise ClockError(
                    f"the paired correction of {name!r} refers to prober instant "
                    f"{direct.at_ns}, its estimate to {e.at_ns}"
                )
            offsets[name] = direct
            anchors[name] = e.at_ns + e.offset_ns
            continue
        offsets[name] = ClockEstimate(
            offset_ns=0 if own else round(ref_offset - e.offset_ns),
            skew_ppm=0.0 if own else ref_skew - e.skew_ppm,
            # the two errors are independent (the prober's own cancels): they add in quadrature
            uncertainty_ns=0 if own else math.ceil(math.hypot(ref_bound, e.uncertainty_ns)),
            n=e.n,
            at_ns=e.at_ns,
            fitted=e.fitted and (reference is None or estimates[reference].fitted),
        )
        anchors[name] = e.at_ns + e.offset_ns
    return MeshOffsets(offsets, false, reference, anchors)


# -- helpers for checks against a real probe (the emulated cluster's clock tests) ---------

#: A probe: sends one request and returns its four timestamps, or None if it was lost.
Probe = Callable[[], ProbeSample | None]


def run_burst(probe: Probe, count: int = BURST_SIZE) -> list[ProbeSample]:
    """Run ``count`` probes back to back; the lost ones are left out."""
    out = []
    for _ in range(count):
        sample = probe()
        if sample is not None:
            out.append(sample)
    return out


def track(
    probe: Probe,
    *,
    bursts: int,
    interval_s: float = BURST_INTERVAL_S,
    estimator: OffsetEstimator | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[ClockEstimate]:
    """Probe in ``bursts`` bursts and return the estimate after each usable one.

    Each estimate refers to the prober time at the end of its burst (its last t4), which
    is when a launcher would send the correction.
    """
    est = estimator if estimator is not None else OffsetEstimator()
    out: list[ClockEstimate] = []
    for k in range(bursts):
        if k:
            sleep(interval_s)
        burst = run_burst(probe)
        if est.add_burst(burst) is not None:
            out.append(est.estimate(max(s.t4 for s in burst)))
    return out


@dataclass(frozen=True)
class Accuracy:
    """How a series of estimates compares with the true offset."""

    n: int
    p50_error_ns: float
    p95_error_ns: float
    max_error_ns: float
    #: fraction of estimates whose offset ± uncertainty contains the truth
    coverage: float


def accuracy(
    estimates: Sequence[ClockEstimate], true_offset_ns: float | Callable[[int], float]
) -> Accuracy:
    """Error percentiles and uncertainty coverage against a known true offset.

    ``true_offset_ns`` is a constant, or a function of prober time (a skewed clock).
    """
    if not estimates:
        raise ClockError("no estimates to assess")
    truth = true_offset_ns if callable(true_offset_ns) else (lambda _t: float(true_offset_ns))
    errors = np.array([abs(e.offset_ns - truth(e.at_ns)) for e in estimates])
    covered = sum(e.contains(truth(e.at_ns)) for e in estimates)
    return Accuracy(
        n=len(estimates),
        p50_error_ns=float(np.percentile(errors, 50)),
        p95_error_ns=float(np.percentile(errors, 95)),
        max_error_ns=float(errors.max()),
        coverage=covered / len(estimates),
    )
