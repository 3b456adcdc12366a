"""G4 ntk-factorization (the book's G1–G6 part).

H = (κ²/m)(P Pᵀ) ∘ (XXᵀ ⊗ 11ᵀ) = (1/m) J Jᵀ with P_{(i,ℓ),r} = S_{i,r}(a_{ℓ,r} − ⟨a_ℓ,S_i⟩); rows of P sum to 0.

Concrete sizes (n = 2): J by brute-force differentiation of vec F (index i·d' + ℓ) in vec W, and (1/m) J Jᵀ
equal entrywise to ntk_scale(κ, m, ⟨x_i,x_j⟩) Σ_r tangent_feature_{i,ℓ₁,r} tangent_feature_{j,ℓ₂,r}, and to the
matrix form (κ²/m)(P Pᵀ) ∘ (G ⊗ 11ᵀ); ∇L = Jᵀe, so the first-order change of the residual under a GD step is
−η J Jᵀ e = −η m H e; H is a Gram matrix.  Symbolic size: Σ_r P_{(i,ℓ),r} = 0.
"""
from __future__ import annotations

import sympy as sp

from ._core import EXPORT_SYMPY, PROVED, Derivation, Export, cached_derivation
from .softmax_gradient import EXPORTS as G1_EXPORTS
from .definitions import (kappa, m, g, S_r, a_lr, aS_l, x_j, a, r_, softmax_symbolic, concrete_batch,
                                sum_simplify, rational_simplifier)

CODE = "G4"
ID = "ntk-factorization"
USES = ("G1", "G2")   # G1's Jacobian gives the blocks of J; the zero row sums of P are G2's
STATEMENT = "H = (κ²/m)(P Pᵀ) ∘ (XXᵀ ⊗ 11ᵀ) = (1/m) J Jᵀ with P_{(i,ℓ),r} = S_{i,r}(a_{ℓ,r} − ⟨a_ℓ,S_i⟩); rows of P sum to 0."

EXPORTS = {
    "tangent_feature": Export((S_r, a_lr, aS_l), S_r * (a_lr - aS_l), "P_{(i,ℓ),r}", EXPORT_SYMPY),
    "ntk_scale": Export((kappa, m, g), kappa**2 / m * g, "(κ²/m)⟨x_i,x_j⟩", EXPORT_SYMPY),
}

SIZES = ((2, 1, 1), (3, 2, 2))   # (m, d, d'), each with n = 2
N = 2


def _scratch() -> Derivation:
    return Derivation(CODE, ID, STATEMENT)


def brute_jacobian(m_: int, d_: int, d_out: int, n: int = N) -> sp.Matrix:
    """J = ∂ vec F / ∂ vec W of the concrete network at n inputs; rows (i, ℓ) → i·d' + ℓ, columns W[j, r]."""
    b = concrete_batch(m_, d_, d_out, n)
    W, F = b["W"], b["F"]
    vecF = [F[i, l] for i in range(n) for l in range(d_out)]
    vecW = [W[j, r] for r in range(m_) for j in range(d_)]
    return sp.Matrix(len(vecF), len(vecW), lambda p, q: sp.diff(vecF[p], vecW[q]))


def tangent_matrix(tangent_expr, m_: int, d_: int, d_out: int, n: int = N) -> sp.Matrix:
    """P ∈ R^{nd'×m}, P_{(i,ℓ),r} = ``tangent_expr`` at the concrete S_{i,r}, a_{ℓ,r}, ⟨a_ℓ,S_i⟩."""
    b = concrete_batch(m_, d_, d_out, n)
    A = b["A"]
    rows = []
    for i in range(n):
        S = b["S"][i]
        for l in range(d_out):
            aS = (A[l, :] * S)[0, 0]
            rows.append([tangent_expr.xreplace({S_r: S[r], a_lr: A[l, r], aS_l: aS}) for r in range(m_)])
    return sp.Matrix(rows)


def check_ntk_factorization(tangent_expr, scale_expr, m_: int, d_: int, d_out: int, n: int = N,
                            derivation: Derivation | None = None) -> Derivation:
    """Assert ((1/m) J Jᵀ)_{(i,ℓ₁),(j,ℓ₂)} = ``scale_expr``(κ, m, ⟨x_i,x_j⟩) Σ_r ``tangent_expr``_{i,ℓ₁,r}
    ``tangent_expr``_{j,ℓ₂,r} for every entry, J by brute-force differentiation.  Raises ProofError if not."""
    d = derivation or _scratch()
    b = concrete_batch(m_, d_, d_out, n)
    X = b["X"]
    J = brute_jacobian(m_, d_, d_out, n)
    H = J * J.T / m_
    P = tangent_matrix(tangent_expr, m_, d_, d_out, n)
    pairs = []
    for p in range(n * d_out):
        for q in range(p, n * d_out):
            i, j = divmod(p, d_out)[0], divmod(q, d_out)[0]
            gij = (X[i, :] * X[j, :].T)[0, 0]
            scale = scale_expr.xreplace({kappa: kappa, m: m_, g: gij})
            pairs.append((H[p, q], scale * sum(P[p, r] * P[q, r] for r in range(m_))))
    d.identities(f"(1/m) J Jᵀ = ntk_scale · Σ_r P P entrywise, brute force at n={n}, m={m_}, d={d_}, d'={d_out}",
                 pairs, note="J = ∂vec F/∂vec W differentiated directly; index (i, ℓ) ↦ i·d' + ℓ; upper triangle "
                             "(both sides symmetric)",
                 simplifier=rational_simplifier(*b["z"]))
    return d


@cached_derivation
def derive() -> Derivation:
    d = _scratch()
    tf, sc = EXPORTS["tangent_feature"].expr, EXPORTS["ntk_scale"].expr
    kk = sp.Symbol("k", integer=True, nonnegative=True)

    nd, md = sp.symbols("nd' md", integer=True, positive=True)
    Jsym = sp.MatrixSymbol("J", nd, md)
    d.define("empirical NTK", sp.MatrixSymbol("H", nd, nd), Jsym * Jsym.T / m,
             note="H_{(i,ℓ₁),(j,ℓ₂)} = (1/m) Σ_r ⟨∂F_ℓ₁(x_i)/∂w_r, ∂F_ℓ₂(x_j)/∂w_r⟩, J = ∂vec F/∂vec W")

    # -- symbolic size: rows of P sum to zero ----------------------------------------------------
    S = softmax_symbolic(r_)
    aS = sp.Sum(a[kk] * softmax_symbolic(kk), (kk, 0, m - 1))
    d.identity("Σ_r P_{(i,ℓ),r} = Σ_r tangent_feature = 0  (symbolic m)",
               sp.Sum(tf.xreplace({S_r: S, a_lr: a[r_], aS_l: aS}), (r_, 0, m - 1)), 0, simplifier=sum_simplify,
               note="G2: Σ_r S_r(a_r − ⟨a,S⟩) = ⟨a,S⟩ − ⟨a,S⟩·Σ_r S_r = 0")
    d.identity("G1 jacobian_entry = κ · tangent_feature · x_j", G1_EXPORTS["jacobian_entry"].expr, kappa * tf * x_j,
               note="so ⟨∂F_ℓ₁(x_i)/∂w_r, ∂F_ℓ₂(x_j)/∂w_r⟩ = κ² P_{(i,ℓ₁),r} P_{(j,ℓ₂),r} ⟨x_i,x_j⟩; "
                    "summing over r and dividing by m gives ntk_scale · Σ_r P P")

    # -- concrete sizes --------------------------------------------------------------------------
    for size in SIZES:
        check_ntk_factorization(tf, sc, *size, derivation=d)

    m_, d_, d_out = SIZES[-1]
    b = concrete_batch(m_, d_, d_out, N)
    simp = rational_simplifier(*b["z"])
    P = tangent_matrix(tf, m_, d_, d_out)
    G = b["X"] * b["X"].T
    entrywise = sp.Matrix(N * d_out, N * d_out, lambda p, q: sc.xreplace(
        {m: m_, g: G[p // d_out, q // d_out]}) * sum(P[p, r] * P[q, r] for r in range(m_)))
    Hmat = (kappa**2 / m_) * (P * P.T).multiply_elementwise(sp.kronecker_product(G, sp.ones(d_out, d_out)))
    d.identities(f"ntk_scale · Σ_r P P = ((κ²/m)(P Pᵀ) ∘ (G ⊗ 1_d'1_d'ᵀ)) entrywise  (matrix form, n=2, m={m_}, "
                 f"d={d_}, d'={d_out})", [(entrywise[p, q], Hmat[p, q]) for p in range(N * d_out)
                                        for q in range(N * d_out)], simplifier=sp.expand,
                 note="with the previous step: (1/m) J Jᵀ = (κ²/m)(P Pᵀ) ∘ (G ⊗ 11ᵀ), G = XXᵀ, index (i, ℓ) ↦ i·d' + ℓ")
    d.identities(f"rows of P sum to zero, concrete (n=2, m={m_}, d'={d_out})",
                 [(sum(P[p, r] for r in range(m_)), 0) for p in range(N * d_out)], simplifier=simp)

    # first-order GD step, by brute force along the GD path at the smallest size
    m_, d_, d_out = SIZES[0]
    b = concrete_batch(m_, d_, d_out, N)
    simp = rational_simplifier(*b["z"])
    W, E, L = b["W"], b["E"], b["L"]
    J = brute_jacobian(m_, d_, d_out)
    vecW = [W[j, r] for r in range(m_) for j in range(d_)]
    e = sp.Matrix([E[i, l] for i in range(N) for l in range(d_out)])
    gradL = sp.Matrix([sp.diff(L, w) for w in vecW])
    d.identities(f"∇_vecW L = Jᵀ e  (brute force, n=2, m={m_}, d={d_}, d'={d_out})",
                 [(gradL[q], (J.T * e)[q]) for q in range(len(vecW))], simplifier=simp)
    eta = sp.Symbol("eta", positive=True)
    step = {w: w - eta * gw for w, gw in zip(vecW, gradL)}
    P = tangent_matrix(tf, m_, d_, d_out)
    G = b["X"] * b["X"].T
    Hmat = (kappa**2 / m_) * (P * P.T).multiply_elementwise(sp.kronecker_product(G, sp.ones(d_out, d_out)))
    mHe = m_ * Hmat * e
    d.identities(f"d/dη e(W − η∇L(W))|_(η=0) = −m H e  (brute force, n=2, m={m_}, d={d_}, d'={d_out})",
                 [(sp.diff(e[p].xreplace(step), eta).xreplace({eta: 0}), -mHe[p]) for p in range(N * d_out)],
                 simplifier=simp, note="the residual along the GD path differentiated directly; H in factorized "
                                       "form. So e⁺ = (I − ηmH)e + O(η²)")

    rows, cols = N * SIZES[-1][2], SIZES[-1][0] * SIZES[-1][1]                 # J's shape at the largest size
    Jg = sp.Matrix(rows, cols, lambda p, q: sp.Symbol(f"J_{p}_{q}", real=True))  # any real matrix of that shape
    c = sp.Matrix(rows, 1, lambda p, _: sp.Symbol(f"c_{p}", real=True))
    quad = (c.T * (Jg * Jg.T / m) * c)[0, 0]
    Jc = Jg.T * c
    d.identity(f"cᵀ ((1/m) J Jᵀ) c = ‖Jᵀc‖²/m for a real {rows}×{cols} matrix J with free entries", quad,
               sum(t**2 for t in Jc) / m, simplifier=sp.expand, concrete=True,
               note="at the shape of J for n = 2, m = 3, d = 2, d' = 2; the next two steps hold at every shape")
    Jm, cm = sp.MatrixSymbol("J", nd, md), sp.MatrixSymbol("c", nd, 1)
    d.identity("cᵀ((1/m)JJᵀ)c = (Jᵀc)ᵀ(Jᵀc)/m  (symbolic shape nd' × md, sympy matrix expressions)",
               cm.T * (Jm * Jm.T / m) * cm, (Jm.T * cm).T * (Jm.T * cm) / m,
               simplifier=lambda e: 0 if sp.simplify(e).is_ZeroMatrix else sp.simplify(e))
    qq = sp.Symbol("q", integer=True, nonnegative=True)
    if sp.Sum(sp.IndexedBase("y", real=True)[qq]**2, (qq, 0, md - 1)).is_nonnegative is not True:
        raise AssertionError("G4: sympy could not sign a sum of squares")
    d.inequality("H ⪰ 0", sp.Symbol("c^T H c"), 0, kind=PROVED, relation=">=",
                 note="cᵀHc = (1/m) yᵀy = (1/m)Σ_q y_q² with y = Jᵀc real (previous identity, any shape): a sum of "
                      "squares, nonnegative by sympy's sign assumptions (checked on Σ_q y_q² at symbolic md)")
    return d
