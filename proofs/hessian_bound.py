"""B4 hessian-bound (MATH.md §3).

‖M‖₂ ≤ 6 max_r S_r, so ‖∇²_W F_ℓ(x)‖₂ ≤ 6 κ ‖x‖² max_r S_r(x)   (M of G3).
"""
from __future__ import annotations

import sympy as sp

from proofs._core import BY_HAND, NUMERIC, PROVED, Derivation, Export, ProofError, cached_derivation
from proofs.definitions import kappa, sum_simplify
from proofs.ntk_perturbation import inner_product_steps, sign_gap_step
from proofs.softmax_ratio import certificate

CODE = "B4"
ID = "hessian-bound"
STATEMENT = "‖M‖₂ ≤ 6 max_r S_r, so ‖∇²_W F_ℓ(x)‖₂ ≤ 6 κ ‖x‖² max_r S_r(x)."

Smax = sp.Symbol("S_max", nonnegative=True)
xsq = sp.Symbol("xsq", nonnegative=True)   # ‖x‖²

EXPORTS = {
    "M_norm_bound": Export((Smax,), 6 * Smax, "‖M‖₂ ≤ 6 max_r S_r"),
    "hessian_norm_bound": Export((kappa, xsq, Smax), 6 * kappa * xsq * Smax, "‖∇²_W F_ℓ(x)‖₂ ≤ 6κ‖x‖² max_r S_r"),
}


def _brute_force_m2(d: Derivation) -> None:
    """At m = 2, from G3's exported M_{rs}: 6 S_max I ± M ⪰ 0 (trace and determinant ≥ 0) for every sign
    pattern, with S = ((1 + c)/(2 + c), 1/(2 + c)) (S_0 ≥ S_1 without loss of generality)."""
    from proofs.hessian import EXPORTS as G3
    from proofs.definitions import S_r, S_s, delta_rs, v_r, v_s

    c = sp.Symbol("c", nonnegative=True)
    S = [(1 + c) / (2 + c), 1 / (2 + c)]
    entry = G3["hessian_M_entry"].expr
    for signs in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
        aS = signs[0] * S[0] + signs[1] * S[1]
        v = [signs[0] - aS, signs[1] - aS]
        M = sp.Matrix(2, 2, lambda r, s: entry.xreplace({delta_rs: int(r == s), S_r: S[r], S_s: S[s],
                                                          v_r: v[r], v_s: v[s]}))
        for sign in (1, -1):
            A = 6 * S[0] * sp.eye(2) + sign * M
            det = A[0, 0] * A[1, 1] - A[0, 1] * A[1, 0]   # 2×2: no simplifying det()
            if not (certificate(A[0, 0] + A[1, 1]) and certificate(det)):
                raise ProofError(f"B4: 6 S_max I {'+-'[sign < 0]} M is not certified PSD at m = 2, a = {signs}")
    d.inequality("brute force at m = 2", sp.Symbol("‖M‖₂"), 6 * Smax, kind=PROVED,
                 note="from G3's exported M_{rs} at m = 2, every a ∈ {±1}², S = ((1 + c)/(2 + c), 1/(2 + c)) (c ≥ 0, "
                      "S_0 = S_max): the 2×2 matrices 6S_max I ± M have trace and determinant with sympy certificates, "
                      "so both are ⪰ 0, i.e. −6S_max I ⪯ M ⪯ 6S_max I.")


@cached_derivation
def derive() -> Derivation:
    d = Derivation(CODE, ID, STATEMENT)
    d.define("M (G3)", sp.Symbol("M"), sp.Symbol("diag(S∘v) − (S∘v)Sᵀ − S(S∘v)ᵀ"),
             note="v = a_ℓ − ⟨a_ℓ,S⟩1; ∇²_W F_ℓ(x) = κ M ⊗ xxᵀ (G3)")
    inner_product_steps(d)
    sign_gap_step(d, "|v_r| ≤ 2",
                  note="a_r = ±1 (a_r = 1 shown; −1 is the mirror image), ⟨a,S⟩ ∈ [−1, 1] parametrized by θ ≥ 0")
    # ‖S‖₂² ≤ max_r S_r, at symbolic m
    Sb = sp.IndexedBase("S", nonnegative=True)
    k, mm = sp.Symbol("k", integer=True, nonnegative=True), sp.Symbol("m", integer=True, positive=True)
    lhs = Smax * sp.Sum(Sb[k], (k, 0, mm - 1)) - sp.Sum(Sb[k]**2, (k, 0, mm - 1))
    summand = Sb[k] * (Smax - Sb[k])
    d.identity("S_max Σ S_k − Σ S_k² = Σ S_k(S_max − S_k) (symbolic m)", lhs, sp.Sum(summand, (k, 0, mm - 1)),
               simplifier=sum_simplify)
    q = sp.Symbol("q", nonnegative=True)
    if not certificate(summand.subs(Sb[k], Smax / (1 + q))):
        raise ProofError("B4: summand not certified")
    d.inequality("‖S‖₂² ≤ S_max", sp.Sum(Sb[k]**2, (k, 0, mm - 1)), Smax, kind=PROVED,
                 note="each summand S_k(S_max − S_k) is ≥ 0 (sympy certificate with S_k = S_max/(1 + q), q ≥ 0, as "
                      "0 ≤ S_k ≤ S_max), and Σ_k S_k = 1.")
    d.inequality("three pieces", sp.Symbol("‖M‖₂"), 6 * Smax, kind=BY_HAND,
                 note="‖diag(S∘v)‖₂ = max_r S_r|v_r| ≤ 2S_max; ‖(S∘v)Sᵀ‖₂ = ‖S∘v‖₂‖S‖₂ ≤ 2‖S‖₂² ≤ 2S_max (rank one, "
                      "|v_r| ≤ 2, previous step); the same for S(S∘v)ᵀ; the triangle inequality adds 2 + 2 + 2.")
    _brute_force_m2(d)
    d.inequality("Hessian norm", sp.Symbol("‖∇²_W F_ℓ(x)‖₂"), 6 * kappa * xsq * Smax, kind=BY_HAND,
                 note="∇²_W F_ℓ(x) = κ M ⊗ xxᵀ (G3) and ‖A ⊗ B‖₂ = ‖A‖₂‖B‖₂, ‖xxᵀ‖₂ = ‖x‖².")
    d.remark("violation hunt", NUMERIC,
             "check B4: the full Hessian (G3, d·m × d·m) against 6κ‖x‖² max_r S_r, random and adversarial over W, x, A.")
    return d
