"""Tests of the bounds B1–B7 (the book's B1–B7 part): ntkcheck/core/bounds.py, proofs/{init_bound, …, ntk_concentration}.py
and the registered checks.

Each bound has a hypothesis property test (the bound holds on random inputs within its hypotheses, with
explicit worst-case examples that hypothesis always runs first) and a permanent mutation test: the bound
function is monkeypatched to a plausible wrong version and the same property test must fail.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

import ntkcheck as nk
from ntkcheck import bounds as B
from ntkcheck.core.compile import compiled
from ntkcheck.checks import find, run
from ntkcheck.core.stats import binomial_upper
from ntkcheck.checks.identities import output_rounding, hessian_blocks
from ntkcheck.core.network import get_activation
from conftest import assert_claims_state_numbers

EPS = np.finfo(float).eps
# no shrinking: a failing property (as in the mutation tests) reports its first counterexample at once
NO_SHRINK = (Phase.explicit, Phase.generate)
FAST = settings(max_examples=25, deadline=None, derandomize=True, database=None, phases=NO_SHRINK,
                suppress_health_check=[HealthCheck.too_slow])


def _unit_rows(X):
    X = np.asarray(X, float)
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1.0)


def _unit_cols(D):
    D = np.asarray(D, float)
    return D / np.maximum(np.linalg.norm(D, axis=0, keepdims=True), 1.0)


def _softmax(params, X):
    return get_activation("softmax").features(X @ params.W)[0]


# ============================================================================================ B1
def _b1_violation_upper(sigma, n, m, delta, seed, draws=3000):
    """Clopper–Pearson upper bound of P(max_{i,r}|w_rᵀx_i| > B) with unit-norm data (the worst case of (A1))."""
    rng = np.random.default_rng(seed)
    X = nk.sphere(n, 3, seed=seed)
    W = sigma * rng.standard_normal((draws, 3, m))
    Bv = B.init_bound(sigma, n, m, delta)
    k = int(np.sum(np.abs(np.einsum("nd,kdm->knm", X, W)).max(axis=(1, 2)) > Bv))
    return binomial_upper(k, draws)


@FAST
@given(sigma=st.floats(0.1, 5.0), n=st.integers(1, 4), m=st.integers(1, 6), delta=st.floats(0.05, 0.9),
       seed=st.integers(0, 10**6))
@example(sigma=1.0, n=1, m=1, delta=0.05, seed=1)
def test_b1_property(sigma, n, m, delta, seed):
    assert _b1_violation_upper(sigma, n, m, delta, seed) <= delta


def test_b1_mutation_detected(monkeypatch):
    # σ√(ln(2nm/δ)) — the 2 inside the root dropped: the violation frequency exceeds δ at small δ
    monkeypatch.setattr(B, "init_bound", lambda s, n, m, d: s * math.sqrt(math.log(2 * n * m / d)))
    with pytest.raises(AssertionError):
        test_b1_property()


def test_b1_values_and_S_window():
    assert B.init_bound(1.0, 1, 1, 0.5) == pytest.approx(math.sqrt(2 * math.log(4)), rel=1e-14)
    assert B.init_bound(2.0, 3, 5, 0.1) == pytest.approx(2 * math.sqrt(2 * math.log(300)), rel=1e-14)
    # on the event, every S_{i,r} lies in [e^{−2B}/m, e^{2B}/m]
    p = nk.init_params(3, 40, 2, 1.0, seed=3)
    X = nk.sphere(5, 3, seed=4)
    Bv = B.init_bound(1.0, 5, 40, 0.1)
    Z = X @ p.W
    if np.abs(Z).max() <= Bv:
        S = _softmax(p, X)
        assert S.max() <= math.exp(2 * Bv) / 40 and S.min() >= math.exp(-2 * Bv) / 40


# ============================================================================================ B2
def _b2_worst(d, m, R, sigma, seed, kind):
    """max over (x, r) of max(S_r/S̃_r / bound, e^{−2R}/(S_r/S̃_r)), in logs (with a rounding allowance)."""
    rng = np.random.default_rng(seed)
    if kind == "tight":   # S̃_0 → 0 with Δ_0 = +R x̂ and Δ_k = −R x̂: the ratio tends to e^{2R}
        d, m = 1, max(m, 2)
        X = np.ones((1, 1))
        Wt = np.concatenate([[[-10.0]], np.zeros((1, m - 1))], axis=1)
        D = np.concatenate([[[R]], -R * np.ones((1, m - 1))], axis=1)
    else:
        X = _unit_rows(rng.standard_normal((3, d)) * rng.uniform(0.3, 1.5, size=(3, 1)))
        Wt = sigma * rng.standard_normal((d, m))
        D = rng.standard_normal((d, m))
        D = R * D / np.linalg.norm(D, axis=0, keepdims=True)
        if kind == "inside":
            D *= rng.random((1, m))
        elif kind == "aligned":
            D = R * np.outer(X[0] / np.linalg.norm(X[0]), rng.choice([-1.0, 1.0], m))
    Zt, Z = X @ Wt, X @ (Wt + D)
    lr = (Z - logsumexp(Z, axis=1, keepdims=True)) - (Zt - logsumexp(Zt, axis=1, keepdims=True))
    tol = 16 * EPS * (1 + np.abs(Zt).max() + np.abs(Z).max())
    log_bound = math.log(B.softmax_ratio_bound(R))
    return float(np.exp(max(np.max(lr) - log_bound, np.max(-lr) - 2 * R) - tol))


@FAST
@given(d=st.integers(1, 4), m=st.integers(1, 8), R=st.floats(1e-3, 3.0), sigma=st.floats(0.05, 8.0),
       seed=st.integers(0, 10**6), kind=st.sampled_from(["sphere", "inside", "aligned", "tight"]))
@example(d=1, m=2, R=1.0, sigma=1.0, seed=0, kind="tight")
def test_b2_property(d, m, R, sigma, seed, kind):
    assert _b2_worst(d, m, R, sigma, seed, kind) <= 1.0


def test_b2_mutation_detected(monkeypatch):
    monkeypatch.setattr(B, "softmax_ratio_bound", lambda R: math.exp(R))   # e^{R} instead of e^{2R}
    with pytest.raises(AssertionError):
        test_b2_property()


def test_b2_tight_config_approaches_one():
    assert _b2_worst(1, 2, 1.0, 1.0, 0, "tight") > 0.99


# ============================================================================================ B3
# an adversarial configuration found by the B3 check's optimizer (entrywise ratio ≈ 0.3), at R = 1e-4
B3_A = np.array([[1.0, -1.0, 1.0, -1.0], [1.0, 1.0, -1.0, -1.0]])
B3_WT = np.array([[-3.0, 1.884, -3.0, 3.0], [-3.0, -1.888, 3.0, 3.0]])
B3_DIR = _unit_cols([[0.294, 0.709, -0.516, -0.956], [0.956, -0.705, 0.857, -0.293]])
B3_X = _unit_rows([[0.954, 0.3], [-0.301, -0.954]])


def _b3_ratios(pt, D, X, R, kappa):
    pw = pt.with_W(pt.W + D)
    dH = nk.empirical_ntk(pw, X, kappa=kappa) - nk.empirical_ntk(pt, X, kappa=kappa)
    N = B.ntk_perturbation_factor(R) * np.kron(B.Q_matrix(pt, X, kappa), np.ones((pt.d_out, pt.d_out)))
    ent = np.where(N > 0, np.abs(dH) / np.where(N > 0, N, 1.0), 0.0)
    assert np.all(dH[N == 0] == 0)
    spec = np.linalg.norm(dH, 2) / B.ntk_perturbation_bound(R, pt, X, kappa)
    return float(ent.max()), float(spec)


@FAST
@given(n=st.integers(1, 4), d=st.integers(1, 3), q=st.integers(1, 2), m=st.integers(1, 10),
       sigma=st.floats(0.05, 5.0), R=st.floats(1e-4, 2.0), seed=st.integers(0, 10**6),
       sqrt_kappa=st.booleans(), stored=st.booleans())
@example(n=2, d=2, q=2, m=4, sigma=1.0, R=1e-4, seed=0, sqrt_kappa=False, stored=True)
def test_b3_property(n, d, q, m, sigma, R, seed, sqrt_kappa, stored):
    if stored:
        pt, X, D, kappa = nk.params_from(B3_WT, B3_A), B3_X, R * B3_DIR, 4.0
    else:
        rng = np.random.default_rng(seed)
        pt = nk.init_params(d, m, q, sigma, seed=seed)
        X = nk.ball(n, d, seed=seed + 1)
        D = rng.standard_normal((d, m))
        D = R * D / np.linalg.norm(D, axis=0, keepdims=True) * rng.random((1, m)) ** 0.2
        kappa = math.sqrt(m) if sqrt_kappa else float(m)
    ent, spec = _b3_ratios(pt, D, X, R, kappa)
    assert ent <= 1.0 and spec <= 1.0


def test_b3_mutation_factor_detected(monkeypatch):
    # the factor 6 dropped: the stored configuration's entrywise ratio (≈ 0.3) becomes ≈ 1.8
    monkeypatch.setattr(B, "ntk_perturbation_factor", lambda R: math.expm1(4 * R))
    with pytest.raises(AssertionError):
        test_b3_property()


def test_b3_mutation_spectral_detected(monkeypatch):
    # (e^{2R} − 1)² in place of (e^{2R} − 1)(e^{2R} + 1): wrong by a factor ≈ 1/R at small R
    orig = B.ntk_perturbation_bound
    monkeypatch.setattr(B, "ntk_perturbation_bound",
                        lambda R, p, X, kappa=None: orig(R, p, X, kappa) * math.expm1(2 * R) ** 2 / math.expm1(4 * R))
    with pytest.raises(AssertionError):
        test_b3_property()


def test_b3_Q_matrix():
    p = nk.init_params(3, 7, 2, 0.8, seed=1)
    X = nk.ball(4, 3, seed=2)
    S = _softmax(p, X)
    Q = B.Q_matrix(p, X, kappa=2.5)
    np.testing.assert_allclose(Q, 2.5**2 / 7 * np.abs(X @ X.T) * (S @ S.T), rtol=1e-14)
    assert B.ntk_perturbation_factor(0.25) == pytest.approx(6 * math.expm1(1.0), rel=1e-14)
    assert B.ntk_perturbation_bound(0.25, p, X) == pytest.approx(
        6 * math.expm1(1.0) * 2 * np.linalg.norm(B.Q_matrix(p, X), 2), rel=1e-12)


# ============================================================================================ B4
@FAST
@given(d=st.integers(1, 3), m=st.integers(1, 16), q=st.integers(1, 3), sigma=st.floats(0.05, 10.0),
       seed=st.integers(0, 10**6), sqrt_kappa=st.booleans(), uniform=st.booleans())
@example(d=1, m=16, q=1, sigma=1.0, seed=0, sqrt_kappa=False, uniform=True)
def test_b4_property(d, m, q, sigma, seed, sqrt_kappa, uniform):
    rng = np.random.default_rng(seed)
    if uniform:   # S ≈ uniform, one sign against the rest: ‖M‖₂ ≈ 2(1 − 2/m) max S (ratio ≈ 1 − 2/m)
        W = 1e-3 * rng.standard_normal((d, m))
        A = -np.ones((q, m))
        A[:, 0] = 1.0
        p = nk.params_from(W, A)
        x = np.ones(d) / math.sqrt(d)
    else:
        p = nk.init_params(d, m, q, sigma, seed=seed)
        x = nk.ball(1, d, seed=seed + 1)[0]
    kappa = math.sqrt(m) if sqrt_kappa else float(m)
    Hs = hessian_blocks(p, x, kappa)
    observed = float(np.max(np.linalg.norm(Hs, 2, axis=(1, 2))))
    assert observed <= B.hessian_bound(p, x[None, :], kappa) * (1 + 1e-12)


def test_b4_mutation_detected(monkeypatch):
    orig = B.hessian_bound
    monkeypatch.setattr(B, "hessian_bound", lambda p, X, kappa=None: orig(p, X, kappa) * 0.8)   # constant 2 → 1.6
    with pytest.raises(AssertionError):
        test_b4_property()


def test_b4_constant_is_nearly_attained():
    """B4's constant 2 is sharp: at uniform S with one sign against the rest ‖M‖₂/max S = 2(1 − 2/m) (m ≥ 4),
    so the observed/bound ratio is 1 − 2/m (0.875 at m = 16; it was a third of that with the constant 6)."""
    m, d = 16, 2
    W = 1e-6 * np.random.default_rng(0).standard_normal((d, m))
    A = -np.ones((1, m))
    A[0, 0] = 1.0
    p, x = nk.params_from(W, A), np.ones(d) / math.sqrt(d)
    observed = float(np.max(np.linalg.norm(hessian_blocks(p, x, float(m)), 2, axis=(1, 2))))
    assert observed / B.hessian_bound(p, x[None, :], float(m)) == pytest.approx(1 - 2 / m, rel=1e-4)


# ============================================================================================ B5
def _b5_ratio(p, X, Y, eta, kappa):
    lhs, rhs = B.one_step_sides(p, X, Y, eta, kappa)
    p2 = p.with_W(p.W - eta * nk.gradient(p, X, Y, kappa))
    q = X.shape[0] * p.d_out
    allowance = math.sqrt(q) * (output_rounding(p, X, kappa) + output_rounding(p2, X, kappa)) \
        + 4 * q * EPS * float(np.linalg.norm(nk.residual(p, X, Y, kappa)))
    return lhs / (rhs + allowance)


@FAST
@given(n=st.integers(1, 4), d=st.integers(1, 3), q=st.integers(1, 2), m=st.integers(2, 10),
       sigma=st.floats(0.1, 3.0), log_c=st.floats(-12.0, 4.0), seed=st.integers(0, 10**6),
       sqrt_kappa=st.booleans())
@example(n=1, d=2, q=1, m=4, sigma=1.0, log_c=0.0, seed=481, sqrt_kappa=False)
def test_b5_property(n, d, q, m, sigma, log_c, seed, sqrt_kappa):
    p = nk.init_params(d, m, q, sigma, seed=seed)
    X = nk.sphere(n, d, seed=seed + 1)
    Y = nk.labels(n, q, seed=seed + 2)
    kappa = math.sqrt(m) if sqrt_kappa else float(m)
    lam = float(np.linalg.eigvalsh(nk.empirical_ntk(p, X, kappa=kappa))[-1])
    if lam <= 1e-12:
        return   # H ≈ 0: no step scale to speak of
    eta = math.exp(log_c) / (m * lam)   # c = 1: ηmH = 1 when n d' = 1, so only the second-order term is left
    assert _b5_ratio(p, X, Y, eta, kappa) <= 1.0


def test_b5_mutation_detected(monkeypatch):
    # β = 0 (the second-order term dropped)
    monkeypatch.setattr(B, "descent_beta", lambda *args, **kw: 0.0)
    with pytest.raises(AssertionError):
        test_b5_property()


def test_b5_gradient_norm_identity():
    # ‖∇L‖_F² = m eᵀHe
    p = nk.init_params(3, 9, 2, 0.7, seed=5)
    X, Y = nk.ball(4, 3, seed=6), nk.labels(4, 2, seed=7)
    G = nk.gradient(p, X, Y)
    e = nk.residual(p, X, Y).reshape(-1)
    assert np.vdot(G, G) == pytest.approx(9 * e @ nk.empirical_ntk(p, X) @ e, rel=1e-10)


# ============================================================================================ B6
def _b6_row_ratio(p, X, Y, kappa):
    rows = np.linalg.norm(nk.gradient(p, X, Y, kappa), axis=0)
    l1, l2 = B.gradient_row_bounds(p, X, Y, kappa)
    return float(np.max(rows / l1)), float(np.max(rows / l2))


@FAST
@given(n=st.integers(1, 4), d=st.integers(1, 3), q=st.integers(1, 3), m=st.integers(2, 12),
       sigma=st.floats(0.05, 6.0), seed=st.integers(0, 10**6), sqrt_kappa=st.booleans(), tight=st.booleans())
@example(n=1, d=1, q=1, m=3, sigma=1.0, seed=0, sqrt_kappa=False, tight=True)
def test_b6_gradient_property(n, d, q, m, sigma, seed, sqrt_kappa, tight):
    if tight:   # S_0 → 0, a_0 = +1 against ⟨a,S⟩ ≈ −1, one residual entry, ‖x‖ = 1: the ℓ1 bound is tight
        W = np.concatenate([[[-8.0]], np.zeros((1, m - 1))], axis=1)
        A = -np.ones((1, m))
        A[0, 0] = 1.0
        p, X, Y, kappa = nk.params_from(W, A), np.ones((1, 1)), np.array([[-50.0]]), float(m)
    else:
        p = nk.init_params(d, m, q, sigma, seed=seed)
        X = nk.ball(n, d, seed=seed + 1)
        Y = nk.labels(n, q, seed=seed + 2, scale=5.0)
        kappa = math.sqrt(m) if sqrt_kappa else float(m)
    r1, r2 = _b6_row_ratio(p, X, Y, kappa)
    assert r1 <= 1 + 1e-12 and r2 <= 1 + 1e-12


def test_b6_gradient_mutation_detected(monkeypatch):
    orig = B.gradient_row_bounds
    monkeypatch.setattr(B, "gradient_row_bounds",
                        lambda *a, **k: tuple(b / 2 for b in orig(*a, **k)))   # the factor 2 dropped
    with pytest.raises(AssertionError):
        test_b6_gradient_property()


def _b6_movement_ratio(seed, steps=40):
    """max over t of movement/bound along GD, with p the largest rate valid for s < t."""
    p = nk.init_params(2, 8, 1, 1.0, seed=seed)
    X, Y = nk.sphere(3, 2, seed=seed + 1), nk.labels(3, 1, seed=seed + 2)
    eta = 0.5 / (8 * np.linalg.eigvalsh(nk.empirical_ntk(p, X))[-1])
    e0 = float(np.linalg.norm(nk.residual(p, X, Y)))
    W0, q, S_bar, p_min, worst = p.W.copy(), p, 0.0, 1.0, 0.0
    for t in range(1, steps + 1):
        S_bar = max(S_bar, float(_softmax(q, X).max()))
        q = q.with_W(q.W - eta * nk.gradient(q, X, Y))
        if p_min > 0:
            bound = B.weight_movement_bound(eta, 8.0, S_bar, 3, 1, e0, p_min)
            worst = max(worst, float(np.max(np.linalg.norm(q.W - W0, axis=0))) / bound)
        p_min = min(p_min, 1 - (np.linalg.norm(nk.residual(q, X, Y)) / e0) ** (1 / t))
    return worst


@settings(max_examples=6, deadline=None, derandomize=True, database=None, phases=NO_SHRINK)
@given(seed=st.integers(0, 10**6))
def test_b6_movement_property(seed):
    assert _b6_movement_ratio(seed) <= 1.0


def test_b6_movement_mutation_detected(monkeypatch):
    orig = B.weight_movement_bound
    monkeypatch.setattr(B, "weight_movement_bound",
                        lambda eta, kappa, S_bar, n, d_out, e0, p: orig(eta, kappa, S_bar, n, d_out, e0, p) * p)
    with pytest.raises(AssertionError):   # 1/p dropped
        test_b6_movement_property()


# ============================================================================================ B7
def _b7_violations(seed, draws=60, m=2000, sigma=0.5, delta=0.1):
    X = nk.sphere(3, 3, seed=seed)
    Hs = nk.limit_ntk(X, sigma=sigma, d_out=2)
    eps = B.ntk_concentration_eps(m, delta, sigma, X, 2)
    errs = [np.linalg.norm(nk.empirical_ntk(nk.init_params(3, m, 2, sigma, seed=seed * 1000 + k), X) - Hs, 2)
            for k in range(draws)]
    return int(np.sum(np.array(errs) > eps)), draws, delta


@settings(max_examples=3, deadline=None, derandomize=True, database=None, phases=NO_SHRINK)
@given(seed=st.integers(0, 10**4))
def test_b7_coverage_property(seed):
    k, n, delta = _b7_violations(seed)
    assert binomial_upper(k, n) <= delta


def test_b7_mutation_detected(monkeypatch):
    orig = B.ntk_concentration_eps
    monkeypatch.setattr(B, "ntk_concentration_eps", lambda *a, **k: orig(*a, **k) / 300)
    with pytest.raises(AssertionError):
        test_b7_coverage_property()


# the deterministic part alone: radii set to the deviations a draw actually has, so the event holds
ENTRY = {"same": compiled("ntk_concentration", "entry_same_tau", "numpy"),
         "cross": compiled("ntk_concentration", "entry_cross_tau", "numpy")}


def _b7_det_ratio(p, X, sigma):
    m, q, a = p.m, p.d_out, p.A
    nu = np.sum(X * X, axis=1)
    U = np.exp(X @ p.W - sigma**2 * nu[:, None] / 2)            # u_{i,r}/μ_i
    tau = np.abs(U.mean(axis=1) - 1)
    if np.any(tau >= 1):
        return 0.0
    G = X @ X.T
    b = np.exp(sigma**2 * G)
    tau_B = np.abs(U @ U.T / m - b)
    tau_C = np.abs(np.einsum("ir,lr,jr->lij", U, a, U) / m).max(axis=0)
    for l1 in range(q):
        for l2 in range(q):
            if l1 != l2:
                tau_C = np.maximum(tau_C, np.abs(np.einsum("ir,r,jr->ij", U, a[l1] * a[l2], U) / m))
    gam = np.minimum(1.0, np.abs(U @ a.T / m).max(axis=1) / (1 - tau))
    args = (G, b, tau[:, None], tau[None, :], tau_B, tau_C, gam[:, None], gam[None, :])
    eye = np.eye(q)
    N = np.kron(ENTRY["same"](*args), eye) + np.kron(ENTRY["cross"](*args), 1 - eye)
    H, Hs = nk.empirical_ntk(p, X), nk.limit_ntk(X, sigma=sigma, d_out=q)
    N = N + 64 * EPS * (m + 10) * (np.abs(H) + np.abs(Hs) + N)   # rounding (the slack can be ~ τ_iτ_j)
    return float(np.max(np.abs(H - Hs) / N))


@FAST
@given(n=st.integers(1, 4), d=st.integers(2, 3), q=st.integers(1, 3), m=st.integers(2, 300),
       sigma=st.floats(0.05, 1.5), seed=st.integers(0, 10**6))
@example(n=1, d=3, q=1, m=158, sigma=0.8, seed=11)
def test_b7_deterministic_part_property(n, d, q, m, sigma, seed):
    p = nk.init_params(d, m, q, sigma, seed=seed)
    X = nk.sphere(n, d, seed=seed + 1)
    assert _b7_det_ratio(p, X, sigma) <= 1.0


def test_b7_deterministic_part_mutation_detected(monkeypatch):
    # the normalization denominator (1 − τ_i)(1 − τ_j) dropped
    orig = dict(ENTRY)
    for key in ENTRY:
        monkeypatch.setitem(ENTRY, key, lambda g, b, ti, tj, *rest, f=orig[key]: f(g, b, ti, tj, *rest) * (1 - ti) * (1 - tj))
    with pytest.raises(AssertionError):
        test_b7_deterministic_part_property()


def test_b7_eps_shape():
    X = nk.sphere(3, 3, seed=0)
    eps = [B.ntk_concentration_eps(m, 0.1, 0.5, X, 2) for m in (10, 10**3, 10**4, 10**5, 10**6)]
    assert eps[0] == math.inf                         # m too small for the ratio argument
    assert all(a > b for a, b in zip(eps[1:], eps[2:]))
    assert eps[-1] * 1e3 == pytest.approx(eps[-2] * 1e3 / math.sqrt(10), rel=0.15)   # ~ m^{−1/2} for large m
    # heavy tails at σ = 2 (e^{6σ²} = e^{24}): still vacuous at m = 10^6
    assert B.ntk_concentration_eps(10**6, 0.1, 2.0, X, 2) > 10 * np.linalg.norm(nk.limit_ntk(X, sigma=2.0, d_out=2), 2)
    assert B.ntk_concentration_eps(10**5, 0.01, 0.5, X, 2) > B.ntk_concentration_eps(10**5, 0.1, 0.5, X, 2)


# ============================================================================================ bad input
@pytest.mark.parametrize("call, name", [
    (lambda: B.init_bound(0.0, 1, 1, 0.1), "sigma"),
    (lambda: B.init_bound(1.0, 0, 1, 0.1), "n"),
    (lambda: B.init_bound(1.0, 1, 2.5, 0.1), "m"),
    (lambda: B.init_bound(1.0, 1, 1, 1.0), "delta"),
    (lambda: B.init_bound(1.0, 1, 1, -0.1), "delta"),
    (lambda: B.softmax_ratio_bound(-0.1), "R"),
    (lambda: B.softmax_ratio_bound(float("nan")), "R"),
    (lambda: B.softmax_ratio_bound("1"), "R"),
    (lambda: B.ntk_perturbation_factor(float("inf")), "R"),
    (lambda: B.weight_movement_bound(0.0, 1.0, 0.5, 2, 1, 1.0, 0.1), "eta"),
    (lambda: B.weight_movement_bound(0.1, -1.0, 0.5, 2, 1, 1.0, 0.1), "kappa"),
    (lambda: B.weight_movement_bound(0.1, 1.0, 0.0, 2, 1, 1.0, 0.1), "S_bar"),
    (lambda: B.weight_movement_bound(0.1, 1.0, 0.5, 0, 1, 1.0, 0.1), "n"),
    (lambda: B.weight_movement_bound(0.1, 1.0, 0.5, 2, True, 1.0, 0.1), "d_out"),
    (lambda: B.weight_movement_bound(0.1, 1.0, 0.5, 2, 1, -1.0, 0.1), "e0_norm"),
    (lambda: B.weight_movement_bound(0.1, 1.0, 0.5, 2, 1, 1.0, 0.0), "p"),
    (lambda: B.weight_movement_bound(0.1, 1.0, 0.5, 2, 1, 1.0, 1.5), "p"),
    (lambda: B.ntk_concentration_eps(0, 0.1, 1.0, np.eye(2), 1), "m"),
    (lambda: B.ntk_concentration_eps(10, 0.0, 1.0, np.eye(2), 1), "delta"),
    (lambda: B.ntk_concentration_eps(10, 0.1, 0.0, np.eye(2), 1), "sigma"),
    (lambda: B.ntk_concentration_eps(10, 0.1, 1.0, [[np.nan, 0.0]], 1), "X"),
    (lambda: B.ntk_concentration_eps(10, 0.1, 1.0, np.ones(3), 1), "X"),
    (lambda: B.ntk_concentration_eps(10, 0.1, 1.0, np.eye(2), 0), "d_out"),
])
def test_bad_scalar_input(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.fixture
def small():
    p = nk.init_params(2, 5, 1, 1.0, seed=0)
    return p, nk.ball(3, 2, seed=1), nk.labels(3, 1, seed=2)


def test_bad_network_input(small):
    p, X, Y = small
    outside = 2 * nk.sphere(3, 2, seed=3)
    relu = nk.init_params(2, 5, 1, 1.0, seed=0, activation="relu")
    for fn in (lambda P, XX: B.Q_matrix(P, XX), lambda P, XX: B.hessian_bound(P, XX),
               lambda P, XX: B.ntk_perturbation_bound(0.1, P, XX),
               lambda P, XX: B.descent_beta(P, XX, 0.1, np.zeros((2, 5))),
               lambda P, XX: B.one_step_sides(P, XX, Y, 0.1), lambda P, XX: B.gradient_row_bounds(P, XX, Y)):
        with pytest.raises(ValueError, match="softmax"):
            fn(relu, X)
        with pytest.raises(ValueError, match="params"):
            fn("not params", X)
        with pytest.raises(ValueError, match="X"):
            fn(p, np.ones((3, 3)))          # wrong number of columns
    # (A1) is required where B2 is used
    for fn in (lambda: B.ntk_perturbation_bound(0.1, p, outside), lambda: B.descent_beta(p, outside, 0.1, np.zeros((2, 5))),
               lambda: B.one_step_sides(p, outside, Y, 0.1), lambda: B.gradient_row_bounds(p, outside, Y)):
        with pytest.raises(ValueError, match=r"\(A1\)"):
            fn()
    with pytest.raises(ValueError, match="grad"):
        B.descent_beta(p, X, 0.1, np.zeros((3, 5)))
    with pytest.raises(ValueError, match="eta"):
        B.one_step_sides(p, X, Y, -1.0)
    with pytest.raises(ValueError, match="kappa"):
        B.hessian_bound(p, X, kappa=0.0)
    with pytest.raises(ValueError, match="Y"):
        B.one_step_sides(p, X, np.ones((3, 2)), 0.1)


def test_vacuous_bounds_are_inf_not_errors(small):
    p, X, Y = small
    assert B.descent_beta(p, X, 1e200, np.ones((2, 5))) == math.inf
    assert B.softmax_ratio_bound(1e3) == math.inf


# ============================================================================================ proofs + checks
CODES = ("B1", "B2", "B3", "B4", "B5", "B6", "B7")


@pytest.mark.parametrize("code", CODES)
def test_derivation(code):
    from ntkcheck import proofs
    from ntkcheck.proofs._core import BY_HAND, IDENTITY, PROVED

    mod = proofs.lemma(code)
    assert mod.CODE == code and mod.STATEMENT and mod.EXPORTS
    der = mod.derive()
    kinds = der.summary()
    assert kinds.get(IDENTITY, 0) + kinds.get(PROVED, 0) >= 2, kinds
    assert all(s.note for s in der.steps if s.kind == BY_HAND)


@pytest.mark.parametrize("code", CODES)
def test_check_runs_and_holds(code):
    rec = run(find(code), seed=1, scale=0.2)
    assert rec.holds, rec
    assert rec.worst_ratio <= 1
    assert_claims_state_numbers(rec)
    assert run(find(code), seed=1, scale=0.2).worst_ratio == rec.worst_ratio   # deterministic
