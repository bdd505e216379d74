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
        agent = as_str(spec.get("agent")) or ""
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
        host = as_str(spec.get("host")) or agent_host
        weight = as_number(spec.get("weight"))
        devices[name] = DeviceInfo(
            name=name,
            cls=cls,
            agent=agent_url,
            host=host,
            agent_port=agent_port,
            weight=weight if weight is not None else (cls.weight if cls else None),
            agent_key=_agent_key(spec.get("agent_key"), where, report, base_dir),
        )
    return devices


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
