"""The data plane is closed by default off loopback (docs/security.md).

``mesh.encrypt`` left out of a topology is true as soon as one device's actors bind off
loopback, false when every device is on loopback; ``encrypt: false`` written out off
loopback is obeyed, and ``kairos validate`` (a real process) warns about it, exit status 0.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kairos.topologies import EXAMPLES, example
from kairos.topologies.loader import load, load_text

ACTORS = "actors:\n  osc: {role: sensor, device: a, adapter: oscillator, rate_hz: 50}\n"


def _topology(device: str, mesh: str = "") -> str:
    return f"name: t\n{mesh}devices:\n  a: {device}\n{ACTORS}"


@pytest.mark.parametrize(
    ("device", "mesh", "encrypted"),
    [
        ("{class: pi-4, agent: localhost}", "", False),
        ('{class: pi-4, agent: "tcp://127.0.0.1:7701"}', "", False),
        ('{class: pi-4, agent: "tcp://[::1]:7701"}', "", False),
        ('{class: pi-4, agent: "tcp://10.77.0.5:7700"}', "", True),
        ('{class: pi-4, agent: "tcp://pi.local:7700"}', "", True),
        ("{class: pi-4, agent: localhost, host: 0.0.0.0}", "", True),
        ("{class: pi-4, agent: localhost, host: 192.168.1.20}", "", True),
        ('{class: pi-4, agent: "tcp://10.77.0.5:7700"}', "mesh: {encrypt: false}\n", False),
        ("{class: pi-4, agent: localhost}", "mesh: {encrypt: true}\n", True),
    ],
)
def test_encrypt_defaults_to_true_off_loopback(device: str, mesh: str, encrypted: bool) -> None:
    assert load_text(_topology(device, mesh)).mesh.encrypt is encrypted


def test_the_multi_device_examples_encrypt_and_the_demo_does_not() -> None:
    found = {name: load(Path(str(example(name)))).mesh.encrypt for name in EXAMPLES}
    assert found == {"demo": False, "home": True, "lab": True, "robot": True}


def _validate(*files: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kairos.tools.cli", "validate", "--json", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_validate_warns_about_an_explicitly_plain_mesh_off_loopback(tmp_path: Path) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text(
        _topology('{class: pi-4, agent: "tcp://10.77.0.5:7700"}', "mesh: {encrypt: false}\n")
    )
    closed = tmp_path / "closed.yaml"
    closed.write_text(_topology('{class: pi-4, agent: "tcp://10.77.0.5:7700"}'))
    local = tmp_path / "local.yaml"
    local.write_text(_topology("{class: pi-4, agent: localhost}", "mesh: {encrypt: false}\n"))
    result = _validate(plain, closed, local)
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        f"{plain}: warning: mesh.encrypt is false but device a is off loopback: anyone on that "
        "network can read the data plane and inject messages into it; remove 'encrypt: false' "
        "to encrypt it (docs/security.md)"
    ]
    documents = json.loads(result.stdout)
    assert [d["mesh"]["encrypt"] for d in documents] == [False, True, False]
    assert documents[1]["endpoints"] == {"osc": "tcp://10.77.0.5:7800"}
