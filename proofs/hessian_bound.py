"""B4 hessian-bound (the book's B1–B7 part).

‖M‖₂ ≤ 2 max_r S_r, so ‖∇²_W F_ℓ(x)‖₂ ≤ 2 κ ‖x‖² max_r S_r(x)   (M of G3).

With p = S∘v (v = a_ℓ − ⟨a_ℓ,S⟩1), Σ_r p_r = 0, hence M = (I − 1Sᵀ)ᵀ diag(p) (I − 1Sᵀ) (sympy, symbolic m), so
uᵀMu = Σ_r S_r v_r (u_r − ⟨S,u⟩)², |v_r| ≤ 2 and Σ_r S_r (u_r − ⟨S,u⟩)² ≤ Σ_r S_r u_r² ≤ max_r S_r ‖u‖².
(The first edition had the valid but 3× looser constant 6, from the triangle inequality on three pieces.)
"""
from __future__ import annotations

import sympy as sp

from ._core import BY_HAND, EXPORT_BY_HAND, NUMERIC, Derivation, Export, cached_derivation
from .definitions import (S_r, S_s, a, delta_rs, in_range, kappa, m, softmax_symbolic, sum_simplify, v_r,
                                v_s)
from .ntk_perturbation import inner_product_steps, sign_gap_step
from .softmax_ratio import prove_by_terms

CODE = "B4"
ID = "hessian-bound"
USES = ("G3",)   # the matrix M of G3, written as a congruence of a diagonal matrix
STATEMENT = "‖M‖₂ ≤ 2 max_r S_r, so ‖∇²_W F_ℓ(x)‖₂ ≤ 2 κ ‖x‖² max_r S_r(x)."

Smax = sp.Symbol("S_max", nonnegative=True)
xsq = sp.Symbol("xsq", nonnegative=True)   # ‖x‖²

EXPORTS = {
    "M_norm_bound": Export((Smax,), 2 * Smax, "‖M‖₂ ≤ 2 max_r S_r", EXPORT_BY_HAND),
    "hessian_norm_bound": Export((kappa, xsq, Smax), 2 * kappa * xsq * Smax, "‖∇²_W F_ℓ(x)‖₂ ≤ 2κ‖x‖² max_r S_r",
                                 EXPORT_BY_HAND),
}


@cached_derivation
def derive() -> Derivation:
    from .hessian import EXPORTS as G3

    d = Derivation(CODE, ID, STATEMENT)
    X = {name: ex.expr for name, ex in EXPORTS.items()}
    d.define("M (G3)", sp.Symbol("M"), sp.Symbol("diag(S∘v) − (S∘v)Sᵀ − S(S∘v)ᵀ"),
             note="v = a_ℓ − ⟨a_ℓ,S⟩1; ∇²_W F_ℓ(x) = κ M ⊗ xxᵀ (G3); M is symmetric (G3)")
    inner_product_steps(d)
    gap = sign_gap_step(d, "|v_r| ≤ 2",
                        note="a_r = ±1 (a_r = 1 shown; −1 is the mirror image), ⟨a,S⟩ ∈ [−1, 1] parametrized by θ ≥ 0")

    # -- the factorization, at symbolic m, from G3's exported entry --------------------------------
    k, r, s, j = sp.symbols("k r s j", integer=True, nonnegative=True)
    S = softmax_symbolic
    aS = sp.Sum(a[j] * S(j), (j, 0, m - 1))
    v = lambda i: a[i] - aS  # noqa: E731
    p = lambda i: S(i) * v(i)  # noqa: E731
    d.identity("Σ_r p_r = Σ_r S_r(a_r − ⟨a,S⟩) = 0  (symbolic m)", sp.Sum(p(k), (k, 0, m - 1)), 0,
               simplifier=sum_simplify, note="p = S∘v; ⟨a,S⟩ − ⟨a,S⟩Σ_r S_r = 0")
    Mrs = G3["hessian_M_entry"].expr.xreplace({delta_rs: sp.KroneckerDelta(r, s), S_r: S(r), S_s: S(s),
                                                v_r: v(r), v_s: v(s)})
    BDB = sp.Sum((sp.KroneckerDelta(k, r) - S(r)) * p(k) * (sp.KroneckerDelta(k, s) - S(s)), (k, 0, m - 1))
    d.identity("M_rs = ((I − 1Sᵀ)ᵀ diag(p) (I − 1Sᵀ))_rs  (symbolic m; G3's hessian_M_entry)", Mrs,
               in_range(sp.expand(BDB).doit(), (r, m), (s, m)), simplifier=sum_simplify,
               note="(I − 1Sᵀ)_{kr} = δ_kr − S_r; the right side is δ_rs p_r − p_rS_s − S_rp_s + S_rS_s Σ_k p_k, and Σ_k p_k = 0 "
                    "(previous step) is what sympy's linearity of sums uses")
    u = sp.IndexedBase("u", real=True)
    c = lambda i: u[i] - sp.Sum(S(j) * u[j], (j, 0, m - 1))  # noqa: E731   ((I − 1Sᵀ)u)_i = u_i − ⟨S,u⟩
    quad = in_range(sp.expand(sp.Sum(sp.Sum(u[r] * Mrs * u[s], (s, 0, m - 1)), (r, 0, m - 1))).doit(), (r, m))
    d.identity("uᵀMu = Σ_k S_k v_k (u_k − ⟨S,u⟩)²  (symbolic m, every u ∈ R^m)", quad,
               sp.Sum(p(k) * c(k)**2, (k, 0, m - 1)), simplifier=sum_simplify,
               note="the double sum Σ_rs u_r M_rs u_s from G3's entry, evaluated by sympy")
    d.identity("Σ_k S_k (u_k − ⟨S,u⟩)² = Σ_k S_k u_k² − ⟨S,u⟩²  (symbolic m: variance = second moment − mean²)",
               sp.Sum(S(k) * c(k)**2, (k, 0, m - 1)),
               sp.Sum(S(k) * u[k]**2, (k, 0, m - 1)) - sp.Sum(S(j) * u[j], (j, 0, m - 1))**2, simplifier=sum_simplify)

    # -- the two inequalities, on generic weights (symbolic m) ----------------------------------------
    Sb, vb, cb = sp.IndexedBase("S", nonnegative=True), sp.IndexedBase("v", real=True), sp.IndexedBase("c", real=True)
    ub, th, q = sp.IndexedBase("u", real=True), sp.IndexedBase("θ", nonnegative=True), sp.IndexedBase("q", nonnegative=True)
    quad_g = sp.Sum(Sb[k] * vb[k] * cb[k]**2, (k, 0, m - 1))
    var_g = sp.Sum(Sb[k] * cb[k]**2, (k, 0, m - 1))
    for sign, word in ((1, "upper"), (-1, "lower")):
        v_par = [(vb[k], sign * (gap - th[k]))]   # v_k ≤ 2 (upper) resp. v_k ≥ −2 (lower): v_k = ±(2 − θ_k), θ_k ≥ 0
        prove_by_terms(d, f"{'−' if sign < 0 else ''}Σ_k S_k v_k c_k² ≤ 2 Σ_k S_k c_k²  ({word} side of |uᵀMu|; "
                          "symbolic m)", sign * quad_g, gap * var_g,
                       [sp.Sum(Sb[k] * (gap - sign * vb[k]) * cb[k]**2, (k, 0, m - 1))], simplifier=sum_simplify,
                       term_subs=v_par,
                       note="c_k = u_k − ⟨S,u⟩, S_k ≥ 0 and |v_k| ≤ 2 (the sign-gap step; this side uses "
                            f"{'v_k ≤ 2' if sign > 0 else 'v_k ≥ −2'})")
    sec = sp.Sum(Sb[k] * ub[k]**2, (k, 0, m - 1))
    mean = sp.Sum(Sb[k] * ub[k], (k, 0, m - 1))
    prove_by_terms(d, "Σ_k S_k u_k² − ⟨S,u⟩² ≤ S_max ‖u‖²  (symbolic m)", sec - mean**2,
                   Smax * sp.Sum(ub[k]**2, (k, 0, m - 1)),
                   [sp.Sum((Smax - Sb[k]) * ub[k]**2, (k, 0, m - 1)), mean**2], simplifier=sum_simplify,
                   term_subs=[(Sb[k], Smax / (1 + q[k]))],
                   note="0 ≤ S_k ≤ S_max written S_k = S_max/(1 + q_k), q_k ≥ 0; ⟨S,u⟩² is a square")
    bound = gap * Smax       # the constant of the chain: |v| ≤ 2, variance ≤ S_max‖u‖²
    d.inequality("‖M‖₂ ≤ 2 max_r S_r", sp.Symbol("‖M‖₂"), bound, kind=BY_HAND,
                 note="M is symmetric (G3), so ‖M‖₂ = max_{‖u‖=1} |uᵀMu|; by the steps above |uᵀMu| ≤ 2 Σ_k S_k c_k² "
                      "= 2(Σ_k S_k u_k² − ⟨S,u⟩²) ≤ 2 S_max ‖u‖².")
    d.identity("M_norm_bound = the bound of the chain", X["M_norm_bound"], bound,
               note="the exported expression is the one the steps establish")
    d.inequality("Hessian norm", sp.Symbol("‖∇²_W F_ℓ(x)‖₂"), kappa * xsq * X["M_norm_bound"], kind=BY_HAND,
                 note="∇²_W F_ℓ(x) = κ M ⊗ xxᵀ (G3), ‖A ⊗ B‖₂ = ‖A‖₂‖B‖₂ and ‖xxᵀ‖₂ = ‖x‖².")
    d.identity("hessian_norm_bound = κ ‖x‖² · M_norm_bound", X["hessian_norm_bound"], kappa * xsq * X["M_norm_bound"])
    d.remark("violation hunt", NUMERIC,
             "check B4: the full Hessian (G3, d·m × d·m) against 2κ‖x‖² max_r S_r, random and adversarial over W, x, A.")
    return d
