"""Fixtures for role tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def harness_of(tmp_path):
    """Wraps an actor in the test double; every harness made is closed after the test."""
    from kairos.testing import ActorHarness

    made = []

    def make(actor):
        harness = ActorHarness(actor, work_dir=tmp_path / f"actor{len(made)}")
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.close()
