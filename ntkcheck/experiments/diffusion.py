"""Application (the book's D1–D6 part): learning a diffusion model's score with the softmax network.

The pieces, in the order of the book:

* D1 the forward (Ornstein–Uhlenbeck) process: :func:`mean_scale` a_t, :func:`noise_var` s_t², and
  :func:`forward_sample` X_t = a_t X_0 + s_t ξ;
* D2 the exact score of a Gaussian mixture at time t, :func:`gmm_score` (log-sum-exp, compiled from
  proofs/gmm_score.py), :func:`gmm_log_density`, and the mpmath twin :func:`gmm_score_mp`;
* D3 the noisy-label data set of denoising score matching, :func:`denoising_data` (x = X_t, y = −ξ/s_t);
* D4 the lift to the sphere, :func:`lift` / :func:`unlift`, with ρ from :func:`choose_rho` and the
  truncated mass P(‖X_t‖ > ρ) (:func:`truncated_mass`: exact, from the noncentral chi-square law);
* D5 the linearized predictor f_lin(x; k) (:class:`LinearizedPredictor`, with H* or H(W(0))) and the
  tracking distance ‖f_NN − f_lin‖ (:func:`tracking`);
* D6 the early-stopped network (:func:`fit_network`), kernel regression with H* (:func:`fit_kernel`), the
  trivial predictor, their score errors with confidence intervals (:func:`score_error`), the experiment
  (:func:`run`, ``ntkcheck diffusion``), the two-dimensional pictures (:func:`score_fields`,
  :func:`flow_samples`, :func:`plot`) and :func:`quick_demo` for a notebook cell.

Design choices, stated once:

* Inputs are lifted to S^d (d + 1 coordinates) with ρ such that P(‖X_t‖ > ρ) = δ (exactly, by default);
  the network is ``init_params(d + 1, m, d_out=d, sigma, scheme="symmetric")`` with κ = m, so f(·; 0) = 0.
  Points with ‖x‖ > ρ (mass δ) are clipped radially onto the sphere of radius ρ before lifting, in
  training and in evaluation; the score error is measured on all fresh points, clipped ones included.
* η = 1/(m·max(λ_max(H*), λ_max(H(W(0))))) (hypothesis (iii)'s form without the λ/2, safe for the network
  and for both linearized predictors); GD runs on the training
  set with :class:`ntkcheck.core.training.Trainer` and the held-out denoising loss is recorded every
  ``record_every`` steps; the returned network is the one at the recorded step with the least held-out
  loss (early stopping, D3: that loss is the score error plus a constant).  Training stops once the best
  step is less than half of the steps run (no improvement over the second half) or at ``steps``.
* Kernel regression with H* is f_lin(·; k) (D5, H* = K ⊗ I, which acts on each output coordinate) with k
  chosen on the same held-out set from a geometric grid up to ``kernel_k_max`` — the infinite-width limit
  of the network's GD, early-stopped the same way.
* The trivial predictor is the best constant fitted on the training labels (their mean); its error is
  ‖ȳ‖² + J (D6), J = E‖∇log p_t‖².
* Pictures: one network per time on a geometric grid of times (no time conditioning), and the
  probability-flow ODE dx/dt = −x − ∇log p_t(x) integrated from t_max down to t_min by Heun's method on
  that grid, so the learned score is only evaluated at times it was trained at.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace

import mpmath
import numpy as np
from scipy import optimize, stats

from ntkcheck.core import validate as V
from ntkcheck.core.compile import compiled
from ntkcheck.core.kernels import limit_kernel
from ntkcheck.core.network import Params, empirical_ntk, forward, init_params

__all__ = [
    "Config", "DEMO", "DenoisingData", "FIGURES", "FULL", "KernelFit", "LinearizedPredictor", "Mixture", "NetworkFit",
    "QUICK", "RhoChoice", "choose_rho", "concentration_radius", "default_mixture", "denoising_data", "energy_distance",
    "fit_kernel", "fit_network", "flow_samples", "forward_sample", "gd_filter", "gmm_log_density", "gmm_score",
    "gmm_score_mp", "gmm_score_naive", "lift", "mean_scale", "mixture", "mode_fractions", "noise_var",
    "ntk_lambda_max", "pictures", "plot", "quick_demo", "run", "score_error", "step_factor", "time_grid", "tracking",
    "train_over_time", "truncated_mass", "truncated_mass_mc", "unlift", "validate",
]

# ============================================================================================ D1, D2
def _time(t) -> float:
    """t as a float > 0: at t = 0 the noise scale s_t is 0 and the labels −ξ/s_t are undefined."""
    if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)):
        raise ValueError(f"t must be a real number > 0, got {t!r}")
    t = float(t)
    if not np.isfinite(t) or t <= 0:
        raise ValueError(f"t must be finite and > 0 (s_t = 0 at t = 0: no noise, no score), got {t!r}")
    return t


def mean_scale(t) -> float:
    """a_t = e^{−t} (D1)."""
    return float(compiled("forward_process", "mean_scale", "numpy")(_time(t)))


def noise_var(t) -> float:
    """s_t² = 1 − e^{−2t}, evaluated as −expm1(−2t) (D1)."""
    return float(compiled("forward_process", "noise_var", "numpy")(_time(t)))


@dataclass(frozen=True)
class Mixture:
    """p_0 = Σ_k π_k N(μ_k, v_k I_d): ``weights`` (K,), ``means`` (K, d), ``variances`` (K,) (validated by
    :func:`mixture`)."""

    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray

    @property
    def d(self) -> int:
        return self.means.shape[1]

    @property
    def K(self) -> int:
        return self.means.shape[0]

    def at(self, t) -> tuple[np.ndarray, np.ndarray]:
        """(a_t μ_k (K, d), σ_k² = a_t² v_k + s_t² (K,)): the components of p_t (D1)."""
        t = _time(t)
        return mean_scale(t) * self.means, compiled("gmm_score", "component_var", "numpy")(t, self.variances)

    def sample(self, n: int, rng) -> np.ndarray:
        """n draws of X_0 ~ p_0, shape (n, d)."""
        rng = np.random.default_rng(rng)
        n = V.positive_int(n, "n")
        k = rng.choice(self.K, size=n, p=self.weights)
        return self.means[k] + np.sqrt(self.variances[k])[:, None] * rng.standard_normal((n, self.d))

    def sample_t(self, n: int, t, rng) -> np.ndarray:
        """n draws of X_t ~ p_t (directly from the time-t mixture)."""
        rng = np.random.default_rng(rng)
        m, s2 = self.at(t)
        k = rng.choice(self.K, size=V.positive_int(n, "n"), p=self.weights)
        return m[k] + np.sqrt(s2[k])[:, None] * rng.standard_normal((len(k), self.d))

    def score(self, x, t) -> np.ndarray:
        """∇ log p_t(x), shape (n, d) (:func:`gmm_score`)."""
        return gmm_score(x, t, self.weights, self.means, self.variances)

    def fisher(self, t, n: int = 200_000, seed: int = 0) -> tuple[float, float]:
        """J = E‖∇log p_t‖² by Monte Carlo on n samples: (estimate, standard error)."""
        sq = np.sum(self.score(self.sample_t(n, t, seed), t) ** 2, axis=1)
        return float(sq.mean()), float(sq.std(ddof=1) / np.sqrt(n))

    def as_dict(self) -> dict:
        return {"weights": self.weights, "means": self.means, "variances": self.variances}


def mixture(weights, means, variances) -> Mixture:
    """A validated :class:`Mixture`; each problem is one ValueError naming the argument."""
    for value, name in ((weights, "weights"), (means, "means"), (variances, "variances")):
        _real(value, name)
    w = np.asarray(weights, dtype=np.float64) if _is_numeric(weights) else None
    if w is None or w.ndim != 1 or w.size < 1:
        raise ValueError(f"weights must be a non-empty 1-D array of numbers, got {weights!r}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"weights must be finite and >= 0, got {w}")
    if abs(w.sum() - 1.0) > 1e-9 * max(1, w.size):
        raise ValueError(f"weights must sum to 1, got sum {w.sum()!r}")
    mu = V.matrix(means, "means")
    if mu.shape[0] != w.size:
        raise ValueError(f"means has {mu.shape[0]} rows (components) but weights has {w.size} entries")
    v = np.asarray(variances, dtype=np.float64) if _is_numeric(variances) else None
    if v is None or v.ndim != 1:
        raise ValueError(f"variances must be a 1-D array (one scalar v_k per component), got {variances!r}")
    if v.size != w.size:
        raise ValueError(f"variances has {v.size} entries but weights has {w.size} (one per component)")
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError(f"variances must be finite and > 0, got {v}")
    return Mixture(weights=w, means=mu, variances=v)


def _real(a, name: str) -> None:
    """Reject complex input (numpy would silently keep the real part); ``a`` is returned unchanged."""
    if isinstance(a, Mixture):
        return
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError):
        return                      # not an array: the caller's own check names the problem
    if np.iscomplexobj(arr) or (arr.dtype == object and any(isinstance(v, complex) for v in arr.ravel())):
        raise ValueError(f"{name} must be real, got complex values")


def _is_numeric(a) -> bool:
    try:
        np.asarray(a, dtype=np.float64)
        return True
    except (TypeError, ValueError):
        return False


def default_mixture() -> Mixture:
    """The two-dimensional mixture of the experiments: three well-separated components of unequal weights."""
    ang = np.deg2rad([90.0, 210.0, 330.0])
    means = 1.5 * np.stack([np.cos(ang), np.sin(ang)], axis=1)
    return mixture([0.5, 0.3, 0.2], means, [0.05, 0.05, 0.05])


def _points(x, d: int, name: str = "x") -> np.ndarray:
    _real(x, name)
    return V.matrix(x, name, cols=d, cols_name="the mixture's dimension d")


def _present(mix: Mixture) -> Mixture:
    """The components of positive weight: a zero-weight component drops out of p_t (and log 0 is avoided)."""
    keep = mix.weights > 0
    if keep.all():
        return mix
    return Mixture(weights=mix.weights[keep], means=mix.means[keep], variances=mix.variances[keep])


def logits(x: np.ndarray, t: float, mix: Mixture):
    """Component logits of D2 at time t (the compiled proofs/gmm_score.py export).

    Parameters: ``x`` checked points (n, d); ``t`` a checked time; ``mix`` a :class:`Mixture`.
    Returns: ``(ell, means, variances)``: the logits ℓ (n, K), the time-t means (K, d) and variances (K,)."""
    m, s2 = mix.at(t)
    sq = np.einsum("nkd,nkd->nk", x[:, None, :] - m[None], x[:, None, :] - m[None])
    ell = compiled("gmm_score", "component_logit", "numpy")(np.log(mix.weights)[None, :], mix.d, s2[None, :], sq)
    return ell, m, s2


def gmm_score(x, t, weights, means, variances) -> np.ndarray:
    """∇ log p_t(x) for p_0 = Σ_k π_k N(μ_k, v_k I) (D2), shape (n, d).

    −Σ_k γ_k (x − a_t μ_k)/σ_k², γ = softmax of the component logits after subtracting their maximum (the
    compiled log-sum-exp form of proofs/gmm_score.py): no overflow, and far from every component the
    responsibilities that underflow are below 1e−308 of the largest.
    """
    mix = _present(mixture(weights, means, variances))
    x = _points(x, mix.d)
    t = _time(t)
    with np.errstate(over="ignore", invalid="ignore"):
        ell, m, s2 = logits(x, t, mix)
    # far out (the largest logit below −2^30, or ‖x − a_t μ_k‖² overflowed beyond ‖x‖ ≈ 1e154): ℓ carries
    # an absolute rounding error ε|ℓ| ≳ 2e-7 that would swamp the weights and the ties, so these rows
    # get their logit differences from the exact expansion of _far_logits
    far = ~(ell.max(axis=1) > -FAR_LOGIT)
    if far.any():
        ell[far] = _far_logits(x[far], m, s2, np.log(mix.weights) - 0.5 * mix.d * np.log(2 * np.pi * s2))
    ell -= ell.max(axis=1, keepdims=True)
    g = np.exp(ell)
    g /= g.sum(axis=1, keepdims=True)
    comp = compiled("gmm_score", "component_score", "numpy")(x[:, None, :], m[None], s2[None, :, None])
    return np.einsum("nk,nkd->nd", g, comp)


FAR_LOGIT = 2.0**30     # gmm_score: rows whose largest component logit is below −FAR_LOGIT use _far_logits


def _far_logits(x: np.ndarray, m: np.ndarray, s2: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Component logits ℓ_k = c_k − ‖x − m_k‖²/(2σ_k²), up to a constant per row, for rows whose squared
    distances overflow: the row maximum is 0 and the others are exact differences, −inf where they are
    below every float (the responsibility underflows).

    With S the power of two in (max_j |x_j|/2, max_j |x_j|] (u = x/S is exact, |u_j| < 2) and v* = max_k σ_k²,
    ℓ_k + ‖x‖²/(2v*) = −S²a_k + S b_k + e_k with a_k = ‖u‖²(1/σ_k² − 1/v*)/2 ≥ 0 (0 for the widest
    components), b_k = u·m_k/σ_k², e_k = c_k − ‖m_k‖²/(2σ_k²): each term finite.  The winner j maximizes
    G_k = −S a_k + b_k + e_k/S; then ℓ_k − ℓ_j = S·(−S(a_k − a_j) + (b_k − b_j)) + (e_k − e_j), which is
    exactly e_k − e_j for tied components (the weights decide) and −inf for far losers, never NaN."""
    S = np.ldexp(1.0, np.frexp(np.max(np.abs(x), axis=1))[1] - 1)[:, None]   # (n, 1): max|x_j|/2 < S ≤ max|x_j|
    u = x / S
    inv = 1.0 / s2
    a = 0.5 * np.sum(u**2, axis=1)[:, None] * np.where(s2 == s2.max(), 0.0, inv - 1.0 / s2.max())[None, :]
    b = u @ (m * inv[:, None]).T
    e = np.broadcast_to(c - 0.5 * np.sum(m**2, axis=1) * inv, b.shape)
    with np.errstate(over="ignore"):
        G = -S * a + b + e / S
        j = np.argmax(G, axis=1)
        pick = (np.arange(len(x)), j)
        inner = -S * (a - a[pick][:, None]) + (b - b[pick][:, None])
        out = S * inner + (e - e[pick][:, None])
    out[pick] = 0.0
    return out


def gmm_log_density(x, t, weights, means, variances) -> np.ndarray:
    """log p_t(x), shape (n,), by log-sum-exp of the D2 component logits."""
    mix = _present(mixture(weights, means, variances))
    x = _points(x, mix.d)
    ell, _, _ = logits(x, _time(t), mix)
    top = ell.max(axis=1)
    return top + np.log(np.exp(ell - top[:, None]).sum(axis=1))


def gmm_score_naive(x, t, weights, means, variances) -> np.ndarray:
    """The same formula with the densities formed directly (no log-sum-exp): NaN where every density
    underflows.  Kept only to show, in the tests, that the stable form is needed."""
    mix = mixture(weights, means, variances)
    x = _points(x, mix.d)
    m, s2 = mix.at(_time(t))
    sq = np.sum((x[:, None, :] - m[None]) ** 2, axis=2)
    dens = mix.weights * np.exp(-sq / (2 * s2)) / (2 * np.pi * s2) ** (mix.d / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = dens / dens.sum(axis=1, keepdims=True)
    return -np.einsum("nk,nkd->nd", g, (x[:, None, :] - m[None]) / s2[None, :, None])


def gmm_score_mp(x, t, weights, means, variances, dps: int = 50) -> np.ndarray:
    """The mpmath twin of :func:`gmm_score`: the definition −Σ_k π_k N_k (x − a_t μ_k)/σ_k² / Σ_k π_k N_k with the
    densities formed directly (mpmath's exponent range makes underflow impossible), a_t and σ_k² from
    mpmath's exp and expm1, all inside ``mpmath.workdps(dps)``.  Returns an (n, d) object array of mpf."""
    mix = mixture(weights, means, variances)
    x = _points(x, mix.d)
    t = _time(t)
    out = np.empty(x.shape, dtype=object)
    with mpmath.workdps(dps):
        tt = mpmath.mpf(t)
        a = mpmath.exp(-tt)
        s2 = -mpmath.expm1(-2 * tt)
        var = [a**2 * mpmath.mpf(float(v)) + s2 for v in mix.variances]
        cen = [[a * mpmath.mpf(float(c)) for c in mu] for mu in mix.means]
        for i, row in enumerate(x):
            xi = [mpmath.mpf(float(c)) for c in row]
            dens, num = [], [mpmath.mpf(0)] * mix.d
            for k in range(mix.K):
                sq = mpmath.fsum((xi[j] - cen[k][j]) ** 2 for j in range(mix.d))
                dk = mpmath.mpf(float(mix.weights[k])) * mpmath.exp(-sq / (2 * var[k])) / \
                    (2 * mpmath.pi * var[k]) ** (mpmath.mpf(mix.d) / 2)
                dens.append(dk)
                num = [num[j] - dk * (xi[j] - cen[k][j]) / var[k] for j in range(mix.d)]
            tot = mpmath.fsum(dens)
            for j in range(mix.d):
                out[i, j] = num[j] / tot
    return out


# ============================================================================================ D1, D3
def forward_sample(x0, t, rng) -> tuple[np.ndarray, np.ndarray]:
    """(X_t, ξ) with X_t = a_t x0 + s_t ξ, ξ ~ N(0, I) (D1); x0 of shape (n, d)."""
    x0 = V.matrix(x0, "x0")
    t = _time(t)
    xi = np.random.default_rng(rng).standard_normal(x0.shape)
    return mean_scale(t) * x0 + np.sqrt(noise_var(t)) * xi, xi


@dataclass(frozen=True)
class DenoisingData:
    """Denoising score matching pairs (D3): ``x`` = X_t (n, d), ``y`` = −ξ/s_t (n, d), with ``x0`` and ``xi``."""

    x: np.ndarray
    y: np.ndarray
    x0: np.ndarray
    xi: np.ndarray
    t: float


def denoising_data(mix: Mixture, n: int, t, seed=0) -> DenoisingData:
    """n noisy pairs (X_t, −ξ/s_t) with X_0 ~ p_0: E[y | x] = ∇log p_t(x) (Tweedie, D3)."""
    if not isinstance(mix, Mixture):
        raise ValueError(f"mix must be a Mixture (see ntkcheck.experiments.diffusion.mixture), got {type(mix).__name__}")
    t = _time(t)
    rng = np.random.default_rng(seed)
    x0 = mix.sample(n, rng)
    x, xi = forward_sample(x0, t, rng)
    y = compiled("tweedie_dsm", "label", "numpy")(xi, t)
    return DenoisingData(x=x, y=y, x0=x0, xi=xi, t=t)


# ============================================================================================ D4
def lift(x, rho, clip: bool = False) -> np.ndarray:
    """φ(x) = (x/ρ, √(1 − ‖x‖²/ρ²)) ∈ S^d, shape (n, d + 1) (D4).

    Rows with ‖x‖ > ρ raise ValueError unless ``clip``, which first moves them radially onto ‖x‖ = ρ (their
    lift is then on the equator)."""
    x = V.matrix(x, "x")
    rho = V.positive_float(rho, "rho")
    r = np.linalg.norm(x, axis=1)
    out = r > rho
    if np.any(out):
        if not clip:
            raise ValueError(f"x has {int(out.sum())} row(s) with ‖x‖ > rho = {rho:.6g} (largest {r.max():.6g}); "
                             "pass clip=True to move them onto the sphere of radius rho")
        x = x.copy()
        x[out] *= (rho / r[out])[:, None]
        r = np.minimum(r, rho)
    last = compiled("input_lift", "lift_last", "numpy")(r, rho)
    return np.concatenate([x / rho, last[:, None]], axis=1)


def unlift(u, rho) -> np.ndarray:
    """The inverse of :func:`lift`: ρ u_{1..d} for unit rows u with u_{d+1} ≥ 0, shape (n, d)."""
    u = V.matrix(u, "u")
    rho = V.positive_float(rho, "rho")
    if u.shape[1] < 2:
        raise ValueError(f"u must have d + 1 >= 2 columns, got shape {u.shape}")
    norms = np.linalg.norm(u, axis=1)
    if np.any(np.abs(norms - 1) > 1e-10) or np.any(u[:, -1] < -1e-12):
        raise ValueError("u must have unit rows with a non-negative last coordinate (the image of lift)")
    return rho * u[:, :-1]


def truncated_mass(mix: Mixture, t, rho) -> float:
    """P(‖X_t‖ > ρ) exactly: Σ_k π_k P(χ'²_d(λ_k) > ρ²/σ_k²), λ_k = a_t²‖μ_k‖²/σ_k² (D4; scipy's ncx2)."""
    m, s2 = mix.at(t)
    rho = V.positive_float(rho, "rho")
    nc = np.sum(m**2, axis=1) / s2
    q = rho**2 / s2
    sf = np.where(nc > 0, stats.ncx2.sf(q, mix.d, np.maximum(nc, 1e-300)), stats.chi2.sf(q, mix.d))
    return float(np.dot(mix.weights, sf))


def truncated_mass_mc(mix: Mixture, t, rho, n: int = 200_000, seed: int = 0) -> tuple[float, int, int]:
    """Monte Carlo estimate of P(‖X_t‖ > ρ): (frequency, count, n)."""
    x = mix.sample_t(n, t, seed)
    k = int(np.sum(np.linalg.norm(x, axis=1) > rho))
    return k / n, k, n


def concentration_radius(mix: Mixture, t, delta) -> float:
    """max_k (a_t‖μ_k‖ + σ_k(√d + √(2 ln(1/δ)))): a radius with P(‖X_t‖ > it) ≤ δ (D4, Gaussian concentration)."""
    m, s2 = mix.at(t)
    f = compiled("input_lift", "concentration_radius", "numpy")
    return float(np.max(f(np.linalg.norm(m, axis=1), s2, mix.d, _delta(delta))))


def _delta(delta) -> float:
    delta = V.positive_float(delta, "delta")
    if not delta < 1:
        raise ValueError(f"delta must lie in (0, 1), got {delta}")
    return delta


@dataclass(frozen=True)
class RhoChoice:
    """ρ with its truncated mass.  ``mass`` is exact (noncentral chi-square) for both methods; ``method``
    says how ρ was chosen: "exact" solves mass = δ, "bound" takes the concentration radius (mass ≤ δ)."""

    rho: float
    delta: float
    mass: float
    method: str
    bound_rho: float


def choose_rho(mix: Mixture, t, delta=1e-3, method: str = "exact") -> RhoChoice:
    """ρ with P(‖X_t‖ > ρ) ≤ δ for the lift (D4).  ``method="exact"``: the ρ at which the exact mass equals
    δ (brentq on :func:`truncated_mass`); ``"bound"``: :func:`concentration_radius` (a guaranteed bound,
    larger)."""
    if not isinstance(mix, Mixture):
        raise ValueError(f"mix must be a Mixture, got {type(mix).__name__}")
    delta = _delta(delta)
    if method not in ("exact", "bound"):
        raise ValueError(f"method must be 'exact' or 'bound', got {method!r}")
    rb = concentration_radius(mix, t, delta)
    if method == "bound":
        rho = rb
    else:
        rho = optimize.brentq(lambda r: truncated_mass(mix, t, r) - delta, 1e-9, rb, xtol=1e-12, rtol=1e-12)
    return RhoChoice(rho=float(rho), delta=delta, mass=truncated_mass(mix, t, rho), method=method, bound_rho=rb)


# ============================================================================================ learners
try:  # the GD step is a few skinny products: BLAS threads only add contention (optional speed-up)
    from threadpoolctl import threadpool_limits as _threadpool_limits
except ImportError:  # pragma: no cover
    _threadpool_limits = None


def _one_blas_thread():
    import contextlib

    return _threadpool_limits(1, user_api="blas") if _threadpool_limits else contextlib.nullcontext()


def gd_filter(lam, c, k) -> np.ndarray:
    """g_k(λ) = (1 − (1 − cλ)^k)/λ elementwise (D5): the stable export where |cλ| < 1/2, the plain form above,
    kc where |cλ| < 1e−12 (the limit)."""
    lam = np.asarray(lam, dtype=np.float64)
    cl = c * lam
    small = np.abs(cl) < 1e-12
    mid = ~small & (np.abs(cl) < 0.5)
    out = np.empty_like(lam)
    out[small] = compiled("kernel_regression_tracking", "gd_filter_at_zero", "numpy")(c, k)
    out[mid] = compiled("kernel_regression_tracking", "gd_filter", "numpy")(lam[mid], c, k)
    big = ~small & ~mid
    out[big] = compiled("kernel_regression_tracking", "gd_filter_naive", "numpy")(lam[big], c, k)
    return out


class LinearizedPredictor:
    """f_lin(x; k) = f(x; 0) + H(x, X) H^{-1}(I − (I − cH)^k)(Y − f(X; 0)) with c = ηm (D5), f(·; 0) = 0 (the
    symmetric init), in the eigenbasis of H.

    ``kernel="limit"`` uses H* = K ⊗ I (K = ``limit_kernel`` of the lifted inputs), which acts on each
    output coordinate alike; ``kernel="empirical"`` uses H(W(0)) of ``params`` (the full nd' × nd' matrix).
    Inputs are raw points x; they are lifted with ``rho`` (clipped beyond ρ).
    """

    def __init__(self, x, y, rho, sigma, c, kernel="limit", params: Params | None = None):
        self.rho, self.sigma, self.c, self.kernel = float(rho), float(sigma), float(c), kernel
        self.U = lift(x, rho, clip=True)
        self.y = V.matrix(y, "y")
        self.d_out = self.y.shape[1]
        if kernel == "limit":
            H = limit_kernel(self.U, sigma=sigma)
            self._Z_shape = self.y.shape
        elif kernel == "empirical":
            if params is None:
                raise ValueError("kernel='empirical' needs params (the network at W(0))")
            self.params = params
            H = empirical_ntk(params, self.U)
            self._Z_shape = (self.y.size, 1)
        else:
            raise ValueError(f"kernel must be 'limit' or 'empirical', got {kernel!r}")
        self.lam, self.Q = np.linalg.eigh(H)
        self._Z = self.Q.T @ self.y.reshape(self._Z_shape)

    def cross(self, x) -> np.ndarray:
        """H(x, X) Q: the cross block in the eigenbasis, shape (n_x, n) or (n_x d', n d')."""
        Ux = lift(x, self.rho, clip=True)
        if self.kernel == "limit":
            return limit_kernel(Ux, self.U, sigma=self.sigma) @ self.Q
        return empirical_ntk(self.params, Ux, self.U) @ self.Q

    def predict_from_cross(self, B: np.ndarray, k) -> np.ndarray:
        """f_lin at the points whose :meth:`cross` is B, after k steps; shape (n_x, d')."""
        out = B @ (gd_filter(self.lam, self.c, k)[:, None] * self._Z)
        return out.reshape(-1, self.d_out)

    def predict(self, x, k) -> np.ndarray:
        return self.predict_from_cross(self.cross(x), k)


@dataclass
class KernelFit:
    """Kernel regression with H*, early-stopped: ``predict(x)`` is f_lin(x; k_best)."""

    lin: LinearizedPredictor
    k_best: int
    k_grid: np.ndarray
    val_loss: np.ndarray

    def predict(self, x) -> np.ndarray:
        return self.lin.predict(x, self.k_best)


def kernel_c(U: np.ndarray, sigma: float) -> float:
    """1/λ_max(K) for lifted inputs U: the step-size factor c = ηm from H* alone."""
    K = limit_kernel(U, sigma=sigma)
    return 1.0 / float(np.linalg.eigvalsh(K)[-1])


_LANCZOS_SEED = 20240506     # the seed of the Lanczos starting vector of ntk_lambda_max (any fixed value)


def ntk_lambda_max(params: Params, U: np.ndarray) -> float:
    """λ_max(H(W)) (κ = m) without forming H: H = JJᵀ/m with J v and Jᵀ u from the tangent features (G4),
    by Lanczos (scipy's eigsh) from a fixed starting vector: the same input gives the same value."""
    from scipy.sparse.linalg import LinearOperator, eigsh

    from ntkcheck.core.network import tangent_features

    n, q, m = U.shape[0], params.d_out, params.m
    P = tangent_features(params, U).reshape(n, q, m)
    kap = float(m)

    def matvec(v):
        u = np.asarray(v).reshape(n, q)
        C = np.einsum("il,ilr->ir", u, P)          # Jᵀu = κ Uᵀ C
        w = kap * (U.T @ C)
        Z = U @ w                                  # J w = κ Σ_r P (U w)
        return (kap * np.einsum("ilr,ir->il", P, Z) / m).reshape(-1)

    op = LinearOperator((n * q, n * q), matvec=matvec, dtype=np.float64)
    # a fixed starting vector: ARPACK's default one is random (a new draw on every call), which made the
    # step size, and with it every number of the experiment, differ in the last bits from run to run.  A
    # fixed Gaussian draw is, like ARPACK's, almost surely not orthogonal to the top eigenvector.
    v0 = np.random.default_rng(_LANCZOS_SEED).standard_normal(n * q)
    return float(eigsh(op, k=1, which="LA", tol=1e-8, v0=v0, return_eigenvectors=False)[0])


def step_factor(U: np.ndarray, sigma: float, params_list=()) -> float:
    """c = ηm = 1/max(λ_max(H*), λ_max(H(W(0))) for each given network): hypothesis (iii)'s form without the λ/2,
    safe for the network's GD and for both linearized predictors (c λ_max ≤ 1)."""
    lam = 1.0 / kernel_c(U, sigma)
    for p in params_list:
        lam = max(lam, ntk_lambda_max(p, U))
    return 1.0 / lam


def fit_kernel(x, y, x_val, y_val, rho, sigma, c=None, k_max: float = 1e8, grid: int = 161,
               extra_k=()) -> KernelFit:
    """Kernel regression with H* (D5/D6): f_lin(·; k) with k chosen on the held-out pairs from a geometric
    grid of ``grid`` values in [1, k_max] (plus ``extra_k``); c = ηm defaults to 1/λ_max(K)."""
    lin = LinearizedPredictor(x, y, rho, sigma, c=1.0)
    lin.c = float(1.0 / lin.lam[-1]) if c is None else float(c)
    ks = np.unique(np.concatenate([np.geomspace(1, k_max, grid).round(), np.asarray(extra_k, float)])).astype(np.int64)
    B = lin.cross(x_val)
    yv = V.matrix(y_val, "y_val", cols=lin.d_out)
    losses = np.array([np.mean(np.sum((lin.predict_from_cross(B, k) - yv) ** 2, axis=1)) for k in ks])
    best = int(np.argmin(losses))
    return KernelFit(lin=lin, k_best=int(ks[best]), k_grid=ks, val_loss=losses)


@dataclass
class NetworkFit:
    """The early-stopped network: ``params`` at step ``best_step`` (the recorded step with the least held-out
    loss), with the held-out and training loss curves at ``steps``."""

    params: Params
    rho: float
    eta: float
    kappa: float
    best_step: int
    steps: np.ndarray
    val_loss: np.ndarray
    train_loss: np.ndarray
    steps_run: int
    budget: int
    seconds: float

    @property
    def hit_budget(self) -> bool:
        """True when training stopped at the step budget rather than by the early-stopping rule."""
        return self.steps_run >= self.budget

    def predict(self, x) -> np.ndarray:
        return forward(self.params, lift(x, self.rho, clip=True), self.kappa)


def fit_network(x, y, x_val, y_val, rho, m=512, sigma=1.5, seed=0, steps=3000, record_every=10,
                eta=None, progress=None) -> NetworkFit:
    """Train the softmax network on lifted inputs by GD from the symmetric init and early-stop it on the
    held-out denoising loss (D6).  κ = m; η defaults to :func:`step_factor`/m.  Uses
    :class:`ntkcheck.core.training.Trainer`.

    Stops at ``steps`` or as soon as the best recorded step is less than half the steps run (and at least
    ``10·record_every`` steps have passed since it)."""
    from ntkcheck.core.training import Trainer

    steps = V.positive_int(steps, "steps")
    record_every = V.positive_int(record_every, "record_every")
    U, Uv = lift(x, rho, clip=True), lift(x_val, rho, clip=True)
    y = V.matrix(y, "y", cols=U.shape[1] - 1)
    y_val = V.matrix(y_val, "y_val", cols=y.shape[1])
    p0 = init_params(U.shape[1], m, d_out=y.shape[1], sigma=sigma, scheme="symmetric", seed=seed)
    kap = float(m)
    eta = step_factor(U, sigma, [p0]) / m if eta is None else V.positive_float(eta, "eta")
    t0 = time.perf_counter()
    rec_s, rec_v, rec_t = [], [], []
    best = (np.inf, 0, p0.W.copy())
    with _one_blas_thread():
        tr = Trainer(p0, U, y, eta, kappa=kap)
        s = 0
        while True:
            if s % record_every == 0:
                cur = tr.current()
                vl = float(np.mean(np.sum((forward(cur, Uv, kap) - y_val) ** 2, axis=1)))
                rec_s.append(s)
                rec_v.append(vl)
                if vl < best[0]:
                    best = (vl, s, tr.params().W)
                if s >= steps or (s > 2 * best[1] and s - best[1] >= 10 * record_every):
                    E = tr.residual()
                    rec_t.append(float(np.mean(np.sum(E**2, axis=1))))
                    break
                E = tr.step()
                rec_t.append(float(np.mean(np.sum(E**2, axis=1))))
            else:
                tr.step()
            s += 1
            if progress is not None and s % 50 == 0:
                progress(min(1.0, s / steps))
    return NetworkFit(params=p0.with_W(best[2]), rho=float(rho), eta=float(eta), kappa=kap, best_step=int(best[1]),
                      steps=np.asarray(rec_s), val_loss=np.asarray(rec_v), train_loss=np.asarray(rec_t),
                      steps_run=int(s), budget=steps, seconds=time.perf_counter() - t0)


def score_error(predict, mix: Mixture, t, x_eval=None, n_eval: int = 4000, seed: int = 12345,
                z: float = 1.96) -> dict:
    """E_{x~p_t}‖ŝ(x) − ∇log p_t(x)‖² by Monte Carlo on fresh points (``x_eval``, or n_eval draws of p_t),
    with the CLT interval mean ± z·sd/√N (D6).  ``predict`` maps (n, d) points to (n, d) scores."""
    x = mix.sample_t(n_eval, t, seed) if x_eval is None else _points(x_eval, mix.d, "x_eval")
    sq = np.sum((np.asarray(predict(x)) - mix.score(x, t)) ** 2, axis=1)
    mean, sd = float(sq.mean()), float(sq.std(ddof=1))
    hw = float(compiled("score_generalization", "ci_halfwidth", "numpy")(z, sd, len(sq)))
    return {"mean": mean, "ci": [mean - hw, mean + hw], "sd": sd, "n_eval": len(sq)}


# ============================================================================================ D5
def _rms(a: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.sum(a**2, axis=1))))


def tracking(mix: Mixture, t, n=128, widths=(128, 512, 2048, 8192), sigma=1.5, delta=1e-2, steps=400,
             n_records=9, seeds=1, n_fresh=512, data_seed=0, progress=None) -> dict:
    """‖f_NN(·; k) − f_lin(·; k)‖ against the width m (D5), with f_lin built on H* and on H(W(0)).

    One training set (n pairs at time t) for every width; for each (m, seed) the network is trained by GD
    from the symmetric init with η = c/m, c = :func:`step_factor` over every width (one c for all, so step k
    means the same time), and at ``n_records`` steps k (geometric in
    [1, steps]) the RMS distance sqrt(mean_i ‖f_NN(x_i; k) − f_lin(x_i; k)‖²) is measured on the training
    points and on ``n_fresh`` fresh points of p_t.  Reported per width: the largest distance over the
    recorded k (mean over seeds), and fitted log-log slopes against m."""
    from ntkcheck.core.stats import loglog_slope
    from ntkcheck.core.training import Trainer

    t = _time(t)
    rho = choose_rho(mix, t, delta).rho
    data = denoising_data(mix, n, t, seed=data_seed)
    fresh = mix.sample_t(n_fresh, t, data_seed + 1)
    U = lift(data.x, rho, clip=True)
    Uf = lift(fresh, rho, clip=True)
    inits = {(int(m), sd): init_params(U.shape[1], int(m), d_out=mix.d, sigma=sigma, scheme="symmetric",
                                       seed=1000 * sd + 17) for m in widths for sd in range(seeds)}
    c = step_factor(U, sigma, inits.values())     # one c for every width, so "step k" means the same
    star = LinearizedPredictor(data.x, data.y, rho, sigma, c, "limit")
    Bs_train, Bs_fresh = star.cross(data.x), star.cross(fresh)
    ks = np.unique(np.geomspace(1, steps, n_records).round().astype(int))
    rows = []
    total = len(widths) * seeds
    done = 0
    for m in widths:
        for sd in range(seeds):
            p0 = inits[(int(m), sd)]
            emp = LinearizedPredictor(data.x, data.y, rho, sigma, c, "empirical", params=p0)
            Be_train, Be_fresh = emp.cross(data.x), emp.cross(fresh)
            lam_emp = float(emp.lam[-1])
            dist = {key: [] for key in ("star_train", "star_fresh", "emp_train", "emp_fresh")}
            with _one_blas_thread():
                tr = Trainer(p0, U, data.y, c / m)
                for s in range(steps + 1):
                    if s in ks:
                        cur = tr.current()
                        f_tr, f_fr = forward(cur, U), forward(cur, Uf)
                        dist["star_train"].append(_rms(f_tr - star.predict_from_cross(Bs_train, s)))
                        dist["star_fresh"].append(_rms(f_fr - star.predict_from_cross(Bs_fresh, s)))
                        dist["emp_train"].append(_rms(f_tr - emp.predict_from_cross(Be_train, s)))
                        dist["emp_fresh"].append(_rms(f_fr - emp.predict_from_cross(Be_fresh, s)))
                    if s < steps:
                        tr.step()
            rows.append({"m": int(m), "seed": sd, "steps": ks.tolist(), **{k: v for k, v in dist.items()},
                         **{f"max_{k}": float(max(v)) for k, v in dist.items()},
                         "c_lambda_max_emp": c * lam_emp,
                         "scale_f_lin": _rms(star.predict_from_cross(Bs_fresh, int(ks[-1])))})
            done += 1
            if progress is not None:
                progress(done / total)
    per_m = []
    for m in widths:
        rs = [r for r in rows if r["m"] == int(m)]
        per_m.append({"m": int(m), **{f"max_{k}": float(np.mean([r[f"max_{k}"] for r in rs]))
                                      for k in ("star_train", "star_fresh", "emp_train", "emp_fresh")}})
    fits = {}
    if len(widths) >= 3:
        for key in ("star_train", "star_fresh", "emp_train", "emp_fresh"):
            fits[key] = loglog_slope([r["m"] for r in rows], [r[f"max_{key}"] for r in rows])
    decreasing = {key: bool(all(a[f"max_{key}"] > b[f"max_{key}"] for a, b in zip(per_m, per_m[1:])))
                  for key in ("star_train", "star_fresh", "emp_train", "emp_fresh")}
    return {"n": n, "t": t, "sigma": sigma, "rho": rho, "c": c, "eta_times_m": c, "steps": int(steps),
            "record_steps": ks.tolist(), "widths": [int(m) for m in widths], "seeds": seeds, "n_fresh": n_fresh,
            "rows": rows, "per_m": per_m, "slopes": fits, "strictly_decreasing": decreasing}


# ============================================================================================ D6 pictures
def time_grid(t_min=0.05, t_max=2.5, count=10) -> np.ndarray:
    """A geometric grid of diffusion times, increasing."""
    lo, hi = V.positive_float(t_min, "t_min"), V.positive_float(t_max, "t_max")
    return np.geomspace(lo, hi, V.positive_int(count, "count", 2))


def train_over_time(mix: Mixture, times, n=512, n_val=256, m=512, sigma=1.5, delta=1e-2, steps=1500,
                    record_every=10, seed=0, progress=None) -> list[NetworkFit]:
    """One early-stopped network per time of ``times`` (the simplest honest design: no time conditioning),
    each on its own n denoising pairs and held-out set at that time, lifted with its own ρ."""
    fits = []
    for j, t in enumerate(times):
        tr = denoising_data(mix, n, t, seed=seed + 7919 * j)
        va = denoising_data(mix, n_val, t, seed=seed + 7919 * j + 1)
        rho = choose_rho(mix, t, delta).rho
        fits.append(fit_network(tr.x, tr.y, va.x, va.y, rho, m=m, sigma=sigma, seed=seed + j, steps=steps,
                                record_every=record_every))
        if progress is not None:
            progress((j + 1) / len(times))
    return fits


def flow_samples(score_at, times, d: int, n_samples=1000, seed=0) -> np.ndarray:
    """Samples from the probability-flow ODE dx/dt = −x − ∇log p_t(x) (OU time, D1), integrated from
    times[-1] down to times[0] by Heun's method on the grid ``times`` itself, starting from N(0, I_d).

    ``score_at(j, x)`` is the score at times[j] (a learned network or the true score), so a learned score is
    only evaluated at the times it was trained at.  Returns the samples at times[0], shape (n_samples, d)."""
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or len(times) < 2 or np.any(np.diff(times) <= 0):
        raise ValueError("times must be an increasing 1-D grid with at least two times")
    x = np.random.default_rng(seed).standard_normal((V.positive_int(n_samples, "n_samples"), V.positive_int(d, "d")))
    for j in range(len(times) - 1, 0, -1):
        h = times[j - 1] - times[j]                    # < 0: backwards in time
        k1 = -x - score_at(j, x)
        xe = x + h * k1
        k2 = -xe - score_at(j - 1, xe)
        x = x + 0.5 * h * (k1 + k2)
    return x


def energy_distance(a, b) -> float:
    """The energy distance 2E‖A − B‖ − E‖A − A'‖ − E‖B − B'‖ between two samples (V-statistics)."""
    from scipy.spatial.distance import cdist

    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(2 * cdist(a, b).mean() - cdist(a, a).mean() - cdist(b, b).mean())


def mode_fractions(x, mix: Mixture) -> np.ndarray:
    """The fraction of points whose nearest mean (of p_0) is μ_k, for each k."""
    k = np.argmin(np.sum((np.asarray(x)[:, None, :] - mix.means[None]) ** 2, axis=2), axis=1)
    return np.bincount(k, minlength=mix.K) / len(k)


# ============================================================================================ the experiment
@dataclass(frozen=True)
class Config:
    """Settings of :func:`run` (``ntkcheck diffusion``).  QUICK is the default, FULL the long run, DEMO fits a
    notebook cell (:func:`quick_demo`)."""

    t: float = 0.4                  # the diffusion time of the error-vs-n and tracking experiments
    sigma: float = 1.5              # init scale of W (and of H*)
    delta: float = 1e-2             # truncated mass of the lift
    m: int = 512                    # width of the networks in the error-vs-n experiment
    n_values: tuple = (64, 128, 256, 512)
    seeds: int = 2                  # training sets (and inits) per n
    n_val: int = 256                # held-out denoising pairs for early stopping
    n_eval: int = 4000              # fresh points of p_t for the score error
    steps: int = 3000               # GD step budget
    record_every: int = 10          # held-out loss cadence
    kernel_k_max: float = 1e8       # largest k tried for kernel regression
    track_n: int = 128
    track_widths: tuple = (64, 256, 1024, 4096)
    track_steps: int = 400
    track_seeds: int = 2
    pictures: bool = True
    pic_t_min: float = 0.05
    pic_t_max: float = 2.5
    pic_times: int = 8
    pic_n: int = 512
    pic_m: int = 256
    pic_steps: int = 1500
    pic_samples: int = 1000
    field_grid: int = 21
    seed: int = 0


QUICK = Config()
FULL = replace(QUICK, m=1024, n_values=(64, 128, 256, 512, 1024, 2048), seeds=3, n_eval=10000, steps=20000,
               record_every=20, track_widths=(64, 256, 1024, 4096, 16384), track_seeds=3, track_steps=1000,
               pic_times=10, pic_n=1024, pic_m=1024, pic_steps=5000, pic_samples=2000)
DEMO = replace(QUICK, m=256, n_values=(64, 128, 256), seeds=1, n_eval=2000, steps=1500, track_n=64,
               track_widths=(64, 256, 1024), track_steps=200, track_seeds=1, pic_times=6, pic_n=256, pic_m=256,
               pic_steps=800, pic_samples=500, field_grid=15)


def validate(cfg: Config) -> Config:
    """``cfg`` with every field checked (one ValueError naming the field)."""
    if not isinstance(cfg, Config):
        raise ValueError(f"cfg must be a diffusion.Config, got {type(cfg).__name__}")
    _time(cfg.t)
    for name in ("sigma", "kernel_k_max", "pic_t_min", "pic_t_max"):
        V.positive_float(getattr(cfg, name), name)
    _delta(cfg.delta)
    for name in ("seeds", "n_val", "n_eval", "steps", "record_every", "track_n", "track_steps", "track_seeds",
                 "pic_times", "pic_n", "pic_samples", "field_grid"):
        V.positive_int(getattr(cfg, name), name)
    for name in ("m", "pic_m"):
        m = V.positive_int(getattr(cfg, name), name, minimum=2)
        if m % 2:
            raise ValueError(f"{name} must be even (the symmetric init), got {m}")
    if len(cfg.n_values) < 3 or len(set(cfg.n_values)) != len(cfg.n_values):
        raise ValueError(f"n_values needs at least 3 distinct sizes (a slope with a CI), got {cfg.n_values}")
    for n in cfg.n_values:
        V.positive_int(n, "n_values entry", minimum=4)
    if len(cfg.track_widths) < 3:
        raise ValueError(f"track_widths needs at least 3 widths, got {cfg.track_widths}")
    for m in cfg.track_widths:
        if V.positive_int(m, "track_widths entry", minimum=2) % 2:
            raise ValueError(f"track_widths must be even (the symmetric init), got {m}")
    if not cfg.pic_t_min < cfg.pic_t_max:
        raise ValueError(f"pic_t_min must be < pic_t_max, got {cfg.pic_t_min}, {cfg.pic_t_max}")
    if not isinstance(cfg.seed, (int, np.integer)) or isinstance(cfg.seed, bool) or cfg.seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {cfg.seed!r}")
    return cfg


def _affine_fit(x, y):
    A = np.c_[x, np.ones(len(x))]
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    return lambda z: np.c_[z, np.ones(len(z))] @ coef


def _seed_interval(vals, level=0.95):
    """mean ± t·sd/√s over seeds, the lower end clipped at 0 (an error is ≥ 0); None for one seed."""
    vals = np.asarray(vals, float)
    if len(vals) < 2:
        return None
    hw = stats.t.ppf(0.5 + level / 2, len(vals) - 1) * vals.std(ddof=1) / np.sqrt(len(vals))
    return [max(0.0, float(vals.mean() - hw)), float(vals.mean() + hw)]


def run(cfg: Config = QUICK, mix: Mixture | None = None, progress=None) -> dict:
    """The application experiment of the book's D1–D6 part (D5, D6); returns a JSON-ready dict.

    ``progress(phase, fraction)`` is called as the work proceeds (phases "error vs n", "tracking",
    "pictures").  Same ``cfg`` and mixture ⇒ same numbers."""
    from ntkcheck.core.results import versions
    from ntkcheck.core.stats import loglog_slope

    cfg = validate(cfg)
    mix = default_mixture() if mix is None else mix
    if not isinstance(mix, Mixture):
        raise ValueError(f"mix must be a Mixture, got {type(mix).__name__}")
    tick = progress or (lambda phase, frac: None)
    t0 = time.perf_counter()
    t = cfg.t
    rc = choose_rho(mix, t, cfg.delta)
    x_eval = mix.sample_t(cfg.n_eval, t, cfg.seed + 999_983)
    s_eval = mix.score(x_eval, t)
    fisher = float(np.mean(np.sum(s_eval**2, axis=1)))
    val = [denoising_data(mix, cfg.n_val, t, seed=cfg.seed + 50_000 + sd) for sd in range(cfg.seeds)]

    def err(pred):
        return score_error(pred, mix, t, x_eval=x_eval)

    # -- D6: score error against n -------------------------------------------------------------------------
    runs = []
    total = len(cfg.n_values) * cfg.seeds
    for a, n in enumerate(cfg.n_values):
        for sd in range(cfg.seeds):
            tr = denoising_data(mix, n, t, seed=cfg.seed + 1000 * n + sd)
            va = val[sd]
            c0 = time.perf_counter()
            nf = fit_network(tr.x, tr.y, va.x, va.y, rc.rho, m=cfg.m, sigma=cfg.sigma, seed=cfg.seed + sd,
                             steps=cfg.steps, record_every=cfg.record_every,
                             progress=lambda f, a=a, sd=sd: tick("error vs n", (a * cfg.seeds + sd + f) / total))
            kf = fit_kernel(tr.x, tr.y, va.x, va.y, rc.rho, cfg.sigma, c=nf.eta * cfg.m, k_max=cfg.kernel_k_max,
                            extra_k=nf.steps)
            in_budget = kf.k_grid <= cfg.steps
            k_budget = int(kf.k_grid[in_budget][np.argmin(kf.val_loss[in_budget])])
            ybar = tr.y.mean(axis=0)
            e_nn, e_k = err(nf.predict), err(kf.predict)
            e_kb = err(lambda z: kf.lin.predict(z, k_budget))
            e_tr = err(lambda z: np.broadcast_to(ybar, z.shape))
            e_af = err(_affine_fit(tr.x, tr.y))
            runs.append({"n": int(n), "seed": sd, "error_nn": e_nn["mean"], "error_nn_ci": e_nn["ci"],
                         "error_kernel": e_k["mean"], "error_kernel_ci": e_k["ci"],
                         "error_kernel_budget": e_kb["mean"], "error_kernel_budget_ci": e_kb["ci"],
                         "error_trivial": e_tr["mean"], "error_trivial_ci": e_tr["ci"],
                         "error_affine": e_af["mean"], "error_affine_ci": e_af["ci"],
                         "early_stop_step": nf.best_step, "steps_run": nf.steps_run, "hit_budget": nf.hit_budget,
                         "eta": nf.eta, "kernel_k": kf.k_best, "kernel_k_budget": k_budget,
                         "val_loss_nn": float(nf.val_loss.min()), "val_loss_kernel": float(kf.val_loss.min()),
                         "seconds_nn": nf.seconds, "seconds_kernel": time.perf_counter() - c0 - nf.seconds})
            if a == len(cfg.n_values) - 1 and sd == 0:
                field_fits = (nf, kf)
    rows = []
    for n in cfg.n_values:
        rs = [r for r in runs if r["n"] == int(n)]
        row = {"n": int(n), "seeds": len(rs)}
        for key in ("error_nn", "error_kernel", "error_kernel_budget", "error_trivial", "error_affine"):
            vals = [r[key] for r in rs]
            row[key] = float(np.mean(vals))
            row[f"{key}_seeds"] = vals
            row[f"{key}_ci"] = _seed_interval(vals) or rs[0].get(f"{key}_ci")
        row["ratio_nn_trivial"] = row["error_nn"] / row["error_trivial"]
        row["early_stop_steps"] = [r["early_stop_step"] for r in rs]
        row["kernel_k"] = [r["kernel_k"] for r in rs]
        row["any_hit_budget"] = any(r["hit_budget"] for r in rs)
        rows.append(row)
    fit_nn = loglog_slope([r["n"] for r in runs], [r["error_nn"] for r in runs])
    fit_k = loglog_slope([r["n"] for r in runs], [r["error_kernel"] for r in runs])
    t_err = time.perf_counter() - t0

    # -- D5: tracking against m -----------------------------------------------------------------------------
    t1 = time.perf_counter()
    trk = tracking(mix, t, n=cfg.track_n, widths=cfg.track_widths, sigma=cfg.sigma, delta=cfg.delta,
                   steps=cfg.track_steps, seeds=cfg.track_seeds, data_seed=cfg.seed + 77,
                   progress=lambda f: tick("tracking", f))
    t_trk = time.perf_counter() - t1

    # -- pictures -----------------------------------------------------------------------------------------------
    pics = None
    if cfg.pictures and mix.d == 2:
        t2 = time.perf_counter()
        pics = pictures(mix, cfg, field_fits, progress=lambda f: tick("pictures", f))
        pics["seconds"] = time.perf_counter() - t2

    last = rows[-1]
    assertions = {
        "slope_nn": fit_nn["slope"], "slope_nn_ci": fit_nn["ci"],
        "slope_nn_negative": bool(fit_nn["ci"][1] < 0),
        "slope_kernel": fit_k["slope"], "slope_kernel_ci": fit_k["ci"],
        "slope_kernel_negative": bool(fit_k["ci"][1] < 0),
        "ratio_nn_trivial": [r["ratio_nn_trivial"] for r in rows],
        "ratio_nn_trivial_at_largest_n": last["ratio_nn_trivial"],
        "nn_below_trivial_every_n": bool(all(r["error_nn"] < r["error_trivial"] for r in rows)),
        "nn_below_affine_at_largest_n": bool(last["error_nn"] < last["error_affine"]),
        "tracking_slopes": {k: v["slope"] for k, v in trk["slopes"].items()},
        "tracking_slope_cis": {k: v["ci"] for k, v in trk["slopes"].items()},
        "tracking_decreasing_in_m": bool(all(v["ci"][1] < 0 for v in trk["slopes"].values())),
    }
    return {
        "experiment": "diffusion (D5–D6)",
        "settings": {**asdict(cfg), "d": mix.d, "d_out": mix.d, "mixture": mix.as_dict(), "kappa": "m",
                     "init": "symmetric", "rho": rc.rho, "rho_method": rc.method, "truncated_mass": rc.mass,
                     "truncated_mass_kind": "exact (noncentral chi-square)", "rho_bound": rc.bound_rho,
                     "fisher_information": fisher, "eta_rule": "eta = 1/(m·max(λ_max(H*), λ_max(H(W(0)))))",
                     "early_stopping": "least held-out denoising loss over steps recorded every record_every; "
                                       "stop once the best step is < half the steps run, or at the budget",
                     "kernel_regression": "f_lin(·; k) with H* (D5), k on the same held-out set, geometric grid to "
                                          "kernel_k_max; error_kernel_budget restricts k to the network's budget",
                     "error_ci": "rows: t-interval over seeds, lower end clipped at 0 (the MC interval of seed 0 "
                                 "when seeds = 1); "
                                 "runs: CLT interval of the Monte Carlo mean over n_eval fresh points"},
        "versions": versions(),
        "rows": rows,
        "runs": runs,
        "fit": {"error_nn": fit_nn, "error_kernel": fit_k},
        "tracking": trk,
        "pictures": pics,
        "assertions": assertions,
        "seconds": {"error_vs_n": t_err, "tracking": t_trk, "total": time.perf_counter() - t0},
    }


def pictures(mix: Mixture, cfg: Config, field_fits, progress=None) -> dict:
    """The two-dimensional pictures' data: the true and learned score fields at cfg.t (the network and the
    kernel fitted at the largest n, seed 0), and probability-flow ODE samples driven by one network per
    time of a geometric grid, next to the same ODE with the true score and to samples of p_0."""
    nf, kf = field_fits
    t = cfg.t
    lim = 2.5
    g = np.linspace(-lim, lim, cfg.field_grid)
    G = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)
    # the arrays for pictures are stored rounded to 4 decimals (plenty for a plot; keeps the JSON small)
    field = {"grid": g, "true": np.round(mix.score(G, t), 4), "network": np.round(nf.predict(G), 4),
             "kernel": np.round(kf.predict(G), 4)}
    times = time_grid(cfg.pic_t_min, cfg.pic_t_max, cfg.pic_times)
    nets = train_over_time(mix, times, n=cfg.pic_n, n_val=cfg.n_val, m=cfg.pic_m, sigma=cfg.sigma,
                           delta=cfg.delta, steps=cfg.pic_steps, record_every=cfg.record_every,
                           seed=cfg.seed + 31, progress=progress)
    learned = flow_samples(lambda j, x: nets[j].predict(x), times, mix.d, cfg.pic_samples, seed=cfg.seed + 5)
    exact = flow_samples(lambda j, x: mix.score(x, times[j]), times, mix.d, cfg.pic_samples, seed=cfg.seed + 5)
    p0 = mix.sample(cfg.pic_samples, cfg.seed + 6)
    p_tmin = mix.sample_t(cfg.pic_samples, times[0], cfg.seed + 7)
    p_tmin_2 = mix.sample_t(cfg.pic_samples, times[0], cfg.seed + 8)
    per_time = []
    for j, (tt, nfj) in enumerate(zip(times, nets)):
        e = score_error(nfj.predict, mix, tt, n_eval=2000, seed=cfg.seed + 400 + j)
        per_time.append({"t": float(tt), "error_nn": e["mean"], "error_nn_ci": e["ci"],
                         "fisher": mix.fisher(tt, 20000, seed=cfg.seed + 500 + j)[0],
                         "early_stop_step": nfj.best_step, "hit_budget": nfj.hit_budget})
    return {
        "t_field": t, "field": field, "times": times, "per_time": per_time,
        "samples": {"learned_ode": np.round(learned, 4), "exact_ode": np.round(exact, 4), "p0": np.round(p0, 4)},
        "energy_distance": {"learned_ode_vs_p_tmin": energy_distance(learned, p_tmin),
                            "exact_ode_vs_p_tmin": energy_distance(exact, p_tmin),
                            "learned_ode_vs_p0": energy_distance(learned, p0),
                            "p_tmin_vs_p_tmin (sampling floor)": energy_distance(p_tmin_2, p_tmin)},
        "mode_fractions": {"weights": mix.weights, "learned_ode": mode_fractions(learned, mix),
                           "exact_ode": mode_fractions(exact, mix), "p0": mode_fractions(p0, mix)},
        "design": "one network per time on a geometric grid (no time conditioning); Heun's method on that grid "
                  "from t_max (start N(0, I)) to t_min for dx/dt = −x − ŝ(x, t)",
    }


# ============================================================================================ plots
FIGURES = ("diffusion_error_vs_n.png", "diffusion_tracking.png", "diffusion_score_field.png",
           "diffusion_flow_samples.png")


def _save(fig, path, tight: bool = True):
    """Write ``fig`` to ``path`` (PNG) and close it; returns the path."""
    import matplotlib.pyplot as plt

    if tight:
        fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot(result: dict, folder) -> list:
    """Save the figures of a :func:`run` result into ``folder`` (matplotlib, Agg backend, imported here);
    returns the paths written."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"plot folder {folder} does not exist")
    out = []
    rows, fit = result["rows"], result["fit"]
    n = np.array([r["n"] for r in rows])

    # 1. score error against n: the mean over seeds (line), each seed (dots) with its Monte Carlo interval
    fig, ax = plt.subplots(figsize=(5.5, 4.0), dpi=100)
    runs = result["runs"]
    for c, (key, label, style) in enumerate((("error_nn", "softmax network (early-stopped GD)", "o-"),
                                             ("error_kernel", "kernel regression with H*", "s-"),
                                             ("error_affine", "best affine fit (reference)", "^:"),
                                             ("error_trivial", "trivial (label mean)", "x--"))):
        ax.plot(n, [r[key] for r in rows], style, color=f"C{c}", label=label, ms=4)
        rn = np.array([r["n"] for r in runs], dtype=float) * (1 + 0.03 * (c - 1.5))   # a small offset per series
        y = np.array([r[key] for r in runs])
        ci = np.array([r[f"{key}_ci"] for r in runs], dtype=float)
        ax.errorbar(rn, y, yerr=[y - ci[:, 0], ci[:, 1] - y], fmt=".", color=f"C{c}", alpha=0.5, capsize=2, ms=3)
    f = fit["error_nn"]
    ax.plot(n, np.exp(f["intercept"]) * n ** f["slope"], color="0.5", lw=0.8,
            label=f"fit: slope {f['slope']:.2f} [{f['ci'][0]:.2f}, {f['ci'][1]:.2f}]")
    ax.set(xscale="log", yscale="log", xlabel="n (training pairs)", ylabel="E‖ŝ − ∇log p_t‖²",
           title=f"score error at t = {result['settings']['t']:g} (D6)")
    ax.legend(fontsize=7)
    out.append(_save(fig, folder / FIGURES[0], tight=True))

    # 2. tracking against m
    trk = result["tracking"]
    fig, ax = plt.subplots(figsize=(5.5, 4.0), dpi=100)
    ms = np.array([r["m"] for r in trk["per_m"]])
    for key, label, style in (("star_train", "H*, training points", "o-"), ("star_fresh", "H*, fresh points", "o--"),
                              ("emp_train", "H(W(0)), training points", "s-"),
                              ("emp_fresh", "H(W(0)), fresh points", "s--")):
        s = trk["slopes"].get(key, {}).get("slope", float("nan"))
        ax.plot(ms, [r[f"max_{key}"] for r in trk["per_m"]], style, label=f"{label} (slope {s:.2f})", ms=4)
    ax.set(xscale="log", yscale="log", xlabel="m", ylabel="max_k RMS ‖f_NN(·;k) − f_lin(·;k)‖",
           title=f"tracking the linearized predictor (D5), n = {trk['n']}")
    ax.legend(fontsize=7)
    out.append(_save(fig, folder / FIGURES[1], tight=True))

    pics = result.get("pictures")
    if not pics:
        return out
    # 3. score fields
    fld = pics["field"]
    g = np.asarray(fld["grid"])
    X, Y = np.meshgrid(g, g)
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2), dpi=100, sharex=True, sharey=True)
    true = np.asarray(fld["true"])
    levels = np.linspace(0, max(1e-12, float(np.quantile(np.sqrt(np.sum(true**2, axis=1)), 0.9))), 11)
    im = None
    for ax, key, title in zip(axes, ("true", "network", "kernel"),
                              ("true ∇log p_t", f"softmax network (n = {rows[-1]['n']})", "kernel regression with H*")):
        F = np.asarray(fld[key])
        if key != "true":
            err = np.sqrt(np.sum((F - true) ** 2, axis=1)).reshape(X.shape)
            im = ax.contourf(X, Y, err, levels=levels, cmap="Oranges", extend="max")
        ax.streamplot(X, Y, F[:, 0].reshape(X.shape), F[:, 1].reshape(X.shape), color="C0", density=0.9,
                      linewidth=0.7, arrowsize=0.7)
        ax.set(title=title, aspect="equal", xlim=(g[0], g[-1]), ylim=(g[0], g[-1]))
    fig.colorbar(im, ax=axes, shrink=0.8, label="‖ŝ − ∇log p_t‖ (shaded)")
    fig.suptitle(f"score fields at t = {pics['t_field']:g}")
    out.append(_save(fig, folder / FIGURES[2], tight=False))

    # 4. samples
    smp = pics["samples"]
    ed = pics["energy_distance"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2), dpi=100, sharex=True, sharey=True)
    for ax, key, title in zip(axes, ("p0", "exact_ode", "learned_ode"),
                              ("samples of p_0", f"flow ODE, true score (E = {ed['exact_ode_vs_p_tmin']:.3f})",
                               f"flow ODE, learned score (E = {ed['learned_ode_vs_p_tmin']:.3f})")):
        S = np.asarray(smp[key])
        ax.scatter(S[:, 0], S[:, 1], s=2, alpha=0.5)
        ax.set(title=title, aspect="equal", xlim=(-3, 3), ylim=(-3, 3))
    times = pics["times"]
    fig.suptitle(f"probability-flow ODE from t = {times[-1]:g} to {times[0]:g}, {len(times)} grid times "
                 f"(E: energy distance to p_(t_min); sampling floor {ed['p_tmin_vs_p_tmin (sampling floor)']:.3f})",
                 fontsize=9)
    out.append(_save(fig, folder / FIGURES[3], tight=False))
    return out


def quick_demo(seed: int = 0, plot_dir=None) -> dict:
    """The DEMO configuration (≈ 20 s on two cores): a notebook cell's worth of the experiment.  With
    ``plot_dir`` the figures are saved there too."""
    res = run(replace(DEMO, seed=seed))
    if plot_dir is not None:
        res["figures"] = [str(p) for p in plot(res, plot_dir)]
    return res
