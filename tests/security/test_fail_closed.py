"""An agent beyond loopback without CurveZMQ refuses to start: one line, exit 1, nothing run."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import Processes, free_port

from kairos.errors import SecurityError
from kairos.loopback import is_loopback
from kairos.security.endpoints import reachable_from_here
from kairos.security.policy import control_security


def run_agent(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kairos.tools.cli", "agent", "run", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def nothing_listens(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("host", ["0.0.0.0", "*"])
def test_wildcard_bind_without_curve_exits_1_and_starts_nothing(tmp_path: Path, host: str) -> None:
    port = free_port()
    bind = f"tcp://{host}:{port}"
    state = tmp_path / "state"
    started = time.monotonic()
    result = run_agent("--bind", bind, "--state-dir", str(state), "--class", "mac-mini")
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert bind in lines[0]
    assert "kairos keys generate --name agent" in lines[0]
    assert "kairos keys trust" in lines[0]
    assert not state.exists()  # not even its state directory was made
    assert nothing_listens(port)
    assert elapsed < 30  # bounded; fast means: no bind, no self-test, no actors


def test_missing_key_file_is_one_clear_error(tmp_path: Path) -> None:
    result = run_agent(
        "--bind",
        "tcp://127.0.0.1:0",
        "--state-dir",
        str(tmp_path / "state"),
        "--curve-key",
        str(tmp_path / "nope.key_secret"),
    )
    assert result.returncode == 1
    assert "cannot read key file" in result.stderr
    assert not (tmp_path / "state").exists()


def test_agent_config_file_can_require_curve(tmp_path: Path, processes: Processes) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(f"bind: tcp://0.0.0.0:{free_port()}\nclass: mac-mini\n")
    result = run_agent("--config", str(config), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 1 and "without CurveZMQ" in result.stderr


def test_policy_decisions(tmp_path: Path) -> None:
    assert control_security("tcp://127.0.0.1:7700", None, None).curve is None
    assert control_security("ipc:///tmp/x", None, None).curve is None
    for bind in ("tcp://10.0.0.2:7700", "tcp://eth0:7700", "tcp://[::]:7700"):
        with pytest.raises(SecurityError, match="without CurveZMQ"):
            control_security(bind, None, None)
    assert is_loopback("tcp://127.3.2.1:1") and is_loopback("tcp://[::1]:1")
    assert is_loopback("tcp://localhost:1") and not is_loopback("tcp://192.168.1.2:1")
    assert reachable_from_here("tcp://0.0.0.0:5") == "tcp://127.0.0.1:5"
