"""D1 forward-process (the book's D1–D6 part).

The Ornstein–Uhlenbeck process dX = −X dt + √2 dB started at X_0 has the marginal
X_t = a_t X_0 + s_t ξ, ξ ~ N(0, I_d), with a_t = e^{−t} and s_t² = 1 − e^{−2t}; a Gaussian initial law
N(μ, vI) is carried to N(a_t μ, (a_t² v + s_t²) I).

Proved here, coordinatewise (the OU generator acts on each coordinate independently, so d = 1 suffices):
the moment ODEs m' = −m, V' = −2V + 2 solved by ``dsolve``; the transition density N(x; a_t x_0, s_t²)
solves the Fokker–Planck equation ∂_t p = ∂_x(x p) + ∂_x² p and tends to δ_{x_0} as t → 0; and the
Gaussian convolution ∫ N(x_0; μ, v) N(x; a x_0, s²) dx_0 = N(x; aμ, a²v + s²), with the integral done by
the Gaussian-integral lemma ∫ y^k e^{−Ay² + By + C} dy (k = 0, 1, 2), which sympy integrates once.
"""
from __future__ import annotations

import sympy as sp
from sympy.codegen.cfunctions import expm1

from ._core import BY_HAND, Derivation, Export, ProofError, cached_derivation

CODE = "D1"
ID = "forward-process"
USES = ()   # Itô's formula for a linear SDE
STATEMENT = ("OU forward process: X_t = a_t X_0 + s_t ξ with a_t = e^{−t}, s_t² = 1 − e^{−2t}; "
             "N(μ, vI) is carried to N(a_t μ, (a_t² v + s_t²) I).")

t = sp.Symbol("t", positive=True)                  # diffusion time
v = sp.Symbol("v", positive=True)                  # a component variance at time 0
x, x0, mu = sp.symbols("x x_0 mu", real=True)      # a coordinate of X_t, of X_0, of a mean
a, s = sp.symbols("a s", positive=True)            # generic a_t, s_t
A_, B_, C_, y_ = sp.Symbol("A", positive=True), sp.Symbol("B", real=True), sp.Symbol("C", real=True), \
    sp.Symbol("y", real=True)

A_T = sp.exp(-t)                     # a_t
S2_NAIVE = 1 - sp.exp(-2 * t)        # s_t² as written in the book
S2_T = -expm1(-2 * t)                # s_t², the form the numeric layer uses (no cancellation at tiny t)
VAR_T = sp.exp(-2 * t) * v - expm1(-2 * t)   # a_t² v + s_t²: a sum of two positive terms

EXPORTS = {
    "mean_scale": Export((t,), A_T, "a_t = e^{−t}"),
    "noise_var": Export((t,), S2_T, "s_t² = 1 − e^{−2t}, computed as −expm1(−2t)"),
    "marginal_var": Export((t, v), VAR_T, "a_t² v + s_t²: the variance at time t of a component of variance v"),
}


def normal_pdf(z, mean, var):
    """The N(mean, var) density at z (one coordinate)."""
    return sp.exp(-(z - mean) ** 2 / (2 * var)) / sp.sqrt(2 * sp.pi * var)


# -------------------------------------------------------------------------- the Gaussian-integral lemma
GAUSS_MOMENTS = {
    0: sp.sqrt(sp.pi / A_) * sp.exp(B_**2 / (4 * A_) + C_),
    1: B_ / (2 * A_) * sp.sqrt(sp.pi / A_) * sp.exp(B_**2 / (4 * A_) + C_),
    2: (2 * A_ + B_**2) / (4 * A_**2) * sp.sqrt(sp.pi / A_) * sp.exp(B_**2 / (4 * A_) + C_),
}


def _canonical_cancel(e):
    """Each exponent as one cancelled, factored fraction; each distinct exponential a fresh positive symbol;
    then ``cancel``."""
    e = e.replace(lambda q: isinstance(q, sp.exp), lambda q: sp.exp(sp.factor(sp.cancel(sp.together(q.args[0])))))
    atoms = sorted(e.atoms(sp.exp), key=sp.default_sort_key)
    sub = {q: sp.Dummy(f"e{k}", positive=True) for k, q in enumerate(atoms)}
    return sp.cancel(sp.together(e.xreplace(sub)))


def exp_simplifier(e):
    """A simplifier for sums and quotients of Gaussian densities.

    Every exponential is put in a canonical form — e^{u + log b} split as b e^u, products merged
    (``powsimp``; if that does not suffice, after distributing products over sums), each exponent one
    cancelled fraction — then each distinct exponential is replaced by a fresh positive symbol and the
    result is ``cancel``-ed.  Sound: the rewrites are exact, and a rational function that vanishes
    identically in free symbols vanishes at any values, in particular at the exponentials.  (It can fail to
    prove an identity whose exponentials agree only after a rewrite it does not do; never the reverse.)
    """
    e = sp.sympify(e).replace(lambda q: isinstance(q, sp.exp),
                              lambda q: sp.expand(sp.exp(sp.expand(q.args[0])), deep=False, power_exp=True))
    r = _canonical_cancel(sp.powsimp(e, combine="exp", deep=True))
    if r != 0:
        r = _canonical_cancel(sp.powsimp(sp.expand(e), combine="exp", deep=True))
    return r


def integrate_gaussians(expr):
    """Replace every ``Integral(f, (y, −∞, ∞))`` in ``expr`` by :func:`gaussian_integral` of it."""
    def one(I):
        (var, lo, hi), = I.limits
        if (lo, hi) != (-sp.oo, sp.oo):
            raise ProofError(f"integrate_gaussians: {I} is not over the real line")
        return gaussian_integral(I.function, var)
    return expr.replace(lambda q: isinstance(q, sp.Integral), one)


def gaussian_integral(integrand, var):
    """∫_R integrand d(var) for integrand = c · var^k · e^{Q(var)} (k ≤ 2, Q quadratic with negative leading
    coefficient, c free of var) by the Gaussian-integral lemma (the moments proved in :func:`derive`).

    Raises ProofError if the integrand has another form or the leading coefficient is not provably < 0.
    """
    integrand = sp.powsimp(sp.expand(integrand), combine="exp")
    total = 0
    for term in sp.Add.make_args(integrand):
        exps = [f for f in sp.Mul.make_args(term) if isinstance(f, sp.exp)]
        if len(exps) != 1:
            raise ProofError(f"gaussian_integral: term {term} has {len(exps)} exponential factors")
        rest = sp.Mul(*[f for f in sp.Mul.make_args(term) if f is not exps[0]])
        Q = sp.Poly(sp.expand(exps[0].args[0]), var)
        if Q.degree() != 2:
            raise ProofError(f"gaussian_integral: exponent {exps[0].args[0]} is not quadratic in {var}")
        P = sp.Poly(rest, var)
        if P.degree() > 2:
            raise ProofError(f"gaussian_integral: polynomial factor of degree {P.degree()} > 2")
        Ac, Bc, Cc = -Q.coeff_monomial(var**2), Q.coeff_monomial(var), Q.coeff_monomial(1)
        if not sp.simplify(Ac).is_positive:
            raise ProofError(f"gaussian_integral: −(leading coefficient) {Ac} is not provably positive")
        for (k,), c in P.terms():
            total += c * GAUSS_MOMENTS[k].xreplace({A_: Ac, B_: Bc, C_: Cc})
    return total


@cached_derivation
def derive() -> Derivation:
    d = Derivation(CODE, ID, STATEMENT)
    X = {name: ex.expr for name, ex in EXPORTS.items()}
    A_T, S2_T, VAR_T = X["mean_scale"], X["noise_var"], X["marginal_var"]   # every step runs on the exports
    d.define("forward SDE", sp.Symbol("dX"),
             -sp.Symbol("X") * sp.Symbol("dt") + sp.sqrt(2) * sp.Symbol("dB"),
             note="Ornstein–Uhlenbeck with stationary law N(0, I); coordinates evolve independently, so each "
                  "statement below is proved for one coordinate")

    # -- moments -------------------------------------------------------------------------------------------
    Mf, Vf = sp.Function("m"), sp.Function("V")
    solM = sp.dsolve(sp.Eq(Mf(t).diff(t), -Mf(t)), Mf(t), ics={Mf(0): x0}).rhs
    solV = sp.dsolve(sp.Eq(Vf(t).diff(t), -2 * Vf(t) + 2), Vf(t), ics={Vf(0): 0}).rhs
    d.remark("moment ODEs", BY_HAND,
             "Itô: d E[X] = −E[X] dt and d E[(X − E X)²] = (−2 Var X + 2) dt (the diffusion coefficient √2 "
             "contributes (√2)² = 2); from X_0 = x_0: m(0) = x_0, V(0) = 0")
    d.identity("mean: dsolve(m' = −m, m(0) = x_0) = a_t x_0", solM, A_T * x0)
    d.identity("variance: dsolve(V' = −2V + 2, V(0) = 0) = s_t²", solV, S2_NAIVE)
    d.identity("stable form of s_t²: −expm1(−2t) = 1 − e^{−2t}", S2_T.rewrite(sp.exp), S2_NAIVE,
               note="the numeric layer evaluates −expm1(−2t): no cancellation as t → 0")
    d.identity("a_t² + s_t² = 1 (the stationary variance is preserved)", A_T**2 + S2_NAIVE, 1)
    d.identity("the component variance the numeric layer uses (the convolution below gives a²v + s²): e^{−2t} v − expm1(−2t) = a_t² v + s_t²",
               VAR_T.rewrite(sp.exp), (a**2 * v + s**2).xreplace({a: A_T, s: sp.sqrt(S2_NAIVE)}),
               note="two positive terms, so the float64 sum has relative error ≤ 2ε")

    # -- Fokker–Planck ---------------------------------------------------------------------------------------
    p = normal_pdf(x, A_T * x0, S2_NAIVE)
    d.define("transition density p_t(x | x_0)", sp.Symbol("p_t"), p)
    fp = sp.diff(p, t) - sp.diff(x * p, x) - sp.diff(p, x, 2)
    d.identity("Fokker–Planck: (∂_t p − ∂_x(x p) − ∂_x² p)/p = 0", sp.simplify(fp / p), 0,
               note="the forward equation of dX = −X dt + √2 dB; dividing by p > 0 loses nothing")
    d.identity("t → 0: a_t → 1", sp.limit(A_T, t, 0), 1)
    d.identity("t → 0: s_t² → 0 (so p_t(· | x_0) → δ_{x_0})", sp.limit(S2_NAIVE, t, 0), 0)
    d.identity("t → ∞: a_t → 0, s_t² → 1 (stationary law N(0, 1))",
               sp.limit(A_T, t, sp.oo) + sp.limit(S2_NAIVE, t, sp.oo), 1)

    # -- Gaussian-integral lemma -------------------------------------------------------------------------------
    for k, closed in GAUSS_MOMENTS.items():
        lhs = sp.Integral(y_**k * sp.exp(-A_ * y_**2 + B_ * y_ + C_), (y_, -sp.oo, sp.oo))
        d.identity(f"Gaussian-integral lemma, k = {k}", lhs, closed, simplifier=lambda e: sp.simplify(e.doit()),
                   note="A > 0, B, C real; sympy's integrate does the integral (it is used below and in D3 "
                        "through gaussian_integral)")

    # -- convolution ---------------------------------------------------------------------------------------
    conv = sp.Integral(normal_pdf(x0, mu, v) * normal_pdf(x, a * x0, s**2), (x0, -sp.oo, sp.oo))
    target = normal_pdf(x, a * mu, a**2 * v + s**2)
    d.identity("∫ N(x_0; μ, v) N(x; a x_0, s²) dx_0 = N(x; aμ, a²v + s²)", conv / target, 1,
               simplifier=lambda e: exp_simplifier(integrate_gaussians(e)),
               note="asserted as ratio = 1 (both sides are positive); so N(μ, vI) at time 0 is N(a_t μ, "
                    "(a_t² v + s_t²) I) at time t, coordinate by coordinate")
    d.remark("mixtures", BY_HAND,
             "the law of X_t is linear in the law of X_0 (X_t = a_t X_0 + s_t ξ with ξ independent of X_0), so "
             "Σ_k π_k N(μ_k, v_k I) is carried to Σ_k π_k N(a_t μ_k, (a_t² v_k + s_t²) I) — the p_t of D2")
    return d
