"""Where the launcher, its agents and their actors run: a relative ``--state-dir`` and the
caller's working directory must not matter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import run_kairos

#: the installed console script: unlike ``python -m``, it does not put the cwd on sys.path,
#: so the launcher itself is immune to the user's directory and the test sees its children
KAIROS = Path(sys.executable).with_name("kairos")


def _running_actors(stdout: str) -> set[str]:
    """Actors the plain status lines show running with a measured rate."""
    return {
        line.split()[0].removeprefix("actor=")
        for line in stdout.splitlines()
        if "state=running" in line and "rate_hz=-" not in line
    }


def test_a_relative_state_dir_is_taken_from_the_callers_directory(
    demo_topology, tmp_path, mentioning
):
    caller = tmp_path / "caller"
    caller.mkdir()
    result = run_kairos(
        "launch", str(demo_topology), "--duration", "8", "--state-dir", "st",
        cwd=caller, timeout=90,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"logs and outputs in {caller / 'st'}" in result.stdout
    assert {"osc-a", "coherent", "mesh"} <= _running_actors(result.stdout), result.stdout[-3000:]
    specs = list((caller / "st" / "agents" / "local" / "actors").glob("*/spec.json"))
    assert len(specs) >= 8  # every actor of the demo, under the caller's ./st
    logs = "".join(p.read_text() for p in (caller / "st").rglob("*.log"))
    assert "cannot read spec" not in logs
    assert mentioning(str(tmp_path)) == []


@pytest.mark.skipif(not KAIROS.exists(), reason="the kairos console script is not installed")
def test_a_kairos_folder_in_the_callers_directory_shadows_nothing(
    demo_topology, tmp_path, mentioning
):
    caller = tmp_path / "project"
    shadow = caller / "kairos"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise ImportError("the caller\'s kairos/ was imported")\n')
    # the trap is armed: Python started in this directory with -m imports the stray folder
    probe = subprocess.run(
        [sys.executable, "-m", "kairos.agent", "--help"],
        cwd=caller,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.returncode != 0 and "the caller's kairos/ was imported" in probe.stderr

    result = subprocess.run(
        [str(KAIROS), "launch", str(demo_topology), "--duration", "8", "--state-dir", "st"],
        cwd=caller,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert {"osc-a", "coherent", "mesh"} <= _running_actors(result.stdout), result.stdout[-3000:]
    logs = "".join(p.read_text() for p in (caller / "st").rglob("*.log"))
    assert "the caller's kairos/ was imported" not in logs
    assert mentioning(str(tmp_path)) == []
