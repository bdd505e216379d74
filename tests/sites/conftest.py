"""The module-scoped launch of sites.yaml on an emulated cluster with two NAT routers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emulated.home_run import HomeRun, needs_root_reason
from sites.sites_run import start_sites


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HomeRun]:
    """sites.yaml emulated, every NAT'd device's clock shifted; torn down at the end."""
    reason = needs_root_reason()
    if reason is not None:
        pytest.skip(reason)
    run = start_sites(tmp_path_factory.mktemp("sites") / "launch")
    try:
        yield run
    finally:
        run.close()
