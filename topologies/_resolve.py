"""The checks a JSON Schema cannot express, and the resolution of every default.

Runs on data that already went through the schema, but never trusts it: a value of the
wrong type was reported there and is simply skipped here, so that one run reports every
problem of a file.  Cross-references (devices, inputs, pulses, clock reference), the layer
rule, cycles, device-class windows and budgets, adapters and their parameters, and port
collisions are checked here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kairos.errors import AdapterError, DeviceClassError
from kairos.hardware.classes import DeviceClass, class_names, load_class
from kairos.hardware.detect import Detection
from kairos.topologies._report import Report, nearest, one_of, show
from kairos.topologies.model import (
    DEFAULT_AGENT_PORT,
    LOCALHOST,
    ActorSpec,
    Device,
    Encoding,
    MeshSpec,
    RestartPolicy,
    Topology,
)

AUTO = "auto"
ROLES = ("sensor", "engine", "sync", "output")
_COMMON_KEYS = {"role", "device", "restart", "port"}
ROLE_KEYS: dict[str, set[str]] = {
    "sensor": _COMMON_KEYS | {"adapter", "params", "rate_hz", "chunk", "pulse"},
    "engine": _COMMON_KEYS | {"inputs", "encoding", "windows", "lag", "omega_hz", "weight"},
    "sync": _COMMON_KEYS | {"inputs", "rate_hz", "weight"},
    "output": _COMMON_KEYS | {"inputs", "adapter", "params"},
}
ACTOR_KEYS = set().union(*ROLE_KEYS.values())
#: which roles each role may take inputs from (the ±1 layer rule; sync → sync for cells)
LAYER_RULE: dict[str, tuple[str, ...]] = {
    "sensor": (),
    "engine": ("sensor",),
    "sync": ("engine", "sync"),
    "output": ("sync",),
}
_ENCODING_KEYS = {
    "lockin": {"type", "freq_hz", "lp_cycles"},
    "phase": {"type", "demod_hz"},
    "direct": {"type"},
    "complex": {"type"},
}
#: messages per second a sensor aims for when no chunk is given
_SENSOR_MESSAGES_HZ = 50


@dataclass
class _Device:
    name: str
    cls: DeviceClass | None
    agent: str
    host: str
    agent_port: int | None
    weight: float | None


def resolve(
    data: dict[str, Any], report: Report, path: Path, detect: Callable[[], Detection]
) -> Topology | None:
    """Check ``data`` beyond the schema; the resolved Topology, or None if problems were found."""
    mesh = _mesh(_dict(data.get("mesh")))
    devices = _devices(_dict(data.get("devices")), report, detect)
    actors_raw = _dict(data.get("actors"))
    _clock(_dict(data.get("mesh")), devices, report)
    checker = _ActorChecker(actors_raw, devices, mesh, report)
    actors = checker.run()
    _ports(actors_raw, actors, devices, report)
    _budgets(actors, devices, report)
    if report.problems:
        return None
    name = data.get("name")
    return Topology(
        name=str(name),
        path=path,
        mesh=mesh,
        devices={
            d.name: Device(
                name=d.name,
                device_class=d.cls.name if d.cls else "",
                agent=d.agent,
                host=d.host,
                weight=float(d.weight if d.weight is not None else 1.0),
                line=report.marked.key_at(("devices", d.name))[0],
            )
            for d in devices.values()
        },
        actors=actors,
    )


# -- helpers -------------------------------------------------------------------------------


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _a(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def _normal_host(host: str) -> str:
    host = host.strip("[]").lower()
    return "127.0.0.1" if host in ("localhost", "::1") else host


# -- mesh and devices ------------------------------------------------------------------------


def _mesh(raw: dict[str, Any]) -> MeshSpec:
    defaults = MeshSpec()
    clock = raw.get("clock")
    reference = _str(_dict(clock).get("reference"))

    def number(key: str) -> float:
        value = _number(raw.get(key))
        return getattr(defaults, key) if value is None else value

    base_port = _int(raw.get("base_port"))
    encrypt = raw.get("encrypt")
    return MeshSpec(
        emergence_threshold=number("emergence_threshold"),
        collapse_threshold=number("collapse_threshold"),
        hysteresis=number("hysteresis"),
        clock_reference=reference,
        pulse_hz=number("pulse_hz"),
        encrypt=encrypt if isinstance(encrypt, bool) else defaults.encrypt,
        base_port=defaults.base_port if base_port is None else base_port,
    )


def _clock(raw: dict[str, Any], devices: dict[str, _Device], report: Report) -> None:
    reference = _str(_dict(raw.get("clock")).get("reference"))
    if reference is not None and reference not in devices:
        report.at_value(
            ("mesh", "clock", "reference"),
            f"names no device: {show(reference)}{nearest(reference, devices)}; "
            f"valid: {one_of(devices)} (or clock: consensus)",
        )


def _devices(
    raw: dict[str, Any], report: Report, detect: Callable[[], Detection]
) -> dict[str, _Device]:
    devices: dict[str, _Device] = {}
    valid_classes = [*class_names(), AUTO]
    for name, spec in raw.items():
        if not isinstance(spec, dict):
            continue
        agent = _str(spec.get("agent")) or ""
        where = ("devices", name)
        cls: DeviceClass | None = None
        class_name = _str(spec.get("class"))
        if class_name == AUTO:
            if agent != LOCALHOST:
                report.at_value(
                    (*where, "class"),
                    "class 'auto' is detected on this machine, so it is only valid with "
                    f"agent: localhost; valid here: {', '.join(class_names())}",
                )
            else:
                try:
                    cls = load_class(detect().name)
                except DeviceClassError as exc:
                    report.at_value((*where, "class"), f"cannot detect the class: {exc}")
        elif class_name is not None:
            if class_name in class_names():
                cls = load_class(class_name)
            else:
                report.at_value(
                    (*where, "class"),
                    f"unknown device class {show(class_name)}"
                    f"{nearest(class_name, valid_classes)}; valid: {', '.join(valid_classes)}",
                )
        agent_url, agent_host, agent_port = _agent(agent, where, report)
        host = _str(spec.get("host")) or agent_host
        weight = _number(spec.get("weight"))
        devices[name] = _Device(
            name=name,
            cls=cls,
            agent=agent_url,
            host=host,
            agent_port=agent_port,
            weight=weight if weight is not None else (cls.weight if cls else None),
        )
    return devices


def _agent(agent: str, where: tuple[str, ...], report: Report) -> tuple[str, str, int | None]:
    """(normalised agent URL, its host, its control port) — localhost has no fixed port."""
    if agent == LOCALHOST or not agent.startswith("tcp://"):
        return agent, "127.0.0.1", None
    rest = agent[len("tcp://") :]
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        port_text = tail[1:] if tail.startswith(":") else ""
        host_text = f"[{host}]"
    else:
        host, _, port_text = rest.partition(":")
        host_text = host
    port = int(port_text) if port_text.isdigit() else DEFAULT_AGENT_PORT
    if not 1 <= port <= 65535:
        report.at_value((*where, "agent"), f"port {port} is out of range; valid: 1 to 65535")
    return f"tcp://{host_text}:{port}", host, port


# -- actors ------------------------------------------------------------------------------------


class _ActorChecker:
    """Checks every actor and builds its ActorSpec (ports are planned later)."""

    def __init__(
        self,
        raw: dict[str, Any],
        devices: dict[str, _Device],
        mesh: MeshSpec,
        report: Report,
    ) -> None:
        self.raw = raw
        self.devices = devices
        self.mesh = mesh
        self.report = report
        self.roles = {
            name: spec["role"]
            for name, spec in raw.items()
            if isinstance(spec, dict) and spec.get("role") in ROLES
        }

    def run(self) -> dict[str, ActorSpec]:
        actors: dict[str, ActorSpec] = {}
        for index, (name, spec) in enumerate(self.raw.items()):
            if isinstance(spec, dict):
                actors[name] = self._actor(index, name, spec)
        self._cycles()
        return actors

    def _actor(self, index: int, name: str, spec: dict[str, Any]) -> ActorSpec:
        where = ("actors", name)
        role = self.roles.get(name)
        device_name = _str(spec.get("device")) or ""
        device = self.devices.get(device_name)
        if device_name and device is None:
            self.report.at_value(
                (*where, "device"),
                f"actor on undeclared device {show(device_name)}"
                f"{nearest(device_name, self.devices)}; valid: {one_of(self.devices)}",
            )
        if role is not None:
            for key in spec:
                if key in ACTOR_KEYS and key not in ROLE_KEYS[role]:
                    self.report.at_key(
                        (*where, key),
                        f"{key!r} does not apply to {_a(role)}; {_a(role)} takes: "
                        f"{', '.join(sorted(ROLE_KEYS[role]))}",
                    )
        inputs = self._inputs(name, role, spec.get("inputs"))
        adapter_name = _str(spec.get("adapter")) if role in ("sensor", "output") else None
        params = _dict(spec.get("params"))
        rate = _number(spec.get("rate_hz"))
        adapter = self._adapter(name, role, adapter_name, params, rate) if adapter_name else None
        pulse = self._pulse(name, spec.get("pulse"), adapter) if role == "sensor" else None
        cls = device.cls if device else None
        encoding = self._encoding(name, spec.get("encoding")) if role == "engine" else None
        windows = self._windows(name, spec.get("windows"), cls) if role == "engine" else None
        restart = self._restart(name, spec.get("restart"))
        chunk = _int(spec.get("chunk"))
        if role == "sensor" and rate is not None and chunk is None:
            chunk = max(1, round(rate / _SENSOR_MESSAGES_HZ))
        if role == "sync" and rate is None:
            rate = self.mesh.pulse_hz
        return ActorSpec(
            name=name,
            role=role or "sensor",
            device=device_name,
            port=_int(spec.get("port")) or self.mesh.base_port + index,
            inputs=inputs,
            adapter=adapter_name,
            params=dict(params),
            rate_hz=rate if role in ("sensor", "sync") else None,
            chunk=chunk if role == "sensor" else None,
            encoding=encoding,
            windows=windows,
            lag=_int(spec.get("lag")) or 1,
            omega_hz=_number(spec.get("omega_hz")) or 0.0,
            weight=_number(spec.get("weight")) if role in ("engine", "sync") else None,
            pulse=pulse,
            restart=restart,
            line=self.report.marked.key_at(where)[0],
        )

    def _inputs(self, name: str, role: str | None, raw: Any) -> tuple[str, ...]:
        if not isinstance(raw, list):
            return ()
        names: list[str] = []
        for position, source in enumerate(raw):
            if not isinstance(source, str):
                continue
            names.append(source)
            where = ("actors", name, "inputs", position)
            if source not in self.raw:
                self.report.at_value(
                    where,
                    f"names no actor: {show(source)}{nearest(source, self.raw)}; "
                    f"valid: {one_of(self._feeders(role, name))}",
                )
            elif source == name:
                self.report.at_value(where, f"actor {name!r} cannot take its own output")
            elif role is not None and source in self.roles:
                allowed = LAYER_RULE[role]
                if self.roles[source] not in allowed:
                    self.report.at_value(
                        where,
                        f"{source!r} is {_a(self.roles[source])}, but {_a(role)} takes inputs only "
                        f"from {' or '.join(r + 's' for r in allowed) or 'nothing'} (layer rule: "
                        "sensor → engine → sync → output, sync → sync); valid: "
                        f"{one_of(self._feeders(role, name))}",
                    )
        return tuple(names)

    def _feeders(self, role: str | None, name: str) -> list[str]:
        allowed = LAYER_RULE.get(role or "", ROLES)
        return [n for n, r in self.roles.items() if r in allowed and n != name]

    def _adapter(
        self, name: str, role: str | None, adapter: str, params: dict[str, Any], rate: float | None
    ) -> type | None:
        """The adapter class, after checking the name, params and rate; None if unusable."""
        from kairos.actors import adapters

        kind = "sensor" if role == "sensor" else "output"
        where = ("actors", name, "adapter")
        try:
            names = adapters.sensor_names() if kind == "sensor" else adapters.output_names()
        except Exception as exc:  # a broken plugin's entry point can raise anything
            self.report.at_value(where, f"cannot list {kind} adapters: {exc}")
            return None
        if adapter not in names:
            self.report.at_value(
                where,
                f"unknown {kind} adapter {show(adapter)}{nearest(adapter, names)}; "
                f"valid: {', '.join(names)}",
            )
            return None
        lookup = adapters.sensor_adapter if kind == "sensor" else adapters.output_adapter
        try:
            cls: type = lookup(adapter)
        except (ImportError, AttributeError, AdapterError) as exc:
            self.report.at_value(
                where,
                f"unknown {kind} adapter {show(adapter)}: it is registered but its class "
                f"cannot be imported ({exc}); valid: {', '.join(_importable(kind, names))}",
            )
            return None
        self._params(name, cls, params)
        limit = getattr(cls, "max_rate_hz", None)
        if role == "sensor" and rate is not None and limit is not None and rate > limit:
            self.report.at_value(
                ("actors", name, "rate_hz"),
                f"{rate:g} Hz is more than adapter {adapter!r} supports; valid: ≤ {limit:g} Hz",
            )
        return cls

    def _params(self, name: str, cls: type, params: dict[str, Any]) -> None:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        schema = getattr(cls, "params_schema", {"type": "object"})
        try:
            validator = Draft202012Validator(dict(schema))
            errors = list(validator.iter_errors(params))
        except SchemaError as exc:
            self.report.at_value(
                ("actors", name, "adapter"),
                f"adapter {cls.__name__} has an invalid params_schema: {exc.message}",
            )
            return
        self.report.schema_errors(errors, prefix=("actors", name, "params"))

    def _pulse(self, name: str, raw: Any, adapter: type | None) -> str | None:
        pulse = _str(raw)
        if pulse is None:
            return None
        where = ("actors", name, "pulse")
        syncs = [n for n, r in self.roles.items() if r == "sync"]
        if pulse not in self.raw:
            self.report.at_value(
                where,
                f"names no actor: {show(pulse)}{nearest(pulse, self.raw)}; valid: {one_of(syncs)}",
            )
        elif pulse in self.roles and self.roles[pulse] != "sync":
            self.report.at_value(
                where,
                f"{pulse!r} is {_a(self.roles[pulse])}; only a sync publishes a mesh pulse; "
                f"valid: {one_of(syncs)}",
            )
        if adapter is not None and not getattr(adapter, "wants_pulse", False):
            self.report.at_value(
                where,
                f"adapter {getattr(adapter, 'name', adapter.__name__)!r} does not follow the "
                "mesh pulse; remove pulse, or use a coupling adapter such as kuramoto",
            )
        return pulse

    def _encoding(self, name: str, raw: Any) -> Encoding:
        if not isinstance(raw, dict) or raw.get("type") not in _ENCODING_KEYS:
            return Encoding()
        kind = raw["type"]
        for key in raw:
            if key in {"freq_hz", "lp_cycles", "demod_hz"} and key not in _ENCODING_KEYS[kind]:
                self.report.at_key(
                    ("actors", name, "encoding", key),
                    f"{key!r} does not apply to {_a(kind)} encoding; valid: "
                    f"{', '.join(sorted(_ENCODING_KEYS[kind]))}",
                )
        return Encoding(
            type=kind,
            freq_hz=_number(raw.get("freq_hz")),
            lp_cycles=_number(raw.get("lp_cycles")) or 2.0,
            demod_hz=_number(raw.get("demod_hz")),
        )

    def _windows(self, name: str, raw: Any, cls: DeviceClass | None) -> tuple[float, float] | None:
        if cls is None:
            return None
        given = _dict(raw)
        fast = _number(given.get("fast"))
        slow = _number(given.get("slow"))
        bounds = f"{_seconds(cls.tau_base_s)} to {_seconds(cls.tau_max_s)}"
        for key, value in (("fast", fast), ("slow", slow)):
            if value is not None and not cls.tau_base_s <= value <= cls.tau_max_s:
                self.report.at_value(
                    ("actors", name, "windows", key),
                    f"{_seconds(value)} is outside the bounds of device class {cls.name!r}; "
                    f"valid: {bounds}",
                )
        fast = cls.tau_base_s if fast is None else fast
        slow = cls.tau_max_s if slow is None else slow
        if fast > slow:
            self.report.at_value(
                ("actors", name, "windows"),
                f"fast window {_seconds(fast)} is longer than slow window {_seconds(slow)}; "
                f"valid: fast ≤ slow, both within {bounds}",
            )
        return (fast, slow)

    def _restart(self, name: str, raw: Any) -> RestartPolicy:
        defaults = RestartPolicy()
        if isinstance(raw, str) and raw in ("never", "on-failure", "always"):
            return RestartPolicy(policy=raw)  # type: ignore[arg-type]
        if not isinstance(raw, dict):
            return defaults
        policy = raw.get("policy")
        backoff = _number(raw.get("backoff_s")) or defaults.backoff_s
        backoff_max = _number(raw.get("backoff_max_s")) or defaults.backoff_max_s
        if backoff_max < backoff:
            self.report.at_value(
                ("actors", name, "restart"),
                f"backoff_max_s {backoff_max:g} is below backoff_s {backoff:g}; "
                "valid: backoff_max_s ≥ backoff_s",
            )
        max_restarts = _int(raw.get("max_restarts"))
        return RestartPolicy(
            policy=policy if policy in ("never", "on-failure", "always") else defaults.policy,
            max_restarts=defaults.max_restarts if max_restarts is None else max_restarts,
            backoff_s=backoff,
            backoff_max_s=backoff_max,
        )

    def _cycles(self) -> None:
        """Report each loop of sync → sync links once, at the first actor on it."""
        graph = {
            name: [
                source
                for source in _dict(self.raw[name]).get("inputs") or []
                if isinstance(source, str) and self.roles.get(source) == "sync" and source != name
            ]
            for name, role in self.roles.items()
            if role == "sync"
        }
        order = list(self.raw)
        seen: set[frozenset[str]] = set()
        state: dict[str, int] = {}  # 1: on the stack, 2: done
        stack: list[str] = []

        def visit(node: str) -> None:
            state[node] = 1
            stack.append(node)
            for source in graph.get(node, []):
                if state.get(source) == 1:
                    loop = stack[stack.index(source) :]
                    key = frozenset(loop)
                    if key not in seen:
                        seen.add(key)
                        self._report_cycle(loop, order)
                elif source not in state:
                    visit(source)
            stack.pop()
            state[node] = 2

        for node in graph:
            if node not in state:
                visit(node)

    def _report_cycle(self, loop: list[str], order: list[str]) -> None:
        start = min(loop, key=order.index)
        turn = loop.index(start)
        loop = loop[turn:] + loop[:turn]
        # `loop` runs consumer → its input; data flows the other way round
        flow = [start, *reversed(loop[1:]), start]
        feeder = loop[1 % len(loop)]
        inputs = _dict(self.raw[start]).get("inputs") or []
        position = inputs.index(feeder) if feeder in inputs else 0
        self.report.at_value(
            ("actors", start, "inputs", position),
            f"cycle of sync links: {' → '.join(flow)}; sync → sync links must form a tree "
            "(cells of cells), never a loop",
        )


def _importable(kind: str, names: list[str]) -> list[str]:
    from kairos.actors import adapters

    lookup = adapters.sensor_adapter if kind == "sensor" else adapters.output_adapter
    found = []
    for name in names:
        try:
            lookup(name)
        except (ImportError, AttributeError, AdapterError):
            continue
        found.append(name)
    return found or ["(none importable)"]


# -- ports and budgets -------------------------------------------------------------------------


def _ports(
    raw: dict[str, Any], actors: dict[str, ActorSpec], devices: dict[str, _Device], report: Report
) -> None:
    """Every data port and every agent control port must be unique on its host."""
    used: dict[tuple[str, int], str] = {}
    for device in devices.values():
        if device.agent_port is None:
            continue
        key = (_normal_host(device.host if device.host else ""), device.agent_port)
        agent_key = (_normal_host(_agent_host(device.agent)), device.agent_port)
        if agent_key in used:
            report.at_value(
                ("devices", device.name, "agent"),
                f"agent endpoint {device.agent} is already used by {used[agent_key]}; "
                "valid: one agent endpoint per device",
            )
        used[agent_key] = f"the agent of device {device.name!r}"
        used.setdefault(key, f"the agent of device {device.name!r}")
    planned = {
        (_normal_host(devices[a.device].host), a.port)
        for a in actors.values()
        if a.device in devices
    } | set(used)
    for actor in actors.values():
        owner = devices.get(actor.device)
        if owner is None:
            continue
        explicit = "port" in _dict(raw.get(actor.name))
        where = ("actors", actor.name, "port") if explicit else ("actors", actor.name)
        if actor.port > 65535:
            report.at_key(
                where,
                f"planned port {actor.port} (mesh.base_port + position) is above 65535; "
                "valid: a lower mesh.base_port, or an explicit port",
            )
            continue
        key = (_normal_host(owner.host), actor.port)
        if key in used:
            free = _free_port(key[0], actor.port, planned)
            origin = "" if explicit else " (planned as mesh.base_port + position)"
            report.at_key(
                where,
                f"port {actor.port}{origin} on {owner.host} is already used by {used[key]}; "
                f"valid: a free port on that host, e.g. port: {free}",
            )
        else:
            used[key] = f"actor {actor.name!r} (line {actor.line})"


def _agent_host(agent: str) -> str:
    rest = agent[len("tcp://") :]
    if rest.startswith("["):
        return rest[1:].partition("]")[0]
    return rest.rpartition(":")[0] or rest


def _free_port(host: str, start: int, planned: set[tuple[str, int]]) -> int:
    port = start
    while (host, port) in planned and port < 65535:
        port += 1
    return port


def _budgets(actors: dict[str, ActorSpec], devices: dict[str, _Device], report: Report) -> None:
    for device in devices.values():
        if device.cls is None:
            continue
        budget = device.cls.budget
        mine = [a for a in actors.values() if a.device == device.name]
        where = ("devices", device.name)
        if len(mine) > budget.max_actors:
            report.at_key(
                where,
                f"{len(mine)} actors on {_a(device.cls.name)} device "
                f"({', '.join(a.name for a in mine)}); "
                f"valid: at most {budget.max_actors} (move some to another device)",
            )
        rates = [(a.name, a.rate_hz) for a in mine if a.role == "sensor" and a.rate_hz]
        total = sum(rate for _, rate in rates)
        if total > budget.max_sample_rate_hz:
            detail = ", ".join(f"{n}: {r:g} Hz" for n, r in rates)
            report.at_key(
                where,
                f"sensors sample {total:g} Hz in total ({detail}), more than a "
                f"{device.cls.name} device sustains; valid: ≤ {budget.max_sample_rate_hz:g} Hz",
            )
