"""G5 ntk-limit (the book's G1–G6 part).

With κ = m and the iid init, H(W(0)) → H* = K ⊗ I as m → ∞, K_ij = ⟨x_i,x_j⟩ exp(σ²⟨x_i,x_j⟩).

sympy *integrates* the Gaussian moment generating function E e^{wu} = e^{σ²u²/2} (d = 1) and E e^{wᵀu} =
e^{σ²‖u‖²/2} (d = 3, iterated integral, = the product of d = 1 factors).  At symbolic m, with κ = m, each NTK
entry is an exact algebraic function of six empirical means over neurons; the strong law of large numbers
(written out, by hand) sends them to expectations, which the integrated MGF and the ±1 enumeration evaluate:
the limit is ⟨x_i,x_j⟩ E[f(x_i)f(x_j)] δ_{ℓ₁ℓ₂} = EXPORTS["limit_kernel"] · δ_{ℓ₁ℓ₂}, f(x) = e^{wᵀx − σ²‖x‖²/2}.
"""
from __future__ import annotations

import functools
import itertools

import sympy as sp

from ._core import BY_HAND, EXPORT_BY_HAND, Derivation, Export, cached_derivation
from .definitions import (g, sigma, kappa, m, z, a, r_, s_, S_r, a_lr, aS_l, softmax_of, sum_simplify)
from .ntk_factorization import EXPORTS as G4_EXPORTS

CODE = "G5"
ID = "ntk-limit"
USES = ("G4",)   # the law of large numbers on G4's factorized entries
STATEMENT = "With κ = m and the iid init, H(W(0)) → H* = K ⊗ I as m → ∞, K_ij = ⟨x_i,x_j⟩ exp(σ²⟨x_i,x_j⟩)."

EXPORTS = {
    "limit_kernel": Export((g, sigma), g * sp.exp(sigma**2 * g), "K_ij as a function of g = ⟨x_i,x_j⟩",
                           EXPORT_BY_HAND),
}

DIM = 3   # dimension of the multivariate MGF integral


def _scratch() -> Derivation:
    return Derivation(CODE, ID, STATEMENT)


def gaussian_density(w):
    """The N(0, σ²) density at w."""
    return sp.exp(-w**2 / (2 * sigma**2)) / sp.sqrt(2 * sp.pi * sigma**2)


@functools.lru_cache(maxsize=None)
def gaussian_mgf(dim: int):
    """(u, E_{w~N(0,σ²I_dim)} e^{wᵀu}) with the expectation computed by ``sp.integrate`` (iterated over
    w_1..w_dim against the product density), u a vector of free real symbols."""
    ws = sp.symbols(f"w_1:{dim + 1}", real=True)
    us = sp.symbols(f"u_1:{dim + 1}", real=True)
    integrand = sp.exp(sum(wi * ui for wi, ui in zip(ws, us))) * sp.Mul(*[gaussian_density(wi) for wi in ws])
    value = sp.integrate(integrand, *[(wi, -sp.oo, sp.oo) for wi in ws])
    if value.has(sp.Integral) or value.has(sp.Piecewise):
        raise AssertionError(f"sympy did not evaluate the {dim}-dimensional Gaussian MGF integral: {value}")
    return sp.Matrix(us), value


def mgf_at(vec, dim: int = DIM):
    """The integrated MGF evaluated at the vector ``vec`` (substituted for u)."""
    us, value = gaussian_mgf(dim)
    return value.xreplace(dict(zip(us, vec)))


@functools.lru_cache(maxsize=None)
def _points(dim: int = DIM):
    x = sp.Matrix(sp.symbols(f"x_1:{dim + 1}", real=True))
    y = sp.Matrix(sp.symbols(f"y_1:{dim + 1}", real=True))
    return x, y


def limit_from_integration(dim: int = DIM):
    """⟨x,y⟩ · E[e^{wᵀx}e^{wᵀy}] / (E e^{wᵀx} · E e^{wᵀy}) with every expectation from the integrated MGF
    (the ℓ₁ = ℓ₂ entry of the limit, E a² = 1), as a function of symbolic x, y ∈ R^dim."""
    x, y = _points(dim)
    gxy = (x.T * y)[0, 0]
    return gxy * mgf_at(x + y, dim) / (mgf_at(x, dim) * mgf_at(y, dim))


def check_limit_kernel(expr, dim: int = DIM, derivation: Derivation | None = None) -> Derivation:
    """Assert ``expr``(g = ⟨x,y⟩, σ) equals the limit computed from the integrated Gaussian MGF, for symbolic
    x, y ∈ R^dim.  Raises ProofError if not (e.g. a wrong exponent)."""
    d = derivation or _scratch()
    x, y = _points(dim)
    d.identity(f"K(x,y) = ⟨x,y⟩ E[e^(wᵀx) e^(wᵀy)]/(E e^(wᵀx) E e^(wᵀy)) = limit_kernel(⟨x,y⟩)  (d={dim}, by the "
               "integrated MGF)", limit_from_integration(dim), expr.xreplace({g: (x.T * y)[0, 0]}),
               simplifier=lambda e: sp.simplify(sp.powsimp(sp.expand(e))))
    return d


@cached_derivation
def derive() -> Derivation:
    d = _scratch()
    tf, sc = G4_EXPORTS["tangent_feature"].expr, G4_EXPORTS["ntk_scale"].expr
    K = EXPORTS["limit_kernel"].expr

    # -- the Gaussian moment generating function, by integration ---------------------------------
    w, u = sp.symbols("w u", real=True)
    phi = gaussian_density(w)
    d.define("N(0,σ²) density", sp.Symbol("φ(w)"), phi)
    d.identity("∫ φ(w) dw = 1  (sympy integrates)", sp.integrate(phi, (w, -sp.oo, sp.oo)), 1)
    mgf1 = sp.integrate(sp.exp(w * u) * phi, (w, -sp.oo, sp.oo))
    d.identity("E e^(wu) = ∫ e^(wu) φ(w) dw = e^(σ²u²/2)  (d = 1, sympy integrates)", mgf1,
               sp.exp(sigma**2 * u**2 / 2))
    us, mgfd = gaussian_mgf(DIM)
    d.identity(f"E e^(wᵀu) = ∫_(R^{DIM}) e^(wᵀu) Π_j φ(w_j) dw = e^(σ²‖u‖²/2)  (d = {DIM}, iterated integral)",
               mgfd, sp.exp(sigma**2 * (us.T * us)[0, 0] / 2), simplifier=lambda e: sp.simplify(sp.powsimp(e)))
    d.identity(f"… = Π_j E e^(w_j u_j)  (the d = {DIM} integral factorizes into d = 1 integrals)", mgfd,
               sp.Mul(*[mgf1.xreplace({u: uj}) for uj in us]), simplifier=lambda e: sp.simplify(sp.powsimp(e)))

    check_limit_kernel(K, derivation=d)   # the export against the integrated MGF (the m → ∞ argument follows)

    # -- the normalized feature ------------------------------------------------------------------
    x, y = _points(DIM)
    ws = sp.Matrix(sp.symbols(f"w_1:{DIM + 1}", real=True))
    f = lambda v: sp.exp((ws.T * v)[0, 0] - sigma**2 * (v.T * v)[0, 0] / 2)
    d.identity("m S_r = e^(z_r) / ((1/m) Σ_s e^(z_s))  (symbolic m)", m * softmax_of(z, r_),
               sp.exp(z[r_]) / (sp.Sum(sp.exp(z[s_]), (s_, 0, m - 1)) / m), simplifier=sum_simplify,
               note="the denominator is an empirical mean of i.i.d. log-normal variables")
    d.identity("e^(w_rᵀx) / E e^(wᵀx) = e^(w_rᵀx − σ²‖x‖²/2) = f(w_r, x)  (normalized feature)",
               sp.exp((ws.T * x)[0, 0]) / mgf_at(x), f(x), simplifier=lambda e: sp.simplify(sp.powsimp(e)))
    d.identity("E f(w, x) = 1", mgf_at(x) * sp.exp(-sigma**2 * (x.T * x)[0, 0] / 2), 1,
               simplifier=lambda e: sp.simplify(sp.powsimp(e)))
    d.identity("f(w,x) f(w,y) = e^(wᵀ(x+y)) e^(−σ²(‖x‖²+‖y‖²)/2)", f(x) * f(y),
               sp.exp((ws.T * (x + y))[0, 0]) * sp.exp(-sigma**2 * ((x.T * x)[0, 0] + (y.T * y)[0, 0]) / 2),
               simplifier=lambda e: sp.simplify(sp.powsimp(e)))
    d.identity("E[f(w,x) f(w,y)] = E e^(wᵀ(x+y)) · e^(−σ²(‖x‖²+‖y‖²)/2) = e^(σ²⟨x,y⟩)  (by the integrated MGF)",
               mgf_at(x + y) * sp.exp(-sigma**2 * ((x.T * x)[0, 0] + (y.T * y)[0, 0]) / 2),
               sp.exp(sigma**2 * (x.T * y)[0, 0]), simplifier=lambda e: sp.simplify(sp.powsimp(sp.expand(e))))

    # -- the output weights: uniform ±1, independent -------------------------------------------
    signs = (-1, 1)
    d.identity("E a_(ℓ,r) = 0  (uniform ±1)", sp.Rational(1, 2) * sum(signs), 0)
    d.identity("E a_(ℓ,r)² = 1", sp.Rational(1, 2) * sum(s**2 for s in signs), 1)
    d.identity("E a_(ℓ₁,r) a_(ℓ₂,r) = 0 for ℓ₁ ≠ ℓ₂  (independent)",
               sp.Rational(1, 4) * sum(s1 * s2 for s1, s2 in itertools.product(signs, signs)), 0,
               note="so E a_(ℓ₁,r) a_(ℓ₂,r) = δ_(ℓ₁ℓ₂); with a independent of W, E[a_ℓ₁ a_ℓ₂ h(w)] = δ_(ℓ₁ℓ₂) E h(w) "
                    "and E[a_ℓ h(w)] = 0")

    # -- the NTK entry at κ = m as a function of empirical means (symbolic m) --------------------
    kk = sp.Symbol("k", integer=True, nonnegative=True)
    zeta, b = sp.IndexedBase("zeta", real=True), sp.IndexedBase("b", real=True)   # logits at x_j, a_ℓ₂
    Si, Sj = (lambda r: softmax_of(z, r)), (lambda r: softmax_of(zeta, r))
    c1, c2 = sp.Sum(a[kk] * Si(kk), (kk, 0, m - 1)), sp.Sum(b[kk] * Sj(kk), (kk, 0, m - 1))
    H_entry = sc.xreplace({kappa: m}) * sp.Sum(tf.xreplace({S_r: Si(r_), a_lr: a[r_], aS_l: c1})
                                               * tf.xreplace({S_r: Sj(r_), a_lr: b[r_], aS_l: c2}), (r_, 0, m - 1))
    mean = lambda e: sp.Sum(e, (r_, 0, m - 1)) / m
    ui, uj = sp.exp(z[r_]), sp.exp(zeta[r_])
    ubi, ubj = mean(ui), mean(uj)
    C1, C2 = mean(a[r_] * ui) / ubi, mean(b[r_] * uj) / ubj
    d.define("NTK entry at κ = m", sp.Symbol("H_{(i,ℓ₁),(j,ℓ₂)}"), H_entry,
             note="G4 exports with κ = m; z = W ᵀx_i, ζ = Wᵀx_j, a = a_ℓ₁, b = a_ℓ₂, g = ⟨x_i,x_j⟩")
    d.identity("⟨a_ℓ,S_i⟩ = ((1/m) Σ_r a_(ℓ,r) u_(i,r)) / ((1/m) Σ_r u_(i,r))  (symbolic m)", c1, C1,
               simplifier=sum_simplify)
    d.identity("H_{(i,ℓ₁),(j,ℓ₂)} = g/(ū_i ū_j) [⟨u_i u_j a b⟩ − c₂⟨u_i u_j a⟩ − c₁⟨u_i u_j b⟩ + c₁c₂⟨u_i u_j⟩]  "
               "(symbolic m; ⟨·⟩ = (1/m) Σ_r, ū = ⟨u⟩, c = ⟨a,S⟩)", H_entry,
               g / (ubi * ubj) * (mean(ui * uj * a[r_] * b[r_]) - C2 * mean(ui * uj * a[r_])
                                  - C1 * mean(ui * uj * b[r_]) + C1 * C2 * mean(ui * uj)),
               simplifier=sum_simplify)
    d.remark("m → ∞: strong law of large numbers and continuous mapping", BY_HAND,
             "At the iid init the neurons (w_r, a_(·,r)) are i.i.d., so each of the six empirical means "
             "ū_i = ⟨u_i⟩, ū_j, ⟨a u_i⟩, ⟨b u_j⟩, ⟨u_i u_j a b⟩, ⟨u_i u_j a⟩, ⟨u_i u_j b⟩, ⟨u_i u_j⟩ is the average "
             "of m i.i.d. copies of an integrable variable: |a| = 1 and E u_i u_j = E e^(wᵀ(x_i+x_j)) = "
             "e^(σ²‖x_i+x_j‖²/2) < ∞ (the MGF above). By the strong law each converges a.s. to its mean: "
             "ū_i → E u_i = e^(σ²‖x_i‖²/2) > 0, ⟨a u_i⟩ → E a · E u_i = 0, ⟨u_i u_j a⟩ → 0, ⟨u_i u_j b⟩ → 0, "
             "⟨u_i u_j a b⟩ → δ_(ℓ₁ℓ₂) E u_i u_j, ⟨u_i u_j⟩ → E u_i u_j (independence of a and W, and the ±1 moments "
             "above). In particular c₁ = ⟨a u_i⟩/ū_i → 0 and c₂ → 0, i.e. ⟨a_ℓ,S_i⟩ → 0. The right-hand side of the "
             "previous identity is a continuous function of the eight means wherever ū_i, ū_j > 0, so by continuous "
             "mapping H_{(i,ℓ₁),(j,ℓ₂)} → g δ_(ℓ₁ℓ₂) E[u_i u_j]/(E u_i E u_j) almost surely (a finite intersection of "
             "a.s. events, so jointly for all entries). Equivalently m S_(i,r) behaves like f(w_r, x_i).")
    d.identity("g · E[a_ℓ₁ a_ℓ₂] E[u_i u_j]/(E u_i E u_j) = g e^(σ² g) δ for ℓ₁ = ℓ₂  (integrated MGF)",
               limit_from_integration(), (x.T * y)[0, 0] * sp.exp(sigma**2 * (x.T * y)[0, 0]),
               simplifier=lambda e: sp.simplify(sp.powsimp(sp.expand(e))))

    # -- H* = K ⊗ I_d' with the (i, ℓ) ↦ i·d' + ℓ ordering ------------------------------------
    n_, d_out = 2, 2
    G = sp.Matrix(n_, n_, lambda i, j: sp.Symbol(f"g_{min(i, j)}{max(i, j)}", real=True))
    Kmat = G.applyfunc(lambda gij: K.xreplace({g: gij}))
    Hstar = sp.Matrix(n_ * d_out, n_ * d_out, lambda p, q: K.xreplace({g: G[p // d_out, q // d_out]})
                      * sp.KroneckerDelta(p % d_out, q % d_out))
    kron = sp.kronecker_product(Kmat, sp.eye(d_out))
    d.identities("H* entrywise limit δ_(ℓ₁ℓ₂) K(g_ij) = (K ⊗ I_d')  (n = 2, d' = 2)",
                 [(Hstar[p, q], kron[p, q]) for p in range(n_ * d_out) for q in range(n_ * d_out)])
    return d
