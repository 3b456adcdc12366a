"""B5 one-step-descent (the book's B1–B7 part).

W⁺ = W − η∇L(W), e⁺ its residual, β ≥ sup over [W, W⁺] of max_{i,ℓ} ‖∇²_W F_ℓ(x_i)‖₂ (B4 with B2:
β = 2κ max_i‖x_i‖² max_{i,r} S_{i,r}(W) e^{2ρ}, ρ = η max_r ‖∇_{w_r}L‖).  Then
‖e⁺‖₂ ≤ ‖I − ηmH(W)‖₂ ‖e‖₂ + ½ η² β √(nd') ‖∇L(W)‖_F², and ‖∇L(W)‖_F² = m eᵀH(W)e.
"""
from __future__ import annotations

import sympy as sp

from ._core import BY_HAND, EXPORT_BY_HAND, EXPORT_DEFINITION, NUMERIC, Derivation, Export, cached_derivation
from .definitions import concrete_batch, kappa, rational_simplifier, sum_simplify
from .softmax_ratio import prove_by_terms

CODE = "B5"
ID = "one-step-descent"
USES = ("G1", "G4", "B2", "B4")   # ∇L = Jᵀe (G1) with JJᵀ = mH (G4); β from B4 with B2 along the segment
STATEMENT = ("‖e⁺‖₂ ≤ ‖I − ηmH(W)‖₂‖e‖₂ + ½η²β√(nd')‖∇L(W)‖_F² with β = 2κ max‖x_i‖² max S_{i,r}(W) e^{2ρ}, "
             "ρ = η max_r‖∇_{w_r}L‖; and ‖∇L‖_F² = m eᵀHe.")

eta = sp.Symbol("eta", positive=True)
gmax = sp.Symbol("gmax", nonnegative=True)        # max_r ‖∇_{w_r}L‖
rho = sp.Symbol("rho", nonnegative=True)
xsq = sp.Symbol("xsq", nonnegative=True)          # max_i ‖x_i‖²
Smax = sp.Symbol("S_max", nonnegative=True)       # max_{i,r} S_{i,r}(W)
beta = sp.Symbol("beta", nonnegative=True)
contraction = sp.Symbol("contraction", nonnegative=True)   # ‖I − ηmH‖₂
e_norm = sp.Symbol("e_norm", nonnegative=True)
grad_sq = sp.Symbol("grad_sq", nonnegative=True)           # ‖∇L‖_F²
n = sp.Symbol("n", integer=True, positive=True)
d_out = sp.Symbol("d_out", integer=True, positive=True)

BETA = 2 * kappa * xsq * Smax * sp.exp(2 * rho)
RHS = contraction * e_norm + sp.Rational(1, 2) * eta**2 * beta * sp.sqrt(n * d_out) * grad_sq

EXPORTS = {
    "rho": Export((eta, gmax), eta * gmax, "ρ = η max_r ‖∇_{w_r}L‖: how far any neuron moves along [W, W⁺]",
                  EXPORT_BY_HAND),
    "beta": Export((kappa, xsq, Smax, rho), BETA, "β = 2κ max‖x‖² max S e^{2ρ} (B4 with B2)", EXPORT_BY_HAND),
    "rhs": Export((contraction, e_norm, eta, beta, n, d_out, grad_sq), RHS,
                  "‖I − ηmH‖₂‖e‖₂ + ½η²β√(nd')‖∇L‖_F²", EXPORT_BY_HAND),
}

# the concrete size of the symbolic checks of ∇L = Jᵀe
_SIZE = dict(m_=2, d_=2, d_out=2, n=2)


def _jacobian_steps(d: Derivation) -> None:
    mm, dd, q, nn = _SIZE["m_"], _SIZE["d_"], _SIZE["d_out"], _SIZE["n"]
    cb = concrete_batch(mm, dd, q, nn)
    W, A, X, E, L, S = cb["W"], cb["A"], cb["X"], cb["E"], cb["L"], cb["S"]
    P = {}
    for i in range(nn):
        for l in range(q):
            aS = sum(A[l, k] * S[i][k] for k in range(mm))
            for r in range(mm):
                P[(i, l, r)] = S[i][r] * (A[l, r] - aS)
    pairs = [(sp.diff(L, W[j, r]), sum(E[i, l] * kappa * P[(i, l, r)] * X[i, j] for i in range(nn) for l in range(q)))
             for j in range(dd) for r in range(mm)]
    d.identities(f"∇L = Jᵀe with J = κ P ⊙ x (m={mm}, d={dd}, d'={q}, n={nn})", pairs,
                 simplifier=rational_simplifier(cb["logits"]), concrete=True,
                 note="∂L/∂W_{j,r}, differentiated by sympy from the definition of L, equals Σ_{i,ℓ} e_{iℓ} κ P_{(i,ℓ),r} x_{ij}")

    # generic linear algebra: ‖Jᵀe‖² = m eᵀHe and (J Jᵀe)_{iℓ} = m (He)_{iℓ} for H of G4
    Pg = sp.Matrix(nn * q, mm, lambda a_, r: sp.Symbol(f"P_{a_}_{r}", real=True))
    Xg = sp.Matrix(nn, dd, lambda i, j: sp.Symbol(f"x_{i}_{j}", real=True))
    e = sp.Matrix(nn * q, 1, lambda a_, _: sp.Symbol(f"e_{a_}", real=True))
    J = sp.Matrix(nn * q, dd * mm, lambda a_, c: kappa * Pg[a_, c % mm] * Xg[a_ // q, c // mm])
    G = Xg * Xg.T
    H = sp.Matrix(nn * q, nn * q, lambda a_, b_: kappa**2 / mm * (Pg[a_, :] * Pg[b_, :].T)[0, 0] * G[a_ // q, b_ // q])
    grad = J.T * e
    d.identity("‖∇L‖_F² = m eᵀHe (generic P, x, e; n = d' = m = d = 2)", (grad.T * grad)[0, 0], mm * (e.T * H * e)[0, 0],
               simplifier=lambda x: sp.expand(x), concrete=True,
               note="at n = d' = m = d = 2 with free P, x, e; with ∇L = Jᵀe and H = (κ²/m)(PPᵀ)∘(G ⊗ 11ᵀ) (G4): ‖Jᵀe‖² = eᵀJJᵀe and JJᵀ = mH")
    first = J * grad
    d.identities("⟨∇F_{iℓ}, ∇L⟩ = m (He)_{iℓ}", [(first[a_], mm * (H * e)[a_]) for a_ in range(nn * q)],
                 simplifier=lambda x: sp.expand(x), concrete=True,
                 note="at n = d' = m = d = 2 with free P, x, e: the first-order change of each output under the step −η∇L is −ηm(He)_{iℓ}")


@cached_derivation
def derive() -> Derivation:
    from .hessian_bound import EXPORTS as B4
    from .softmax_ratio import EXPORTS as B2, R as R_B2

    d = Derivation(CODE, ID, STATEMENT)
    X = {name: ex.expr for name, ex in EXPORTS.items()}
    _jacobian_steps(d)
    r_il = sp.Symbol("r_{iℓ}", real=True)
    d.define("step residual", sp.Symbol("e⁺"), sp.Symbol("(I − ηmH)e + r"),
             note="by the first-order identity, e⁺ − (I − ηmH)e =: r collects the second-order terms")
    taylor = sp.Rational(1, 2) * eta**2 * beta * grad_sq
    d.inequality("Taylor remainder", sp.Abs(r_il), taylor, kind=BY_HAND,
                 note="φ(τ) = F_ℓ(W − τη∇L, x_i) is smooth; Taylor's theorem with the Lagrange remainder gives "
                      "φ(1) = φ(0) + φ'(0) + ½φ''(τ*) for some τ* ∈ (0, 1), with φ'(0) = −η⟨∇F_{iℓ}, ∇L⟩ = −ηm(He)_{iℓ} and "
                      "φ''(τ*) = η²∇Lᵀ ∇²F_ℓ(ξ, x_i) ∇L at ξ = W − τ*η∇L ∈ [W, W⁺]; |vᵀMv| ≤ ‖M‖₂‖v‖² and "
                      "‖∇²F_ℓ(ξ, x_i)‖₂ ≤ β give |r_{iℓ}| ≤ ½η²β‖∇L‖_F².")
    tau = sp.Symbol("τ", nonnegative=True)
    gnorm = sp.Symbol("‖∇_{w_r}L‖", nonnegative=True)
    d.identity("‖ξ_r − w_r‖ at ξ = W − τη∇L, τ ≤ 1, is at most ρ = η max_r ‖∇_{w_r}L‖",
               (tau * eta * gnorm).subs({tau: 1, gnorm: gmax}), X["rho"],
               note="‖ξ_r − w_r‖ = τη‖∇_{w_r}L‖ ≤ η max_r ‖∇_{w_r}L‖ (τ ∈ [0, 1]): the export ρ is this worst case")
    b4_at = B4["hessian_norm_bound"].expr.xreplace({B4["hessian_norm_bound"].args[0]: kappa,
                                                     B4["hessian_norm_bound"].args[1]: xsq,
                                                     B4["hessian_norm_bound"].args[2]: Smax})
    ratio = B2["ratio_upper"].expr.xreplace({R_B2: rho})
    d.inequality("β along the segment", sp.Symbol("‖∇²_W F_ℓ(ξ, x_i)‖₂"), b4_at * ratio, kind=BY_HAND,
                 note="every neuron moved by ‖ξ_r − w_r‖ ≤ ρ (previous step), so S_{i,r}(ξ) ≤ e^{2ρ} S_{i,r}(W) (B2's "
                      "ratio_upper at R = ρ, under (A1)); then B4's hessian_norm_bound at max_r S_{i,r}(ξ) ≤ e^{2ρ} S_max "
                      "(it is increasing in S_max).")
    d.identity("beta = B4 hessian_norm_bound(κ, max‖x‖², S_max) · B2 ratio_upper(ρ)", X["beta"], b4_at * ratio)
    # ‖r‖² ≤ N max r², symbolic N
    kk = sp.Symbol("k", integer=True, nonnegative=True)
    N = sp.Symbol("N", integer=True, positive=True)
    M = sp.Symbol("M", positive=True)
    rsq, q = sp.IndexedBase("rsq", nonnegative=True), sp.IndexedBase("q", nonnegative=True)
    prove_by_terms(d, "Σ_k r_k² ≤ N max_k r_k²  (symbolic N)", sp.Sum(rsq[kk], (kk, 0, N - 1)), N * M**2,
                   [sp.Sum(M**2 - rsq[kk], (kk, 0, N - 1))], simplifier=sum_simplify,
                   term_subs=[(rsq[kk], M**2 / (1 + q[kk]))],
                   note="r_k² ≤ M² = max_k r_k², written r_k² = M²/(1 + q_k), q_k ≥ 0")
    resid = sp.sqrt(n * d_out) * taylor
    d.inequality("‖r‖₂ ≤ √(nd') max|r_{iℓ}|", sp.Symbol("‖r‖₂"), resid, kind=BY_HAND,
                 note="‖r‖₂² = Σ r_{iℓ}² ≤ nd' max r_{iℓ}² over the nd' entries (previous step with N = nd'), and "
                      "the Taylor bound on each |r_{iℓ}|.")
    d.inequality("one step", sp.Symbol("‖e⁺‖₂"), contraction * e_norm + resid, kind=BY_HAND,
                 note="triangle inequality on e⁺ = (I − ηmH)e + r and ‖(I − ηmH)e‖₂ ≤ ‖I − ηmH‖₂‖e‖₂.")
    d.identity("rhs = ‖I − ηmH‖₂‖e‖₂ + √(nd')·(the Taylor bound)", X["rhs"], contraction * e_norm + resid)
    d.remark("violation hunt", NUMERIC,
             "check B5: ‖e⁺‖₂ against the right-hand side for random and adversarial (W, X, Y, η), η over many orders "
             "of magnitude, with a float64 rounding allowance for ‖e⁺‖.")
    return d
