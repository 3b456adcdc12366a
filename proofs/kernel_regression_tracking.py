"""D5 kernel-regression-tracking (the book's D1–D6 part).

Trained by GD from the symmetric init, after k steps the network stays close to the linearized predictor
f_lin(x; k) = f(x; 0) + H*(x, X)(H*)^{-1}(I − (I − ηmH*)^k)(Y − f(X; 0)).

The formula itself is exact for the linearized model (proved here: GD on f(W_0) + J(W − W_0) with the square
loss gives residuals e_k = (I − ηmH)^k e_0, weights W_k − W_0 = −η Jᵀ Σ_{j<k} e_j, and the geometric sum
ηm Σ_{j<k}(I − ηmH)^j = H^{-1}(I − (I − ηmH)^k), for a symbolic eigenvalue and for a symbolic 2×2 matrix).
The numeric layer applies it in the eigenbasis of H through the spectral filter
g_k(λ) = (1 − (1 − cλ)^k)/λ (c = ηm), computed as −expm1(k·log1p(−cλ))/λ with the limit kc at λ = 0.
That the *network* tracks f_lin, increasingly well as m grows, is the experimental claim: it is checked
numerically (the D5 check, ``ntkcheck diffusion``), with the argument sketched by hand.
"""
from __future__ import annotations

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from ._core import BY_HAND, NUMERIC, Derivation, Export, cached_derivation

CODE = "D5"
ID = "kernel-regression-tracking"
# GD on the linearized model with G4's H; the drift of H along GD as in T1, H* from G5; lifted inputs (D4)
USES = ("G4", "G5", "T1", "D4")
STATEMENT = ("GD from the symmetric init stays close to f_lin(x; k) = f(x; 0) + H*(x, X)(H*)^{-1}(I − (I − ηmH*)^k)"
             "(Y − f(X; 0)); ‖f_NN − f_lin‖ shrinks as m grows (also with H(W(0)) in place of H*).")

lam = sp.Symbol("lambda", real=True)       # an eigenvalue of H
c = sp.Symbol("c", positive=True)          # c = ηm
k = sp.Symbol("k", integer=True, positive=True)
j = sp.Symbol("j", integer=True, nonnegative=True)
q = sp.Symbol("q", positive=True)          # q = 1 − cλ (> 0 when cλ < 1)

FILTER_NAIVE = (1 - (1 - c * lam) ** k) / lam
FILTER = -expm1(k * log1p(-c * lam)) / lam

EXPORTS = {
    "gd_filter": Export((lam, c, k), FILTER,
                        "g_k(λ) = (1 − (1 − cλ)^k)/λ as −expm1(k log1p(−cλ))/λ (for 0 < |cλ| < 1; kc at λ = 0)"),
    "gd_filter_naive": Export((lam, c, k), FILTER_NAIVE, "g_k(λ) = (1 − (1 − cλ)^k)/λ as written"),
    "gd_filter_at_zero": Export((c, k), k * c, "lim_{λ→0} g_k(λ) = kc"),
}


@cached_derivation
def derive() -> Derivation:
    d = Derivation(CODE, ID, STATEMENT)
    X = {name: ex.expr for name, ex in EXPORTS.items()}
    FILTER, FILTER_NAIVE = X["gd_filter"], X["gd_filter_naive"]   # the steps run on the exports
    d.define("linearized model", sp.Symbol("f_lin"),
             sp.Symbol("f_0") + sp.Symbol("J") * (sp.Symbol("W") - sp.Symbol("W_0")),
             note="J(x) the Jacobian of vec f(x) w.r.t. vec W at W_0; H(x, x') = J(x)J(x')ᵀ/m (G4)")
    d.remark("GD on the linearized model", BY_HAND,
             "L = ½‖f_lin(X; W) − Y‖², so W_{k+1} − W_k = −η J(X)ᵀ e_k with e_k = f_lin(X; W_k) − Y, and "
             "e_{k+1} = e_k + J(X)(W_{k+1} − W_k) = (I − η J(X)J(X)ᵀ) e_k = (I − ηmH) e_k.  Summing the weight "
             "steps: f_lin(x; W_k) = f(x; W_0) − ηm H(x, X) Σ_{j<k} e_j.")

    # -- the geometric sum, one eigen-direction, symbolic k ---------------------------------------------------
    e0 = sp.Symbol("e_0", real=True)
    ek = (1 - c * lam) ** k * e0
    d.identity("residual recursion: e_{k+1} = (1 − cλ) e_k for e_k = (1 − cλ)^k e_0  (an eigen-direction)",
               ek.xreplace({k: k + 1}), (1 - c * lam) * ek, simplifier=lambda e: sp.simplify(sp.powsimp(sp.expand(e))))
    geo = sp.summation(c * (1 - c * lam) ** j, (j, 0, k - 1))
    pw = [p for p in geo.atoms(sp.Piecewise)]
    assert len(pw) == 1 and pw[0].args[0][1] == sp.Eq(c * lam, 0), geo   # (k, cλ = 0), (general, True)
    general = geo.xreplace({pw[0]: pw[0].args[1][0]})
    d.identity("c Σ_{j<k} (1 − cλ)^j = (1 − (1 − cλ)^k)/λ  (symbolic k, λ ≠ 0)", general, FILTER_NAIVE,
               note="sympy sums the geometric series; its answer is Piecewise((k c, cλ = 0), (this, True)) and "
                    "the cλ = 0 branch is the limit below")
    d.identity("λ → 0: g_k(λ) → kc", sp.limit(FILTER_NAIVE.xreplace({k: sp.Symbol("K", positive=True)}), lam, 0),
               X["gd_filter_at_zero"].xreplace({k: sp.Symbol("K", positive=True)}), note="the numeric layer uses kc for |cλ| below 1e−12")
    d.identity("stable form: −expm1(k log1p(−cλ))/λ = (1 − (1 − cλ)^k)/λ  (with q = 1 − cλ > 0)",
               FILTER.rewrite(sp.exp).rewrite(sp.log).xreplace({c: (1 - q) / lam}),
               FILTER_NAIVE.xreplace({c: (1 - q) / lam}),
               simplifier=lambda e: sp.simplify(sp.powsimp(sp.expand_log(e, force=True), force=True)),
               note="no cancellation in 1 − (1 − cλ)^k for small cλ; the numeric layer switches to the plain form "
                    "for cλ ≥ 1/2")

    # -- the same at matrix level: symbolic 2×2 symmetric H, k = 3 ----------------------------------------
    h11, h12, h22 = sp.symbols("h_11 h_12 h_22", real=True)
    H = sp.Matrix([[h11, h12], [h12, h22]])
    I2 = sp.eye(2)
    K3 = 3
    lhs = c * sum(((I2 - c * H) ** jj for jj in range(K3)), sp.zeros(2, 2))
    rhs = H.inv() * (I2 - (I2 - c * H) ** K3)
    d.identities("ηm Σ_{j<k}(I − ηmH)^j = H^{-1}(I − (I − ηmH)^k)  (symbolic 2×2 H, k = 3)",
                 list(zip(lhs, rhs)), note="so f_lin(x; k) = f(x; 0) + H(x, X) H^{-1}(I − (I − ηmH)^k)(Y − f(X; 0)): "
                                             "the book's formula; at training points H(X, X)H^{-1} = I gives "
                                             "f_lin(X; k) = Y − (I − ηmH)^k (Y − f(X; 0))")
    e0v = sp.Matrix(sp.symbols("r_1 r_2", real=True))
    res = [(I2 - c * H) ** jj * e0v for jj in range(K3 + 1)]
    d.identities("f_lin(X; k) − Y = −(I − ηmH)^k (Y − f(X; 0)) from summing the steps (2×2, k = 3)",
                 list(zip(-e0v + H * lhs * e0v, -res[K3])),
                 note="with r = Y − f(X; 0) = −e_0: f(X; 0) − ηmH Σ_{j<k} e_j − Y")

    # -- the experimental claim ----------------------------------------------------------------------------
    d.remark("why the network tracks f_lin", BY_HAND,
             "f_NN(x; k) − f_lin(x; k) collects (i) the lazy-training error: H(W(j)) ≠ H(W(0)) along the path, "
             "bounded by B3 with the weight movement R of B6 (R of order nd'/(mλ) from the symmetric init, so "
             "6(e^{4R} − 1) → 0 as m → ∞), plus the second-order Taylor remainder of B5; and (ii) the "
             "concentration error H(W(0)) ≠ H* (B7, of order m^{−1/2}). Replacing H* by H(W(0)) in f_lin "
             "removes (ii) and isolates (i).")
    d.remark("‖f_NN − f_lin‖ decreases in m", NUMERIC,
             "checked by the D5 check and `ntkcheck diffusion`: the largest RMS distance over the GD path, on "
             "training points and on fresh points, for growing m (fitted log-log slope < 0), with H* and H(W(0))")
    return d
