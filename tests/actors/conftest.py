"""Fixtures for role tests."""

from __future__ import annotations

import pytest

from kairos.testing import ActorHarness, role_harness


@pytest.fixture
def role_of(tmp_path):
    """``role_of(role, **topology keys)``: that role alone (kairos.testing.role_harness), with
    its work directory under the test's tmp_path; every harness made is closed after the test."""
    made = []

    def make(role, **settings):
        harness = role_harness(role, work_dir=tmp_path / f"actor{len(made)}", **settings)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.close()


@pytest.fixture
def harness_of(tmp_path):
    """``harness_of(actor)``: an actor built by the test (kairos.testing.ActorHarness), with
    its work directory under the test's tmp_path; closed after the test."""
    made = []

    def make(actor):
        harness = ActorHarness(actor, work_dir=tmp_path / f"built{len(made)}")
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.close()
