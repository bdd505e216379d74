"""Fixtures of the adapter tests: an adapter context in tmp_path and a state factory."""

from __future__ import annotations

import cmath
from collections.abc import Callable
from pathlib import Path

import pytest

from kairos.actors.adapters import AdapterContext, OutputState

StateFactory = Callable[..., OutputState]


@pytest.fixture
def context(tmp_path: Path) -> AdapterContext:
    return AdapterContext(actor="probe", work_dir=tmp_path)


@pytest.fixture
def make_state() -> StateFactory:
    """OutputState from coherence and phase (phasor = C·e^{iφ}) or an explicit phasor."""

    def make(
        t_ns: int,
        coherence: float = 0.8,
        phase: float = 0.5,
        *,
        phasor: complex | None = None,
        active: bool = False,
        source: str = "mesh",
    ) -> OutputState:
        z = phasor if phasor is not None else coherence * cmath.exp(1j * phase)
        return OutputState(
            source=source, t_ns=t_ns, phasor=z, coherence=coherence, phase=phase, active=active
        )

    return make
