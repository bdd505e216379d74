"""Adapter contracts and the registry that finds them (built-in and plugin).

A *sensor adapter* produces sample values for given sample times; an *output adapter*
acts on node or mesh state.  Third-party packages add adapters through the
``kairos.adapters`` entry-point group; each entry point names an adapter class.  The
entry points are scanned once per process (:func:`reset_plugin_cache` forgets the scan).
"""

from __future__ import annotations

import functools
import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from kairos.errors import AdapterError

if TYPE_CHECKING:  # the agent imports this registry and must not pay for NumPy until it spawns
    from importlib.metadata import EntryPoint

    import numpy as np

ENTRY_POINT_GROUP = "kairos.adapters"


@dataclass(frozen=True)
class MeshPulse:
    """The sync actor's periodic pulse: mesh phase ψ, order parameter r, at mesh time."""

    t_ns: int
    mesh_phase: float
    order_parameter: float


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
        self.params = params
        self.context = context

    @abstractmethod
    def write(self, state: OutputState) -> None:
        """Act on one state update."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and release files, devices and worker threads."""


# name -> "module:Class" for built-ins; imported only when used, to keep actors lean.
_BUILTIN_SENSORS = {
    "oscillator": "kairos.actors.sensors.oscillator:OscillatorSensor",
    "kuramoto": "kairos.actors.sensors.kuramoto:KuramotoSensor",
    "file": "kairos.actors.sensors.file:FileSensor",
    "system": "kairos.actors.sensors.system:SystemSensor",
}
_BUILTIN_OUTPUTS = {
    "log": "kairos.actors.outputs.log:LogOutput",
    "jsonl": "kairos.actors.outputs.jsonl:JsonlOutput",
    "csv": "kairos.actors.outputs.csv:CsvOutput",
    "http": "kairos.actors.outputs.http:HttpOutput",
    "speaker": "kairos.actors.outputs.speaker:SpeakerOutput",
    "display": "kairos.actors.outputs.display:DisplayOutput",
    "motor": "kairos.actors.outputs.motor:MotorOutput",
}


def _load(target: str) -> type:
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


@functools.cache
def _plugins() -> Mapping[str, EntryPoint]:
    """The plugin entry points, by name; scanned once per process, because the scan reads
    the metadata of every installed distribution (~20 ms, repeated per actor of a topology).
    """
    # imported here: importlib.metadata pulls in email and csv, ~1 MB an actor never needs
    from importlib.metadata import entry_points

    return MappingProxyType({ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)})


def reset_plugin_cache() -> None:
    """Forget the plugin scan: the next lookup sees plugins installed (or put on
    ``sys.path``) since the first one.  For tests and for tools that install plugins while
    running; an actor process never needs it."""
    _plugins.cache_clear()


def _load_plugin(ep: EntryPoint) -> Any:
    """The object an entry point names, or AdapterError naming the plugin that failed."""
    try:
        return ep.load()
    except Exception as exc:  # a plugin's import can raise anything; report which one
        raise AdapterError(
            f"adapter plugin {ep.name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}"
        ) from exc


def _plugin_names(base: type) -> set[str]:
    names = set()
    for name, ep in _plugins().items():
        try:
            cls = _load_plugin(ep)
        except AdapterError:
            continue  # not listed; looking the name up reports why (see _lookup)
        if isinstance(cls, type) and issubclass(cls, base):
            names.add(name)
    return names


def sensor_names() -> list[str]:
    """Every sensor adapter name: built-in and from installed plugins."""
    return sorted(set(_BUILTIN_SENSORS) | _plugin_names(SensorAdapter))


def output_names() -> list[str]:
    """Every output adapter name: built-in and from installed plugins."""
    return sorted(set(_BUILTIN_OUTPUTS) | _plugin_names(OutputAdapter))


def sensor_adapter(name: str) -> type[SensorAdapter]:
    """The sensor adapter class called ``name``, or AdapterError listing the valid names."""
    return _lookup(name, _BUILTIN_SENSORS, SensorAdapter, sensor_names)


def output_adapter(name: str) -> type[OutputAdapter]:
    """The output adapter class called ``name``, or AdapterError listing the valid names."""
    return _lookup(name, _BUILTIN_OUTPUTS, OutputAdapter, output_names)


def _lookup(name: str, builtins: Mapping[str, str], base: type, names: Any) -> Any:
    if name in builtins:
        return _load(builtins[name])
    kind = "sensor" if base is SensorAdapter else "output"
    plugin = _plugins().get(name)
    if plugin is not None:
        cls = _load_plugin(plugin)
        if isinstance(cls, type) and issubclass(cls, base):
            return cls
        raise AdapterError(f"adapter plugin {name!r} ({plugin.value}) is not a {kind} adapter")
    raise AdapterError(f"unknown {kind} adapter {name!r}; valid: {', '.join(names())}")
