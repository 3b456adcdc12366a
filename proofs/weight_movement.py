"""B6 weight-movement (MATH.md §3).

‖∇_{w_r}L(W)‖₂ ≤ 2κ max_i(S_{i,r}‖x_i‖)‖e‖₁ ≤ 2κ max_i S_{i,r} √(nd') ‖e‖₂.  So if ‖e(s)‖₂ ≤ (1−p)^s‖e(0)‖₂ for
all s < t, then max_r ‖w_r(t) − w_r(0)‖₂ ≤ 2ηκ S̄ √(nd') ‖e(0)‖₂ / p, S̄ the largest S_{i,r} along the path.
"""
from __future__ import annotations

import sympy as sp

from proofs._core import BY_HAND, NUMERIC, Derivation, Export, cached_derivation
from proofs.definitions import kappa
from proofs.ntk_perturbation import inner_product_steps, sign_gap_step
from proofs.softmax_ratio import prove_by_terms

CODE = "B6"
ID = "weight-movement"
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
    "grad_row_bound_l1": Export((kappa, SxMax, e1), 2 * kappa * SxMax * e1, "2κ max_i(S_{i,r}‖x_i‖)‖e‖₁"),
    "grad_row_bound_l2": Export((kappa, Smax, n, d_out, e2), 2 * kappa * Smax * sp.sqrt(n * d_out) * e2,
                                "2κ max_i S_{i,r} √(nd') ‖e‖₂"),
    "movement": Export((eta, kappa, S_bar, n, d_out, e0, p), MOVEMENT, "2ηκS̄√(nd')‖e(0)‖₂/p"),
}


@cached_derivation
def derive() -> Derivation:
    d = Derivation(CODE, ID, STATEMENT)
    d.define("G1", sp.Symbol("∇_{w_r}L"), sp.Symbol("κ Σ_{i,ℓ} e_{iℓ} S_{i,r}(a_{ℓ,r} − ⟨a_ℓ,S_i⟩) x_i"),
             note="the gradient of one neuron (MATH.md G1, proved in proofs/softmax_gradient.py)")
    inner_product_steps(d)
    sign_gap_step(d, "|a_{ℓ,r} − ⟨a_ℓ,S_i⟩| ≤ 2",
                  note="a_{ℓ,r} = ±1 (+1 shown, −1 is the mirror image) and ⟨a_ℓ,S_i⟩ ∈ [−1, 1]")
    d.inequality("ℓ1 bound", sp.Symbol("‖∇_{w_r}L‖₂"), 2 * kappa * SxMax * e1, kind=BY_HAND,
                 note="triangle inequality over (i, ℓ): ‖∇_{w_r}L‖ ≤ κ Σ_{i,ℓ} |e_{iℓ}| S_{i,r} · 2 · ‖x_i‖ ≤ "
                      "2κ max_i(S_{i,r}‖x_i‖) Σ_{i,ℓ}|e_{iℓ}|.")
    # ‖e‖₁ ≤ √N ‖e‖₂, at N = 3 by a sum-of-squares identity
    ev = sp.symbols("ε0:3", nonnegative=True)    # |e_k|
    N = len(ev)
    prove_by_terms(d, "‖e‖₁² ≤ N‖e‖₂² (N = 3)", sum(ev)**2, N * sum(x**2 for x in ev),
                   [(ev[a_] - ev[b_])**2 for a_ in range(N) for b_ in range(a_ + 1, N)], simplifier=sp.expand,
                   note="Cauchy–Schwarz with the all-ones vector; in general N Σ ε_k² − (Σ ε_k)² = Σ_{k<l}(ε_k − ε_l)².")
    d.inequality("ℓ2 bound", 2 * kappa * SxMax * e1, 2 * kappa * Smax * sp.sqrt(n * d_out) * e2, kind=BY_HAND,
                 note="‖x_i‖ ≤ 1 (A1) gives max_i S_{i,r}‖x_i‖ ≤ max_i S_{i,r}; ‖e‖₁ ≤ √(nd')‖e‖₂ (previous step with N = nd').")
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
    d.inequality("movement", sp.Symbol("max_r‖w_r(t) − w_r(0)‖₂"), MOVEMENT, kind=BY_HAND,
                 note="w_r(t) − w_r(0) = −η Σ_{s<t} ∇_{w_r}L(W(s)); triangle inequality, the ℓ2 bound at each W(s) with "
                      "max_i S_{i,r}(W(s)) ≤ S̄ and ‖e(s)‖₂ ≤ (1 − p)^s‖e(0)‖₂, then the geometric sum ≤ 1/p.")
    d.inequality("S̄ while the weights stay within R", S_bar, sp.exp(2 * sp.Symbol("R", positive=True)) *
                 sp.Symbol("max S_{i,r}(W(0))"), kind=BY_HAND,
                 note="B2 with W̃ = W(0): S_{i,r}(W(s)) ≤ e^{2R}S_{i,r}(W(0)) while max_r‖w_r(s) − w_r(0)‖ ≤ R.")
    d.remark("violation hunt", NUMERIC,
             "check B6: per-neuron gradient norms against both bounds (random and adversarial over W, X, Y), and the "
             "movement bound along gradient-descent runs with the observed rate p.")
    return d
