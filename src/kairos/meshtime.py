"""Mesh time as seen by one process: the device's local clock plus the agent's correction.

Every process on a device shares one *local clock*: CLOCK_MONOTONIC plus a base (realtime −
monotonic, sampled once by the agent), so stamps look like Unix-epoch nanoseconds yet never
jump with wall-clock changes.  The agent estimates this local clock's offset and skew to the
mesh reference and writes them to a small JSON *clock file*; every actor re-reads that file
about once a second.  Corrections are slewed, never stepped backwards, so ``now_ns()`` never
runs backwards (see docs/meshtime.md for the rules).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kairos.errors import ClockError

#: Fastest rate at which a correction is slewed in (500 µs per second, NTP's bound).
MAX_SLEW = 500e-6
#: Environment variable that shifts a device's local clock (tests inject clock offsets with it).
SHIFT_ENV = "KAIROS_CLOCK_SHIFT_NS"
#: A correction that moves mesh time by more than this while actors run is applied as a step
#: that starts a new publisher epoch instead of a slew (topology ``mesh.step_threshold_s``):
#: at MAX_SLEW, 0.1 s takes 200 s to slew out, longer than anyone should trust such stamps.
DEFAULT_STEP_THRESHOLD_S = 0.1
#: how often a publishing process re-reads the clock file (s): the actor runtime does it on
#: its witness tick, a client Publisher on the first send after this long
CLOCK_REFRESH_S = 1.0
#: Sandwiched reads the base is taken from; the one with the smallest gap is kept.  Read once
#: per process start, so 16 reads (~2 µs; ~60 µs under libfaketime) cost nothing, and a
#: pre-emption between two reads (seen: one base ~80 µs off) hits at most a few of them.
BASE_READS = 16


@dataclass(frozen=True)
class BaseReading:
    """realtime − monotonic, and a bound on its error from the gap of the reads it came from."""

    base_ns: int
    error_ns: int


def read_base(reads: int = BASE_READS) -> BaseReading:
    """The base of a local clock, read exactly: ``reads`` times monotonic, realtime, monotonic,
    keeping the read whose two monotonic stamps are closest.  The realtime read happened
    between them, so taking their middle errs by at most half their gap, which becomes
    ``error_ns`` (plus 1 ns of rounding).  Any injected shift (:data:`SHIFT_ENV`) is added."""
    raw = os.environ.get(SHIFT_ENV, "0")
    try:
        shift = int(raw)
    except ValueError:
        raise ClockError(f"{SHIFT_ENV}={raw!r} is not an integer number of nanoseconds") from None
    mono, real = time.monotonic_ns, time.time_ns
    best_gap, best_base = -1, 0
    for _ in range(max(1, reads)):
        before = mono()
        wall = real()
        after = mono()
        gap = after - before
        if best_gap < 0 or gap < best_gap:
            best_gap, best_base = gap, wall - (before + after) // 2
    return BaseReading(best_base + shift, (max(best_gap, 0) + 1) // 2 + 1)


def sample_base_ns() -> int:
    """realtime − monotonic now, plus any injected shift: the base of a local clock."""
    return read_base().base_ns


def _slewed(residual: float, elapsed_ns: int) -> float:
    """What is left of ``residual`` after slewing it toward zero for ``elapsed_ns``."""
    room = MAX_SLEW * elapsed_ns if elapsed_ns > 0 else 0.0
    if residual > room:
        return residual - room
    if residual < -room:
        return residual + room
    return 0.0


_INT_FIELDS = (
    "base_ns",
    "offset_ns",
    "uncertainty_ns",
    "anchor_ns",
    "slew_from_ns",
    "residual_ns",
    "base_error_ns",
    "steps",
)


@dataclass(frozen=True)
class ClockState:
    """What the agent publishes in the clock file.

    The correction (mesh = local + correction) at local time L is the target
    ``offset_ns + skew_ppm·1e-6·(L − anchor_ns)`` plus a residual that started at
    ``residual_ns`` at ``slew_from_ns`` and shrinks toward zero at :data:`MAX_SLEW`.  The
    residual is what keeps the correction continuous when the agent takes in a new estimate
    (see :meth:`retarget`), so every process on the device computes the same mesh time.
    """

    base_ns: int
    offset_ns: int = 0
    skew_ppm: float = 0.0
    uncertainty_ns: int = 0
    #: local time at which offset_ns was estimated (skew extrapolates from here)
    anchor_ns: int = 0
    synced: bool = False
    #: local time from which ``residual_ns`` is slewed away
    slew_from_ns: int = 0
    #: correction still to be slewed out at ``slew_from_ns`` (0: none)
    residual_ns: int = 0
    #: bound on the error of ``base_ns`` (half the gap of the reads it came from)
    base_error_ns: int = 0
    #: how many times the correction was stepped (the first sync included); a process that
    #: sees it change steps with it and its publishers start a new epoch
    steps: int = 0

    def target_at(self, local_ns: int) -> float:
        """The estimated correction at ``local_ns``, without any slewing residual."""
        return self.offset_ns + self.skew_ppm * 1e-6 * (local_ns - self.anchor_ns)

    def correction_at(self, local_ns: int) -> float:
        """The correction to apply at ``local_ns``: the target plus what is left to slew."""
        target = self.target_at(local_ns)
        if self.residual_ns:
            target += _slewed(self.residual_ns, local_ns - self.slew_from_ns)
        return target

    def mesh_at_mono(self, mono_ns: int) -> int:
        """Mesh time at a CLOCK_MONOTONIC reading (base and correction applied)."""
        local = mono_ns + self.base_ns
        return local + int(self.correction_at(local))

    def retarget(
        self,
        offset_ns: int,
        skew_ppm: float,
        uncertainty_ns: int,
        anchor_ns: int,
        *,
        mono_ns: int,
        base_ns: int | None = None,
        step_threshold_ns: int | None = None,
    ) -> ClockState:
        """The next state for a new estimate, continuous with this one at ``mono_ns``.

        Mesh time is kept continuous: the jump between this state's correction and the new
        target becomes a residual that is slewed out at :data:`MAX_SLEW`.  Two exceptions
        are applied as a STEP (``steps`` + 1, no residual), as chrony's makestep does: the
        first estimate of a clock never synced (the agent takes it before its actors publish,
        so a device that joins 2.3 s off is on mesh time at once instead of after 78 min of
        slewing), and a jump larger than ``step_threshold_ns`` (None: never), after which
        every process on the device starts a new publisher epoch.  ``base_ns`` changes the
        local clock's base (an agent restart) without a jump either.
        """
        base = self.base_ns if base_ns is None else base_ns
        local = mono_ns + base
        # small differences only: epoch-sized floats would lose hundreds of ns
        before = (self.base_ns - base) + self.correction_at(mono_ns + self.base_ns)
        residual = before - (offset_ns + skew_ppm * 1e-6 * (local - anchor_ns))
        steps = self.steps
        if not self.synced or (step_threshold_ns is not None and abs(residual) > step_threshold_ns):
            residual = 0.0
            steps += 1
        return ClockState(
            base_ns=base,
            offset_ns=int(offset_ns),
            skew_ppm=float(skew_ppm),
            uncertainty_ns=int(uncertainty_ns),
            anchor_ns=int(anchor_ns),
            synced=True,
            slew_from_ns=local,
            residual_ns=round(residual),
            base_error_ns=self.base_error_ns,
            steps=steps,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ClockState:
        """Validate a decoded clock file; unknown keys are ignored (newer writers)."""
        if not isinstance(raw, Mapping):
            raise ClockError(f"clock state must be a JSON object, got {type(raw).__name__}")
        values: dict[str, Any] = {}
        for name in _INT_FIELDS:
            if name in raw:
                value = raw[name]
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ClockError(f"clock state field {name!r} must be an integer: {value!r}")
                values[name] = value
        if "base_ns" not in values:
            raise ClockError("clock state has no 'base_ns'")
        if "skew_ppm" in raw:
            skew = raw["skew_ppm"]
            if isinstance(skew, bool) or not isinstance(skew, (int, float)):
                raise ClockError(f"clock state field 'skew_ppm' must be a number: {skew!r}")
            values["skew_ppm"] = float(skew)
        if "synced" in raw:
            if not isinstance(raw["synced"], bool):
                raise ClockError(f"clock state field 'synced' must be a boolean: {raw['synced']!r}")
            values["synced"] = raw["synced"]
        if values.get("uncertainty_ns", 0) < 0:
            raise ClockError(f"clock state uncertainty is negative: {values['uncertainty_ns']}")
        return cls(**values)

    def write(self, path: Path) -> None:
        """Write atomically (own temp file + rename) so readers never see half a file.

        The temp file is named by this process and the time and created exclusively, as
        ``tempfile.mkstemp`` would: the agent, the one writer, then needs no tempfile module
        (with the shutil, bz2 and lzma it imports: 0.7 MB of an idle agent's RSS)."""
        path = Path(path)
        tmp: Path | None = None
        try:
            name = path.with_name(f".{path.name}.{os.getpid()}.{time.time_ns()}.tmp")
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            tmp = name  # ours now: removed if what follows fails
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                os.fchmod(out.fileno(), 0o644)  # actors may run as another user (and umask)
                json.dump(self.to_dict(), out)
            os.replace(tmp, path)
        except OSError as exc:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            raise ClockError(f"cannot write clock file {path}: {exc}") from exc

    @classmethod
    def read(cls, path: Path) -> ClockState | None:
        """The state in ``path``, or None when it is missing or malformed (keep the last one)."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, ClockError):
            return None


class MeshClock:
    """Mesh time for one process; ``refresh()`` picks up the agent's latest estimate.

    ``now_ns()`` is called once per message, so its common path is a few arithmetic
    operations: the slewing branch is taken only while a correction is being slewed in.
    Within one process mesh time never decreases: a new state that would move it backwards
    is slewed in (the difference is a per-process *gap* that shrinks at :data:`MAX_SLEW`).
    The one exception is a state whose ``steps`` differs from the last one seen: the agent
    stepped the clock, this process steps with it (either way) and :attr:`steps` tells the
    runtime to start a new publisher epoch, so subscribers see a counted discontinuity.
    """

    def __init__(
        self,
        clock_file: Path | None = None,
        *,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._file = Path(clock_file) if clock_file is not None else None
        self._mono = monotonic_ns
        self._key: tuple[int, int, int] | None = None
        state = None
        if self._file is not None:
            self._key = self._file_key()
            state = ClockState.read(self._file)
        self._gap = 0.0
        self._gap_from = 0
        self._last = -(2**63)
        self._install(state or ClockState(base_ns=sample_base_ns()))

    def _install(self, state: ClockState) -> None:
        self.state = state
        self._base = state.base_ns
        self._offset = state.offset_ns
        self._rate = state.skew_ppm * 1e-6
        self._anchor = state.anchor_ns
        self._slewing = bool(state.residual_ns) or bool(self._gap)

    def _file_key(self) -> tuple[int, int, int] | None:
        # the inode changes on every atomic replace, so two writes within one mtime tick differ
        try:
            st = self._file.stat()  # type: ignore[union-attr]
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_ino, st.st_size)

    def local_ns(self) -> int:
        """The device's local clock now (monotonic + base), without correction."""
        return self._mono() + self._base

    def _correction(self, local: int) -> float:
        corr = self._offset + self._rate * (local - self._anchor)
        if self._slewing:
            state = self.state
            residual = _slewed(state.residual_ns, local - state.slew_from_ns)
            gap = _slewed(self._gap, local - self._gap_from) if self._gap else 0.0
            if not residual and not gap:
                self._slewing = False  # both slewed out: back to the plain path
            corr += residual + gap
        return corr

    def now_ns(self) -> int:
        """Mesh time now, in ns; never smaller than the previous call's value."""
        local = self._mono() + self._base
        if self._slewing:
            mesh = local + int(self._correction(local))
        else:  # the common path, inlined: one clock read and a multiply-add
            mesh = local + int(self._offset + self._rate * (local - self._anchor))
        if mesh < self._last:  # float rounding (or a slewed step) never runs time backwards
            return self._last
        self._last = mesh
        return mesh

    def correction_ns(self) -> int:
        """The correction applied now (mesh − local), slewing included."""
        local = self.local_ns()
        return int(self._correction(local))

    def refresh(self) -> bool:
        """Re-read the clock file if it changed; True when a new estimate was taken in."""
        if self._file is None:
            return False
        key = self._file_key()
        if key is None or key == self._key:
            return False
        state = ClockState.read(self._file)
        if state is None:
            return False
        self._key = key
        self.adopt(state)
        return True

    def adopt(self, state: ClockState) -> None:
        """Take in ``state`` without letting this process's mesh time jump backwards."""
        mono = self._mono()
        before = max(self._last, mono + self._base + int(self._correction(mono + self._base)))
        local = mono + state.base_ns
        gap = (before - local) - state.correction_at(local)
        if gap < 0 and not self.state.synced:
            gap = 0.0  # first synchronisation of this process: step forward at once
        if state.steps != self.state.steps:
            gap = 0.0  # the agent stepped the clock: so do we, and time may go back once
            self._last = -(2**63)
        self._gap = gap
        self._gap_from = local
        self._install(state)

    @property
    def offset_ns(self) -> int:
        return self.state.offset_ns

    @property
    def uncertainty_ns(self) -> int:
        return self.state.uncertainty_ns

    @property
    def steps(self) -> int:
        """The clock file's step count as this process last adopted it (see :meth:`adopt`)."""
        return self.state.steps

    @property
    def synced(self) -> bool:
        return self.state.synced
