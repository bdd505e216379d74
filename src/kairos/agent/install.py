"""Install the agent as a service: a systemd unit on Linux, a launchd job on macOS.

:func:`install` plans every directory and file first (an :class:`InstallPlan`), then writes
them, so ``--dry-run`` shows exactly what a real install would write and ``--root`` stages
the same tree under a folder (what tests and packagers use).  Only a real install (no root,
no dry run) talks to the service manager.

The agent binds beyond loopback, so it needs a CurveZMQ key pair (docs/design.md §10): install makes
one (``CONFIG/keys/agent``) unless it exists, and writes its path as ``curve_key``.  Its public
key is what launchers put in the topology as the device's ``agent_key``.
"""

from __future__ import annotations

import os
import plistlib
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any, Literal

from kairos import keys
from kairos.agent.config import CONFIG_NAME, SERVICE_BIND, AgentConfig
from kairos.errors import AgentError

UNIT_NAME = "kairos-agent.service"
LAUNCHD_LABEL = "com.kairos.agent"
PLIST_NAME = f"{LAUNCHD_LABEL}.plist"
FALLBACK_CLASS = "cloud"
#: first systemd release with RestartSteps= and RestartMaxDelaySec= (increasing delays)
RESTART_STEPS_SINCE = 254
RESTART_STEPS = 5
RESTART_MAX_DELAY_S = 60
#: the name of the agent's key pair in CONFIG/keys
AGENT_KEY_NAME = "agent"

Platform = Literal["linux", "darwin"]
Scope = Literal["system", "user"]


@dataclass(frozen=True)
class Layout:
    """Where each piece goes on the target system (real paths, not staged ones)."""

    platform: Platform
    scope: Scope
    service_file: Path
    config_dir: Path
    state_dir: Path
    log_dir: Path | None

    @property
    def config_file(self) -> Path:
        return self.config_dir / CONFIG_NAME

    @property
    def trusted_dir(self) -> Path:
        return self.config_dir / "trusted"

    @property
    def keys_dir(self) -> Path:
        return self.config_dir / "keys"

    @property
    def agent_secret_key(self) -> Path:
        return self.keys_dir / f"{AGENT_KEY_NAME}{keys.SECRET_SUFFIX}"

    @property
    def agent_public_key(self) -> Path:
        return self.keys_dir / f"{AGENT_KEY_NAME}{keys.PUBLIC_SUFFIX}"

    @classmethod
    def for_target(cls, platform: Platform, user: bool, home: Path | None = None) -> Layout:
        home = Path.home() if home is None else home
        scope: Scope = "user" if user else "system"
        if user:
            config_dir = home / ".config" / "kairos"
            state_dir = home / ".local" / "state" / "kairos"
        else:
            config_dir = Path("/etc/kairos")
            state_dir = Path("/var/lib/kairos")
        if platform == "linux":
            service = (
                home / ".config" / "systemd" / "user" / UNIT_NAME
                if user
                else Path("/etc/systemd/system") / UNIT_NAME
            )
            return cls(platform, scope, service, config_dir, state_dir, None)
        if user:
            service = home / "Library" / "LaunchAgents" / PLIST_NAME
            log_dir = home / "Library" / "Logs" / "kairos"
        else:
            service = Path("/Library/LaunchDaemons") / PLIST_NAME
            log_dir = Path("/var/log/kairos")
        return cls(platform, scope, service, config_dir, state_dir, log_dir)


@dataclass(frozen=True)
class PlannedDir:
    path: Path
    mode: int


@dataclass(frozen=True)
class PlannedFile:
    path: Path
    content: str
    mode: int = 0o644
    #: configuration the user may have edited: left alone when it exists (unless forced)
    keep_existing: bool = False


@dataclass
class InstallPlan:
    """Everything an install or uninstall does, in order; real paths, staged under ``root``."""

    action: Literal["install", "uninstall"]
    layout: Layout
    root: Path | None
    dry_run: bool
    dirs: list[PlannedDir] = field(default_factory=list)
    files: list[PlannedFile] = field(default_factory=list)
    #: service-manager commands, run only on a real system (no root, no dry run)
    commands: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: filled in while executing
    #: the agent's public key (Z85) and whether install made the pair (False: it existed)
    agent_key: bytes | None = None
    key_generated: bool = False
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    ran: list[list[str]] = field(default_factory=list)

    def staged(self, path: Path) -> Path:
        """Where ``path`` lands: itself, or the same path below ``root``."""
        if self.root is None:
            return path
        return self.root / path.relative_to(path.anchor)

    @property
    def touches_system(self) -> bool:
        return self.root is None and not self.dry_run

    def render(self) -> str:
        """The dry-run text: each directory, each file's path and full content, each command."""
        lines = [f"# kairos agent {self.action} ({self.layout.platform}, {self.layout.scope})"]
        lines += [f"# note: {note}" for note in self.notes]
        if self.action == "install":
            for d in self.dirs:
                lines.append(f"mkdir -m {d.mode:04o} {self.staged(d.path)}")
            secret = self.staged(self.layout.agent_secret_key)
            lines.append(
                f"\n# CurveZMQ key pair {AGENT_KEY_NAME!r}: {secret} (mode 0600) and "
                f"{self.staged(self.layout.agent_public_key)}, made unless {secret.name} exists"
            )
            for f in self.files:
                lines.append(f"\n==> {self.staged(f.path)} (mode {f.mode:04o}) <==")
                lines.append(f.content.rstrip("\n"))
        else:
            for f in self.files:
                lines.append(f"rm {self.staged(f.path)}")
            for d in self.dirs:
                lines.append(f"rmdir {self.staged(d.path)}  (if empty)")
        if self.commands:
            lines.append("")
            where = "" if self.root is None else "  (not run: staged under --root)"
            lines += [f"$ {shlex.join(c)}{where}" for c in self.commands]
        return "\n".join(lines) + "\n"


# -- rendering ---------------------------------------------------------------------------


def _template(name: str) -> str:
    return resources.files("kairos.agent").joinpath("templates").joinpath(name).read_text("utf-8")


def systemd_version() -> int | None:
    """The installed systemd's version number, or None when there is no systemd."""
    for tool in ("systemctl", "systemd"):
        binary = shutil.which(tool)
        if binary is None:
            continue
        try:
            out = subprocess.run(
                [binary, "--version"], capture_output=True, text=True, timeout=10
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        match = re.match(r"systemd (\d+)", out)
        if match:
            return int(match.group(1))
    return None


def _systemd_word(value: str) -> str:
    """One ExecStart=/path word: specifiers and variables escaped, quoted if it must be."""
    value = value.replace("%", "%%").replace("$", "$$")
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./$-]+", value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _agent_argv(python: str, config_file: Path) -> list[str]:
    return [python, "-m", "kairos.tools.cli", "agent", "run", "--config", str(config_file)]


def render_unit(layout: Layout, python: str, version: int | None) -> str:
    """The systemd unit for this layout; increasing restart delays when systemd has them."""
    if version is not None and version >= RESTART_STEPS_SINCE:
        backoff = (
            f"# restart delays grow from RestartSec to RestartMaxDelaySec in RestartSteps\n"
            f"RestartSteps={RESTART_STEPS}\nRestartMaxDelaySec={RESTART_MAX_DELAY_S}"
        )
    else:
        found = "no systemd found" if version is None else f"found systemd {version}"
        backoff = (
            f"# RestartSteps=/RestartMaxDelaySec= need systemd >= {RESTART_STEPS_SINCE} "
            f"({found}):\n# restarts come every RestartSec; rerun the install after upgrading"
        )
    hardening = [
        "# sandbox: the agent writes only its state directory",
        "NoNewPrivileges=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "RestrictRealtime=yes",
        "SystemCallArchitectures=native",
        "UMask=0077",
    ]
    if layout.scope == "system":
        # mount and kernel protections need the system manager (user managers would need
        # unprivileged user namespaces, which many distributions disable)
        hardening += [
            "ProtectSystem=strict",
            "ProtectHome=read-only",
            "PrivateTmp=yes",
            f"ReadWritePaths={_systemd_word(str(layout.state_dir))}",
            "ProtectKernelTunables=yes",
            "ProtectKernelModules=yes",
            "ProtectKernelLogs=yes",
            "ProtectControlGroups=yes",
            "ProtectClock=yes",
            "ProtectHostname=yes",
            "RestrictNamespaces=yes",
            "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        ]
    exec_start = " ".join(_systemd_word(w) for w in _agent_argv(python, layout.config_file))
    return Template(_template("kairos-agent.service.in")).substitute(
        exec_start=exec_start,
        state_dir=_systemd_word(str(layout.state_dir)),
        restart_backoff=backoff,
        hardening="\n".join(hardening),
        wanted_by="multi-user.target" if layout.scope == "system" else "default.target",
    )


def render_plist(layout: Layout, python: str) -> str:
    """The launchd job: the template's fixed keys plus program, paths and logs."""
    job: dict[str, Any] = plistlib.loads(_template("com.kairos.agent.plist.in").encode())
    assert layout.log_dir is not None
    job.update(
        {
            "Label": LAUNCHD_LABEL,
            "ProgramArguments": _agent_argv(python, layout.config_file),
            "WorkingDirectory": str(layout.state_dir),
            "StandardOutPath": str(layout.log_dir / "agent.log"),
            "StandardErrorPath": str(layout.log_dir / "agent.err.log"),
        }
    )
    return plistlib.dumps(job, sort_keys=False).decode()


def _device_class(name: str, notes: list[str]) -> str:
    if name != "auto":
        try:
            from kairos.hardware.classes import load_class
        except ImportError:
            notes.append(f"device classes unavailable: {name!r} not checked")
            return name
        return load_class(name).name
    try:
        from kairos.hardware.detect import detect_class
    except ImportError as exc:
        notes.append(
            f"device class detection unavailable ({exc}): using {FALLBACK_CLASS!r}; "
            "pass --class to choose another"
        )
        return FALLBACK_CLASS
    detection = detect_class()
    notes.append(f"detected device class {detection.name}: {detection.reason}")
    return detection.name


def _default_platform() -> Platform:
    if sys.platform == "darwin":
        return "darwin"
    if sys.platform.startswith("linux"):
        return "linux"
    raise AgentError(
        f"kairos agent install supports Linux (systemd) and macOS (launchd), not {sys.platform}"
    )


def _check_platform(platform: str | None) -> Platform:
    if platform is None:
        return _default_platform()
    if platform not in ("linux", "darwin"):
        raise AgentError(f"unknown service platform {platform!r}; valid: linux, darwin")
    return platform  # type: ignore[return-value]


def _manager_commands(layout: Layout, action: str) -> list[list[str]]:
    user = ["--user"] if layout.scope == "user" else []
    if layout.platform == "linux":
        if action == "install":
            return [
                ["systemctl", *user, "daemon-reload"],
                ["systemctl", *user, "enable", "--now", UNIT_NAME],
            ]
        return [["systemctl", *user, "disable", "--now", UNIT_NAME]]
    verb = "load" if action == "install" else "unload"
    return [["launchctl", verb, "-w", str(layout.service_file)]]


def plan_install(
    *,
    device_class: str = "auto",
    user: bool = False,
    root: Path | None = None,
    dry_run: bool = False,
    bind: str | None = None,
    python: str = sys.executable,
    platform: str | None = None,
    log_level: str = "info",
    home: Path | None = None,
    systemd: int | Literal["detect"] | None = "detect",
    dial: str | None = None,
) -> InstallPlan:
    """Work out every directory, file and command of an install, touching nothing."""
    target = _check_platform(platform)
    if not Path(python).is_absolute():
        raise AgentError(f"the agent's interpreter must be an absolute path, got {python!r}")
    layout = Layout.for_target(target, user, home)
    plan = InstallPlan("install", layout, root, dry_run)
    config = AgentConfig(
        bind=bind or SERVICE_BIND,
        dial=dial,
        device_class=_device_class(device_class, plan.notes),
        state_dir=layout.state_dir,
        trusted_keys_dir=layout.trusted_dir,
        log_level=log_level,
        curve_key=str(layout.agent_secret_key),
    )
    plan.dirs = [
        PlannedDir(layout.config_dir, 0o755),
        PlannedDir(layout.keys_dir, 0o700),
        PlannedDir(layout.trusted_dir, 0o700),
        PlannedDir(layout.state_dir, 0o700),
        PlannedDir(layout.service_file.parent, 0o755),
    ]
    if layout.log_dir is not None:
        plan.dirs.append(PlannedDir(layout.log_dir, 0o755))
    if target == "linux":
        version = systemd_version() if systemd == "detect" else systemd
        service = render_unit(layout, python, version)
        if version is None or version < RESTART_STEPS_SINCE:
            plan.notes.append(
                f"systemd {version or 'not found'}: restart delay fixed at 1 s "
                f"(growing delays need systemd >= {RESTART_STEPS_SINCE})"
            )
    else:
        service = render_plist(layout, python)
    plan.files = [
        PlannedFile(layout.config_file, config.to_yaml(), 0o644, keep_existing=True),
        PlannedFile(layout.service_file, service, 0o644),
    ]
    plan.commands = _manager_commands(layout, "install")
    return plan


def _write_file(path: Path, content: str, mode: int) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(content, encoding="utf-8")
    os.chmod(temporary, mode)
    os.replace(temporary, path)


def _run(command: list[str]) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AgentError(f"'{shlex.join(command)}' could not run: {exc}") from exc
    if done.returncode != 0:
        raise AgentError(
            f"'{shlex.join(command)}' failed (exit {done.returncode}): {done.stderr.strip()}"
        )


def install(
    *,
    device_class: str = "auto",
    user: bool = False,
    root: Path | None = None,
    dry_run: bool = False,
    bind: str | None = None,
    python: str = sys.executable,
    platform: str | None = None,
    force: bool = False,
    log_level: str = "info",
    home: Path | None = None,
    systemd: int | Literal["detect"] | None = "detect",
    dial: str | None = None,
) -> InstallPlan:
    """Install the agent service (or, with ``dry_run``, only plan it); return the plan.

    An existing ``agent.yaml`` is kept unless ``force``; the unit or plist is rewritten.
    """
    plan = plan_install(
        device_class=device_class,
        user=user,
        root=root,
        dry_run=dry_run,
        bind=bind,
        python=python,
        platform=platform,
        log_level=log_level,
        home=home,
        systemd=systemd,
        dial=dial,
    )
    if dry_run:
        return plan
    try:
        for d in plan.dirs:
            staged = plan.staged(d.path)
            staged.mkdir(parents=True, exist_ok=True)
            os.chmod(staged, d.mode)
        for f in plan.files:
            staged = plan.staged(f.path)
            if f.keep_existing and staged.exists() and not force:
                plan.kept.append(staged)
                continue
            _write_file(staged, f.content, f.mode)
            plan.written.append(staged)
        _agent_key_pair(plan)
    except OSError as exc:
        raise AgentError(f"cannot install the agent service: {exc}") from exc
    if plan.touches_system:
        for command in plan.commands:
            _run(command)
            plan.ran.append(command)
    return plan


def _agent_key_pair(plan: InstallPlan) -> None:
    """Make the agent's key pair unless it exists (launchers may already trust it), and note
    a kept agent.yaml that does not use it."""
    secret = plan.staged(plan.layout.agent_secret_key)
    if secret.exists():
        plan.agent_key, _ = keys.read_key_file(secret)
    else:
        # a public file left without its secret is useless: replace it along with the pair
        pair = keys.generate(secret.parent, AGENT_KEY_NAME, force=True)
        plan.agent_key = pair.public
        plan.key_generated = True
        plan.written += [secret, pair.public_file]
    config = plan.staged(plan.layout.config_file)
    if config in plan.kept:
        try:
            kept = AgentConfig.from_file(config)
        except AgentError as exc:
            plan.notes.append(f"the kept {config.name} does not read ({exc}); rerun with --force")
            return
        if kept.curve_key is None:
            plan.notes.append(
                f"the kept {config.name} has no curve_key: the agent cannot bind beyond "
                f"loopback; add 'curve_key: {plan.layout.agent_secret_key}' or rerun with --force"
            )


def uninstall(
    *,
    user: bool = False,
    root: Path | None = None,
    dry_run: bool = False,
    platform: str | None = None,
    purge: bool = False,
    home: Path | None = None,
) -> InstallPlan:
    """Stop and remove the service and its config; keep the agent's key pair, trusted keys
    and state unless ``purge`` (topologies name the agent's public key).

    Directories install created are removed when empty (always, with ``purge``).
    """
    target = _check_platform(platform)
    layout = Layout.for_target(target, user, home)
    plan = InstallPlan("uninstall", layout, root, dry_run)
    plan.files = [PlannedFile(layout.service_file, ""), PlannedFile(layout.config_file, "")]
    plan.dirs = [
        PlannedDir(layout.keys_dir, 0o700),
        PlannedDir(layout.trusted_dir, 0o700),
        PlannedDir(layout.config_dir, 0o755),
        PlannedDir(layout.state_dir, 0o700),
    ]
    if layout.log_dir is not None:
        plan.dirs.append(PlannedDir(layout.log_dir, 0o755))
    plan.commands = _manager_commands(layout, "uninstall")
    if target == "linux":
        plan.commands.append(["systemctl", *(["--user"] if user else []), "daemon-reload"])
    if purge:
        plan.notes.append("purge: the agent's key pair, trusted keys, state and logs too")
    if dry_run:
        return plan
    service_staged = plan.staged(layout.service_file)
    if plan.touches_system and service_staged.exists():
        _run(plan.commands[0])  # stop and disable before the unit file disappears
        plan.ran.append(plan.commands[0])
    try:
        for f in plan.files:
            staged = plan.staged(f.path)
            if staged.exists():
                staged.unlink()
                plan.removed.append(staged)
        for d in plan.dirs:
            staged = plan.staged(d.path)
            if not staged.is_dir():
                continue
            if purge:
                shutil.rmtree(staged)
                plan.removed.append(staged)
            elif not any(staged.iterdir()):
                staged.rmdir()
                plan.removed.append(staged)
            else:
                plan.kept.append(staged)
    except OSError as exc:
        raise AgentError(f"cannot uninstall the agent service: {exc}") from exc
    if plan.touches_system:
        for command in plan.commands[1:]:
            _run(command)
            plan.ran.append(command)
    return plan
