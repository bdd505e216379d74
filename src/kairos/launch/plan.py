"""The launch plan: which actor runs on which device, with which role and endpoint.

A plan holds each actor's one description, its :class:`~kairos.actors.spec.ActorProcessSpec`
(what the launcher sends to the agents), so what is planned, printed and deployed cannot
differ.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kairos.actors.spec import ActorProcessSpec, build_specs
from kairos.errors import KairosError
from kairos.topologies.model import Topology


class PlanError(KairosError):
    """Raised when a launch cannot be planned (an excluded actor that does not exist…)."""


@dataclass(frozen=True)
class Plan:
    topology: Topology
    #: every actor's process spec, by name, ordered by device then name
    specs: Mapping[str, ActorProcessSpec]
    #: actors planned (their endpoints are reserved) but started by someone else, e.g. a
    #: replayer
    excluded: frozenset[str] = field(default_factory=frozenset)

    @property
    def actors(self) -> tuple[ActorProcessSpec, ...]:
        """Every planned actor, excluded ones included, by device then name."""
        return tuple(self.specs.values())

    def on(self, device: str) -> list[ActorProcessSpec]:
        """The actors the launcher starts on ``device`` (excluded ones are left out)."""
        return [a for a in self.actors if a.device == device and a.name not in self.excluded]

    @property
    def devices(self) -> list[str]:
        return list(self.topology.devices)

    def lines(self) -> list[str]:
        """The plan as aligned text, one actor a line."""
        header = ("DEVICE", "ACTOR", "ROLE", "ENDPOINT", "")
        rows = [
            (a.device, a.name, a.role, a.endpoint, "excluded" if a.name in self.excluded else "")
            for a in self.actors
        ]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
        return [
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + f"  {row[4]}"
            for row in [header, *rows]
        ]


def make_plan(
    topology: Topology, exclude: Iterable[str] = (), work_root: Path | None = None
) -> Plan:
    """Plan ``topology``; ``work_root`` is where the specs say actors write (None: their
    current directory; an agent puts every actor's work dir under its own state dir)."""
    excluded = frozenset(exclude)
    unknown = sorted(excluded - set(topology.actors))
    if unknown:
        raise PlanError(
            f"--exclude names actors not in topology {topology.name!r}: {', '.join(unknown)}; "
            f"actors: {', '.join(topology.actors)}"
        )
    specs = build_specs(topology, work_root)
    ordered = sorted(specs.values(), key=lambda a: (a.device, a.name))
    return Plan(topology, {a.name: a for a in ordered}, excluded)
