"""The one list of roles, adapters and encodings: built-in, and added by plugins.

Every module that needs to know which roles exist, which adapters or encodings a name may
take, or which built-in adapter never speaks TLS reads it here.  The registry sits in the
foundation layer: it names classes by ``"module:Class"`` strings and loads them through
importlib only when asked (as entry points do), so the topology loader can check names and
params without importing :mod:`kairos.actors` itself, and the agent can answer "is this
installed?" without loading NumPy.

Plugins are found through two entry-point groups (docs/adapters.md, docs/encodings.md):
``kairos.adapters`` (sensor and output adapters; which of the two a class is, its base class
says) and ``kairos.encodings`` (entry name = the encoding ``type``).  A built-in name always
wins over a plugin of the same name.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, get_args

from kairos.errors import AdapterError, ConfigError, KairosError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

Role = Literal["sensor", "engine", "sync", "output", "relay"]
#: every role, in the order data flows through them (docs/design.md §2)
ROLES: tuple[Role, ...] = get_args(Role)


@dataclass(frozen=True)
class Builtin:
    """A class shipped with Kairos, named without importing it."""

    #: ``"module:Class"``
    target: str
    #: the class may speak TLS; False lets its actor block ``ssl`` and ``_hashlib``
    #: (~7.5 MB on a Pi Zero, see kairos._lean)
    tls: bool = False


@dataclass(frozen=True)
class Kind:
    """One kind of pluggable class: where its plugins register and what they derive from."""

    #: what the kind is called in messages (``sensor adapter``)
    label: str
    #: the entry-point group plugins of this kind register in
    group: str
    #: ``"module:Class"`` of the base class every class of this kind derives from
    base: str
    builtins: Mapping[str, Builtin]
    #: the error raised for an unknown or unusable name of this kind
    error: type[KairosError] = ConfigError


SENSOR_ADAPTERS = Kind(
    "sensor adapter",
    "kairos.adapters",
    "kairos.actors.adapters:SensorAdapter",
    MappingProxyType(
        {
            "oscillator": Builtin("kairos.actors.sensors.oscillator:OscillatorSensor"),
            "kuramoto": Builtin("kairos.actors.sensors.kuramoto:KuramotoSensor"),
            "file": Builtin("kairos.actors.sensors.file:FileSensor"),
            "system": Builtin("kairos.actors.sensors.system:SystemSensor"),
        }
    ),
    AdapterError,
)
OUTPUT_ADAPTERS = Kind(
    "output adapter",
    "kairos.adapters",
    "kairos.actors.adapters:OutputAdapter",
    MappingProxyType(
        {
            "log": Builtin("kairos.actors.outputs.log:LogOutput"),
            "jsonl": Builtin("kairos.actors.outputs.jsonl:JsonlOutput"),
            "csv": Builtin("kairos.actors.outputs.csv:CsvOutput"),
            # may POST over HTTPS
            "http": Builtin("kairos.actors.outputs.http:HttpOutput", tls=True),
            "speaker": Builtin("kairos.actors.outputs.speaker:SpeakerOutput"),
            "display": Builtin("kairos.actors.outputs.display:DisplayOutput"),
            "motor": Builtin("kairos.actors.outputs.motor:MotorOutput"),
        }
    ),
    AdapterError,
)
ENCODINGS = Kind(
    "encoding",
    "kairos.encodings",
    "kairos.actors.encodings:Encoder",
    MappingProxyType(
        {
            "lockin": Builtin("kairos.actors.encodings:LockinEncoder"),
            "phase": Builtin("kairos.actors.encodings:PhaseEncoder"),
            "direct": Builtin("kairos.actors.encodings:DirectEncoder"),
            "complex": Builtin("kairos.actors.encodings:ComplexEncoder"),
        }
    ),
)
#: the kind of adapter each role takes; the roles not listed take none
ADAPTER_KINDS: Mapping[str, Kind] = MappingProxyType(
    {"sensor": SENSOR_ADAPTERS, "output": OUTPUT_ADAPTERS}
)


def load_target(target: str) -> Any:
    """The object ``"module:attribute"`` names, imported now (ImportError, AttributeError)."""
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


@functools.cache
def plugins(group: str) -> Mapping[str, EntryPoint]:
    """The entry points of ``group``, by name; scanned once per process, because the scan
    reads the metadata of every installed distribution (~20 ms, repeated per actor of a
    topology)."""
    # imported here: importlib.metadata pulls in email and csv, ~1 MB an actor never needs
    from importlib.metadata import entry_points

    return MappingProxyType({ep.name: ep for ep in entry_points(group=group)})


def reset_plugin_cache() -> None:
    """Forget the plugin scan: the next lookup sees plugins installed (or put on
    ``sys.path``) since the first one.  For tests and for tools that install plugins while
    running; an actor process never needs it."""
    plugins.cache_clear()


def is_kind(obj: Any, kind: Kind) -> bool:
    """Whether ``obj`` is a class deriving from ``kind``'s base class (compared by name, so
    that checking costs no import of the base's package)."""
    if not isinstance(obj, type):
        return False
    module, _, name = kind.base.partition(":")
    return any(c.__module__ == module and c.__qualname__ == name for c in obj.__mro__)


def _load_plugin(kind: Kind, ep: EntryPoint) -> Any:
    """The object an entry point names, or ``kind.error`` naming the plugin that failed."""
    try:
        return ep.load()
    except Exception as exc:  # a plugin's import can raise anything; report which one
        raise kind.error(
            f"{kind.label} plugin {ep.name!r} ({ep.value}) failed to load: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def names(kind: Kind) -> list[str]:
    """Every name of ``kind``: the built-ins, sorted, then the plugins that load as one,
    sorted (a message listing them reads the same whatever plugins are installed)."""
    found = set()
    for name, ep in plugins(kind.group).items():
        if name in kind.builtins:
            continue
        try:
            obj = _load_plugin(kind, ep)
        except KairosError:
            continue  # not listed; looking the name up reports why (see load)
        if is_kind(obj, kind):
            found.add(name)
    return sorted(kind.builtins) + sorted(found)


def load(kind: Kind, name: str) -> type:
    """The class of ``kind`` called ``name``; ``kind.error`` says why not, listing the names.

    A built-in whose module fails to import (a broken installation) is ``kind.error`` too.
    """
    builtin = kind.builtins.get(name)
    if builtin is not None:
        try:
            cls: type = load_target(builtin.target)
        except (ImportError, AttributeError) as exc:
            raise kind.error(
                f"built-in {kind.label} {name!r} ({builtin.target}) cannot be imported: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return cls
    plugin = plugins(kind.group).get(name)
    if plugin is not None:
        obj = _load_plugin(kind, plugin)
        if is_kind(obj, kind):
            return obj  # type: ignore[no-any-return]
        article = "an" if kind.label[:1] in "aeiou" else "a"
        raise kind.error(
            f"{kind.label} plugin {name!r} ({plugin.value}) is not {article} {kind.label}"
        )
    raise kind.error(f"unknown {kind.label} {name!r}; valid: {', '.join(names(kind))}")


def needs_tls(role: str, adapter: str | None) -> bool:
    """Whether an actor of ``role`` with ``adapter`` may speak TLS.

    Engines and syncs never do; of the adapters, only built-ins are known not to: a plugin
    adapter may do anything, so it keeps TLS.
    """
    kind = ADAPTER_KINDS.get(role)
    if kind is None:
        return False
    builtin = kind.builtins.get(adapter or "")
    return builtin.tls if builtin is not None else True
