"""What every control command is: a name, argument checks, and its execution on an agent.

A command runs inside the agent's single-threaded loop, so ``execute`` must be quick and
bounded.  It reaches the agent only through :class:`AgentServices`, which keeps the control
package free of the daemon's internals (and lets tests drive a command without sockets).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

from kairos.control.protocol import BAD_REQUEST, RequestError

T = TypeVar("T")
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


class Command(ABC):
    """One control command; the class docstring documents its request and reply frames."""

    #: the ``cmd`` field of requests for this command
    name: ClassVar[str]

    @abstractmethod
    def execute(self, agent: AgentServices, args: Mapping[str, Any], received_ns: int) -> dict:
        """Run on the agent; the reply's result.  ``received_ns``: local time of receipt."""


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
        return default
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


def _names(kinds: tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in kinds)
