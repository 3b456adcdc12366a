"""ntkcheck.core.precise: the mpmath twins are references, so they are checked against literal values derived
by hand, against themselves at higher precision, and for precision hygiene (always local, never leaked)."""
from __future__ import annotations

import warnings

import mpmath
import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

import ntkcheck as nk
import ntkcheck.core.precise as nkp
from conftest import EPS, Spec, build, extreme_specs, hard_examples, magnitudes, specs

# Twins at 50 digits against themselves at 80: they must agree to what 50 digits can carry after the
# sums and products of these small sizes lose a few digits (m ≤ 12 terms): 1e-45 leaves 5 digits of room.
TWIN_SELF_TOL = mpmath.mpf("1e-45")


# ------------------------------------------------------------------------------------------ literal values
def test_literal_values_at_equal_logits():
    """W = 0, m = 4, a = (1, 1, 1, −1), x = 1/2, κ = m = 4, y = 0.  By hand (the book's Setting–G1–G6 parts):
    S = 1/4 each; ⟨a,S⟩ = 1/2; F = κ⟨a,S⟩ = 2;  ∂F/∂w_r = κ S_r(a_r − 1/2) x = (1/4, 1/4, 1/4, −3/4);
    ∇L = e·∂F = 2·(1/4, 1/4, 1/4, −3/4) = (1/2, 1/2, 1/2, −3/2);  H = (1/m) Σ_r (∂F/∂w_r)² = 3/16.
    All exact in binary, so the twins must return them exactly."""
    p = nk.params_from(np.zeros((1, 4)), [[1.0, 1.0, 1.0, -1.0]])
    X, Y = [[0.5]], [[0.0]]
    assert nk.forward_mp(p, X)[0, 0] == 2
    assert list(nk.gradient_mp(p, X, Y)[0]) == [mpmath.mpf(0.5)] * 3 + [mpmath.mpf(-1.5)]
    assert nk.empirical_ntk_mp(p, X)[0, 0] == mpmath.mpf(3) / 16
    # and float64 agrees exactly too (all intermediate values are dyadic)
    assert nk.forward(p, X)[0, 0] == 2.0
    np.testing.assert_array_equal(nk.gradient(p, X, Y), [[0.5, 0.5, 0.5, -1.5]])
    assert nk.empirical_ntk(p, X)[0, 0] == 3 / 16


def test_closed_form_two_neurons():
    """d = d' = 1, m = 2, W = (0, 1), a = (1, −1), x = 1, κ = 2: with s = e/(1+e) = S_2,
    F = 2(1 − 2s), ∂F/∂w_1 = 2(1 − s)(1 − (1 − 2s)) = 4s(1 − s) = −∂F/∂w_2, H = (1/2)·2·(4s(1−s))².
    Evaluated at 60 digits from the formula; the twins at 50 digits must agree to 1e-45."""
    p = nk.params_from([[0.0, 1.0]], [[1.0, -1.0]])
    with mpmath.workdps(60):
        s = mpmath.e / (1 + mpmath.e)
        F = 2 * (1 - 2 * s)
        dF = 4 * s * (1 - s)
        H = dF**2
        y = mpmath.mpf(0.25)
        grad = [(F - y) * dF, -(F - y) * dF]
        assert mpmath.almosteq(nk.forward_mp(p, [[1.0]])[0, 0], F, TWIN_SELF_TOL)
        assert mpmath.almosteq(nk.empirical_ntk_mp(p, [[1.0]])[0, 0], H, TWIN_SELF_TOL)
        g = nk.gradient_mp(p, [[1.0]], [[0.25]])[0]
        assert all(mpmath.almosteq(a, b, TWIN_SELF_TOL) for a, b in zip(g, grad))
        # the limit kernel: K(x, y) = ⟨x,y⟩ exp(σ²⟨x,y⟩) with ⟨x,y⟩ = 1/2 (exact in binary), σ = 1/2
        K = nk.limit_kernel_mp([[1.0, 0.0]], [[0.5, 0.25]], sigma=0.5)[0, 0]
        assert mpmath.almosteq(K, mpmath.exp(mpmath.mpf(1) / 8) / 2, TWIN_SELF_TOL)


def test_twin_handles_huge_logits_without_max_subtraction():
    """mpmath has no overflow: exp(1e300) is an ordinary mpf, so the definition-following twin gives the
    softmax's limit values: S = (1, 0, 0) → F = κ·a₁ = 3."""
    p = nk.params_from([[1e300, -1e300, 0.0]], [[1.0, -1.0, 1.0]])
    assert mpmath.almosteq(nk.forward_mp(p, [[1.0]])[0, 0], 3, mpmath.mpf("1e-45"))
    assert nk.forward(p, [[1.0]])[0, 0] == 3.0


# ------------------------------------------------------------------------------------------ precision
@given(spec=specs(max_n=3, max_d=3, max_q=2, max_m=6))
@hard_examples(acts=("softmax", "relu"))
def test_twins_converge_in_precision(spec):
    """50 digits against 80, relative to the magnitude of the summed terms (a result that cancels to zero,
    like the symmetric init's output, has no relative precision of its own)."""
    c = build(spec)
    mag = magnitudes(c)
    for fn, args, key in ((nk.forward_mp, (c.p, c.X, c.kappa), "F"),
                          (nk.gradient_mp, (c.p, c.X, c.Y, c.kappa), "grad"),
                          (nk.empirical_ntk_mp, (c.p, c.X, None, c.kappa), "H")):
        lo, hi = fn(*args, dps=50), fn(*args, dps=80)
        assert lo.dtype == object and lo.shape == hi.shape
        with mpmath.workdps(100):
            diff = max(abs(mpmath.mpf(a) - mpmath.mpf(b)) for a, b in zip(lo.ravel(), hi.ravel()))
            scale = max(max(abs(mpmath.mpf(b)) for b in hi.ravel()), mpmath.mpf(mag[key]))
            assert diff <= TWIN_SELF_TOL * scale, (fn.__name__, diff, scale)


def test_precision_is_local():
    c = build(Spec())
    with mpmath.workdps(20):
        F = nk.forward_mp(c.p, c.X, dps=70)
        nk.gradient_mp(c.p, c.X, c.Y, dps=70)
        nk.empirical_ntk_mp(c.p, c.X, dps=70)
        nk.limit_kernel_mp(c.X, dps=70)
        nk.eigvalsh_mp(np.eye(2), dps=70)
        assert mpmath.mp.dps == 20
    # the values carry the requested precision, not the caller's
    assert F[0, 0] == nk.forward_mp(c.p, c.X, dps=70)[0, 0]
    assert F[0, 0] != nk.forward_mp(c.p, c.X, dps=20)[0, 0]


def test_to_float():
    with mpmath.workdps(50):
        a = np.array([[mpmath.mpf(1) / 3, mpmath.mpf("1e-400")], [mpmath.mpf("-2.5"), mpmath.mpf(10) ** 400]],
                     dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy reports the overflow of 10^400 to inf
        f = nk.to_float(a)
    assert f.dtype == np.float64 and f.shape == (2, 2)
    np.testing.assert_array_equal(f, [[1 / 3, 0.0], [-2.5, np.inf]])


# ------------------------------------------------------------------------------------------ eigenvalues
@given(n=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_eigvalsh_mp_matches_numpy_when_well_conditioned(n, seed):
    B = np.random.default_rng(seed).standard_normal((n, n))
    K = B @ B.T + n * np.eye(n)
    ev = nk.eigvalsh_mp(K, dps=40)
    assert len(ev) == n and all(a <= b for a, b in zip(ev, ev[1:]))
    # Weyl: float64 eigvalsh is backward stable, |λ − λ̂| ≤ c·n·ε·‖K‖
    np.testing.assert_allclose([float(v) for v in ev], np.linalg.eigvalsh(K), rtol=0,
                               atol=8 * n * EPS * np.linalg.norm(K, 2))


def test_lambda_min_below_float64_resolution_is_decided_by_mpmath():
    """the book's G1–G6 part G6: on 18 unit vectors in R² with σ = 0.1, λ_min(K) (≈ 3e-28 for this draw) lies far below
    float64's resolution n·ε·‖K‖ (≈ 5e-14), where float64 eigvalsh returns a negative number; the 100-digit
    twin resolves it (positive), and 130 digits agree with 100 to 1e-40 relative, so the value is not a
    rounding artefact."""
    X = nk.sphere(18, 2, seed=0)
    K = nk.limit_kernel(X, sigma=0.1)
    res = 18 * EPS * np.linalg.norm(K, 2)
    assert abs(np.linalg.eigvalsh(K)[0]) <= 4 * res
    lam100 = nk.eigvalsh_mp(nk.limit_kernel_mp(X, sigma=0.1, dps=100), dps=100)[0]
    lam130 = nk.eigvalsh_mp(nk.limit_kernel_mp(X, sigma=0.1, dps=130), dps=130)[0]
    with mpmath.workdps(130):
        assert 0 < lam100 < res * 1e-3
        assert mpmath.almosteq(lam100, lam130, mpmath.mpf("1e-40"))


# ------------------------------------------------------------------------------------------ bad input
def test_twins_reject_bad_input():
    c = build(Spec(n=2, d=2, q=2))
    with pytest.raises(ValueError, match="X has 3 columns"):
        nk.forward_mp(c.p, np.ones((2, 3)))
    with pytest.raises(ValueError, match="kappa"):
        nk.forward_mp(c.p, c.X, kappa=0.0)
    with pytest.raises(ValueError, match="Y has 3 columns"):
        nk.gradient_mp(c.p, c.X, np.ones((2, 3)))
    with pytest.raises(ValueError, match="X2 has 3 columns"):
        nk.empirical_ntk_mp(c.p, c.X, np.ones((2, 3)))
    with pytest.raises(ValueError, match="sigma"):
        nk.limit_kernel_mp(c.X, sigma=-1.0)
    with pytest.raises(ValueError, match="non-finite"):
        nk.forward_mp(c.p, [[np.nan, 0.0]])


@pytest.mark.parametrize("rows", [1, 3])
def test_gradient_mp_rejects_mismatched_rows(rows):
    c = build(Spec(n=2, d=2, q=2))
    with pytest.raises(ValueError, match="rows"):
        nk.gradient_mp(c.p, c.X, np.zeros((rows, 2)))


# ------------------------------------------------------------------------------------------ two routes
def _rel(a, b) -> float:
    """max|a − b| / max|b| in mpmath (both object arrays of mpf)."""
    with mpmath.workdps(60):
        den = max(abs(mpmath.mpf(v)) for v in b.ravel())
        return float(max(abs(mpmath.mpf(x) - mpmath.mpf(y)) for x, y in zip(a.ravel(), b.ravel())) / den)


@given(spec=extreme_specs())
@example(spec=Spec(mod="ahead", gap=1e3, data="sphere", n=2, d=2, q=3, m=5))
@example(spec=Spec(mod="ahead", gap=40.0, data="sphere", n=1, d=1, q=1, m=2))
@example(spec=Spec(sigma=200.0, n=3, d=2, q=2, m=6, seed=4))
def test_twin_routes_agree(spec):
    """The twins' centred signs over the common denominator α against the literal subtraction of the
    G1/G4 exports at dps + ⌈range/ln 10⌉ + 10 digits: two independent routes to 1e-25 (dps = 30)."""
    c = build(spec)
    # rows of equal signs give the exact value 0 (the α route) against rounding noise (the subtraction):
    # no relative error to compare unless some row has both signs
    assume(bool(np.any(np.ptp(c.p.A, axis=1) > 0)))
    for fn, args in ((nk.gradient_mp, (c.p, c.X, c.Y, c.kappa)), (nk.empirical_ntk_mp, (c.p, c.X, None, c.kappa))):
        a = fn(*args, dps=30)
        b = fn(*args, dps=30, definition=True)
        assume(any(v != 0 for v in b.ravel()))
        assert _rel(a, b) <= 1e-25, (fn.__name__, _rel(a, b), spec)


def test_literal_subtraction_needs_the_adapted_digits():
    """The old twin: the literal subtraction at a fixed 50 digits.  At a logit gap of 10³ (434 digits of
    cancellation) it returns 0 or noise for a tangent feature ≈ 2e^{-10³}·…, i.e. it was no reference; at the
    adapted digits it agrees with the α route."""
    p = nk.params_from([[0.0, -1000.0, 1.0]], [[1.0, -1.0, 1.0]])
    X, Y = [[1.0]], [[0.5]]
    with mpmath.workdps(50):
        _, P50, _, _ = nkp._features(p, X, definition=True)[0]
        _, Pa, _, _ = nkp._features(p, X)[0]
        # neuron 0 (a = +1, the mass on neurons 0 and 2 of sign +1): P = 2S₀S₋ ≈ 2e^{-10³}/(1 + e)² > 0;
        # the subtraction 1 − ⟨a,S⟩ at 50 digits gives 0 or rounding noise: relative error ≥ 1
        assert Pa[0][0] > 0
        assert abs(P50[0][0] - Pa[0][0]) >= abs(Pa[0][0])
    good = nk.gradient_mp(p, X, Y, dps=30, definition=True)
    assert _rel(nk.gradient_mp(p, X, Y, dps=30), good) <= 1e-25
    assert good[0, 0] != 0


# ------------------------------------------------------------------------------------------ dps, eigvalsh_mp
@pytest.mark.parametrize("dps", [0, 14, -5, 30.0, True, "50", None])
def test_dps_validated(dps):
    c = build(Spec(n=2, d=2, q=2))
    for fn in (lambda: nk.forward_mp(c.p, c.X, dps=dps), lambda: nk.gradient_mp(c.p, c.X, c.Y, dps=dps),
               lambda: nk.empirical_ntk_mp(c.p, c.X, dps=dps), lambda: nk.limit_kernel_mp(c.X, dps=dps),
               lambda: nk.eigvalsh_mp(np.eye(2), dps=dps)):
        with pytest.raises(ValueError, match="dps must be an integer >= 15"):
            fn()


@pytest.mark.parametrize("K, words", [
    ([[1.0, 5.0], [0.0, 1.0]], "symmetric"),           # returned [-4, 6] before
    (np.ones((2, 3)), "square"),
    (np.ones(3), "square"),
    (np.zeros((0, 0)), "square"),
    ([[1.0, np.nan], [np.nan, 1.0]], "non-finite"),
    ([[np.inf]], "non-finite"),
    ([[1.0, 2j], [2j, 1.0]], "real"),
    ([["1", "0"], ["0", "1"]], "real"),
])
def test_eigvalsh_mp_rejects_bad_input(K, words):
    with pytest.raises(ValueError, match=words):
        nk.eigvalsh_mp(K, dps=30)
