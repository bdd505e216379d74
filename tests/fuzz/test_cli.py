"""``python -m kairos.tools.fuzz`` as a user runs it: summary line, exit status, saved crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kairos.tools._fuzz import EXTRA_TARGETS_ENV, TARGET_MODULES, _atheris


def _fuzz(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kairos.tools.fuzz", *args],
        cwd=cwd,
        env=env,
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


#: a target whose decoder lets an untyped IndexError out when an input is cut below 4 bytes
#: (the random engine truncates and deletes, so it finds that within a few inputs)
FRAGILE_TARGET = """
from kairos.errors import WireError
from kairos.tools._fuzz._target import Target, stateless


def decode(data: bytes) -> None:
    if len(data) < 4:
        data[10]  # an untyped IndexError: a bug the fuzzer must report
    raise WireError("refused")


TARGET = Target(
    name="fragile",
    description="a decoder with a length bug",
    expected=WireError,
    seeds=lambda: [b"abcdefgh"],
    session=lambda: stateless(decode),
)
"""


def _with_fragile_target(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "fragile_target.py").write_text(FRAGILE_TARGET)
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])),
        EXTRA_TARGETS_ENV: "fragile=fragile_target",
    }


def test_a_crash_exits_1_and_names_the_saved_input(tmp_path: Path) -> None:
    done = _fuzz(
        "--target", "fragile", "--engine", "random", "--inputs", "10000",
        "--crash-dir", str(tmp_path / "c"), cwd=tmp_path, env=_with_fragile_target(tmp_path),
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    saved = list((tmp_path / "c").iterdir())
    assert len(saved) == 1 and str(saved[0]) in done.stdout
    assert "CRASH" in done.stdout and "IndexError" in done.stdout
    assert len(saved[0].read_bytes()) < 4  # the input that reproduces the bug


def test_extra_targets_are_checked_and_left_out_of_all(tmp_path: Path) -> None:
    env = _with_fragile_target(tmp_path)
    malformed = {**env, EXTRA_TARGETS_ENV: "fragile"}
    done = _fuzz("--target", "wire", "--inputs", "10", cwd=tmp_path, env=malformed)
    assert done.returncode == 2 and "NAME=MODULE" in done.stderr
    # `all` means the built-in decoders: the fragile one would crash this run
    done = _fuzz("--engine", "random", "--inputs", "200", "--json", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    targets = [json.loads(line)["target"] for line in done.stdout.splitlines()]
    assert targets == list(TARGET_MODULES)


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
