"""Planned resources: data and control ports unique per host, and each device's budget."""

from __future__ import annotations

from typing import Any

from kairos.topologies._devices import DeviceInfo, agent_host
from kairos.topologies._report import Report
from kairos.topologies._values import article, as_dict, normal_host
from kairos.topologies.model import RELAY_INBOUND_OFFSET, ActorSpec


def check_ports(
    raw: dict[str, Any],
    actors: dict[str, ActorSpec],
    devices: dict[str, DeviceInfo],
    report: Report,
) -> None:
    """Every data port and every agent control port must be unique on its host."""
    used: dict[tuple[str, int], str] = {}
    for device in devices.values():
        if device.agent_port is None:
            continue
        key = (normal_host(device.host if device.host else ""), device.agent_port)
        agent_key = (normal_host(agent_host(device.agent)), device.agent_port)
        if agent_key in used:
            report.at_value(
                ("devices", device.name, "agent"),
                f"agent endpoint {device.agent} is already used by {used[agent_key]}; "
                "valid: one agent endpoint per device",
            )
        used[agent_key] = f"the agent of device {device.name!r}"
        used.setdefault(key, f"the agent of device {device.name!r}")
    planned = {
        (normal_host(devices[a.device].host), a.port)
        for a in actors.values()
        if a.device in devices
    } | set(used)
    for actor in actors.values():
        owner = devices.get(actor.device)
        if owner is None:
            continue
        explicit = "port" in as_dict(raw.get(actor.name))
        where = ("actors", actor.name, "port") if explicit else ("actors", actor.name)
        if actor.port > 65535:
            report.at_key(
                where,
                f"planned port {actor.port} (mesh.base_port + position) is above 65535; "
                "valid: a lower mesh.base_port, or an explicit port",
            )
            continue
        key = (normal_host(owner.host), actor.port)
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
        if actor.role == "relay":  # its inbound side takes the next port (docs/sites.md)
            inbound = (key[0], actor.port + RELAY_INBOUND_OFFSET)
            if inbound in used:
                report.at_key(
                    where,
                    f"relay {actor.name!r} also binds port {inbound[1]} (its inbound side), "
                    f"already used by {used[inbound]}; valid: a port whose next one is free",
                )
            used[inbound] = f"the inbound side of relay {actor.name!r}"


def _free_port(host: str, start: int, planned: set[tuple[str, int]]) -> int:
    port = start
    while (host, port) in planned and port < 65535:
        port += 1
    return port


def check_budgets(
    actors: dict[str, ActorSpec], devices: dict[str, DeviceInfo], report: Report
) -> None:
    for device in devices.values():
        if device.cls is None:
            continue
        budget = device.cls.budget
        mine = [a for a in actors.values() if a.device == device.name]
        where = ("devices", device.name)
        if len(mine) > budget.max_actors:
            report.at_key(
                where,
                f"{len(mine)} actors on {article(device.cls.name)} device "
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
