"""The per-device agent: supervises actor processes and answers the control plane.

The daemon is :class:`kairos.agent.daemon.Agent`, its settings
:class:`kairos.agent.config.AgentConfig`.  This package imports nothing itself, so that
``python -m kairos.agent`` can keep heavy modules out before the daemon is loaded.
"""
