"""The agent's configuration: read once, from the command line and an optional ``agent.yaml``.

:class:`AgentConfig` is the one reader and writer of ``agent.yaml``: ``kairos agent install``
writes it with :meth:`AgentConfig.write`, ``kairos agent run --config`` reads it with
:meth:`AgentConfig.from_file`, and a key missing from the file means the same default for
both (there is one default per key, below).
"""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Final

from kairos.errors import AgentError
from kairos.topologies.model import DEFAULT_AGENT_PORT

#: where ``kairos agent run`` listens unless told otherwise: loopback, where it may run
#: without CurveZMQ (kairos.security.policy), so a bare ``kairos agent run`` is safe
DEFAULT_BIND: Final = f"tcp://127.0.0.1:{DEFAULT_AGENT_PORT}"
#: what ``kairos agent install`` writes unless told otherwise: every interface, so launchers
#: on the network reach the service (which then requires CurveZMQ; install makes its keys)
SERVICE_BIND: Final = f"tcp://0.0.0.0:{DEFAULT_AGENT_PORT}"
CONFIG_NAME: Final = "agent.yaml"
LOG_LEVELS: Final = ("debug", "info", "warning", "error")
#: how the agent starts an actor that keeps to the lean imports: forked from its zygote
#: (Linux; kairos.agent.zygote), or exec'd as a fresh interpreter (always, elsewhere)
FORK: Final = "fork"
EXEC: Final = "exec"
ACTOR_STARTS: Final = (FORK, EXEC)
#: keys of agent.yaml, in the order they are written; ``class`` is read as ``device_class``
FILE_KEYS: Final = (
    "bind",
    "dial",
    "device_class",
    "device",
    "state_dir",
    "ready_file",
    "curve_key",
    "trusted_keys_dir",
    "log_level",
    "actor_start",
)
_ALIASES: Final = {"class": "device_class"}
_PATHS: Final = ("state_dir", "ready_file", "trusted_keys_dir")


def default_state_dir() -> Path:
    """Where an agent keeps specs, logs, pid files and its clock file."""
    if os.geteuid() == 0:
        return Path("/var/lib/kairos/agent")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "kairos" / "agent"


@dataclass(frozen=True)
class AgentConfig:
    """How an agent binds, classifies itself, stores and secures; what ``agent.yaml`` holds."""

    bind: str = DEFAULT_BIND
    #: dial out instead (a device behind NAT, docs/sites.md): ``tcp://HOST:PORT`` where the
    #: launcher listens for this agent; the whole control protocol then runs over that one
    #: outgoing connection, reconnected by ZeroMQ after a cut.  Beyond loopback it needs
    #: ``curve_key`` like a bind does: the agent stays the CurveZMQ server and obeys only
    #: trusted launcher keys whichever side dials
    dial: str | None = None
    #: a device class name, or "auto" to detect it
    device_class: str = "auto"
    #: the device's name ("": the host name)
    device: str = ""
    #: Path() (empty): :func:`default_state_dir`
    state_dir: Path = Path()
    ready_file: Path | None = None
    #: this agent's CurveZMQ key pair: a name in CONFIG/keys or a NAME.key_secret file;
    #: required on any bind beyond loopback (see kairos.security.policy); an agent.yaml
    #: from before keys has none
    curve_key: str | None = None
    #: the allow-list of launcher public keys (CurveZMQ); default CONFIG/trusted
    trusted_keys_dir: Path | None = None
    #: written by ``kairos agent install``; overrides the command line's --log-level
    log_level: str | None = None
    #: one of ACTOR_STARTS: "exec" gives every actor a fresh interpreter (0.3 s of imports
    #: each, no zygote process); "fork" starts lean actors from the zygote
    actor_start: str = FORK

    def __post_init__(self) -> None:
        if self.log_level is not None and self.log_level not in LOG_LEVELS:
            raise AgentError(f"log level {self.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
        if self.actor_start not in ACTOR_STARTS:
            raise AgentError(
                f"actor_start {self.actor_start!r} is not one of {', '.join(ACTOR_STARTS)}"
            )

    @classmethod
    def from_file(cls, path: Path) -> AgentConfig:
        """Read ``agent.yaml`` (the keys of :data:`FILE_KEYS`, each optional); AgentError
        naming the file for anything else: unknown keys, a value of the wrong type."""
        import yaml

        try:
            raw = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise AgentError(f"cannot read agent config {path}: {exc}") from None
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise AgentError(f"agent config {path}: expected a mapping of {', '.join(FILE_KEYS)}")
        try:
            return cls.from_map(raw)
        except AgentError as exc:
            raise AgentError(f"agent config {path}: {exc}") from None

    @classmethod
    def from_map(cls, raw: Mapping[str, Any]) -> AgentConfig:
        names = {**_ALIASES, **{f.name: f.name for f in fields(cls)}}
        unknown = sorted(str(k) for k in set(raw) - set(names))
        if unknown:
            raise AgentError(
                f"unknown keys {', '.join(unknown)}; valid: {', '.join(sorted(names))}"
            )
        values: dict[str, Any] = {}
        for key, value in raw.items():
            name = names[key]
            if value is None:
                continue  # an empty key: its default
            if not isinstance(value, str):
                raise AgentError(f"{key} must be a string, not {type(value).__name__}")
            values[name] = Path(value) if name in _PATHS else value
        return cls(**values)

    def to_map(self) -> dict[str, str]:
        """The keys worth writing, in :data:`FILE_KEYS` order: every one that is set."""
        values: dict[str, str] = {}
        for key in FILE_KEYS:
            value = getattr(self, key)
            if value is None or value == "" or (key == "state_dir" and value == Path()):
                continue
            if key == "actor_start" and value == FORK:
                continue  # the default: files written before the key stay as they were
            values[key] = str(value)
        return values

    def to_yaml(self) -> str:
        import yaml

        return (
            "# Kairos agent configuration, written by `kairos agent install`.\n"
            "# Read by `kairos agent run --config <this file>`; edit and restart the service.\n"
            + yaml.safe_dump(self.to_map(), sort_keys=False)
        )

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
    parser.add_argument(
        "--dial",
        metavar="ENDPOINT",
        help="connect out to a launcher listening at ENDPOINT instead of binding "
        "(a device behind NAT; docs/sites.md)",
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
        "--actor-start",
        choices=ACTOR_STARTS,
        help=f"{FORK} (default): start actors from a process that has imported them "
        f"(Linux); {EXEC}: a fresh interpreter for each",
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
    # every file key has an option of the same name, except log_level: the CLI's global
    # --log-level always has a value, so it would hide the file's
    overrides = {
        key: getattr(args, key)
        for key in FILE_KEYS
        if key != "log_level" and getattr(args, key, None) is not None
    }
    return replace(config, **overrides).resolved()
