"""D4, the lift of the inputs to the sphere (the book's D4 chapter): :func:`lift` / :func:`unlift`, the
truncated mass P(‖X_t‖ > ρ) (exact, from the noncentral chi-square law) and the choice of ρ."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from ntkcheck.core import validate as V
from ntkcheck.core.compile import compiled
from ntkcheck.experiments.diffusion.d2_gmm import Mixture


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
    return float(np.max(f(np.linalg.norm(m, axis=1), s2, mix.d, as_delta(delta))))


def as_delta(delta) -> float:
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
    delta = as_delta(delta)
    if method not in ("exact", "bound"):
        raise ValueError(f"method must be 'exact' or 'bound', got {method!r}")
    rb = concentration_radius(mix, t, delta)
    if method == "bound":
        rho = rb
    else:
        rho = optimize.brentq(lambda r: truncated_mass(mix, t, r) - delta, 1e-9, rb, xtol=1e-12, rtol=1e-12)
    return RhoChoice(rho=float(rho), delta=delta, mass=truncated_mass(mix, t, rho), method=method, bound_rho=rb)
