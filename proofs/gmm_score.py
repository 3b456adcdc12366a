"""D2 gmm-score (the book's D1–D6 part).

For p_0 = Σ_k π_k N(μ_k, v_k I) the time-t law is p_t = Σ_k π_k N(a_t μ_k, σ_k² I), σ_k² = a_t² v_k + s_t² (D1),
and ∇ log p_t(x) = −Σ_k γ_k(x) (x − a_t μ_k)/σ_k² with γ the posterior responsibilities.

sympy differentiates log p_t from the density (d = 2, K = 2, every parameter a symbol, and again at d = 1,
K = 3 with the time dependence written out), and proves the log-sum-exp form the numeric layer compiles:
γ = softmax(ℓ) with component logits ℓ_k = log π_k − (d/2) log(2πσ_k²) − ‖x − a_t μ_k‖²/(2σ_k²), shifted by
their maximum (any shift M leaves γ and log Σ e^{ℓ} − M unchanged).
"""
from __future__ import annotations

import sympy as sp

from ._core import BY_HAND, Derivation, Export, cached_derivation
from .forward_process import A_T, S2_NAIVE, VAR_T, exp_simplifier, t as t_sym, v as v_sym

CODE = "D2"
ID = "gmm-score"
USES = ("D1",)   # D1 carries each Gaussian component forward
STATEMENT = ("For p_0 = Σ_k π_k N(μ_k, v_k I): ∇ log p_t(x) = −Σ_k γ_k(x)(x − a_t μ_k)/(a_t² v_k + s_t²), "
             "γ = softmax of the component log-densities (log-sum-exp).")

log_pi = sp.Symbol("log_pi", real=True)        # log π_k
dim = sp.Symbol("d", positive=True, integer=True)
var = sp.Symbol("var", positive=True)         # σ_k² = a_t² v_k + s_t²
sqdist = sp.Symbol("sqdist", nonnegative=True)  # ‖x − a_t μ_k‖²
xj, mj = sp.symbols("x_j m_j", real=True)      # a coordinate of x and of the mean a_t μ_k
Msh = sp.Symbol("M", real=True)                # the log-sum-exp shift

COMPONENT_LOGIT = log_pi - dim / 2 * sp.log(2 * sp.pi * var) - sqdist / (2 * var)
COMPONENT_SCORE = -(xj - mj) / var

EXPORTS = {
    "component_logit": Export((log_pi, dim, var, sqdist), COMPONENT_LOGIT,
                              "ℓ_k = log(π_k N(x; a_t μ_k, σ_k² I)) from log π_k, d, σ_k², ‖x − a_t μ_k‖²"),
    "component_score": Export((xj, mj, var), COMPONENT_SCORE, "−(x_j − a_t μ_kj)/σ_k²: the score of component k"),
    "component_var": Export((t_sym, v_sym), VAR_T, "σ_k² = a_t² v_k + s_t² as a function of (t, v) (from D1)"),
}


def mixture_density(xs, pis, means, variances):
    """Σ_k π_k N(x; m_k, σ_k² I) for the coordinates ``xs`` (a list), with explicit sympy entries."""
    dd = len(xs)
    out = 0
    for p, m, s2 in zip(pis, means, variances):
        sq = sum((xc - mc) ** 2 for xc, mc in zip(xs, m))
        out += p * sp.exp(-sq / (2 * s2)) / (2 * sp.pi * s2) ** sp.Rational(dd, 2)
    return out


def claimed_score(xs, pis, means, variances):
    """−Σ_k γ_k (x − m_k)/σ_k², coordinate by coordinate, γ_k = π_k N_k / Σ_j π_j N_j."""
    dd = len(xs)
    comps = []
    for p, m, s2 in zip(pis, means, variances):
        sq = sum((xc - mc) ** 2 for xc, mc in zip(xs, m))
        comps.append(p * sp.exp(-sq / (2 * s2)) / (2 * sp.pi * s2) ** sp.Rational(dd, 2))
    tot = sum(comps)
    return [-sum(c / tot * (xs[j] - m[j]) / s2 for c, m, s2 in zip(comps, means, variances)) for j in range(dd)]


@cached_derivation
def derive() -> Derivation:
    from .forward_process import EXPORTS as D1

    d = Derivation(CODE, ID, STATEMENT)
    X = {name: ex.expr for name, ex in EXPORTS.items()}
    COMPONENT_LOGIT, COMPONENT_SCORE = X["component_logit"], X["component_score"]   # the steps run on the exports
    A_T = D1["mean_scale"].expr
    from sympy.stats import Normal, density
    x1, m1 = sp.Symbol("x", real=True), sp.Symbol("m", real=True)
    dens = density(Normal("Z", m1, sp.sqrt(var)))(x1)
    d.identity("component_logit at d = 1 = log(π · sympy.stats' N(m, σ²) density)",
               X["component_logit"].xreplace({dim: 1, sqdist: (x1 - m1)**2, log_pi: sp.log(sp.Symbol("pi_k", positive=True))}),
               sp.log(sp.Symbol("pi_k", positive=True) * dens), simplifier=lambda e: sp.simplify(sp.expand_log(e, force=True)))
    d.identity("component_score = ∂_x log N(x; m, σ²) (sympy.stats' density)", X["component_score"].xreplace({xj: x1, mj: m1}),
               sp.diff(sp.log(dens), x1))
    d.identity("component_var = D1's marginal_var (a_t² v + s_t²)", X["component_var"],
               D1["marginal_var"].expr.xreplace(dict(zip(D1["marginal_var"].args, EXPORTS["component_var"].args))))

    # -- d = 2, K = 2, every parameter a symbol ---------------------------------------------------------------
    xs = list(sp.symbols("x_1 x_2", real=True))
    p1 = sp.Symbol("pi_1", positive=True)
    pis = [p1, 1 - p1]
    means = [list(sp.symbols("m_11 m_12", real=True)), list(sp.symbols("m_21 m_22", real=True))]
    s2s = [sp.Symbol("sigma_1^2", positive=True), sp.Symbol("sigma_2^2", positive=True)]
    p = mixture_density(xs, pis, means, s2s)
    d.define("p_t (d = 2, K = 2)", sp.Symbol("p_t"), p,
             note="m_k = a_t μ_k, σ_k² = a_t² v_k + s_t² (D1); π_2 = 1 − π_1")
    claim = claimed_score(xs, pis, means, s2s)
    d.identities("∂ log p_t/∂x_j = −Σ_k γ_k (x_j − m_kj)/σ_k²  (d = 2, K = 2)",
                 [(sp.diff(sp.log(p), xs[j]), claim[j]) for j in range(2)],
                 note="sympy differentiates the log of the density")

    # -- d = 1, K = 3, time written out --------------------------------------------------------------------
    t = sp.Symbol("t", positive=True)
    x = sp.Symbol("x", real=True)
    q1, q2 = sp.symbols("pi_1 pi_2", positive=True)
    pis3 = [q1, q2, 1 - q1 - q2]
    mus = list(sp.symbols("mu_1 mu_2 mu_3", real=True))
    vs = list(sp.symbols("v_1 v_2 v_3", positive=True))
    means3 = [[A_T * mu] for mu in mus]
    vars3 = [X["component_var"].xreplace({t_sym: t, v_sym: v}) for v in vs]
    p3 = mixture_density([x], pis3, means3, vars3)
    d.identity("∂ log p_t/∂x = −Σ_k γ_k (x − a_t μ_k)/(a_t² v_k + s_t²)  "
               "(d = 1, K = 3, a_t = e^{−t}, σ_k² = component_var(t, v_k))",
               sp.diff(sp.log(p3), x), claimed_score([x], pis3, means3, vars3)[0], simplifier=exp_simplifier)

    # -- the compiled form: component logits and log-sum-exp ---------------------------------------------------
    logits = []
    for p_, m, s2 in zip(pis, means, s2s):
        sq = sum((xc - mc) ** 2 for xc, mc in zip(xs, m))
        logits.append(COMPONENT_LOGIT.xreplace({log_pi: sp.log(p_), dim: 2, var: s2, sqdist: sq}))
    d.identities("e^{ℓ_k} = π_k N(x; m_k, σ_k² I)  (component_logit, d = 2)",
                 [(sp.exp(lk), mixture_density(xs, [p_], [m], [s2]))
                  for lk, p_, m, s2 in zip(logits, pis, means, s2s)], simplifier=exp_simplifier)
    lse = sp.log(sum(sp.exp(lk - Msh) for lk in logits)) + Msh
    d.identity("log p_t = M + log Σ_k e^{ℓ_k − M} for every M (log-sum-exp)", sp.exp(lse), p,
               simplifier=exp_simplifier, note="asserted after exponentiating both sides; the numeric layer "
                                                 "takes M = max_k ℓ_k, so every exponent is ≤ 0")
    gam = [sp.exp(lk - Msh) / sum(sp.exp(lj - Msh) for lj in logits) for lk in logits]
    comp_scores = [[COMPONENT_SCORE.xreplace({xj: xs[j], mj: m[j], var: s2}) for j in range(2)]
                   for m, s2 in zip(means, s2s)]
    d.identities("score = Σ_k softmax(ℓ − M)_k · component_score_k  (the compiled form, d = 2, K = 2)",
                 [(sum(g * cs[j] for g, cs in zip(gam, comp_scores)), claim[j]) for j in range(2)],
                 simplifier=exp_simplifier,
                 note="γ_k = e^{ℓ_k − M}/Σ_j e^{ℓ_j − M}: the shift M cancels, so the max-shifted softmax is exact")
    d.remark("every d and K", BY_HAND,
             "∇ log p_t = ∇p_t/p_t and ∇[π_k N(x; m_k, σ_k² I)] = −π_k N(x; m_k, σ_k² I)(x − m_k)/σ_k² "
             "(the d = 2, K = 2 step above is this computation); summing over k and dividing by p_t gives "
             "−Σ_k γ_k (x − m_k)/σ_k² for any d and K")
    d.remark("stability", BY_HAND,
             "after the shift every e^{ℓ_k − M} lies in [0, 1] and the largest is 1, so the normalizer is in "
             "[1, K]: nothing overflows, and a responsibility that underflows to 0 is below 1e−308 of the "
             "largest (its contribution to the score is below that times ‖x − m_k‖/σ_k²)")
    return d
