"""Each actor: role keys, inputs and the layer rule, adapters and their params, pulses,
encodings, windows within the device class, restart policies; and sync → sync loops."""

from __future__ import annotations

from typing import Any, TypeVar

from kairos import registry
from kairos.errors import KairosError
from kairos.hardware.classes import DeviceClass
from kairos.topologies._devices import DeviceInfo
from kairos.topologies._report import Report, nearest, one_of, show
from kairos.topologies._values import (
    article,
    as_dict,
    as_int,
    as_list,
    as_number,
    as_str,
    seconds,
)
from kairos.topologies.model import (
    RELAY_INBOUND_OFFSET,
    RESTART_POLICIES,
    ActorSettings,
    ActorSpec,
    Encoding,
    MeshSpec,
    RestartPolicy,
    default_chunk,
)

ROLES = registry.ROLES
_COMMON_KEYS = {"role", "device", "restart", "port"}
ROLE_KEYS: dict[str, set[str]] = {
    "sensor": _COMMON_KEYS | {"adapter", "params", "rate_hz", "chunk", "pulse", "max_read_errors"},
    "engine": _COMMON_KEYS | {"inputs", "encoding", "windows", "lag", "omega_hz", "weight"},
    "sync": _COMMON_KEYS | {"inputs", "rate_hz", "weight"},
    "output": _COMMON_KEYS | {"inputs", "adapter", "params"},
    # forwards the streams of devices nothing can dial (kairos.actors.relay): no inputs of
    # its own; which streams pass through it the launch plan decides
    "relay": set(_COMMON_KEYS),
}
ACTOR_KEYS = set().union(*ROLE_KEYS.values())
#: which roles each role may take inputs from (the ±1 layer rule; sync → sync for cells)
LAYER_RULE: dict[str, tuple[str, ...]] = {
    "sensor": (),
    "engine": ("sensor",),
    "sync": ("engine", "sync"),
    "output": ("sync",),
    "relay": (),
}
_DEFAULTS = ActorSettings()
_T = TypeVar("_T")


class ActorChecker:
    """Checks every actor and builds its ActorSpec (ports are planned later)."""

    def __init__(
        self,
        raw: dict[str, Any],
        devices: dict[str, DeviceInfo],
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
        position = 0  # a relay takes two planned ports: its own and its inbound side's
        for name, spec in self.raw.items():
            if isinstance(spec, dict):
                actors[name] = self._actor(position, name, spec)
                position += 1 + (RELAY_INBOUND_OFFSET if self.roles.get(name) == "relay" else 0)
            else:
                position += 1
        self._cycles()
        return actors

    def _actor(self, index: int, name: str, spec: dict[str, Any]) -> ActorSpec:
        where = ("actors", name)
        role = self.roles.get(name)
        device_name = as_str(spec.get("device")) or ""
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
                        f"{key!r} does not apply to {article(role)}; {article(role)} takes: "
                        f"{', '.join(sorted(ROLE_KEYS[role]))}",
                    )
        inputs = self._inputs(name, role, spec.get("inputs"))
        adapter_name = as_str(spec.get("adapter")) if role in ("sensor", "output") else None
        params = as_dict(spec.get("params"))
        rate = as_number(spec.get("rate_hz"))
        adapter = self._adapter(name, role, adapter_name, params, rate) if adapter_name else None
        pulse = self._pulse(name, spec.get("pulse"), adapter) if role == "sensor" else None
        cls = device.cls if device else None
        encoding = self._encoding(name, spec.get("encoding")) if role == "engine" else None
        windows = self._windows(name, spec.get("windows"), cls) if role == "engine" else None
        restart = self._restart(name, spec.get("restart"))
        chunk = as_int(spec.get("chunk"))
        if role == "sensor" and rate is not None and chunk is None:
            chunk = default_chunk(rate)
        if role == "sync" and rate is None:
            rate = self.mesh.pulse_hz
        max_read_errors = as_int(spec.get("max_read_errors"))
        return ActorSpec(
            name=name,
            role=role or "sensor",
            device=device_name,
            port=as_int(spec.get("port")) or self.mesh.base_port + index,
            inputs=inputs,
            adapter=adapter_name,
            params=dict(params),
            rate_hz=rate if role in ("sensor", "sync") else None,
            chunk=chunk if role == "sensor" else None,
            encoding=encoding,
            windows=windows,
            lag=_given(as_int(spec.get("lag")), _DEFAULTS.lag),
            omega_hz=_given(as_number(spec.get("omega_hz")), _DEFAULTS.omega_hz),
            weight=as_number(spec.get("weight")) if role in ("engine", "sync") else None,
            pulse=pulse,
            restart=restart,
            max_read_errors=_given(max_read_errors, _DEFAULTS.max_read_errors),
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
                        f"{source!r} is {article(self.roles[source])}, but {article(role)} "
                        f"takes inputs only from {_plural(allowed)} (layer rule: "
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
        kind = registry.ADAPTER_KINDS[role or "sensor"]
        cls = self._class(kind, adapter, ("actors", name, "adapter"))
        if cls is None:
            return None
        self._params(
            ("actors", name, "params"),
            f"{kind.label} {adapter!r}",
            getattr(cls, "params_schema", {"type": "object"}),
            params,
        )
        limit = getattr(cls, "max_rate_hz", None)
        if role == "sensor" and rate is not None and limit is not None and rate > limit:
            self.report.at_value(
                ("actors", name, "rate_hz"),
                f"{rate:g} Hz is more than adapter {adapter!r} supports; valid: ≤ {limit:g} Hz",
            )
        return cls

    def _class(self, kind: registry.Kind, wanted: str, where: tuple[str, ...]) -> type | None:
        """The class of ``kind`` called ``wanted`` (imported through the registry, never by
        this layer); None, with the problem reported at ``where``, if there is none."""
        try:
            names = registry.names(kind)
        except Exception as exc:  # a broken plugin's entry point can raise anything
            self.report.at_value(where, f"cannot list {kind.label}s: {exc}")
            return None
        if wanted not in names:
            what = "type" if kind is registry.ENCODINGS else kind.label
            self.report.at_value(
                where,
                f"unknown {what} {show(wanted)}{nearest(wanted, names)}; valid: {', '.join(names)}",
            )
            return None
        try:
            return registry.load(kind, wanted)
        except (ImportError, AttributeError, KairosError) as exc:
            self.report.at_value(
                where,
                f"unknown {kind.label} {show(wanted)}: it is registered but its class "
                f"cannot be imported ({exc}); valid: {', '.join(_importable(kind, names))}",
            )
            return None

    def _params(
        self,
        where: tuple[str, ...],
        owner: str,
        schema: Any,
        params: dict[str, Any],
        closed: Any = None,
    ) -> None:
        """Report each way ``params`` breaks the class's ``params_schema``; ``closed``
        reports a key the schema does not know, when the caller words that itself."""
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            validator = Draft202012Validator(dict(schema))
            errors = list(validator.iter_errors(params))
        except SchemaError as exc:
            self.report.at_value(
                where[:-1] if where[-1] == "params" else where,
                f"{owner} has an invalid params_schema: {exc.message}",
            )
            return
        for error in errors:
            if (
                closed is not None
                and error.validator == "additionalProperties"
                and not list(error.absolute_path)
            ):
                known = set(schema.get("properties", {}))
                for key in error.instance:
                    if key not in known:
                        closed(key, known)
            else:
                self.report.schema_errors([error], prefix=where)

    def _pulse(self, name: str, raw: Any, adapter: type | None) -> str | None:
        pulse = as_str(raw)
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
                f"{pulse!r} is {article(self.roles[pulse])}; only a sync publishes a mesh pulse; "
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
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            return Encoding()  # absent (the default), or the schema reported it
        encoding = Encoding.from_dict(raw)
        where = ("actors", name, "encoding")
        cls = self._class(registry.ENCODINGS, encoding.type, (*where, "type"))
        if cls is None:
            return encoding

        def closed(key: str, known: set[str]) -> None:
            self.report.at_key(
                (*where, key),
                f"{key!r} does not apply to {article(encoding.type)} encoding; valid: "
                f"{', '.join(sorted(known | {'type'}))}",
            )

        schema = getattr(cls, "params_schema", {"type": "object"})
        self._params(where, f"encoding {encoding.type!r}", schema, dict(encoding.params), closed)
        return encoding

    def _windows(self, name: str, raw: Any, cls: DeviceClass | None) -> tuple[float, float] | None:
        if cls is None:
            return None
        given = as_dict(raw)
        fast = as_number(given.get("fast"))
        slow = as_number(given.get("slow"))
        bounds = f"{seconds(cls.tau_base_s)} to {seconds(cls.tau_max_s)}"
        for key, value in (("fast", fast), ("slow", slow)):
            if value is not None and not cls.tau_base_s <= value <= cls.tau_max_s:
                self.report.at_value(
                    ("actors", name, "windows", key),
                    f"{seconds(value)} is outside the bounds of device class {cls.name!r}; "
                    f"valid: {bounds}",
                )
        fast = cls.tau_base_s if fast is None else fast
        slow = cls.tau_max_s if slow is None else slow
        if fast > slow:
            self.report.at_value(
                ("actors", name, "windows"),
                f"fast window {seconds(fast)} is longer than slow window {seconds(slow)}; "
                f"valid: fast ≤ slow, both within {bounds}",
            )
        return (fast, slow)

    def _restart(self, name: str, raw: Any) -> RestartPolicy:
        defaults = RestartPolicy()
        if isinstance(raw, str) and raw in RESTART_POLICIES:
            return RestartPolicy(policy=raw)  # type: ignore[arg-type]
        if not isinstance(raw, dict):
            return defaults
        policy = raw.get("policy")
        backoff = as_number(raw.get("backoff_s")) or defaults.backoff_s
        backoff_max = as_number(raw.get("backoff_max_s")) or defaults.backoff_max_s
        if backoff_max < backoff:
            self.report.at_value(
                ("actors", name, "restart"),
                f"backoff_max_s {backoff_max:g} is below backoff_s {backoff:g}; "
                "valid: backoff_max_s ≥ backoff_s",
            )
        max_restarts = as_int(raw.get("max_restarts"))
        return RestartPolicy(
            policy=policy if policy in RESTART_POLICIES else defaults.policy,
            max_restarts=defaults.max_restarts if max_restarts is None else max_restarts,
            backoff_s=backoff,
            backoff_max_s=backoff_max,
        )

    def _cycles(self) -> None:
        """Report each loop of sync → sync links once, at the first actor on it."""
        graph = {
            name: [
                source
                for source in as_list(as_dict(self.raw[name]).get("inputs"))
                if isinstance(source, str) and self.roles.get(source) == "sync" and source != name
            ]
            for name, role in self.roles.items()
            if role == "sync"
        }
        order = list(self.raw)
        seen: set[frozenset[str]] = set()
        state: dict[str, int] = {}  # 1: on the stack, 2: done
        stack: list[str] = []

        def visit(root: str) -> None:
            # depth-first without recursion: a chain of thousands of syncs is a valid file
            state[root] = 1
            stack.append(root)
            pending = [iter(graph.get(root, []))]
            while pending:
                source = next(pending[-1], None)
                if source is None:
                    pending.pop()
                    state[stack.pop()] = 2
                elif state.get(source) == 1:
                    loop = stack[stack.index(source) :]
                    key = frozenset(loop)
                    if key not in seen:
                        seen.add(key)
                        self._report_cycle(loop, order)
                elif source not in state:
                    state[source] = 1
                    stack.append(source)
                    pending.append(iter(graph.get(source, [])))

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
        inputs = as_list(as_dict(self.raw[start]).get("inputs"))
        position = inputs.index(feeder) if feeder in inputs else 0
        self.report.at_value(
            ("actors", start, "inputs", position),
            f"cycle of sync links: {' → '.join(flow)}; sync → sync links must form a tree "
            "(cells of cells), never a loop",
        )


def _importable(kind: registry.Kind, names: list[str]) -> list[str]:
    found = []
    for name in names:
        try:
            registry.load(kind, name)
        except (ImportError, AttributeError, KairosError):
            continue
        found.append(name)
    return found or ["(none importable)"]


def _given(value: _T | None, default: _T) -> _T:
    """The value the file gives, or the model's default (never a default of this module's)."""
    return default if value is None else value


def _plural(roles: tuple[str, ...]) -> str:
    return " or ".join(f"{role}s" for role in roles) or "nothing"
