"""Type stubs of the compiled drain (``_drain.pyx``); kairos.actors._rows says what it does."""

from typing import Any

import numpy as np
import numpy.typing as npt

class Libzmq:
    def __init__(
        self, init: int, recv: int, close: int, data: int, size: int, more: int, poll: int
    ) -> None: ...

class Reader:
    taken: int
    def __init__(
        self,
        z: Libzmq,
        sink: Any,
        tracks: dict[str, Any],
        track_type: type,
        record: Any,
        node: npt.NDArray[np.int64],
        time: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        heard: npt.NDArray[np.int64],
        latency: npt.NDArray[np.float64],
        batch: int,
        max_future_ns: int,
    ) -> None: ...
    def clear(self) -> None: ...
    def drain(self, socket: int, now_ns: int) -> tuple[int, list[list[bytes]]]: ...
    def serve(
        self, sockets: list[int], wake_fd: int, deadline_mono_ns: int, now_ns: int
    ) -> tuple[int, list[list[bytes]]]: ...

def pack_nodes(
    prefixes: list[bytes],
    keys: tuple[bytes, ...],
    coherence: npt.NDArray[np.float64],
    phase: npt.NDArray[np.float64],
    resonance: npt.NDArray[np.float64],
    collapsed: npt.NDArray[np.uint8],
    weight: npt.NDArray[np.float64],
    delta_p: npt.NDArray[np.float64],
    stale: npt.NDArray[np.uint8],
    last_t: npt.NDArray[np.int64],
) -> bytes: ...
