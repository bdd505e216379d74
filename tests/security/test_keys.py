"""`kairos keys`: pairs with 0600 secrets, trust, revoke, list; bad keys are clear errors."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq
from support import run_kairos

from kairos import keys
from kairos.errors import SecurityError


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that would leave new files world-writable: the key code must not rely on it."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_generate_writes_the_secret_0600_and_the_public_0644(
    tmp_path: Path, open_umask: None
) -> None:
    pair = keys.generate(tmp_path / "k", "agent")
    assert mode(pair.secret_file) == 0o600
    assert mode(pair.public_file) == 0o644
    public, secret = keys.read_key_file(pair.secret_file)
    assert public == pair.public and secret == pair.secret
    assert zmq.curve_public(secret) == public
    assert keys.read_key_file(pair.public_file) == (pair.public, None)


def test_forced_replacement_of_a_readable_file_is_0600(tmp_path: Path, open_umask: None) -> None:
    directory = tmp_path / "k"
    directory.mkdir()
    loose = directory / "agent.key_secret"
    loose.write_text("old")
    loose.chmod(0o666)
    with pytest.raises(SecurityError, match="exists"):
        keys.generate(directory, "agent")
    pair = keys.generate(directory, "agent", force=True)
    assert mode(pair.secret_file) == 0o600


def test_a_secret_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    pair = keys.generate(tmp_path, "agent")
    pair.secret_file.chmod(0o644)
    with pytest.raises(SecurityError, match="chmod 600"):
        keys.read_key_file(pair.secret_file)


def test_resolve_pair_by_name_or_file_and_public_by_key_or_file(tmp_path: Path) -> None:
    pair = keys.generate(tmp_path, "agent")
    assert keys.resolve_pair("agent", tmp_path).secret == pair.secret
    assert keys.resolve_pair(str(pair.secret_file)).public == pair.public
    assert keys.resolve_pair(str(pair.public_file)).secret == pair.secret
    assert keys.resolve_public(pair.public.decode()) == pair.public
    assert keys.resolve_public("agent.key", tmp_path) == pair.public
    with pytest.raises(SecurityError, match="no key pair"):
        keys.resolve_pair("other", tmp_path)
    with pytest.raises(SecurityError, match="Z85"):
        keys.resolve_public("~" * 40)


def test_cli_generate_trust_list_revoke(tmp_path: Path) -> None:
    env = {**os.environ, "KAIROS_CONFIG_DIR": str(tmp_path / "cfg")}
    made = run_kairos("keys", "generate", "--name", "launcher", env=env)
    assert made.returncode == 0, made.stderr
    secret = tmp_path / "cfg" / "keys" / "launcher.key_secret"
    assert mode(secret) == 0o600
    public_file = tmp_path / "cfg" / "keys" / "launcher.key"
    trusted = run_kairos("keys", "trust", str(public_file), env=env)
    assert trusted.returncode == 0, trusted.stderr
    listed = run_kairos("keys", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert data["pairs"] == ["launcher"]
    assert [k["name"] for k in data["trusted"]] == ["launcher"]
    assert data["trusted"][0]["public"] == keys.read_key_file(public_file)[0].decode()
    again = run_kairos("keys", "generate", "--name", "launcher", env=env)
    assert again.returncode == 1 and "--force" in again.stderr
    revoked = run_kairos("keys", "revoke", "launcher", env=env)
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(run_kairos("keys", "list", "--json", env=env).stdout)["trusted"] == []
    missing = run_kairos("keys", "revoke", "launcher", env=env)
    assert missing.returncode == 1 and "no trusted key" in missing.stderr


def test_cli_trust_refuses_what_is_not_a_key(tmp_path: Path) -> None:
    env = {**os.environ, "KAIROS_CONFIG_DIR": str(tmp_path / "cfg")}
    result = run_kairos("keys", "trust", "not-a-key", "--name", "x", env=env)
    assert result.returncode == 1
    assert "40 Z85 characters" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
