"""CurveZMQ key pairs and the agent's allow-list of trusted launcher keys.

Key files use ZeroMQ's certificate format (what ``zmq.auth.load_certificate`` reads):
``NAME.key`` holds the public key, ``NAME.key_secret`` the pair and is created with mode
0600 from the start (never written world-readable, then tightened).  An agent trusts the
launchers whose public key files sit in its trusted directory, one ``NAME.key`` each.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import zmq
from zmq.utils import z85

from kairos.errors import SecurityError

PUBLIC_SUFFIX = ".key"
SECRET_SUFFIX = ".key_secret"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_KEY_LINE = re.compile(r'^\s*(public|secret)-key\s*=\s*"([^"]{40})"\s*$')


@dataclass(frozen=True)
class KeyPair:
    name: str
    public: bytes
    secret: bytes | None
    public_file: Path
    secret_file: Path | None


@dataclass(frozen=True)
class TrustedKey:
    name: str
    public: bytes
    path: Path


def config_dir() -> Path:
    """``$KAIROS_CONFIG_DIR``, else /etc/kairos for root, else ~/.config/kairos."""
    override = os.environ.get("KAIROS_CONFIG_DIR")
    if override:
        return Path(override)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/etc/kairos")
    return Path.home() / ".config" / "kairos"


def default_keys_dir() -> Path:
    return config_dir() / "keys"


def default_trusted_dir() -> Path:
    return config_dir() / "trusted"


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise SecurityError(
            f"key name {name!r} must be 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_key(key: bytes | str, what: str = "key") -> bytes:
    """A Z85 CurveZMQ key (40 characters encoding 32 bytes), or SecurityError."""
    raw = key.encode() if isinstance(key, str) else key
    if len(raw) != 40:
        raise SecurityError(f"{what} must be 40 Z85 characters, got {len(raw)}")
    try:
        if len(z85.decode(raw)) != 32:
            raise ValueError("wrong length")
    except (ValueError, KeyError, IndexError):
        raise SecurityError(f"{what} is not a Z85-encoded CurveZMQ key") from None
    return raw


def _certificate(name: str, public: bytes, secret: bytes | None) -> str:
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    lines = [
        f"#   Kairos CurveZMQ {'secret' if secret else 'public'} key '{name}', made {stamp}",
        "#   ZeroMQ certificate format (zmq.auth.load_certificate reads it)",
        "metadata",
        f'    name = "{name}"',
        "curve",
        f'    public-key = "{public.decode()}"',
    ]
    if secret:
        lines.append(f'    secret-key = "{secret.decode()}"')
    return "\n".join(lines) + "\n"


def _write_new(path: Path, text: str, mode: int, force: bool) -> None:
    """Create ``path`` with ``mode`` from the start: a replaced file is removed first, so a
    secret is never written into a file that was readable by others."""
    if force:
        path.unlink(missing_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise SecurityError(f"{path} exists; pass --force to replace it") from None
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), mode)  # the umask may only have narrowed it; make it exact
        handle.write(text)


def generate(directory: Path, name: str, *, force: bool = False) -> KeyPair:
    """A new key pair ``NAME.key`` (0644) and ``NAME.key_secret`` (0600) in ``directory``."""
    check_name(name)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    public, secret = zmq.curve_keypair()
    public_file = directory / f"{name}{PUBLIC_SUFFIX}"
    secret_file = directory / f"{name}{SECRET_SUFFIX}"
    _write_new(secret_file, _certificate(name, public, secret), 0o600, force)
    _write_new(public_file, _certificate(name, public, None), 0o644, force)
    return KeyPair(name, public, secret, public_file, secret_file)


def read_key_file(path: Path) -> tuple[bytes, bytes | None]:
    """(public, secret or None) from a certificate file; refuses a readable secret file."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise SecurityError(f"cannot read key file {path}: {exc.strerror}") from None
    keys: dict[str, bytes] = {}
    for line in text.splitlines():
        match = _KEY_LINE.match(line)
        if match:
            keys[match.group(1)] = check_key(match.group(2), f"{match.group(1)} key in {path}")
    if "public" not in keys:
        raise SecurityError(f"{path} holds no public-key line: not a CurveZMQ certificate")
    if "secret" in keys and os.name == "posix" and Path(path).stat().st_mode & 0o077:
        raise SecurityError(f"{path} holds a secret key but is readable by others; chmod 600 it")
    return keys["public"], keys.get("secret")


def write_certificate(
    path: Path, name: str, public: bytes, secret: bytes | None, *, force: bool = False
) -> Path:
    """Write one certificate file: 0600 when it holds a secret, 0644 otherwise."""
    _write_new(path, _certificate(name, public, secret), 0o600 if secret else 0o644, force)
    return path


def load_pair(directory: Path, name: str) -> KeyPair:
    secret_file = directory / f"{check_name(name)}{SECRET_SUFFIX}"
    if not secret_file.exists():
        raise SecurityError(f"no key pair {name!r} in {directory}; run `kairos keys generate`")
    public, secret = read_key_file(secret_file)
    if secret is None:
        raise SecurityError(f"{secret_file} holds no secret key")
    return KeyPair(name, public, secret, directory / f"{name}{PUBLIC_SUFFIX}", secret_file)


def resolve_pair(name_or_file: str | Path, directory: Path | None = None) -> KeyPair:
    """A key pair named in ``directory`` (default: CONFIG/keys), or read from a secret file.

    What ``--curve-key`` and ``--key`` accept: ``agent`` or ``/path/to/agent.key_secret``.
    """
    text = str(name_or_file)
    path = Path(text).expanduser()
    if "/" in text or path.suffix in (SECRET_SUFFIX, PUBLIC_SUFFIX):
        if path.suffix == PUBLIC_SUFFIX:
            path = path.with_suffix(SECRET_SUFFIX)
        public, secret = read_key_file(path)
        if secret is None:
            raise SecurityError(f"{path} holds no secret key; pass the NAME.key_secret file")
        name = path.name.removesuffix(SECRET_SUFFIX)
        return KeyPair(name, public, secret, path.with_suffix(PUBLIC_SUFFIX), path)
    return load_pair(directory or default_keys_dir(), text)


def resolve_public(value: str, base_dir: Path | None = None) -> bytes:
    """A public key given as 40 Z85 characters or as a key file (relative to ``base_dir``)."""
    if len(value) == 40 and not value.endswith((PUBLIC_SUFFIX, SECRET_SUFFIX)):
        return check_key(value, "public key")
    path = Path(value).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    public, _ = read_key_file(path)
    return public


def trust(trusted_dir: Path, source: str, name: str | None = None) -> TrustedKey:
    """Add a public key (a key file, or the 40-character key itself) to the allow-list."""
    path = Path(source)
    if path.is_file():
        public, _ = read_key_file(path)
        default_name = path.name.removesuffix(SECRET_SUFFIX).removesuffix(PUBLIC_SUFFIX)
    else:
        public = check_key(source, "the key to trust")
        default_name = None
    chosen = check_name(name or default_name or "")
    trusted_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = trusted_dir / f"{chosen}{PUBLIC_SUFFIX}"
    for existing in list_trusted(trusted_dir):
        if existing.public == public and existing.name != chosen:
            raise SecurityError(f"this key is already trusted as {existing.name!r}")
    _write_new(target, _certificate(chosen, public, None), 0o644, force=True)
    return TrustedKey(chosen, public, target)


def revoke(trusted_dir: Path, name: str) -> Path:
    target = trusted_dir / f"{check_name(name)}{PUBLIC_SUFFIX}"
    if not target.exists():
        known = ", ".join(k.name for k in list_trusted(trusted_dir)) or "none"
        raise SecurityError(f"no trusted key {name!r} in {trusted_dir} (trusted: {known})")
    target.unlink()
    return target


def list_trusted(trusted_dir: Path) -> list[TrustedKey]:
    """Every trusted key; a file that is not a valid certificate is an error, not skipped."""
    if not trusted_dir.is_dir():
        return []
    keys = []
    for path in sorted(trusted_dir.glob(f"*{PUBLIC_SUFFIX}")):
        public, _ = read_key_file(path)
        keys.append(TrustedKey(path.name.removesuffix(PUBLIC_SUFFIX), public, path))
    return keys


def fingerprint(public: bytes) -> str:
    """A short, stable label for a key (first 12 Z85 characters) for logs and listings."""
    return public[:12].decode()
