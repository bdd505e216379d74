"""The Kairos test harness: run one adapter, encoding or role from its inputs alone.

No sockets, no processes, no clock: every call is deterministic, so a unit test of a plugin or
of a role reads like its formula (the idea of dora-rs's ``MockNode`` and structlog's
``testing`` module).  Four entry points, from the smallest to the widest:

* :func:`run_encoder` — an encoding plugin on samples: its phasors, message by message, with
  optional restarts through the engine's checkpoint codec;
* :func:`run_sensor` — a sensor adapter inside the real sensor role: the samples it publishes
  on its rate grid, as the subscribers would decode them;
* :func:`run_output` — an output adapter on a sequence of :class:`OutputState` updates;
* :func:`role_harness` / :func:`run_role` — any role (sensor, engine, sync, output) from its
  role name, the streams it listens to and the few topology keys it needs (``windows`` for an
  engine, ``adapter`` and ``params`` for an output…).

Every other field of the actor's process spec comes from the real code path: the harness
writes a one-device topology holding the actor and a stand-in for each input, runs it through
the topology loader (so the keys are validated exactly as ``kairos validate`` does, plugin
params schemas included) and :func:`kairos.actors.spec.build_specs`, then starts the role
class that :func:`kairos.actors.roles.make_actor` picks.  No default is spelled here::

    from kairos.testing import message, role_harness

    with role_harness("engine", inputs=["mic"], windows={"fast": 0.5, "slow": 10}) as engine:
        out = engine.feed(message("mic", times, phases))

docs/testing.md shows each entry point with a runnable example.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import yaml

from kairos import _log, wire
from kairos.actors._checkpoint import read_checkpoint, write_checkpoint
from kairos.actors._runtime import Actor, ActorContext, Outgoing
from kairos.actors.adapters import (
    AdapterContext,
    OutputAdapter,
    OutputState,
    SensorAdapter,
    output_adapter,
    sensor_adapter,
)
from kairos.actors.roles import make_actor
from kairos.actors.sensor import Sensor
from kairos.actors.spec import ActorProcessSpec, build_specs
from kairos.errors import AdapterError, KairosError
from kairos.meshtime import MeshClock
from kairos.topologies._actors import LAYER_RULE
from kairos.topologies.loader import load, load_text
from kairos.topologies.model import LOCALHOST, Topology

__all__ = [
    "DEVICE",
    "DEVICE_CLASS",
    "START_NS",
    "ActorHarness",
    "HarnessError",
    "OutputRun",
    "RoleHarness",
    "SensorRun",
    "message",
    "messages",
    "records",
    "role_harness",
    "rows",
    "run_encoder",
    "run_output",
    "run_role",
    "run_sensor",
]

#: the mesh time runs start at by default (2025-11-22 00:06:40 UTC): a realistic stamp, so an
#: encoding that demodulates against mesh time meets the same huge numbers as in a live mesh
START_NS = 1_763_770_000_000_000_000
#: the one device of a harness topology
DEVICE = "harness"
#: its class: mac-mini admits windows from 0.1 s to 600 s, the widest span of the shipped
#: classes that still reaches minutes (pass ``device_class=`` to test another class's bounds)
DEVICE_CLASS = "mac-mini"
#: the name of a harness topology, and of the file it pretends to be in problems
_TOPOLOGY_NAME = "kairos-testing"
#: the sensor adapter of stand-in sensors (an input the test feeds itself never samples)
_STANDIN_SENSOR = {"adapter": "oscillator", "rate_hz": 1.0}


class HarnessError(KairosError):
    """A harness was used against the contract it checks (say what and where)."""


class _EncoderLike(Protocol):
    """The encoding plugin contract (``kairos.actors.Encoder``), structurally."""

    def encode(self, times: np.ndarray, values: np.ndarray) -> np.ndarray: ...

    def state(self) -> list[Any] | None: ...

    def restore(self, state: list[Any]) -> None: ...


# -- messages -----------------------------------------------------------------------------------


def message(
    stream: str,
    times: Sequence[int] | np.ndarray,
    data: np.ndarray | Mapping[str, Any],
    *,
    seq: int = 0,
    epoch: int = 1,
    fields: Sequence[str] = (),
) -> wire.Message:
    """A message as a subscriber would decode it (it really goes through encode/decode)."""
    stamps = np.asarray(times, dtype=np.int64)
    sent = int(stamps[-1]) if len(stamps) else 0
    frames = wire.encode(stream, seq, epoch, sent, stamps, data, fields)
    return wire.decode([bytes(f) for f in frames])


def messages(
    stream: str,
    times: Sequence[int] | np.ndarray,
    values: np.ndarray,
    chunk: int,
    *,
    first_seq: int = 0,
    fields: Sequence[str] = (),
) -> list[wire.Message]:
    """``times``/``values`` cut into messages of ``chunk`` samples, numbered from ``first_seq``."""
    if chunk < 1:
        raise HarnessError(f"chunk must be at least 1 sample, not {chunk}")
    stamps = np.asarray(times, dtype=np.int64)
    data = np.asarray(values)
    return [
        message(
            stream, stamps[i : i + chunk], data[i : i + chunk], seq=first_seq + k, fields=fields
        )
        for k, i in enumerate(range(0, len(stamps), chunk))
    ]


def rows(outputs: Iterable[Outgoing], stream: str = "") -> np.ndarray:
    """The sample rows an actor published on ``stream`` ("" = its main stream), stacked."""
    found = [np.asarray(o.data) for o in outputs if o.stream == stream]
    if not found:
        return np.empty((0, 0))
    return np.concatenate(found) if found[0].ndim == 1 else np.vstack(found)


def records(outputs: Iterable[Outgoing], stream: str = "") -> list[dict[str, Any]]:
    """The records (mesh states, pulses, events) an actor published on ``stream``, as maps
    (a record the actor packed itself, a sync's mesh state, is decoded)."""
    found = [o.data for o in outputs if o.stream == stream]
    return [
        data.decode() if isinstance(data, wire.PackedRecord) else data
        for data in found
        if isinstance(data, (dict, wire.PackedRecord))
    ]


# -- one actor object ---------------------------------------------------------------------------


class ActorHarness:
    """Drives one actor object: ``setup`` once, then ``feed`` messages or ``tick`` at given
    times, then ``close`` (which calls ``teardown``).  For an actor built from a topology's
    keys, see :func:`role_harness`; this class is the lower layer, for an :class:`Actor` you
    constructed yourself (a role subclass under test, say)."""

    def __init__(
        self, actor: Actor, spec: ActorProcessSpec | None = None, work_dir: Path | None = None
    ) -> None:
        self.actor = actor
        self.spec = spec or getattr(actor, "spec", None)
        if self.spec is None:
            raise HarnessError(f"{type(actor).__name__} has no spec: pass spec=")
        self._own_dir = work_dir is None
        self.work_dir = (
            Path(tempfile.mkdtemp(prefix="kairos-harness-")) if work_dir is None else work_dir
        )
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._closed = False
        context = ActorContext(self.spec, MeshClock(), _log.get("harness"), self.work_dir)
        try:
            actor.setup(context)
        except BaseException:
            if self._own_dir:  # a failed start leaves nothing behind
                shutil.rmtree(self.work_dir, ignore_errors=True)
            raise

    def feed(self, *messages: wire.Message, now_ns: int | None = None) -> list[Outgoing]:
        """Deliver messages together, at ``now_ns`` (default: the last sample time)."""
        if now_ns is None:
            now_ns = max((int(m.times[-1]) for m in messages if len(m.times)), default=0)
        return list(self.actor.update(now_ns, list(messages)))

    def tick(self, now_ns: int) -> list[Outgoing]:
        """A timer call with no input (sensors sample, syncs tick)."""
        return list(self.actor.update(now_ns, []))

    def run(self, inputs: Iterable[wire.Message]) -> list[Outgoing]:
        """Deliver ``inputs`` one at a time, in the given order, each at its last sample time
        (a record at its send time); everything published, in order."""
        out: list[Outgoing] = []
        for m in inputs:
            now = int(m.times[-1]) if len(m.times) else m.sent_ns
            out.extend(self.feed(m, now_ns=now))
        return out

    def close(self) -> None:
        """Teardown (an engine writes its last checkpoint) and remove a work dir it made."""
        if self._closed:
            return
        self._closed = True
        self.actor.teardown()
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> ActorHarness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- one role, from a topology ------------------------------------------------------------------


class RoleHarness(ActorHarness):
    """Actor ``name`` of ``topology`` (a :class:`Topology` or a topology file), alone.

    Its process spec is the one ``kairos launch`` would give it (its work directory moved to
    ``work_dir``); its inputs are whatever the test feeds, under the input actors' names.
    """

    def __init__(
        self,
        topology: Topology | str | Path,
        name: str,
        *,
        work_dir: Path | None = None,
        _make: Callable[[ActorProcessSpec], Actor] = make_actor,
    ) -> None:
        self.topology = topology if isinstance(topology, Topology) else load(topology)
        if name not in self.topology.actors:
            raise HarnessError(
                f"topology {self.topology.name!r} has no actor {name!r}; "
                f"valid: {', '.join(self.topology.actors)}"
            )
        self.name = name
        self._make = _make
        self._own_root = work_dir is None
        self.work_root = (
            Path(tempfile.mkdtemp(prefix="kairos-harness-")) if work_dir is None else work_dir
        )
        try:
            actor = _make(build_specs(self.topology, self.work_root)[name])
            spec: ActorProcessSpec = (
                getattr(actor, "spec", None) or build_specs(self.topology, self.work_root)[name]
            )
            super().__init__(actor, spec, Path(spec.work_dir))
        except BaseException:
            if self._own_root:  # a failed start leaves nothing behind
                shutil.rmtree(self.work_root, ignore_errors=True)
            raise
        self._own_dir = False  # the root is removed instead (see close)

    def restart(self) -> RoleHarness:
        """Stop this actor as its process would stop (teardown: an engine checkpoints) and
        start a fresh one on the same spec and work directory, as the agent restarts it."""
        self.actor.teardown()
        self._closed = True
        again = RoleHarness(self.topology, self.name, work_dir=self.work_root, _make=self._make)
        again._own_root, self._own_root = self._own_root, False
        return again

    def close(self) -> None:
        super().close()
        if self._own_root:
            self._own_root = False
            shutil.rmtree(self.work_root, ignore_errors=True)

    def __enter__(self) -> RoleHarness:
        return self


def _topology_text(
    role: str,
    name: str,
    inputs: Sequence[str] | Mapping[str, Mapping[str, Any]],
    settings: Mapping[str, Any],
    device_class: str,
    mesh: Mapping[str, Any] | None,
) -> str:
    """A one-device topology: actor ``name`` with ``settings``, and a stand-in per input."""
    if role not in LAYER_RULE:
        raise HarnessError(f"unknown role {role!r}; valid: {', '.join(LAYER_RULE)}")
    actors: dict[str, dict[str, Any]] = {}
    given = dict(inputs) if isinstance(inputs, Mapping) else {key: {} for key in inputs}
    if given and not LAYER_RULE[role]:
        raise HarnessError(f"a {role} takes no inputs; it was given {', '.join(given)}")
    for source, extra in given.items():
        source_role = extra.get("role", LAYER_RULE[role][0] if LAYER_RULE[role] else "")
        actors[source] = {**_standin(source_role, actors), **extra}
    pulse = settings.get("pulse")
    if isinstance(pulse, str) and pulse not in actors:  # a coupled sensor follows a sync
        actors[pulse] = _standin("sync", actors)
    actors[name] = {"role": role, "device": DEVICE, **settings}
    if given:
        actors[name]["inputs"] = list(given)
    document: dict[str, Any] = {
        "name": _TOPOLOGY_NAME,
        "devices": {DEVICE: {"class": device_class, "agent": LOCALHOST}},
        "actors": actors,
    }
    if mesh:
        document["mesh"] = dict(mesh)
    return yaml.safe_dump(document, sort_keys=False)


def _standin(role: str, actors: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The topology entry of a stand-in ``role`` actor, adding the stand-ins it needs itself."""
    entry: dict[str, Any] = {"role": role, "device": DEVICE}
    feeders = LAYER_RULE.get(role, ())
    if not feeders:
        return {**entry, **_STANDIN_SENSOR}
    feeder = f"{_TOPOLOGY_NAME}-{feeders[0]}"
    if feeder not in actors:
        actors[feeder] = _standin(feeders[0], actors)
    return {**entry, "inputs": [feeder]}


def role_harness(
    role: str,
    *,
    name: str | None = None,
    inputs: Sequence[str] | Mapping[str, Mapping[str, Any]] = (),
    device_class: str = DEVICE_CLASS,
    mesh: Mapping[str, Any] | None = None,
    work_dir: Path | None = None,
    base_dir: Path | None = None,
    **settings: Any,
) -> RoleHarness:
    """The ``role`` actor alone, set up and ready for ``feed``/``tick``.

    ``settings`` are the actor's keys as a topology file spells them (``windows={"fast": 0.5,
    "slow": 10}``, ``encoding={...}``, ``adapter=``, ``params=``, ``rate_hz=``…); whatever is
    left out takes the default ``kairos launch`` would give it.  ``inputs`` names the streams
    it listens to; as a mapping, each input's own topology keys (``{"a": {"weight": 3.0}}``
    for a sync's node weights, ``{"c": {"role": "sync"}}`` for a cell of cells).  ``mesh``
    holds keys of the topology's mesh section.  Relative paths in ``params`` start at
    ``base_dir`` (default: the working directory), as they start at the topology file's
    directory in a launch.  Invalid keys raise :class:`~kairos.errors.TopologyError` with
    the same messages ``kairos validate`` prints.
    """
    actor = name or role
    text = _topology_text(role, actor, inputs, settings, device_class, mesh)
    return RoleHarness(_load_harness(text, actor, base_dir), actor, work_dir=work_dir)


def _load_harness(text: str, actor: str, base_dir: Path | None) -> Topology:
    """Validate and resolve a harness topology as if it were a file in ``base_dir``."""
    where = Path(base_dir) if base_dir is not None else Path.cwd()
    return load_text(text, f"<{_TOPOLOGY_NAME}: {actor}>", path=where / f"{_TOPOLOGY_NAME}.yaml")


def run_role(
    role: str,
    inputs: Mapping[str, Sequence[wire.Message]] = {},
    *,
    name: str | None = None,
    **settings: Any,
) -> list[Outgoing]:
    """Everything the ``role`` actor publishes for ``inputs`` (stream → its messages).

    The messages are delivered one at a time, in sample-time order across streams (ties in
    the order of ``inputs``), as a runtime receiving them live would; ``settings`` are those
    of :func:`role_harness`.
    """
    order = sorted(
        ((stream, k, m) for stream, ms in inputs.items() for k, m in enumerate(ms)),
        key=lambda item: (_first_ns(item[2]), list(inputs).index(item[0]), item[1]),
    )
    with role_harness(role, name=name, inputs=list(inputs), **settings) as harness:
        return harness.run(m for _, _, m in order)


def _first_ns(m: wire.Message) -> int:
    return int(m.times[0]) if len(m.times) else m.sent_ns


# -- sensors ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SensorRun:
    """What a sensor published: ``n`` samples on its rate grid, and the messages they left in."""

    #: int64 mesh-time stamps, shape (n,)
    times: np.ndarray
    #: the samples, shape (n,) or (n, len(fields))
    values: np.ndarray
    fields: tuple[str, ...]
    #: the messages as a subscriber decodes them (stream = the actor's name, seq from 0);
    #: the last one is cut at ``n`` samples
    messages: tuple[wire.Message, ...]


class _SensorOf(Sensor):
    """The sensor role around an adapter class that no registry lists (a plugin being written):
    everything as in :class:`Sensor` but the lookup by name."""

    def __init__(self, spec: ActorProcessSpec, cls: type[SensorAdapter]) -> None:
        super().__init__(spec)
        self._cls = cls

    def setup(self, context: ActorContext) -> None:
        self.adapter = self._cls(
            self.spec.params, self.rate_hz, AdapterContext(self.spec.name, context.work_dir)
        )


def run_sensor(
    adapter: str | type[SensorAdapter],
    params: Mapping[str, Any] | None = None,
    rate_hz: float = 100.0,
    n: int = 100,
    *,
    chunk: int | None = None,
    name: str = "sensor",
    start_ns: int = START_NS,
    device_class: str = DEVICE_CLASS,
    base_dir: Path | None = None,
) -> SensorRun:
    """The first ``n`` samples the sensor role publishes from ``adapter`` after ``start_ns``.

    ``adapter`` is a registered name (built-in or plugin) or an adapter class; a class no
    registry lists still runs, with its ``params`` checked against its ``params_schema`` as
    the topology loader would.  The role is driven as the runtime drives it: a first call at
    ``start_ns`` puts the sample grid in place, then one call at each ``next_call_ns()``.
    A sensor that runs out (a file) gives fewer samples.
    """
    if n < 1:
        raise HarnessError(f"n must be at least 1 sample, not {n}")
    settings: dict[str, Any] = {"rate_hz": rate_hz, "params": dict(params or {})}
    if chunk is not None:
        settings["chunk"] = chunk
    if isinstance(adapter, type) and not _is_registered(adapter):
        cls = adapter
        _check_params(cls, settings["params"], f"sensor adapter {cls.__name__}")
        limit = cls.max_rate_hz
        if limit is not None and rate_hz > limit:
            raise AdapterError(f"{rate_hz:g} Hz is more than {cls.__name__} supports ({limit:g})")
        # the spec of a stand-in sensor of the same rate and chunk, given this adapter
        text = _topology_text(
            "sensor",
            name,
            (),
            {**settings, **_STANDIN_SENSOR, "rate_hz": rate_hz, "params": {}},
            device_class,
            None,
        )
        harness = RoleHarness(
            _load_harness(text, name, base_dir),
            name,
            _make=lambda spec: _SensorOf(
                dataclasses.replace(spec, adapter=cls.name, params=settings["params"]), cls
            ),
        )
    else:
        label = adapter if isinstance(adapter, str) else adapter.name
        harness = role_harness(
            "sensor",
            name=name,
            device_class=device_class,
            base_dir=base_dir,
            adapter=label,
            **settings,
        )
    with harness:
        out = harness.tick(start_ns)
        produced = sum(len(o.times) for o in out)
        while produced < n:
            at = harness.actor.next_call_ns()
            if at is None:
                break  # exhausted
            more = harness.tick(at)
            out += more
            produced += sum(len(o.times) for o in more)
    published: list[wire.Message] = []
    left = n
    for seq, o in enumerate(out):
        if left <= 0:
            break
        take = min(left, len(o.times))
        data = np.asarray(o.data)[:take]
        published.append(message(name, np.asarray(o.times)[:take], data, seq=seq, fields=o.fields))
        left -= take
    if not published:
        return SensorRun(np.empty(0, np.int64), np.empty(0), (), ())
    return SensorRun(
        times=np.concatenate([m.times for m in published]),
        values=np.concatenate([np.asarray(m.data) for m in published]),
        fields=tuple(published[0].fields),
        messages=tuple(published),
    )


def _is_registered(cls: type[SensorAdapter] | type[OutputAdapter]) -> bool:
    lookup = sensor_adapter if issubclass(cls, SensorAdapter) else output_adapter
    try:
        return lookup(getattr(cls, "name", "")) is cls
    except AdapterError:
        return False


def _check_params(cls: type, params: Mapping[str, Any], what: str) -> None:
    """``params`` against ``cls.params_schema`` (JSON Schema 2020-12, as the topology loader
    checks a registered plugin's), or AdapterError listing every problem."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    schema = dict(getattr(cls, "params_schema", {"type": "object"}))
    try:
        errors = list(Draft202012Validator(schema).iter_errors(dict(params)))
    except SchemaError as exc:
        raise AdapterError(f"{what} has an invalid params_schema: {exc.message}") from None
    if errors:
        problems = "; ".join(
            f"params{''.join(f'[{p!r}]' for p in e.absolute_path)}: {e.message}" for e in errors
        )
        raise AdapterError(f"{what}: {problems}")


# -- outputs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputRun:
    """An output adapter after its updates: the (closed) adapter, and where it wrote."""

    adapter: OutputAdapter
    work_dir: Path
    writes: int


def run_output(
    adapter: str | type[OutputAdapter],
    params: Mapping[str, Any] | None,
    states: Iterable[OutputState],
    *,
    work_dir: Path,
    name: str = "output",
) -> OutputRun:
    """``adapter`` fed ``states`` one by one, then closed (files flushed, threads joined).

    ``params`` are checked against the adapter's ``params_schema`` first; relative paths the
    adapter writes land in ``work_dir`` (its actor work directory), which is kept for the
    test to read.
    """
    cls = output_adapter(adapter) if isinstance(adapter, str) else adapter
    given = dict(params or {})
    _check_params(cls, given, f"output adapter {cls.__name__}")
    work_dir.mkdir(parents=True, exist_ok=True)
    instance = cls(given, AdapterContext(name, work_dir))
    writes = 0
    try:
        for state in states:
            instance.write(state)
            writes += 1
    finally:
        instance.close()
    return OutputRun(instance, work_dir, writes)


# -- encodings ----------------------------------------------------------------------------------


def run_encoder(
    encoder: _EncoderLike | type,
    times: Sequence[int] | np.ndarray,
    values: np.ndarray,
    *,
    params: Mapping[str, Any] | None = None,
    chunk: int | None = None,
    restart_every: int | None = None,
) -> np.ndarray:
    """The phasors an encoding gives ``values`` sampled at ``times``: complex128, shape (n,).

    ``encoder`` is an encoding instance, or its class with ``params`` (checked against its
    ``params_schema``).  The samples go in as the engine hands them over: one ``encode`` call
    per message of ``chunk`` samples (default: one message), in time order, and each result
    is checked against the contract.  With ``restart_every=k`` (a class only), the encoder's
    ``state()`` is saved after every k messages through the engine's checkpoint codec, and a
    fresh instance ``restore``s it and goes on, as after an engine restart: a correct plugin
    gives the same phasors as without restarts.
    """
    stamps = np.ascontiguousarray(times, dtype=np.int64)
    data = np.asarray(values)
    if stamps.ndim != 1 or data.shape[:1] != stamps.shape:
        raise HarnessError(f"times {stamps.shape} and values {data.shape} do not pair up")
    if isinstance(encoder, type):
        given = dict(params or {})
        _check_params(encoder, given, f"encoding {encoder.__name__}")
        current: _EncoderLike = encoder(given)
    else:
        if params is not None or restart_every is not None:
            raise HarnessError(
                "params= and restart_every= need the encoding class, not an instance"
            )
        current = encoder
    size = chunk or max(1, len(stamps))
    out: list[np.ndarray] = []
    for k, i in enumerate(range(0, len(stamps), size)):
        if restart_every and k and k % restart_every == 0 and isinstance(encoder, type):
            current = _restarted(encoder, dict(params or {}), current)
        part = stamps[i : i + size]
        z = np.asarray(current.encode(part, data[i : i + size]))
        if z.shape != part.shape or z.dtype != np.complex128:
            raise HarnessError(
                f"{type(current).__name__}.encode returned {z.dtype} {z.shape} for "
                f"{len(part)} samples; the contract is complex128 of shape ({len(part)},)"
            )
        out.append(z)
    return np.concatenate(out) if out else np.empty(0, np.complex128)


def _restarted(cls: type, params: dict[str, Any], old: _EncoderLike) -> _EncoderLike:
    """A fresh ``cls`` holding ``old``'s state after a trip through a checkpoint file."""
    fresh: _EncoderLike = cls(params)
    saved = old.state()
    if saved is None:
        return fresh
    with tempfile.TemporaryDirectory(prefix="kairos-harness-") as tmp:
        path = Path(tmp) / "encoder.ckpt"
        write_checkpoint(path, {"encoder": saved})
        fresh.restore(read_checkpoint(path)["encoder"])
    return fresh
