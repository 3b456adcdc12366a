"""The symmetric NTK path of empirical_ntk (network.symmetric_ntk): tangent features in row blocks and the
Hadamard-and-mirror pass in column panels, on a thread pool of the call's own.

Checked against an independent formula (numpy's P @ P.T of the whole tangent features, times the explicit
Kronecker product (XXᵀ) ⊗ 11ᵀ, times κ²/m) to 1e-13 normwise relative — the rounding of a dsyrk against
numpy's product, both O(ε·m) at most for these sizes — and bit-identical for any thread count (the
blocks depend on the sizes only).  The block sizes are shrunk so that small sizes have many blocks with
ragged ends."""
from __future__ import annotations

import contextlib
import threading

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import ntkcheck as nk
from ntkcheck.core import network as net

TOL = 1e-13      # normwise relative, against the independent formula


def reference(p, X, kappa):
    """(κ²/m) (P Pᵀ) ∘ ((X Xᵀ) ⊗ 11ᵀ) with numpy's general product and an explicit Kronecker product."""
    P = nk.tangent_features(p, X)
    G = np.kron(X @ X.T, np.ones((p.d_out, p.d_out)))
    return (kappa * kappa / p.m) * (P @ P.T) * G


def rel(a, b) -> float:
    scale = np.max(np.abs(b))
    return float(np.max(np.abs(a - b)) / scale) if scale > 0 else float(np.max(np.abs(a)))


@contextlib.contextmanager
def blocks(feature_elems, mirror, gram_bytes, parallel_min=0, blas_small=1 << 17):
    """The module's block sizes set for the duration (restored after)."""
    names = ("FEATURE_BLOCK_ELEMS", "MIRROR_BLOCK", "GRAM_BLOCK_BYTES", "PARALLEL_MIN", "BLAS_SMALL")
    old = [getattr(net, k) for k in names]
    for k, v in zip(names, (feature_elems, mirror, gram_bytes, parallel_min, blas_small)):
        setattr(net, k, v)
    try:
        yield
    finally:
        for k, v in zip(names, old):
            setattr(net, k, v)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 23), d=st.integers(1, 5), q=st.integers(1, 4), m=st.integers(1, 70),
       act=st.sampled_from(["softmax", "exp", "relu", "tanh"]), seed=st.integers(0, 2**16),
       rows=st.integers(1, 8), mirror=st.integers(1, 40), gram_rows=st.integers(1, 9),
       small=st.integers(1, 200))
def test_symmetric_path_matches_formula_and_ignores_thread_count(n, d, q, m, act, seed, rows, mirror, gram_rows,
                                                                 small):
    p = nk.init_params(d, m, q, sigma=1.0, seed=seed, activation=act)
    X = nk.sphere(n, d, seed=seed + 1) if d > 1 else np.linspace(-1, 1, n)[:, None]
    kappa = float(m)
    # row blocks of `rows` samples; Z = X W of a block in column chunks of about small / (rows·d) columns
    with blocks(rows * q * m, mirror, 8 * gram_rows, blas_small=small):
        H1 = nk.empirical_ntk(p, X, threads=1)
        H2 = nk.empirical_ntk(p, X, threads=2)
        H3 = nk.empirical_ntk(p, X, threads=3)
    np.testing.assert_array_equal(H1, H2)
    np.testing.assert_array_equal(H1, H3)
    np.testing.assert_array_equal(H1, H1.T)
    assert H1.flags.c_contiguous
    assert rel(H1, reference(p, X, kappa)) <= TOL


def test_feature_blocks_form_z_in_products_that_stay_single_threaded(monkeypatch):
    """Inside the pool, each block's Z = X[block] W is formed in gemm products of at most BLAS_SMALL
    multiply-adds and at least 2 columns (OpenBLAS starts its threads above 2^18, and for gemv far
    below that): no product of the features' phase wakes BLAS threads whose idle spin would take a
    core from the pool.  The whole Z of those products is the one of X W."""
    n, d, q, m = 64, 32, 8, 4096
    p = nk.init_params(d, m, q, seed=3)
    X = nk.sphere(n, d, seed=4)
    sizes, orig = [], np.matmul

    def recording(a, b, *args, **kw):
        sizes.append((a.shape, b.shape))
        return orig(a, b, *args, **kw)

    with monkeypatch.context() as patch:
        patch.setattr(net.np, "matmul", recording)
        H = nk.empirical_ntk(p, X, threads=2)
    assert sizes, "the features' Z was not formed by np.matmul in blocks"
    cols = 0
    for (r, k), (k2, c) in sizes:
        assert k == k2 == d and r * k * c <= net.BLAS_SMALL and c >= 2 and r >= 1, (r, k, c)
        cols += r * c
    assert cols == n * m, "the blocks' products do not cover Z = X W exactly once"
    assert rel(H, reference(p, X, float(m))) <= TOL


@pytest.mark.parametrize("n, q, m", [(64, 8, 4096), (301, 3, 1181), (1100, 1, 1000)])
def test_default_blocks_at_sizes_with_many_blocks(n, q, m):
    """The module's own block sizes (m not a multiple of anything, n·q not a multiple of MIRROR_BLOCK):
    the pool runs (n·q·m ≥ PARALLEL_MIN), the result is the formula's and the one-thread one."""
    p = nk.init_params(5, m, q, seed=n)
    X = nk.sphere(n, 5, seed=n + 1)
    assert n * q * m >= net.PARALLEL_MIN
    H = nk.empirical_ntk(p, X, threads=2)
    np.testing.assert_array_equal(H, nk.empirical_ntk(p, X, threads=1))
    np.testing.assert_array_equal(H, H.T)
    assert rel(H, reference(p, X, float(m))) <= TOL


def test_huge_kappa_takes_the_split_scaling():
    """κ/√m = 1e155: c² overflows, so c is applied twice (c·(PPᵀ ∘ cG)); H (≈ 1e305 here: the softmax's
    P is O(1/m)) stays finite and equals the formula computed in the same split order."""
    n, q, m = 9, 2, 20000
    p = nk.init_params(3, m, q, seed=3)
    X = nk.sphere(n, 3, seed=4)
    c = 1e155
    kappa = c * np.sqrt(m)
    with blocks(3 * q * m, 4, 16, 0):
        H = nk.empirical_ntk(p, X, kappa=kappa, threads=2)
    P = nk.tangent_features(p, X)
    ref = c * ((P @ P.T) * (c * np.kron(X @ X.T, np.ones((q, q)))))
    assert np.all(np.isfinite(H))
    assert rel(H, ref) <= TOL


def test_no_thread_outlives_the_call():
    p = nk.init_params(4, 2048, 4, seed=0)
    X = nk.sphere(160, 4, seed=1)
    nk.empirical_ntk(p, X, threads=2)
    assert not [t for t in threading.enumerate() if t.name.startswith("ntkcheck-ntk")]


def test_threads_argument_is_checked():
    p = nk.init_params(2, 4, 1, seed=0)
    with pytest.raises(ValueError, match="threads"):
        nk.empirical_ntk(p, np.eye(2), threads=0)


def test_default_threads_follow_the_blas_limit():
    """A threadpoolctl limit (what a sweep's workers set) or OPENBLAS_NUM_THREADS = 1 means one thread."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        assert net.default_threads() == 1
    assert 1 <= net.default_threads()
