"""What every control command is: a typed request that builds itself, runs on an agent, and
a typed result that parses the reply.

A command is a frozen dataclass holding its arguments (Circus's pattern: one class per
command, whose docstring is its part of the protocol).  The client side builds it and turns
it into a :class:`~kairos.control.protocol.Request` with :meth:`Command.request`; the agent
side rebuilds it from the request's ``args`` with :meth:`Command.from_args` (refusing bad
arguments with ``bad-request``) and calls :meth:`Command.execute`, whose :class:`Result` is
the reply's ``result``; the client parses that back with :meth:`Command.parse_result`.  The
command's name and its argument and result keys are therefore spelled once, in its module.

A command runs inside the agent's single-threaded loop, so ``execute`` must be quick and
bounded.  It reaches the agent only through :class:`AgentServices`, which keeps the control
package free of the daemon's internals (and lets tests drive a command without sockets).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from kairos.control.protocol import BAD_REQUEST, Request, RequestError, new_id
from kairos.errors import ProtocolError

T = TypeVar("T")
R = TypeVar("R", bound="Result")
C = TypeVar("C", bound="Command[Any]")
_MISSING: Any = object()


class AgentServices(Protocol):
    """The agent as a command sees it."""

    device: str
    device_class: str
    state_dir: Path

    def local_ns(self) -> int:
        """The device's local clock (kairos.meshtime)."""

    def mesh_ns(self) -> int:
        """The device's mesh time (local clock plus the agent's correction)."""

    @property
    def supervisor(self) -> Any: ...

    @property
    def health(self) -> Any: ...

    @property
    def clock(self) -> Any: ...

    def counters(self) -> dict[str, int]:
        """How many requests were served, refused and malformed, by code."""


class Result(ABC):
    """A command's reply ``result``: encoded by the agent, parsed (never trusted) by a client."""

    @abstractmethod
    def to_map(self) -> dict[str, Any]:
        """The result as the reply's msgpack map."""

    @classmethod
    @abstractmethod
    def from_map(cls: type[T], raw: Mapping[str, Any]) -> T:
        """Parse a reply's result; ProtocolError naming the key that is missing or wrong."""


class Command(ABC, Generic[R]):
    """One control command; the class docstring documents its request and reply frames."""

    #: the ``cmd`` field of requests for this command
    name: ClassVar[str]
    #: its result type (what :meth:`parse_result` returns)
    result_type: ClassVar[type[Result]]
    #: logged by the agent on every execution; False for the frequent liveness and clock
    #: requests (two heartbeats a second and an 8-probe burst every 2 s, every 0.25 s while
    #: a device's clock estimator is young, would drown the log)
    logged: ClassVar[bool] = True

    def args(self) -> dict[str, Any]:
        """The request's ``args`` map (none by default)."""
        return {}

    @classmethod
    def from_args(cls: type[C], args: Mapping[str, Any]) -> C:
        """The command as the agent received it; RequestError (bad-request) for bad args.

        Commands without arguments ignore whatever a client sends (unknown keys are allowed
        by the protocol, so a newer client's extra arguments do not break an older agent).
        """
        return cls()

    @abstractmethod
    def execute(self, agent: AgentServices, received_ns: int) -> R:
        """Run on the agent; the reply's result.  ``received_ns``: local time of receipt."""

    def request(self, expires_ns: int, request_id: str | None = None) -> Request:
        """This command as one request valid until ``expires_ns`` on the agent's clock."""
        return Request(
            cmd=self.name, args=self.args(), expires_ns=expires_ns, id=request_id or new_id()
        )

    @classmethod
    def parse_result(cls, result: Mapping[str, Any]) -> R:
        """The typed result of a reply to this command (ProtocolError if malformed)."""
        try:
            return cls.result_type.from_map(result)  # type: ignore[return-value]
        except ProtocolError as exc:
            raise ProtocolError(f"{cls.name} reply: {exc}") from None


def arg(
    args: Mapping[str, Any],
    name: str,
    kind: type[T] | tuple[type, ...],
    default: Any = _MISSING,
) -> T:
    """Argument ``name`` of type ``kind``, or a bad-request error naming it."""
    if name not in args:
        if default is _MISSING:
            raise RequestError(BAD_REQUEST, f"argument {name!r} is required")
        return default  # type: ignore[no-any-return]
    value = args[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int in Python; never accept True where a number is meant
    if isinstance(value, bool) and bool not in kinds:
        raise RequestError(BAD_REQUEST, f"argument {name!r} must be {_names(kinds)}, not bool")
    if not isinstance(value, kinds):
        raise RequestError(
            BAD_REQUEST, f"argument {name!r} must be {_names(kinds)}, not {type(value).__name__}"
        )
    return value  # type: ignore[return-value]


def take(
    raw: Mapping[str, Any],
    name: str,
    kind: type[T] | tuple[type, ...],
    *,
    optional: bool = False,
) -> T:
    """Key ``name`` of a reply's result, of type ``kind`` (None allowed when ``optional``);
    ProtocolError naming it otherwise.  Ints are accepted where floats are meant (msgpack
    keeps ``3.0`` a float, but another client's agent may send ``3``)."""
    if name not in raw:
        if optional:
            return None  # type: ignore[return-value]
        raise ProtocolError(f"result key {name!r} is missing")
    value = raw[name]
    if value is None and optional:
        return None  # type: ignore[return-value]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds and type(value) is int:
        return float(value)  # type: ignore[return-value]
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise ProtocolError(
            f"result key {name!r} must be {_names(kinds)}, not {type(value).__name__}"
        )
    return value  # type: ignore[return-value]


def _names(kinds: tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in kinds)
