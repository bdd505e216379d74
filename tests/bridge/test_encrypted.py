"""The bridge reaches an encrypted mesh (``mesh.encrypt``) with the launch's key, and says
why it hears nothing without it."""

from __future__ import annotations

import json


def test_bridge_reaches_an_encrypted_mesh_with_its_key(demo, node) -> None:
    demo.launch("\n  encrypt: true")
    key = demo.state / "mesh.key_secret"
    assert key.is_file()
    client = demo.client(node, demo.bridge("--mesh-key", str(key)), 1.0)
    client.stdin.write("{}\n")  # no sequence number to wait for
    client.stdin.flush()
    assert client.wait(timeout=40) == 0, client.stderr.read()
    topics = {json.loads(line).get("topic") for line in demo.client_lines()}
    assert {"coherent", "noisy", "mesh", "mesh/pulse"} <= topics
    assert "encrypts its data plane" not in demo.bridge_log()
