"""CPU and memory cgroups for emulated devices, on cgroup v1 or v2.

Groups live at ``<controller>/kairos/<cluster>/<device>`` (v1: one tree per controller;
v2: one unified tree).  Budgets are written and read back through the files the kernel
exposes, so what the tests check is what the kernel enforces.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from kairos.errors import EmulationError

CGROUP_ROOT = Path("/sys/fs/cgroup")
#: Top folder of every Kairos cgroup, below each controller's root.
KAIROS_GROUP = "kairos"
CPU_PERIOD_US = 100_000
#: Memory limits at or above this count as "no limit" (v1 reports ~2**63 rounded to pages).
UNLIMITED_BYTES = 1 << 62


@dataclass(frozen=True)
class CgroupLayout:
    """Where the cpu and memory controllers are mounted, and which cgroup version they are."""

    version: int
    cpu_root: Path
    memory_root: Path

    @classmethod
    def detect(cls, root: Path = CGROUP_ROOT) -> CgroupLayout:
        """v2 when ``root`` itself is the unified hierarchy, else v1 with cpu and memory trees."""
        controllers = root / "cgroup.controllers"
        if controllers.exists():
            available = controllers.read_text().split()
            missing = [c for c in ("cpu", "memory") if c not in available]
            if missing:
                raise EmulationError(
                    f"cgroup v2 at {root} lacks the {', '.join(missing)} controller(s); "
                    f"available: {' '.join(available) or 'none'}"
                )
            return cls(version=2, cpu_root=root, memory_root=root)
        cpu, memory = root / "cpu", root / "memory"
        for name, path in (("cpu", cpu), ("memory", memory)):
            if not (path / "cgroup.procs").exists():
                raise EmulationError(
                    f"no {name} cgroup controller: neither cgroup v2 ({controllers}) nor a "
                    f"v1 {name} hierarchy ({path}) is mounted"
                )
        return cls(version=1, cpu_root=cpu.resolve(), memory_root=memory.resolve())

    def roots(self) -> list[Path]:
        """Each distinct controller root (one for v2, two for v1)."""
        return (
            [self.cpu_root]
            if self.cpu_root == self.memory_root
            else [
                self.cpu_root,
                self.memory_root,
            ]
        )

    def cluster_dirs(self, cluster: str) -> list[Path]:
        return [root / KAIROS_GROUP / cluster for root in self.roots()]

    def device_dirs(self, cluster: str, device: str) -> list[Path]:
        return [root / KAIROS_GROUP / cluster / device for root in self.roots()]

    def procs_files(self, cluster: str, device: str) -> list[Path]:
        """The files a process writes its pid into to join the device's groups."""
        return [d / "cgroup.procs" for d in self.device_dirs(cluster, device)]


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as exc:
        raise EmulationError(f"cannot write {value!r} to {path}: {exc.strerror}") from exc


def _enable_v2_controllers(path: Path) -> None:
    """v2 only hands cpu and memory to children a parent lists in its subtree_control."""
    control = path / "cgroup.subtree_control"
    enabled = control.read_text().split()
    wanted = [f"+{c}" for c in ("cpu", "memory") if c not in enabled]
    if wanted:
        _write(control, " ".join(wanted))


def create(layout: CgroupLayout, cluster: str, device: str) -> list[Path]:
    """Create the device's groups (and parents); return every directory this call made."""
    made: list[Path] = []
    for root in layout.roots():
        parts = [KAIROS_GROUP, cluster, device]
        current = root
        for part in parts:
            if layout.version == 2:
                _enable_v2_controllers(current)
            current = current / part
            if not current.exists():
                try:
                    current.mkdir()
                except OSError as exc:
                    raise EmulationError(f"cannot create cgroup {current}: {exc.strerror}") from exc
                made.append(current)
    return made


def set_limits(
    layout: CgroupLayout,
    cluster: str,
    device: str,
    *,
    cpu_quota: float | None,
    memory_mb: int | None,
) -> None:
    """Apply a CPU quota (CPUs; None = unlimited) and memory limit (MiB; None = unlimited)."""
    if cpu_quota is not None and cpu_quota <= 0:
        raise EmulationError(f"device {device!r}: cpu quota must be > 0 CPUs, got {cpu_quota}")
    if memory_mb is not None and memory_mb <= 0:
        raise EmulationError(f"device {device!r}: memory limit must be > 0 MiB, got {memory_mb}")
    cpu_dir, memory_dir = (
        layout.cpu_root / KAIROS_GROUP / cluster / device,
        layout.memory_root / KAIROS_GROUP / cluster / device,
    )
    quota_us = None if cpu_quota is None else max(1000, round(cpu_quota * CPU_PERIOD_US))
    limit = None if memory_mb is None else memory_mb * 1024 * 1024
    if layout.version == 2:
        _write(cpu_dir / "cpu.max", f"{quota_us if quota_us else 'max'} {CPU_PERIOD_US}")
        _write(memory_dir / "memory.max", str(limit) if limit else "max")
        swap = memory_dir / "memory.swap.max"
        if swap.exists():
            _write(swap, "0" if limit else "max")
        return
    _write(cpu_dir / "cpu.cfs_period_us", str(CPU_PERIOD_US))
    _write(cpu_dir / "cpu.cfs_quota_us", str(quota_us if quota_us else -1))
    # memsw (memory + swap) must stay >= memory: raise it first, lower it last
    memsw = memory_dir / "memory.memsw.limit_in_bytes"
    value = str(limit) if limit else "-1"
    if memsw.exists():
        current = int(memsw.read_text())
        if limit is None or limit > current:
            _write(memsw, value)
            _write(memory_dir / "memory.limit_in_bytes", value)
        else:
            _write(memory_dir / "memory.limit_in_bytes", value)
            _write(memsw, value)
    else:
        _write(memory_dir / "memory.limit_in_bytes", value)


def read_limits(layout: CgroupLayout, cluster: str, device: str) -> dict[str, int | None]:
    """What the kernel holds: cpu quota and period (µs) and memory limit (bytes; None = none)."""
    cpu_dir = layout.cpu_root / KAIROS_GROUP / cluster / device
    memory_dir = layout.memory_root / KAIROS_GROUP / cluster / device
    try:
        if layout.version == 2:
            quota_text, period_text = (cpu_dir / "cpu.max").read_text().split()
            quota = None if quota_text == "max" else int(quota_text)
            period = int(period_text)
            memory_text = (memory_dir / "memory.max").read_text().strip()
            memory = None if memory_text == "max" else int(memory_text)
        else:
            raw_quota = int((cpu_dir / "cpu.cfs_quota_us").read_text())
            quota = None if raw_quota < 0 else raw_quota
            period = int((cpu_dir / "cpu.cfs_period_us").read_text())
            memory = int((memory_dir / "memory.limit_in_bytes").read_text())
    except OSError as exc:
        raise EmulationError(f"cannot read cgroup limits of device {device!r}: {exc}") from exc
    if memory is not None and memory >= UNLIMITED_BYTES:
        memory = None
    return {"cpu_quota_us": quota, "cpu_period_us": period, "memory_limit_bytes": memory}


def pids_in(directory: Path) -> list[int]:
    """Pids in one cgroup directory and all its descendants."""
    found: list[int] = []
    if not directory.is_dir():
        return found
    for current, _dirs, files in os.walk(directory):
        if "cgroup.procs" in files:
            with contextlib.suppress(OSError):
                text = (Path(current) / "cgroup.procs").read_text()
                found.extend(int(word) for word in text.split())
    return sorted(set(found))


def device_pids(layout: CgroupLayout, cluster: str, device: str) -> list[int]:
    pids: set[int] = set()
    for directory in layout.device_dirs(cluster, device):
        pids.update(pids_in(directory))
    return sorted(pids)


def remove_tree(directory: Path, timeout: float = 5.0) -> bool:
    """rmdir a cgroup and its children, deepest first; False when it did not exist.

    A group can only go once its tasks are gone; exiting processes linger for a moment as
    zombies, so each rmdir is retried until ``timeout``.  A process found inside while
    retrying is killed: one that joined after its cluster's processes were listed (a wrapper
    slowed down by the group's own CPU quota) would otherwise keep the group forever.
    """
    if not directory.is_dir():
        return False
    children = sorted(
        (Path(d) for d, _sub, _files in os.walk(directory)),
        key=lambda p: len(p.parts),
        reverse=True,
    )
    for child in children:
        deadline = time.monotonic() + timeout
        while True:
            try:
                child.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise EmulationError(
                        f"cannot remove cgroup {child}: {exc.strerror} "
                        f"(pids still inside: {pids_in(child) or 'none'})"
                    ) from exc
                for pid in pids_in(child):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.05)
    return True


def kairos_clusters(layout: CgroupLayout) -> dict[str, list[Path]]:
    """Every cluster folder below ``<controller>/kairos``, by cluster id."""
    found: dict[str, list[Path]] = {}
    for root in layout.roots():
        top = root / KAIROS_GROUP
        if not top.is_dir():
            continue
        for entry in sorted(top.iterdir()):
            if entry.is_dir():
                found.setdefault(entry.name, []).append(entry)
    return found
