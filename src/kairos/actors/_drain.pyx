# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""The sync's receive path and its tick's node map in compiled code (kairos.actors._rows
says what each function must do, and holds their pure-Python twins).

``Reader.serve`` waits on a sync's SUB sockets with libzmq's ``zmq_poll`` and reads every
message waiting through libzmq itself (``Reader.drain``: one socket, once): pyzmq's own
socket is used (its ``underlying`` address) and libzmq's functions are called through the
addresses of the very library pyzmq loaded (found by ``_rows``), so nothing is linked at
build time and no second libzmq can ever be mixed in.  Messages of a row stream whose
header is, byte for byte, the layout learned from an earlier message that ``wire.decode``
accepted, and whose every row passes the screen, are taken here; every other message goes
back to Python as its frames, to be decoded, screened, counted and dropped exactly as
before.

``pack_nodes`` packs the ``nodes`` map of a mesh state from the node arrays: the bytes
msgpack makes of ``{name: NodeState(...).encode()}``, without 1 000 NodeState objects.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.math cimport fabs
from libc.stdint cimport int64_t, uint64_t, uintptr_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcmp, memcpy

cdef extern from *:
    """
    #include <errno.h>
    #include <time.h>
    #include <stdint.h>
    /* zmq.h's zmq_msg_t: 64 opaque bytes, pointer-aligned */
    typedef union { unsigned char bytes_[64]; void *align_; double d_; int64_t l_; } kairos_msg;
    typedef int (*kairos_msg_init_fn)(kairos_msg *);
    typedef int (*kairos_msg_recv_fn)(kairos_msg *, void *, int);
    typedef int (*kairos_msg_close_fn)(kairos_msg *);
    typedef void *(*kairos_msg_data_fn)(kairos_msg *);
    typedef size_t (*kairos_msg_size_fn)(const kairos_msg *);
    typedef int (*kairos_msg_more_fn)(const kairos_msg *);
    static int64_t kairos_monotonic_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000LL + (int64_t)ts.tv_nsec;
    }
    static int kairos_sub_overflows(int64_t a, int64_t b, int64_t *out) {
        return __builtin_sub_overflow(a, b, out);
    }
    static int kairos_add_overflows(int64_t a, int64_t b, int64_t *out) {
        return __builtin_add_overflow(a, b, out);
    }
    /* zmq.h's zmq_pollitem_t (on Windows fd is a SOCKET: the drain is Linux-only, _rows) */
    typedef struct { void *socket; int fd; short events; short revents; } kairos_pollitem;
    typedef int (*kairos_poll_fn)(kairos_pollitem *, int, long);
    #define KAIROS_POLLIN 1
    """
    ctypedef union kairos_msg:
        unsigned char bytes_[64]
    ctypedef int (*kairos_msg_init_fn)(kairos_msg *) nogil
    ctypedef int (*kairos_msg_recv_fn)(kairos_msg *, void *, int) nogil
    ctypedef int (*kairos_msg_close_fn)(kairos_msg *) nogil
    ctypedef void *(*kairos_msg_data_fn)(kairos_msg *) nogil
    ctypedef size_t (*kairos_msg_size_fn)(const kairos_msg *) nogil
    ctypedef int (*kairos_msg_more_fn)(const kairos_msg *) nogil
    ctypedef struct kairos_pollitem:
        void *socket
        int fd
        short events
        short revents
    ctypedef int (*kairos_poll_fn)(kairos_pollitem *, int, long) nogil
    int KAIROS_POLLIN
    int64_t kairos_monotonic_ns() nogil
    int kairos_sub_overflows(int64_t a, int64_t b, int64_t *out) nogil
    int kairos_add_overflows(int64_t a, int64_t b, int64_t *out) nogil

cdef int ZMQ_DONTWAIT = 1
cdef int PARTS = 4
cdef double PI = 3.141592653589793  # np.pi, the bound _in_range compares |phase| with
cdef uint64_t INT64_LIMIT = 9223372036854775807ULL
cdef int64_t INT64_MAX = 9223372036854775807LL


cdef class Libzmq:
    """libzmq's message functions at the addresses of the library pyzmq loaded."""

    cdef kairos_msg_init_fn init
    cdef kairos_msg_recv_fn recv
    cdef kairos_msg_close_fn close
    cdef kairos_msg_data_fn data
    cdef kairos_msg_size_fn size
    cdef kairos_msg_more_fn more
    cdef kairos_poll_fn poll

    def __init__(self, uintptr_t init, uintptr_t recv, uintptr_t close, uintptr_t data,
                 uintptr_t size, uintptr_t more, uintptr_t poll):
        if not (init and recv and close and data and size and more and poll):
            raise ValueError("a libzmq function address is missing")
        self.init = <kairos_msg_init_fn>init
        self.recv = <kairos_msg_recv_fn>recv
        self.close = <kairos_msg_close_fn>close
        self.data = <kairos_msg_data_fn>data
        self.size = <kairos_msg_size_fn>size
        self.more = <kairos_msg_more_fn>more
        self.poll = <kairos_poll_fn>poll


cdef inline bint _read_int(const unsigned char *p, Py_ssize_t end, Py_ssize_t *pos,
                           uint64_t *value, bint *negative) noexcept nogil:
    """One msgpack integer of any encoding at p[pos]: its bits in ``value`` (two's
    complement when ``negative``); False when p[pos] is not an integer or is cut short."""
    cdef Py_ssize_t i = pos[0], need
    cdef unsigned char b
    cdef uint64_t v = 0
    cdef int64_t s
    cdef Py_ssize_t k
    if i >= end:
        return False
    b = p[i]
    if b <= 0x7f:
        value[0], negative[0], pos[0] = b, False, i + 1
        return True
    if b >= 0xe0:
        s = <int64_t>(<signed char>b)
        value[0], negative[0], pos[0] = <uint64_t>s, True, i + 1
        return True
    if b == 0xcc or b == 0xd0:
        need = 1
    elif b == 0xcd or b == 0xd1:
        need = 2
    elif b == 0xce or b == 0xd2:
        need = 4
    elif b == 0xcf or b == 0xd3:
        need = 8
    else:
        return False
    if i + 1 + need > end:
        return False
    for k in range(need):
        v = (v << 8) | p[i + 1 + k]
    if b >= 0xd0:  # signed: extend the sign of the top byte
        if need < 8 and (p[i + 1] & 0x80):
            v |= ~((<uint64_t>1 << (8 * need)) - 1)
        negative[0] = (p[i + 1] & 0x80) != 0
    else:
        negative[0] = False
    value[0], pos[0] = v, i + 1 + need
    return True


cdef inline bint _expect(const unsigned char *p, Py_ssize_t end, Py_ssize_t *pos,
                         bytes part) noexcept:
    cdef Py_ssize_t n = PyBytes_GET_SIZE(part)
    if pos[0] + n > end or memcmp(p + pos[0], PyBytes_AS_STRING(part), n) != 0:
        return False
    pos[0] += n
    return True


cdef inline int64_t _le_int64(const unsigned char *p) noexcept nogil:
    cdef int64_t v
    memcpy(&v, p, 8)  # a little-endian host (_rows checks): the wire's byte order
    return v


cdef inline double _le_double(const unsigned char *p) noexcept nogil:
    cdef double v
    memcpy(&v, p, 8)
    return v


cdef list _frames(Libzmq z, kairos_msg *parts, int count):
    return [PyBytes_FromStringAndSize(<char *>z.data(&parts[i]), z.size(&parts[i]))
            for i in range(count)]


cdef class Reader:
    """Reads a sync's SUB sockets: see :meth:`drain` and :meth:`serve`.

    ``sink`` is the :class:`kairos.actors._rows.NodeRows` whose templates, columns and holds
    it reads; ``tracks``, ``track_type`` and ``record`` the runtime's stream bookkeeping.
    What it takes lands in ``node``, ``time``, ``values``, ``heard`` and ``latency`` (one
    entry a message, ``taken`` of them since :meth:`clear`)."""

    cdef Libzmq z
    cdef object sink, tracks, track_type, record
    cdef public int taken
    cdef int64_t[::1] node, time, heard
    cdef double[:, ::1] values
    cdef double[::1] latency
    cdef int batch
    cdef int64_t max_future_ns

    def __init__(self, Libzmq z, sink, tracks, track_type, record, node, time, values, heard,
                 latency, int batch, int64_t max_future_ns):
        self.z, self.sink, self.tracks, self.track_type, self.record = (
            z, sink, tracks, track_type, record
        )
        self.node, self.time, self.values, self.heard, self.latency = (
            node, time, values, heard, latency
        )
        self.batch, self.max_future_ns = batch, max_future_ns
        self.taken = 0

    def clear(self):
        self.taken = 0

    def drain(self, uintptr_t socket, int64_t now_ns):
        """Read at most ``batch`` of the messages waiting on ``socket`` (mesh time
        ``now_ns`` now).  Returns ``(read, slow)``: messages read, and the frames of every
        one not taken, in order."""
        cdef list slow = []
        cdef int read = self._drain(socket, now_ns, kairos_monotonic_ns(), slow)
        return read, slow

    def serve(self, list sockets, int wake_fd, int64_t deadline_mono_ns, int64_t now_ns):
        """Wait on ``sockets`` and ``wake_fd`` until the monotonic clock reaches
        ``deadline_mono_ns``, and take every row that arrives meanwhile, as the runtime's
        loop would, wake-up by wake-up, but without going back to Python: return early when
        a message is not taken (its frames, and its stream's later ones, are Python's), when
        ``wake_fd`` is readable, on a signal, or when the buffers are full.  Returns
        ``(read, slow)``."""
        cdef int count = len(sockets), i, rc, read = 0
        cdef int64_t mono0 = kairos_monotonic_ns(), remaining, mono
        cdef long timeout_ms
        cdef list slow = []
        cdef kairos_pollitem *items = <kairos_pollitem *>malloc((count + 1) * sizeof(kairos_pollitem))
        cdef kairos_poll_fn zpoll = self.z.poll
        if items == NULL:
            raise MemoryError()
        try:
            for i in range(count):
                items[i].socket = <void *><uintptr_t>sockets[i]
                items[i].fd = 0
                items[i].events = KAIROS_POLLIN
            items[count].socket = NULL
            items[count].fd = wake_fd
            items[count].events = KAIROS_POLLIN
            while True:
                remaining = deadline_mono_ns - kairos_monotonic_ns()
                timeout_ms = <long>(remaining // 1000000) if remaining > 0 else 0
                for i in range(count + 1):
                    items[i].revents = 0
                with nogil:
                    rc = zpoll(items, count + 1, timeout_ms)
                if rc <= 0:  # the deadline, or a signal (EINTR): Python's turn
                    break
                for i in range(count):
                    if items[i].revents & KAIROS_POLLIN:
                        mono = kairos_monotonic_ns()
                        read += self._drain(<uintptr_t>items[i].socket, now_ns + (mono - mono0),
                                            mono, slow)
                if slow or items[count].revents or timeout_ms == 0:
                    break
                if self.taken + self.batch > self.node.shape[0]:
                    break
        finally:
            free(items)
        return read, slow

    cdef int _drain(self, uintptr_t socket, int64_t now_ns, int64_t mono0, list slow) except -1:
        cdef Libzmq z = self.z
        sink = self.sink
        cdef dict slots = sink.slots
        cdef list names = sink.names
        cdef list starts = sink.starts
        cdef list mids = sink.mids
        cdef list tails = sink.tails
        cdef const int64_t[::1] node_of = sink.node_of
        cdef const int64_t[::1] width_of = sink.width
        cdef const int64_t[:, ::1] columns = sink.columns
        cdef unsigned char[::1] hold = sink.hold
        cdef bytes key_epoch = sink.key_epoch
        cdef bytes key_sent = sink.key_sent
        cdef int64_t max_header = sink.max_header
        cdef int64_t max_payload = sink.max_payload
        cdef kairos_msg parts[4]
        cdef kairos_msg rest
        cdef int count, i, rc
        cdef int read = 0
        cdef list frames
        cdef object slot_obj
        cdef Py_ssize_t slot, pos, hlen, rows, r, width
        cdef const unsigned char *h
        cdef const unsigned char *tp = NULL
        cdef const unsigned char *vp = NULL
        cdef uint64_t seq, epoch_bits, sent_bits, n_bits
        cdef bint neg, ok
        cdef int64_t epoch, sent, t, first_t, last_t, received = 0, diff, limit
        cdef int64_t c0 = 0, c1 = 0, c2 = -1, c3 = -1
        cdef double coherence, phase, resonance
        cdef bytes topic
        cdef int room = self.node.shape[0] - self.taken
        cdef int max_messages = self.batch if self.batch < room else room
        while read < max_messages:
            z.init(&parts[0])
            if z.recv(&parts[0], <void *>socket, ZMQ_DONTWAIT) < 0:
                z.close(&parts[0])
                break
            read += 1
            count = 1
            ok = True
            while count < PARTS and z.more(&parts[count - 1]):
                z.init(&parts[count])
                if z.recv(&parts[count], <void *>socket, ZMQ_DONTWAIT) < 0:
                    z.close(&parts[count])
                    ok = False  # a multipart message arrives whole: never seen, not trusted
                    break
                count += 1
            frames = None
            if ok and z.more(&parts[count - 1]):  # more than four frames: all to Python
                frames = _frames(z, parts, count)
                while True:
                    z.init(&rest)
                    if z.recv(&rest, <void *>socket, ZMQ_DONTWAIT) < 0:
                        z.close(&rest)
                        break
                    frames.append(PyBytes_FromStringAndSize(<char *>z.data(&rest), z.size(&rest)))
                    rc = z.more(&rest)
                    z.close(&rest)
                    if not rc:
                        break
            topic = PyBytes_FromStringAndSize(<char *>z.data(&parts[0]), z.size(&parts[0]))
            slot_obj = slots.get(topic)
            slot = -1 if slot_obj is None else <Py_ssize_t>slot_obj
            ok = ok and frames is None and count == PARTS and slot >= 0 and not hold[slot]
            ok = ok and starts[slot] is not None
            if ok:
                h = <const unsigned char *>z.data(&parts[1])
                hlen = <Py_ssize_t>z.size(&parts[1])
                pos = 0
                ok = (
                    hlen <= max_header
                    and _expect(h, hlen, &pos, <bytes>starts[slot])
                    and _read_int(h, hlen, &pos, &seq, &neg) and not neg and seq <= INT64_LIMIT
                    and _expect(h, hlen, &pos, key_epoch)
                    and _read_int(h, hlen, &pos, &epoch_bits, &neg)
                    and (neg or epoch_bits <= INT64_LIMIT)
                    and _expect(h, hlen, &pos, key_sent)
                )
                epoch = <int64_t>epoch_bits
                ok = (
                    ok
                    and _read_int(h, hlen, &pos, &sent_bits, &neg)
                    and (neg or sent_bits <= INT64_LIMIT)
                    and _expect(h, hlen, &pos, <bytes>mids[slot])
                    and _read_int(h, hlen, &pos, &n_bits, &neg) and not neg
                    and 0 < n_bits < 2147483648ULL
                    and _expect(h, hlen, &pos, <bytes>tails[slot])
                    and pos == hlen
                )
            if ok:
                sent = <int64_t>sent_bits
                rows = <Py_ssize_t>n_bits
                width = width_of[slot]
                ok = (
                    <Py_ssize_t>z.size(&parts[2]) == rows * 8
                    and <Py_ssize_t>z.size(&parts[3]) == rows * width * 8
                    and rows * width * 8 <= max_payload
                )
            if ok:
                received = now_ns + (kairos_monotonic_ns() - mono0)
                ok = not kairos_sub_overflows(received, sent, &diff)
                if kairos_add_overflows(received, self.max_future_ns, &limit):
                    limit = INT64_MAX  # past the largest stamp: nothing is ahead
            if ok:  # the screen: every row in range and not stamped ahead of mesh time
                tp = <const unsigned char *>z.data(&parts[2])
                vp = <const unsigned char *>z.data(&parts[3])
                c0, c1 = columns[slot, 0], columns[slot, 1]
                c2, c3 = columns[slot, 2], columns[slot, 3]
                for r in range(rows):
                    coherence = _le_double(vp + (r * width + c0) * 8)
                    phase = _le_double(vp + (r * width + c1) * 8)
                    resonance = _le_double(vp + (r * width + c2) * 8) if c2 >= 0 else 0.0
                    t = _le_int64(tp + r * 8)
                    if not (
                        coherence >= 0.0 and coherence <= 1.0 and fabs(phase) <= PI
                        and resonance >= 0.0 and resonance <= 1.0 and t <= limit
                    ):
                        ok = False
                        break
            if ok:
                first_t = _le_int64(tp)
                last_t = _le_int64(tp + (rows - 1) * 8)
                r = rows - 1
                i = self.taken
                self.node[i] = node_of[slot]
                self.time[i] = last_t
                self.values[i, 0] = _le_double(vp + (r * width + c0) * 8)
                self.values[i, 1] = _le_double(vp + (r * width + c1) * 8)
                self.values[i, 2] = _le_double(vp + (r * width + c2) * 8) if c2 >= 0 else 0.0
                self.values[i, 3] = _le_double(vp + (r * width + c3) * 8) if c3 >= 0 else 0.0
                self.heard[i] = received
                self.latency[i] = <double>diff / 1e6
                self.taken = i + 1
                name = names[slot]
                track = self.tracks.get(name)
                if track is None:
                    track = self.tracks[name] = self.track_type()
                track.advance(epoch, seq, first_t, last_t)
                self.record(name, track)
            else:
                if frames is None:
                    frames = _frames(z, parts, count)
                slow.append(frames)
                if slot >= 0:  # the stream's later messages follow it, in order
                    hold[slot] = 1
            for i in range(count):
                z.close(&parts[i])
        return read


cdef inline Py_ssize_t _put_double(unsigned char *o, double v) noexcept nogil:
    cdef unsigned char raw[8]
    cdef int k
    memcpy(raw, &v, 8)
    o[0] = 0xcb
    for k in range(8):
        o[1 + k] = raw[7 - k]  # msgpack is big-endian; the host little-endian (_rows checks)
    return 9


cdef inline Py_ssize_t _put_int(unsigned char *o, int64_t v) noexcept nogil:
    """``v`` as msgpack-python packs a Python int: the smallest encoding."""
    cdef uint64_t u = <uint64_t>v
    cdef int need, k
    cdef unsigned char tag
    if v >= 0:
        if v < 128:
            o[0] = <unsigned char>v
            return 1
        if v < 256:
            tag, need = 0xcc, 1
        elif v < 65536:
            tag, need = 0xcd, 2
        elif v < 4294967296LL:
            tag, need = 0xce, 4
        else:
            tag, need = 0xcf, 8
    else:
        if v >= -32:
            o[0] = <unsigned char>(v & 0xff)
            return 1
        if v >= -128:
            tag, need = 0xd0, 1
        elif v >= -32768:
            tag, need = 0xd1, 2
        elif v >= -2147483648LL:
            tag, need = 0xd2, 4
        else:
            tag, need = 0xd3, 8
    o[0] = tag
    for k in range(need):
        o[1 + k] = <unsigned char>((u >> (8 * (need - 1 - k))) & 0xff)
    return 1 + need


cdef inline Py_ssize_t _put(unsigned char *o, bytes part) noexcept:
    cdef Py_ssize_t n = PyBytes_GET_SIZE(part)
    memcpy(o, PyBytes_AS_STRING(part), n)
    return n


def pack_nodes(list prefixes, tuple keys, const double[::1] coherence, const double[::1] phase,
               const double[::1] resonance, const unsigned char[::1] collapsed,
               const double[::1] weight, const double[::1] delta_p,
               const unsigned char[::1] stale, const int64_t[::1] last_t):
    """The msgpack map {name: node} of every node, in order (see _rows.pack_nodes)."""
    cdef Py_ssize_t n = len(prefixes), i, size = 5, o = 0
    cdef bytes k_coh, k_phase, k_res, k_col, k_weight, k_delta, k_stale, k_last
    k_coh, k_phase, k_res, k_col, k_weight, k_delta, k_stale, k_last = keys
    cdef Py_ssize_t fixed = (
        len(k_coh) + len(k_phase) + len(k_res) + len(k_col) + len(k_weight) + len(k_delta)
        + len(k_stale) + len(k_last) + 5 * 9 + 2 + 9
    )
    for arr_len in (phase.shape[0], resonance.shape[0], collapsed.shape[0], weight.shape[0],
                    delta_p.shape[0], stale.shape[0], last_t.shape[0], coherence.shape[0]):
        if arr_len != n:
            raise ValueError(f"{n} node prefixes for arrays of {arr_len}")
    for i in range(n):
        size += PyBytes_GET_SIZE(<bytes>prefixes[i]) + fixed
    out = PyBytes_FromStringAndSize(NULL, size)
    cdef unsigned char *p = <unsigned char *>PyBytes_AS_STRING(out)
    if n < 16:
        p[0] = 0x80 | <unsigned char>n
        o = 1
    elif n < 65536:
        p[0], p[1], p[2] = 0xde, (n >> 8) & 0xff, n & 0xff
        o = 3
    else:
        p[0], p[1], p[2], p[3], p[4] = 0xdf, (n >> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff
        o = 5
    for i in range(n):
        o += _put(p + o, <bytes>prefixes[i])
        o += _put(p + o, k_coh)
        o += _put_double(p + o, coherence[i])
        o += _put(p + o, k_phase)
        o += _put_double(p + o, phase[i])
        o += _put(p + o, k_res)
        o += _put_double(p + o, resonance[i])
        o += _put(p + o, k_col)
        p[o] = 0xc3 if collapsed[i] else 0xc2
        o += 1
        o += _put(p + o, k_weight)
        o += _put_double(p + o, weight[i])
        o += _put(p + o, k_delta)
        if stale[i]:
            p[o] = 0xc0  # a stale node took no part in the tick: delta_p is None
            o += 1
        else:
            o += _put_double(p + o, delta_p[i])
        o += _put(p + o, k_stale)
        p[o] = 0xc3 if stale[i] else 0xc2
        o += 1
        o += _put(p + o, k_last)
        o += _put_int(p + o, last_t[i])
    return out[:o]
