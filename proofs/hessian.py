"""G3 hessian (the book's G1–G6 part).

∂²F_ℓ(x)/∂w_r∂w_s = κ M_{rs} x xᵀ with M = diag(S∘v) − (S∘v)Sᵀ − S(S∘v)ᵀ, v = a_ℓ − ⟨a_ℓ,S⟩1.

Symbolic size: ∂²F_ℓ/∂z_r∂z_s = κ M_rs for the exported entry (δ_rs a KroneckerDelta), and z is linear in
W with ∂z_r/∂W[j,r] = x_j, so ∂²F_ℓ/∂W[j,r]∂W[j',s] = κ M_rs x_j x_j'.  Concrete sizes: the full Hessian of
``concrete_network`` in vec W (w_r-blocks) equals κ M ⊗ x xᵀ entrywise; M symmetric.
"""
from __future__ import annotations

import sympy as sp

from ._core import EXPORT_SYMPY, Derivation, Export, cached_derivation
from .definitions import (delta_rs, S_r, S_s, v_r, v_s, kappa, m, z, a, r_, s_, softmax_symbolic,
                                concrete_network, in_range, sum_simplify, rational_simplifier)

CODE = "G3"
ID = "hessian"
USES = ("G1",)   # differentiates G1's ∂F/∂z_r once more
STATEMENT = "∂²F_ℓ(x)/∂w_r∂w_s = κ M_{rs} x xᵀ with M = diag(S∘v) − (S∘v)Sᵀ − S(S∘v)ᵀ, v = a_ℓ − ⟨a_ℓ,S⟩1."

EXPORTS = {
    "hessian_M_entry": Export((delta_rs, S_r, S_s, v_r, v_s),
                              delta_rs * S_r * v_r - S_r * v_r * S_s - S_r * S_s * v_s, "M_{rs}", EXPORT_SYMPY),
}

SIZES = ((2, 1, 1), (3, 2, 2), (4, 2, 1))


def _scratch() -> Derivation:
    return Derivation(CODE, ID, STATEMENT)


def concrete_M(expr, m_: int, d_: int, d_out: int, l: int) -> sp.Matrix:
    """The m×m matrix ``expr``(δ_rs, S_r, S_s, v_r, v_s) at the concrete network's S and v = a_ℓ − ⟨a_ℓ,S⟩1."""
    net = concrete_network(m_, d_, d_out)
    S, A = net["S"], net["A"]
    aS = (A[l, :] * S)[0, 0]
    v = [A[l, r] - aS for r in range(m_)]
    return sp.Matrix(m_, m_, lambda r, s: expr.xreplace(
        {delta_rs: int(r == s), S_r: S[r], S_s: S[s], v_r: v[r], v_s: v[s]}))


def check_hessian_M(expr, m_: int, d_: int, d_out: int, derivation: Derivation | None = None) -> Derivation:
    """Assert ∂²F_ℓ/∂W[j,r]∂W[j',s] = κ ``expr``_rs x_j x_j' for every (ℓ, r, s, j, j'), i.e. ∇²_W F_ℓ = κ M ⊗ x xᵀ
    with vec W = (w_1; …; w_m), by brute-force differentiation of the concrete network."""
    d = derivation or _scratch()
    net = concrete_network(m_, d_, d_out)
    W, x, F = net["W"], net["x"], net["F"]
    vecW = [W[j, r] for r in range(m_) for j in range(d_)]   # w_r-blocks
    pairs = []
    for l in range(d_out):
        H = sp.hessian(F[l], vecW)
        target = kappa * sp.kronecker_product(concrete_M(expr, m_, d_, d_out, l), x * x.T)
        pairs.extend((H[p, q], target[p, q]) for p in range(m_ * d_) for q in range(p, m_ * d_))
    d.identities(f"∇²_W F_ℓ = κ M ⊗ x xᵀ, brute force at m={m_}, d={d_}, d'={d_out}", pairs,
                 note="every ℓ and every entry (r, j), (s, j') of the upper triangle (sympy's Hessian is symmetric)",
                 simplifier=rational_simplifier(net["z"]))
    return d


@cached_derivation
def derive() -> Derivation:
    d = _scratch()
    kk = sp.Symbol("k", integer=True, nonnegative=True)
    expr = EXPORTS["hessian_M_entry"].expr

    # -- symbolic size ---------------------------------------------------------------------------
    aS = sp.Sum(a[kk] * softmax_symbolic(kk), (kk, 0, m - 1))
    F = kappa * aS
    Sr, Ss = softmax_symbolic(r_), softmax_symbolic(s_)
    sub = {delta_rs: sp.KroneckerDelta(r_, s_), S_r: Sr, S_s: Ss, v_r: a[r_] - aS, v_s: a[s_] - aS}
    d.define("v", sp.Symbol("v_r"), a[r_] - aS, note="v = a_ℓ − ⟨a_ℓ,S⟩1_m, m symbolic")
    H_z = in_range(sp.diff(F, z[r_], z[s_]).doit(), (r_, m), (s_, m))
    d.identity("∂²F_ℓ/∂z_r∂z_s = κ M_rs  (symbolic m; EXPORTS['hessian_M_entry'], δ_rs = KroneckerDelta)",
               H_z, kappa * expr.xreplace(sub), simplifier=sum_simplify)
    dFdz = kappa * Sr * (a[r_] - aS)
    d.identity("… equivalently ∂/∂z_s [κ S_r v_r] = κ(S_r(δ_rs − S_s) v_r − S_r S_s v_s)  (symbolic m)",
               in_range(sp.diff(dFdz, z[s_]).doit(), (r_, m), (s_, m)),
               kappa * (Sr * (sp.KroneckerDelta(r_, s_) - Ss) * (a[r_] - aS) - Sr * Ss * (a[s_] - aS)),
               simplifier=sum_simplify, note="product rule on G1's ∂F_ℓ/∂z_r, using ∂⟨a,S⟩/∂z_s = S_s v_s")

    p_, j_, jj = sp.symbols("p j j'", integer=True, nonnegative=True)
    dd = sp.Symbol("d", integer=True, positive=True)
    Wb, xb = sp.IndexedBase("W", real=True), sp.IndexedBase("x", real=True)
    z_r = sp.Sum(Wb[p_, r_] * xb[p_], (p_, 0, dd - 1))
    d.identity("∂²z_r/∂W[j,r]∂W[j',s] = 0  (z linear in W; symbolic d)",
               sp.diff(z_r, Wb[j_, r_], Wb[jj, s_]).doit(), 0,
               note="so ∂²F/∂W[j,r]∂W[j',s] = Σ_(t,u) ∂²F/∂z_t∂z_u · δ_tr x_j · δ_us x_j' = κ M_rs x_j x_j' (G1 step)")

    # M symmetric
    swap = {S_r: S_s, S_s: S_r, v_r: v_s, v_s: v_r}
    d.identity("M_rs − M_sr = δ_rs (S_r v_r − S_s v_s)", expr - expr.xreplace(swap),
               delta_rs * (S_r * v_r - S_s * v_s), simplifier=sp.expand,
               note="zero: for r ≠ s δ_rs = 0, for r = s S_r = S_s and v_r = v_s; so M is symmetric")
    d.identity("M_rs = M_sr for r ≠ s (δ_rs = 0)", expr.xreplace({delta_rs: 0}),
               expr.xreplace(swap).xreplace({delta_rs: 0}), simplifier=sp.expand)

    # -- concrete sizes: brute force against the definition --------------------------------------
    for size in SIZES:
        check_hessian_M(expr, *size, derivation=d)
    for size in SIZES[1:]:
        for l in range(size[2]):
            M = concrete_M(expr, *size, l)
            d.identities(f"M symmetric at m={size[0]}, ℓ={l}", [(M[r, s], M[s, r]) for r in range(size[0])
                                                               for s in range(r + 1, size[0])],
                         simplifier=sp.expand)
    return d
