"""The launcher: validate a topology, plan it, deploy it to agents, watch it, tear it down."""

from kairos.launch.plan import Plan, PlanError, make_plan
from kairos.launch.session import Launch

__all__ = ["Launch", "Plan", "PlanError", "make_plan"]
