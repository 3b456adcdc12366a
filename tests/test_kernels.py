"""ntkcheck.core.kernels: the infinite-width kernel K of G5 and H* = K ⊗ I_{d'}, against the 50-digit twin, an
independent closed form, the Hadamard series of G6, and finite-width empirical NTKs (G5's limit)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import ntkcheck as nk
from conftest import EPS, REL_TOL, normwise_error

# K = G∘exp(σ²G): an entry's error is that of g = ⟨x,y⟩ (≤ d·ε, |g| ≤ 1) amplified by 1 + σ²|g| ≤ 101 for
# σ ≤ 10, plus the exp's own ε: ≈ 101·(d + 2)ε ≈ 1.3e-13 for d ≤ 4, relative to max|K| ≥ |K_ii|.  REL_TOL
# (1e-11, conftest) is ~80× above that.


@st.composite
def kernel_problems(draw):
    n1, n2, d = draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    make = nk.sphere if draw(st.booleans()) else nk.ball
    sigma = 10.0 ** draw(st.floats(-3.0, 1.0))
    return make(n1, d, seed=seed), make(n2, d, seed=seed + 1), sigma


EXAMPLES = [  # σ at both ends, n = 1, d = 1, orthogonal inputs (g = 0), antipodal inputs (g = −1)
    (np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[0.6, -0.8]]), 10.0),
    (np.array([[1.0]]), np.array([[-1.0]]), 1e-3),
    (np.array([[1.0, 0.0, 0.0]]), np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]]), 10.0),
]


def _pin(fn):
    for e in EXAMPLES:
        fn = example(problem=e)(fn)
    return fn


def check_limit_kernel(X1, X2, sigma):
    K = nk.limit_kernel(X1, X2, sigma=sigma)
    assert K.shape == (X1.shape[0], X2.shape[0])
    K_mp = nk.to_float(nk.limit_kernel_mp(X1, X2, sigma=sigma, dps=50))
    assert normwise_error(K, K_mp) <= REL_TOL
    # the closed form, written out independently of proofs/ntk_limit.py
    G = X1 @ X2.T
    assert normwise_error(K, G * np.exp(sigma**2 * G)) <= REL_TOL


@given(problem=kernel_problems())
@_pin
def test_limit_kernel_matches_mp_and_closed_form(problem):
    check_limit_kernel(*problem)


@given(problem=kernel_problems(), q=st.integers(1, 3))
@example(problem=EXAMPLES[0], q=3)
@example(problem=EXAMPLES[1], q=1)
def test_limit_ntk_is_kron_K_identity(problem, q):
    X1, X2, sigma = problem
    K = nk.limit_kernel(X1, X2, sigma=sigma)
    Hs = nk.limit_ntk(X1, X2, sigma=sigma, d_out=q)
    np.testing.assert_array_equal(Hs, np.kron(K, np.eye(q)))
    # entry by entry from the definition H*_{(i,ℓ₁),(j,ℓ₂)} = K_ij δ_{ℓ₁ℓ₂}, rows (i, ℓ) row-major
    for i in range(X1.shape[0]):
        for j in range(X2.shape[0]):
            for l1 in range(q):
                for l2 in range(q):
                    assert Hs[i * q + l1, j * q + l2] == (K[i, j] if l1 == l2 else 0.0)


@given(problem=kernel_problems())
@_pin
def test_call_shape_and_blocks(problem):
    """Same call shape as empirical_ntk: X2=None means X1; a cross block is a block of the stacked kernel."""
    X1, X2, sigma = problem
    n1 = X1.shape[0]
    np.testing.assert_array_equal(nk.limit_kernel(X1, sigma=sigma), nk.limit_kernel(X1, X1, sigma=sigma))
    np.testing.assert_array_equal(nk.limit_ntk(X1, sigma=sigma, d_out=2), nk.limit_ntk(X1, X1, sigma=sigma, d_out=2))
    Kall = nk.limit_kernel(np.vstack([X1, X2]), sigma=sigma)
    assert normwise_error(nk.limit_kernel(X1, X2, sigma=sigma), Kall[:n1, n1:]) <= REL_TOL
    K = nk.limit_kernel(X1, sigma=sigma)
    np.testing.assert_allclose(K, K.T, rtol=0, atol=REL_TOL * np.abs(K).max())


@given(problem=kernel_problems())
@_pin
def test_hadamard_series(problem):
    """G6: K = Σ_k (σ^{2k}/k!) G^{∘(k+1)}; the series truncated where its tail is below ε·max|K| agrees,
    and on one point set K ⪰ 0 (Schur product theorem) up to eigensolver rounding."""
    X1, _, sigma = problem
    G = X1 @ X1.T
    total, Gk, coef = np.zeros_like(G), G.copy(), 1.0
    for k in range(1, 1000):
        total += coef * Gk
        coef *= sigma**2 / k            # σ^{2k}/k!, by recursion (no overflow of σ^{2k})
        Gk = Gk * G
        # stop when the next term is negligible and the coefficients shrink by ≥ 2 per step (|G| ≤ 1), so
        # that the whole tail is at most twice the next term
        if coef * np.abs(Gk).max() <= 1e-3 * EPS * np.abs(total).max() and sigma**2 < 0.5 * (k + 1):
            break
    K = nk.limit_kernel(X1, sigma=sigma)
    assert normwise_error(K, total) <= REL_TOL
    lam = np.linalg.eigvalsh(K)
    assert lam[0] >= -8 * K.shape[0] * EPS * max(lam[-1], 0.0)


def test_empirical_ntk_approaches_limit():
    """G5: with κ = m and the iid init, H(W(0)) → K ⊗ I.  On 4 unit vectors in R³, σ = 0.5, d' = 2, 8 seeds:
    the mean relative spectral error falls from m = 2⁸ to 2¹⁴ (measured 0.14 → 0.017, ≈ m^{−1/2}) and is
    below 0.05 at m = 2¹⁴."""
    X = nk.sphere(4, 3, seed=1)
    Hs = nk.limit_ntk(X, sigma=0.5, d_out=2)
    nrm = np.linalg.norm(Hs, 2)

    def err(m):
        return np.mean([np.linalg.norm(nk.empirical_ntk(nk.init_params(3, m, 2, 0.5, seed=s), X) - Hs, 2) / nrm
                        for s in range(8)])

    e_small, e_large = err(2**8), err(2**14)
    assert e_large < 0.05
    assert e_large < e_small / 4   # √(2¹⁴/2⁸) = 8: a generous fraction of the m^{-1/2} rate


def test_wrong_limit_kernel_is_detected():
    """The comparison can fail: σ² replaced by σ in the exponent."""
    X1, X2, sigma = EXAMPLES[0]
    G = X1 @ X2.T
    with pytest.raises(AssertionError):
        assert normwise_error(nk.limit_kernel(X1, X2, sigma=sigma), G * np.exp(sigma * G)) <= REL_TOL


# ------------------------------------------------------------------------------------------ numerical extremes
def _entrywise_rel(K, K_mp, rtol):
    """Every entry within rtol relative of the mpmath value rounded to float64 (0 where that is 0, inf
    where it overflows); no NaN."""
    assert not np.any(np.isnan(K)), K
    inf = np.isinf(K_mp)
    np.testing.assert_array_equal(K[inf], K_mp[inf])
    np.testing.assert_allclose(K[~inf], K_mp[~inf], rtol=rtol, atol=0)


@pytest.mark.parametrize("activation", ["exp", "softmax"])
@pytest.mark.parametrize("sigma", [10.0, 40.0, 200.0])
def test_exponential_kernels_with_a_zero_input(activation, sigma):
    """A zero input gives K = ⟨0,y⟩·exp(…) = 0 exactly, also where exp(σ²‖y‖²/2) overflows (σ = 40: e^{800};
    was 0·inf = NaN); other entries match mpmath (inf only where the exact value overflows).  Tolerance:
    the exponent σ²(q + 2g)/2 ≤ 2σ² carries an absolute error ~4σ²ε, i.e. a relative error of exp of
    ~4σ²ε ≈ 1.4e-12 at σ = 40 and 3.6e-11 at σ = 200; 64σ²ε leaves 16× room."""
    X = np.array([[0.0, 0.0], [0.6, 0.8], [1e-3, 0.0], [-0.6, -0.8]])
    K = nk.limit_kernel(X, sigma=sigma, activation=activation)
    assert np.all(K[0] == 0) and np.all(K[:, 0] == 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # float(mpf) of a value beyond the range: inf
        K_mp = nk.to_float(nk.closed_form_kernel_mp(X, sigma=sigma, activation=activation))
    _entrywise_rel(K, K_mp, 64 * sigma**2 * EPS)


def test_exp_kernel_finite_where_the_product_is():
    """g tiny and exp(exponent) beyond the float range: K = g·e^{…} is representable (~1e-300·e^{800}
    ≈ 1e47) and must not be formed as 0·inf or 1e-300·inf."""
    X = np.array([[1e-300, 0.0]])
    Y = np.array([[1.0, 0.0]])
    K = nk.limit_kernel(X, Y, sigma=40.0, activation="exp")
    K_mp = nk.to_float(nk.closed_form_kernel_mp(X, Y, sigma=40.0, activation="exp"))
    assert np.isfinite(K_mp).all() and K_mp[0, 0] > 1e40
    _entrywise_rel(K, K_mp, 64 * 40.0**2 * EPS)


@pytest.mark.parametrize("scale", [1.0, 1e-77, 1e-100, 1e-150])
@pytest.mark.parametrize("t", [1e-3, 0.3, 1.5, 3.0])
def test_relu_kernel_for_tiny_inputs(scale, t):
    """K_relu = ⟨x,y⟩(π − θ)/(2π) is homogeneous: the angle must not depend on the scale.  At ‖x‖ = 1e-100
    the angle from the unnormalized x‖y‖ − y‖x‖ underflowed (22× off at t = 3); the inputs are normalized
    first now.  Against the mpmath closed form (angle from Lagrange's identity), 16ε relative."""
    X = scale * np.array([[1.0, 0.0]])
    Y = scale * np.array([[np.cos(t), np.sin(t)]])
    K = nk.limit_kernel(X, Y, activation="relu")
    K_mp = nk.to_float(nk.closed_form_kernel_mp(X, Y, activation="relu"))
    np.testing.assert_allclose(K, K_mp, rtol=16 * EPS, atol=0)
