"""What a fuzz target is: a decoder, the one typed error it may raise, its seeds.

``run`` feeds one input to the decoder and lets every exception out; the engines classify
it: an instance of ``expected`` is the decoder refusing bad input (fine), anything else is a
crash.  ``fuzz_one`` is the same check as one call, for tests and for other fuzzers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from kairos.tools._fuzz._mutate import Mutator

Run = Callable[[bytes], None]


class ContractViolation(AssertionError):
    """Raised by a target when a decoder broke its contract without raising (or by raising
    a typed error its caller does not catch); always counts as a crash."""


@dataclass(frozen=True)
class Target:
    """One fuzz target."""

    name: str
    description: str
    #: the only exception type allowed to escape ``run``
    expected: type[BaseException]
    #: builds the seed inputs (valid messages or files, and a few broken ones)
    seeds: Callable[[], list[bytes]]
    #: a context manager yielding the ``run`` function (targets may need a temp dir)
    session: Callable[[], contextlib.AbstractContextManager[Run]]
    #: format-aware mutations, used beside the generic byte mutations
    mutators: Sequence[Mutator] = field(default_factory=tuple)

    def fuzz_one(self, data: bytes) -> None:
        """Decode ``data``; return if it decodes or is refused with the typed error, raise
        anything else."""
        with self.session() as run:
            check(run, self.expected, data)


def check(run: Run, expected: type[BaseException], data: bytes) -> BaseException | None:
    """Run one input; return the typed error it was refused with (or None), raise the rest."""
    try:
        run(data)
    except expected as exc:
        if isinstance(exc, ContractViolation):
            raise
        return exc
    return None


@contextlib.contextmanager
def stateless(run: Run) -> Iterator[Run]:
    """The session of a target that needs no resources."""
    yield run
