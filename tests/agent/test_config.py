"""The agent reads the config file ``kairos agent install`` writes, and refuses unknown keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from kairos.agent.config import AgentConfig
from kairos.agent.install import AgentServiceConfig
from kairos.agent.supervisor import tail
from kairos.errors import AgentError


def test_reads_the_installed_service_config(tmp_path: Path) -> None:
    written = AgentServiceConfig(
        bind="tcp://0.0.0.0:7700",
        device_class="pi-zero",
        state_dir=tmp_path / "state",
        trusted_keys_dir=tmp_path / "keys",
        log_level="warning",
    )
    path = tmp_path / "agent.yaml"
    path.write_text(written.to_yaml())
    config = AgentConfig.from_file(path)
    assert config.bind == "tcp://0.0.0.0:7700"
    assert config.device_class == "pi-zero"
    assert config.state_dir == tmp_path / "state"
    assert config.trusted_keys_dir == tmp_path / "keys"
    assert config.log_level == "warning"


def test_unknown_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("bind: tcp://127.0.0.1:7700\nexec: /bin/sh\n")
    with pytest.raises(AgentError, match="exec"):
        AgentConfig.from_file(path)


@pytest.mark.parametrize("lines", [1, 3, 500])
def test_tail_reads_the_last_lines(tmp_path: Path, lines: int) -> None:
    path = tmp_path / "actor.log"
    path.write_text("".join(f"line {k}\n" for k in range(200_000)))
    got = tail(path, lines, chunk=4096)
    assert got == [f"line {k}" for k in range(200_000 - lines, 200_000)]
    assert tail(tmp_path / "missing.log", 5) == []
