"""Engine rows read straight into a sync's node arrays, and the mesh state's node map packed
from them: the sync's per-message and per-node Python, moved to compiled code.

Why: at 1 000 nodes at 10 Hz a sync spent ~26 µs of CPU per incoming message (25.6-28.8 %
of a core on a quiet machine), 58 % of it receiving and decoding in Python (four
``Socket.recv``, ``wire.decode``, the Message, the stream bookkeeping) and 20 % building
1 000 ``NodeState`` records and packing them on each tick (docs/performance.md).

:class:`NodeRows` is what a sync hands its runtime (:meth:`Actor.row_sink`).  The runtime
then waits for and reads its SUB sockets with :meth:`NodeRows.serve` (compiled: libzmq's
own ``zmq_poll`` and ``zmq_msg_recv``, wake-up after wake-up until the loop's next deadline,
without a return to Python per wake-up: ~1 300 a second at 1 000 nodes); a message of a
node stream whose header is byte for byte the layout learned from an earlier message of
that stream that ``wire.decode`` accepted (:func:`kairos.wire.header_template`), whose
frames have the sizes it says, and whose every row passes the sync's screen (coherence and
resonance in [0, 1], |phase| ≤ π, no stamp ahead of mesh time + max_future_s), is taken
there: its stream followed
(``StreamTrack.advance``, the positions file), its latency kept, its newest row folded by
``kernels.nodes_take``.  Every other message, and every later message of its stream in the
same read, goes back to the runtime as frames, and through ``wire.decode`` and the sync's
screen as before: so whatever is dropped is dropped, counted and told exactly as without
the compiled drain.  Without it (no compiler, ``KAIROS_KERNELS=reference``, a big-endian
host, or no libzmq found in this process) the runtime reads every message in Python: the
same behaviour, at the old cost.

libzmq is not linked at build time: its functions are taken, through ctypes, from the very
library pyzmq loaded into this process (its path in ``/proc/self/maps``; pyzmq's wheels ship
it as ``pyzmq.libs/libzmq-*.so``), so the drain can never call a second libzmq on pyzmq's
socket.  Where that path cannot be read (not Linux) the Python path runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import msgpack
import numpy as np
import zmq

from kairos import kernels, wire
from kairos.records import NodeState

#: the engine columns a sync reads; the first two are required, the others default to 0
NODE_FIELDS = ("coherence_slow", "phase_slow", "resonance_slow", "collapsed_slow")
REQUIRED_FIELDS = frozenset(NODE_FIELDS[:2])
#: the most messages one drain of a socket reads before the others are looked at
DRAIN_BATCH = 512
#: the most messages taken before the rows are folded (a serve returns to Python then)
TAKEN_BUFFER = 4096
#: messages a node may send between two folds before its sync's buffer fills
TAKEN_PER_NODE = 4


def taken_capacity(nodes: int) -> int:
    """How many taken messages a sync of ``nodes`` nodes buffers: TAKEN_PER_NODE a node,
    at most TAKEN_BUFFER, and at least two drains' worth (a serve stays compiled across
    wake-ups only while another whole drain fits).  Not TAKEN_BUFFER for all: its five
    columns are 256 KB, which the demo's 3-node sync never fills."""
    return min(TAKEN_BUFFER, max(2 * DRAIN_BATCH, TAKEN_PER_NODE * nodes))


_INT64_MAX = int(np.iinfo(np.int64).max)
#: NodeState's keys after ``device``, in the order pack_nodes writes them
_PACKED_KEYS = (
    "coherence",
    "phase",
    "resonance",
    "collapsed",
    "weight",
    "delta_p",
    "stale",
    "last_t_ns",
)


def _load() -> tuple[Any, Any, str]:
    """(the compiled module or None, its libzmq functions or None, why)."""
    if kernels.BACKEND == "reference":  # kernels reads KAIROS_KERNELS, and says why
        return None, None, f"{kernels.BACKEND_REASON}: the sync reads in Python"
    if sys.byteorder != "little":
        return None, None, "a big-endian host: the sync reads in Python"
    try:
        from kairos.actors import _drain
    except ImportError as exc:
        return None, None, f"the compiled drain does not import ({exc}): the sync reads in Python"
    try:
        libzmq = _drain.Libzmq(*_libzmq_functions())
    except (OSError, ValueError, AttributeError) as exc:
        return _drain, None, f"{exc}: the sync reads in Python"
    return _drain, libzmq, "compiled drain"


def _libzmq_functions() -> tuple[int, ...]:
    """The addresses of libzmq's message functions in the library pyzmq loaded."""
    import ctypes

    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split(None, 5)[-1].strip() for line in maps if "libzmq" in line}
    except OSError as exc:
        raise OSError(f"the libzmq pyzmq loaded cannot be found ({exc})") from None
    paths = {p for p in paths if os.path.basename(p).startswith("libzmq")}
    if len(paths) != 1:
        raise OSError(f"{len(paths)} libzmq libraries in this process, not one")
    library = ctypes.CDLL(paths.pop())  # the same handle: it is loaded already
    major, minor, patch = (ctypes.c_int(), ctypes.c_int(), ctypes.c_int())
    library.zmq_version(ctypes.byref(major), ctypes.byref(minor), ctypes.byref(patch))
    if (major.value, minor.value, patch.value) != zmq.zmq_version_info():
        raise OSError("the libzmq found is not the one pyzmq uses")
    names = ("zmq_msg_init", "zmq_msg_recv", "zmq_msg_close", "zmq_msg_data", "zmq_msg_size")
    return tuple(
        ctypes.cast(getattr(library, name), ctypes.c_void_p).value or 0
        for name in (*names, "zmq_msg_more", "zmq_poll")
    )


_DRAIN, _LIBZMQ, DRAIN_REASON = _load()
#: True when syncs read their node streams through the compiled drain
COMPILED = _LIBZMQ is not None


class NodeRows:
    """A sync's node streams, read into its node arrays by the compiled drain.

    ``streams[i]`` is node ``i``; ``take(node, times, values, heard_ns)`` folds one newest
    row per message, each heard at its own time (the sync's ``kernels.nodes_take`` on its
    arrays); ``max_future_ns`` is the screen's limit ahead of mesh time.  ``hold[i]``
    sends node ``i``'s messages to Python: the sync sets it for a node whose screen is
    unsettled, the drain for a node one of whose messages it could not take (so its stream
    stays in order) until the sync's next update.
    """

    def __init__(
        self,
        streams: Sequence[str],
        take: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], None],
        max_future_ns: int,
    ) -> None:
        count = len(streams)
        self.names = list(streams)
        self.slots = {name.encode(): index for index, name in enumerate(streams)}
        self.node_of = np.arange(count, dtype=np.int64)
        self.starts: list[bytes | None] = [None] * count
        self.mids: list[bytes | None] = [None] * count
        self.tails: list[bytes | None] = [None] * count
        self.width = np.zeros(count, dtype=np.int64)
        self.columns = np.full((count, len(NODE_FIELDS)), -1, dtype=np.int64)
        self.hold = np.zeros(count, dtype=np.uint8)
        self.key_epoch, self.key_sent = wire.KEY_EPOCH, wire.KEY_SENT
        self.max_header, self.max_payload = wire.MAX_HEADER_BYTES, wire.MAX_PAYLOAD_BYTES
        self._take = take
        self._max_future_ns = max_future_ns
        capacity = taken_capacity(count)
        self._node = np.zeros(capacity, dtype=np.int64)
        self._time = np.zeros(capacity, dtype=np.int64)
        self._values = np.zeros((capacity, len(NODE_FIELDS)), dtype=np.float64)
        self._heard = np.zeros(capacity, dtype=np.int64)
        self._latency = np.zeros(capacity, dtype=np.float64)
        self._reader: Any = None
        #: how many messages the last drain or serve took
        self.taken = 0

    def attach(
        self, tracks: dict[str, Any], track_type: type, record: Callable[[str, Any], None]
    ) -> None:
        """Follow every stream taken in the runtime's ``tracks`` (new ones made by
        ``track_type``) and ``record`` (the positions file), as its own receive path does."""
        self._reader = _DRAIN.Reader(
            _LIBZMQ, self, tracks, track_type, record, self._node, self._time, self._values,
            self._heard, self._latency, DRAIN_BATCH, self._max_future_ns,
        )  # fmt: skip

    def only(self, wanted: set[str]) -> None:
        """Forget the streams not in ``wanted`` (the runtime's inputs): a SUB subscribed to
        ``node-1`` also hears ``node-10``, which the runtime drops unless it is an input."""
        self.slots = {topic: slot for topic, slot in self.slots.items() if topic.decode() in wanted}

    def learn(self, message: wire.Message) -> None:
        """Remember the header layout of a node message ``wire.decode`` accepted: the next
        messages of its stream with the same bytes around their numbers are read compiled."""
        slot = self.slots.get(message.stream.encode())
        data = message.data
        if (
            slot is None
            or message.extra
            or message.is_record
            or data.dtype.str != "<f8"
            or data.ndim != 2
            or not set(message.fields) >= REQUIRED_FIELDS
        ):
            return
        fields = message.fields
        template = wire.header_template(message.stream, "<f8", data.shape[1], fields)
        self.starts[slot], self.mids[slot], self.tails[slot] = (
            template.start,
            template.mid,
            template.tail,
        )
        self.width[slot] = template.width
        self.columns[slot] = [fields.index(f) if f in fields else -1 for f in NODE_FIELDS]

    def drain(self, sock: zmq.Socket, now_ns: int) -> tuple[int, list[list[bytes]]]:
        """Read what ``sock`` holds now (at most DRAIN_BATCH messages; mesh time ``now_ns``):
        fold the rows taken; return (messages read, the frames of every other message, in
        order).  The latencies (ms) of those taken: :meth:`latencies`."""
        self._reader.clear()
        read, slow = self._reader.drain(int(sock.underlying), now_ns)
        self._fold(now_ns)
        return read, slow

    def serve(
        self, addresses: list[int], wake_fd: int, deadline_ns: int, now_ns: int
    ) -> tuple[int, list[list[bytes]]]:
        """Wait on the sockets at ``addresses`` (their ``underlying``) and ``wake_fd`` until
        ``time.monotonic_ns()`` reaches ``deadline_ns``, taking the rows that arrive, until a
        message is not taken, ``wake_fd`` is readable, a signal, or the buffer is full; then
        fold them and return as :meth:`drain`.  Each message is stamped as read (for its
        latency, its node's hearing and the screen's limit), from ``now_ns``, mesh time at
        the call, on the monotonic clock."""
        self._reader.clear()
        read, slow = self._reader.serve(addresses, wake_fd, deadline_ns, now_ns)
        self._fold(now_ns)
        return read, slow

    def _fold(self, now_ns: int) -> None:
        taken = self.taken = self._reader.taken
        if taken:
            self._take(
                self._node[:taken], self._time[:taken], self._values[:taken], self._heard[:taken]
            )

    def latencies(self) -> list[float]:
        """The latencies (ms) of the messages the last :meth:`drain` or :meth:`serve` took."""
        return self._latency[: self.taken].tolist()

    def settle(self, unsettled: Sequence[int]) -> None:
        """After the sync's update: only the nodes in ``unsettled`` stay held."""
        self.hold[:] = 0
        if unsettled:
            self.hold[list(unsettled)] = 1


class NodeMap:
    """Packs the ``nodes`` map of a sync's mesh state from its node arrays: byte for byte
    what msgpack makes of ``{name: NodeState(...).encode()}`` (tests/actors/test_rows.py),
    compiled (~0.1 ms for 1 000 nodes, was 6.8 ms with the objects) or, without the compiled
    module, through the NodeState records themselves."""

    def __init__(self, names: Sequence[str], devices: Sequence[str]) -> None:
        self.names, self.devices = list(names), list(devices)
        pack = msgpack.Packer(use_bin_type=True).pack
        head = pack("device")
        self._prefixes = [
            pack(name) + bytes([0x80 | len(NodeState.KEYS)]) + head + pack(device)
            for name, device in zip(names, devices, strict=True)
        ]
        self._keys = tuple(pack(key) for key in _PACKED_KEYS)

    def pack(
        self,
        coherence: np.ndarray,
        phase: np.ndarray,
        resonance: np.ndarray,
        collapsed: np.ndarray,
        weight: np.ndarray,
        delta_p: np.ndarray,
        stale: np.ndarray,
        last_t: np.ndarray,
    ) -> bytes:
        """The packed map; ``delta_p[i]`` is ignored (None) where ``stale[i]``."""
        if _DRAIN is not None:
            return bytes(
                _DRAIN.pack_nodes(
                    self._prefixes,
                    self._keys,
                    coherence,
                    phase,
                    resonance,
                    collapsed,
                    weight,
                    delta_p,
                    stale,
                    last_t,
                )
            )
        return self.pack_python(
            coherence, phase, resonance, collapsed, weight, delta_p, stale, last_t
        )

    def pack_python(
        self,
        coherence: np.ndarray,
        phase: np.ndarray,
        resonance: np.ndarray,
        collapsed: np.ndarray,
        weight: np.ndarray,
        delta_p: np.ndarray,
        stale: np.ndarray,
        last_t: np.ndarray,
    ) -> bytes:
        """:meth:`pack` through NodeState records: the reference the compiled one equals."""
        flags = stale.tolist()
        offsets = delta_p.tolist()
        nodes = {
            name: NodeState(
                device=device,
                coherence=c,
                phase=p,
                resonance=r,
                collapsed=bool(k),
                weight=w,
                delta_p=None if s else d,
                stale=bool(s),
                last_t_ns=t,
            ).encode()
            for name, device, c, p, r, k, w, d, s, t in zip(
                self.names,
                self.devices,
                coherence.tolist(),
                phase.tolist(),
                resonance.tolist(),
                collapsed.tolist(),
                weight.tolist(),
                offsets,
                flags,
                last_t.tolist(),
                strict=True,
            )
        }
        return bytes(msgpack.packb(nodes, use_bin_type=True))
