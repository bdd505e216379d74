"""The agent's configuration: read once, from the command line and an optional YAML file."""

from __future__ import annotations

import argparse
import os
import socket
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from kairos.errors import AgentError

DEFAULT_BIND = "tcp://127.0.0.1:7700"


def default_state_dir() -> Path:
    """Where an agent keeps specs, logs, pid files and its clock file."""
    if os.geteuid() == 0:
        return Path("/var/lib/kairos/agent")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "kairos" / "agent"


@dataclass(frozen=True)
class AgentConfig:
    bind: str = DEFAULT_BIND
    #: a device class name, or "auto" to detect it
    device_class: str = "auto"
    device: str = ""
    state_dir: Path = Path()
    ready_file: Path | None = None
    #: this agent's CurveZMQ key pair: a name in CONFIG/keys or a NAME.key_secret file;
    #: required on any bind beyond loopback (see kairos.security.policy)
    curve_key: str | None = None
    #: the allow-list of launcher public keys (CurveZMQ); default CONFIG/trusted
    trusted_keys_dir: Path | None = None
    #: written by ``kairos agent install``; overrides the command line's --log-level
    log_level: str | None = None

    @classmethod
    def from_file(cls, path: Path) -> AgentConfig:
        """Keys: bind, class (or device_class), device, state_dir, ready_file, curve_key,
        trusted_keys_dir, log_level — the file ``kairos agent install`` writes is one."""
        import yaml

        try:
            raw = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise AgentError(f"cannot read agent config {path}: {exc}") from None
        if not isinstance(raw, dict):
            raise AgentError(f"agent config {path} is not a map")
        names = {"class": "device_class"} | {f.name: f.name for f in fields(cls)}
        unknown = sorted(set(raw) - set(names))
        if unknown:
            raise AgentError(
                f"agent config {path}: unknown keys {', '.join(unknown)}; valid: "
                f"{', '.join(sorted(names))}"
            )
        values: dict[str, Any] = {names[k]: v for k, v in raw.items()}
        if values.get("curve_key") is not None:
            values["curve_key"] = str(values["curve_key"])
        for key in ("state_dir", "ready_file", "trusted_keys_dir"):
            if values.get(key) is not None:
                values[key] = Path(values[key])
        return cls(**values)

    def resolved(self) -> AgentConfig:
        """Defaults filled in: a device name and an absolute state directory (actors run in
        their own directories under it, so a relative one would point elsewhere for them)."""
        state_dir = self.state_dir if str(self.state_dir) not in ("", ".") else default_state_dir()
        return replace(
            self,
            device=self.device or socket.gethostname(),
            state_dir=state_dir.absolute(),
        )


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``kairos agent run`` (shared with ``python -m kairos.agent``)."""
    parser.add_argument(
        "--bind", help=f"control endpoint (default {DEFAULT_BIND}; port 0 picks one)"
    )
    parser.add_argument("--class", dest="device_class", help="device class name, or auto")
    parser.add_argument("--device", help="device name (default: host name)")
    parser.add_argument("--state-dir", type=Path, help="specs, logs, pid and clock files")
    parser.add_argument("--config", type=Path, help="YAML file with the same keys")
    parser.add_argument(
        "--ready-file", type=Path, help="write the bound endpoint here once serving"
    )
    parser.add_argument(
        "--curve-key",
        metavar="NAME_OR_FILE",
        help="this agent's CurveZMQ key pair (kairos keys generate --name agent); "
        "required on any bind beyond loopback, and switches CurveZMQ on everywhere",
    )
    parser.add_argument(
        "--trusted-dir",
        dest="trusted_keys_dir",
        type=Path,
        help="public keys of the launchers this agent obeys (default: CONFIG/trusted)",
    )


def config_from_args(args: argparse.Namespace) -> AgentConfig:
    """Options override the config file, which overrides the defaults."""
    config = AgentConfig.from_file(args.config) if args.config else AgentConfig()
    overrides = {
        key: getattr(args, key)
        for key in (
            "bind",
            "device_class",
            "device",
            "state_dir",
            "ready_file",
            "curve_key",
            "trusted_keys_dir",
        )
        if getattr(args, key, None) is not None
    }
    return replace(config, **overrides).resolved()
