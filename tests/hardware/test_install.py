"""Agent service install: staged under tmp_path (--root) or dry-run, never the real system."""

from __future__ import annotations

import argparse
import os
import plistlib
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from kairos import keys
from kairos.agent.config import FILE_KEYS, SERVICE_BIND, AgentConfig
from kairos.agent.install import (
    PLIST_NAME,
    UNIT_NAME,
    Layout,
    install,
    render_unit,
    systemd_version,
    uninstall,
)
from kairos.errors import AgentError, DeviceClassError
from kairos.tools import agent_install

SYSTEM_UNIT = Path("etc/systemd/system") / UNIT_NAME
SYSTEM_CONFIG = Path("etc/kairos/agent.yaml")
SYSTEM_KEYS = Path("etc/kairos/keys")


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if not p.is_dir())


def unit_lines(text: str) -> dict[str, list[str]]:
    """key -> values of a unit file (comments and section headers left out)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def analyze(unit: Path, tmp_path: Path, *, user: bool) -> subprocess.CompletedProcess[str]:
    runtime = tmp_path / "xdg-runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    argv = ["systemd-analyze", *(["--user"] if user else []), "verify", str(unit)]
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "SYSTEMD_PAGER": ""}
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)


needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


def test_system_unit_content(tmp_path: Path) -> None:
    plan = install(root=tmp_path, platform="linux", device_class="pi-4", systemd=252)
    unit = tmp_path / SYSTEM_UNIT
    assert unit in plan.written
    keys = unit_lines(unit.read_text())
    assert keys["Type"] == ["notify"]
    assert keys["NotifyAccess"] == ["main"]
    assert keys["ExecStart"] == [
        f"{sys.executable} -m kairos.tools.cli agent run --config /etc/kairos/agent.yaml"
    ]
    assert keys["Restart"] == ["on-failure"]
    assert keys["RestartSec"] == ["1"]
    assert keys["WatchdogSec"] == ["10"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "read-only",
        "PrivateTmp": "yes",
        "ReadWritePaths": "/var/lib/kairos",
    }.items():
        assert keys[key] == [value], key
    assert "RestartSteps" not in keys  # systemd 252 does not know it
    assert keys["WantedBy"] == ["multi-user.target"]
    assert plan.commands == [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", UNIT_NAME],
    ]
    assert plan.ran == []  # staged: no service manager touched


def test_restart_backoff_where_systemd_has_it() -> None:
    layout = Layout.for_target("linux", user=False)
    keys = unit_lines(render_unit(layout, sys.executable, 256))
    assert keys["RestartSteps"] == ["5"]
    assert keys["RestartMaxDelaySec"] == ["60"]
    assert "RestartSteps" not in unit_lines(render_unit(layout, sys.executable, None))


def test_exec_start_quotes_awkward_paths() -> None:
    layout = Layout.for_target("linux", user=False)
    keys = unit_lines(render_unit(layout, "/opt/my env/bin/python%1", 252))
    assert keys["ExecStart"][0].startswith('"/opt/my env/bin/python%%1" -m kairos.tools.cli')


@needs_analyze
def test_staged_system_unit_passes_systemd_analyze(tmp_path: Path) -> None:
    install(root=tmp_path, platform="linux", device_class="pi-zero")
    unit = tmp_path / SYSTEM_UNIT
    done = analyze(unit, tmp_path, user=False)
    ours = [line for line in (done.stdout + done.stderr).splitlines() if UNIT_NAME in line]
    assert done.returncode == 0, done.stderr
    assert ours == []


@needs_analyze
def test_staged_user_unit_passes_systemd_analyze(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home" / "pi"
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    root = tmp_path / "stage"
    install(root=root, platform="linux", user=True, device_class="pi-zero")
    unit = root / home.relative_to("/") / ".config/systemd/user" / UNIT_NAME
    keys = unit_lines(unit.read_text())
    assert keys["WantedBy"] == ["default.target"]
    assert "ProtectSystem" not in keys  # needs the system manager
    assert keys["NoNewPrivileges"] == ["yes"]
    done = analyze(unit, tmp_path, user=True)
    ours = [line for line in (done.stdout + done.stderr).splitlines() if UNIT_NAME in line]
    assert done.returncode == 0, done.stderr
    assert ours == []


def test_systemd_version_matches_the_installed_one() -> None:
    binary = shutil.which("systemctl") or shutil.which("systemd")
    if binary is None:
        assert systemd_version() is None
        return
    first = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    assert systemd_version() == int(first.split()[1])


def test_config_loads_back_and_dirs_are_private(tmp_path: Path) -> None:
    install(root=tmp_path, platform="linux", device_class="pi-2", bind="tcp://10.0.0.5:7700")
    config = AgentConfig.from_file(tmp_path / SYSTEM_CONFIG)
    assert config.bind == "tcp://10.0.0.5:7700"
    assert config.device_class == "pi-2"
    assert config.state_dir == Path("/var/lib/kairos")
    assert config.trusted_keys_dir == Path("/etc/kairos/trusted")
    assert config.log_level == "info"
    raw = yaml.safe_load((tmp_path / SYSTEM_CONFIG).read_text())
    # every key an install sets, in the reader's order (device: the host name at run time)
    written = ("bind", "device_class", "state_dir", "curve_key", "trusted_keys_dir", "log_level")
    assert tuple(raw) == written and set(written) <= set(FILE_KEYS)
    assert stat.S_IMODE((tmp_path / "etc/kairos/trusted").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "var/lib/kairos").stat().st_mode) == 0o700


def test_auto_class_is_detected(tmp_path: Path) -> None:
    from kairos.hardware.detect import detect_class

    plan = install(root=tmp_path, platform="linux")
    config = AgentConfig.from_file(tmp_path / SYSTEM_CONFIG)
    assert config.device_class == detect_class().name
    assert config.bind == SERVICE_BIND
    assert any(note.startswith("detected device class") for note in plan.notes)


def test_unknown_class_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DeviceClassError, match="pi-9"):
        install(root=tmp_path, platform="linux", device_class="pi-9")
    assert files_under(tmp_path) == []


def test_relative_python_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AgentError, match="absolute"):
        install(root=tmp_path, platform="linux", python="python3")


def test_edited_config_is_kept_unless_forced(tmp_path: Path) -> None:
    install(root=tmp_path, platform="linux", device_class="pi-4")
    config = tmp_path / SYSTEM_CONFIG
    config.write_text(config.read_text().replace("log_level: info", "log_level: debug"))
    again = install(root=tmp_path, platform="linux", device_class="pi-4")
    assert again.kept == [config]
    assert AgentConfig.from_file(config).log_level == "debug"
    forced = install(root=tmp_path, platform="linux", device_class="pi-4", force=True)
    assert config in forced.written
    assert AgentConfig.from_file(config).log_level == "info"


def test_launchd_plist(tmp_path: Path) -> None:
    install(root=tmp_path, platform="darwin", device_class="mac-mini")
    path = tmp_path / "Library/LaunchDaemons" / PLIST_NAME
    with path.open("rb") as handle:
        job = plistlib.load(handle)
    assert job["Label"] == "com.kairos.agent"
    assert job["ProgramArguments"] == [
        sys.executable,
        "-m",
        "kairos.tools.cli",
        "agent",
        "run",
        "--config",
        "/etc/kairos/agent.yaml",
    ]
    assert job["RunAtLoad"] is True
    assert job["KeepAlive"] == {"SuccessfulExit": False}
    assert job["StandardOutPath"] == "/var/log/kairos/agent.log"
    assert job["StandardErrorPath"] == "/var/log/kairos/agent.err.log"
    assert job["WorkingDirectory"] == "/var/lib/kairos"
    assert (tmp_path / "var/log/kairos").is_dir()
    assert AgentConfig.from_file(tmp_path / SYSTEM_CONFIG).device_class == "mac-mini"


def test_launchd_user_agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "Users" / "me"
    monkeypatch.setenv("HOME", str(home))
    root = tmp_path / "stage"
    plan = install(root=root, platform="darwin", user=True, device_class="mac-mini")
    staged_home = root / home.relative_to("/")
    path = staged_home / "Library/LaunchAgents" / PLIST_NAME
    job = plistlib.loads(path.read_bytes())
    assert job["ProgramArguments"][-1] == str(home / ".config/kairos/agent.yaml")
    assert job["StandardOutPath"] == str(home / "Library/Logs/kairos/agent.log")
    assert (staged_home / ".local/state/kairos").is_dir()
    assert plan.commands == [
        ["launchctl", "load", "-w", str(home / "Library/LaunchAgents" / PLIST_NAME)]
    ]


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    plan = install(root=tmp_path, platform="linux", device_class="pi-4", dry_run=True)
    assert files_under(tmp_path) == [] and list(tmp_path.iterdir()) == []
    text = plan.render()
    for planned in plan.files:
        assert str(tmp_path / planned.path.relative_to("/")) in text
        assert planned.content.strip() in text


def test_dry_run_without_root_touches_no_system_path() -> None:
    plan = install(platform="linux", device_class="pi-4", dry_run=True)
    targets = [f.path for f in plan.files] + [d.path for d in plan.dirs]
    before = {p: p.exists() for p in targets}
    assert plan.ran == [] and plan.written == []
    assert {p: p.exists() for p in targets} == before


def test_uninstall_removes_what_install_wrote(tmp_path: Path) -> None:
    written = install(root=tmp_path, platform="linux", device_class="pi-4")
    assert files_under(tmp_path)
    removed = uninstall(root=tmp_path, platform="linux")
    # the agent's key pair stays: topologies name its public key as the device's agent_key
    key_pair = [tmp_path / SYSTEM_KEYS / "agent.key", tmp_path / SYSTEM_KEYS / "agent.key_secret"]
    assert files_under(tmp_path) == key_pair
    for path in written.written:
        assert path in removed.removed or path in key_pair
    assert tmp_path / SYSTEM_KEYS in removed.kept
    for d in ("etc/kairos/trusted", "var/lib/kairos"):
        assert not (tmp_path / d).exists()
    purged = uninstall(root=tmp_path, platform="linux", purge=True)
    assert tmp_path / SYSTEM_KEYS in purged.removed
    assert files_under(tmp_path) == []
    assert not (tmp_path / "etc/kairos").exists()
    assert uninstall(root=tmp_path, platform="linux").removed == []


def test_uninstall_keeps_trusted_keys_unless_purged(tmp_path: Path) -> None:
    install(root=tmp_path, platform="darwin", device_class="mac-mini")
    key = tmp_path / "etc/kairos/trusted/launcher.key"
    key.write_text("public key")
    kept = uninstall(root=tmp_path, platform="darwin")
    assert key.exists()
    assert tmp_path / "etc/kairos/trusted" in kept.kept
    assert not (tmp_path / "Library/LaunchDaemons" / PLIST_NAME).exists()
    uninstall(root=tmp_path, platform="darwin", purge=True)
    assert files_under(tmp_path) == []
    assert not (tmp_path / "etc/kairos").exists()


def cli(configure, run, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    configure(parser)
    return run(parser.parse_args(argv))


def test_cli_install_and_uninstall(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(tmp_path)
    assert (
        cli(
            agent_install.configure_install,
            agent_install.run_install,
            "--root",
            root,
            "--platform",
            "linux",
            "--class",
            "pi-zero",
            "--dry-run",
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"==> {tmp_path / SYSTEM_UNIT} (mode 0644) <==" in out
    assert "Type=notify" in out and "device_class: pi-zero" in out
    assert list(tmp_path.iterdir()) == []

    assert (
        cli(
            agent_install.configure_install,
            agent_install.run_install,
            "--root",
            root,
            "--platform",
            "linux",
            "--class",
            "pi-zero",
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / SYSTEM_UNIT}" in out
    assert "no service manager was called" in out
    public = keys.read_key_file(tmp_path / SYSTEM_KEYS / "agent.key")[0].decode()
    assert f"agent public key {public} (made now; /etc/kairos/keys/agent.key)" in out
    assert f'agent_key: "{public}"' in out
    assert "sudo kairos keys trust launcher.key --trusted-dir /etc/kairos/trusted" in out

    assert (
        cli(
            agent_install.configure_uninstall,
            agent_install.run_uninstall,
            "--root",
            root,
            "--platform",
            "linux",
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"removed {tmp_path / SYSTEM_UNIT}" in out
    assert [p.name for p in files_under(tmp_path)] == ["agent.key", "agent.key_secret"]


def test_cli_refuses_foreign_platform_on_the_real_system(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (
        cli(agent_install.configure_install, agent_install.run_install, "--platform", "darwin") == 2
    )
    assert "--root or --dry-run" in capsys.readouterr().err


def test_install_makes_the_agent_key_pair_once_and_config_uses_it(tmp_path: Path) -> None:
    plan = install(root=tmp_path, platform="linux", device_class="pi-4")
    secret = tmp_path / SYSTEM_KEYS / "agent.key_secret"
    public = tmp_path / SYSTEM_KEYS / "agent.key"
    assert plan.key_generated and secret in plan.written and public in plan.written
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / SYSTEM_KEYS).stat().st_mode) == 0o700
    pair = keys.resolve_pair(str(secret))
    assert pair.public == plan.agent_key == keys.read_key_file(public)[0]
    config = AgentConfig.from_file(tmp_path / SYSTEM_CONFIG)
    assert config.curve_key == "/etc/kairos/keys/agent.key_secret"
    assert keys.resolve_pair(str(tmp_path / config.curve_key.lstrip("/"))).public == pair.public
    # an existing pair is the agent's identity: kept, even when the config is forced
    again = install(root=tmp_path, platform="linux", device_class="pi-4", force=True)
    assert not again.key_generated and again.agent_key == plan.agent_key
    assert secret not in again.written
    assert keys.resolve_pair(str(secret)).secret == pair.secret


def test_kept_config_without_curve_key_is_noted(tmp_path: Path) -> None:
    install(root=tmp_path, platform="linux", device_class="pi-4")
    config = tmp_path / SYSTEM_CONFIG
    config.write_text(
        "\n".join(line for line in config.read_text().splitlines() if "curve_key" not in line)
    )
    assert AgentConfig.from_file(config).curve_key is None  # an older install's file still loads
    again = install(root=tmp_path, platform="linux", device_class="pi-4")
    assert config in again.kept
    assert any("no curve_key" in note and "--force" in note for note in again.notes)


def test_dry_run_says_it_would_make_a_key_pair(tmp_path: Path) -> None:
    plan = install(root=tmp_path, platform="linux", device_class="pi-4", dry_run=True)
    assert plan.agent_key is None and not plan.key_generated
    assert f"CurveZMQ key pair 'agent': {tmp_path / SYSTEM_KEYS / 'agent.key_secret'}" in (
        plan.render()
    )
    assert "curve_key: /etc/kairos/keys/agent.key_secret" in plan.render()
    assert list(tmp_path.iterdir()) == []


def test_installed_key_serves_curve_after_the_printed_trust_step(tmp_path: Path, processes) -> None:
    """The staged install's key pair runs a real agent, which obeys a launcher once the
    printed ``kairos keys trust`` step was done (on the staged trusted directory)."""
    from support import run_kairos

    from kairos.control.client import ControlClient
    from kairos.control.sockets import CurveKeys

    root = tmp_path / "stage"
    done = run_kairos(
        "agent", "install", "--root", str(root), "--platform", "linux", "--class", "mac-mini"
    )
    assert done.returncode == 0, done.stderr
    agent_public = next(
        line.split()[3] for line in done.stdout.splitlines() if line.startswith("agent public key")
    )
    launcher = keys.generate(tmp_path / "launcher", "launcher")
    trusted = root / "etc/kairos/trusted"
    trust = run_kairos("keys", "trust", str(launcher.public_file), "--trusted-dir", str(trusted))
    assert trust.returncode == 0, trust.stderr
    ready = tmp_path / "ready"
    log = tmp_path / "agent.log"
    with open(log, "wb") as sink:
        agent = processes.kairos(
            "agent", "run", "--config", str(root / SYSTEM_CONFIG),
            "--bind", "tcp://127.0.0.1:0", "--ready-file", str(ready),
            "--state-dir", str(tmp_path / "state"), "--device", "staged",
            "--curve-key", str(root / SYSTEM_KEYS / "agent.key_secret"),
            "--trusted-dir", str(trusted),
            stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert agent.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    assert launcher.secret is not None
    curve = CurveKeys(launcher.public, launcher.secret, agent_public.encode())
    with ControlClient(ready.read_text().strip(), curve=curve) as client:
        assert client.hello().device == "staged"
