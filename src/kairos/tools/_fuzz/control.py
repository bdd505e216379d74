"""Fuzz target ``control``: the control protocol's decoders on both ends.

The first byte picks the side, the rest is the frame.  Even: the agent's path
(:meth:`Request.decode`, then the request's digest for the replay cache and the reply the
agent would send); only :class:`RequestError` may escape ``Request.decode``, since that is
all the agent catches, and nothing may escape after it.  Odd: the client's
:meth:`Reply.decode`, which may raise only :class:`ProtocolError`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from kairos.actors.spec import ActorProcessSpec
from kairos.control.commands import (
    Clock,
    ClockSet,
    Health,
    Heartbeat,
    Hello,
    Logs,
    Spawn,
    Status,
    Stop,
)
from kairos.control.protocol import (
    BAD_REQUEST,
    OK,
    ProtocolError,
    Reply,
    Request,
    RequestError,
)
from kairos.tools._fuzz._mutate import mutate_msgpack
from kairos.tools._fuzz._target import ContractViolation, Target, stateless

REQUEST = 0
REPLY = 1


def run(data: bytes) -> None:
    if not data:
        return
    frame = data[1:]
    if data[0] & 1 == REQUEST:
        _agent_side(frame)
    else:
        Reply.decode(frame)


def _agent_side(frame: bytes) -> None:
    """What kairos.agent.daemon does with one received request frame."""
    try:
        request = Request.decode(frame)
    except RequestError as exc:
        Reply.failure(exc.request_id, exc.code, str(exc)).encode()
        raise
    except ProtocolError as exc:
        raise ContractViolation(
            f"Request.decode raised {type(exc).__name__}, which the agent does not catch: {exc}"
        ) from exc
    try:
        request.digest()
        Reply.failure(request.id, BAD_REQUEST, "fuzz").encode()
    except Exception as exc:
        raise ContractViolation(
            f"a decoded request broke the agent after decoding: {type(exc).__name__}: {exc}"
        ) from exc


def _with_args(request: Request, **extra: Any) -> Request:
    """``request`` with its args changed: the odd seeds start from a well-formed request, so
    its command name and argument keys stay the command's own (kairos.control.commands)."""
    return replace(request, args={**request.args, **extra})


def seeds() -> list[bytes]:
    spec = ActorProcessSpec(
        name="osc",
        role="sensor",
        device="fuzz",
        device_class="pi-4",
        bind="tcp://127.0.0.1:7800",
        adapter="oscillator",
        rate_hz=100.0,
    )
    hello = Hello().request(10**18)
    heartbeat = Heartbeat().request(2**63 - 1)
    spawn = Spawn(spec).request(123)
    clock = Clock(t1=1).request(0)
    well_formed = [
        hello,
        Status().request(1, "a" * 64),
        heartbeat,
        spawn,
        Stop(("osc",)).request(7),
        Stop().request(7),
        Health().request(9),
        Logs("osc", lines=3).request(9),
        clock,
        ClockSet(offset_ns=-5, skew_ppm=1.5, uncertainty_ns=10, anchor_ns=3).request(9),
    ]
    odd = [
        # a newer client's extra arguments, which an agent must take in its stride
        _with_args(hello, launcher="fuzz"),
        _with_args(heartbeat, t_ns=5),
        # the spec as a JSON string instead of a map, with an argument no agent knows
        _with_args(spawn, spec=json.dumps(spawn.args["spec"]), restart=True),
        # nested containers and every msgpack scalar beside the echoed t1
        _with_args(clock, nested={"a": [1, 2.5, None, b"x"]}),
    ]
    requests = well_formed + odd
    replies = [
        Reply.success("id1", {"now_ns": 12345, "actors": {"osc": {"pid": 42}}}),
        Reply.failure("id2", BAD_REQUEST, "request is not msgpack"),
        Reply(id="", code=OK),
    ]
    out = [bytes([REQUEST]) + r.encode() for r in requests]
    out += [bytes([REPLY]) + r.encode() for r in replies]
    out += [bytes([REQUEST]) + r.encode() for r in replies]  # a reply sent to the agent
    out += [bytes([REPLY]) + requests[0].encode()]  # a request sent to a client
    return out


def mutate_frame(data: bytes, rng: random.Random, pool: Sequence[bytes]) -> bytes:
    """msgpack-aware mutation of the frame, keeping the side byte."""
    if not data:
        return bytes([rng.randrange(2)])
    return data[:1] + mutate_msgpack(data[1:], rng, pool)


TARGET = Target(
    name="control",
    description="control requests (agent side) and replies (client side)",
    expected=ProtocolError,
    seeds=seeds,
    session=lambda: stateless(run),
    mutators=(mutate_frame,),
)
