"""Fixtures for launcher tests: the demo topology on free ports, and process bookkeeping."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
from support import wait_for

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


def processes_mentioning(marker: str) -> list[psutil.Process]:
    """Live processes whose command line mentions ``marker`` (a test's own tmp path)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if any(marker in part for part in proc.info["cmdline"] or []):
                found.append(proc)
        except psutil.Error:
            continue
    return found


@pytest.fixture
def mentioning() -> Callable[[str], list[psutil.Process]]:
    return processes_mentioning


@pytest.fixture
def wait_until() -> Callable[..., Any]:
    return wait_for
