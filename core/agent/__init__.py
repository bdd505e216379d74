"""The per-device agent: supervises actor processes and answers the control plane."""

from kairos.agent.config import AgentConfig
from kairos.agent.daemon import Agent

__all__ = ["Agent", "AgentConfig"]
