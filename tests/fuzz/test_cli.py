"""``python -m kairos.tools.fuzz`` as a user runs it: summary line, exit status, saved crash."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kairos.tools._fuzz import _atheris


def _fuzz(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kairos.tools.fuzz", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )


def test_random_engine_prints_the_summary(tmp_path: Path) -> None:
    done = _fuzz(
        "--target", "wire", "--engine", "random", "--inputs", "3000", "--json", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    assert stats["target"] == "wire" and stats["engine"] == "random"
    assert stats["inputs"] == 3000 and stats["crash"] is None
    assert set(stats["errors"]) == {"WireError"}
    assert stats["max_input_ms"] > 0


def test_a_crash_exits_1_and_names_the_saved_input(tmp_path: Path) -> None:
    # the control reply decoder has an open bug (see corpus.KNOWN_BUGS): once it is fixed
    # this test must pick another way to crash
    done = _fuzz(
        "--target", "control", "--engine", "random", "--inputs", "100000",
        "--crash-dir", str(tmp_path / "c"), cwd=tmp_path,
    )  # fmt: skip
    if done.returncode == 0:
        pytest.xfail("the control decoder bug is fixed: nothing left to crash on")
    assert done.returncode == 1
    saved = list((tmp_path / "c").iterdir())
    assert len(saved) == 1 and str(saved[0]) in done.stdout
    assert "CRASH" in done.stdout


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert _fuzz("--target", "nope", cwd=tmp_path).returncode == 2
    assert _fuzz("--inputs", "0", cwd=tmp_path).returncode == 2
    assert _fuzz("--inputs", "5", "--seconds", "1", cwd=tmp_path).returncode == 2


@pytest.mark.skipif(not _atheris.available(), reason="atheris is not installed")
def test_atheris_engine_runs_in_a_subprocess(tmp_path: Path) -> None:
    done = _fuzz(
        "--target", "wire", "--engine", "atheris", "--inputs", "2000", "--json", cwd=tmp_path
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    stats = json.loads(done.stdout)
    assert stats["engine"] == "atheris" and stats["inputs"] == 2000
    assert set(stats["errors"]) <= {"WireError"} and stats["crash"] is None
