"""The checks a JSON Schema cannot express, and the resolution of every default.

Runs on data that already went through the schema, but never trusts it: a value of the
wrong type was reported there and is simply skipped here, so that one run reports every
problem of a file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kairos.hardware.detect import Detection
from kairos.loopback import is_loopback_host
from kairos.topologies._actors import ActorChecker
from kairos.topologies._devices import check_clock, check_devices, check_relays, mesh_spec
from kairos.topologies._plan import check_budgets, check_ports
from kairos.topologies._report import Report
from kairos.topologies._values import as_dict
from kairos.topologies.model import Device, Topology


def resolve(
    data: dict[str, Any], report: Report, path: Path, detect: Callable[[], Detection]
) -> Topology | None:
    """Check ``data`` beyond the schema; the resolved Topology, or None if problems were found."""
    mesh = mesh_spec(as_dict(data.get("mesh")))
    devices = check_devices(as_dict(data.get("devices")), report, detect, path.parent)
    if not isinstance(as_dict(data.get("mesh")).get("encrypt"), bool):
        # closed by default: encrypted once any device's actors bind off loopback
        off = any(not is_loopback_host(d.host) for d in devices.values())
        mesh = dataclasses.replace(mesh, encrypt=off)
    actors_raw = as_dict(data.get("actors"))
    check_clock(as_dict(data.get("mesh")), devices, report)
    checker = ActorChecker(actors_raw, devices, mesh, report)
    actors = checker.run()
    relays = check_relays(devices, actors, report)
    check_ports(actors_raw, actors, devices, report)
    check_budgets(actors, devices, report)
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
                agent_key=d.agent_key,
                dial=d.dial,
                relay=relays.get(d.name),
                site=d.site,
            )
            for d in devices.values()
        },
        actors=actors,
    )
