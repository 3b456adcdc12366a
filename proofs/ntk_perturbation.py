"""B3 ntk-perturbation (the book's B1–B7 part).

Under (A1), if max_r ‖w_r − w̃_r‖₂ ≤ R then entrywise
|H(W) − H(W̃)|_{(i,ℓ₁),(j,ℓ₂)} ≤ 6(e^{4R} − 1) Q_ij with Q_ij = (κ²/m)|⟨x_i,x_j⟩| ⟨S_i(W̃), S_j(W̃)⟩, and therefore
‖H(W) − H(W̃)‖₂ ≤ 6(e^{4R} − 1) d' ‖Q‖₂.
"""
from __future__ import annotations

import sympy as sp

from ._core import (BY_HAND, CONCRETE, EXPORT_BY_HAND, NUMERIC, PROVED, Derivation, Export, ProofError,
                          cached_derivation)
from .definitions import a, g, kappa, m, softmax_of, softmax_symbolic, sum_simplify
from .softmax_ratio import E_R, R, certificate, prove_abs_le, prove_by_terms

CODE = "B3"
ID = "ntk-perturbation"
USES = ("G4", "B2")   # G4's entries in tangent features, each moved at most as B2 allows
STATEMENT = ("Under (A1), if max_r ‖w_r − w̃_r‖₂ ≤ R then |H(W) − H(W̃)| ≤ 6(e^{4R} − 1) Q entrywise, "
             "Q_ij = (κ²/m)|⟨x_i,x_j⟩|⟨S_i(W̃),S_j(W̃)⟩, so ‖H(W) − H(W̃)‖₂ ≤ 6(e^{4R} − 1) d' ‖Q‖₂.")

SS = sp.Symbol("SS", nonnegative=True)          # ⟨S_i(W̃), S_j(W̃)⟩
d_out = sp.Symbol("d_out", integer=True, positive=True)
normQ = sp.Symbol("normQ", nonnegative=True)    # ‖Q‖₂

FACTOR = 6 * (sp.exp(4 * R) - 1)

EXPORTS = {
    "factor": Export((R,), FACTOR, "6(e^{4R} − 1)", EXPORT_BY_HAND),
    "Q_entry": Export((kappa, m, g, SS), kappa**2 / m * sp.Abs(g) * SS, "Q_ij = (κ²/m)|⟨x_i,x_j⟩|⟨S̃_i,S̃_j⟩",
                      EXPORT_BY_HAND),
    "spectral_bound": Export((R, d_out, normQ), FACTOR * d_out * normQ, "6(e^{4R} − 1) d' ‖Q‖₂", EXPORT_BY_HAND),
}


def inner_product_steps(d: Derivation) -> None:
    """|⟨a, S⟩| ≤ 1 whenever |a_k| ≤ 1, at symbolic width m (used by B3, B4, B6)."""
    k = sp.Symbol("k", integer=True, nonnegative=True)
    b = sp.IndexedBase("b", nonnegative=True)
    S = softmax_symbolic(k)
    lhs = 1 - sp.Sum(a[k] * S, (k, 0, m - 1))
    rhs = sp.Sum((1 - a[k]) * S, (k, 0, m - 1))
    d.identity("1 − ⟨a,S⟩ = Σ_k (1 − a_k) S_k (symbolic m)", lhs, rhs, simplifier=sum_simplify,
               note="Σ_k S_k = 1; likewise 1 + ⟨a,S⟩ = Σ_k (1 + a_k) S_k")
    nonneg = sp.Sum(b[k] * S, (k, 0, m - 1))
    if nonneg.is_nonnegative is not True:
        raise ProofError("B3: sympy could not sign Σ_k b_k S_k")
    d.inequality("|⟨a,S⟩| ≤ 1 when |a_k| ≤ 1", sp.Abs(sp.Sum(a[k] * S, (k, 0, m - 1))), 1, kind=PROVED,
                 note="sympy: with 1 ∓ a_k = b_k ≥ 0 the sum Σ_k b_k S_k is nonnegative (sympy's sign assumptions: "
                      "b_k ≥ 0, exp > 0, a sum of exponentials > 0), so 1 ∓ ⟨a,S⟩ ≥ 0.")


# the bound of |a_r − ⟨a,S⟩| that sign_gap_step certifies (B4 and B6 build their constants from it)
SIGN_GAP = sp.Integer(2)


def sign_gap_step(d: Derivation, label: str, note: str):
    """|a_r − ⟨a,S⟩| ≤ SIGN_GAP = 2 for a_r = ±1 and ⟨a,S⟩ ∈ [−1, 1] (the previous steps), with a sympy certificate:
    ⟨a,S⟩ = 1 − 2θ/(1 + θ), θ ≥ 0, sweeps (−1, 1]; a_r = 1 shown, −1 is the mirror image (used by B4, B6).
    Returns the certified bound, for the caller to build its constant from."""
    ar, aS = sp.Symbol("a_r", real=True), sp.Symbol("⟨a,S⟩", real=True)
    th = sp.Symbol("θ", nonnegative=True)
    prove_abs_le(d, label, ar - aS, SIGN_GAP, subs=[(ar, 1), (aS, 1 - 2 * th / (1 + th))], note=note)
    return SIGN_GAP

def _brute_force_m2(d: Derivation) -> None:
    """The whole per-entry chain at width m = 2, for both sign patterns a = (1, ±1) (a → −a flips g):
    |g_0 − g̃_0| ≤ 3(e^{2R} − 1) S̃_0 and |g_0| ≤ 2e^{2R} S̃_0, with S = softmax(z̃ + Δ), |Δ_k| ≤ R."""
    c = sp.symbols("c0:2", nonnegative=True)    # S̃_k = c_k/Σc: any point of the simplex
    p = sp.symbols("p0:2", nonnegative=True)    # e^{Δ_k} = (e^{−R} + e^{R} p_k)/(1 + p_k) ∈ [e^{−R}, e^{R})
    E = E_R
    St = [ck / sum(c) for ck in c]
    Ek = [(1 / E + E * pk) / (1 + pk) for pk in p]
    den = sum(St[k] * Ek[k] for k in range(2))
    S = [St[k] * Ek[k] / den for k in range(2)]
    for signs in ((1, 1), (1, -1)):
        aS = sum(signs[k] * S[k] for k in range(2))
        aSt = sum(signs[k] * St[k] for k in range(2))
        gg, gt = S[0] * (signs[0] - aS), St[0] * (signs[0] - aSt)
        for bound, expr in ((3 * (E**2 - 1) * St[0], gg - gt), (2 * E**2 * St[0], gg), (2 * St[0], gt)):
            if not (certificate(bound - expr) and certificate(bound + expr)):
                raise ProofError(f"B3: the m = 2 brute-force chain fails for a = {signs}")
    d.inequality("the chain at m = 2, every sign pattern", sp.Abs(sp.Symbol("g_r − g̃_r")),
                 3 * (sp.exp(2 * R) - 1) * sp.Symbol("S̃_r"), kind=CONCRETE,
                 note="brute force at m = 2 for a = (1, ±1) (a → −a only flips signs): with S̃ = c/Σc, e^{Δ_k} = "
                      "(e^{−R} + e^{R}p_k)/(1 + p_k), e^{R} = 1 + t (c, p, t ≥ 0), the bounds |g − g̃| ≤ 3(e^{2R} − 1)S̃_r, "
                      "|g| ≤ 2e^{2R}S̃_r and |g̃| ≤ 2S̃_r each carry a sympy certificate (both signs).")


@cached_derivation
def derive() -> Derivation:
    from .softmax_ratio import EXPORTS as B2

    d = Derivation(CODE, ID, STATEMENT)
    X = {name: ex.expr for name, ex in EXPORTS.items()}
    K = B2["abs_diff_factor"].expr               # |S_r − S̃_r| ≤ (e^{2R} − 1) S̃_r  (B2)
    Sr, Str = sp.symbols("S_r S̃_r", positive=True)
    aS = sp.Symbol("⟨a,S⟩", real=True)
    ar = sp.Symbol("a_r", real=True)
    d.define("tangent feature", sp.Symbol("g_r"), Sr * (ar - aS),
             note="g_r = P_{(i,ℓ),r} of G4 for one input and one output row a = a_ℓ; g̃_r the same at W̃")

    # -- the per-entry chain at symbolic m ----------------------------------------------------------
    k, r = sp.symbols("k r", integer=True, nonnegative=True)
    zt, z_ = sp.IndexedBase("zt", real=True), sp.IndexedBase("z", real=True)
    St = lambda i: softmax_of(zt, i)  # noqa: E731   S̃ = softmax(z̃)
    Sn = lambda i: softmax_of(z_, i)  # noqa: E731   S = softmax(z)
    ip = lambda f: sp.Sum(a[k] * f(k), (k, 0, m - 1))  # noqa: E731
    g_new, g_old = Sn(r) * (a[r] - ip(Sn)), St(r) * (a[r] - ip(St))
    split = a[r] * (Sn(r) - St(r)) - (Sn(r) - St(r)) * ip(Sn) - St(r) * sp.Sum(a[k] * (Sn(k) - St(k)), (k, 0, m - 1))
    d.identity("split g_r − g̃_r = a_r(S_r − S̃_r) − (S_r − S̃_r)⟨a,S⟩ − S̃_r⟨a, S − S̃⟩  (symbolic m)",
               g_new - g_old, split, simplifier=sum_simplify)
    inner_product_steps(d)
    # |⟨a, S − S̃⟩| ≤ (e^{2R} − 1): y_k = a_k(S_k − S̃_k) with |y_k| ≤ (e^{2R} − 1)S̃_k (B2, |a_k| = 1), Σ S̃_k = 1
    y, b = sp.IndexedBase("y", real=True), sp.IndexedBase("b", nonnegative=True)
    Ysum = sp.Sum(y[k], (k, 0, m - 1))
    for sign, word in ((1, "upper"), (-1, "lower")):
        prove_by_terms(d, f"{'−' if sign < 0 else ''}⟨a, S − S̃⟩ ≤ e^{{2R}} − 1  ({word} side; symbolic m)", sign * Ysum,
                       K, [sp.Sum(K * St(k) - sign * y[k], (k, 0, m - 1))], simplifier=sum_simplify,
                       term_subs=[(y[k], sign * (K * St(k) - b[k]))],
                       note="y_k = a_k(S_k − S̃_k), |y_k| ≤ (e^{2R} − 1)S̃_k (B2's abs_diff_factor, |a_k| = 1), written "
                            "±y_k = (e^{2R} − 1)S̃_k − b_k, b_k ≥ 0; and Σ_k S̃_k = 1")
    IP_GAP = K                                     # the bound just proved
    # the split, each piece in its certified range: |g − g̃| ≤ (2K + K) S̃_r
    Dd, Yy = sp.symbols("D Y", real=True)         # D = S_r − S̃_r, Y = ⟨a, S − S̃⟩
    xx, yy, ww, th = sp.symbols("x y w θ", nonnegative=True)
    diff_bound = (2 * K + IP_GAP) * Str
    rng = lambda lo_hi, v: lo_hi * (v - 1) / (v + 1)  # noqa: E731   sweeps (−lo_hi, lo_hi) as v ≥ 0
    prove_abs_le(d, "|g_r − g̃_r| ≤ 3(e^{2R} − 1) S̃_r", ar * Dd - Dd * aS - Str * Yy, diff_bound,
                 subs=[(ar, 1), (Dd, rng(K * Str, xx)), (aS, rng(1, yy)), (Yy, rng(IP_GAP, ww)), (R, sp.log(E_R))],
                 note="the split with |S_r − S̃_r| ≤ (e^{2R} − 1)S̃_r (B2), ⟨a,S⟩ ∈ [−1, 1], |⟨a, S − S̃⟩| ≤ e^{2R} − 1 "
                      "(previous steps), each parametrized over its whole range; a_r = 1 (a → −a flips every sign)")
    rho = sp.Symbol("ρ", positive=True)
    p_, theta = sp.symbols("p θ", nonnegative=True)
    g_bound = 2 * B2["ratio_upper"].expr * Str
    prove_abs_le(d, "|g_r| ≤ 2e^{2R} S̃_r", Sr * (ar - aS), g_bound,
                 subs=[(Sr, rho * Str), (ar, 1), (aS, 1 - 2 * theta / (1 + theta)),
                       (rho, (sp.exp(-2 * R) + sp.exp(2 * R) * p_) / (1 + p_)), (R, sp.log(E_R))],
                 note="a_r = ±1 (take a_r = 1: a → −a flips g), ⟨a,S⟩ ∈ [−1, 1] (parametrized by θ ≥ 0), "
                      "S_r = ρS̃_r with ρ ∈ [e^{−2R}, e^{2R}] (B2).")
    gt_bound = 2 * Str
    aSt = sp.Symbol("⟨a,S̃⟩", real=True)          # the same certificate at W̃: ⟨a,S̃⟩ in place of ⟨a,S⟩
    prove_abs_le(d, "|g̃_r| ≤ 2 S̃_r", Str * (ar - aSt), gt_bound, subs=[(ar, 1), (aSt, 1 - 2 * theta / (1 + theta))],
                 note="a_r = ±1 (a_r = 1 shown), ⟨a,S̃⟩ ∈ [−1, 1]")
    _brute_force_m2(d)

    # -- the product ------------------------------------------------------------------------------
    gi, gti, gj, gtj = sp.symbols("g g̃ h h̃", real=True)
    d.identity("product difference", gi * gj - gti * gtj, (gi - gti) * gj + gti * (gj - gtj),
               note="g = g_{(i,ℓ₁),r}, h = g_{(j,ℓ₂),r}")
    Si, Sj = sp.Symbol("S̃_{i,r}", positive=True), sp.Symbol("S̃_{j,r}", positive=True)
    at_i, at_j = {Str: Si}, {Str: Sj}
    dg, hh, gg, dh = sp.symbols("Δg h g̃ Δh", real=True)
    x1, x2, x3, x4 = sp.symbols("x1:5", nonnegative=True)
    prod_bound = (diff_bound.xreplace(at_i) * g_bound.xreplace(at_j) + gt_bound.xreplace(at_i) * diff_bound.xreplace(at_j))
    prove_abs_le(d, "|gh − g̃h̃| ≤ |g − g̃||h| + |g̃||h − h̃|, each in its certified range", dg * hh + gg * dh, prod_bound,
                 subs=[(dg, rng(diff_bound.xreplace(at_i), x1)), (hh, rng(g_bound.xreplace(at_j), x2)),
                       (gg, rng(gt_bound.xreplace(at_i), x3)), (dh, rng(diff_bound.xreplace(at_j), x4)),
                       (R, sp.log(E_R))],
                 note="Δg = g − g̃, Δh = h − h̃ with the three bounds above, at inputs i and j")
    per_r = sp.factor(prod_bound / (Si * Sj))
    d.identity("factor = the per-neuron constant of the chain, 3(e^{2R} − 1)·2e^{2R} + 2·3(e^{2R} − 1)", X["factor"],
               per_r, note="(e^{2R} − 1)(e^{2R} + 1) = e^{4R} − 1")
    # summing over r: (κ²/m)|g| Σ_r factor S̃_{i,r}S̃_{j,r} = factor · Q_entry(⟨S̃_i, S̃_j⟩)
    ztj = sp.IndexedBase("ztj", real=True)
    SS_sum = sp.Sum(St(r) * softmax_of(ztj, r), (r, 0, m - 1))
    d.identity("(κ²/m)|⟨x_i,x_j⟩| Σ_r factor·S̃_{i,r}S̃_{j,r} = factor · Q_entry  (symbolic m)",
               kappa**2 / m * sp.Abs(g) * sp.Sum(X["factor"] * St(r) * softmax_of(ztj, r), (r, 0, m - 1)),
               X["factor"] * X["Q_entry"].xreplace({SS: SS_sum}), simplifier=sum_simplify,
               note="H_{(i,ℓ₁),(j,ℓ₂)} = (κ²/m)⟨x_i,x_j⟩ Σ_r g_{(i,ℓ₁),r} g_{(j,ℓ₂),r} (G4)")
    Q = sp.Symbol("Q_ij", nonnegative=True)
    d.inequality("entrywise bound", sp.Abs(sp.Symbol("H(W) − H(W̃)")), X["factor"] * Q, kind=BY_HAND,
                 note="the triangle inequality over r in the G4 entry and the product bound per neuron give "
                      "|ΔH| ≤ (κ²/m)|⟨x_i,x_j⟩| Σ_r factor·S̃_{i,r}S̃_{j,r} = factor·Q_ij (previous identity).")
    spec = X["factor"] * d_out * normQ
    d.inequality("spectral bound", sp.Symbol("‖H(W) − H(W̃)‖₂"), spec, kind=BY_HAND,
                 note="if |E| ≤ N entrywise with N ≥ 0 then ‖E‖₂ = max_{‖u‖=‖v‖=1} uᵀEv ≤ |u|ᵀN|v| ≤ ‖N‖₂; here "
                      "N = factor · Q ⊗ 1_{d'}1_{d'}ᵀ and ‖Q ⊗ 11ᵀ‖₂ = ‖Q‖₂ ‖11ᵀ‖₂ = d'‖Q‖₂ (the singular values "
                      "of a Kronecker product are the products of singular values).")
    d.identity("spectral_bound = factor · d' · ‖Q‖₂", X["spectral_bound"], spec)
    d.remark("violation hunt", NUMERIC,
             "check B3: random sampling and an adversarial search (over W̃, W − W̃ projected onto max_r‖w_r − w̃_r‖ ≤ R, "
             "the data projected onto ‖x‖ ≤ 1, and R) of both the entrywise and the spectral ratio.")
    return d
