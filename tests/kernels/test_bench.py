"""The kernel benchmark measures what it claims: its pure-Python loops compute the kernels,
and its rows have the agreed shape."""

from __future__ import annotations

import numpy as np

from kairos.tools.benchmarks import kernels as bench


def test_python_loops_compute_the_same_as_the_kernels(reference):
    t, z = bench._stream(3000, jitter=True)
    s, m, c = bench.python_integrate(t.tolist(), z.tolist(), 0.05)
    want = reference.integrate(t, z, 0.05)
    np.testing.assert_allclose(s, want[0], rtol=1e-9)
    np.testing.assert_allclose(m, want[1], rtol=1e-9)
    np.testing.assert_allclose(c, want[2], rtol=1e-9)
    tt, r = bench.python_resonance(t.tolist(), z.tolist(), 0.05, 0.0, 1)
    res = reference.resonance(t, z, 0.05, 0.0, 1)
    np.testing.assert_allclose(tt, res[0], rtol=1e-9)
    np.testing.assert_allclose(r, res[3], rtol=1e-9, atol=1e-12)
    rng = np.random.default_rng(3)
    args = (rng.uniform(size=50), rng.uniform(-3, 3, 50), rng.uniform(size=50))
    g, psi, gc, order, delta = bench.python_mesh(*(a.tolist() for a in args))
    want_mesh = reference.mesh(*args)
    np.testing.assert_allclose([g, psi, gc, order], want_mesh[:4], rtol=1e-12)
    np.testing.assert_allclose(delta, want_mesh[4], atol=1e-12)


def test_quick_run_reports_every_kernel_and_backend():
    lines: list[str] = []
    rows = bench.run(progress=lines.append, quick=True)
    assert lines
    for row in rows:
        assert {"kernel", "backend", "chunk", "samples_per_s"} <= row.keys()
        assert row["samples_per_s"] > 0
    seen = {(row["kernel"], row["backend"], row["chunk"]) for row in rows}
    for chunk in bench.QUICK_CHUNKS:
        for kernel in ("integrate", "resonance"):
            assert (kernel, "reference", chunk) in seen
    assert {("mesh", "reference", n) for n in bench.MESH_NODES} <= seen
    assert any(row["backend"] == "python" for row in rows)
