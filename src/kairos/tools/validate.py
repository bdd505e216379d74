"""Check topology files without starting anything.

Every problem is printed on its own line to stderr as ``FILE:LINE:COL: key: message``, then
a count; the exit status is 2 if any file has a problem.  A valid file gets a one-line
summary on stdout, or with ``--json`` its resolved form (defaults filled in) as JSON, whose
``endpoints`` map gives each actor's data-plane endpoint and whose ``relays`` map the relay
each stream of a dialling device takes (also listed under the summary line).  A valid file with
``mesh.encrypt: false`` and devices off loopback gets a warning on stderr (exit status 0).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections import Counter
from typing import Any

from kairos.errors import EXIT_OK, EXIT_USAGE, TopologyError
from kairos.registry import ROLES
from kairos.tools import _json


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="topology YAML files")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the resolved topology as JSON (an array when given several files)",
    )


def run(args: argparse.Namespace) -> int:
    from kairos.topologies.loader import load

    resolved: list[dict[str, Any]] = []
    failed = 0
    for file in args.files:
        try:
            topology = load(file)
        except TopologyError as exc:
            failed += 1
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            count = len(exc.problems)
            print(f"{file}: {count} problem{'s' if count != 1 else ''}", file=sys.stderr)
            continue
        warning = plain_data_plane(topology)
        if warning:
            print(f"{file}: warning: {warning}", file=sys.stderr)
        if args.json:
            resolved.append(to_json(topology))
        else:
            print(summary(file, topology))
            for line in routes(topology):
                print(f"  {line}")
    if args.json and resolved:
        print(_json.dumps(resolved[0] if len(args.files) == 1 else resolved, indent=2))
    return EXIT_USAGE if failed else EXIT_OK


def plain_data_plane(topology: Any) -> str | None:
    """Why an unencrypted data plane is a risk here, or None: ``encrypt: false`` given
    explicitly (left out, it would be true) while devices' actors bind off loopback."""
    exposed = [name for name, device in topology.devices.items() if not device.on_loopback]
    if topology.mesh.encrypt or not exposed:
        return None
    return (
        f"mesh.encrypt is false but device{'s' if len(exposed) > 1 else ''} "
        f"{', '.join(exposed)} {'are' if len(exposed) > 1 else 'is'} off loopback: anyone on "
        "that network can read the data plane and inject messages into it; remove "
        "'encrypt: false' to encrypt it (docs/security.md)"
    )


def summary(file: str, topology: Any) -> str:
    """``home.yaml: valid: topology 'home', 3 devices, 9 actors (3 sensors, …)``."""
    roles = Counter(actor.role for actor in topology.actors.values())
    parts = [f"{roles[r]} {r}{'s' if roles[r] != 1 else ''}" for r in ROLES if roles[r]]
    devices = len(topology.devices)
    actors = len(topology.actors)
    return (
        f"{file}: valid: topology {topology.name!r}, {devices} device{'s' if devices != 1 else ''}"
        f", {actors} actor{'s' if actors != 1 else ''} ({', '.join(parts)})"
    )


def routes(topology: Any) -> list[str]:
    """Which relay each stream of a dialling device takes (docs/sites.md): every edge is
    reachable once the topology loads, since a subscriber only ever dials out, to a
    publisher's own endpoint or to the relay that publisher dials."""
    lines = []
    for name in topology.actors:
        relay = topology.relay_of(name)
        if relay is not None:
            device = topology.actors[name].device
            lines.append(
                f"stream {name} ({device}, dials out): through relay {relay!r}, read at "
                f"{topology.endpoint(name)}, published into {topology.publish_to(name)}"
            )
    return lines


def to_json(topology: Any) -> dict[str, Any]:
    """The resolved topology as plain JSON values (paths as strings, tuples as lists)."""
    raw = dataclasses.asdict(topology)
    raw["path"] = str(topology.path)
    raw["endpoints"] = {name: topology.endpoint(name) for name in topology.actors}
    raw["relays"] = {
        name: relay for name in topology.actors if (relay := topology.relay_of(name)) is not None
    }
    return raw
