"""Fixtures for recording tests: the synthetic mesh and CLI runners of ``synthetic_mesh``."""

from synthetic_mesh import kairos, kairos_cmd, mesh, synthetic  # noqa: F401 - fixtures
