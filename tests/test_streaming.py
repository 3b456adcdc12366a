"""ntkcheck.core.streaming: the blockwise-streamed H(W(0)), Q, S₀, F equal the in-memory maps of the
materialized network, do not depend on the chunk size or the merge order, keep memory flat in m, and stay
accurate at large logit gaps (against the mpmath twin, which is computed from the definition).

Tolerances: 1e-12, normwise relative (‖ΔH‖_F/‖H‖_F), as everywhere in the suite for float64-vs-float64
comparisons of NTKs; the rounding error of either path is ≈ ε(m + nd' + d·max|z|) ≲ 1e-13 for the sizes here.
Against mpmath the error of each entry is measured against its Cauchy–Schwarz scale √(H_aa H_bb), the size
of the summed terms Σ_r |P_ar P_br|·|g_ij|, which is the natural scale of a rounding error in H_ab.
"""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntkcheck import bounds, network, precise, streaming

TOL = 1e-12


def unit_rows(n, d, seed):
    X = np.random.default_rng(seed).standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def nrel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def reference(p, X, kappa=None):
    """In-memory H, Q, S₀, F of the materialized network (network.py and bounds.py)."""
    k = float(p.m) if kappa is None else kappa
    S = network.ACTIVATIONS["softmax"].features(X @ p.W)[0]
    return (network.empirical_ntk(p, X, kappa=kappa), bounds.Q_from_features(S, X, p.m, k), float(S.max()),
            network.forward(p, X, kappa=kappa))


# (scheme, n, d, d', m, sigma, block): m not a multiple of block, one block, many blocks, large σ
CASES = [
    ("iid", 6, 3, 2, 1000, 1.0, 128),
    ("iid", 4, 5, 3, 257, 5.0, 64),
    ("iid", 3, 2, 1, 50, 20.0, 7),
    ("iid", 5, 4, 2, 300, 1.0, 4096),
    ("symmetric", 6, 3, 2, 1000, 1.0, 128),
    ("symmetric", 4, 5, 3, 258, 5.0, 64),
    ("symmetric", 3, 2, 2, 50, 20.0, 7),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("passes", [1, 2])
def test_equals_in_memory(case, passes):
    scheme, n, d, q, m, sigma, block = case
    X = unit_rows(n, d, m)
    p = streaming.materialize(d, m, q, sigma, scheme, seed=7, block=block)
    assert p.W.shape == (d, m) and p.A.shape == (q, m)
    H0, Q0, S00, F0 = reference(p, X)
    r = streaming.streamed_ntk(X, m, d_out=q, sigma=sigma, scheme=scheme, seed=7, block=block, chunk_blocks=2,
                               passes=passes)
    assert nrel(r.H, H0) <= TOL
    assert nrel(r.Q, Q0) <= TOL
    assert abs(r.S0 - S00) <= TOL * S00
    # |F| ≤ κ (|⟨a,S⟩| ≤ 1): the error of either path is relative to κ
    assert np.max(np.abs(r.F - F0)) <= TOL * m
    if scheme == "symmetric":
        assert np.all(r.F == 0.0)  # pairs cancel exactly: no rounding at all
    assert np.allclose(r.alpha * np.exp(r.M), np.exp(X @ p.W).sum(axis=1), rtol=1e-12)


@pytest.mark.parametrize("scheme", ["iid", "symmetric"])
def test_blocks_do_not_depend_on_m(scheme):
    """Block b is keyed by its index alone: the full blocks of a narrower network are those of a wider one."""
    small = streaming.materialize(3, 100, 2, 1.0, scheme, seed=9, block=16)
    big = streaming.materialize(3, 260, 2, 1.0, scheme, seed=9, block=16)
    h_s, h_b = (50, 130) if scheme == "symmetric" else (100, 260)
    full = 16 * (h_s // 16)
    assert np.array_equal(small.W[:, :full], big.W[:, :full])
    assert np.array_equal(small.A[:, :full], big.A[:, :full])
    if scheme == "symmetric":
        assert np.array_equal(big.W[:, h_b:], big.W[:, :h_b]) and np.array_equal(big.A[:, h_b:], -big.A[:, :h_b])
    assert streaming.n_blocks(260, scheme, 16) == -(-h_b // 16)


def test_kappa_and_seed():
    X = unit_rows(4, 3, 0)
    p = streaming.materialize(3, 200, 2, 1.0, "iid", seed=3, block=32)
    k = np.sqrt(200.0)
    for passes in (1, 2):
        r = streaming.streamed_ntk(X, 200, d_out=2, seed=3, block=32, kappa=k, passes=passes)
        assert nrel(r.H, network.empirical_ntk(p, X, kappa=k)) <= TOL
        assert nrel(r.F, network.forward(p, X, kappa=k)) <= TOL
    other = streaming.streamed_ntk(X, 200, d_out=2, seed=4, block=32)
    assert nrel(other.H, r.H * 200 / k**2) > 1e-3  # a different seed is a different network


@pytest.mark.parametrize("scheme", ["iid", "symmetric"])
@pytest.mark.parametrize("n,d,q,m,block,sigma", [(4, 2, 3, 24, 5, 20.0), (5, 3, 3, 30, 7, 25.0)])
def test_large_logit_gaps_against_mpmath(scheme, n, d, q, m, block, sigma):
    """σ = 20–25 on unit rows: logit gaps of 60–125, so the softmax mass sits on one neuron and the centred
    signs a − ⟨a,S⟩ of that neuron are tiny (a subtraction loses them: the in-memory float64 path of
    network.empirical_ntk is off by up to 4e-3 resp. 1e16 on this scale); the reference is the mpmath twin
    at logit range/ln 10 + 40 digits."""
    X = unit_rows(n, d, 11)
    p = streaming.materialize(d, m, q, sigma, scheme, seed=5, block=block)
    Z = X @ p.W
    gap = float(np.max(Z.max(axis=1) - Z.min(axis=1)))
    assert gap > 55  # the regime this test is for
    dps = int(gap / np.log(10)) + 40
    Hmp = precise.to_float(precise.empirical_ntk_mp(p, X, dps=dps))
    scale = np.sqrt(np.outer(np.diag(Hmp), np.diag(Hmp)))
    Fmp = precise.to_float(precise.forward_mp(p, X, dps=dps))
    for passes in (1, 2):
        r = streaming.streamed_ntk(X, m, d_out=q, sigma=sigma, scheme=scheme, seed=5, block=block,
                                   passes=passes)
        assert np.max(np.abs(r.H - Hmp) / scale) <= TOL, passes
        assert np.max(np.abs(r.F - Fmp)) <= TOL * m


def _tree_merge(states, rnd, merge=streaming.merge):
    """Merge a list of states in a random binary tree."""
    if len(states) == 1:
        return states[0]
    cut = rnd.randint(1, len(states) - 1)
    return merge(_tree_merge(states[:cut], rnd, merge), _tree_merge(states[cut:], rnd, merge))


M_ORDER, BLOCK_ORDER = 61, 8  # 8 blocks, the last one short


@settings(max_examples=25, deadline=None)
@given(scheme=st.sampled_from(["iid", "symmetric"]), chunk=st.integers(1, 9),
       perm=st.permutations(list(range(4))), rnd=st.randoms(use_true_random=False))
def test_chunk_size_and_merge_order(scheme, chunk, perm, rnd):
    m = M_ORDER if scheme == "iid" else 2 * M_ORDER
    X = unit_rows(4, 3, 1) * 3.0  # larger logits: the blocks' row maxima differ a lot
    kw = dict(d_out=2, sigma=2.0, scheme=scheme, seed=2, block=BLOCK_ORDER)
    base = streaming.streamed_ntk(X, m, chunk_blocks=1, passes=1, **kw)
    by_chunk = streaming.streamed_ntk(X, m, chunk_blocks=chunk, passes=1, **kw)
    assert nrel(by_chunk.H, base.H) <= TOL and nrel(by_chunk.Q, base.Q) <= TOL
    # four workers with random shares, their states merged in a random order and tree
    nb = streaming.n_blocks(m, scheme, BLOCK_ORDER)
    order = list(range(nb))
    rnd.shuffle(order)
    cuts = sorted(rnd.sample(range(1, nb), 3))
    shares = [order[a:b] for a, b in zip([0] + cuts, cuts + [nb])]
    states = [streaming.partial(X, shares[i], m, **kw) for i in perm]
    res = streaming.finish(_tree_merge(states, rnd))
    for name in ("H", "Q", "alpha", "F"):
        a, b = getattr(res, name), getattr(base, name)
        if name == "F" and scheme == "symmetric":
            assert np.all(a == 0)
        else:
            assert nrel(a, b) <= TOL, name
    assert abs(res.S0 - base.S0) <= TOL * base.S0
    if scheme == "iid":
        two = streaming.streamed_ntk(X, m, chunk_blocks=chunk, passes=2, **kw)
        assert nrel(two.H, base.H) <= TOL
        # the distributed two-pass route: pass-1 states and pass-2 states merged in random trees
        kw2 = {k: v for k, v in kw.items() if k != "scheme"}
        st1 = _tree_merge([streaming.stats(X, shares[i], m, **kw2) for i in perm], rnd, streaming.merge_stats)
        g = _tree_merge([streaming.gram(st1, shares[i]) for i in perm], rnd, streaming.merge_gram)
        res2 = streaming.finish_two_pass(st1, g)
        for name in ("H", "Q", "alpha", "F"):
            assert nrel(getattr(res2, name), getattr(base, name)) <= TOL, name


def test_merge_is_pure_and_checked():
    X = unit_rows(3, 2, 0)
    kw = dict(d_out=1, seed=0, block=4)
    a = streaming.partial(X, [0, 1], 16, **kw)
    b = streaming.partial(X, [2, 3], 16, **kw)
    Ta = a.T.copy()
    streaming.merge(a, b)
    assert np.array_equal(a.T, Ta) and a.blocks == frozenset({0, 1})
    with pytest.raises(ValueError, match="both states"):
        streaming.merge(a, streaming.partial(X, [1], 16, **kw))
    with pytest.raises(ValueError, match="different networks"):
        streaming.merge(a, streaming.partial(X, [2, 3], 16, d_out=1, seed=1, block=4))
    with pytest.raises(ValueError, match="merge all"):
        streaming.finish(a)
    s1 = streaming.stats(X, [0, 1], 16, **kw)
    with pytest.raises(ValueError, match="merge all"):
        streaming.gram(s1, [0])
    s_all = streaming.merge_stats(s1, streaming.stats(X, [2, 3], 16, **kw))
    with pytest.raises(ValueError, match="both states"):
        streaming.merge_stats(s_all, s1)
    g = streaming.gram(s_all, [0, 1])
    with pytest.raises(ValueError, match="merge all"):
        streaming.finish_two_pass(s_all, g)
    with pytest.raises(ValueError, match="both states"):
        streaming.merge_gram(g, streaming.gram(s_all, [1]))


@pytest.mark.parametrize("scheme,passes", [("iid", 2), ("iid", 1), ("symmetric", 1)])
def test_memory_flat_in_m(scheme, passes):
    X = unit_rows(4, 3, 0)
    peaks = {}
    for m in (2**16, 2**20):
        tracemalloc.start()
        try:
            streaming.streamed_ntk(X, m, d_out=2, scheme=scheme, passes=passes)
            peaks[m] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peaks[2**20] <= 1.1 * peaks[2**16]
    assert peaks[2**20] < 0.05 * (4 * 2 * 2**20 * 8)  # far below the in-memory P (n·d'·m doubles)


@pytest.mark.parametrize("kwargs,match", [
    (dict(m=0), "m must be"),
    (dict(m=5, scheme="symmetric"), "even width"),
    (dict(scheme="paired"), "scheme must be"),
    (dict(seed=-1), "seed must be"),
    (dict(seed=1.5), "seed must be"),
    (dict(sigma=0.0), "sigma must be"),
    (dict(d_out=0), "d_out must be"),
    (dict(kappa=-1.0), "kappa must be"),
    (dict(chunk_blocks=0), "chunk_blocks must be"),
    (dict(passes=3), "passes must be"),
    (dict(block=0), "block must be"),
    (dict(X=np.array([[np.nan, 0.0]])), "X contains"),
    (dict(X=np.ones(3)), "X must be 2-D"),
    (dict(X="abc"), "X must be a numeric array"),
])
def test_validation(kwargs, match):
    args = dict(X=np.eye(2), m=8)
    args.update(kwargs)
    X, m = args.pop("X"), args.pop("m")
    with pytest.raises(ValueError, match=match):
        streaming.streamed_ntk(X, m, **args)


def test_partial_validation():
    with pytest.raises(ValueError, match="blocks must be distinct"):
        streaming.partial(np.eye(2), [0, 5], 8, block=4)
    with pytest.raises(ValueError, match="blocks must not be empty"):
        streaming.partial(np.eye(2), [], 8, block=4)
    with pytest.raises(ValueError, match="non-finite logits"):
        streaming.streamed_ntk(np.array([[1e300, 1e300]]), 8, sigma=1e10)
