"""Fixtures shared by every test; the plain helpers live in ``support.py``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import Processes, free_port

pytest_plugins = ["exclusive"]


@pytest.fixture
def processes() -> Iterator[Processes]:
    """Processes started through this fixture are killed, with their children, at the end."""
    owned = Processes()
    try:
        yield owned
    finally:
        owned.cleanup()


@pytest.fixture
def port() -> int:
    """A free TCP port on 127.0.0.1."""
    return free_port()
