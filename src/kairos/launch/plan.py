"""The launch plan: which actor runs on which device, with which role and endpoint."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kairos.errors import KairosError
from kairos.topologies.model import Topology


class PlanError(KairosError):
    """Raised when a launch cannot be planned (an excluded actor that does not exist…)."""


@dataclass(frozen=True)
class PlannedActor:
    name: str
    role: str
    device: str
    endpoint: str
    #: planned (its endpoint is reserved) but started by someone else, e.g. a replayer
    excluded: bool = False


@dataclass(frozen=True)
class Plan:
    topology: Topology
    actors: tuple[PlannedActor, ...]

    def on(self, device: str) -> list[PlannedActor]:
        """The actors the launcher starts on ``device`` (excluded ones are left out)."""
        return [a for a in self.actors if a.device == device and not a.excluded]

    @property
    def devices(self) -> list[str]:
        return list(self.topology.devices)

    def lines(self) -> list[str]:
        """The plan as aligned text, one actor a line."""
        header = ("DEVICE", "ACTOR", "ROLE", "ENDPOINT", "")
        rows = [
            (a.device, a.name, a.role, a.endpoint, "excluded" if a.excluded else "")
            for a in self.actors
        ]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
        return [
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + f"  {row[4]}"
            for row in [header, *rows]
        ]


def make_plan(topology: Topology, exclude: Iterable[str] = ()) -> Plan:
    excluded = set(exclude)
    unknown = sorted(excluded - set(topology.actors))
    if unknown:
        raise PlanError(
            f"--exclude names actors not in topology {topology.name!r}: {', '.join(unknown)}; "
            f"actors: {', '.join(topology.actors)}"
        )
    actors = tuple(
        PlannedActor(
            name=a.name,
            role=a.role,
            device=a.device,
            endpoint=topology.endpoint(a.name),
            excluded=a.name in excluded,
        )
        for a in sorted(topology.actors.values(), key=lambda a: (a.device, a.name))
    )
    return Plan(topology, actors)
