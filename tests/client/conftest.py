"""Fixtures for client tests: the demo topology launched for real, on free ports."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import Processes, wait_for

from kairos.ports import free_port_range

DEMO = Path(__file__).resolve().parents[2] / "topologies" / "demo.yaml"


@pytest.fixture
def demo_topology(tmp_path: Path) -> Path:
    """The shipped demo topology, moved onto a free port range (tests run side by side)."""
    text = DEMO.read_text()
    moved, count = re.subn(r"base_port: \d+", f"base_port: {free_port_range(8)}", text)
    if count != 1:
        raise RuntimeError("demo.yaml has no single mesh.base_port to move")
    path = tmp_path / "demo.yaml"
    path.write_text(moved)
    return path


@pytest.fixture
def launch(processes: Processes, tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """``launch(topology, *args)`` starts ``kairos launch`` and returns its state directory
    once every actor is deployed; the launcher and everything it started die at the end."""
    outputs = []

    def start(topology: Path, *args: str) -> Path:
        state = tmp_path / f"launch{len(outputs)}"
        out = open(tmp_path / f"launch{len(outputs)}.out", "w+")  # noqa: SIM115 - closed below
        outputs.append(out)
        proc = processes.kairos(
            "launch", str(topology), "--state-dir", str(state), "--no-status", *args,
            stdout=out, stderr=out,
        )  # fmt: skip

        def deployed() -> bool:
            out.seek(0)
            text = out.read()
            if proc.poll() is not None:
                raise AssertionError(f"launcher exited {proc.returncode}: {text[-3000:]}")
            return "deployed (logs" in text

        wait_for(deployed, 60, step_s=0.1)
        return state

    try:
        yield start
    finally:
        processes.cleanup()
        for out in outputs:
            out.close()
