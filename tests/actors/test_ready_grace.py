"""When a publisher may send its first message (kairos.actors._ready.first_send_at)."""

from __future__ import annotations

from kairos.actors._ready import ANNOUNCE_SETTLE_S, WATCHER_GRACE_S, first_send_at


def test_prompt_consumers_wait_out_the_watchers_grace_from_the_bind() -> None:
    assert first_send_at(10.0, 10.05) == 10.0 + WATCHER_GRACE_S


def test_late_consumers_are_followed_only_by_the_settle() -> None:
    # consumers that came 2 s after the bind: every dialling watcher is long connected
    assert first_send_at(10.0, 12.0) == 12.0 + ANNOUNCE_SETTLE_S


def test_the_settle_covers_a_relays_burst_even_at_the_grace_edge() -> None:
    # the last announcement just before the grace ends: its stream topics still get 50 ms
    at = 10.0 + WATCHER_GRACE_S - 0.01
    assert first_send_at(10.0, at) == at + ANNOUNCE_SETTLE_S
