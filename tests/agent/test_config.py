"""``agent.yaml``: one reader and writer for the agent and its install; unknown keys refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from kairos.agent.config import DEFAULT_BIND, FILE_KEYS, SERVICE_BIND, AgentConfig
from kairos.agent.supervisor import tail
from kairos.errors import AgentError


def test_what_install_writes_reads_back_the_same(tmp_path: Path) -> None:
    written = AgentConfig(
        bind=SERVICE_BIND,
        device_class="pi-zero",
        state_dir=tmp_path / "state",
        trusted_keys_dir=tmp_path / "keys",
        curve_key=str(tmp_path / "keys" / "agent.key_secret"),
        log_level="warning",
    )
    path = tmp_path / "agent.yaml"
    path.write_text(written.to_yaml())
    assert AgentConfig.from_file(path) == written
    assert path.read_text().startswith("# Kairos agent configuration")


def test_every_key_round_trips_and_unset_keys_are_not_written(tmp_path: Path) -> None:
    full = AgentConfig(
        bind="tcp://10.0.0.5:7701",
        dial="tcp://203.0.113.10:7702",
        device_class="pi-4",
        device="kitchen",
        state_dir=tmp_path / "state",
        ready_file=tmp_path / "ready",
        curve_key="agent",
        trusted_keys_dir=tmp_path / "trusted",
        log_level="debug",
        actor_start="exec",
    )
    assert tuple(full.to_map()) == FILE_KEYS
    path = tmp_path / "agent.yaml"
    path.write_text(full.to_yaml())
    assert AgentConfig.from_file(path) == full
    bare = AgentConfig()
    assert set(bare.to_map()) == {"bind", "device_class"}  # the others are unset or default
    assert AgentConfig(actor_start="fork").to_map() == bare.to_map()


def test_actor_start_is_fork_or_exec(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("actor_start: spawn\n")
    with pytest.raises(
        AgentError, match=r"agent.yaml: actor_start 'spawn' is not one of fork, exec"
    ):
        AgentConfig.from_file(path)


def test_a_missing_key_means_one_default_for_run_and_install(tmp_path: Path) -> None:
    """The file's reader is the agent's: an agent.yaml without ``bind`` listens on loopback
    (the safe default of ``kairos agent run``), whoever wrote it."""
    path = tmp_path / "agent.yaml"
    path.write_text("class: pi-2\n")
    config = AgentConfig.from_file(path)
    assert config.bind == DEFAULT_BIND and config.device_class == "pi-2"
    assert DEFAULT_BIND.startswith("tcp://127.0.0.1:") and SERVICE_BIND.startswith("tcp://0.0.0.0:")
    path.write_text("")
    assert AgentConfig.from_file(path) == AgentConfig()


def test_unknown_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("bind: tcp://127.0.0.1:7700\nexec: /bin/sh\n")
    with pytest.raises(AgentError, match="exec"):
        AgentConfig.from_file(path)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("bind: 7700\n", "bind must be a string"),
        ("log_level: loud\n", "log level 'loud'"),
        ("- bind\n", "expected a mapping"),
        ("bind: [unclosed\n", "cannot read"),
    ],
)
def test_bad_values_are_refused_naming_the_file(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(text)
    with pytest.raises(AgentError, match=match) as info:
        AgentConfig.from_file(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("lines", [1, 3, 500])
def test_tail_reads_the_last_lines(tmp_path: Path, lines: int) -> None:
    path = tmp_path / "actor.log"
    path.write_text("".join(f"line {k}\n" for k in range(200_000)))
    got = tail(path, lines, chunk=4096)
    assert got == [f"line {k}" for k in range(200_000 - lines, 200_000)]
    assert tail(tmp_path / "missing.log", 5) == []
