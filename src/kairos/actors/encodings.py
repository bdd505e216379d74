"""Encodings: how an engine turns one input's samples into phasors z_k (docs/design.md §5.1).

An encoding is a class deriving from :class:`Encoder`; a topology names it by its
``type`` (``encoding: {type: lockin, freq_hz: 40}``), every other key of that mapping being
its params.  The built-ins (``lockin``, ``phase``, ``direct``, ``complex``) are listed in
:mod:`kairos.registry`; a package adds its own through the ``kairos.encodings`` entry-point
group (entry name = the type, value = ``"module:Class"``; docs/encodings.md).

An engine makes one encoder per input, calls :meth:`Encoder.encode` once per message in
sample-time order, and saves :meth:`Encoder.state` in its checkpoints.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from kairos import kernels, registry
from kairos.actors._params import check_params
from kairos.errors import ConfigError

#: a lockin's low-pass time constant, in periods of its reference frequency
LOCKIN_LP_CYCLES = 2.0


class Encoder(ABC):
    """Turns one input's samples into complex phasors, one per sample."""

    #: JSON Schema of the encoding's params (every key of the topology's ``encoding:``
    #: mapping except ``type``); ``kairos validate`` checks params against it
    params_schema: ClassVar[Mapping[str, Any]] = {"type": "object"}

    def __init__(self, params: Mapping[str, Any]) -> None:
        """Store what ``encode`` needs; ConfigError (a KairosError) on params it refuses.

        The base checks the params' shape against :attr:`params_schema` (unknown and
        missing keys, JSON types: kairos.actors._params), since an engine's device has no
        schema library.
        """
        check_params(self.params_schema, params, f"encoding {type(self).__name__}")
        self.params = params

    @abstractmethod
    def encode(self, times: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Phasors for one message: ``times`` int64 ns, shape (n,); ``values`` the sensor's
        payload, (n,) float64/complex128 or (n, k); returns complex128, shape (n,)."""

    def used_values(self, values: np.ndarray) -> np.ndarray | None:
        """The values :meth:`encode` reads from a payload, which the engine screens first
        (a NaN or ±Inf there is dropped and counted, never encoded): the first column of a
        multi-column payload for the built-ins.  None when the payload has no such column
        (every row is then invalid).  A plugin that reads other columns overrides this."""
        if values.ndim == 1:
            return values
        if values.ndim == 2 and values.shape[1] > 0:
            return _first_column(values)
        return None

    def state(self) -> list[Any] | None:
        """JSON-able state carried from one message to the next, for checkpoints; None when
        the encoding keeps none."""
        return None

    def restore(self, state: list[Any]) -> None:  # noqa: B027 - stateless encoders keep none
        """Continue from ``state``, as :meth:`state` returned it."""


def _first_column(values: np.ndarray) -> np.ndarray:
    """Multi-column sensors (the system adapter): the built-ins follow the first column."""
    return values[:, 0] if values.ndim == 2 else values


def _number(params: Mapping[str, Any], key: str, default: float | None) -> float | None:
    value = params.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ConfigError(f"encoding param {key}: must be a finite number, not {value!r}")
    return float(value)


_POSITIVE = {"type": "number", "exclusiveMinimum": 0}


class LockinEncoder(Encoder):
    """Lock-in demodulation at a reference frequency: z = low-pass(x · e^{-iωt})."""

    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["freq_hz"],
        "properties": {
            "freq_hz": {
                **_POSITIVE,
                "description": "reference frequency in Hz; a lockin encoding needs it",
            },
            "lp_cycles": {
                **_POSITIVE,
                "description": "low-pass time constant in periods of freq_hz "
                f"(default {LOCKIN_LP_CYCLES:g})",
            },
        },
    }

    def __init__(self, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        freq_hz = _number(params, "freq_hz", None)
        lp_cycles = _number(params, "lp_cycles", LOCKIN_LP_CYCLES)
        if freq_hz is None or freq_hz <= 0 or lp_cycles is None or lp_cycles <= 0:
            raise ConfigError(
                f"lockin encoding needs freq_hz > 0 and lp_cycles > 0, not {dict(params)}"
            )
        self.freq_hz, self.lp_cycles = freq_hz, lp_cycles
        self._state: Any = None

    def encode(self, times: np.ndarray, values: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(_first_column(values), dtype=np.float64)
        z, self._state = kernels.lockin(times, x, self.freq_hz, self.lp_cycles, self._state)
        return z

    def state(self) -> list[Any] | None:
        """``[started, t_prev_ns, lp.real, lp.imag]``: JSON has no complex numbers."""
        if self._state is None:
            return None
        started, t_prev_ns, lp = self._state
        return [bool(started), int(t_prev_ns), float(lp.real), float(lp.imag)]

    def restore(self, state: list[Any]) -> None:
        started, t_prev_ns, re, im = state
        self._state = kernels.LockinState(bool(started), int(t_prev_ns), complex(re, im))


class PhaseEncoder(Encoder):
    """The samples are phases θ (radians): z = e^{iθ}, optionally demodulated."""

    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "demod_hz": {
                "type": "number",
                "description": "carrier to subtract from the phase, in Hz (default: none)",
            },
        },
    }

    def __init__(self, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        self.demod_hz = _number(params, "demod_hz", None)

    def encode(self, times: np.ndarray, values: np.ndarray) -> np.ndarray:
        theta = np.asarray(_first_column(values), dtype=np.float64)
        if self.demod_hz:
            theta = theta - 2 * np.pi * kernels.carrier_cycles(times, self.demod_hz)
        return np.exp(1j * theta)


_NO_PARAMS: Mapping[str, Any] = {"type": "object", "additionalProperties": False}


class DirectEncoder(Encoder):
    """Real samples taken as they are: z = x + 0i."""

    params_schema: ClassVar[Mapping[str, Any]] = _NO_PARAMS

    def encode(self, times: np.ndarray, values: np.ndarray) -> np.ndarray:
        return np.asarray(_first_column(values), dtype=np.float64).astype(np.complex128)


class ComplexEncoder(Encoder):
    """Complex samples (a sensor that measures phasors itself) taken as they are."""

    params_schema: ClassVar[Mapping[str, Any]] = _NO_PARAMS

    def encode(self, times: np.ndarray, values: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(_first_column(values), dtype=np.complex128)


def encoder_class(type_name: str) -> type[Encoder]:
    """The encoder class of ``type_name``, or ConfigError listing the installed types."""
    cls: type[Encoder] = registry.load(registry.ENCODINGS, type_name)
    return cls


def make_encoder(type_name: str, params: Mapping[str, Any]) -> Encoder:
    """A new encoder of ``type_name``; every refusal is a ConfigError saying which."""
    cls = encoder_class(type_name)
    try:
        return cls(params)
    except ConfigError:
        raise
    except (TypeError, ValueError, KeyError) as exc:  # a plugin that did not say it nicely
        raise ConfigError(f"encoding {type_name!r} refuses its params: {exc}") from exc
