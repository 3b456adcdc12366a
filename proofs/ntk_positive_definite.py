"""G6 ntk-positive-definite (the book's G1–G6 part).

K = Σ_k (σ^{2k}/k!) G^{∘(k+1)} ⪰ 0, λ_min(K) ≥ Σ_{k≤N} (σ^{2k}/k!) λ_min(G^{∘(k+1)}), and K ≻ 0 under (A2).

sympy proves the series identity g e^{σ²g} = Σ_k hadamard_coefficient(σ,k) g^{k+1} (``summation`` to the
closed form, and the Taylor series to order 12), the positivity of every coefficient, and that Hadamard powers
of a Gram matrix are Gram matrices (⟨x,y⟩^p = ⟨x^{⊗p}, y^{⊗p}⟩, d = 2, p ≤ 3, so cᵀG^{∘p}c is a sum of
squares); λ_min(K ⊗ I) = λ_min(K) via characteristic polynomials.  The Schur product theorem, the λ_min
bound and strict positive definiteness under (A2) are written-out arguments (BY_HAND).
"""
from __future__ import annotations

import itertools

import sympy as sp

from ._core import BY_HAND, CONCRETE, EXPORT_SYMPY, PROVED, Derivation, Export, ProofError, cached_derivation
from .definitions import sigma, k, g
from .ntk_limit import EXPORTS as G5_EXPORTS

CODE = "G6"
ID = "ntk-positive-definite"
USES = ("G5",)   # the series of G5's limit kernel K
STATEMENT = "K = Σ_k (σ^{2k}/k!) G^{∘(k+1)} ⪰ 0, λ_min(K) ≥ Σ_{k≤N} (σ^{2k}/k!) λ_min(G^{∘(k+1)}), and K ≻ 0 under (A2)."

EXPORTS = {
    "hadamard_coefficient": Export((sigma, k), sigma ** (2 * k) / sp.factorial(k), "σ^{2k}/k!", EXPORT_SYMPY),
}

ORDER = 12   # Taylor order for the series comparison


def _scratch() -> Derivation:
    return Derivation(CODE, ID, STATEMENT)


def check_hadamard_series(coef_expr, order: int = ORDER, derivation: Derivation | None = None) -> Derivation:
    """Assert limit_kernel(g) = Σ_{k≥0} ``coef_expr``(σ, k) g^{k+1}: the Taylor coefficients up to ``order``
    and the closed form of the infinite sum (``sp.summation``).  Raises ProofError if not."""
    d = derivation or _scratch()
    K = G5_EXPORTS["limit_kernel"].expr
    d.identity(f"Taylor series of g e^(σ²g) to O(g^{order}) = Σ_(k<{order - 1}) c_k g^(k+1)",
               sp.series(K, g, 0, order).removeO(),
               sum(coef_expr.xreplace({k: kk}) * g ** (kk + 1) for kk in range(order - 1)), simplifier=sp.expand)
    d.identity("Σ_(k≥0) c_k g^(k+1) = g e^(σ²g)  (sympy summation, closed form)",
               sp.summation(coef_expr * g ** (k + 1), (k, 0, sp.oo)), K,
               note="c_k = EXPORTS['hadamard_coefficient']; the series converges absolutely for every real g")
    return d


def _tensor_power(v, p: int) -> list:
    """The entries of v^{⊗p} (all ordered p-tuples of coordinates)."""
    return [sp.Mul(*[v[i] for i in idx]) for idx in itertools.product(range(len(v)), repeat=p)]


@cached_derivation
def derive() -> Derivation:
    d = _scratch()
    c = EXPORTS["hadamard_coefficient"].expr
    K = G5_EXPORTS["limit_kernel"].expr

    # -- the power series ------------------------------------------------------------------------
    check_hadamard_series(c, derivation=d)
    d.remark("entrywise: K = Σ_k c_k G^{∘(k+1)}", BY_HAND,
             "K_ij = limit_kernel(G_ij) with G_ij = ⟨x_i,x_j⟩ (G5); the scalar identity above holds for every real g, "
             "so K_ij = Σ_k c_k G_ij^(k+1) = Σ_k c_k (G^{∘(k+1)})_ij for every entry, the series converging absolutely.")
    if c.is_positive is not True:
        raise ProofError(f"{CODE}: sympy could not establish c_k > 0 (is_positive = {c.is_positive})")
    d.inequality("c_k = σ^(2k)/k! > 0 for all k ≥ 0", c, 0, kind=PROVED, relation=">=",
                 note="strict: sympy's assumptions (σ > 0, k a nonnegative integer) give c_k.is_positive = True "
                      "(the step records it with ≥ because Step has no strict relation)")
    t = sp.Symbol("t", real=True)
    d.identity("t e^(σ²t) to O(t²) is t: the coefficient of t⁰ is 0 (and of t¹ is c₀ = 1)",
               sp.series(K.xreplace({g: t}), t, 0, 2).removeO(), t,
               note="with the closed-form summation above (Σ_k c_k t^(k+1) = t e^(σ²t) for every t, so by uniqueness "
                    "of power series the coefficient of t^n is c_(n−1) > 0 for every n ≥ 1) the kernel is a power "
                    "series in ⟨x,y⟩ with zero constant term and every coefficient of degree ≥ 1 positive")

    # -- Hadamard powers of a Gram matrix are Gram matrices --------------------------------------
    x = sp.Matrix(sp.symbols("x_1:3", real=True))
    y = sp.Matrix(sp.symbols("y_1:3", real=True))
    gxy = (x.T * y)[0, 0]
    d.identities("⟨x,y⟩^p = ⟨x^{⊗p}, y^{⊗p}⟩  (d = 2, p = 1, 2, 3)",
                 [(gxy**p, sum(a * b for a, b in zip(_tensor_power(x, p), _tensor_power(y, p)))) for p in (1, 2, 3)],
                 simplifier=sp.expand, concrete=True,
                 note="in general ⟨x,y⟩^p = Σ_(i₁..i_p) Π x_(i_q) y_(i_q) (multinomial expansion), any d, p")
    n_ = 3
    X = sp.Matrix(n_, 2, lambda i, j: sp.Symbol(f"x_{i}_{j}", real=True))
    G = X * X.T
    cvec = sp.Matrix(n_, 1, lambda i, _: sp.Symbol(f"c_{i}", real=True))
    for p in (2, 3):
        Phi = sp.Matrix([_tensor_power(X[i, :], p) for i in range(n_)])
        Gp = G.applyfunc(lambda e: e**p)
        d.identities(f"G^{{∘{p}}} = Φ_{p} Φ_{p}ᵀ, Φ_{p} rows x_i^{{⊗{p}}}  (n = 3, d = 2)",
                     [(Gp[i, j], (Phi * Phi.T)[i, j]) for i in range(n_) for j in range(i, n_)], simplifier=sp.expand,
                     concrete=True, note="the general fact: G^{∘p} is the Gram matrix of the features x_i^{⊗p}")
        d.identity(f"cᵀ G^{{∘{p}}} c = ‖Φ_{p}ᵀ c‖²  (n = 3, d = 2)", (cvec.T * Gp * cvec)[0, 0],
                   sum(e**2 for e in Phi.T * cvec), simplifier=sp.expand, concrete=True,
                   note="stands for every n, d: a Gram matrix is positive semidefinite")
    d.inequality("cᵀ G^{∘p} c ≥ 0  (p ≥ 1)", sp.Symbol("c^T G^{∘p} c"), 0, kind=CONCRETE, relation=">=",
                 note="a sum of squares by the previous identities, checked at n = 3, d = 2, p ≤ 3; for every n, d, p "
                      "it is the Gram argument with the features x_i^{⊗p} (and the Schur product theorem below)")
    d.remark("Schur product theorem", BY_HAND,
             "If A = Σ_a λ_a u_a u_aᵀ ⪰ 0 and B = Σ_b μ_b v_b v_bᵀ ⪰ 0 (spectral decompositions, λ, μ ≥ 0), then "
             "A ∘ B = Σ_(a,b) λ_a μ_b (u_a ∘ v_b)(u_a ∘ v_b)ᵀ ⪰ 0. By induction G^{∘p} = G ∘ G^{∘(p−1)} ⪰ 0 for "
             "G = XXᵀ ⪰ 0; the Gram-feature identity above is the same fact made explicit.")
    d.remark("K ⪰ 0", BY_HAND,
             "K = Σ_(k≥0) c_k G^{∘(k+1)} with c_k > 0 and every G^{∘(k+1)} ⪰ 0 (Schur): each partial sum is ⪰ 0, "
             "the partial sums converge entrywise (absolutely convergent power series), and the cone of positive "
             "semidefinite matrices is closed; hence K ⪰ 0.")
    lam_K = sp.Symbol("λ_min(K)")
    bound = sp.Sum(c * sp.Symbol("λ_min(G^{∘(k+1)})"), (k, 0, sp.Symbol("N", integer=True, nonnegative=True)))
    d.inequality("λ_min(K) ≥ Σ_(k≤N) c_k λ_min(G^{∘(k+1)}) for every N", lam_K, bound, kind=BY_HAND, relation=">=",
                 note="λ_min(A + B) = min_(‖v‖=1) (vᵀAv + vᵀBv) ≥ λ_min(A) + λ_min(B) (Rayleigh quotient; Weyl). "
                      "Apply it to K = Σ_(k≤N) c_k G^{∘(k+1)} + T_N with the tail T_N = Σ_(k>N) c_k G^{∘(k+1)} ⪰ 0 (as "
                      "for K), so λ_min(T_N) ≥ 0, and use λ_min(cA) = c λ_min(A) for c > 0.")

    # -- strict positive definiteness under (A2) -------------------------------------------------
    tt = sp.Symbol("t", real=True)
    K2 = sp.Matrix([[K.xreplace({g: 1}), K.xreplace({g: tt})], [K.xreplace({g: tt}), K.xreplace({g: 1})]])
    d.identity("n = 2 on the sphere: det K = e^(2σ²) − t² e^(2σ²t), t = ⟨x_1,x_2⟩", K2.det(),
               sp.exp(2 * sigma**2) - tt**2 * sp.exp(2 * sigma**2 * tt))
    d.identity("… and det K = 0 at t = 1 (x_1 = x_2): distinctness in (A2) is needed", K2.det().xreplace({tt: 1}), 0)
    d.remark("K ≻ 0 under (A2)", BY_HAND,
             "Classical: a kernel f(⟨x,y⟩) on the unit sphere with f(t) = Σ_n b_n t^n, b_n ≥ 0, is strictly positive "
             "definite when b_n > 0 for infinitely many even and infinitely many odd n (Schoenberg 1942; Chen, "
             "Menegatto, Sun 2003, for spheres of dimension ≥ 2; Menegatto 1994 for the circle when all b_n > 0, n ≥ 1). "
             "Here f(t) = t e^(σ²t) has b_0 = 0 and b_n = c_(n−1) > 0 for all n ≥ 1 (proved above). Direct argument: "
             "let x_1..x_n be distinct unit vectors and vᵀKv = 0. Then Σ_(n≥1) b_n vᵀG^{∘n}v = 0 with every term ≥ 0 "
             "(Schur), so vᵀG^{∘n}v = ‖Σ_i v_i x_i^{⊗n}‖² = 0, i.e. Σ_i v_i q(x_i) = 0 for every homogeneous "
             "polynomial q of degree n ≥ 1, hence for every polynomial with zero constant term. On the sphere any "
             "polynomial q agrees with q − q(0) + q(0)‖x‖², which has zero constant term, so Σ_i v_i q(x_i) = 0 for "
             "all polynomials q. Take q(x) = Π_(j≠i₀) ‖x − x_j‖² (positive at x_(i₀), zero at the other x_j, as the "
             "points are distinct): v_(i₀) q(x_(i₀)) = 0, so v_(i₀) = 0. Hence v = 0 and K ≻ 0.")

    # -- λ_min(H*) = λ_min(K) --------------------------------------------------------------------
    lam = sp.Symbol("lambda")
    for n2, dp in ((2, 2), (2, 3), (3, 2)):
        Ks = sp.Matrix(n2, n2, lambda i, j: sp.Symbol(f"K_{min(i, j)}{max(i, j)}", real=True))
        d.identity(f"det(λI − K ⊗ I_d') = det(λI − K)^d'  (n = {n2}, d' = {dp}, K symmetric symbolic)",
                   sp.kronecker_product(Ks, sp.eye(dp)).charpoly(lam).as_expr(),
                   Ks.charpoly(lam).as_expr() ** dp, simplifier=sp.expand,
                   note="so H* = K ⊗ I_d' has the eigenvalues of K, each d' times: λ_min(H*) = λ_min(K)")
    return d
