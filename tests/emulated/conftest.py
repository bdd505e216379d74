"""The module-scoped launch of home.yaml on an emulated cluster (helpers in home_run.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emulated.home_run import HomeRun, start_home


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HomeRun]:
    """home.yaml on an emulated cluster, the kitchen's clock shifted; torn down at the end."""
    run = start_home(tmp_path_factory.mktemp("home") / "launch")
    try:
        yield run
    finally:
        run.close()
