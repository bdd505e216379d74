"""How many sensor+engine pairs this machine holds at 100 Hz, and a sync's cost at 1 000 nodes.

Pairs: each pair is an oscillator sensor (100 Hz, chunks of 10) and a lock-in engine, real
actor processes.  Pairs are added (doubling) and, once a count fails, removed or added again
to bisect.  A count *holds* when, over a window read from the actors' own witnesses, no
engine saw a sequence gap, no sensor skipped samples, and every engine put out at least
95 % of 100 rows per second (it keeps up instead of queueing).

Sync: one sync actor combines 1 000 (and 10 000) node streams, fed by one bench process
publishing one engine row per node at 10 Hz; the figure is the CPU % the sync reports in its
witness, averaged over the window.

Pi Zero: one sensor and one engine moved into a cgroup with the pi-zero device class's budget
(kairos/hardware/classes/pi-zero.yaml: 0.1 CPU, 512 MB) once they publish; the sensor rate
doubles (chunks of the topology default, 50 messages a second) until a rate loses: a rate
holds when, over the window, the engine saw no gap, the sensor skipped nothing, the engine put
out ≥ 95 % of the rows and the cgroup was never throttled.  Needs root and cgroups; without,
the row says why it was not measured.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from kairos.actors.spec import ActorProcessSpec, InputLink, NodeInfo
from kairos.emulate import cgroups
from kairos.errors import EmulationError, WireError
from kairos.hardware.classes import load_class
from kairos.ports import free_port
from kairos.records import EngineStats, MeshState, SensorStats, Witness, expect
from kairos.tools.benchmarks._fanin import node_name
from kairos.tools.benchmarks._procs import (
    DEVICE,
    DEVICE_CLASS,
    MESH,
    BenchmarkError,
    ProcessGroup,
    Progress,
    StreamWatch,
    endpoint,
    engine_spec,
    role_stats,
    sensor_spec,
    wait_first,
)
from kairos.tools.benchmarks._raw import FeedReading
from kairos.tools.benchmarks._report import Row, metric
from kairos.topologies.model import default_chunk

RATE_HZ = 100.0
CHUNK = 10
MIN_ROWS = 0.95
#: memory kept free for everything else on the machine when adding pairs
RESERVE_BYTES = 2 * 1024**3
#: a pair's two actor processes, generously (the footprint benchmark measures ~45 MB each)
PAIR_BYTES = 120 * 1024**2
SYNC_NODES = 1000
#: measured and reported, no target: the sync's cost at ten times the nodes
SYNC_NODES_LARGE = 10_000
SYNC_RATE_HZ = 10.0
PI_ZERO = "pi-zero"
#: the sensor rates tried on the emulated Pi Zero, doubling (samples/s): from the target up
PI_ZERO_START_HZ = 1000.0
PI_ZERO_MAX_HZ = 32_000.0
#: inside the budget before the window starts: two witnesses, and the move's own cost
PI_ZERO_SETTLE_S = 2.0
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Settings:
    start: int
    cap: int
    window_s: float
    settle_s: float
    bisections: int
    budget_s: float
    sync_window_s: float
    pi_window_s: float
    pi_max_hz: float
    large_sync: bool

    @classmethod
    def choose(cls, quick: bool) -> Settings:
        if quick:
            return cls(2, 4, 3.0, 1.5, 0, 30.0, 3.0, 2.0, 1000.0, False)
        return cls(16, 128, 10.0, 3.0, 3, 180.0, 10.0, 4.0, PI_ZERO_MAX_HZ, True)


@dataclass(frozen=True)
class Level:
    pairs: int
    held: bool
    gaps: int
    skipped: int
    slowest_rows_per_s: float


#: the parts of the benchmark, in the order they run; ``only`` picks one of them
PARTS = ("pairs", "sync", "pi-zero")


def run(
    progress: Progress | None = None, quick: bool = False, only: str | None = None
) -> list[Row]:
    """Every part's rows, or only those of part ``only`` (one of PARTS: while working on one
    part, the others' ~6 minutes are not worth waiting for)."""
    if only is not None and only not in PARTS:
        raise BenchmarkError(f"scale: no part {only!r} (the parts are {', '.join(PARTS)})")
    settings = Settings.choose(quick)
    say = progress or (lambda text: None)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="kairos-bench-scale-") as tmp:
        work = Path(tmp)
        if only in (None, "pairs"):
            best, capped, levels = _pairs(work / "pairs", settings, say)
            tried = ", ".join(f"{lv.pairs}{'✓' if lv.held else '✗'}" for lv in levels)
            rows.append(
                metric(
                    "sensor+engine pairs at 100 Hz, zero gaps",
                    best,
                    "pairs",
                    target="≥ 64",
                    note=("lower bound: the search cap was reached; " if capped else "")
                    + f"tried {tried}",
                )
            )
        if only in (None, "sync"):
            say(f"scale: sync aggregating {SYNC_NODES} nodes at {SYNC_RATE_HZ:g} Hz")
            sync = _sync_cpu(work / "sync", settings, SYNC_NODES)
            say(f"scale: raw pyzmq reading the same {SYNC_NODES} node streams")
            raw = _raw_feed_cpu(work / "sync-raw", settings, SYNC_NODES)
            rows.extend(_sync_rows(sync, SYNC_NODES, "≤ 10 %", raw))
            if settings.large_sync:
                say(f"scale: sync aggregating {SYNC_NODES_LARGE} nodes at {SYNC_RATE_HZ:g} Hz")
                large = _sync_cpu(work / "sync-large", settings, SYNC_NODES_LARGE)
                rows.extend(_sync_rows(large, SYNC_NODES_LARGE, None))
        if only in (None, "pi-zero"):
            say("scale: sensor + engine on an emulated Pi Zero")
            pi_rate, pi_note = _pi_zero(work / "pi-zero", settings, say)
            rows.append(
                metric(
                    "Pi Zero (0.1 CPU, 512 MB): sensor+engine samples/s, zero gaps, "
                    "never throttled",
                    pi_rate,
                    "samples/s",
                    target="≥ 1 000",
                    note=pi_note,
                )
            )
    return rows


def _sync_rows(
    sync: dict[str, float],
    nodes: int,
    target: str | None,
    raw: FeedReading | None = None,
) -> list[Row]:
    suffix = "" if nodes == SYNC_NODES else f" ({nodes} nodes)"
    cpu = metric(
        f"sync CPU aggregating {nodes} nodes at 10 Hz",
        sync["cpu"],
        "%",
        baseline=None if raw is None else raw.cpu_percent,
        target=target,
        note=None
        if raw is None
        else "baseline: raw pyzmq reading the same feed, recv_multipart and nothing else "
        f"({raw.rate:.0f} msgs/s)",
    )
    return [
        cpu,
        metric(
            f"sync input rate{suffix}", sync["rate"], "msgs/s", note=f"sent {sync['expected']:g}/s"
        ),
        metric(f"sync input gaps{suffix}", sync["gaps"], "messages"),
        metric(f"sync stale nodes (last tick){suffix}", sync["stale"], "nodes"),
    ]


class _Pairs:
    """The pair processes that are running, and their witnesses."""

    def __init__(self, group: ProcessGroup, watch: StreamWatch, work: Path) -> None:
        self.group = group
        self.watch = watch
        self.work = work
        self.running: list[tuple[str, str]] = []
        self._made = 0

    def resize(self, count: int) -> None:
        while len(self.running) > count:
            sensor, engine = self.running.pop()
            self.group.stop([sensor, engine])
        new = []
        while len(self.running) < count:
            i = self._made
            self._made += 1
            sensor, engine = f"pair-s{i:03d}", f"pair-e{i:03d}"
            s_port, e_port = free_port(), free_port()
            self.group.start_actor(
                sensor_spec(
                    sensor, s_port, self.work, rate_hz=RATE_HZ, chunk=CHUNK, consumers=(engine,)
                )
            )
            self.group.start_actor(
                engine_spec(engine, e_port, self.work, [(sensor, s_port)], consumers=())
            )
            self.watch.watch(endpoint(s_port), [f"{sensor}/witness"])
            self.watch.watch(endpoint(e_port), [f"{engine}/witness"])
            self.running.append((sensor, engine))
            new.append((engine, e_port))
        deadline = time.monotonic() + START_TIMEOUT_S
        for engine, _port in new:
            while _rows_out(self.watch.witness.get(engine)) == 0:
                if time.monotonic() > deadline:
                    raise BenchmarkError(f"scale: engine {engine} never published")
                self.watch.poll(0.2)
                self.group.check_alive()

    def snapshot(self) -> dict[str, Witness]:
        names = [n for pair in self.running for n in pair]
        return {n: self.watch.witness[n] for n in names if n in self.watch.witness}


def _pairs(work: Path, settings: Settings, say: Progress) -> tuple[int, bool, list[Level]]:
    started = time.monotonic()
    levels: list[Level] = []
    good, bad = 0, None
    with ProcessGroup(work) as group, StreamWatch() as watch:
        pairs = _Pairs(group, watch, work)
        count = settings.start
        bisections = 0
        while time.monotonic() - started < settings.budget_s:
            count = _affordable(count, len(pairs.running))
            say(f"scale: {count} sensor+engine pairs")
            pairs.resize(count)
            level = _measure(pairs, count, settings)
            levels.append(level)
            say(
                f"scale: {count} pairs {'held' if level.held else 'lost'} (gaps {level.gaps}, "
                f"skipped {level.skipped}, slowest {level.slowest_rows_per_s:.0f} rows/s)"
            )
            if level.held:
                good = max(good, count)
            else:
                bad = count if bad is None else min(bad, count)
            if bad is None:
                if count >= settings.cap:
                    break
                count = min(settings.cap, count * 2)
                continue
            if bad - good <= max(1, good // 8) or bisections >= settings.bisections:
                break
            bisections += 1
            count = (good + bad) // 2 if good else max(1, bad // 2)
    return good, bad is None, levels


def _affordable(count: int, running: int) -> int:
    """No more pairs than free memory allows (leaving RESERVE_BYTES for everyone else)."""
    extra = max(0, count - running)
    room = (psutil.virtual_memory().available - RESERVE_BYTES) // PAIR_BYTES
    if extra > room:
        return running + max(0, int(room))
    return count


def _measure(pairs: _Pairs, count: int, settings: Settings) -> Level:
    pairs.watch.poll(settings.settle_s)
    pairs.group.check_alive()
    before = pairs.snapshot()
    pairs.watch.poll(settings.window_s)
    pairs.group.check_alive()
    after = pairs.snapshot()
    gaps = skipped = 0
    slowest = float("inf")
    for sensor, engine in pairs.running:
        if engine not in before or engine not in after or sensor not in after:
            return Level(count, False, gaps, skipped, 0.0)
        b, a = before[engine], after[engine]
        gaps += _inputs_gaps(a) - _inputs_gaps(b)
        skipped += _skipped(after.get(sensor)) - _skipped(before.get(sensor))
        elapsed = (a.t_ns - b.t_ns) / 1e9
        if elapsed <= 0:
            return Level(count, False, gaps, skipped, 0.0)
        slowest = min(slowest, (_rows_out(a) - _rows_out(b)) / elapsed)
    held = gaps == 0 and skipped == 0 and slowest >= MIN_ROWS * RATE_HZ
    return Level(count, held, gaps, skipped, slowest)


def _heard_inputs(witness: Witness | None) -> bool:
    return witness is not None and witness.msgs_in > 0


def _inputs_gaps(witness: Witness) -> int:
    return sum(entry.gaps for entry in witness.inputs.values())


def _rows_out(engine: Witness | None) -> int:
    """Rows an engine has put out, 0 before its first witness."""
    return 0 if engine is None else role_stats(engine, EngineStats).rows_out


def _skipped(sensor: Witness | None) -> int:
    """Samples a sensor has skipped, 0 before its first witness."""
    return 0 if sensor is None else role_stats(sensor, SensorStats).skipped_samples


def _sync_cpu(work: Path, settings: Settings, nodes: int) -> dict[str, float]:
    prefix = "node-"
    feed = endpoint(free_port())
    sync_port = free_port()
    names = [node_name(prefix, i) for i in range(nodes)]
    spec = ActorProcessSpec(
        name="scale-sync",
        role="sync",
        device=DEVICE,
        device_class=DEVICE_CLASS,
        bind=endpoint(sync_port),
        inputs=tuple(InputLink(actor=n, stream=n, endpoint=feed) for n in names),
        nodes=tuple(NodeInfo(n, DEVICE, DEVICE_CLASS, 1.0) for n in names),
        rate_hz=SYNC_RATE_HZ,
        mesh=dataclasses.replace(MESH, pulse_hz=SYNC_RATE_HZ),
        work_dir=str(work / "scale-sync"),
    )
    with ProcessGroup(work) as group, StreamWatch() as watch:
        group.start_actor(spec)
        group.start_module(
            "fanin", "kairos.tools.benchmarks._fanin", feed, str(nodes),
            repr(SYNC_RATE_HZ), prefix,
        )  # fmt: skip
        wait_first(spec.bind, "scale-sync", START_TIMEOUT_S, group)
        # only the latest state is kept, and decoded once at the end: a state of 10 000 nodes
        # decodes to ~5 MB of Python objects, and keeping every one grew this process to
        # 24 GB before the OOM killer stopped it (decoding each would also take the CPU the
        # sync is measured on)
        latest: list[Any] = []
        watch.watch(spec.bind, ["scale-sync"])

        def keep(message: Any, received_ns: int) -> None:
            if message.stream == "scale-sync" and message.is_record:
                latest[:] = [message]

        # the feed starts once every node stream is subscribed: 10 000 take seconds
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _heard_inputs(watch.witness.get("scale-sync")):
            if time.monotonic() > deadline:
                raise BenchmarkError(f"scale: the sync of {nodes} nodes never heard its feed")
            watch.poll(0.5, keep)
            group.check_alive()
        watch.poll(settings.settle_s + 1.0, keep)
        group.check_alive()
        first = len(watch.witness_history.get("scale-sync", []))
        watch.poll(settings.sync_window_s + 0.5, keep)
        group.check_alive()
    history = watch.witness_history.get("scale-sync", [])[first:]
    if len(history) < 2:
        raise BenchmarkError("scale: the sync published too few witnesses to measure")
    cpu = sum(w.cpu_percent for w in history[1:]) / (len(history) - 1)
    elapsed = (history[-1].t_ns - history[0].t_ns) / 1e9
    rate = (history[-1].msgs_in - history[0].msgs_in) / elapsed
    gaps = history[-1].gaps - history[0].gaps
    stale = nodes  # a missing or malformed state counts no node as heard
    if latest:
        with contextlib.suppress(WireError):
            stale = len(expect(latest[0], MeshState).stale_nodes)
    return {
        "cpu": cpu,
        "rate": rate,
        "expected": nodes * SYNC_RATE_HZ,
        "gaps": gaps,
        "stale": stale,
    }


def _raw_feed_cpu(work: Path, settings: Settings, nodes: int) -> FeedReading:
    """The sync's baseline: raw pyzmq reading the same feed (kairos.tools.benchmarks._raw
    feed), its CPU share over a window as long as the sync's, from 1 s after its first
    message (it has no start-up work to settle; `bench all` keeps under 10 minutes)."""
    prefix = "node-"
    feed = endpoint(free_port())
    out = work / "raw-feed.json"
    settle_s = 1.0
    with ProcessGroup(work) as group:
        raw = group.start_module(
            "raw-feed", "kairos.tools.benchmarks._raw", "feed", feed, str(nodes), prefix,
            repr(settle_s), repr(settings.sync_window_s), str(out),
        )  # fmt: skip
        group.start_module(
            "fanin", "kairos.tools.benchmarks._fanin", feed, str(nodes),
            repr(SYNC_RATE_HZ), prefix,
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S + settle_s + settings.sync_window_s
        while raw.poll() is None:
            if time.monotonic() > deadline:
                raise BenchmarkError(f"scale: raw pyzmq never read {nodes} nodes' feed")
            group.check_alive(["fanin"])
            time.sleep(0.2)
        if raw.returncode != 0 or not out.exists():
            raise BenchmarkError(f"scale: the raw feed reader failed: {group.tail('raw-feed')}")
    try:
        return FeedReading.load(out)
    except (KeyError, TypeError, ValueError) as exc:
        raise BenchmarkError(f"scale: the raw feed reader wrote no figures ({exc!r})") from None


def _pi_zero(work: Path, settings: Settings, say: Progress) -> tuple[float | None, str]:
    """The highest sensor rate one sensor + engine hold inside a Pi Zero's cgroup budget."""
    budget = load_class(PI_ZERO).budget
    cluster = f"bench-{os.getpid()}"
    try:
        layout = cgroups.CgroupLayout.detect()
        cgroups.create(layout, cluster, PI_ZERO)
        cgroups.set_limits(
            layout, cluster, PI_ZERO, cpu_quota=budget.cpu_quota, memory_mb=budget.memory_mb
        )
    except (EmulationError, OSError) as exc:
        return None, f"not measured: {exc}"
    try:
        good: float | None = None
        tried = []
        rate = PI_ZERO_START_HZ
        while rate <= settings.pi_max_hz:
            held, why = _pi_zero_step(work / f"{rate:.0f}", layout, cluster, rate, settings)
            tried.append(f"{rate:g}{'✓' if held else '✗'}")
            say(f"scale: Pi Zero at {rate:g} samples/s {'held' if held else 'lost'} ({why})")
            if not held:
                break
            good = rate
            rate *= 2
        note = f"cgroup {budget.cpu_quota} CPU, {budget.memory_mb} MB; tried {', '.join(tried)}"
        if good == settings.pi_max_hz:
            note = "lower bound: the search cap was reached; " + note
        return good, note
    finally:
        for directory in layout.cluster_dirs(cluster):
            with contextlib.suppress(EmulationError):
                cgroups.remove_tree(directory)


def _pi_zero_step(
    work: Path, layout: cgroups.CgroupLayout, cluster: str, rate: float, settings: Settings
) -> tuple[bool, str]:
    sensor, engine = "pi-sensor", "pi-engine"
    s_port, e_port = free_port(), free_port()
    chunk = default_chunk(rate)
    with ProcessGroup(work) as group, StreamWatch() as watch:
        procs = [
            group.start_actor(
                sensor_spec(sensor, s_port, work, rate_hz=rate, chunk=chunk, consumers=(engine,))
            ),
            group.start_actor(engine_spec(engine, e_port, work, [(sensor, s_port)], consumers=())),
        ]
        watch.watch(endpoint(s_port), [f"{sensor}/witness"])
        watch.watch(endpoint(e_port), [f"{engine}/witness"])
        deadline = time.monotonic() + START_TIMEOUT_S
        while _rows_out(watch.witness.get(engine)) == 0:
            if time.monotonic() > deadline:
                raise BenchmarkError("scale: the Pi Zero engine never published")
            watch.poll(0.2)
            group.check_alive()
        # started outside (imports at 0.1 CPU take seconds), measured inside the budget
        for procs_file in layout.procs_files(cluster, PI_ZERO):
            for proc in procs:
                procs_file.write_text(str(proc.pid))
        watch.poll(PI_ZERO_SETTLE_S)
        group.check_alive()
        before, throttled = dict(watch.witness), _throttled(layout, cluster)
        watch.poll(settings.pi_window_s)
        group.check_alive()
        after, throttled = dict(watch.witness), _throttled(layout, cluster) - throttled
    if engine not in before or engine not in after or sensor not in after:
        return False, "no witness"
    b, a = before[engine], after[engine]
    gaps = _inputs_gaps(a) - _inputs_gaps(b)
    skipped = _skipped(after.get(sensor)) - _skipped(before.get(sensor))
    elapsed = (a.t_ns - b.t_ns) / 1e9
    rows = (_rows_out(a) - _rows_out(b)) / elapsed if elapsed > 0 else 0.0
    held = gaps == 0 and skipped == 0 and throttled == 0 and rows >= MIN_ROWS * rate
    why = (
        f"gaps {gaps}, skipped {skipped}, throttled periods {throttled}, {rows:.0f} rows/s, "
        f"cpu {a.cpu_percent:.1f} % + {after[sensor].cpu_percent:.1f} %"
    )
    return held, why


def _throttled(layout: cgroups.CgroupLayout, cluster: str) -> int:
    """CFS periods in which the device's group was throttled so far (cpu.stat)."""
    path = layout.cpu_root / cgroups.KAIROS_GROUP / cluster / PI_ZERO / "cpu.stat"
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == "nr_throttled":
            return int(value)
    raise BenchmarkError(f"{path} has no nr_throttled")


if __name__ == "__main__":  # python -m kairos.tools.benchmarks.scale [--quick] [PART]
    chosen = [arg for arg in sys.argv[1:] if arg in PARTS]
    for row in run(
        lambda text: print(text, file=sys.stderr),
        quick="--quick" in sys.argv,
        only=chosen[0] if chosen else None,
    ):
        print(row)
