"""D2, the exact score of a Gaussian mixture at time t (the book's D2 chapter): the :class:`Mixture`, its
log-sum-exp score :func:`gmm_score` (compiled from proofs/gmm_score.py), the log density, the naive form and
the mpmath twin."""
from __future__ import annotations

from dataclasses import dataclass

import mpmath
import numpy as np

from ntkcheck.core import validate as V
from ntkcheck.core.compile import compiled
from ntkcheck.experiments.diffusion.d1_forward import as_time, mean_scale


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
        t = as_time(t)
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


def as_points(x, d: int, name: str = "x") -> np.ndarray:
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
    x = as_points(x, mix.d)
    t = as_time(t)
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
    x = as_points(x, mix.d)
    ell, _, _ = logits(x, as_time(t), mix)
    top = ell.max(axis=1)
    return top + np.log(np.exp(ell - top[:, None]).sum(axis=1))


def gmm_score_naive(x, t, weights, means, variances) -> np.ndarray:
    """The same formula with the densities formed directly (no log-sum-exp): NaN where every density
    underflows.  Kept only to show, in the tests, that the stable form is needed."""
    mix = mixture(weights, means, variances)
    x = as_points(x, mix.d)
    m, s2 = mix.at(as_time(t))
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
    x = as_points(x, mix.d)
    t = as_time(t)
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
