"""The publisher's side of the ready handshake: which of its consumers are subscribed now.

A topology consumer announces itself to a publisher by subscribing to
``kairos.wire.CONSUMER_MARK + its name`` (docs/wire.md, "Ready handshake").  The publisher's
XPUB reads each subscription as ``b"\\x01" + topic`` and each unsubscription as
``b"\\x00" + topic``.  libzmq keeps, per topic, the set of connections holding it: with
``XPUB_VERBOSE`` it reports every subscription, but an unsubscription only when the *last*
connection holding that topic cancels it or goes away (measured with libzmq 4.3.5).

So for a name the events mean "some live connection announces it" and "none does any more",
and the only exact count is of *names*: counting +1 and −1 per event counted a name announced
by two connections twice for good (two subscriptions, one unsubscription).  Only the names
the topology gives the publisher are counted; any other announcement is ignored, so a flood
of made-up names cannot inflate the count or release a publisher early.  Each one ignored is
dropped through the publisher's DropLog as ``unknown_consumers`` (counted in the witness,
the first logged at once, then a summary at most every 10 s).

What it cannot do against a peer that lies (docs/wire.md): an announcement proves nothing
about who sent it, so a peer announcing a real consumer's name before it arrives releases the
publisher early; and libzmq also reports a cancel sent by a connection that never held the
topic, so a raw ZMTP peer can make a present consumer look gone (the count drops until that
consumer reconnects).  ``mesh.encrypt`` admits only holders of the mesh key.
"""

from __future__ import annotations

from collections.abc import Iterable

from kairos.drops import DropLog, Reason
from kairos.wire import CONSUMER_MARK

_SUBSCRIBE = 1
_UNSUBSCRIBE = 0

#: how long a publisher's socket is open before its first message goes out, at least: three
#: of ZeroMQ's 100 ms redial intervals, so a watcher that was already dialling (a recorder
#: started before the launch, or one connected to a publisher that has just restarted) is
#: connected for the first message too (docs/wire.md, "Ready handshake")
WATCHER_GRACE_S = 0.3
#: after the last expected consumer announced itself, for the subscriptions that come right
#: behind it: through a relay a consumer's announcement arrives just *before* its stream
#: topics, in one burst the relay replays (on a direct link they come before it)
ANNOUNCE_SETTLE_S = 0.05


def first_send_at(opened_at: float, complete_at: float) -> float:
    """When (``time.monotonic``) a publisher whose socket opened at ``opened_at`` and whose
    consumers were all in at ``complete_at`` may send its first message.

    The watchers' grace counts from the socket's opening, not from the last consumer: a
    watcher that redials every 100 ms connects within that time of the bind whenever the
    consumers come.  Counted from the last consumer instead, the grace sat on the launch's
    critical path once per stage (a sensor waits for its engine, the engine for its sync):
    the demo's streams started 0.2-0.3 s later (docs/performance.md)."""
    return max(opened_at + WATCHER_GRACE_S, complete_at + ANNOUNCE_SETTLE_S)


class Consumers:
    """The consumers named in ``expected`` that are subscribed now, from XPUB events."""

    def __init__(
        self, expected: Iterable[str], drops: DropLog | None = None, stream: str = ""
    ) -> None:
        self.expected = frozenset(expected)
        self._present: set[str] = set()
        #: where an announcement of a name not in ``expected`` is dropped (None: silently)
        self._drops = drops
        self._stream = stream

    def take(self, event: bytes) -> None:
        """Apply one event read from the XPUB (anything but an announcement is ignored)."""
        if len(event) < 1 or event[0] not in (_SUBSCRIBE, _UNSUBSCRIBE):
            return
        topic = event[1:]
        if not topic.startswith(CONSUMER_MARK):
            return
        name = topic[len(CONSUMER_MARK) :].decode("utf-8", errors="replace")
        if name not in self.expected:
            if event[0] == _SUBSCRIBE and self._drops is not None:
                self._drops.drop(
                    self._stream,
                    Reason.UNKNOWN_CONSUMER,
                    consumer=name[:200],
                    expected=sorted(self.expected),
                )
            return
        if event[0] == _SUBSCRIBE:
            self._present.add(name)
        else:
            self._present.discard(name)

    @property
    def count(self) -> int:
        """How many of the expected consumers are subscribed (the witness ``subscribers``)."""
        return len(self._present)

    @property
    def complete(self) -> bool:
        return self._present >= self.expected

    def missing(self) -> list[str]:
        return sorted(self.expected - self._present)
