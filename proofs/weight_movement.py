"""B6 weight-movement (the book's B1–B7 part).

‖∇_{w_r}L(W)‖₂ ≤ 2κ max_i(S_{i,r}‖x_i‖)‖e‖₁ ≤ 2κ max_i S_{i,r} √(nd') ‖e‖₂.  So if ‖e(s)‖₂ ≤ (1−p)^s‖e(0)‖₂ for
all s < t, then max_r ‖w_r(t) − w_r(0)‖₂ ≤ 2ηκ S̄ √(nd') ‖e(0)‖₂ / p, S̄ the largest S_{i,r} along the path.
"""
from __future__ import annotations

import sympy as sp

from ._core import BY_HAND, EXPORT_BY_HAND, NUMERIC, Derivation, Export, cached_derivation
from .definitions import kappa, sum_simplify
from .ntk_perturbation import inner_product_steps, sign_gap_step
from .softmax_ratio import prove_by_terms

CODE = "B6"
ID = "weight-movement"
USES = ("G1", "B2")   # G1's gradient bounded term by term; S̄ by B2 while the weights stay within R
STATEMENT = ("‖∇_{w_r}L‖₂ ≤ 2κ max_i(S_{i,r}‖x_i‖)‖e‖₁ ≤ 2κ max_i S_{i,r}√(nd')‖e‖₂; if ‖e(s)‖₂ ≤ (1−p)^s‖e(0)‖₂ "
             "for s < t then max_r‖w_r(t) − w_r(0)‖₂ ≤ 2ηκS̄√(nd')‖e(0)‖₂/p.")

eta = sp.Symbol("eta", positive=True)
SxMax = sp.Symbol("SxMax", nonnegative=True)     # max_i S_{i,r}‖x_i‖
Smax = sp.Symbol("S_max", nonnegative=True)      # max_i S_{i,r}
S_bar = sp.Symbol("S_bar", nonnegative=True)
e1 = sp.Symbol("e1", nonnegative=True)           # ‖e‖₁
e2 = sp.Symbol("e2", nonnegative=True)           # ‖e‖₂
e0 = sp.Symbol("e0", nonnegative=True)           # ‖e(0)‖₂
p = sp.Symbol("p", positive=True)
n = sp.Symbol("n", integer=True, positive=True)
d_out = sp.Symbol("d_out", integer=True, positive=True)
steps = sp.Symbol("t", integer=True, nonnegative=True)

MOVEMENT = 2 * eta * kappa * S_bar * sp.sqrt(n * d_out) * e0 / p

EXPORTS = {
    "grad_row_bound_l1": Export((kappa, SxMax, e1), 2 * kappa * SxMax * e1, "2κ max_i(S_{i,r}‖x_i‖)‖e‖₁",
                                EXPORT_BY_HAND),
    "grad_row_bound_l2": Export((kappa, Smax, n, d_out, e2), 2 * kappa * Smax * sp.sqrt(n * d_out) * e2,
                                "2κ max_i S_{i,r} √(nd') ‖e‖₂", EXPORT_BY_HAND),
    "movement": Export((eta, kappa, S_bar, n, d_out, e0, p), MOVEMENT, "2ηκS̄√(nd')‖e(0)‖₂/p", EXPORT_BY_HAND),
}


@cached_derivation
def derive() -> Derivation:
    d = Derivation(CODE, ID, STATEMENT)
    X = {name: ex.expr for name, ex in EXPORTS.items()}
    d.define("G1", sp.Symbol("∇_{w_r}L"), sp.Symbol("κ Σ_{i,ℓ} e_{iℓ} S_{i,r}(a_{ℓ,r} − ⟨a_ℓ,S_i⟩) x_i"),
             note="the gradient of one neuron (the book G1, proved in proofs/softmax_gradient.py)")
    inner_product_steps(d)
    gap = sign_gap_step(d, "|a_{ℓ,r} − ⟨a_ℓ,S_i⟩| ≤ 2",
                        note="a_{ℓ,r} = ±1 (+1 shown, −1 is the mirror image) and ⟨a_ℓ,S_i⟩ ∈ [−1, 1]")
    l1 = kappa * gap * SxMax * e1
    d.inequality("ℓ1 bound", sp.Symbol("‖∇_{w_r}L‖₂"), l1, kind=BY_HAND,
                 note="triangle inequality over (i, ℓ): ‖∇_{w_r}L‖ ≤ κ Σ_{i,ℓ} |e_{iℓ}| S_{i,r} · 2 · ‖x_i‖ ≤ "
                      "2κ max_i(S_{i,r}‖x_i‖) Σ_{i,ℓ}|e_{iℓ}| (the sign gap of the previous step).")
    d.identity("grad_row_bound_l1 = κ · (sign gap) · max_i(S_{i,r}‖x_i‖) ‖e‖₁", X["grad_row_bound_l1"], l1)
    # ‖e‖₁ ≤ √N ‖e‖₂ at symbolic N: N Σ ε_k² − (Σ ε_k)² = ½ Σ_k Σ_l (ε_k − ε_l)²
    k_, l_ = sp.symbols("k l", integer=True, nonnegative=True)
    N = sp.Symbol("N", integer=True, positive=True)
    ev = sp.IndexedBase("ε", nonnegative=True)    # |e_k|
    sq = sp.Sum(sp.Sum((ev[k_] - ev[l_])**2, (l_, 0, N - 1)), (k_, 0, N - 1)) / 2
    if sq.is_nonnegative is not True:
        raise AssertionError("B6: sympy could not sign a sum of squares")
    prove_by_terms(d, "‖e‖₁² ≤ N‖e‖₂²  (symbolic N)", sp.Sum(ev[k_], (k_, 0, N - 1))**2,
                   N * sp.Sum(ev[k_]**2, (k_, 0, N - 1)), [sq], simplifier=sum_simplify,
                   note="Cauchy–Schwarz with the all-ones vector: N Σ ε_k² − (Σ ε_k)² = ½ Σ_{k,l}(ε_k − ε_l)².")
    l2 = l1.xreplace({SxMax: Smax, e1: sp.sqrt(n * d_out) * e2})
    d.inequality("ℓ2 bound", l1, l2, kind=BY_HAND,
                 note="‖x_i‖ ≤ 1 (A1) gives max_i S_{i,r}‖x_i‖ ≤ max_i S_{i,r}; ‖e‖₁ ≤ √(nd')‖e‖₂ (previous step with "
                      "N = nd', square roots of both sides).")
    d.identity("grad_row_bound_l2 = grad_row_bound_l1 at S_{i,r}‖x_i‖ ≤ S_{i,r}, ‖e‖₁ ≤ √(nd')‖e‖₂",
               X["grad_row_bound_l2"], X["grad_row_bound_l1"].xreplace({SxMax: Smax, e1: sp.sqrt(n * d_out) * e2}))
    # geometric series
    s_ = sp.Symbol("s", integer=True, nonnegative=True)
    geo = sp.Sum((1 - p)**s_, (s_, 0, steps - 1))
    d.identity("geometric sum", geo, (1 - (1 - p)**steps) / p,
               simplifier=lambda x: sp.simplify(sp.piecewise_fold(x.doit()).subs(sp.Eq(p, 0), False)),
               note="Σ_{s<t} (1 − p)^s = (1 − (1 − p)^t)/p for p ≠ 0 (sympy sums)")
    qq = sp.Symbol("q", nonnegative=True)
    prove_by_terms(d, "(1 − (1 − p)^t)/p ≤ 1/p", (1 - (1 - p)**steps) / p, 1 / p, [(1 - p)**steps / p],
                   simplifier=sp.simplify, term_subs=[(p, 1 / (1 + qq))],
                   note="for p ∈ (0, 1], written p = 1/(1 + q) with q ≥ 0: (1 − p)^t/p = (q/(1 + q))^t (1 + q) ≥ 0")
    move = eta * X["grad_row_bound_l2"].xreplace({Smax: S_bar, e2: e0}) / p
    d.inequality("movement", sp.Symbol("max_r‖w_r(t) − w_r(0)‖₂"), move, kind=BY_HAND,
                 note="w_r(t) − w_r(0) = −η Σ_{s<t} ∇_{w_r}L(W(s)); triangle inequality, the ℓ2 bound at each W(s) with "
                      "max_i S_{i,r}(W(s)) ≤ S̄ and ‖e(s)‖₂ ≤ (1 − p)^s‖e(0)‖₂, then the geometric sum ≤ 1/p.")
    d.identity("movement = η · grad_row_bound_l2(S̄, ‖e(0)‖) · (1/p)", X["movement"], move)
    d.inequality("S̄ while the weights stay within R", S_bar, sp.exp(2 * sp.Symbol("R", positive=True)) *
                 sp.Symbol("max S_{i,r}(W(0))"), kind=BY_HAND,
                 note="B2 with W̃ = W(0): S_{i,r}(W(s)) ≤ e^{2R}S_{i,r}(W(0)) while max_r‖w_r(s) − w_r(0)‖ ≤ R.")
    d.remark("violation hunt", NUMERIC,
             "check B6: per-neuron gradient norms against both bounds (random and adversarial over W, X, Y), and the "
             "movement bound along gradient-descent runs with the observed rate p.")
    return d
