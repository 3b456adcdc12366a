"""Infinite-width NTKs of the pointwise networks of the book's Beyond-softmax part, and of the softmax network (G5).

For F_ℓ(x) = (κ/m) Σ_r a_{ℓ,r} φ(w_rᵀx) with κ = m and the iid init, the empirical NTK
H = (1/m) J Jᵀ has the entries ⟨x,y⟩ (1/m) Σ_r a_{ℓ₁,r} a_{ℓ₂,r} φ'(w_rᵀx) φ'(w_rᵀy), which converge to
K_φ(x,y) δ_{ℓ₁ℓ₂} with

    K_φ(x,y) = ⟨x,y⟩ E_{w~N(0,σ²I)}[φ'(wᵀx) φ'(wᵀy)]            (no extra factor: κ²/m · 1/m² = 1/m).

Closed forms proved here:

* exp:     K = ⟨x,y⟩ exp(σ²‖x+y‖²/2)                    (the Gaussian moment generating function);
* softmax: K = ⟨x,y⟩ exp(σ²⟨x,y⟩)                       (exp with each feature divided by its mean: G5);
* ReLU:    K = ⟨x,y⟩ (π − θ)/(2π), θ = ∠(x, y) ∈ [0, π]  (independent of σ and of ‖x‖, ‖y‖).

sigmoid, tanh and swish have none; the numeric layer integrates them (ntkcheck.kernels).  The
two-dimensional reduction every rule there uses, (wᵀx, wᵀy) = σ(‖x‖ξ₁, ‖y‖(cos θ ξ₁ + sin θ ξ₂)) with
ξ ~ N(0, I₂), and its polar form (ξ = r(cos α, sin α): wᵀy = σ‖y‖ r cos(α − θ), kinks at α = ±π/2 and
α = θ ± π/2) are proved here as well.
"""
from __future__ import annotations

import sympy as sp

from ._core import BY_HAND, NUMERIC, Derivation, Export, cached_derivation
from .definitions import g, sigma

CODE = "K"
ID = "activation-kernels"
STATEMENT = ("K_φ(x,y) = ⟨x,y⟩ E[φ'(wᵀx)φ'(wᵀy)]: exp ⟨x,y⟩e^{σ²‖x+y‖²/2}, softmax ⟨x,y⟩e^{σ²⟨x,y⟩}, "
             "ReLU ⟨x,y⟩(π − θ)/(2π).")

theta = sp.Symbol("theta", nonnegative=True)      # the angle between x and y, in [0, π]
q = sp.Symbol("q", nonnegative=True)             # ‖x‖² + ‖y‖²

EXPECTATION = {
    "relu": (sp.pi - theta) / (2 * sp.pi),
    "exp": sp.exp(sigma**2 * (q + 2 * g) / 2),
    "softmax": sp.exp(sigma**2 * g),
}

EXPORTS = {
    "kernel_relu": Export((g, theta), g * EXPECTATION["relu"], "K_relu from g = ⟨x,y⟩ and the angle θ"),
    "kernel_exp": Export((g, q, sigma), g * EXPECTATION["exp"],
                         "K_exp from g = ⟨x,y⟩, q = ‖x‖² + ‖y‖² and σ (‖x+y‖² = q + 2g)"),
    "kernel_softmax": Export((g, sigma), g * EXPECTATION["softmax"], "K_softmax (G5) from g and σ"),
    # the exponents alone: the numeric layer forms g·exp(exponent) without 0·inf when exp overflows
    "exponent_exp": Export((g, q, sigma), sp.log(EXPECTATION["exp"]), "log E[e^{wᵀ(x+y)}] = σ²(q + 2g)/2"),
    "exponent_softmax": Export((g, sigma), sp.log(EXPECTATION["softmax"]), "log of G5's factor: σ²g"),
}

_D = 3  # the concrete dimension for the vector identities


def _vec(name: str) -> sp.Matrix:
    return sp.Matrix(_D, 1, lambda j, _: sp.Symbol(f"{name}_{j}", real=True))


def _gauss(t):
    return sp.exp(-t**2 / 2) / sp.sqrt(2 * sp.pi)


@cached_derivation
def derive() -> Derivation:
    d = Derivation(CODE, ID, STATEMENT)
    x, y, w = _vec("x"), _vec("y"), _vec("w")
    m, kappa = sp.Symbol("m", positive=True), sp.Symbol("kappa", positive=True)
    a1, a2, p1, p2 = sp.symbols("a_1 a_2 p_1 p_2", real=True)

    # -- 1. the normalization: H at κ = m is the plain mean over neurons ---------------------------
    ux, uy = sp.symbols("u_x u_y", real=True)
    dphi = sp.Function("phi'")
    d.define("K_φ", sp.Function("K_phi")(sp.Symbol("x"), sp.Symbol("y")), g * sp.Function("E")(dphi(ux) * dphi(uy)),
             note="u_x = wᵀx, u_y = wᵀy, w ~ N(0, σ²I_d), g = ⟨x,y⟩")
    # the tangent feature of a pointwise network is a φ'/m (ntkcheck.network.Pointwise.tangent); the G4
    # entry is (κ²/m)⟨x,y⟩ Σ_r P P.  Per neuron, at κ = m:
    d.identity("one neuron's term of H at κ = m", ((kappa**2 / m) * g * (a1 * p1 / m) * (a2 * p2 / m)).subs(kappa, m),
               g * a1 * a2 * p1 * p2 / m,
               note="p₁ = φ'(w_rᵀx), p₂ = φ'(w_rᵀy): H = (1/m) Σ_r ⟨x,y⟩ a_{ℓ₁,r} a_{ℓ₂,r} φ'(w_rᵀx) φ'(w_rᵀy)")
    d.remark("H(W(0)) → K_φ ⊗ I", BY_HAND,
             "The m terms are i.i.d. over r with mean ⟨x,y⟩ E[a_{ℓ₁}a_{ℓ₂}] E[φ'(wᵀx)φ'(wᵀy)] = "
             "⟨x,y⟩ δ_{ℓ₁ℓ₂} E[φ'φ'] (a independent of w, E a_{ℓ₁}a_{ℓ₂} = δ), finite because |φ'| ≤ "
             "C e^{|z|} and Gaussians have every exponential moment; the strong law of large numbers gives "
             "a.s. convergence, with no extra factor for the κ = m normalization.  For the pointwise "
             "networks E[H(W(0))] = K_φ ⊗ I exactly at every m (a plain mean); for softmax only as m → ∞.")

    # -- 2. Gaussian moment generating function, by integration ------------------------------------
    wv, t = sp.Symbol("w", real=True), sp.Symbol("t", real=True)
    mgf = sp.integrate(sp.exp(t * wv) * sp.exp(-wv**2 / (2 * sigma**2)) / (sp.sqrt(2 * sp.pi) * sigma),
                       (wv, -sp.oo, sp.oo))
    d.identity("E e^{tw} = e^{σ²t²/2}, w ~ N(0, σ²) (sympy integrates the density)", mgf,
               sp.exp(sigma**2 * t**2 / 2))
    v = _vec("v")
    d.identity(f"E e^{{wᵀv}} = Π_j E e^{{w_j v_j}} = e^{{σ²‖v‖²/2}} (independent coordinates, d = {_D})",
               sp.Mul(*[mgf.subs(t, v[j]) for j in range(_D)]), sp.exp(sigma**2 * (v.T * v)[0, 0] / 2),
               note="the coordinates of w are independent, so the expectation of the product is the product")

    # -- 3. exp: φ'φ' = e^{wᵀ(x+y)} ----------------------------------------------------------------
    gxy, qxx, qyy = (x.T * y)[0, 0], (x.T * x)[0, 0], (y.T * y)[0, 0]
    d.identity("φ'(wᵀx)φ'(wᵀy) = e^{wᵀ(x+y)} for φ = exp", sp.exp((w.T * x)[0, 0]) * sp.exp((w.T * y)[0, 0]),
               sp.exp((w.T * (x + y))[0, 0]))
    d.identity("⟨x,y⟩ E e^{wᵀ(x+y)} = ⟨x,y⟩ e^{σ²‖x+y‖²/2} is the export K_exp(g, q, σ), q = ‖x‖² + ‖y‖²",
               gxy * sp.exp(sigma**2 * ((x + y).T * (x + y))[0, 0] / 2),
               EXPORTS["kernel_exp"].expr.subs({g: gxy, q: qxx + qyy}))

    # -- 4. softmax: exp with each feature divided by its mean (G5) ----------------------------------
    d.identity("⟨x,y⟩ E[e^{wᵀx}/E e^{wᵀx} · e^{wᵀy}/E e^{wᵀy}] = ⟨x,y⟩ e^{σ²⟨x,y⟩} is the export K_softmax",
               gxy * sp.exp(sigma**2 * ((x + y).T * (x + y))[0, 0] / 2)
               / (sp.exp(sigma**2 * qxx / 2) * sp.exp(sigma**2 * qyy / 2)),
               EXPORTS["kernel_softmax"].expr.subs(g, gxy),
               note="m S_r(x) → e^{w_rᵀx}/E e^{wᵀx} (G5); the normalization removes e^{σ²(‖x‖²+‖y‖²)/2}")
    from . import ntk_limit
    d.identity("the softmax kernel is G5's export", EXPORTS["kernel_softmax"].expr,
               ntk_limit.EXPORTS["limit_kernel"].expr)

    # -- 4b. the exponents the numeric layer uses (K = g·exp(exponent), formed without 0·inf) ----------
    for name in ("exp", "softmax"):
        e = EXPORTS[f"exponent_{name}"].expr
        d.identity(f"K_{name} = g·exp(exponent_{name})", EXPORTS[f"kernel_{name}"].expr, g * sp.exp(e),
                   simplifier=lambda t: sp.simplify(sp.expand_log(t, force=True)))

    # -- 5. the two-dimensional reduction (used by every quadrature rule) ---------------------------
    nx, ny = sp.symbols("n_x n_y", positive=True)
    L = sp.Matrix([[nx, 0], [ny * sp.cos(theta), ny * sp.sin(theta)]])
    C = sp.Matrix([[nx**2, nx * ny * sp.cos(theta)], [nx * ny * sp.cos(theta), ny**2]])
    d.identities("L Lᵀ = Cov(wᵀx, wᵀy)/σ², L = [[‖x‖, 0], [‖y‖cos θ, ‖y‖sin θ]]",
                 zip(list(L * L.T), list(C)),
                 note="⟨x,y⟩ = ‖x‖‖y‖cos θ; so (wᵀx, wᵀy) ~ σ L ξ with ξ ~ N(0, I₂)")
    r, al = sp.symbols("r alpha", real=True)
    xi1, xi2 = r * sp.cos(al), r * sp.sin(al)
    d.identity("polar form: ‖y‖(cos θ ξ₁ + sin θ ξ₂) = ‖y‖ r cos(α − θ)",
               ny * (sp.cos(theta) * xi1 + sp.sin(theta) * xi2), ny * r * sp.cos(al - theta),
               simplifier=lambda e: sp.simplify(sp.expand_trig(e)))
    d.identities("the kinks of φ' at wᵀx = 0, wᵀy = 0 lie on the rays α = ±π/2, θ ± π/2",
                 [(sp.cos(sp.pi / 2), 0), (sp.cos(-sp.pi / 2), 0),
                  (sp.cos((theta + sp.pi / 2) - theta), 0), (sp.cos((theta - sp.pi / 2) - theta), 0)])
    d.identity("∫₀^∞ r e^{−r²/2} dr = 1 (the radial part of the standard 2-D Gaussian)",
               sp.integrate(r * sp.exp(-r**2 / 2), (r, 0, sp.oo)), 1)

    # -- 6. ReLU: the arc-cosine kernel of degree 0 -------------------------------------------------
    d.remark("reduction to two dimensions", BY_HAND,
             "1{wᵀx > 0} is unchanged by w → w/σ, x → x/‖x‖ (positive scalings), so E[φ'(wᵀx)φ'(wᵀy)] = "
             "P(ξᵀx̂ > 0, ξᵀŷ > 0) with ξ ~ N(0, I_d), x̂ = x/‖x‖, ŷ = y/‖y‖: independent of σ and of the "
             "norms.  N(0, I_d) is invariant under rotations; rotate so that x̂ = e₁ and ŷ = cos θ e₁ + "
             "sin θ e₂ (θ ∈ [0, π] the angle).  Only ξ₁, ξ₂ enter, so the probability is "
             "P(ξ₁ > 0, cos θ ξ₁ + sin θ ξ₂ > 0) for ξ ~ N(0, I₂) — step 5's L with the norms set to 1.")
    # (a) Cartesian: for 0 < θ < π, cos θ ξ₁ + sin θ ξ₂ > 0 ⟺ ξ₂ > −c ξ₁, c = cot θ.  Parametrize
    #     θ ∈ (0, π/2) by θ = atan(s) (c = 1/s > 0) and θ ∈ (π/2, π) by θ = π − atan(s) (c = −1/s < 0).
    # every step below runs on the export: p_relu = K_relu/g, the orthant probability it claims
    p_relu = sp.cancel(EXPORTS["kernel_relu"].expr / g)
    s_ = sp.Symbol("s", positive=True)
    xi1s, xi2s = sp.symbols("xi_1 xi_2", real=True)
    for c, th, label in ((1 / s_, sp.atan(s_), "0 < θ < π/2"), (-1 / s_, sp.pi - sp.atan(s_), "π/2 < θ < π"),
                         (sp.Integer(0), sp.pi / 2, "θ = π/2")):
        inner = sp.integrate(_gauss(xi2s), (xi2s, -c * xi1s, sp.oo))
        prob = sp.integrate(_gauss(xi1s) * inner, (xi1s, 0, sp.oo))
        d.identity(f"P(ξ₁ > 0, ξ₂ > −cot θ ξ₁) = (π − θ)/(2π), {label} (sympy integrates the density)",
                   prob, p_relu.subs(theta, th),
                   note="θ = atan(s) / π − atan(s) with s > 0 covers the open quarter-turns; cot θ = ±1/s")
    d.remark("θ = 0 and θ = π", BY_HAND,
             "θ = 0: ŷ = x̂, P(ξ₁ > 0) = 1/2 = (π − 0)/(2π).  θ = π: ŷ = −x̂, the events are disjoint "
             "(up to ξ₁ = 0, a null set), P = 0 = (π − π)/(2π).")
    # (b) polar: the same probability as the angle measure of the wedge where both cosines are positive.
    d.remark("the wedge", BY_HAND,
             "In polar coordinates ξ = r(cos α, sin α), the conditions are cos α > 0 and cos(α − θ) > 0 "
             "(step 5; r > 0 drops out).  For α ∈ (θ − π/2, π/2) both hold: α ∈ (−π/2, π/2) and "
             "α − θ ∈ (−π/2, π/2 − θ) ⊂ (−π/2, π/2).  Outside it, modulo 2π, one of α, α − θ lies in "
             "[π/2, 3π/2] where the cosine is ≤ 0.  The wedge has angle π − θ.")
    wedge = sp.integrate(r * sp.exp(-r**2 / 2) / (2 * sp.pi), (r, 0, sp.oo), (al, theta - sp.pi / 2, sp.pi / 2))
    d.identity("(1/2π) ∫_{θ−π/2}^{π/2} dα ∫₀^∞ r e^{−r²/2} dr = (π − θ)/(2π)", wedge, p_relu)
    rho = sp.Symbol("rho", real=True)
    d.identity("Sheppard's form: (π − arccos ρ)/(2π) = 1/4 + arcsin(ρ)/(2π), ρ = cos θ",
               p_relu.subs(theta, sp.acos(rho)), sp.Rational(1, 4) + sp.asin(rho) / (2 * sp.pi),
               simplifier=lambda e: sp.simplify(e.rewrite(sp.asin)),
               note="arccos ρ = π/2 − arcsin ρ: the orthant probability of a correlated Gaussian pair")

    d.identity("K_relu = ⟨x,y⟩ · P(wedge) is the export kernel_relu(g, θ)", g * wedge, EXPORTS["kernel_relu"].expr,
               note="E[φ'(wᵀx)φ'(wᵀy)] = P(ξᵀx̂ > 0, ξᵀŷ > 0), the wedge probability integrated above")

    # -- 7. the symmetry the polar rule uses ------------------------------------------------------------
    from . import activations
    zz = activations.z
    for name in ("sigmoid", "tanh"):
        f = activations.EXPORTS[f"dphi_{name}"].expr     # the φ' the polar rule compiles
        d.identity(f"{name}' is even: φ'(−z) = φ'(z)", f.subs(zz, -zz), f,
                   note="so f(u)f(v) is invariant under (u, v) → (−u, −v), i.e. α → α + π in step 5's polar form",
                   simplifier=lambda e: sp.simplify(e.rewrite(sp.exp)))

    # -- 8. the rest ------------------------------------------------------------------------------------
    d.remark("sigmoid, tanh, swish", NUMERIC,
             "no closed form is used: ntkcheck.kernels integrates E[φ'(u)φ'(v)] over step 5's 2-D Gaussian "
             "by Gauss–Hermite (or the polar rule split at the kinks), checked against mpmath.quad at "
             "high precision; the closed forms above are checked against the same rules.")
    return d
