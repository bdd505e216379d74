"""Type stubs of the compiled drain (``_drain.pyx``); kairos.actors._rows says what it does."""

from typing import Any

import numpy as np
import numpy.typing as npt

class Libzmq:
    def __init__(
        self, init: int, recv: int, close: int, data: int, size: int, more: int
    ) -> None: ...

def drain(
    z: Libzmq,
    socket: int,
    max_messages: int,
    sink: Any,
    tracks: dict[str, Any],
    track_type: type,
    record: Any,
    now_ns: int,
    limit_ns: int,
    out_node: npt.NDArray[np.int64],
    out_time: npt.NDArray[np.int64],
    out_values: npt.NDArray[np.float64],
    out_latency: npt.NDArray[np.float64],
) -> tuple[int, int, list[list[bytes]]]: ...
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
