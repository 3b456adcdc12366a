"""D6 score-generalization (the book's D1–D6 part).

The score error E_{x~p_t}‖ŝ(x) − ∇log p_t(x)‖² of the GD-trained softmax network (early-stopped on a held-out
denoising loss), of kernel regression with H*, and of the trivial predictor, falls as the sample size n
grows.  This is an experimental claim: its steps are measurements, labelled NUMERIC, plus the exact
facts the measurement rests on — the trivial predictor's error (E ∇log p_t = 0, so the best constant has
error ‖c‖² + J with J the Fisher information) and the Monte Carlo confidence interval.
"""
from __future__ import annotations

import sympy as sp

from ._core import BY_HAND, DEFINITION, NUMERIC, Derivation, Export, cached_derivation
from .forward_process import exp_simplifier, integrate_gaussians, normal_pdf

CODE = "D6"
ID = "score-generalization"
# the error against D2's exact score; D3's held-out loss for early stopping; D4's lift; D5's tracking
USES = ("D2", "D3", "D4", "D5")
STATEMENT = ("The score error E_{p_t}‖ŝ − ∇log p_t‖² of the early-stopped softmax network, of kernel regression "
             "with H* and of the trivial predictor, as n grows: the network's and the kernel's fall with n.")

c2 = sp.Symbol("c2", nonnegative=True)       # ‖c‖²
fisher = sp.Symbol("J", nonnegative=True)    # E‖∇ log p_t‖²
z = sp.Symbol("z", positive=True)            # normal quantile
sd = sp.Symbol("sd", nonnegative=True)       # sample standard deviation of the squared errors
N = sp.Symbol("N", positive=True, integer=True)

EXPORTS = {
    "trivial_error": Export((c2, fisher), c2 + fisher, "E‖c − ∇log p_t‖² = ‖c‖² + J for a constant predictor c"),
    "ci_halfwidth": Export((z, sd, N), z * sd / sp.sqrt(N), "z·sd/√N: the CLT half-width of a Monte Carlo mean"),
}


@cached_derivation
def derive() -> Derivation:
    d = Derivation(CODE, ID, STATEMENT)
    d.remark("score error", DEFINITION,
             "E(ŝ) = E_{x~p_t}‖ŝ(x) − ∇log p_t(x)‖², estimated on N fresh samples of p_t, independent of the "
             "training data")

    # -- E ∇ log p_t = 0 --------------------------------------------------------------------------------------
    x = sp.Symbol("x", real=True)
    p1 = sp.Symbol("pi_1", positive=True)
    ms = sp.symbols("m_1 m_2", real=True)
    ss = sp.symbols("s_1 s_2", positive=True)
    p = p1 * normal_pdf(x, ms[0], ss[0]) + (1 - p1) * normal_pdf(x, ms[1], ss[1])
    d.identity("E_{p_t}[∂_x log p_t] = ∫ ∂_x p_t dx = 0  (two components, d = 1)",
               sp.Integral(sp.expand(sp.diff(p, x)), (x, -sp.oo, sp.oo)), 0,
               simplifier=lambda e: exp_simplifier(integrate_gaussians(e)),
               note="p_t ∂_x log p_t = ∂_x p_t; for a mixture in d dimensions the same holds coordinatewise")
    cvec = sp.symbols("c_1 c_2", real=True)
    svec = sp.symbols("S_1 S_2", real=True)   # the score at a random point, as a random vector
    ES, ES2 = sp.symbols("ES_1 ES_2", real=True), sp.Symbol("J", nonnegative=True)
    expansion = sum(ci**2 for ci in cvec) - 2 * sum(ci * e for ci, e in zip(cvec, ES)) + ES2
    d.identity("trivial predictor: E‖c − S‖² = ‖c‖² − 2⟨c, E S⟩ + E‖S‖² → ‖c‖² + J when E S = 0  (d = 2)",
               expansion.xreplace({ES[0]: 0, ES[1]: 0}), EXPORTS["trivial_error"].expr.xreplace(
                   {c2: cvec[0] ** 2 + cvec[1] ** 2}),
               note="linearity of E; so the best constant is c = 0 with error J = E‖∇log p_t‖², and the fitted "
                    "constant (the label mean) has error ‖ȳ‖² + J")
    i_ = sp.Symbol("i", integer=True, nonnegative=True)
    d.identity("the standard deviation of a mean of N i.i.d. terms: √(Σ_{i<N} sd²/N²) = sd/√N (symbolic N)",
               z * sp.sqrt(sp.Sum(sd**2, (i_, 0, N - 1)).doit() / N**2), EXPORTS["ci_halfwidth"].expr,
               note="Var((1/N)Σ_i Y_i) = (1/N²)Σ_i Var Y_i for independent Y_i; the half-width is z times it")
    d.remark("Monte Carlo confidence interval", BY_HAND,
             "the squared errors at N independent fresh points are i.i.d. with finite variance (the score and the "
             "predictors grow at most linearly, and p_t has Gaussian tails), so by the CLT the mean ± z·sd/√N "
             "(ci_halfwidth) is an asymptotic confidence interval of level 2Φ(z) − 1")
    d.remark("early stopping", BY_HAND,
             "by D3 the held-out denoising loss of a predictor is its score error plus d/s_t² − J, a constant: "
             "the GD step with the least held-out loss estimates the step with the least score error")
    d.remark("the error falls with n", NUMERIC,
             "measured by the D6 check and `ntkcheck diffusion`: the fitted slope of log(error) against log(n) "
             "with a t-interval over sizes and seeds; the claim is that its upper end is < 0, for the network "
             "and for kernel regression, and that both are below the trivial predictor")
    d.remark("samples from the learned score", NUMERIC,
             "the probability-flow ODE dx/dt = −x − ∇log p_t(x), integrated backwards in time with the learned "
             "score (one network per time on a grid), is compared with samples of p_0 by the energy distance")
    return d
