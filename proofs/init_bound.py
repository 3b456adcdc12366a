"""B1 init-bound (the book's B1–B7 part).

Under (A1), with probability ≥ 1 − δ, |w_r(0)ᵀx_i| ≤ B := σ√(2 ln(2nm/δ)) for all i, r.  On that event
e^{−B} ≤ u_{i,r} ≤ e^{B} and e^{−2B}/m ≤ S_{i,r} ≤ e^{2B}/m.
"""
from __future__ import annotations

import functools

import sympy as sp

from ._core import BY_HAND, EXPORT_BY_HAND, NUMERIC, Derivation, Export, cached_derivation
from .definitions import m, sigma
from .softmax_ratio import prove_le

CODE = "B1"
ID = "init-bound"
USES = ()   # a Gaussian tail bound and a union bound
STATEMENT = ("Under (A1), with probability ≥ 1 − δ, |w_r(0)ᵀx_i| ≤ B = σ√(2 ln(2nm/δ)) for all i, r; "
             "then e^{−B} ≤ u_{i,r} ≤ e^{B} and e^{−2B}/m ≤ S_{i,r} ≤ e^{2B}/m.")

n = sp.Symbol("n", integer=True, positive=True)
delta = sp.Symbol("delta", positive=True)
B = sp.Symbol("B", nonnegative=True)

B_EXPR = sigma * sp.sqrt(2 * sp.log(2 * n * m / delta))

EXPORTS = {
    "B": Export((sigma, n, m, delta), B_EXPR, "B = σ√(2 ln(2nm/δ))", EXPORT_BY_HAND),
    "u_upper": Export((B,), sp.exp(B), "u_{i,r} ≤ e^{B} on the event", EXPORT_BY_HAND),
    "u_lower": Export((B,), sp.exp(-B), "u_{i,r} ≥ e^{−B} on the event", EXPORT_BY_HAND),
    "S_upper": Export((B, m), sp.exp(2 * B) / m, "S_{i,r} ≤ e^{2B}/m on the event", EXPORT_BY_HAND),
    "S_lower": Export((B, m), sp.exp(-2 * B) / m, "S_{i,r} ≥ e^{−2B}/m on the event", EXPORT_BY_HAND),
}

# the Gaussian moment generating function, shared with B7
lam = sp.Symbol("lambda", real=True)
zeta = sp.Symbol("zeta", real=True)
s_dev = sp.Symbol("s", positive=True)


MGF = sp.exp(lam**2 * s_dev**2 / 2)   # E e^{λZ} for Z ~ N(0, s²)


@functools.lru_cache(maxsize=None)
def _normal_mass():
    c = sp.Symbol("c", real=True)
    density = sp.exp(-(zeta - c)**2 / (2 * s_dev**2)) / (sp.sqrt(2 * sp.pi) * s_dev)
    return sp.Integral(density, (zeta, -sp.oo, sp.oo)), sp.integrate(density, (zeta, -sp.oo, sp.oo), conds="none")


def gaussian_mgf_steps(d: Derivation) -> None:
    """Record E e^{λZ} = e^{λ²s²/2} for Z ~ N(0, s²): complete the square (sympy identity), then the
    N(λs², s²) density integrates to 1 (sympy integrates)."""
    integral, value = _normal_mass()
    d.identity("completing the square", lam * zeta - zeta**2 / (2 * s_dev**2),
               lam**2 * s_dev**2 / 2 - (zeta - lam * s_dev**2)**2 / (2 * s_dev**2),
               note="so e^{λζ} φ_s(ζ) = e^{λ²s²/2} · (the N(λs², s²) density at ζ), φ_s the N(0, s²) density")
    d.identity("a normal density integrates to 1 (sympy integrates)", integral, 1,
               simplifier=lambda e: sp.simplify(e.xreplace({integral: value})))
    d.identity("moment generating function", sp.Symbol("E e^{λZ}"), MGF,
               simplifier=lambda e: sp.simplify(e.xreplace({sp.Symbol("E e^{λZ}"): MGF * value})),
               note="E e^{λZ} = e^{λ²s²/2} ∫ N(λs², s²)(ζ) dζ = e^{λ²s²/2}")


@cached_derivation
def derive() -> Derivation:
    d = Derivation(CODE, ID, STATEMENT)
    X = {name: ex.expr for name, ex in EXPORTS.items()}
    tt = sp.Symbol("t", positive=True)
    # 1. the tail of one Gaussian logit
    d.define("logit", sp.Symbol("Z"), sp.Symbol("w_r(0)ᵀx_i"),
             note="Z ~ N(0, s²) with s = σ‖x_i‖ ≤ σ under (A1): a linear image of w_r(0) ~ N(0, σ²I)")
    gaussian_mgf_steps(d)
    expo = lam**2 * s_dev**2 / 2 - lam * tt
    d.inequality("Chernoff", sp.Symbol("P(Z ≥ t)"), sp.exp(expo), kind=BY_HAND,
                 note="Markov's inequality applied to e^{λZ} ≥ 0: P(Z ≥ t) = P(e^{λZ} ≥ e^{λt}) ≤ e^{−λt} E e^{λZ}, "
                      "for every λ > 0.")
    lam_star = sp.solve(sp.diff(expo, lam), lam)
    d.identity("optimal λ = t/s²", lam_star[0], tt / s_dev**2,
               note="the exponent λ²s²/2 − λt is a convex quadratic in λ; its stationary point (sympy solves)")
    d.identity("optimal exponent", expo.subs(lam, lam_star[0]), -tt**2 / (2 * s_dev**2))
    d.inequality("two-sided tail", sp.Symbol("P(|Z| ≥ t)"), 2 * sp.exp(-tt**2 / (2 * s_dev**2)), kind=BY_HAND,
                 note="Z and −Z have the same law; add the two one-sided Chernoff bounds.")
    k = sp.Symbol("k", nonnegative=True)
    prove_le(d, "s ≤ σ makes the tail exponent only larger", tt**2 / (2 * sigma**2), tt**2 / (2 * s_dev**2),
             subs=[(s_dev, sigma / (1 + k))],
             note="so e^{−t²/(2s²)} ≤ e^{−t²/(2σ²)} (exp is increasing) when s = σ‖x_i‖ ≤ σ, i.e. under (A1).")
    # 2. union bound over the nm logits
    d.inequality("union bound", sp.Symbol("P(∃ i,r: |w_rᵀx_i| > B)"), 2 * n * m * sp.exp(-B**2 / (2 * sigma**2)),
                 kind=BY_HAND, note="the probability of a union is at most the sum of the nm probabilities, each "
                                    "≤ 2e^{−B²/(2σ²)} by the steps above.")
    d.identity("the choice of B makes the union bound δ", 2 * n * m * sp.exp(-X["B"]**2 / (2 * sigma**2)), delta,
               note="B = σ√(2 ln(2nm/δ))")
    # 3. consequences on the event
    zl = sp.Symbol("w_rᵀx_i", real=True)
    d.inequality("u bounds", sp.exp(zl), X["u_upper"], kind=BY_HAND,
                 note="u_{i,r} = e^{w_rᵀx_i} and exp is increasing: |w_rᵀx_i| ≤ B gives e^{−B} ≤ u_{i,r} ≤ e^{B}.")
    d.identity("u_upper is u_{i,r} at w_rᵀx_i = B (attained)", sp.exp(zl).xreplace({zl: B}), X["u_upper"])
    d.identity("u_lower is u_{i,r} at w_rᵀx_i = −B (attained)", sp.exp(zl).xreplace({zl: -B}), X["u_lower"])
    # S_{i,r} = u_r / (u_r + (m − 1) ū), ū the mean of the other m − 1 entries, ū ∈ [e^{−B}, e^{B}]
    ur, ub = sp.symbols("u_r ū", positive=True)
    q, p, j, tB = sp.symbols("q p j t_B", nonnegative=True)
    S_expr = ur / (ur + (m - 1) * ub)
    common = [(m, 1 + j), (B, sp.log(1 + tB))]
    prove_le(d, "S_{i,r} ≤ e^{2B}/m", S_expr, X["S_upper"],
             subs=[(ur, sp.exp(B) / (1 + q)), (ub, sp.exp(-B) + p)] + common,
             note="S_{i,r} = u_r/(u_r + (m − 1)ū) with ū the mean of the other u's; u_r ≤ e^{B}, ū ≥ e^{−B}, B ≥ 0, m ≥ 1.")
    prove_le(d, "S_{i,r} ≥ e^{−2B}/m", X["S_lower"], S_expr,
             subs=[(ur, sp.exp(-B) + q), (ub, sp.exp(B) / (1 + p))] + common,
             note="u_r ≥ e^{−B}, ū ≤ e^{B}.")
    d.identity("S_upper = max u / (m · min u): the numerator at its largest, all m terms of α at their smallest",
               X["S_upper"], X["u_upper"] / (m * X["u_lower"]),
               note="S_{i,r} = u_{i,r}/Σ_k u_{i,k} ≤ e^{B}/(m e^{−B}); the certified step above is this bound")
    d.identity("S_lower = min u / (m · max u)", X["S_lower"], X["u_lower"] / (m * X["u_upper"]))
    d.remark("violation frequency", NUMERIC,
             "check B1: over many initializations the frequency of {∃ i,r: |w_rᵀx_i| > B} stays below δ (one-sided "
             "Clopper–Pearson bound), and on the event every S_{i,r} lies in [e^{−2B}/m, e^{2B}/m].")
    return d
