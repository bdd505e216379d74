"""The mesh section and the devices: classes (and `auto`), agent addresses, hosts, weights."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kairos.errors import DeviceClassError, SecurityError
from kairos.hardware.classes import DeviceClass, class_names, load_class
from kairos.hardware.detect import Detection
from kairos.topologies._report import Report, nearest, one_of, show
from kairos.topologies._values import as_dict, as_int, as_number, as_str
from kairos.topologies.model import DEFAULT_AGENT_PORT, LOCALHOST, MeshSpec

AUTO = "auto"


@dataclass
class DeviceInfo:
    name: str
    cls: DeviceClass | None
    agent: str
    host: str
    agent_port: int | None
    weight: float | None
    agent_key: str | None = None
    #: ``agent: {dial: …}``: the agent dials the launcher (behind NAT)
    dial: bool = False
    #: the ``relay:`` key as written (resolved against the actors later)
    relay: str | None = None
    site: str | None = None


def mesh_spec(raw: dict[str, Any]) -> MeshSpec:
    defaults = MeshSpec()
    clock = raw.get("clock")
    reference = as_str(as_dict(clock).get("reference"))

    def number(key: str) -> float:
        value = as_number(raw.get(key))
        return getattr(defaults, key) if value is None else value

    base_port = as_int(raw.get("base_port"))
    encrypt = raw.get("encrypt")
    return MeshSpec(
        emergence_threshold=number("emergence_threshold"),
        collapse_threshold=number("collapse_threshold"),
        hysteresis=number("hysteresis"),
        clock_reference=reference,
        pulse_hz=number("pulse_hz"),
        max_future_s=number("max_future_s"),
        step_threshold_s=number("step_threshold_s"),
        encrypt=encrypt if isinstance(encrypt, bool) else defaults.encrypt,
        base_port=defaults.base_port if base_port is None else base_port,
    )


def check_clock(raw: dict[str, Any], devices: dict[str, DeviceInfo], report: Report) -> None:
    reference = as_str(as_dict(raw.get("clock")).get("reference"))
    if reference is not None and reference not in devices:
        report.at_value(
            ("mesh", "clock", "reference"),
            f"names no device: {show(reference)}{nearest(reference, devices)}; "
            f"valid: {one_of(devices)} (or clock: consensus)",
        )


def check_devices(
    raw: dict[str, Any],
    report: Report,
    detect: Callable[[], Detection],
    base_dir: Path | None = None,
) -> dict[str, DeviceInfo]:
    devices: dict[str, DeviceInfo] = {}
    valid_classes = [*class_names(), AUTO]
    for name, spec in raw.items():
        if not isinstance(spec, dict):
            continue
        dial_spec = spec.get("agent")
        dial = isinstance(dial_spec, dict)
        agent = (as_str(as_dict(dial_spec).get("dial")) if dial else as_str(dial_spec)) or ""
        where = ("devices", name)
        cls: DeviceClass | None = None
        class_name = as_str(spec.get("class"))
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
        # a dialling agent's URL names the launcher's host, not the device's: its actors
        # bind nothing reachable (they dial their relay), so loopback unless told
        host = as_str(spec.get("host")) or ("127.0.0.1" if dial else agent_host)
        weight = as_number(spec.get("weight"))
        devices[name] = DeviceInfo(
            name=name,
            cls=cls,
            agent=agent_url,
            host=host,
            agent_port=agent_port,
            weight=weight if weight is not None else (cls.weight if cls else None),
            agent_key=_agent_key(spec.get("agent_key"), where, report, base_dir),
            dial=dial,
            relay=as_str(spec.get("relay")),
            site=as_str(spec.get("site")),
        )
    return devices


def check_relays(
    devices: dict[str, DeviceInfo], actors: dict[str, Any], report: Report
) -> dict[str, str | None]:
    """Which relay each device's streams pass through (None: read directly), with a problem
    for every edge that could not be reached: a dialling device with actors and no relay
    to publish through (nothing can dial it), a ``relay:`` naming no relay actor, a relay on
    a dialling device (nothing could dial the relay either)."""
    relays = sorted(name for name, a in actors.items() if a.role == "relay")
    for name in relays:
        device = devices.get(actors[name].device)
        if device is not None and device.dial:
            report.at_value(
                ("actors", name, "device"),
                f"relay {name!r} is on device {device.name!r}, whose agent dials out: nothing "
                "can dial a relay behind NAT; valid: a device others can reach (a cloud VM)",
            )
    chosen: dict[str, str | None] = {}
    for device in devices.values():
        if not device.dial:
            if device.relay is not None:
                report.at_value(
                    ("devices", device.name, "relay"),
                    "only a device whose agent dials out (agent: {dial: …}) takes a relay",
                )
            chosen[device.name] = None
            continue
        mine = [a for a in actors.values() if a.device == device.name]
        if device.relay is not None:
            if device.relay not in relays:
                report.at_value(
                    ("devices", device.name, "relay"),
                    f"names no relay actor: {show(device.relay)}; valid: "
                    f"{one_of(relays) if relays else 'an actor with role: relay'}",
                )
            chosen[device.name] = device.relay
        elif len(relays) == 1:
            chosen[device.name] = relays[0]
        elif mine:
            problem = (
                "nothing can dial it, so its actors' streams need a relay; add an actor "
                "with role: relay on a device others can reach (docs/sites.md)"
                if not relays
                else f"several relays: name the one its streams take, relay: {relays[0]}"
            )
            report.at_value(("devices", device.name, "agent"), f"agent dials out: {problem}")
            chosen[device.name] = None
        else:
            chosen[device.name] = None
    return chosen


def _agent_key(
    value: Any, where: tuple[str, ...], report: Report, base_dir: Path | None
) -> str | None:
    """The agent's public key (Z85) from a key or a key file; a problem if it is neither."""
    text = as_str(value)
    if text is None:
        return None
    from kairos.keys import resolve_public

    try:
        return resolve_public(text, base_dir).decode()
    except SecurityError as exc:
        report.at_value(
            (*where, "agent_key"),
            f"{exc}; valid: 40 Z85 characters or a NAME.key file (kairos keys generate)",
        )
        return None


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
    # ASCII only: str.isdigit() accepts '²', which int() refuses; and int() refuses more than
    # 4300 digits, so a number that long is out of range before it is converted
    digits = port_text.isascii() and port_text.isdigit()
    if not digits:
        port = DEFAULT_AGENT_PORT
    else:
        port = int(port_text) if len(port_text.lstrip("0")) <= 5 else 0
    if not 1 <= port <= 65535:
        shown = port_text if len(port_text) <= 12 else port_text[:9] + "..."
        report.at_value((*where, "agent"), f"port {shown} is out of range; valid: 1 to 65535")
    return f"tcp://{host_text}:{port}", host, port


def agent_host(agent: str) -> str:
    rest = agent[len("tcp://") :]
    if rest.startswith("["):
        return rest[1:].partition("]")[0]
    return rest.rpartition(":")[0] or rest
