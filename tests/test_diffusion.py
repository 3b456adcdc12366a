"""The application of the book's D1–D6 part (D1–D6): ntkcheck.experiments.diffusion, its checks and its CLI subcommand.

Property tests pin the hard cases with ``@example``: points far from every component (the responsibilities
underflow), tiny t (s_t² → 0), equal components, and d = K = 1.  Every comparison has a stated tolerance:
a float64 rounding bound (``score_rounding_bound`` of the D2 check), or a z-test threshold from the sample
size.  The "detects" tests run the same comparison on a deliberately broken implementation and require it
to fail, so a passing comparison means something.
"""
from __future__ import annotations

import json
from dataclasses import replace
from importlib.util import find_spec
from pathlib import Path
from typing import NamedTuple

import autograd.numpy as anp
import mpmath
import numpy as np
import pytest
from autograd import grad
from autograd.scipy.special import logsumexp
from hypothesis import example, given
from hypothesis import strategies as st
from scipy import stats

from ntkcheck.experiments import diffusion as D
from ntkcheck.plots import diffusion as PD
from ntkcheck.checks import diffusion as CD
from ntkcheck.cli import main
from conftest import assert_claims_state_numbers

EPS = np.finfo(float).eps
# the figures need matplotlib, an optional dependency (pip install -e ".[book]"); without it they are skipped
needs_matplotlib = pytest.mark.skipif(find_spec("matplotlib") is None, reason="matplotlib is not installed "
                                      "(optional: pip install matplotlib)")


# ------------------------------------------------------------------------------------------ problems
class MixSpec(NamedTuple):
    """A mixture and points, as plain values (hypothesis shrinks them; ``@example`` pins them).

    ``points``: "typical" (draws of p_t), "far" (‖x‖ = 10³ in random directions: every responsibility but
    one underflows), "means" (exactly at the time-t means), "between" (midpoints of pairs of means)."""

    d: int = 2
    K: int = 3
    seed: int = 0
    log10_t: float = -0.5
    points: str = "typical"
    equal: bool = False
    log10_v: float | None = None     # every variance 10^this (else random in [1e-3, 3])


def build(spec: MixSpec):
    rng = np.random.default_rng(spec.seed)
    if spec.equal:
        mu = np.repeat(rng.uniform(-3, 3, size=(1, spec.d)), spec.K, axis=0)
        w, v = np.full(spec.K, 1.0 / spec.K), np.full(spec.K, 10.0 ** rng.uniform(-3, 0.5))
    else:
        mix = CD.random_mixture(rng, spec.d, spec.K)
        mu, w, v = mix.means, mix.weights, mix.variances
    if spec.log10_v is not None:
        v = np.full(spec.K, 10.0**spec.log10_v)
    mix = D.mixture(w, mu, v)
    t = 10.0**spec.log10_t
    m, _ = mix.at(t)
    if spec.points == "far":
        x = rng.standard_normal((4, spec.d))
        x = 1e3 * x / np.linalg.norm(x, axis=1, keepdims=True)
    elif spec.points == "means":
        x = m.copy()
    elif spec.points == "between":
        x = 0.5 * (m + np.roll(m, 1, axis=0))
    else:
        x = mix.sample_t(5, t, rng)
    return mix, t, x


@st.composite
def mix_specs(draw):
    return MixSpec(d=draw(st.integers(1, 3)), K=draw(st.integers(1, 4)), seed=draw(st.integers(0, 2**31 - 1)),
                   log10_t=draw(st.floats(-10.0, 0.7)),
                   points=draw(st.sampled_from(("typical", "far", "means", "between"))),
                   equal=draw(st.booleans()))


HARD = (
    MixSpec(points="far", log10_v=-3.0),                  # responsibilities underflow (logits ~ −10⁹)
    MixSpec(points="far", log10_t=-10.0, log10_v=-3.0),   # … and s_t² ≈ 2e−10
    MixSpec(points="typical", log10_t=-10.0),             # tiny t: p_t ≈ p_0
    MixSpec(points="between", equal=True),                # equal components: γ uniform, score symmetric
    MixSpec(d=1, K=1, points="means"),                    # one component, at its mean: score 0
    MixSpec(d=3, K=4, points="between", log10_t=0.7),
)


def pin_hard(fn):
    for s in HARD:
        fn = example(spec=s)(fn)
    return fn


# ------------------------------------------------------------------------------------------ references
def autograd_score(x, t, mix: D.Mixture) -> np.ndarray:
    """∇ log p_t by autograd of a log-density written here from the definition (log-sum-exp of the
    component log-densities), independent of proofs/gmm_score.py."""
    a = np.exp(-t)
    var = a**2 * mix.variances - np.expm1(-2 * t)
    cen = a * mix.means

    def logp(z):
        sq = anp.sum((z[:, None, :] - cen[None, :, :]) ** 2, axis=2)
        ell = anp.log(mix.weights)[None, :] - 0.5 * mix.d * anp.log(2 * np.pi * var)[None, :] - sq / (2 * var)[None, :]
        return anp.sum(logsumexp(ell, axis=1))

    return grad(logp)(np.asarray(x, float))


def mp_score(x, t, mix) -> np.ndarray:
    return np.vectorize(float, otypes=[float])(D.gmm_score_mp(x, t, mix.weights, mix.means, mix.variances))


def excess(got, ref, bound) -> float:
    """max over rows of ‖got − ref‖ / bound (≤ 1 passes)."""
    return float(np.max(np.linalg.norm(np.asarray(got) - ref, axis=1) / bound))


# ------------------------------------------------------------------------------------------ D1
def test_forward_functions_match_mpmath_and_beat_the_naive_form():
    for t in (1e-17, 1e-14, 1e-9, 1e-3, 0.5, 7.0):
        with mpmath.workdps(50):
            s_ref = float(-mpmath.expm1(-2 * mpmath.mpf(t)))
            a_ref = float(mpmath.exp(-mpmath.mpf(t)))
        assert abs(D.noise_var(t) - s_ref) <= 2 * EPS * s_ref
        assert abs(D.mean_scale(t) - a_ref) <= 2 * EPS * a_ref
    # the stable form is needed: 1 − e^{−2t} in float64 is off by 11% at t = 1e−16 (and 0 below 1e−17)
    t = 1e-16
    naive = 1 - np.exp(-2 * t)
    assert abs(naive - D.noise_var(t)) / D.noise_var(t) > 0.1
    assert 1 - np.exp(-2e-17) == 0.0 < D.noise_var(1e-17)


def test_forward_sample_moments():
    """X_t = a_t x0 + s_t ξ: sample mean and variance within 5 standard errors (n = 40000)."""
    n, t = 40_000, 0.7
    x0 = np.tile([2.0, -1.0], (n, 1))
    xt, xi = D.forward_sample(x0, t, 3)
    a, s2 = D.mean_scale(t), D.noise_var(t)
    assert np.all(np.abs(xt.mean(0) - a * x0[0]) <= 5 * np.sqrt(s2 / n))
    assert np.all(np.abs(xt.var(0, ddof=1) - s2) <= 5 * s2 * np.sqrt(2 / (n - 1)))
    np.testing.assert_allclose(xt, a * x0 + np.sqrt(s2) * xi, rtol=0, atol=1e-15)


# ------------------------------------------------------------------------------------------ D2
@pin_hard
@given(spec=mix_specs())
def test_score_matches_autograd(spec):
    mix, t, x = build(spec)
    bound = CD.score_rounding_bound(x, t, mix)
    assert excess(mix.score(x, t), autograd_score(x, t, mix), 2 * bound) <= 1   # both sides round


@pin_hard
@given(spec=mix_specs())
def test_score_matches_mpmath_twin(spec):
    mix, t, x = build(spec)
    assert excess(mix.score(x, t), mp_score(x, t, mix), CD.score_rounding_bound(x, t, mix)) <= 1


def test_stable_score_against_literal_and_naive_form():
    """Far from both components every density underflows in float64."""
    args = ([[40.0]], 0.5, [0.5, 0.5], [[-1.0], [1.0]], [0.1, 0.1])
    # gmm_score_mp at 50 digits (mpmath 1.3, 2024); −(40 − a)/(a²v + s²) at t = 0.5 agrees to 1e−31
    literal = -58.892164125300554672248747621750720297998935653246
    assert abs(float(D.gmm_score_mp(*args)[0, 0]) - literal) <= 1e-15 * abs(literal)
    assert abs(D.gmm_score(*args)[0, 0] - literal) <= 4 * EPS * abs(literal)
    assert np.isnan(D.gmm_score_naive(*args)[0, 0])            # the naive form is measurably worse


def test_log_density_gradient_is_the_score():
    mix = D.default_mixture()
    x, t, h = mix.sample_t(6, 0.3, 5), 0.3, 1e-5
    fd = np.stack([(D.gmm_log_density(x + h * e, t, mix.weights, mix.means, mix.variances)
                    - D.gmm_log_density(x - h * e, t, mix.weights, mix.means, mix.variances)) / (2 * h)
                   for e in np.eye(2)], axis=1)
    np.testing.assert_allclose(fd, mix.score(x, t), rtol=1e-7, atol=1e-7)


def _broken_scores():
    """Deliberately wrong scores: each drops or alters one ingredient of D2."""
    def no_time_scaling(x, t, mix):        # means not multiplied by a_t
        return D.gmm_score(x, t, mix.weights, mix.means / D.mean_scale(t), mix.variances)

    def prior_weights_only(x, t, mix):     # γ_k = π_k instead of the posterior responsibility
        m, s2 = mix.at(t)
        return -np.einsum("k,nkd->nd", mix.weights, (x[:, None, :] - m[None]) / s2[None, :, None])

    def wrong_variance(x, t, mix):         # σ_k² = s_t² (forgets a_t² v_k)
        m, _ = mix.at(t)
        comp = -(x[:, None, :] - m[None]) / D.noise_var(t)
        g = np.full((len(x), mix.K), 1.0 / mix.K)
        return np.einsum("nk,nkd->nd", g, comp) + 0 * D.gmm_score(x, t, mix.weights, mix.means, mix.variances)

    return {"no_time_scaling": no_time_scaling, "prior_weights_only": prior_weights_only,
            "wrong_variance": wrong_variance}


@pytest.mark.parametrize("name", sorted(_broken_scores()))
def test_comparisons_detect_a_broken_score(name):
    """The autograd and mpmath comparisons fail for each broken score on some pinned case."""
    broken = _broken_scores()[name]
    worst_ag = worst_mp = 0.0
    for spec in HARD + (MixSpec(seed=3), MixSpec(d=1, K=2, seed=8)):
        mix, t, x = build(spec)
        bound = CD.score_rounding_bound(x, t, mix) + 1e-300
        worst_ag = max(worst_ag, excess(broken(x, t, mix), autograd_score(x, t, mix), 2 * bound))
        worst_mp = max(worst_mp, excess(broken(x, t, mix), mp_score(x, t, mix), bound))
    assert worst_ag > 1e3 and worst_mp > 1e3


# ------------------------------------------------------------------------------------------ D3
def test_tweedie_by_monte_carlo():
    """E[(y − ∇log p_t(x)) h(x)] = 0 and the denoising-loss identity, as z-tests (n = 60000 pairs per t) at a
    Bonferroni threshold for a family false-alarm rate of 1e−4."""
    mix, rng = D.default_mixture(), np.random.default_rng(11)
    zs = CD.tweedie_tests(mix, 0.1, 60_000, rng) + CD.tweedie_tests(mix, 1.0, 60_000, rng)
    assert max(zs) <= CD._bonferroni_z(len(zs))


@pytest.mark.parametrize("scale", [0.97, -1.0])
def test_tweedie_test_detects_wrong_labels(scale):
    """Labels off by 3% (or of the wrong sign) fail the same test."""
    mix, rng = D.default_mixture(), np.random.default_rng(12)
    zs = CD.tweedie_tests(mix, 0.1, 60_000, rng, label_scale=scale)
    assert max(zs) > CD._bonferroni_z(len(zs))


def test_denoising_data_labels():
    data = D.denoising_data(D.default_mixture(), 50, 0.2, seed=1)
    np.testing.assert_allclose(data.y, -data.xi / np.sqrt(D.noise_var(0.2)), rtol=1e-15)
    np.testing.assert_allclose(data.x, D.mean_scale(0.2) * data.x0 + np.sqrt(D.noise_var(0.2)) * data.xi,
                               rtol=1e-14, atol=1e-15)


# ------------------------------------------------------------------------------------------ D4
@example(d=1, log10_rho=0.0, seed=0, frac=1.0)
@example(d=3, log10_rho=-3.0, seed=1, frac=1 - 1e-15)
@example(d=2, log10_rho=3.0, seed=2, frac=0.0)
@given(d=st.integers(1, 4), log10_rho=st.floats(-3, 3), seed=st.integers(0, 2**31 - 1), frac=st.floats(0, 1))
def test_lift_is_on_the_sphere_and_invertible(d, log10_rho, seed, frac):
    rho = 10.0**log10_rho
    x = np.random.default_rng(seed).standard_normal((6, d))
    x *= rho * np.random.default_rng(seed + 1).random((6, 1)) / np.linalg.norm(x, axis=1, keepdims=True)
    x[0] *= 0.0
    if np.linalg.norm(x[1]) > 0:
        x[1] *= frac * rho / np.linalg.norm(x[1]) * (1 - 1e-15)
    u = D.lift(x, rho)
    assert u.shape == (6, d + 1)
    assert np.all(np.abs(np.linalg.norm(u, axis=1) - 1) <= 4 * EPS)
    assert np.all(u[:, -1] >= 0)
    np.testing.assert_allclose(D.unlift(u, rho), x, rtol=0, atol=4 * EPS * rho)


def test_lift_detects_a_broken_lift():
    """The same assertions fail for a lift that forgets the square root (norm ≠ 1) or the 1/ρ (inverse)."""
    x, rho = np.array([[0.3, -0.4]]), 2.0
    no_sqrt = np.c_[x / rho, 1 - np.sum(x**2, axis=1) / rho**2]
    assert np.abs(np.linalg.norm(no_sqrt, axis=1) - 1).max() > 4 * EPS
    no_scale = np.c_[x, np.sqrt(np.maximum(0, 1 - np.sum(x**2, axis=1)))]
    assert np.abs(D.unlift(no_scale, rho) - x).max() > 4 * EPS * rho


def test_lift_outside_rho():
    x = np.array([[3.0, 4.0], [0.1, 0.0]])
    with pytest.raises(ValueError, match="rho"):
        D.lift(x, 2.0)
    u = D.lift(x, 2.0, clip=True)
    np.testing.assert_allclose(u[0], [0.6, 0.8, 0.0], atol=1e-15)
    with pytest.raises(ValueError, match="unit rows"):
        D.unlift([[1.0, 1.0]], 2.0)


def test_truncated_mass_exact_vs_monte_carlo_and_rho():
    mix, t = D.default_mixture(), 0.3
    rc = D.choose_rho(mix, t, 1e-2)
    assert abs(rc.mass - 1e-2) <= 1e-11 and rc.method == "exact"
    assert rc.rho < rc.bound_rho and D.truncated_mass(mix, t, rc.bound_rho) <= 1e-2
    rb = D.choose_rho(mix, t, 1e-2, method="bound")
    assert rb.rho == rc.bound_rho and rb.mass <= 1e-2
    # Monte Carlo at a radius with mass ~5%: Clopper–Pearson interval at level 1 − 1e−4
    _, k, n = D.truncated_mass_mc(mix, t, 0.8 * rc.rho, n=100_000, seed=4)
    exact = D.truncated_mass(mix, t, 0.8 * rc.rho)
    assert stats.beta.ppf(5e-5, k, n - k + 1) <= exact <= stats.beta.ppf(1 - 5e-5, k + 1, n - k)
    # a component centred at 0: the central chi-square branch
    mix0 = D.mixture([1.0], [[0.0, 0.0]], [0.5])
    r = D.truncated_mass(mix0, 1.0, 1.3)
    assert abs(r - stats.chi2.sf(1.3**2 / mix0.at(1.0)[1][0], 2)) <= 1e-15


# ------------------------------------------------------------------------------------------ bad input
GOOD = dict(x=[[0.0, 1.0]], t=0.5, weights=[0.5, 0.5], means=[[0.0, 0.0], [1.0, 1.0]], variances=[0.1, 0.2])
BAD = [
    ("t", 0.0, "t must"), ("t", -1.0, "t must"), ("t", float("nan"), "t must"), ("t", "1", "t must"),
    ("weights", [0.5, 0.6], "sum to 1"), ("weights", [1.5, -0.5], ">= 0"), ("weights", [[0.5, 0.5]], "weights"),
    ("variances", [0.1, 0.0], "variances"), ("variances", [0.1, -1.0], "variances"),
    ("variances", [0.1], "variances has 1"), ("variances", [[0.1, 0.1]], "variances"),
    ("means", [[0.0, 0.0]], "means has 1 rows"), ("means", [0.0, 1.0], "means"),
    ("x", [[0.0, 1.0, 2.0]], "x has 3 columns"), ("x", [0.0, 1.0], "x must be 2-D"),
    ("x", [[np.inf, 0.0]], "non-finite"),
    # complex input: numpy would keep the real part silently (with a ComplexWarning at most)
    ("weights", np.array([0.5, 0.5 + 1e-3j]), "weights must be real"), ("weights", [0.5 + 0j, 0.5], "weights must be real"),
    ("means", [[0.0, 1j], [1.0, 1.0]], "means must be real"), ("variances", [0.1, 0.2 + 0j], "variances must be real"),
    ("x", [[0.0, 1.0 + 2j]], "x must be real"), ("x", np.array([[0.0, 1.0]], dtype=complex), "x must be real"),
    ("x", np.array([[0.0, 1j]], dtype=object), "x must be real"),
]


@pytest.mark.parametrize("fn", [D.gmm_score, D.gmm_log_density, D.gmm_score_mp])
@pytest.mark.parametrize("arg,value,msg", BAD)
def test_bad_input_names_the_argument(fn, arg, value, msg):
    with pytest.raises(ValueError, match=msg):
        fn(**{**GOOD, arg: value})


def test_complex_input_is_rejected_without_a_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="weights must be real"):
            D.mixture(np.array([0.5, 0.5j]), [[0.0], [1.0]], [0.1, 0.1])
        with pytest.raises(ValueError, match="x must be real"):
            D.default_mixture().score(np.array([[1.0, 2.0 + 0j]]), 0.5)


# ---- far from everything: ‖x‖ beyond 1e154, where ‖x − a_t μ_k‖² overflows
def _far_cases():
    """(mixture, t, x): random mixtures (unequal variances) and mixtures with equal variances whose means
    are symmetric about an axis (exact ties of x·μ_k, so the weights decide), at radii 1e154 … ~1e308, in
    random directions and along the axes (the other coordinates 0: they show the responsibilities)."""
    rng = np.random.default_rng(2024)
    mixes = [CD.random_mixture(rng) for _ in range(6)]
    mixes += [D.mixture([0.7, 0.3], [[1.0, 1.0], [1.0, -1.0]], [0.1, 0.1]),
              D.mixture([0.2, 0.5, 0.3], [[2.0, 0.0, 1.0], [2.0, 0.0, -1.0], [-1.0, 3.0, 0.5]], [0.3, 0.3, 0.05]),
              D.mixture([0.25, 0.75], [[0.0], [0.0]], [0.2, 0.2]),
              D.mixture([0.5, 0.5], [[1.0, 2.0], [1.0, -0.5]], [0.2, 0.2])]    # x·μ_k tie, ‖μ_k‖ differ
    for mix in mixes:
        for t in (1e-3, 0.3, 3.0):
            rows = []
            top = 0.25 * np.finfo(float).max * min(1.0, float(mix.at(t)[1].min()))   # the score ~ ‖x‖/σ² stays finite
            for R in (1e5, 1e9, 1e20, 1e100, 1.2e154, 1.4e154, 1e160, 1e200, 1e300, top):
                u = rng.standard_normal((2, mix.d))
                rows += list(u / np.linalg.norm(u, axis=1, keepdims=True) * R)
                rows += list(np.eye(mix.d) * R) + [-np.eye(mix.d)[0] * R]
            yield mix, t, np.array(rows)


def test_score_far_away_matches_mpmath():
    """Elementwise against gmm_score_mp at 2·log10‖x‖ + 40 digits (the exponents ‖x‖²/σ² need that many
    to keep their differences).  Tolerance: 64ε relative to each coordinate, floored at 64ε × the largest
    term a_t|μ_kj|/σ_k² of a coordinate (a coordinate where x_j = 0 is Σ_k γ_k a_t μ_kj/σ_k², so it checks
    the responsibilities themselves).  Measured: at most 2.3ε.  Without the far-away path every row beyond
    ‖x‖ ≈ 1.3e154 is NaN, and routing only those rows to it leaves the axis rows at 1e9 … 1.2e154 wrong
    (ε|ℓ| swamps the weights); e_k without the ‖μ_k‖² term, or b dropped, fails too."""
    import warnings

    for mix, t, x in _far_cases():
        dps = int(2 * np.log10(np.abs(x).max()) + 40)
        ref = np.vectorize(float, otypes=[float])(D.gmm_score_mp(x, t, mix.weights, mix.means, mix.variances, dps=dps))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = mix.score(x, t)
        m, s2 = mix.at(t)
        floor = np.max(np.abs(m) / s2[:, None], axis=0)[None, :]
        tol = 64 * EPS * np.maximum(np.abs(ref), floor)
        assert np.all(np.isfinite(got))
        assert np.all(np.abs(got - ref) <= tol), (mix, t, np.max(np.abs(got - ref) / tol))


def test_zero_weight_component_drops_out():
    """A zero weight: no warning (no log 0), and the score and log-density of the mixture without that
    component, against mpmath (typical points, points where every density underflows, and ‖x‖ = 1e200)."""
    import warnings

    w, mu, v = [0.6, 0.0, 0.4], [[0.0, 1.0], [5.0, 5.0], [1.0, -1.0]], [0.1, 0.3, 0.2]
    x = np.array([[0.0, 0.5], [5.0, 5.0], [40.0, -3.0], [1e3, 1e3], [1e200, 0.0], [0.0, -1e200]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = D.gmm_score(x, 0.4, w, mu, v)
        logp = D.gmm_log_density(x[:4], 0.4, w, mu, v)
        ref = np.vectorize(float, otypes=[float])(D.gmm_score_mp(x, 0.4, w, mu, v, dps=450))
        ref2 = np.vectorize(float, otypes=[float])(D.gmm_score_mp(x, 0.4, [0.6, 0.4], [mu[0], mu[2]], [v[0], v[2]],
                                                                  dps=450))
    np.testing.assert_array_equal(ref, ref2)                       # the definition: the component drops out
    m, s2 = D.mixture(w, mu, v).at(0.4)
    floor = np.max(np.abs(m) / s2[:, None], axis=0)[None, :]
    assert np.all(np.abs(got - ref) <= 64 * EPS * np.maximum(np.abs(ref), floor)), got - ref
    two = D.gmm_log_density(x[:4], 0.4, [0.6, 0.4], [mu[0], mu[2]], [v[0], v[2]])
    np.testing.assert_allclose(logp, two, rtol=1e-15)
    assert np.all(np.isfinite(logp))


def test_bad_input_elsewhere():
    mix = D.default_mixture()
    with pytest.raises(ValueError, match="delta"):
        D.choose_rho(mix, 0.5, 1.5)
    with pytest.raises(ValueError, match="method"):
        D.choose_rho(mix, 0.5, 0.1, method="guess")
    with pytest.raises(ValueError, match="rho"):
        D.lift([[0.0, 1.0]], -1.0)
    with pytest.raises(ValueError, match="mix must be a Mixture"):
        D.denoising_data("gmm", 5, 0.5)
    with pytest.raises(ValueError, match="t must"):
        D.denoising_data(mix, 5, 0.0)
    with pytest.raises(ValueError, match="n_values"):
        D.validate(replace(D.QUICK, n_values=(8, 16)))
    with pytest.raises(ValueError, match="m must be even"):
        D.validate(replace(D.QUICK, m=33))


# ------------------------------------------------------------------------------------------ D5
def test_gd_filter_stable_naive_and_limit():
    c, lam = 0.01, np.array([0.0, 1e-20, 1e-9, 1e-3, 10.0, 60.0, 99.0, 150.0])
    for k in (1, 7, 10**6):
        got = D.gd_filter(lam, c, k)
        with mpmath.workdps(60):
            ref = [float(k * c) if L == 0 else float((1 - (1 - mpmath.mpf(c) * mpmath.mpf(L)) ** k) / mpmath.mpf(L))
                   for L in lam]
        np.testing.assert_allclose(got, ref, rtol=1e-12)
    # the naive form loses everything at cλ = 1e−17: 1 − (1 − cλ)^k rounds to 0
    naive = (1 - (1 - c * 1e-15) ** 3) / 1e-15
    assert naive == 0.0 and abs(D.gd_filter(np.array([1e-15]), c, 3)[0] - 3 * c) <= 1e-15


def test_linearized_predictor_equals_gd_on_the_linear_model():
    """f_lin(·; k) from the closed form equals k explicit GD steps on the linearized model (D5), on training
    points and fresh points, for H* and for H(W(0))."""
    import ntkcheck as nk

    mix, t = D.default_mixture(), 0.4
    data = D.denoising_data(mix, 12, t, seed=2)
    fresh = mix.sample_t(5, t, 3)
    rho, sigma, k = 3.0, 1.5, 25
    U, Uf = D.lift(data.x, rho, clip=True), D.lift(fresh, rho, clip=True)
    p0 = nk.init_params(3, 64, 2, sigma, "symmetric", seed=1)
    for kind, H, Hx in (("limit", nk.limit_ntk(U, sigma=sigma, d_out=2), nk.limit_ntk(Uf, U, sigma=sigma, d_out=2)),
                        ("empirical", nk.empirical_ntk(p0, U), nk.empirical_ntk(p0, Uf, U))):
        c = 0.5 / np.linalg.eigvalsh(H)[-1]
        lin = D.LinearizedPredictor(data.x, data.y, rho, sigma, c, kind, params=p0)
        f, acc = np.zeros(data.y.size), np.zeros(data.y.size)
        for _ in range(k):          # e_j = f_j − Y;  f_{j+1} = f_j − cH e_j;  f(x) = −cH(x, X) Σ_j e_j
            e = f - data.y.reshape(-1)
            acc += e
            f = f - c * H @ e
        np.testing.assert_allclose(lin.predict(data.x, k), f.reshape(-1, 2), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(lin.predict(fresh, k), (-c * Hx @ acc).reshape(-1, 2), rtol=1e-9, atol=1e-12)


def test_tracking_small():
    res = D.tracking(D.default_mixture(), 0.4, n=16, widths=(64, 512, 4096), sigma=1.5, steps=60, n_fresh=32)
    first, last = res["per_m"][0], res["per_m"][-1]
    for key in ("star_train", "star_fresh", "emp_train", "emp_fresh"):
        assert last[f"max_{key}"] < first[f"max_{key}"], key
    assert last["max_emp_fresh"] < 1e-3 * res["rows"][-1]["scale_f_lin"]    # lazy training at m = 4096


def test_common_fraction_known_values():
    """(‖Σ r_s‖² − Σ ‖r_s‖²)/((S − 1) Σ ‖r_s‖²) by hand: equal paths 1, opposite −1, orthogonal 0."""
    e1, e2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    assert D.common_fraction([e1, e1]) == pytest.approx(1.0)
    assert D.common_fraction([e1, -e1]) == pytest.approx(-1.0)
    assert D.common_fraction([e1, e2]) == pytest.approx(0.0)
    # pairs ⟨e1, e2⟩ = 0, ⟨e1, e1+e2⟩ = ⟨e2, e1+e2⟩ = 1: mean 2/3; mean ‖r‖² = 4/3; ratio 1/2
    assert D.common_fraction([e1, e2, e1 + e2]) == pytest.approx(0.5)
    assert D.common_fraction([np.ones((2, 3))]) is None            # one init: no pair
    # a common path δ plus independent noise: ‖δ‖²/(‖δ‖² + E‖noise‖²) = 1/(1 + 4·(1/4)) = 1/2
    rng = np.random.default_rng(5)
    delta = np.array([1.0, 0.0, 0.0, 0.0])
    paths = delta + 0.5 * rng.standard_normal((4000, 4))
    assert D.common_fraction(list(paths)) == pytest.approx(0.5, abs=0.05)


def test_tracking_common_part_is_over_the_stated_inits():
    """The common part at a width is the common fraction of f_lin(H(W(0))) − f_lin(H*) at the recorded k,
    over the trained inits and, at m ≥ common_from, untrained ones with the next seeds (assembled here from
    the public pieces)."""
    import ntkcheck as nk
    from ntkcheck.experiments.diffusion.learners import TRACKING
    from ntkcheck.seeds import derived_seed

    mix, t, n, sigma, data_seed = D.default_mixture(), 0.4, 8, 0.5, 3
    res = D.tracking(mix, t, n=n, widths=(32, 64, 128), sigma=sigma, steps=12, n_records=4, seeds=2, n_fresh=6,
                     data_seed=data_seed, common_inits=5, common_from=64)
    assert [r["common_inits"] for r in res["per_m"]] == [2, 5, 5]
    data = D.denoising_data(mix, n, t, seed=derived_seed(data_seed, "diffusion.data", TRACKING))
    fresh = mix.sample_t(6, t, derived_seed(data_seed, "diffusion.samples", TRACKING))
    rho, c, ks = res["rho"], res["c"], res["record_steps"]
    star = D.LinearizedPredictor(data.x, data.y, rho, sigma, c, "limit")
    for r in res["per_m"]:
        paths = {"star_train": [], "star_fresh": []}
        for sd in range(r["common_inits"]):
            p0 = nk.init_params(3, r["m"], d_out=2, sigma=sigma, scheme="symmetric",
                                seed=derived_seed(data_seed, "diffusion.init", TRACKING, sd))
            emp = D.LinearizedPredictor(data.x, data.y, rho, sigma, c, "empirical", params=p0)
            for key, x in (("star_train", data.x), ("star_fresh", fresh)):
                paths[key].append(np.concatenate([(emp.predict(x, k) - star.predict(x, k)).ravel() for k in ks]))
        for key, P in paths.items():
            P = np.array(P)
            G = P @ P.T
            S = len(P)
            expected = (G.sum() - np.trace(G)) / (S * (S - 1)) / (np.trace(G) / S)
            assert r[f"common_{key}"] == pytest.approx(expected, rel=1e-9, abs=1e-12), (r["m"], key)


def test_ntk_lambda_max_matches_eigvalsh():
    import ntkcheck as nk

    U = D.lift(D.default_mixture().sample_t(20, 0.4, 1), 4.0, clip=True)
    p = nk.init_params(3, 40, 2, 1.5, "symmetric", seed=2)
    assert abs(D.ntk_lambda_max(p, U) - np.linalg.eigvalsh(nk.empirical_ntk(p, U))[-1]) <= 1e-9 * D.ntk_lambda_max(p, U)


def test_one_blas_thread_limits_blas():
    """The GD loops run with one BLAS thread (threadpoolctl, a declared dependency): the guard is not a no-op."""
    from threadpoolctl import threadpool_info

    np.ones((64, 64)) @ np.ones((64, 64))          # load BLAS
    with D.one_blas_thread():
        blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
        assert blas and all(i["num_threads"] == 1 for i in blas), blas


# ------------------------------------------------------------------------------------------ D6
@pytest.mark.parametrize("learner", ["network", "kernel", "linearized"])
def test_the_learners_enforce_A2_on_the_lifted_inputs(learner):
    """The network's lemmas, and the invertibility of H* that f_lin needs, assume (A2): distinct points of
    the sphere.  The lift puts every point on S^d; a repeated training point is refused by name."""
    mix, t = D.default_mixture(), 0.4
    tr, va = D.denoising_data(mix, 16, t, seed=1), D.denoising_data(mix, 16, t, seed=2)
    rho = D.choose_rho(mix, t, 1e-2).rho
    fit = {"network": lambda x: D.fit_network(x, tr.y, va.x, va.y, rho, m=8, steps=5),
           "kernel": lambda x: D.fit_kernel(x, tr.y, va.x, va.y, rho, 1.5),
           "linearized": lambda x: D.LinearizedPredictor(x, tr.y, rho, 1.5, 0.1)}[learner]
    x = tr.x.copy()
    x[3] = x[7]                                             # one repeated point
    with pytest.raises(ValueError, match=r"^hypothesis \(A2\) violated: the lifted x has repeated rows$"):
        fit(x)
    x[3] += 1e-3                                            # distinct again: accepted
    fit(x)


def test_fit_network_early_stops_on_the_held_out_minimum():
    mix, t = D.default_mixture(), 0.4
    tr, va = D.denoising_data(mix, 64, t, seed=1), D.denoising_data(mix, 64, t, seed=2)
    rho = D.choose_rho(mix, t, 1e-2).rho
    nf = D.fit_network(tr.x, tr.y, va.x, va.y, rho, m=32, sigma=1.5, steps=300, record_every=5)
    best = int(np.argmin(nf.val_loss))
    assert nf.best_step == nf.steps[best]
    held_out = np.mean(np.sum((nf.predict(va.x) - va.y) ** 2, axis=1))
    assert abs(held_out - nf.val_loss[best]) <= 1e-10 * nf.val_loss[best]
    assert nf.val_loss[0] == pytest.approx(np.mean(np.sum(va.y**2, axis=1)))     # symmetric init: f(·; 0) = 0
    assert nf.val_loss.min() < nf.val_loss[0]


def test_score_error_interval():
    mix = D.default_mixture()
    e = D.score_error(lambda x: np.zeros_like(x), mix, 0.4, n_eval=20_000, seed=3)
    fisher, se = mix.fisher(0.4, 200_000, seed=4)
    assert e["ci"][0] < e["mean"] < e["ci"][1]
    assert abs(e["mean"] - fisher) <= 5 * np.hypot(e["sd"] / np.sqrt(e["n_eval"]), se)   # trivial error = J (D6)


TINY = replace(D.DEMO, n_values=(16, 24, 32), m=16, n_val=32, n_eval=200, steps=40, record_every=5,
               track_n=8, track_widths=(8, 16, 32), track_steps=10, pic_times=3, pic_n=16, pic_m=8, pic_steps=10,
               pic_samples=20, field_grid=5)


@pytest.fixture(scope="module")
def tiny_run():
    return D.run(TINY)


def test_run_tiny(tiny_run):
    res = tiny_run
    assert isinstance(res, D.DiffusionResult)
    assert [r.n for r in res.rows] == [16, 24, 32]
    for r in res.rows:
        assert np.isclose(r.ratio_nn_trivial, r.error_nn / r.error_trivial, rtol=1e-12)
    a = res.claims
    assert a.slope_nn == res.fit.error_nn.slope and a.ratio_nn_trivial_at_largest_n == res.rows[-1].ratio_nn_trivial
    assert res.settings.m == 16 and res.settings.d == 2 and "numpy" in res.versions
    assert D.run(TINY).rows == res.rows                                 # same settings, same numbers


def test_result_json_round_trip(tiny_run):
    """to_json has today's keys (prose key of the sampling floor included) and from_json reads it back."""

    data = json.loads(json.dumps(tiny_run.to_json()))
    assert list(data) == ["experiment", "settings", "versions", "rows", "runs", "fit", "tracking", "pictures",
                          "assertions", "seconds"]
    assert "p_tmin_vs_p_tmin (sampling floor)" in data["pictures"]["energy_distance"]
    back = D.DiffusionResult.from_json(data)
    assert back.to_json() == data
    assert back.pictures.energy_distance.sampling_floor == data["pictures"]["energy_distance"][
        "p_tmin_vs_p_tmin (sampling floor)"]


def test_shipped_results_round_trip():
    """results/diffusion.json (what the D5 and D6 chapters read) parses into a DiffusionResult and back."""
    path = Path(__file__).resolve().parents[1] / "results" / "diffusion.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert D.DiffusionResult.from_json(data).to_json() == data


@pytest.mark.parametrize("edit,msg", [(lambda d: d.pop("runs"), "missing key 'runs'"),
                                      (lambda d: d["rows"][0].update(extra=1), "unknown key 'extra'")])
def test_result_from_json_refuses_bad_keys(tiny_run, edit, msg):
    data = json.loads(json.dumps(tiny_run.to_json()))
    edit(data)
    with pytest.raises(ValueError, match=msg):
        D.DiffusionResult.from_json(data)


@needs_matplotlib
def test_plot_tiny(tiny_run, tmp_path):
    paths = PD.plot(tiny_run, tmp_path)
    assert sorted(p.name for p in paths) == sorted(PD.FIGURES)
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)


def test_cli_diffusion(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(D, "QUICK", TINY)
    target = tmp_path / "d.json"
    plots = [] if find_spec("matplotlib") is None else ["--plot-dir", str(tmp_path)]
    assert main(["diffusion", "--json", str(target), *plots, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "score error" in out and "Traceback" not in out
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["rows"][0]["n"] == 16 and data["settings"]["m"] == 16
    if plots:
        assert all((tmp_path / f).is_file() for f in PD.FIGURES)


@pytest.mark.parametrize("argv,msg", [
    (["diffusion", "--json", "/nonexistent-folder/x.json"], "does not exist"),
    (["diffusion", "--plot-dir", "/nonexistent-folder"], "not an existing folder"),
    (["diffusion", "--seed", "-3"], "seed"),
])
def test_cli_diffusion_bad_arguments(argv, msg, capsys):
    assert main(argv) == 2
    out = "".join(capsys.readouterr())  # errors go to stderr
    assert msg in out and len(out.strip().splitlines()) == 1 and "Traceback" not in out


# ------------------------------------------------------------------------------------------ the checks
@pytest.mark.parametrize("code", ["D1", "D2", "D3", "D4", "D5", "D6"])
def test_registered_check_holds(code):
    from ntkcheck import checks

    checks.all_checks()
    rec = checks.run(checks.REGISTRY[code], seed=1)
    assert rec.holds, rec.details
    assert rec.id == checks.REGISTRY[code].id and rec.statement
    assert_claims_state_numbers(rec)


@needs_matplotlib
def test_plot_leaves_matplotlib_global_state_alone(tiny_run, tmp_path):
    """plots/diffusion.py draws through the OO API: in a fresh interpreter whose backend is svg, plotting a
    result neither imports pyplot nor changes the backend or an rcParam (a notebook's settings stay)."""
    import subprocess
    import sys

    from ntkcheck.core.results import write_json

    write_json(tmp_path / "r.json", tiny_run.to_json())
    code = (
        "import json, sys, matplotlib\n"
        "matplotlib.use('svg')\n"
        "before = (matplotlib.get_backend(), dict(matplotlib.rcParams))\n"
        "from ntkcheck.plots import diffusion as PD\n"
        "from ntkcheck.experiments.diffusion import DiffusionResult\n"
        f"res = DiffusionResult.from_json(json.load(open({str(tmp_path / 'r.json')!r})))\n"
        f"paths = PD.plot(res, {str(tmp_path)!r})\n"
        "assert len(paths) == 4, paths\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
        "assert (matplotlib.get_backend(), dict(matplotlib.rcParams)) == before, 'global state changed'\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


# ------------------------------------------------------------------------------------------ the seed policy
def test_every_draw_comes_from_the_seed_policy(monkeypatch):
    """Each integer seed the experiment hands to numpy (training and held-out sets, inits, evaluation points,
    the tracking data, the pictures' networks, flow starts and samples) is a seed of ntkcheck.seeds: the
    63-bit state of SeedSequence(cfg.seed, spawn_key=(crc32(purpose), *keys)) for a "diffusion.*" purpose
    (the seed policy's definition, recomputed here), never an offset such as seed + 77.  The one exception is
    the fixed start vector of the Lanczos iteration for λ_max (an algorithm's constant, not a draw)."""
    import zlib

    from ntkcheck import seeds
    from ntkcheck.experiments.diffusion import learners as DL

    real_ss, real_rng = np.random.SeedSequence, np.random.default_rng
    made, used = [], []

    class Recording(real_ss):
        def __init__(self, entropy=None, *, spawn_key=(), **kw):
            super().__init__(entropy, spawn_key=spawn_key, **kw)
            made.append((entropy, tuple(spawn_key)))

    def default_rng(seed=None):
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            used.append(int(seed))
        return real_rng(seed)

    monkeypatch.setattr(np.random, "SeedSequence", Recording)
    monkeypatch.setattr(np.random, "default_rng", default_rng)
    D.run(replace(TINY, seed=3))
    monkeypatch.undo()
    names = {zlib.crc32(p.encode()): p for p in seeds.PURPOSES}
    policy = {int(real_ss(e, spawn_key=k).generate_state(1, np.uint64)[0] >> np.uint64(1)): (e, names[k[0]])
              for e, k in made if k and k[0] in names}
    stray = sorted({s for s in used if s not in policy} - {DL._LANCZOS_SEED})
    assert not stray, f"seeds not from ntkcheck.seeds: {stray[:10]}"
    assert len(used) > 20
    assert {policy[s] for s in used if s in policy} >= {(3, p) for p in ("diffusion.data", "diffusion.init",
                                                                         "diffusion.samples", "diffusion.noise")}
    assert all(e == 3 and p.startswith("diffusion.") for e, p in (policy[s] for s in used if s in policy))
