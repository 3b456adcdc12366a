"""D4 input-lift (the book's D1–D6 part).

The network's theory needs (A2) (unit-norm, distinct inputs).  The lift φ(x) = (x/ρ, √(1 − ‖x‖²/ρ²)) maps the
ball ‖x‖ ≤ ρ of R^d one-to-one onto the closed upper hemisphere of S^d; its inverse is u ↦ ρ u_{1..d}.  ρ is
chosen so that the truncated mass P(‖X_t‖ > ρ) is at most δ.  That mass is, exactly,
Σ_k π_k P(χ'²_d(λ_k) > ρ²/σ_k²) with λ_k = a_t²‖μ_k‖²/σ_k² (a noncentral chi-square), and the radius
ρ_δ = max_k (a_t‖μ_k‖ + σ_k(√d + √(2 ln(1/δ)))) bounds it by δ without any special function.
"""
from __future__ import annotations

import sympy as sp

from ._core import BY_HAND, Derivation, Export, cached_derivation

CODE = "D4"
ID = "input-lift"
USES = ("D2",)   # the truncated mass of D2's mixture at time t
STATEMENT = ("φ(x) = (x/ρ, √(1 − ‖x‖²/ρ²)) ∈ S^d for ‖x‖ ≤ ρ, inverse u ↦ ρu_{1..d}; ρ chosen so that "
             "P(‖X_t‖ > ρ) ≤ δ, and the truncated mass is reported.")

rho = sp.Symbol("rho", positive=True)
r = sp.Symbol("r", nonnegative=True)            # ‖x‖
r2 = sp.Symbol("r2", nonnegative=True)          # ‖x‖²
delta = sp.Symbol("delta", positive=True)
dim = sp.Symbol("d", positive=True, integer=True)
amu = sp.Symbol("amu", nonnegative=True)        # a_t ‖μ_k‖
var = sp.Symbol("var", positive=True)           # σ_k²
u = sp.Symbol("u", nonnegative=True)

LAST_NAIVE = sp.sqrt(1 - r2 / rho**2)
LAST = sp.sqrt((1 - r / rho) * (1 + r / rho))   # no cancellation in 1 − r²/ρ² as r → ρ
RADIUS = amu + sp.sqrt(var) * (sp.sqrt(dim) + sp.sqrt(2 * sp.log(1 / delta)))

EXPORTS = {
    "lift_last": Export((r, rho), LAST, "the last coordinate √(1 − ‖x‖²/ρ²) of φ(x), as √((1 − r/ρ)(1 + r/ρ))"),
    "concentration_radius": Export((amu, var, dim, delta), RADIUS,
                                   "a_t‖μ_k‖ + σ_k(√d + √(2 ln(1/δ))): P(‖X‖ > it) ≤ δ for X ~ N(a_t μ_k, σ_k² I)"),
}


@cached_derivation
def derive() -> Derivation:
    d = Derivation(CODE, ID, STATEMENT)
    X = {name: ex.expr for name, ex in EXPORTS.items()}
    LAST, RADIUS = X["lift_last"], X["concentration_radius"]   # the steps run on the exports
    for dd in (1, 2, 3):
        xs = sp.symbols(f"x_1:{dd + 1}", real=True)
        n2 = sum(c**2 for c in xs)
        phi = [c / rho for c in xs] + [sp.sqrt(1 - n2 / rho**2)]
        d.define(f"lift (d = {dd})", sp.Symbol("phi"), sp.Matrix(phi).T, note="on the ball ‖x‖ ≤ ρ")
        d.identity(f"‖φ(x)‖² = 1  (d = {dd})", sum(c**2 for c in phi), 1,
                   note="the square root is real on ‖x‖ ≤ ρ, so its square is 1 − ‖x‖²/ρ²")
        d.identities(f"unlift(φ(x)) = ρ φ(x)_(1..d) = x  (d = {dd})", [(rho * phi[j], xs[j]) for j in range(dd)])
        if dd == 2:
            ys = sp.symbols("y_1:3", real=True)
            m2 = sum(c**2 for c in ys)
            psi = [c / rho for c in ys] + [sp.sqrt(1 - m2 / rho**2)]
            inner = sum(p * q for p, q in zip(phi, psi))
            d.identity("‖φ(x) − φ(y)‖² = 2 − 2⟨φ(x), φ(y)⟩  (d = 2)", sum((p - q) ** 2 for p, q in zip(phi, psi)),
                       2 - 2 * inner, simplifier=lambda e: sp.simplify(sp.expand(e)),
                       note="on the sphere the NTK K(⟨φx, φy⟩) is a function of the distance of the lifted points")
    d.identity("stable last coordinate: (1 − r/ρ)(1 + r/ρ) = 1 − r²/ρ²", LAST**2, LAST_NAIVE.xreplace({r2: r**2}) ** 2,
               note="the numeric layer takes the square root of the product (no cancellation as r → ρ)")
    d.remark("one-to-one, (A2)", BY_HAND,
             "φ(x) determines x = ρ φ(x)_(1..d), so distinct inputs have distinct lifts; with the identity above, "
             "lifted inputs satisfy (A2). The last coordinate is ≥ 0: φ maps onto the closed upper hemisphere.")
    d.remark("truncated mass, exactly", BY_HAND,
             "for X ~ N(m, σ²I_d), ‖X‖²/σ² is noncentral chi-square with d degrees of freedom and noncentrality "
             "‖m‖²/σ²; so P(‖X_t‖ > ρ) = Σ_k π_k P(χ'²_d(a_t²‖μ_k‖²/σ_k²) > ρ²/σ_k²) (scipy.stats.ncx2.sf)")
    d.remark("Gaussian concentration", BY_HAND,
             "z ↦ ‖z‖ is 1-Lipschitz and E‖Z‖ ≤ √(E‖Z‖²) = √d for Z ~ N(0, I_d), so P(‖Z‖ ≥ √d + u) ≤ e^{−u²/2} "
             "(Gaussian concentration for Lipschitz functions, e.g. Boucheron–Lugosi–Massart Thm 5.6). With "
             "‖m + σZ‖ ≤ ‖m‖ + σ‖Z‖: P(‖m + σZ‖ > ‖m‖ + σ(√d + u)) ≤ e^{−u²/2}.")
    d.identity("u = √(2 ln(1/δ)) makes the tail e^{−u²/2} equal δ",
               sp.exp(-u**2 / 2).xreplace({u: sp.sqrt(2 * sp.log(1 / delta))}), delta,
               note="so ρ ≥ max_k concentration_radius_k gives P(‖X_t‖ > ρ) ≤ Σ_k π_k δ = δ (for δ ≤ 1)")
    u_star = [root for root in sp.solve(sp.Eq(sp.exp(-u**2 / 2), delta), u) if root.could_extract_minus_sign() is False]
    if len(u_star) != 1:
        raise AssertionError(f"D4: expected one nonnegative root of e^(-u²/2) = δ, got {u_star}")
    d.identity("concentration_radius = a_t‖μ_k‖ + σ_k(√d + u) at the u solving e^{−u²/2} = δ (sympy solves)",
               RADIUS, amu + sp.sqrt(var) * (sp.sqrt(dim) + u_star[0]),
               note="the Gaussian-concentration step with ‖m‖ = a_t‖μ_k‖ and σ = σ_k")
    return d
