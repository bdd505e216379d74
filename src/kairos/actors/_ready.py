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
