"""D3 tweedie-dsm (the book's D1–D6 part).

With x = X_t = a_t X_0 + s_t ξ and the label y = −ξ/s_t: E[y | X_t = x] = ∇ log p_t(x) (Tweedie), so
denoising score matching is least-squares regression with noisy labels, and for any predictor f

    E‖f(X_t) − y‖² = E‖f(X_t) − ∇log p_t(X_t)‖² + (d/s_t² − E‖∇log p_t(X_t)‖²),

the held-out denoising loss is the score error plus a constant that does not depend on f.

Proved here: the pointwise identity ∇_x N(x; a x_0, s²) = −(ξ/s) N(x; a x_0, s²) behind Tweedie; Tweedie by
sympy integration over the posterior of X_0 for one Gaussian component and for two components at d = 1
(it reproduces D2's score); the conditional variance of the label for one component.  The general case
and the decomposition are by hand (differentiation under the integral sign; the tower property).
"""
from __future__ import annotations

import sympy as sp

from ._core import BY_HAND, Derivation, Export, cached_derivation
from .forward_process import S2_T, exp_simplifier, integrate_gaussians, normal_pdf, t, v
from .gmm_score import claimed_score

CODE = "D3"
ID = "tweedie-dsm"
USES = ("D1",)   # differentiates D1's transition density under the integral
STATEMENT = ("With x = X_t and label y = −ξ/s_t: E[y | X_t = x] = ∇ log p_t(x), so denoising score matching is "
             "least-squares regression with noisy labels; E‖f − y‖² = E‖f − ∇log p_t‖² + d/s_t² − E‖∇log p_t‖².")

xi = sp.Symbol("xi", real=True)
x, x0, mu = sp.symbols("x x_0 mu", real=True)
a, s = sp.symbols("a s", positive=True)
dim = sp.Symbol("d", positive=True, integer=True)
fisher = sp.Symbol("J", nonnegative=True)       # E‖∇ log p_t(X_t)‖², the Fisher information of p_t

LABEL_VAR_ONE = a**2 * v / (s**2 * (a**2 * v + s**2))

EXPORTS = {
    "label": Export((xi, t), -xi / sp.sqrt(S2_T), "y = −ξ/s_t, one coordinate"),
    "dsm_gap": Export((dim, t, fisher), dim / S2_T - fisher,
                      "E‖y − ∇log p_t(X_t)‖² = d/s_t² − J: the denoising loss minus the score error"),
    "label_var_one_component": Export((a, s, v), LABEL_VAR_ONE,
                                      "Var(y_j | X_t = x) for p_0 = N(μ, vI): a²v/(s²(a²v + s²)), free of x"),
}


def _posterior_mean(weight_fn, p0_terms):
    """∫ weight(x_0) p_0(x_0) N(x; a x_0, s²) dx_0 / ∫ p_0(x_0) N(x; a x_0, s²) dx_0, p_0 = Σ π_k N(μ_k, v_k)
    given as [(π_k, μ_k, v_k)], with each integral left unevaluated (for display)."""
    lik = normal_pdf(x, a * x0, s**2)
    num = sum(pk * sp.Integral(weight_fn(x0) * normal_pdf(x0, mk, vk) * lik, (x0, -sp.oo, sp.oo))
              for pk, mk, vk in p0_terms)
    den = sum(pk * sp.Integral(normal_pdf(x0, mk, vk) * lik, (x0, -sp.oo, sp.oo)) for pk, mk, vk in p0_terms)
    return num / den


@cached_derivation
def derive() -> Derivation:
    from .forward_process import EXPORTS as D1

    d = Derivation(CODE, ID, STATEMENT)
    X = {name: ex.expr for name, ex in EXPORTS.items()}
    LABEL_VAR_ONE = X["label_var_one_component"]   # the steps run on the exports
    s_t = sp.sqrt(D1["noise_var"].expr.xreplace({D1["noise_var"].args[0]: t}))
    d.identity("label = −ξ/s_t with s_t² = D1's noise_var", X["label"], -xi / s_t)
    d.identity("label_var_one_component = (a/s²)² / (1/v + a²/s²): Var(y | x) from the Gaussian posterior of x_0",
               LABEL_VAR_ONE, (a / s**2)**2 / (1 / v + a**2 / s**2),
               note="a cross-check: given X_t = x the posterior of x_0 is Gaussian with precision 1/v + a²/s² "
                    "(conjugacy), and y = −(x − a x_0)/s² is affine in x_0 with slope a/s²; the integral below proves it")
    d.define("noisy pair", sp.Symbol("X_t"), a * sp.Symbol("X_0") + s * xi,
             note="ξ ~ N(0, I) independent of X_0; a = a_t, s = s_t (D1); the label is y = −ξ/s_t")
    # ξ as a function of (x, x_0) on the event X_t = x:
    xi_of = (x - a * x0) / s
    N = normal_pdf(x, a * x0, s**2)
    d.identity("∂_x N(x; a x_0, s²) = −(ξ/s) N(x; a x_0, s²) with ξ = (x − a x_0)/s",
               sp.diff(N, x), -(xi_of / s) * N)
    d.remark("Tweedie, any p_0", BY_HAND,
             "p_t(x) = ∫ p_0(x_0) N(x; a x_0, s²I) dx_0. Differentiating under the integral (dominated: "
             "|∇_x N| ≤ (|x| + a|x_0|)/s² · (2πs²)^{−d/2}, integrable against p_0 with a finite first moment, "
             "uniformly for x in a compact set) and using the step above coordinatewise: ∇p_t(x) = "
             "∫ p_0(x_0)(−ξ/s) N dx_0 = p_t(x) E[−ξ/s | X_t = x]. Divide by p_t(x) > 0.")

    # -- one component: sympy integrates the posterior mean -------------------------------------------------
    label = lambda z0: -((x - a * z0) / s) / s   # y = −ξ/s on the event X_t = x, as a function of x_0
    post = _posterior_mean(label, [(1, mu, v)])
    d.identity("one component: E[−ξ/s | X_t = x] = −(x − aμ)/(a²v + s²) = ∇ log p_t(x)", post,
               -(x - a * mu) / (a**2 * v + s**2), simplifier=lambda e: exp_simplifier(integrate_gaussians(e)),
               note="p_0 = N(μ, v); the Gaussian integrals by D1's lemma; the right side is D2 with K = 1")

    # -- two components at d = 1: reproduces D2 -----------------------------------------------------------------
    p1 = sp.Symbol("pi_1", positive=True)
    mus = sp.symbols("mu_1 mu_2", real=True)
    vs = sp.symbols("v_1 v_2", positive=True)
    terms = [(p1, mus[0], vs[0]), (1 - p1, mus[1], vs[1])]
    post2 = _posterior_mean(label, terms)
    d2 = claimed_score([x], [p1, 1 - p1], [[a * mus[0]], [a * mus[1]]], [a**2 * vk + s**2 for vk in vs])[0]
    d.identity("two components, d = 1: E[−ξ/s | X_t = x] = D2's −Σ_k γ_k (x − aμ_k)/(a²v_k + s²)", post2, d2,
               simplifier=lambda e: exp_simplifier(integrate_gaussians(e)),
               note="Tweedie and D2 agree on a mixture, every parameter symbolic")

    # -- conditional variance of the label (one component) ------------------------------------------------------
    second = _posterior_mean(lambda z0: label(z0) ** 2, [(1, mu, v)])
    d.identity("one component: E[y² | X_t = x] = a²v/(s²(a²v + s²)) + (∇ log p_t(x))²", second,
               LABEL_VAR_ONE + ((x - a * mu) / (a**2 * v + s**2)) ** 2,
               simplifier=lambda e: exp_simplifier(integrate_gaussians(e)),
               note="with the previous step: Var(y | X_t = x) = a²v/(s²(a²v + s²)) (label_var_one_component), "
                    "free of x; it grows like 1/s² as t → 0 when v > 0")
    Exi2 = sp.Integral(xi**2 * normal_pdf(xi, 0, 1), (xi, -sp.oo, sp.oo))
    d.identity("E[ξ_j²] = 1 (so E‖y‖² = d/s²)", Exi2, 1,
               simplifier=lambda e: exp_simplifier(integrate_gaussians(e)))
    Exi2_value = exp_simplifier(integrate_gaussians(Exi2))

    # -- the regression view -----------------------------------------------------------------------------------
    d.remark("denoising loss = score error + constant", BY_HAND,
             "write s = ∇log p_t. E‖f(X_t) − y‖² = E‖f − s‖² + 2E[(f − s)(X_t)·(s(X_t) − y)] + E‖s(X_t) − y‖², and "
             "the middle term is 0 by the tower property: E[s(X_t) − y | X_t] = 0 (Tweedie). The last term is "
             "E‖y‖² − 2E[y·s(X_t)] + E‖s‖² = d/s_t² − E‖s‖² (again by the tower property, E[y·s(X_t)] = E‖s‖²): "
             "the dsm_gap export. So early stopping on the held-out denoising loss selects on the score error.")
    d.identity("dsm_gap = E‖y‖² − E‖∇log p_t‖² with E‖y‖² = d E[ξ_j²]/s_t²", X["dsm_gap"],
               dim * Exi2_value / s_t**2 - fisher)
    return d
