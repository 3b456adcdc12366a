"""The bounds B1–B7 as numbers, each compiled from the expression its proofs/ module exports.

No formula is retyped here: every constant comes from ``proofs.<module>.EXPORTS`` through
:func:`ntkcheck.core.compile.compiled`; this module only validates the arguments, evaluates the softmax
quantities a bound needs (max S, ‖Q‖₂, ‖∇_{w_r}L‖, …) and plugs them in.  All functions are for the softmax
network (``params.activation == "softmax"``) and vectorized over neurons and samples.
"""
from __future__ import annotations

import numbers

import numpy as np

from ntkcheck.core import validate as V
from ntkcheck.core.compile import compiled
from ntkcheck.core.network import Params, empirical_ntk, get_activation, gradient, residual

__all__ = [
    "Q_matrix", "descent_beta", "gradient_row_bounds", "hessian_bound", "init_bound", "ntk_concentration_eps",
    "ntk_perturbation_bound", "ntk_perturbation_factor", "one_step_sides", "softmax_ratio_bound",
    "weight_movement_bound",
]


def _fn(module: str, name: str):
    return compiled(module, name, "numpy")


# ------------------------------------------------------------------------------------------ validation
def _real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def _nonneg(value, name: str) -> float:
    v = _real(value, name)
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return v


def _probability(value, name: str) -> float:
    v = V.positive_float(value, name)
    if v >= 1:
        raise ValueError(f"{name} must lie in (0, 1), got {value!r}")
    return v


def _unit_interval(value, name: str) -> float:
    v = V.positive_float(value, name)
    if v > 1:
        raise ValueError(f"{name} must lie in (0, 1], got {value!r}")
    return v


def _softmax_params(params) -> Params:
    if not isinstance(params, Params):
        raise ValueError(f"params must be a Params from init_params, got {type(params).__name__}")
    if params.activation != "softmax":
        raise ValueError(f"the bounds B1–B7 are for the softmax network; params.activation is {params.activation!r}")
    return params


def _data(params: Params, X, *, unit_ball: bool) -> np.ndarray:
    X = V.matrix(X, "X", cols=params.d)
    if unit_ball:
        V.unit_ball(X, "X")
    return X


def _softmax(params: Params, X: np.ndarray) -> np.ndarray:
    return get_activation("softmax").features(X @ params.W)[0]


# ------------------------------------------------------------------------------------------ B1, B2
def init_bound(sigma, n, m, delta) -> float:
    """B1: B = σ√(2 ln(2nm/δ)); with probability ≥ 1 − δ, |w_r(0)ᵀx_i| ≤ B for all i, r (under (A1))."""
    sigma = V.positive_float(sigma, "sigma")
    n, m = V.positive_int(n, "n"), V.positive_int(m, "m")
    delta = _probability(delta, "delta")
    return float(_fn("init_bound", "B")(sigma, n, m, delta))


def softmax_ratio_bound(R) -> float:
    """B2: e^{2R}, the bound on S_r(W,x)/S_r(W̃,x) when max_r‖w_r − w̃_r‖ ≤ R and ‖x‖ ≤ 1."""
    R = _nonneg(R, "R")
    with np.errstate(over="ignore"):
        return float(_fn("softmax_ratio", "ratio_upper")(np.float64(R)))


# ------------------------------------------------------------------------------------------ B3
def ntk_perturbation_factor(R) -> float:
    """B3: 6(e^{4R} − 1)."""
    R = _nonneg(R, "R")
    with np.errstate(over="ignore"):
        return float(_fn("ntk_perturbation", "factor")(np.float64(R)))


def Q_matrix(params, X, kappa=None) -> np.ndarray:
    """B3: Q_ij = (κ²/m)|⟨x_i,x_j⟩|⟨S_i(W̃),S_j(W̃)⟩ at W̃ = params.W, shape (n, n)."""
    params = _softmax_params(params)
    X = _data(params, X, unit_ball=False)
    k = V.kappa(kappa, params.m)
    return Q_from_features(_softmax(params, X), X, params.m, k)


def Q_from_features(S: np.ndarray, X: np.ndarray, m: int, kappa: float) -> np.ndarray:
    """B3's Q from softmax features S (n×m) already computed for X (the one-pass path of ntkcheck.core.theorem)."""
    return np.asarray(_fn("ntk_perturbation", "Q_entry")(kappa, m, X @ X.T, S @ S.T), dtype=float)


def ntk_perturbation_bound(R, params, X, kappa=None) -> float:
    """B3: 6(e^{4R} − 1) d' ‖Q‖₂ with W̃ = params.W: bounds ‖H(W) − H(W̃)‖₂ whenever max_r‖w_r − w̃_r‖ ≤ R
    (under (A1))."""
    R = _nonneg(R, "R")
    params = _softmax_params(params)
    X = _data(params, X, unit_ball=True)
    normQ = np.linalg.norm(Q_matrix(params, X, kappa), 2)
    with np.errstate(over="ignore", invalid="ignore"):
        return float(_fn("ntk_perturbation", "spectral_bound")(np.float64(R), params.d_out, normQ))


# ------------------------------------------------------------------------------------------ B4, B5
def hessian_bound(params, X, kappa=None) -> float:
    """B4: 2κ max_i‖x_i‖² max_{i,r} S_{i,r}(W) ≥ max_{i,ℓ} ‖∇²_W F_ℓ(x_i)‖₂ (the constant comes from the export)."""
    params = _softmax_params(params)
    X = _data(params, X, unit_ball=False)
    k = V.kappa(kappa, params.m)
    return hessian_bound_from(float(_softmax(params, X).max()), X, k)


def hessian_bound_from(S_max: float, X: np.ndarray, kappa: float) -> float:
    """B4's 2κ max_i‖x_i‖² S_max from a precomputed max_{i,r} S_{i,r} (the one-pass path of ntkcheck.core.theorem)."""
    xsq = float(np.max(np.einsum("ij,ij->i", X, X)))
    return float(_fn("hessian_bound", "hessian_norm_bound")(kappa, xsq, S_max))


def descent_beta(params, X, eta, grad, kappa=None) -> float:
    """B5: β = 2κ max_i‖x_i‖² max_{i,r} S_{i,r}(W) e^{2ρ}, ρ = η max_r ‖∇_{w_r}L‖ (``grad`` = ∇L, d×m):
    bounds the Hessian of every output on the segment [W, W − η·grad] (B4 with B2, under (A1))."""
    params = _softmax_params(params)
    X = _data(params, X, unit_ball=True)
    eta = V.positive_float(eta, "eta")
    grad = V.matrix(grad, "grad", cols=params.m, cols_name="m")
    if grad.shape[0] != params.d:
        raise ValueError(f"grad must have shape (d, m) = ({params.d}, {params.m}), got {grad.shape}")
    k = V.kappa(kappa, params.m)
    f64 = np.float64   # numpy scalars: an overflow gives inf (a vacuous bound), not an exception
    S = _softmax(params, X)
    xsq = np.max(np.einsum("ij,ij->i", X, X))
    with np.errstate(over="ignore", invalid="ignore"):
        rho = _fn("one_step_descent", "rho")(f64(eta), np.max(np.linalg.norm(grad, axis=0)))
        return float(_fn("one_step_descent", "beta")(f64(k), xsq, S.max(), f64(rho)))


def one_step_sides(params, X, Y, eta, kappa=None) -> tuple[float, float]:
    """B5: (‖e⁺‖₂, ‖I − ηmH(W)‖₂‖e‖₂ + ½η²β√(nd')‖∇L(W)‖_F²) for one gradient-descent step of size η."""
    params = _softmax_params(params)
    X = _data(params, X, unit_ball=True)
    eta = V.positive_float(eta, "eta")
    k = V.kappa(kappa, params.m)
    e = residual(params, X, Y, k)
    grad = gradient(params, X, Y, k)
    lhs = float(np.linalg.norm(residual(params.with_W(params.W - eta * grad), X, Y, k)))
    lam = np.linalg.eigvalsh(empirical_ntk(params, X, kappa=k))
    contraction = float(np.max(np.abs(1.0 - eta * params.m * lam[[0, -1]])))
    beta = descent_beta(params, X, eta, grad, k)
    f64 = np.float64
    with np.errstate(over="ignore", invalid="ignore"):
        rhs = _fn("one_step_descent", "rhs")(f64(contraction), f64(np.linalg.norm(e)), f64(eta), f64(beta),
                                             X.shape[0], params.d_out, f64(np.vdot(grad, grad)))
    return lhs, float(rhs)


# ------------------------------------------------------------------------------------------ B6
def gradient_row_bounds(params, X, Y, kappa=None) -> tuple[np.ndarray, np.ndarray]:
    """B6: per neuron r, the two bounds on ‖∇_{w_r}L(W)‖₂: 2κ max_i(S_{i,r}‖x_i‖)‖e‖₁ and
    2κ max_i S_{i,r} √(nd') ‖e‖₂ (the second under (A1)); arrays of length m."""
    params = _softmax_params(params)
    X = _data(params, X, unit_ball=True)
    k = V.kappa(kappa, params.m)
    e = residual(params, X, Y, k)
    S = _softmax(params, X)
    xn = np.linalg.norm(X, axis=1)
    l1 = _fn("weight_movement", "grad_row_bound_l1")(k, np.max(S * xn[:, None], axis=0), float(np.abs(e).sum()))
    l2 = _fn("weight_movement", "grad_row_bound_l2")(k, S.max(axis=0), X.shape[0], params.d_out,
                                                     float(np.linalg.norm(e)))
    return np.asarray(l1, dtype=float), np.asarray(l2, dtype=float)


def weight_movement_bound(eta, kappa, S_bar, n, d_out, e0_norm, p) -> float:
    """B6: 2ηκS̄√(nd')‖e(0)‖₂/p, the bound on max_r‖w_r(t) − w_r(0)‖₂ when ‖e(s)‖₂ ≤ (1 − p)^s‖e(0)‖₂ for s < t
    (p ∈ (0, 1]; ``S_bar`` may be any upper bound on the largest S_{i,r} along the path, e.g. e^{2R}·max S(W(0)))."""
    eta = V.positive_float(eta, "eta")
    kappa = V.positive_float(kappa, "kappa")
    S_bar = V.positive_float(S_bar, "S_bar")   # the largest S_{i,r} along the path, or any upper bound on it
    n, d_out = V.positive_int(n, "n"), V.positive_int(d_out, "d_out")
    e0_norm = _nonneg(e0_norm, "e0_norm")
    p = _unit_interval(p, "p")
    return float(_fn("weight_movement", "movement")(eta, kappa, S_bar, n, d_out, e0_norm, p))


# ------------------------------------------------------------------------------------------ B7
def ntk_concentration_eps(m, delta, sigma, X, d_out) -> float:
    """B7: ε(m, δ, σ, X) with P(‖H(W(0)) − H*‖₂ ≤ ε) ≥ 1 − δ for κ = m and the iid init (``inf`` when m is
    too small for the normalization argument, i.e. some Chebyshev radius of A_i = ᾱ_i/μ_i is ≥ 1).

    The derivation (proofs/ntk_concentration.py) does not use (A1), so X is not required to lie in the unit
    ball.  ε is assembled as ‖N_same ⊗ I + N_cross ⊗ (11ᵀ − I)‖₂ from the exported per-pair entry bounds."""
    m = V.positive_int(m, "m")
    delta = _probability(delta, "delta")
    sigma = V.positive_float(sigma, "sigma")
    X = V.matrix(X, "X")
    d_out = V.positive_int(d_out, "d_out")
    n = X.shape[0]
    nu = np.einsum("ij,ij->i", X, X)
    G = X @ X.T
    with np.errstate(over="ignore", invalid="ignore"):
        tau = np.asarray(_fn("ntk_concentration", "tau_A")(m, delta, n, d_out, sigma, nu), dtype=float)
        if not np.all(np.isfinite(tau)) or np.any(tau >= 1):
            return float("inf")
        args = (m, delta, n, d_out, sigma, nu[:, None], nu[None, :], G)
        same = np.asarray(_fn("ntk_concentration", "entry_same")(*args), dtype=float)
        cross = np.asarray(_fn("ntk_concentration", "entry_cross")(*args), dtype=float)
    if not (np.all(np.isfinite(same)) and np.all(np.isfinite(cross))):
        return float("inf")
    eye = np.eye(d_out)
    N = np.kron(same, eye) + np.kron(cross, np.ones((d_out, d_out)) - eye)
    return float(np.linalg.norm(N, 2))
