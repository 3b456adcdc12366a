"""Infinite-width kernels: the same call shape as the empirical NTK, ``(X1, X2=None, ...)``.

For the softmax network (G5) and the pointwise networks of the book's Beyond-softmax part, with κ = m and the iid init,
``empirical_ntk(init_params(d, m, d_out, sigma, activation=φ), X1, X2)`` → ``limit_ntk(X1, X2, sigma,
d_out, activation=φ)`` = K_φ ⊗ I_{d_out} as m → ∞, where

    K_φ(x, y) = ⟨x, y⟩ E_{w~N(0,σ²I)}[φ'(wᵀx) φ'(wᵀy)]

(for softmax, φ'(wᵀx) is replaced by the mean-normalized feature e^{wᵀx}/E e^{wᵀx}).  No extra factor:
at κ = m a pointwise network's NTK is H = (1/m) Σ_r ⟨x,y⟩ a_{ℓ₁,r}a_{ℓ₂,r} φ'(w_rᵀx)φ'(w_rᵀy), a plain
mean over neurons whose expectation is K_φ ⊗ I at every m (proofs/activation_kernels.py, §1 of derive).

Three independent evaluations:

* closed forms (relu, exp, softmax; sympy exports of proofs/activation_kernels.py and proofs/ntk_limit.py);
* :func:`quadrature_kernel`: two-dimensional quadrature over (wᵀx, wᵀy) = σ(‖x‖ξ₁, ‖y‖(cos θ ξ₁ +
  sin θ ξ₂)), ξ ~ N(0, I₂), vectorized over all pairs, by a tensor Gauss–Hermite rule (``rule="hermite"``)
  or by a polar rule split at the kinks of φ' (``rule="polar"``: Gauss–Legendre in the angle on each of the
  four wedges cut by the rays wᵀx = 0 and wᵀy = 0, and the Gauss rule of the weight r e^{−r²/2} on
  [0, ∞) in the radius), with the degree doubled until a stated accuracy is reached;
* :func:`quadrature_kernel_mp` (mpmath.quad of the same polar integral, split at the kinks, at high
  precision) and :func:`closed_form_kernel_mp`, the references for the tests;

and the distance of finite networks to it, :func:`init_ntk_errors` (the finite-width experiment,
``ntkcheck.experiments.finite_width``, is built on it).
"""
from __future__ import annotations

import functools

import mpmath
import numpy as np
from scipy.linalg import eigh_tridiagonal

from ntkcheck.core import validate as V
from ntkcheck.core import activations as registry
from ntkcheck.core.network import empirical_ntk, init_params

RULES = registry.QUADRATURE_RULES
# Which activations exist, which have closed forms, which quadrature rule each takes and the parity of φ′
# are facts of the activation registry (ntkcheck.core.activations); ACTIVATIONS, CLOSED_FORMS, AUTO_RULE and EVEN
# are read from it on access (module __getattr__), so a registered activation appears in all four.
DEFAULT_TOL = 1e-10         # quadrature accuracy (relative, see quadrature_kernel)
FIRST_DEGREE, MAX_DEGREE = 8, 256
# The largest degree (explicit or max_degree) accepted: gauss_radial's Chebyshev recurrence costs O(n²)
# mpmath operations at 30 + 2n digits (n = 512: 22 s measured, once per process), and a polar rule holds
# 4n² values per pair (1M at n = 512).
DEGREE_LIMIT = 512


def __getattr__(name: str):
    if name == "ACTIVATIONS":
        return registry.names()
    if name == "CLOSED_FORMS":
        return tuple(a for a in registry.names() if registry.get(a).closed_form is not None)
    if name == "AUTO_RULE":
        return {a: registry.get(a).rule for a in registry.names()}
    if name == "EVEN":
        return tuple(a for a in registry.names() if registry.get(a).even)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _closed_forms() -> str:
    return ", ".join(a for a in registry.names() if registry.get(a).closed_form is not None)


def _inputs(X1, X2):
    X1 = V.matrix(X1, "X1")
    X2 = X1 if X2 is None else V.matrix(X2, "X2", cols=X1.shape[1], cols_name="the columns of X1")
    return X1, X2


# ------------------------------------------------------------------------------------------ geometry
def _norms(X: np.ndarray) -> np.ndarray:
    """Row norms without underflow or overflow: ‖x‖ = s‖x/s‖, s = max_j |x_j| (np.linalg.norm squares the
    entries, which underflows for |x_j| ≲ 1e-154)."""
    s = np.max(np.abs(X), axis=1)
    safe = np.where(s > 0, s, 1.0)
    return s * np.linalg.norm(X / safe[:, None], axis=1)


def _geometry(X1: np.ndarray, X2: np.ndarray):
    """(G, ‖x‖ (n1,), ‖y‖ (n2,), θ (n1, n2)).

    θ = 2 atan2(‖x̂ − ŷ‖, ‖x̂ + ŷ‖) on the unit vectors x̂ = x/‖x‖, ŷ = y/‖y‖ (Kahan): accurate to a few
    ulps for every angle, where arccos(⟨x,y⟩/‖x‖‖y‖) loses half the digits near 0 and π.  The inputs are
    normalized first (with underflow-free norms), so tiny inputs (‖x‖ < 1e-77, where the unnormalized form
    x‖y‖ − y‖x‖ underflowed: 22× off at ‖x‖ = 1e-100) get the same angles as their unit vectors.  θ = 0
    when x or y is 0 (K = 0 there)."""
    G = X1 @ X2.T
    n1, n2 = _norms(X1), _norms(X2)
    U1 = X1 / np.where(n1 > 0, n1, 1.0)[:, None]
    U2 = X2 / np.where(n2 > 0, n2, 1.0)[:, None]
    theta = np.empty(G.shape)
    step = max(1, 2_000_000 // max(1, X2.size))
    for i in range(0, X1.shape[0], step):
        a = U1[i:i + step, None, :]
        b = U2[None, :, :]
        theta[i:i + step] = 2.0 * np.arctan2(np.linalg.norm(a - b, axis=2), np.linalg.norm(a + b, axis=2))
    zero = (n1[:, None] == 0) | (n2[None, :] == 0)
    theta[zero] = 0.0
    return G, n1, n2, theta


class PairGeometry:
    """The geometry of every pair (x_i, y_j) that a closed-form kernel needs, each part computed on first
    use: ``gram`` ⟨x,y⟩ (n1, n2), ``sq_sum`` ‖x‖² + ‖y‖² (one symmetric sum, so that K is exactly symmetric
    when X2 is X1), ``theta`` the angle (:func:`_geometry`), and :meth:`times_exp`."""

    def __init__(self, X1: np.ndarray, X2: np.ndarray):
        self.X1, self.X2 = X1, X2

    @functools.cached_property
    def gram(self) -> np.ndarray:
        return self.X1 @ self.X2.T

    @functools.cached_property
    def sq_sum(self) -> np.ndarray:
        q1, q2 = np.einsum("ij,ij->i", self.X1, self.X1), np.einsum("ij,ij->i", self.X2, self.X2)
        return q1[:, None] + q2[None, :]

    @functools.cached_property
    def theta(self) -> np.ndarray:
        return _geometry(self.X1, self.X2)[3]

    @staticmethod
    def times_exp(g: np.ndarray, e: np.ndarray) -> np.ndarray:
        """g·exp(e) elementwise with no 0·inf (:func:`_times_exp`)."""
        return _times_exp(g, e)


def _times_exp(g: np.ndarray, e: np.ndarray) -> np.ndarray:
    """g·exp(e) elementwise with no 0·inf: where exp(e) overflows, sign(g)·exp(log|g| + e) (0 for g = 0,
    finite whenever the product is, inf only where it overflows); elsewhere the plain product."""
    with np.errstate(over="ignore"):
        ex = np.exp(e)
    out = g * ex if np.all(np.isfinite(ex)) else np.empty(np.broadcast(g, e).shape)
    big = ~np.isfinite(ex)
    if np.any(big):
        g, e = np.broadcast_to(g, out.shape), np.broadcast_to(e, out.shape)
        ok = ~big
        out[ok] = g[ok] * ex[ok]
        gb = g[big]
        with np.errstate(divide="ignore", over="ignore"):
            out[big] = np.where(gb == 0, 0.0, np.sign(gb) * np.exp(np.log(np.abs(gb)) + e[big]))
    return out


# ------------------------------------------------------------------------------------------ closed forms
def closed_form_kernel(X1, X2=None, sigma=1.0, activation="softmax") -> np.ndarray:
    """K_φ in closed form for an activation with one (its registry entry's ``closed_form``; the built-ins
    relu, exp and softmax, from proofs/activation_kernels.py): relu ⟨x,y⟩(π − θ)/(2π) (no σ, no norms beyond
    ⟨x,y⟩), exp ⟨x,y⟩e^{σ²‖x+y‖²/2}, softmax (G5) ⟨x,y⟩e^{σ²⟨x,y⟩}.

    Parameters: ``X1`` (n1×d), ``X2`` (n2×d, default X1), ``sigma`` > 0, ``activation`` a registered name.
    Returns the (n1, n2) array; ValueError for an activation without a closed form."""
    act = registry.get(activation)
    if act.closed_form is None:
        raise ValueError(f"activation {act.name!r} has no closed-form kernel; closed forms: {_closed_forms()}"
                         "; use quadrature_kernel")
    X1, X2 = _inputs(X1, X2)
    sigma = V.positive_float(sigma, "sigma")
    return act.closed_form.numpy(PairGeometry(X1, X2), sigma)


def limit_kernel(X1, X2=None, sigma=1.0, activation="softmax", tol=DEFAULT_TOL) -> np.ndarray:
    """K_φ, shape (n1, n2); the limit NTK is K_φ ⊗ I_{d_out} (:func:`limit_ntk`).

    ``activation`` is a registered name; the default (softmax) is G5, K_ij = ⟨x_i,x_j⟩ exp(σ²⟨x_i,x_j⟩).
    Activations with a closed form (relu, exp, softmax) use it; the others (sigmoid, tanh, swish)
    :func:`quadrature_kernel` at relative accuracy ``tol``.
    """
    act = registry.get(activation)
    if act.closed_form is not None:
        return closed_form_kernel(X1, X2, sigma, act.name)
    return quadrature_kernel(X1, X2, sigma, act.name, tol=tol)


def limit_ntk(X1, X2=None, sigma=1.0, d_out=1, activation="softmax", tol=DEFAULT_TOL) -> np.ndarray:
    """H* = K_φ ⊗ I_{d_out}, ordered like :func:`ntkcheck.empirical_ntk` ((i, ℓ) row-major)."""
    d_out = V.positive_int(d_out, "d_out")
    return np.kron(limit_kernel(X1, X2, sigma, activation, tol), np.eye(d_out))


# ------------------------------------------------------------------------------------------ quadrature
@functools.lru_cache(maxsize=None)
def gauss_hermite(n: int):
    """Nodes and weights of the n-point Gauss rule for N(0, 1) (weights sum to 1)."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    return x, w / w.sum()


@functools.lru_cache(maxsize=None)
def gauss_legendre(n: int):
    """Nodes and weights of the n-point Gauss–Legendre rule on [0, 1]."""
    x, w = np.polynomial.legendre.leggauss(n)
    return (x + 1) / 2, w / 2


@functools.lru_cache(maxsize=None)
def gauss_radial(n: int):
    """Nodes and weights of the n-point Gauss rule for the weight r e^{−r²/2} on [0, ∞) (weights sum to 1).

    The three-term recurrence comes from the moments μ_k = 2^{k/2} Γ(k/2 + 1) by Chebyshev's algorithm
    in mpmath at 30 + 2n digits (the moment map is ill-conditioned; doubling the digits changes no node
    or weight in float64 for n ≤ 256).  The nodes are the eigenvalues of the Jacobi matrix, polished by
    Newton's method on p_n; the weights are the Christoffel numbers 1/Σ_{k<n} p_k(x_j)² (orthonormal p_k
    by the recurrence, rescaled against overflow), accurate *relatively*: Golub–Welsch's squared
    eigenvector components are accurate only to ε absolutely, which the far nodes (weights ~e^{−r²/2},
    integrands like e^{σr}) cannot afford — with them the exp kernel at σ = 2 had errors of 5e-7."""
    n = V.positive_int(n, "n")
    with mpmath.workdps(30 + 2 * n):
        half = mpmath.mpf(1) / 2
        mu = [mpmath.power(2, k * half) * mpmath.gamma(k * half + 1) for k in range(2 * n)]
        a, b = [mu[1] / mu[0]] + [mpmath.mpf(0)] * (n - 1), [mu[0]] + [mpmath.mpf(0)] * (n - 1)
        prev, cur = [mpmath.mpf(0)] * (2 * n), list(mu)
        for k in range(1, n):
            new = [mpmath.mpf(0)] * (2 * n)
            for l in range(k, 2 * n - k):
                new[l] = cur[l + 1] - a[k - 1] * cur[l] - b[k - 1] * prev[l]
            a[k] = new[k + 1] / new[k] - cur[k] / cur[k - 1]
            b[k] = new[k] / cur[k - 1]
            prev, cur = cur, new
        a = np.array([float(t) for t in a])
        sb = np.array([float(mpmath.sqrt(t)) for t in b])
    x, _ = eigh_tridiagonal(a, sb[1:])
    sb = np.append(sb, sb[-1])  # sb[k] = √b_k; the appended one only scales p_n, whose zeros we want
    for _ in range(3):          # Newton on p_n
        _, pn, dpn = _orthonormal(x, a, sb)
        x = x - pn / dpn
    logw, _, _ = _orthonormal(x, a, sb)
    w = np.exp(logw - logw.max())
    return x, w / w.sum()


def _orthonormal(x, a, sb):
    """For the orthonormal polynomials of the recurrence √b_{k+1} p_{k+1} = (x − a_k)p_k − √b_k p_{k−1}
    (p_0 = 1/√b_0), at the points x: (log of the Christoffel number 1/Σ_{k<n} p_k(x)², p_n(x), p_n'(x)),
    the last two up to a common positive factor.  float64 with rescaling (p_k(x) overflows for large x)."""
    n = len(a)
    p_prev, p = np.zeros_like(x), np.full_like(x, 1 / sb[0])
    dp_prev, dp = np.zeros_like(x), np.zeros_like(x)
    ssq, logscale = p * p, np.zeros_like(x)          # Σ p_k² = ssq · e^{2·logscale}
    for k in range(n):
        p_next = ((x - a[k]) * p - sb[k] * p_prev) / sb[k + 1]
        dp_next = (p + (x - a[k]) * dp - sb[k] * dp_prev) / sb[k + 1]
        p_prev, p, dp_prev, dp = p, p_next, dp, dp_next
        if k < n - 1:
            ssq += p * p
        big = np.abs(p) > 1e100
        if big.any():
            for arr in (p_prev, p, dp_prev, dp):
                arr[big] *= 1e-100
            ssq[big] *= 1e-200
            logscale[big] += 100 * np.log(10.0)
    return -np.log(ssq) - 2 * logscale, p, dp


def _hermite(f, a, b, c, s, n):
    """E[f(u) f(v)] and E|f(u) f(v)| by the n×n Gauss–Hermite product rule, per pair.
    u = a ξ₁, v = b(c ξ₁ + s ξ₂); a, b, c, s of shape (P,)."""
    x, w = gauss_hermite(n)
    fu = f(a[:, None] * x[None, :], a[:, None])                                     # (P, n)
    fv = f(b[:, None, None] * (c[:, None, None] * x[None, :, None] + s[:, None, None] * x[None, None, :]),
           b[:, None, None])                                                         # (P, n, n)
    inner, inner_abs = fv @ w, np.abs(fv) @ w
    return (fu * inner) @ w, (np.abs(fu) * inner_abs) @ w


def _polar(f, a, b, theta, n, even=False):
    """E[f(u) f(v)] and E|f(u) f(v)| by the polar rule, per pair: u = a r cos α, v = b r cos(α − θ),
    α over the four wedges [−π/2, θ−π/2], [θ−π/2, π/2], [π/2, θ+π/2], [θ+π/2, 3π/2] (their ends are the
    rays where u = 0 or v = 0, so f(u) f(v) is smooth on each closed wedge for f smooth on each
    half-line), n Gauss–Legendre nodes on each and n radial nodes.  ``even``: f is even, so the last two
    wedges (the first two turned by π) equal the first two and are not evaluated."""
    t, wt = gauss_legendre(n)
    r, wr = gauss_radial(n)
    h = np.pi / 2
    th = theta[:, None]
    start = np.concatenate([np.full_like(th, -h), th - h, np.full_like(th, h), th + h], axis=1)   # (P, 4)
    length = np.concatenate([th, np.pi - th, th, np.pi - th], axis=1)
    start_rel = start - th           # α − θ at the start of each wedge, formed without cancellation
    start_rel[:, 1], start_rel[:, 3] = -h, h
    if even:
        start, length, start_rel = start[:, :2], length[:, :2], start_rel[:, :2]
    al = start[:, :, None] + length[:, :, None] * t                                   # (P, 4, n)
    al_rel = start_rel[:, :, None] + length[:, :, None] * t
    wa = ((2 if even else 1) / (2 * np.pi)) * (length[:, :, None] * wt)              # (P, 4, n)
    fu = f(a[:, None, None, None] * np.cos(al)[..., None] * r, a[:, None, None, None])     # (P, 4, n, n)
    fv = f(b[:, None, None, None] * np.cos(al_rel)[..., None] * r, b[:, None, None, None])
    prod = fu * fv
    return (prod @ wr * wa).sum(axis=(1, 2)), (np.abs(prod) @ wr * wa).sum(axis=(1, 2))


def _rule_on(rule, f, geo, idx, n, even=False):
    a, b, c, s, theta = (v[idx] for v in geo)
    # bound the (P, n, n) (hermite) or (P, 4, n, n) (polar) intermediates to ~4·10⁶ values per block
    per = n * n * ((2 if even else 4) if rule == "polar" else 1)
    block = max(1, 4_000_000 // per)
    E, A = np.empty(len(idx)), np.empty(len(idx))
    with np.errstate(over="ignore", under="ignore"):   # e^{−z} → inf in the logistic φ' gives φ' = 0
        for k in range(0, len(idx), block):
            sl = slice(k, k + block)
            if rule == "hermite":
                E[sl], A[sl] = _hermite(f, a[sl], b[sl], c[sl], s[sl], n)
            else:
                E[sl], A[sl] = _polar(f, a[sl], b[sl], theta[sl], n, even)
    if not (np.all(np.isfinite(E)) and np.all(np.isfinite(A))):
        raise FloatingPointError(f"quadrature_kernel: non-finite values with the {rule} rule at degree {n} "
                                 f"(σ‖x‖ up to {max(a.max(), b.max()):.3g} is too large for float64 here)")
    return E, A


def quadrature_kernel(X1, X2=None, sigma=1.0, activation="softmax", degree=None, tol=DEFAULT_TOL,
                      rule="auto", max_degree=MAX_DEGREE, full_output=False):
    """K_φ = ⟨x,y⟩ E[φ'(u)φ'(v)] by two-dimensional quadrature, (u, v) = (wᵀx, wᵀy) ~ N(0, σ²C),
    C = [[‖x‖², ⟨x,y⟩], [⟨x,y⟩, ‖y‖²]] = L Lᵀ with the Cholesky factor L = [[‖x‖, 0], [‖y‖cos θ, ‖y‖sin θ]].

    ``rule``: ``"hermite"`` (tensor Gauss–Hermite, ``degree`` nodes per axis), ``"polar"`` (split at the
    kinks; ``degree`` Gauss–Legendre nodes on each of four wedges and ``degree`` radial nodes), or
    ``"auto"``: the registry entry's rule (hermite for exp and softmax, polar for the others).

    Accuracy: with ``degree=None`` the degree is doubled from 8 until, for every pair, two successive rules
    agree to ``tol``·Ê|φ'(u)φ'(v)| (the same rule applied to |φ'φ'|, which for φ' ≥ 0 is E[φ'φ'] itself),
    and the finer result is returned; so |K̂ − K| ≲ tol·|⟨x,y⟩|·E|φ'(u)φ'(v)| per entry (for these
    geometrically converging rules the returned error is far below tol: ≤ 4e-15 measured at tol = 1e-10,
    tests/test_kernels_activations.py).  Raises RuntimeError if ``max_degree`` is reached first: relu with
    ``rule="hermite"`` (Gauss–Hermite is O(N^{-1/2}) across a jump: 1.6e-2 at N = 256), the logistic family
    with ``rule="hermite"`` at σ‖x‖ ≳ 2, exp/softmax beyond σ ≈ 7 (their closed forms are exact there).  With an explicit ``degree`` no estimate is
    made.  ``full_output=True`` returns (K, info) with the per-entry degree and error estimate.
    """
    entry = registry.get(activation)
    act = entry.name
    X1, X2 = _inputs(X1, X2)
    sigma = V.positive_float(sigma, "sigma")
    tol = V.positive_float(tol, "tol")
    if rule == "auto":
        rule = entry.rule
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES} or 'auto', got {rule!r}")
    symmetric = X2 is X1
    G, n1, n2, theta = _geometry(X1, X2)
    shape = G.shape
    # pairs to integrate: all, or the upper triangle when X2 is None (then mirrored: K is exactly symmetric)
    rows, cols = np.triu_indices(shape[0]) if symmetric else np.indices(shape).reshape(2, -1)
    a, b, th = sigma * n1[rows], sigma * n2[cols], theta[rows, cols]
    geo = (a, b, np.cos(th), np.sin(th), th)
    f = entry.integrand            # φ'(z), or softmax's mean-normalized feature e^{z − s²/2} (G5)
    even = entry.even
    P = a.size

    def assemble(vals):
        out = np.empty(shape)
        out[rows, cols] = vals
        if symmetric:
            out[cols, rows] = vals
        return out

    if degree is not None:
        n = V.positive_int(degree, "degree")
        if n > DEGREE_LIMIT:
            raise ValueError(f"degree must be <= {DEGREE_LIMIT} (DEGREE_LIMIT), got {n}")
        E, _ = _rule_on(rule, f, geo, np.arange(P), n, even)
        K = G * assemble(E)
        info = {"rule": rule, "degree": np.full(shape, n), "error_estimate": None}
        return (K, info) if full_output else K
    max_degree = V.positive_int(max_degree, "max_degree", FIRST_DEGREE)
    if max_degree > DEGREE_LIMIT:
        raise ValueError(f"max_degree must be <= {DEGREE_LIMIT} (DEGREE_LIMIT), got {max_degree}")
    E, _ = _rule_on(rule, f, geo, np.arange(P), FIRST_DEGREE, even)
    deg, est = np.full(P, FIRST_DEGREE), np.full(P, np.inf)
    active = np.arange(P)
    n = FIRST_DEGREE
    while active.size and 2 * n <= max_degree:
        n *= 2
        E2, A2 = _rule_on(rule, f, geo, active, n, even)
        est[active] = np.abs(E2 - E[active]) / np.where(A2 > 0, A2, 1.0)
        E[active], deg[active] = E2, n
        active = active[est[active] > tol]
    if active.size:
        raise RuntimeError(
            f"quadrature_kernel: the {rule} rule for {act} did not reach tol = {tol:g} by degree {n} "
            f"(estimated relative error {est.max():.2g} for {active.size} of {P} pairs)"
            + ("; Gauss–Hermite converges slowly across relu's jump and, at large σ‖x‖, for the poles of "
               "sigmoid/tanh/swish': use rule='polar'" if rule == "hermite" and entry.rule == "polar"
               else "; raise max_degree or tol"))
    K = G * assemble(E)
    info = {"rule": rule, "degree": assemble(deg).astype(int), "error_estimate": assemble(est)}
    return (K, info) if full_output else K


# ------------------------------------------------------------------------------------------ mpmath references
def _mp_pairs(X1, X2):
    """Per pair (i, j): (⟨x,y⟩, ‖x‖, ‖y‖, θ) in the current mpmath precision, from the exact float inputs."""
    a = [[mpmath.mpf(float(v)) for v in row] for row in X1]
    b = [[mpmath.mpf(float(v)) for v in row] for row in X2]
    out = []
    for x in a:
        qx = mpmath.fsum(t * t for t in x)
        row = []
        for y in b:
            qy = mpmath.fsum(t * t for t in y)
            gxy = mpmath.fsum(s * t for s, t in zip(x, y))
            # Lagrange's identity: ‖x‖²‖y‖² − ⟨x,y⟩² = Σ_{j<k} (x_j y_k − x_k y_j)², no cancellation
            cross = mpmath.fsum((x[j] * y[k] - x[k] * y[j]) ** 2 for j in range(len(x)) for k in range(j + 1, len(x)))
            row.append((gxy, mpmath.sqrt(qx), mpmath.sqrt(qy), mpmath.atan2(mpmath.sqrt(cross), gxy)))
        out.append(row)
    return out


def closed_form_kernel_mp(X1, X2=None, sigma=1.0, activation="softmax", dps=50) -> np.ndarray:
    """The closed forms of :func:`closed_form_kernel` at ``dps`` digits (object array of mpf), evaluated
    from the same sympy exports compiled for mpmath."""
    act = registry.get(activation)
    if act.closed_form is None:
        raise ValueError(f"activation {act.name!r} has no closed-form kernel; closed forms: {_closed_forms()}")
    X1, X2 = _inputs(X1, X2)
    sigma = V.positive_float(sigma, "sigma")
    dps = V.positive_int(dps, "dps", 15)
    with mpmath.workdps(dps):
        s = mpmath.mpf(sigma)
        val = act.closed_form.mpmath
        return np.array([[val(*p, s) for p in row] for row in _mp_pairs(X1, X2)], dtype=object)


def quadrature_kernel_mp(X1, X2=None, sigma=1.0, activation="softmax", dps=20, method="gauss-legendre",
                         full_output=False):
    """K_φ at ``dps`` digits by mpmath.quad of the polar integral

        E[φ'(u)φ'(v)] = (1/2π) ∫ dα ∫₀^∞ r e^{−r²/2} φ'(σ‖x‖ r cos α) φ'(σ‖y‖ r cos(α − θ)) dr,

    nested (the radial integral inside, on [0, ∞]), with α split at −π/2, θ − π/2, π/2, θ + π/2, 3π/2
    (the kinks of φ'), φ' compiled from proofs/activations.py for mpmath, and ``method`` either of
    mpmath's ("gauss-legendre" or "tanh-sinh"), each run to the working precision.  θ comes from
    Lagrange's identity in mpmath, not from float64.

    Slow (pure-Python mpmath: 10–40 s per pair for the smooth activations at 20 digits, ~1 s for relu): a
    reference for a handful of pairs (each pair of X1 with itself integrated once).  ``full_output=True``
    also returns the error estimate of E per pair (the outer estimate over 2π plus the largest inner one;
    mpmath's estimates are heuristic, so the tests compare two methods).  Softmax uses the normalized
    feature e^{z − σ²‖x‖²/2}."""
    fac = registry.get(activation).integrand_mp
    X1, X2 = _inputs(X1, X2)
    sigma = V.positive_float(sigma, "sigma")
    dps = V.positive_int(dps, "dps", 15)
    if method not in ("gauss-legendre", "tanh-sinh"):
        raise ValueError(f"method must be 'gauss-legendre' or 'tanh-sinh', got {method!r}")
    symmetric = X2 is X1
    with mpmath.workdps(dps):
        s = mpmath.mpf(sigma)
        pairs = _mp_pairs(X1, X2)
        K = np.empty((len(pairs), len(pairs[0])), dtype=object)
        err = np.empty(K.shape, dtype=object)
        h = mpmath.pi / 2
        for i, row in enumerate(pairs):
            for j, (gxy, nx, ny, th) in enumerate(row):
                if symmetric and j < i:
                    K[i, j], err[i, j] = K[j, i], err[j, i]
                    continue
                a, b = s * nx, s * ny
                inner_err = [mpmath.mpf(0)]

                def radial(al, a=a, b=b, th=th, inner_err=inner_err):
                    ca, cb = a * mpmath.cos(al), b * mpmath.cos(al - th)
                    v, e = mpmath.quad(lambda r: r * mpmath.exp(-r * r / 2) * fac(ca * r, a) * fac(cb * r, b),
                                       [0, mpmath.inf], method=method, error=True)
                    inner_err[0] = max(inner_err[0], e)
                    return v

                ends = [-h, th - h, h, th + h, 3 * h]
                val, e = mpmath.mpf(0), mpmath.mpf(0)
                for lo, hi in zip(ends[:-1], ends[1:]):
                    if hi > lo:                      # θ = 0 or π leaves empty wedges
                        v, ee = mpmath.quad(radial, [lo, hi], method=method, error=True)
                        val, e = val + v, e + ee
                val /= 2 * mpmath.pi
                K[i, j] = gxy * val
                err[i, j] = e / (2 * mpmath.pi) + inner_err[0]
    return (K, err) if full_output else K


# ------------------------------------------------------------------------------------------ finite width
def init_ntk_errors(X, Hstar, widths, draws, seed_of, sigma=1.0, d_out=1, scheme="iid",
                    activation="softmax") -> np.ndarray:
    """‖H(W(0)) − H*‖₂ at each width in ``widths`` for ``draws`` initializations (κ = m): the loop that the
    finite-width experiment, compare's finite-width section and B7's decay check share.  It is core, not an
    experiment, because a check (B7) calls it and checks import the core only.

    Parameters: ``X`` (n×d), ``Hstar`` (the nd'×nd' reference kernel), ``widths`` (positive ints),
    ``draws`` (a positive int), ``seed_of(k, s) -> int`` the init seed of draw ``s`` at width ``widths[k]``
    (called in the order k = 0, 1, …, and s = 0 … draws − 1 within each k), and ``sigma``, ``d_out``,
    ``scheme``, ``activation`` as in :func:`init_params`.  Returns the len(widths) × draws array of
    spectral-norm distances (not divided by anything)."""
    errs = np.empty((len(widths), draws))
    for k, m in enumerate(widths):
        for s in range(draws):
            p = init_params(X.shape[1], m, d_out, sigma, scheme, seed=seed_of(k, s), activation=activation)
            errs[k, s] = np.linalg.norm(empirical_ntk(p, X) - Hstar, 2)
    return errs
