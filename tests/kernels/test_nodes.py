"""The sync's per-node kernels: nodes_take folds each message's row into the node arrays as
the sync's per-message code did (the rule, checked on each backend), and both backends agree
bit for bit (random batches with repeated nodes, never-heard nodes, long silences)."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

from kairos.kernels import KernelError

NOW = 1_735_689_600_000_000_000
MIN_STALE_NS = 300_000_000


def _arrays(nodes: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    heard = rng.integers(0, 2, nodes).astype(np.uint8)
    return {
        "coherence": rng.uniform(0, 1, nodes),
        "phase": rng.uniform(-np.pi, np.pi, nodes),
        "resonance": rng.uniform(0, 1, nodes),
        "collapsed": rng.integers(0, 2, nodes).astype(np.uint8),
        "last_t": rng.integers(0, NOW, nodes),
        "heard": heard,
        "last_heard": np.where(heard, NOW - rng.integers(0, 5_000_000_000, nodes), 0),
        "period": np.where(rng.uniform(size=nodes) < 0.3, 0.0, rng.uniform(1e6, 2e9, nodes)),
    }


def _batch(nodes: int, messages: int, rng: np.random.Generator):
    node = rng.integers(0, nodes, messages)  # repeats: one node's several messages in a batch
    times = NOW - rng.integers(0, 10**9, messages)
    values = rng.uniform(-1, 1, (messages, 4))
    values[rng.uniform(size=messages) < 0.1, 3] = np.nan  # a NaN collapsed flag counts as set
    return node, times, values


def _python_take(arrays, node, times, values, now_ns) -> None:
    """The sync's former per-message code (_Node.hear and the row it took), row by row."""
    for k, t, row in zip(node.tolist(), times.tolist(), values.tolist(), strict=True):
        arrays["coherence"][k], arrays["phase"][k], arrays["resonance"][k] = row[:3]
        arrays["collapsed"][k] = bool(row[3])
        arrays["last_t"][k] = t
        if arrays["heard"][k]:
            interval = now_ns - int(arrays["last_heard"][k])
            period = float(arrays["period"][k])
            arrays["period"][k] = interval if period == 0 else 0.8 * period + 0.2 * interval
        arrays["heard"][k] = 1
        arrays["last_heard"][k] = now_ns


def _python_stale(arrays, now_ns: int) -> np.ndarray:
    return np.array(
        [
            not heard or now_ns - int(last) > max(MIN_STALE_NS, 3 * float(period))
            for heard, last, period in zip(
                arrays["heard"], arrays["last_heard"], arrays["period"], strict=True
            )
        ],
        dtype=np.uint8,
    )


@pytest.mark.parametrize("seed", range(5))
def test_nodes_take_and_stale_follow_the_per_message_rule(kernels: ModuleType, seed: int) -> None:
    rng = np.random.default_rng(seed)
    arrays = _arrays(50, rng)
    expected = {name: array.copy() for name, array in arrays.items()}
    for step in range(3):  # successive batches: each one's hearing smooths the periods
        now = NOW + step * 100_000_000
        node, times, values = _batch(50, 80, rng)
        kernels.nodes_take(node, times, values, now, *arrays.values())
        _python_take(expected, node, times, values, now)
        for name in arrays:
            np.testing.assert_array_equal(arrays[name], expected[name], err_msg=name)
        stale = kernels.nodes_stale(
            arrays["heard"], arrays["last_heard"], arrays["period"], now + 400_000_000,
            MIN_STALE_NS, 3.0,
        )  # fmt: skip
        np.testing.assert_array_equal(stale, _python_stale(arrays, now + 400_000_000))


@pytest.mark.parametrize("seed", range(10))
def test_backends_agree_bit_for_bit(compiled: ModuleType, reference: ModuleType, seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    nodes = int(rng.integers(1, 300))
    left = _arrays(nodes, rng)
    right = {name: array.copy() for name, array in left.items()}
    node, times, values = _batch(nodes, int(rng.integers(0, 500)), rng)
    now = NOW + int(rng.integers(0, 10**10))
    compiled.nodes_take(node, times, values, now, *left.values())
    reference.nodes_take(node, times, values, now, *right.values())
    for name in left:
        assert left[name].tobytes() == right[name].tobytes(), name
    later = now + int(rng.integers(0, 10**10))
    args = (left["heard"], left["last_heard"], left["period"], later, MIN_STALE_NS, 3.0)
    assert compiled.nodes_stale(*args).tobytes() == reference.nodes_stale(*args).tobytes()


def test_bad_input_is_refused(kernels: ModuleType) -> None:
    arrays = _arrays(4, np.random.default_rng(0))
    with pytest.raises(KernelError, match="node index 4"):
        kernels.nodes_take([4], [NOW], np.zeros((1, 4)), NOW, *arrays.values())
    with pytest.raises(KernelError, match="4 columns"):
        kernels.nodes_take([0], [NOW], np.zeros((1, 3)), NOW, *arrays.values())
    with pytest.raises(KernelError, match="differ in length"):
        kernels.nodes_take([0, 1], [NOW], np.zeros((2, 4)), NOW, *arrays.values())


@pytest.mark.parametrize("seed", range(5))
def test_each_message_heard_at_its_own_time(kernels: ModuleType, seed: int) -> None:
    """``heard_ns`` (the compiled drain's per-message times) is the rule message by message:
    folding a batch with it equals folding each message alone at its time."""
    rng = np.random.default_rng(200 + seed)
    arrays = _arrays(40, rng)
    expected = {name: array.copy() for name, array in arrays.items()}
    node, times, values = _batch(40, 120, rng)
    heard = NOW + np.sort(rng.integers(0, 100_000_000, len(node)))
    kernels.nodes_take(node, times, values, 0, *arrays.values(), heard_ns=heard)
    for i in range(len(node)):
        _python_take(expected, node[i : i + 1], times[i : i + 1], values[i : i + 1], int(heard[i]))
    for name in arrays:
        np.testing.assert_array_equal(arrays[name], expected[name], err_msg=name)
    with pytest.raises(KernelError):
        kernels.nodes_take(node, times, values, 0, *arrays.values(), heard_ns=heard[:-1])
