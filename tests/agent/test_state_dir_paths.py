"""An agent given a relative state directory keeps working when its actors run elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from kairos.agent.config import AgentConfig
from kairos.agent.supervisor import Supervisor


def test_a_relative_state_dir_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    assert AgentConfig(state_dir=Path("st"), device="d").resolved().state_dir == tmp_path / "st"
    # actors run with their own directory as cwd: the spec path they get must not be relative
    supervisor = Supervisor(Path("st2"), tmp_path / "clock.json")
    assert supervisor.actors_dir == tmp_path / "st2" / "actors"
