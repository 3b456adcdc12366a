"""ntkcheck.core.network: the float64 forward, gradient (G1), tangent features and empirical NTK (G4) against
the 50-digit mpmath twins, and the exact invariants of the book's Setting–G1–G6 parts (G2 shift invariance, the symmetric
init, seeding, PSD NTK, the descent step).

Each property is a plain ``check_*`` function called by a hypothesis test; the mutation tests at the end
call the same functions on a deliberately broken implementation and require an AssertionError, so every
property is shown to be able to fail.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ntkcheck as nk
from conftest import (ACTIVATIONS, EPS, HARD, POINTWISE, REL_TOL, Spec, build, features_ref, hard_examples,
                      magnitudes, normwise_error, specs)
from ntkcheck.core.network import Softmax

# A GD run of STEPS steps changes Σ_r w_r only by rounding: per step and coordinate at most
# 4(m + 2)ε(max|W| + η·|∇L|_terms) (the subtraction, and the rounding of the m gradient entries summed).
# |∇L|_terms is the magnitude of the terms the gradient sums (conftest.magnitudes), not |∇L|: the gradient's
# absolute error scales with its terms, and where ∇L cancels (all output signs of a row equal: P ≡ 0, and
# ∇L is rounding noise) a budget proportional to |∇L| is wrong — the G2 check makes that mistake, see
# test_checks_identities.py.
STEPS = 100


# ------------------------------------------------------------------------------------------ vs mpmath
def check_forward_matches_mp(c):
    F = nk.forward(c.p, c.X, c.kappa)
    F_mp = nk.to_float(nk.forward_mp(c.p, c.X, c.kappa, dps=50))
    err = normwise_error(F, F_mp, magnitudes(c)["F"])
    assert err <= REL_TOL, f"forward vs 50-digit twin: {err:.3g} > {REL_TOL:g} ({c.spec})"


def check_gradient_matches_mp(c):
    g = nk.gradient(c.p, c.X, c.Y, c.kappa)
    g_mp = nk.to_float(nk.gradient_mp(c.p, c.X, c.Y, c.kappa, dps=50))
    err = normwise_error(g, g_mp, magnitudes(c)["grad"])
    assert err <= REL_TOL, f"gradient vs 50-digit twin: {err:.3g} > {REL_TOL:g} ({c.spec})"


def check_ntk_matches_mp(c):
    H = nk.empirical_ntk(c.p, c.X, kappa=c.kappa)
    H_mp = nk.to_float(nk.empirical_ntk_mp(c.p, c.X, kappa=c.kappa, dps=50))
    err = normwise_error(H, H_mp, magnitudes(c)["H"])
    assert err <= REL_TOL, f"NTK vs 50-digit twin: {err:.3g} > {REL_TOL:g} ({c.spec})"
    # the cross kernel H(X1, X2) (rectangular, n1 ≠ n2) against the twin's cross kernel
    X2 = nk.sphere(c.X.shape[0] + 1, c.p.d, seed=c.spec.seed + 5)
    Hx = nk.empirical_ntk(c.p, c.X, X2, kappa=c.kappa)
    Hx_mp = nk.to_float(nk.empirical_ntk_mp(c.p, c.X, X2, kappa=c.kappa, dps=50))
    assert Hx.shape == (c.X.shape[0] * c.p.d_out, X2.shape[0] * c.p.d_out)
    both = c._replace(X=np.vstack([c.X, X2]), Y=np.vstack([c.Y, np.zeros((X2.shape[0], c.p.d_out))]))
    assert normwise_error(Hx, Hx_mp, magnitudes(both)["H"]) <= REL_TOL


def check_tangent_features(c):
    """P against an independent computation (scipy's softmax), rows ordered (i, ℓ) row-major."""
    P = nk.tangent_features(c.p, c.X)
    _, P_ref = features_ref(c.p, c.X)
    assert P.shape == (c.X.shape[0] * c.p.d_out, c.p.m)
    assert normwise_error(P, P_ref.reshape(P.shape), magnitudes(c)["J"] / c.kappa) <= REL_TOL


@given(spec=specs())
@hard_examples()
def test_forward_matches_mp(spec):
    check_forward_matches_mp(build(spec))


@given(spec=specs())
@hard_examples()
def test_gradient_matches_mp(spec):
    check_gradient_matches_mp(build(spec))


@given(spec=specs())
@hard_examples()
# an NTK entry at the bottom of the subnormal range (3.9e-324, from features ~1e-162): 0 in float64
@example(spec=Spec(act="softmax", n=2, d=3, q=1, m=2, sigma=1.0, scheme="symmetric", kappa="m", mod="ahead",
                   data="ball", seed=1, gap=1000.0, signs="random"))
def test_ntk_matches_mp(spec):
    check_ntk_matches_mp(build(spec))


@given(spec=specs())
@hard_examples()
def test_tangent_features_match_reference(spec):
    check_tangent_features(build(spec))


# ------------------------------------------------------------------------------------------ finite everywhere
def check_softmax_finite(W, X, A):
    """For finite logits the softmax network's forward, features, gradient, NTK and loss are finite, emit
    no floating-point warning, and obey |F| ≤ κ, Σ_r S_r = 1, 0 ≤ S ≤ 1."""
    p = nk.params_from(W, A)
    Y = np.zeros((X.shape[0], A.shape[0]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Z = X @ W
        assert np.all(np.isfinite(Z)), "the test must supply finite logits"
        S, _ = Softmax().features(Z.copy())
        F = nk.forward(p, X)
        out = {"S": S, "F": F, "P": nk.tangent_features(p, X), "grad": nk.gradient(p, X, Y),
               "H": nk.empirical_ntk(p, X), "loss": np.array(nk.loss(p, X, Y))}
    assert not [str(w.message) for w in caught], [str(w.message) for w in caught]
    for name, v in out.items():
        assert np.all(np.isfinite(v)), f"{name} not finite for logits up to {np.abs(Z).max():.3g}"
    assert np.all((S >= 0) & (S <= 1)) and np.allclose(S.sum(axis=1), 1.0, rtol=0, atol=4 * p.m * EPS)
    assert np.all(np.abs(F) <= p.m * (1 + 4 * p.m * EPS))


_huge = st.floats(-1e300, 1e300, allow_nan=False)


@st.composite
def huge_problems(draw):
    d, m, q, n = (draw(st.integers(1, k)) for k in (3, 6, 2, 3))
    W = draw(hnp.arrays(np.float64, (d, m), elements=_huge))
    # rows of X in [-1, 1]^d / d keep |logit| ≤ max|W| ≤ 1e300: finite
    X = draw(hnp.arrays(np.float64, (n, d), elements=st.floats(-1, 1))) / d
    A = draw(hnp.arrays(np.float64, (q, m), elements=st.sampled_from([-1.0, 1.0])))
    return W, X, A


@given(problem=huge_problems())
@example(problem=(np.array([[1e300, -1e300, 0.0]]), np.array([[1.0]]), np.array([[1.0, -1.0, 1.0]])))
@example(problem=(np.array([[1e3, 0.0, 0.0, 0.0]]), np.array([[1.0], [-1.0]]), np.array([[1.0, 1.0, -1.0, 1.0]])))
@example(problem=(np.full((2, 3), 1e300), np.array([[0.5, 0.5]]), np.array([[1.0, -1.0, 1.0]])))
@example(problem=(np.zeros((1, 1)), np.array([[0.3]]), np.array([[1.0]])))
def test_softmax_finite_for_huge_logits(problem):
    check_softmax_finite(*problem)


def test_softmax_features_finite_over_the_whole_float_range():
    """Logits at ±max-float: the difference Z − max Z overflows to −inf and exp gives the correct 0."""
    big = np.finfo(np.float64).max
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy warns 'overflow encountered in subtract'; the result is exact
        S, _ = Softmax().features(np.array([[big, -big, 0.0], [-big, big, big], [big, big, big]]))
    np.testing.assert_array_equal(S, [[1, 0, 0], [0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_bounded_pointwise_finite_for_huge_logits(act):
    p = nk.params_from([[1e300, -1e300, 0.0]], [[1.0, -1.0, 1.0]], activation=act)
    X = np.array([[1.0], [-0.5]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for v in (nk.forward(p, X), nk.tangent_features(p, X), nk.empirical_ntk(p, X)):
            assert np.all(np.isfinite(v))


@pytest.mark.parametrize("act", ["sigmoid", "swish"])
def test_sigmoid_like_no_overflow_warning(act):
    p = nk.params_from([[1e300, -1e300, 0.0]], [[1.0, -1.0, 1.0]], activation=act)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.all(np.isfinite(nk.forward(p, [[1.0]])))


# ------------------------------------------------------------------------------------------ G2
def check_shift_invariance(c, v):
    """F(W + v1ᵀ) = F(W) (softmax) up to rounding of both evaluations."""
    F0 = nk.forward(c.p, c.X, c.kappa)
    F1 = nk.forward(c.p.with_W(c.p.W + v[:, None]), c.X, c.kappa)
    assert normwise_error(F1, F0, magnitudes(c)["F"]) <= REL_TOL


def check_rows_of_P_sum_to_zero(c):
    """Σ_r P_{(i,ℓ),r} = 0 (G2), relative to the terms Σ_r S_r(|a_r| + |⟨a,S⟩|) (≤ 2)."""
    P = nk.tangent_features(c.p, c.X)
    assert float(np.abs(P.sum(axis=1)).max()) <= REL_TOL * magnitudes(c)["P_row"]


def check_gd_conserves_weight_sum(c):
    p = c.p
    H = nk.empirical_ntk(p, c.X, kappa=c.kappa)
    eta = 0.5 / (p.m * max(np.linalg.norm(H, 2), 1e-12))   # the G2 check's step (huge when H ≈ 0)
    s0 = p.W.sum(axis=1)
    budget = 0.0
    for _ in range(STEPS):
        budget += 4 * (p.m + 2) * EPS * (np.abs(p.W).max() + eta * magnitudes(c._replace(p=p))["grad"])
        p = nk.gd_step(p, c.X, c.Y, eta, c.kappa)
    drift = float(np.abs(p.W.sum(axis=1) - s0).max())
    assert drift <= budget, f"Σ_r w_r drifted by {drift:.3g} > rounding budget {budget:.3g}"


@given(spec=specs(acts=("softmax",)), v=hnp.arrays(np.float64, 4, elements=st.floats(-1e3, 1e3)))
@hard_examples(acts=("softmax",), v=np.array([1e3, -1e3, 1e3, 0.0]))
def test_softmax_shift_invariance(spec, v):
    c = build(spec)
    # |vᵀx| ≤ ‖v‖₂ ≤ 10³, so logits stay below 3·10³ even on the ±10³ cases; REL_TOL's rounding bound
    # (conftest) is then 2.2e-16·(27 + 4·3001) ≈ 2.7e-12
    v = v[: c.p.d] / np.sqrt(c.p.d)
    check_shift_invariance(c, v)


@given(spec=specs(acts=("softmax",)))
@hard_examples(acts=("softmax",))
def test_softmax_tangent_rows_sum_to_zero(spec):
    check_rows_of_P_sum_to_zero(build(spec))


@given(spec=specs(acts=("softmax",), mods=("none", "zero", "shift")))
@hard_examples(acts=("softmax",))
@example(spec=Spec(n=1, d=1, q=1, m=2, seed=1))   # a = (−1, −1): P ≡ 0, H = 0, η = 2.5e11, ∇L is noise
def test_gd_conserves_weight_sum(spec):
    check_gd_conserves_weight_sum(build(spec))


@given(spec=specs(acts=("exp",), schemes=("iid",)), c_shift=st.floats(0.1, 2.0))
@example(spec=Spec(act="exp", n=1, d=1, q=1, m=1), c_shift=0.1)
def test_exp_network_is_not_shift_invariant(spec, c_shift):
    """No counterpart of G2 for exp: F(W + v1ᵀ, x) = e^{vᵀx} F(W, x). With v = c·x₀ the output at x₀ is
    multiplied by e^{c‖x₀‖²} — the same shift-invariance test must fail."""
    c = build(spec)
    x0 = c.X[0]
    F0 = nk.forward(c.p, c.X[:1], c.kappa)
    assume(np.abs(F0).max() > 1e-6 * magnitudes(c)["F"] and x0 @ x0 > 1e-3)
    growth = np.exp(c_shift * (x0 @ x0))
    F1 = nk.forward(c.p.with_W(c.p.W + c_shift * x0[:, None]), c.X[:1], c.kappa)
    assert normwise_error(F1, growth * F0, growth * magnitudes(c)["F"]) <= REL_TOL
    with pytest.raises(AssertionError):
        check_shift_invariance(c._replace(X=c.X[:1], Y=c.Y[:1]), c_shift * x0)


@pytest.mark.parametrize("act", POINTWISE)
def test_pointwise_tangent_rows_do_not_sum_to_zero(act):
    c = build(Spec(act=act, n=3, d=3, q=2, m=9, seed=4))
    with pytest.raises(AssertionError):
        check_rows_of_P_sum_to_zero(c)


# ------------------------------------------------------------------------------------------ G4 structure
def check_ntk_structure(c):
    p, X, k = c.p, c.X, c.kappa
    H = nk.empirical_ntk(p, X, kappa=k)
    scale = magnitudes(c)["H"]
    nq = X.shape[0] * p.d_out
    assert H.shape == (nq, nq)
    assert normwise_error(H, H.T, scale) <= REL_TOL, "H not symmetric"
    lam = np.linalg.eigvalsh(H)
    # H ⪰ 0 up to rounding of an eigensolver: λ_min ≥ −4·size·ε·max(‖H‖, scale)
    assert lam[0] >= -4 * nq * EPS * max(lam[-1], scale), f"λ_min(H) = {lam[0]:.3g}"
    J = nk.ntk_jacobian(p, X, k)
    assert J.shape == (nq, p.d * p.m)
    assert normwise_error(H, J @ J.T / p.m, scale) <= REL_TOL, "H ≠ JJᵀ/m"
    # X2 = None means X1; a cross kernel is the corresponding block of the kernel of the stacked inputs
    np.testing.assert_array_equal(H, nk.empirical_ntk(p, X, None, kappa=k))
    X2 = nk.sphere(2, p.d, seed=c.spec.seed + 7)
    Hs = nk.empirical_ntk(p, np.vstack([X, X2]), kappa=k)
    both = magnitudes(c._replace(X=np.vstack([X, X2]), Y=np.vstack([c.Y, np.zeros((2, p.d_out))])))["H"]
    assert normwise_error(nk.empirical_ntk(p, X, X2, kappa=k), Hs[:nq, nq:], both) <= REL_TOL
    assert normwise_error(nk.empirical_ntk(p, X2, X, kappa=k), Hs[nq:, :nq], both) <= REL_TOL


@given(spec=specs())
@hard_examples()
def test_ntk_symmetric_psd_jacobian_gram_and_blocks(spec):
    check_ntk_structure(build(spec))


@pytest.mark.parametrize("n, q", [(300, 2), (200, 3), (171, 3), (513, 1)])
def test_symmetric_ntk_fast_path_many_blocks(n, q):
    """empirical_ntk(p, X) (the symmetric syrk path) against the general cross-kernel path
    empirical_ntk(p, X, X[:-1]) (X2 = X itself takes the symmetric path) and JJᵀ/m, at sizes n·d' > 512
    (odd sizes included)."""
    c = build(Spec(n=n, d=3, q=q, m=16, seed=n))
    H = nk.empirical_ntk(c.p, c.X, kappa=c.kappa)
    scale = magnitudes(c)["H"]
    np.testing.assert_array_equal(H, H.T)
    np.testing.assert_array_equal(H, nk.empirical_ntk(c.p, c.X, c.X.copy(), kappa=c.kappa))
    assert normwise_error(H[:, :-q], nk.empirical_ntk(c.p, c.X, c.X[:-1], kappa=c.kappa), scale) <= REL_TOL
    J = nk.ntk_jacobian(c.p, c.X, c.kappa)
    assert normwise_error(H, J @ J.T / c.p.m, scale) <= REL_TOL


def test_ntk_default_kappa_is_m():
    c = build(Spec(m=8, kappa="m"))
    np.testing.assert_array_equal(nk.empirical_ntk(c.p, c.X), nk.empirical_ntk(c.p, c.X, kappa=8.0))
    np.testing.assert_array_equal(nk.forward(c.p, c.X), nk.forward(c.p, c.X, kappa=8))


# ------------------------------------------------------------------------------------------ init
@given(spec=specs(schemes=("symmetric",), mods=("none",)))
@example(spec=Spec(scheme="symmetric", m=2, n=1, d=1, q=1))
@example(spec=Spec(scheme="symmetric", sigma=10.0, m=12, n=5, d=4, q=3, data="sphere"))
@example(spec=Spec(act="exp", scheme="symmetric", sigma=10.0, m=12, n=5, d=4, q=3, data="sphere"))
def test_symmetric_init_output_vanishes(spec):
    """the book's Setting part: the symmetric init gives F(W(0), x) = 0 — exactly in exact arithmetic (the twin), and
    to rounding of the κ-weighted sum in float64."""
    c = build(spec)
    h = c.p.m // 2
    np.testing.assert_array_equal(c.p.W[:, :h], c.p.W[:, h:])
    np.testing.assert_array_equal(c.p.A[:, :h], -c.p.A[:, h:])
    F_mp = nk.forward_mp(c.p, c.X, c.kappa, dps=50)
    assert all(abs(v) <= 1e-45 * magnitudes(c)["F"] for v in F_mp.ravel())
    F = nk.forward(c.p, c.X, c.kappa)
    assert float(np.abs(F).max()) <= REL_TOL * magnitudes(c)["F"]
    np.testing.assert_allclose(nk.residual(c.p, c.X, c.Y, c.kappa), -c.Y, rtol=0,
                               atol=REL_TOL * magnitudes(c)["F"])


@given(spec=specs(mods=("none",)))
def test_same_seed_same_params(spec):
    s = spec
    a = nk.init_params(s.d, s.m, s.q, s.sigma, s.scheme, s.seed, s.act)
    b = nk.init_params(s.d, s.m, s.q, s.sigma, s.scheme, s.seed, s.act)
    np.testing.assert_array_equal(a.W, b.W)
    np.testing.assert_array_equal(a.A, b.A)
    assert (a.sigma, a.scheme, a.seed, a.activation) == (s.sigma, s.scheme, s.seed, s.act)
    assert (a.d, a.m, a.d_out) == (s.d, s.m, s.q)
    assert set(np.unique(a.A)) <= {-1.0, 1.0}
    other = nk.init_params(s.d, s.m, s.q, s.sigma, s.scheme, s.seed + 1, s.act)
    assert not np.array_equal(a.W, other.W)


def test_d_out_defaults_to_d():
    assert nk.init_params(3, 4).d_out == 3


def test_iid_init_distribution():
    """w_r ~ N(0, σ²I) and a ~ Uniform{±1}: sample moments at m = 20000 (5σ-of-the-estimate margins)."""
    sigma, m = 0.7, 20000
    p = nk.init_params(3, m, d_out=2, sigma=sigma, seed=11)
    std_err = sigma * np.sqrt(2 / (3 * m))   # standard error of the sample std
    assert abs(p.W.std() - sigma) <= 5 * std_err
    assert abs(p.W.mean()) <= 5 * sigma / np.sqrt(3 * m)
    assert abs(p.A.mean()) <= 5 / np.sqrt(2 * m)
    assert abs(np.corrcoef(p.W[0], p.A[0])[0, 1]) <= 5 / np.sqrt(m)


def test_with_W_does_not_mutate():
    p = nk.init_params(2, 4, seed=1)
    W0 = p.W.copy()
    q = p.with_W(np.zeros_like(p.W))
    np.testing.assert_array_equal(p.W, W0)
    assert q.A is p.A and q.seed == p.seed and q.scheme == p.scheme


# ------------------------------------------------------------------------------------------ loss and GD
@given(spec=specs())
def test_loss_is_half_squared_residual(spec):
    c = build(spec)
    E = nk.residual(c.p, c.X, c.Y, c.kappa)
    np.testing.assert_array_equal(E, nk.forward(c.p, c.X, c.kappa) - c.Y)
    assert nk.loss(c.p, c.X, c.Y, c.kappa) == pytest.approx(0.5 * np.sum(E**2), rel=4 * E.size * EPS)


def check_gd_step_descends(c):
    """gd_step is W − η∇L, and for small η it decreases L at the first-order rate: some η on a halving grid
    gives (L − L⁺)/(η‖∇L‖²) within 1% of 1 (a wrong gradient gives ⟨∇L, g⟩/‖g‖² ≠ 1, a wrong sign −1)."""
    p, X, Y, k = c.p, c.X, c.Y, c.kappa
    g = nk.gradient(p, X, Y, k)
    L0 = nk.loss(p, X, Y, k)
    g2 = float(np.sum(g * g))
    eta0 = 1.0 / (1.0 + p.m * np.linalg.norm(nk.empirical_ntk(p, X, kappa=k), 2))
    ratios = []
    for t in range(48):
        eta = eta0 * 2.0**-t
        q = nk.gd_step(p, X, Y, eta, k)
        np.testing.assert_array_equal(q.W, p.W - eta * g)
        L1 = nk.loss(q, X, Y, k)
        ratios.append((L0 - L1) / (eta * g2))
        if abs(ratios[-1] - 1) < 0.01:
            assert L1 < L0
            return
    raise AssertionError(f"no step on the grid descends at the first-order rate; ratios {ratios[:12]} ...")


@given(spec=specs(mods=("none", "zero", "shift")))
@hard_examples()
def test_gd_step_decreases_loss(spec):
    c = build(spec)
    g = nk.gradient(c.p, c.X, c.Y, c.kappa)
    # a stationary point (m = 1 softmax, a one-hot softmax, all the mass ~e^{-10³} from the other sign)
    # has nothing to decrease that float64 can see: the first-order decrease η‖∇L‖² at the grid's
    # largest step must be resolvable in L (1e-9·L leaves the 1% ratio test 10⁵ε of room)
    eta0 = 1.0 / (1.0 + c.p.m * np.linalg.norm(nk.empirical_ntk(c.p, c.X, kappa=c.kappa), 2))
    assume(eta0 * float(np.sum(g * g)) > 1e-9 * nk.loss(c.p, c.X, c.Y, c.kappa))
    check_gd_step_descends(c)


# ------------------------------------------------------------------------------------------ mutations
def _vjp_without_mean(self, S, C):
    """G1 with the −⟨C,S⟩ term of the softmax Jacobian dropped."""
    return C * (S[:, None, :] if C.ndim == 3 else S)


def _tangent_without_mean(self, S, A, out=None):
    """P = S_r a_r: the tangent feature with the −⟨a,S⟩ term dropped."""
    return np.multiply(A[None, :, :], S[:, None, :], out=out)


def _features_without_max(self, Z):
    """The softmax without the max subtraction (exp of large logits overflows)."""
    E = np.exp(Z)
    E = E / E.sum(axis=-1, keepdims=True)
    return E, E


def _ntk_without_scale(orig):
    def ntk(params, X1, X2=None, kappa=None):
        k = params.m if kappa is None else kappa
        return orig(params, X1, X2, kappa) * params.m / k**2
    return ntk


def _ntk_swapped_order(orig):
    """H with rows/columns ordered (ℓ, i) instead of (i, ℓ)."""
    def ntk(params, X1, X2=None, kappa=None):
        H = orig(params, X1, X2, kappa)
        q = params.d_out
        n1, n2 = H.shape[0] // q, H.shape[1] // q
        return H.reshape(n1, q, n2, q).transpose(1, 0, 3, 2).reshape(H.shape).copy()
    return ntk


def _tangent_swapped_order(orig):
    def tf(params, X):
        P = orig(params, X)
        q = params.d_out
        return P.reshape(-1, q, params.m).transpose(1, 0, 2).reshape(P.shape).copy()
    return tf


GENERIC = Spec(n=3, d=3, q=2, m=6, sigma=1.0, seed=1)


@pytest.mark.parametrize("check", [check_gradient_matches_mp, check_gd_conserves_weight_sum],
                         ids=lambda f: f.__name__)
def test_mutation_dropped_softmax_mean_in_vjp_is_caught(monkeypatch, check):
    """The gradient path (Softmax.vjp) without −⟨C,S⟩."""
    c = build(GENERIC)
    check(c)
    monkeypatch.setattr(Softmax, "vjp", _vjp_without_mean)
    with pytest.raises(AssertionError):
        check(c)


@pytest.mark.parametrize("check", [check_ntk_matches_mp, check_tangent_features, check_rows_of_P_sum_to_zero],
                         ids=lambda f: f.__name__)
def test_mutation_dropped_softmax_mean_in_tangent_is_caught(monkeypatch, check):
    """The NTK path (Softmax.tangent, P = S_r(a_r − ⟨a,S⟩)) without −⟨a,S⟩."""
    c = build(GENERIC)
    check(c)
    monkeypatch.setattr(Softmax, "tangent", _tangent_without_mean)
    with pytest.raises(AssertionError):
        check(c)


def test_mutation_dropped_softmax_mean_is_self_consistent(monkeypatch):
    """Internal consistency (H = JJᵀ/m, symmetric, PSD, blocks) cannot see a wrong tangent feature: that
    is why the references (mpmath twins, autograd) exist."""
    monkeypatch.setattr(Softmax, "tangent", _tangent_without_mean)
    check_ntk_structure(build(GENERIC))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_mutation_missing_max_subtraction_is_caught(monkeypatch):
    monkeypatch.setattr(Softmax, "features", _features_without_max)
    # invisible at moderate logits ...
    check_forward_matches_mp(build(GENERIC))
    # ... caught by the pinned hard cases and by the finiteness property
    for spec in (s for s in HARD if s.mod in ("ahead", "pm", "shift")):
        with pytest.raises(AssertionError):
            check_forward_matches_mp(build(spec))
    with pytest.raises(AssertionError):
        check_softmax_finite(np.array([[1e3, 0.0, -1e3]]), np.array([[1.0]]), np.array([[1.0, -1.0, 1.0]]))


def test_mutation_dropped_ntk_scale_is_caught(monkeypatch):
    monkeypatch.setattr(nk, "empirical_ntk", _ntk_without_scale(nk.empirical_ntk))
    c = build(GENERIC)  # κ = m = 6: κ²/m = 6
    for check in (check_ntk_matches_mp, check_ntk_structure):
        with pytest.raises(AssertionError):
            check(c)
    check_ntk_matches_mp(build(GENERIC._replace(kappa="sqrt")))  # κ²/m = 1: the mutation is invisible


def test_mutation_swapped_order_is_caught(monkeypatch):
    c = build(GENERIC)
    with monkeypatch.context() as mp:
        mp.setattr(nk, "empirical_ntk", _ntk_swapped_order(nk.empirical_ntk))
        for check in (check_ntk_matches_mp, check_ntk_structure):
            with pytest.raises(AssertionError):
                check(c)
    monkeypatch.setattr(nk, "tangent_features", _tangent_swapped_order(nk.tangent_features))
    with pytest.raises(AssertionError):
        check_tangent_features(c)


def test_mutation_wrong_gradient_sign_is_caught(monkeypatch):
    c = build(GENERIC)
    orig = nk.network.gradient
    flipped = lambda *a, **k: -orig(*a, **k)  # noqa: E731
    monkeypatch.setattr(nk.network, "gradient", flipped)   # what gd_step calls
    monkeypatch.setattr(nk, "gradient", flipped)           # what the property calls
    with pytest.raises(AssertionError):
        check_gd_step_descends(c)


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_activation_recorded(act):
    assert nk.init_params(2, 4, activation=act).activation == act


# ------------------------------------------------------------------------------------------ numerical extremes
@pytest.mark.parametrize("kappa", [1.5e154, 1e200])
def test_ntk_finite_for_a_huge_kappa(kappa):
    """κ²/m overflows for κ > 1.3e154 (κ = 1.5e154 gave inf/NaN everywhere); H itself is finite here
    (|P| ≤ 1/2, so |H| ≤ κ²/4·… ≈ 1.6e307 at κ = 1.5e154 — and at κ = 1e200 the entries that overflow in
    exact arithmetic are inf, the others finite).  Against the twin: finite entries to REL_TOL relative,
    infinite ones infinite, no NaN."""
    c = build(Spec(n=3, d=2, q=2, m=4, seed=0, data="sphere"))
    with np.errstate(over="ignore"):
        for X2 in (None, c.X[:2]):
            H = nk.empirical_ntk(c.p, c.X, X2, kappa=kappa)
            H_mp = nk.to_float(nk.empirical_ntk_mp(c.p, c.X, X2, kappa=kappa))
            assert not np.any(np.isnan(H))
            fin = np.isfinite(H_mp)
            np.testing.assert_array_equal(H[~fin], H_mp[~fin])
            assert normwise_error(H[fin], H_mp[fin]) <= REL_TOL
            if kappa < 1e200:
                assert fin.all()


# ------------------------------------------------------------------------------------------ memory
def test_ntk_computes_P_once_when_X2_is_X(monkeypatch):
    """empirical_ntk(X, X) — X2 the same object or equal content — takes the symmetric path: one
    symmetric_ntk call (P formed once, in its row blocks), no tangent_features call (and the result is
    H(X) exactly); a different X2 forms P twice."""
    c = build(Spec(n=5, d=3, q=2, m=8, seed=2))
    H = nk.empirical_ntk(c.p, c.X, kappa=c.kappa)
    calls = []
    orig, orig_sym = nk.network.tangent_features, nk.network.symmetric_ntk
    monkeypatch.setattr(nk.network, "tangent_features", lambda *a: calls.append("P") or orig(*a))
    monkeypatch.setattr(nk.network, "symmetric_ntk", lambda *a: calls.append("sym") or orig_sym(*a))
    for X2 in (c.X, c.X.copy(), c.X.tolist()):
        calls.clear()
        np.testing.assert_array_equal(nk.empirical_ntk(c.p, c.X, X2, kappa=c.kappa), H)
        assert calls == ["sym"], calls
    calls.clear()
    nk.empirical_ntk(c.p, c.X, c.X[:3], kappa=c.kappa)
    assert calls == ["P", "P"]


def test_ntk_peak_memory_d_out_1():
    """The d' = 1 path holds H and P and no n×n Gram matrix (it is formed in row blocks of
    GRAM_BLOCK_BYTES): numpy's allocations (tracemalloc) peak at most at H + 2P (P and the features'
    buffers, which are freed before H exists, bound each stage) + two Gram blocks (the block and numpy's
    buffer for the broadcast product) + 1 MiB.  Measured: 36 MiB (H + P) against a 45 MiB budget; the
    old path held H + P + an n×n Gram: 68 MiB."""
    import tracemalloc
    from ntkcheck.core.network import GRAM_BLOCK_BYTES
    n, m = 2048, 256
    X = nk.sphere(n, 4, seed=0)
    p = nk.init_params(4, m, 1, seed=0)
    H_bytes, P_bytes = 8 * n * n, 8 * n * m
    tracemalloc.start()
    try:
        H = nk.empirical_ntk(p, X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert H.nbytes == H_bytes
    budget = H_bytes + 2 * P_bytes + 2 * GRAM_BLOCK_BYTES + (1 << 20)
    assert peak <= budget, f"peak {peak / 2**20:.1f} MiB > budget {budget / 2**20:.1f} MiB"


def test_calls_beyond_available_memory_are_refused(monkeypatch):
    """An NTK of 10⁶ samples needs 8 TB for H: refused up front with a one-line ValueError naming the sizes
    (the old code went on to allocate and raised numpy's MemoryError, or was killed)."""
    X = np.zeros((10**6, 1))
    p = nk.init_params(1, 2, 1, seed=0)
    with pytest.raises(ValueError, match=r"empirical_ntk \(n1 = 1000000.*H 7.28 TiB.*available") as info:
        nk.empirical_ntk(p, X)
    assert "\n" not in str(info.value)
    # the check reads the available memory: with 1 MiB "available", a 2 MiB NTK is refused too
    import ntkcheck.core.validate as V
    monkeypatch.setattr(V, "available_memory", lambda: 1 << 20)
    X = nk.sphere(512, 2, seed=0)
    with pytest.raises(ValueError, match="empirical_ntk .*H 2 MiB"):
        nk.empirical_ntk(nk.init_params(2, 4, 1, seed=0), X)
    with pytest.raises(ValueError, match="tangent_features"):
        nk.tangent_features(nk.init_params(2, 1024, 1, seed=0), X)
    monkeypatch.setattr(V, "available_memory", lambda: None)      # unknown: no check
    nk.empirical_ntk(nk.init_params(2, 4, 1, seed=0), X)
