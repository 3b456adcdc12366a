"""B3 ntk-perturbation (MATH.md §3).

Under (A1), if max_r ‖w_r − w̃_r‖₂ ≤ R then entrywise
|H(W) − H(W̃)|_{(i,ℓ₁),(j,ℓ₂)} ≤ 6(e^{4R} − 1) Q_ij with Q_ij = (κ²/m)|⟨x_i,x_j⟩| ⟨S_i(W̃), S_j(W̃)⟩, and therefore
‖H(W) − H(W̃)‖₂ ≤ 6(e^{4R} − 1) d' ‖Q‖₂.
"""
from __future__ import annotations

import sympy as sp

from proofs._core import BY_HAND, NUMERIC, PROVED, Derivation, Export, ProofError, cached_derivation
from proofs.definitions import a, g, kappa, m, softmax_symbolic, sum_simplify
from proofs.softmax_ratio import E_R, R, certificate, prove_abs_le

CODE = "B3"
ID = "ntk-perturbation"
STATEMENT = ("Under (A1), if max_r ‖w_r − w̃_r‖₂ ≤ R then |H(W) − H(W̃)| ≤ 6(e^{4R} − 1) Q entrywise, "
             "Q_ij = (κ²/m)|⟨x_i,x_j⟩|⟨S_i(W̃),S_j(W̃)⟩, so ‖H(W) − H(W̃)‖₂ ≤ 6(e^{4R} − 1) d' ‖Q‖₂.")

SS = sp.Symbol("SS", nonnegative=True)          # ⟨S_i(W̃), S_j(W̃)⟩
d_out = sp.Symbol("d_out", integer=True, positive=True)
normQ = sp.Symbol("normQ", nonnegative=True)    # ‖Q‖₂

FACTOR = 6 * (sp.exp(4 * R) - 1)

EXPORTS = {
    "factor": Export((R,), FACTOR, "6(e^{4R} − 1)"),
    "Q_entry": Export((kappa, m, g, SS), kappa**2 / m * sp.Abs(g) * SS, "Q_ij = (κ²/m)|⟨x_i,x_j⟩|⟨S̃_i,S̃_j⟩"),
    "spectral_bound": Export((R, d_out, normQ), FACTOR * d_out * normQ, "6(e^{4R} − 1) d' ‖Q‖₂"),
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


def sign_gap_step(d: Derivation, label: str, note: str) -> None:
    """|a_r − ⟨a,S⟩| ≤ 2 for a_r = ±1 and ⟨a,S⟩ ∈ [−1, 1] (the previous steps), with a sympy certificate:
    ⟨a,S⟩ = 1 − 2θ/(1 + θ), θ ≥ 0, sweeps (−1, 1]; a_r = 1 shown, −1 is the mirror image (used by B4, B6)."""
    ar, aS = sp.Symbol("a_r", real=True), sp.Symbol("⟨a,S⟩", real=True)
    th = sp.Symbol("θ", nonnegative=True)
    prove_abs_le(d, label, ar - aS, 2, subs=[(ar, 1), (aS, 1 - 2 * th / (1 + th))], note=note)

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
                 3 * (sp.exp(2 * R) - 1) * sp.Symbol("S̃_r"), kind=PROVED,
                 note="brute force at m = 2 for a = (1, ±1) (a → −a only flips signs): with S̃ = c/Σc, e^{Δ_k} = "
                      "(e^{−R} + e^{R}p_k)/(1 + p_k), e^{R} = 1 + t (c, p, t ≥ 0), the bounds |g − g̃| ≤ 3(e^{2R} − 1)S̃_r, "
                      "|g| ≤ 2e^{2R}S̃_r and |g̃| ≤ 2S̃_r each carry a sympy certificate (both signs).")


@cached_derivation
def derive() -> Derivation:
    d = Derivation(CODE, ID, STATEMENT)
    Sr, Str = sp.symbols("S_r S̃_r", positive=True)
    aS, dS = sp.Symbol("⟨a,S⟩", real=True), sp.Symbol("⟨a,S−S̃⟩", real=True)
    ar = sp.Symbol("a_r", real=True)
    d.define("tangent feature", sp.Symbol("g_r"), Sr * (ar - aS),
             note="g_r = P_{(i,ℓ),r} of G4 for one input and one output row a = a_ℓ; g̃_r the same at W̃")

    # per-entry chain, general m
    mm = 3
    Sv = sp.symbols(f"S0:{mm}", real=True)
    Stv = sp.symbols(f"St0:{mm}", real=True)
    av = sp.symbols(f"a0:{mm}", real=True)
    ip = lambda x, y: sum(xi * yi for xi, yi in zip(x, y))  # noqa: E731
    g0, gt0 = Sv[0] * (av[0] - ip(av, Sv)), Stv[0] * (av[0] - ip(av, Stv))
    decomp = av[0] * (Sv[0] - Stv[0]) - (Sv[0] - Stv[0]) * ip(av, Sv) - Stv[0] * ip(av, [s - st for s, st in zip(Sv, Stv)])
    d.identity("split g − g̃ (m = 3, generic symbols)", g0 - gt0, decomp,
               note="g_r − g̃_r = a_r(S_r − S̃_r) − (S_r − S̃_r)⟨a,S⟩ − S̃_r⟨a, S − S̃⟩: the same algebra at every m")
    inner_product_steps(d)
    d.inequality("|⟨a, S − S̃⟩| ≤ e^{2R} − 1", sp.Abs(dS), sp.exp(2 * R) - 1, kind=BY_HAND,
                 note="|⟨a, S − S̃⟩| ≤ Σ_k |a_k||S_k − S̃_k| ≤ (e^{2R} − 1) Σ_k S̃_k = e^{2R} − 1 (B2, |a_k| = 1, Σ S̃ = 1).")
    d.inequality("|g_r − g̃_r| ≤ 3(e^{2R} − 1) S̃_r", sp.Abs(sp.Symbol("g_r − g̃_r")),
                 3 * (sp.exp(2 * R) - 1) * Str, kind=BY_HAND,
                 note="triangle inequality on the split: |a_r||S_r − S̃_r| ≤ (e^{2R} − 1)S̃_r (B2), |S_r − S̃_r||⟨a,S⟩| "
                      "≤ (e^{2R} − 1)S̃_r (B2 and |⟨a,S⟩| ≤ 1), S̃_r|⟨a, S − S̃⟩| ≤ (e^{2R} − 1)S̃_r (previous step).")
    rho = sp.Symbol("ρ", positive=True)
    p_, theta = sp.symbols("p θ", nonnegative=True)
    prove_abs_le(d, "|g_r| ≤ 2e^{2R} S̃_r", Sr * (ar - aS), 2 * sp.exp(2 * R) * Str,
                 subs=[(Sr, rho * Str), (ar, 1), (aS, 1 - 2 * theta / (1 + theta)),
                       (rho, (sp.exp(-2 * R) + sp.exp(2 * R) * p_) / (1 + p_)), (R, sp.log(E_R))],
                 note="a_r = ±1 (take a_r = 1: a → −a flips g), ⟨a,S⟩ ∈ [−1, 1] (parametrized by θ ≥ 0), "
                      "S_r = ρS̃_r with ρ ∈ [e^{−2R}, e^{2R}] (B2).  Likewise |g̃_r| ≤ 2S̃_r (ρ = 1).")
    _brute_force_m2(d)

    # product step
    gi, gti, gj, gtj = sp.symbols("g g̃ h h̃", real=True)
    d.identity("product difference", gi * gj - gti * gtj, (gi - gti) * gj + gti * (gj - gtj),
               note="g = g_{(i,ℓ₁),r}, h = g_{(j,ℓ₂),r}")
    Si, Sj = sp.Symbol("S̃_{i,r}", positive=True), sp.Symbol("S̃_{j,r}", positive=True)
    d.inequality("|gh − g̃h̃|", sp.Abs(gi * gj - gti * gtj),
                 3 * (sp.exp(2 * R) - 1) * Si * 2 * sp.exp(2 * R) * Sj + 2 * Si * 3 * (sp.exp(2 * R) - 1) * Sj,
                 kind=BY_HAND, note="triangle inequality on the product difference, with |g − g̃| ≤ 3(e^{2R} − 1)S̃_{i,r}, "
                                    "|h| ≤ 2e^{2R}S̃_{j,r}, |g̃| ≤ 2S̃_{i,r} and |h − h̃| ≤ 3(e^{2R} − 1)S̃_{j,r}.")
    d.identity("(e^{2R} − 1)(e^{2R} + 1) = e^{4R} − 1",
               3 * (sp.exp(2 * R) - 1) * 2 * sp.exp(2 * R) + 2 * 3 * (sp.exp(2 * R) - 1), FACTOR,
               note="6(e^{2R} − 1)(e^{2R} + 1) = 6(e^{4R} − 1)")
    Q = sp.Symbol("Q_ij", nonnegative=True)
    d.inequality("entrywise bound", sp.Abs(sp.Symbol("H(W) − H(W̃)")), FACTOR * Q, kind=BY_HAND,
                 note="H_{(i,ℓ₁),(j,ℓ₂)} = (κ²/m)⟨x_i,x_j⟩ Σ_r g_{(i,ℓ₁),r} g_{(j,ℓ₂),r} (G4): the triangle inequality over r "
                      "and the product bound give |ΔH| ≤ (κ²/m)|⟨x_i,x_j⟩| Σ_r 6(e^{4R} − 1) S̃_{i,r}S̃_{j,r} = 6(e^{4R} − 1)Q_ij.")
    d.inequality("spectral bound", sp.Symbol("‖H(W) − H(W̃)‖₂"), FACTOR * d_out * normQ, kind=BY_HAND,
                 note="if |E| ≤ N entrywise with N ≥ 0 then ‖E‖₂ = max_{‖u‖=‖v‖=1} uᵀEv ≤ |u|ᵀN|v| ≤ ‖N‖₂; here "
                      "N = 6(e^{4R} − 1) Q ⊗ 1_{d'}1_{d'}ᵀ and ‖Q ⊗ 11ᵀ‖₂ = ‖Q‖₂ ‖11ᵀ‖₂ = d'‖Q‖₂ (the singular values "
                      "of a Kronecker product are the products of singular values).")
    d.remark("violation hunt", NUMERIC,
             "check B3: random sampling and an adversarial search (over W̃, W − W̃ projected onto max_r‖w_r − w̃_r‖ ≤ R, "
             "the data projected onto ‖x‖ ≤ 1, and R) of both the entrywise and the spectral ratio.")
    return d
