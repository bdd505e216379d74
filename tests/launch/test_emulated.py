"""``kairos launch --emulate``: two devices in network namespaces, a link between them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from support import free_port, run_kairos

pytestmark = [
    pytest.mark.emulated,
    pytest.mark.skipif(
        not sys.platform.startswith("linux") or os.geteuid() != 0,
        reason="the emulated cluster needs Linux and root",
    ),
]


def test_two_emulated_devices_run_and_are_torn_down(tmp_path: Path, mentioning) -> None:
    from kairos.emulate.cluster import find_leftovers

    before = set(find_leftovers())
    topology = tmp_path / "two.yaml"
    topology.write_text(
        "name: two\n"
        f"mesh: {{base_port: {free_port()}, clock: consensus}}\n"
        "devices:\n"
        "  edge: {class: pi-4, agent: localhost}\n"
        "  hub: {class: mac-mini, agent: localhost}\n"
        "actors:\n"
        "  osc: {role: sensor, device: edge, adapter: oscillator, rate_hz: 50,\n"
        "        params: {freq_hz: 2.0}}\n"
        "  eng: {role: engine, device: hub, inputs: [osc],\n"
        "        encoding: {type: lockin, freq_hz: 2.0}, windows: {fast: 0.5, slow: 10}}\n"
    )
    result = run_kairos(
        "launch",
        str(topology),
        "--emulate",
        "--duration",
        "8",
        "--state-dir",
        str(tmp_path / "launch"),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # endpoints were rewritten into the namespaces, and data crossed from edge to hub
    assert "tcp://127.0.0.1" not in result.stdout.split("emulated cluster:")[1]
    rates = [line for line in result.stdout.splitlines() if line.startswith("actor=eng ")]
    assert any(
        "state=running" in r and "rate_hz=-" not in r and "rate_hz=0.0" not in r for r in rates
    ), rates
    assert mentioning(str(tmp_path)) == []
    # nothing of this launch remains (other clusters, e.g. of tests running beside, may come and go)
    assert set(find_leftovers()) - before == set()
