"""Adapter contracts, and their lookup by name (built-in and plugin).

A *sensor adapter* produces sample values for given sample times; an *output adapter*
acts on node or mesh state.  Third-party packages add adapters through the
``kairos.adapters`` entry-point group; each entry point names an adapter class.  Which
names exist is :mod:`kairos.registry`'s; the entry points are scanned once per process
(:func:`reset_plugin_cache` forgets the scan).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from kairos import registry
from kairos.actors._params import check_params
from kairos.errors import AdapterError
from kairos.records import Pulse as MeshPulse  # the pulse a sensor follows, as published
from kairos.registry import reset_plugin_cache

if TYPE_CHECKING:  # a plugin scan imports this module and must not pay for NumPy
    import numpy as np

ENTRY_POINT_GROUP = registry.SENSOR_ADAPTERS.group
__all__ = [
    "ENTRY_POINT_GROUP",
    "AdapterContext",
    "MeshPulse",
    "OutputAdapter",
    "OutputState",
    "SensorAdapter",
    "construct",
    "output_adapter",
    "output_names",
    "reset_plugin_cache",
    "sensor_adapter",
    "sensor_names",
]


@dataclass(frozen=True)
class OutputState:
    """What an output adapter acts on: the latest state of the stream it listens to.

    For a sync input, ``phasor`` is the global phasor G, ``coherence`` the global coherence
    and ``active`` the emergence state; for an engine input, ``phasor`` is C·e^{iφ} of the
    slow window, ``coherence`` its C and ``active`` its collapse state.
    """

    source: str
    t_ns: int
    phasor: complex
    coherence: float
    phase: float
    active: bool


@dataclass(frozen=True)
class AdapterContext:
    """Where an adapter runs: its actor's name, and a directory it may write files to."""

    actor: str
    work_dir: Path


class SensorAdapter(ABC):
    """Produces one value (or one row of ``fields``) per requested sample time."""

    #: registry name used in topology files (``adapter: oscillator``)
    name: ClassVar[str]
    #: NumPy dtype string of the values produced (``"<f8"``, ``"<c16"``)
    dtype: ClassVar[str] = "<f8"
    #: column names when each sample is a row (e.g. the system adapter); empty for scalars
    fields: ClassVar[tuple[str, ...]] = ()
    #: JSON Schema of ``params`` (an object schema); the topology loader validates against it
    params_schema: ClassVar[Mapping[str, Any]] = {"type": "object"}
    #: highest sample rate this adapter supports (Hz), or None for no limit
    max_rate_hz: ClassVar[float | None] = None
    #: streams of the mesh pulse this adapter wants (the kuramoto adapter sets it True)
    wants_pulse: ClassVar[bool] = False

    def __init__(self, params: Mapping[str, Any], rate_hz: float, context: AdapterContext):
        check_params(self.params_schema, params, f"sensor adapter {self.name!r}")
        self.params = params
        self.rate_hz = rate_hz
        self.context = context

    @abstractmethod
    def read(self, times_ns: np.ndarray) -> np.ndarray:
        """Values for the given mesh-time stamps: shape (n,) or (n, len(fields)).

        May return fewer rows than asked (a file that ended); the runtime then sends only
        those samples with the first stamps.
        """

    def on_pulse(self, pulse: MeshPulse) -> None:  # noqa: B027 - optional hook
        """Called with each mesh pulse when ``wants_pulse`` is set."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files and devices."""


class OutputAdapter(ABC):
    """Acts on each state update of its input; must never block the actor's loop."""

    name: ClassVar[str]
    params_schema: ClassVar[Mapping[str, Any]] = {"type": "object"}

    def __init__(self, params: Mapping[str, Any], context: AdapterContext):
        check_params(self.params_schema, params, f"output adapter {self.name!r}")
        self.params = params
        self.context = context

    @abstractmethod
    def write(self, state: OutputState) -> None:
        """Act on one state update."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and release files, devices and worker threads."""


_Adapter = TypeVar("_Adapter", SensorAdapter, OutputAdapter)


def construct(what: str, make: Callable[[], _Adapter]) -> _Adapter:
    """``make()``, with a constructor's ValueError, TypeError or KeyError (a plugin, or a
    value the shape check let through) or OSError (a file or device it cannot open) turned
    into AdapterError naming ``what``: a start-up failure an actor reports in one line (and
    exits 2 on), never as a traceback."""
    try:
        return make()
    except (TypeError, ValueError, KeyError) as exc:
        raise AdapterError(f"{what} refuses its params: {type(exc).__name__}: {exc}") from exc
    except OSError as exc:
        raise AdapterError(f"{what} cannot start: {exc}") from exc


def sensor_names() -> list[str]:
    """Every sensor adapter name: built-in and from installed plugins."""
    return registry.names(registry.SENSOR_ADAPTERS)


def output_names() -> list[str]:
    """Every output adapter name: built-in and from installed plugins."""
    return registry.names(registry.OUTPUT_ADAPTERS)


def sensor_adapter(name: str) -> type[SensorAdapter]:
    """The sensor adapter class called ``name``, or AdapterError listing the valid names."""
    cls: type[SensorAdapter] = registry.load(registry.SENSOR_ADAPTERS, name)
    return cls


def output_adapter(name: str) -> type[OutputAdapter]:
    """The output adapter class called ``name``, or AdapterError listing the valid names."""
    cls: type[OutputAdapter] = registry.load(registry.OUTPUT_ADAPTERS, name)
    return cls
