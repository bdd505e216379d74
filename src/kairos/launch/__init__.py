"""The launcher: validate a topology, plan it, deploy it to agents, watch it, tear it down.

Each device's agent comes from an :class:`AgentProvider` (remote, local or emulated); the
:class:`Launch` itself keeps keys, encryption, the witness, reconciliation and mesh time.
"""

from kairos.launch.plan import Plan, PlanError, make_plan
from kairos.launch.providers import AgentProvider, EmulatedAgent, LocalAgent, RemoteAgent
from kairos.launch.session import Launch

__all__ = [
    "AgentProvider",
    "EmulatedAgent",
    "Launch",
    "LocalAgent",
    "Plan",
    "PlanError",
    "RemoteAgent",
    "make_plan",
]
