"""The activation registry (ntkcheck.core.activations): one entry per activation is all the package needs.

softplus φ(z) = log(1 + e^z) is written once, here, as a sympy expression (with φ′ in a form that neither
overflows nor cancels), registered in ONE place (the ``softplus`` fixture) and then reached by name through
every part of the package: forward and gradient (against autograd), the empirical NTK (against the Gram
matrix of autograd's Jacobian), the limit kernel by quadrature (against an mpmath quadrature of the
definition), a row of the comparison, the command line's help.  The fixture unregisters it after each test,
and the last test checks that nothing leaked.
"""
from __future__ import annotations

from dataclasses import replace

import autograd
import autograd.numpy as anp
import mpmath
import numpy as np
import pytest
import sympy as sp

import ntkcheck as nk
from ntkcheck import activations as registry
from ntkcheck.experiments import compare as C
from ntkcheck import kernels
from ntkcheck.core.activations import Activation, Style
from ntkcheck.cli import build_parser

z = sp.Symbol("z", real=True)
SOFTPLUS = sp.log(1 + sp.exp(z))
# φ′ = the logistic function, as e^{min(z,0)}/(1 + e^{−|z|}): no overflow for any finite z, no cancellation
SOFTPLUS_PRIME = sp.exp((z - sp.Abs(z)) / 2) / (1 + sp.exp(-sp.Abs(z)))

TINY = replace(C.QUICK, activations=("softmax", "softplus"), n=6, d=4, m=64, seeds=2, radii=(1e-3, 1e-2, 1e-1, 1.0),
               kernel_n=(3, 6), kernel_sigmas=(0.5, 1.0), width_n=(3, 4), width_seeds=2, max_steps=20_000)


@pytest.fixture
def softplus():
    """softplus in the registry for the duration of one test (and never after it)."""
    act = registry.register(Activation.pointwise(
        "softplus", z, SOFTPLUS, SOFTPLUS_PRIME, description="softplus log(1 + e^z)", rule="polar", even=False,
        style=Style("C6", "X")))
    yield act
    registry.unregister("softplus")


def test_the_test_derivative_is_the_derivative():
    """The φ′ given to the registry is d/dz log(1 + e^z), on both sign branches (sympy, not the package)."""
    for branch in (sp.Symbol("zp", positive=True), sp.Symbol("zn", negative=True)):
        diff = sp.diff(SOFTPLUS, z).subs(z, branch) - SOFTPLUS_PRIME.subs(z, branch)
        assert sp.simplify(diff.rewrite(sp.exp)) == 0


# ------------------------------------------------------------------------------------------ autograd reference
def _reference_network(w, A, X):
    """F(W, X) = κ φ(XW)Aᵀ/m with κ = m, φ = softplus written with autograd's numpy (logaddexp(0, z))."""
    d, m = X.shape[1], A.shape[1]
    Z = anp.dot(X, anp.reshape(w, (d, m)))
    return m * anp.dot(anp.logaddexp(0.0, Z) / m, A.T)


def _case(seed=3, n=5, d=3, m=7, d_out=2):
    p = nk.init_params(d, m, d_out, sigma=0.8, seed=seed, activation="softplus")
    rng = np.random.default_rng(seed + 100)
    X = rng.standard_normal((n, d))
    Y = rng.standard_normal((n, d_out))
    return p, X, Y


def test_forward_and_gradient_against_autograd(softplus):
    """Breaks that fail it: Activation.pointwise compiling φ in place of φ′ (the gradient differs), or φ′ in
    place of φ (the forward differs)."""
    p, X, Y = _case()
    F_ref = _reference_network(p.W.reshape(-1), p.A, X)
    np.testing.assert_allclose(nk.forward(p, X), F_ref, rtol=1e-13, atol=1e-14)

    def loss(w):
        E = _reference_network(w, p.A, X) - Y
        return 0.5 * anp.sum(E * E)

    g_ref = autograd.grad(loss)(p.W.reshape(-1)).reshape(p.W.shape)
    g = nk.gradient(p, X, Y)
    assert np.linalg.norm(g - g_ref) <= 1e-12 * np.linalg.norm(g_ref)


def test_empirical_ntk_is_the_jacobian_gram(softplus):
    """H(W) = J Jᵀ/m with J = ∂vec F/∂vec W from autograd (the book's G4 at κ = m).  Break: the tangent of the
    pointwise feature map with |A| in place of A → H differs."""
    p, X, _ = _case(seed=5)
    J = autograd.jacobian(lambda w: anp.reshape(_reference_network(w, p.A, X), (-1,)))(p.W.reshape(-1))
    H_ref = J @ J.T / p.m
    H = nk.empirical_ntk(p, X)
    assert np.linalg.norm(H - H_ref, 2) <= 1e-12 * np.linalg.norm(H_ref, 2)


class _PlainTangent:
    """An extension's feature map whose ``tangent`` takes no ``out`` (the minimal interface)."""

    def __init__(self, inner):
        self.inner = inner

    def features(self, Z):
        return self.inner.features(Z)

    def vjp(self, D, C):
        return self.inner.vjp(D, C)

    def tangent(self, D, A):
        return self.inner.tangent(D, A)


def test_a_feature_map_without_out_gives_the_same_ntk(softplus):
    """empirical_ntk writes each row block of P into its array with ``tangent(..., out=)``; a feature map
    that does not take ``out`` is still served (copied).  Break: Activation.tangent passing ``out`` to every
    feature map → TypeError."""
    plain = registry.register(replace(softplus, name="softplus_plain", feature_map=_PlainTangent(softplus.feature_map)))
    try:
        p, X, _ = _case(seed=6, n=40, m=300)
        H = nk.empirical_ntk(p, X)
        H_plain = nk.empirical_ntk(replace(p, activation="softplus_plain"), X)
    finally:
        registry.unregister("softplus_plain")
    assert plain.name == "softplus_plain" and np.array_equal(H, H_plain)


# ------------------------------------------------------------------------------------------ the limit kernel
def _kernel_reference(x, y, sigma, dps=15):
    """K(x, y) = ⟨x,y⟩ E[φ′(wᵀx) φ′(wᵀy)], w ~ N(0, σ²I), by mpmath.quad (Gauss–Legendre, run to the working
    precision) over (ξ₁, ξ₂) ~ N(0, I₂) with wᵀx = σ‖x‖ξ₁, wᵀy = σ‖y‖(cos θ ξ₁ + sin θ ξ₂), on the box
    [−12, 12]² split at 0 and ±4 (the Gaussian mass outside it is < 1e-31, the integrand is bounded by 1);
    φ′ is sympy's derivative of the definition log(1 + e^z), evaluated by mpmath (nothing of ntkcheck)."""
    dphi = sp.lambdify(z, sp.diff(SOFTPLUS, z), modules="mpmath")
    with mpmath.workdps(dps):
        xs, ys = [mpmath.mpf(float(v)) for v in x], [mpmath.mpf(float(v)) for v in y]
        gxy = mpmath.fsum(a * b for a, b in zip(xs, ys))
        nx, ny = mpmath.sqrt(mpmath.fsum(a * a for a in xs)), mpmath.sqrt(mpmath.fsum(b * b for b in ys))
        c = gxy / (nx * ny)
        s = mpmath.sqrt(max(mpmath.mpf(0), 1 - c * c))
        a, b = nx * mpmath.mpf(sigma), ny * mpmath.mpf(sigma)

        def f(t1, t2):
            return (dphi(a * t1) * dphi(b * (c * t1 + s * t2))
                    * mpmath.exp(-(t1 * t1 + t2 * t2) / 2) / (2 * mpmath.pi))

        cuts = [-12, -4, 0, 4, 12]
        return float(gxy * mpmath.quad(f, cuts, cuts, method="gauss-legendre"))


def test_quadrature_limit_kernel_against_mpmath(softplus):
    """softplus has no closed form: limit_kernel integrates with its registered (polar) rule, which must
    agree with the mpmath quadrature of the definition to 1e-9 relative (the rule's tolerance is 1e-10).
    Break: the entry's default integrand 1 in place of φ′ → K = ⟨x,y⟩, off by a factor ~4."""
    X = nk.sphere(3, 4, seed=2) * np.array([[1.0], [0.7], [1.3]])      # unequal norms
    sigma = 0.9
    K = nk.limit_kernel(X, sigma=sigma, activation="softplus")
    info = kernels.quadrature_kernel(X, sigma=sigma, activation="softplus", full_output=True)[1]
    assert info["rule"] == "polar"
    for i, j in ((0, 1), (1, 2), (2, 2)):
        ref = _kernel_reference(X[i], X[j], sigma)
        assert K[i, j] == pytest.approx(ref, rel=1e-9), (i, j)
    with pytest.raises(ValueError, match="no closed-form kernel"):
        kernels.closed_form_kernel(X, activation="softplus")


def test_empirical_ntk_tends_to_the_limit(softplus):
    """At κ = m the NTK's mean over neurons is K_φ: a wide network is within its Monte Carlo error (m = 2¹⁶:
    the error is ~‖K‖/√m ≈ 4e-3·‖K‖; 3e-2 is far outside the sampling spread, and a kernel with the wrong
    φ′ is off by tens of percent).  It checks consistency (the same φ′ on both sides); break: the default
    integrand 1 in place of φ′."""
    X = nk.sphere(4, 3, seed=1)
    p = nk.init_params(3, 1 << 16, 1, sigma=0.7, seed=0, activation="softplus")
    K = nk.limit_kernel(X, sigma=0.7, activation="softplus")
    assert np.linalg.norm(nk.empirical_ntk(p, X) - K, 2) <= 3e-2 * np.linalg.norm(K, 2)


# ------------------------------------------------------------------------------------------ compare and CLI
def test_a_row_in_compare(softplus, tmp_path):
    """The comparison runs softplus beside softmax from its name alone: a typed row, a width section, the
    figures.  Break: compare.validate with a hard-coded list of names → ValueError 'unknown activation'."""
    res = C.run(TINY)
    rows = {r.activation: r for r in res.table}
    assert set(rows) == {"softmax", "softplus"}
    X = C.data(TINY)[0]
    ev = np.linalg.eigvalsh(nk.limit_kernel(X, sigma=TINY.sigma, activation="softplus"))
    sp_row = rows["softplus"]
    assert sp_row.lam == pytest.approx(ev[0], rel=1e-9) and sp_row.condition == pytest.approx(ev[-1] / ev[0], rel=1e-9)
    assert sp_row.steps is not None and sp_row.steps <= sp_row.T_predicted
    assert sp_row.shift_F_change > 1e-3 > rows["softmax"].shift_F_change     # G2 holds for softmax only
    assert set(sp_row.m_emp) == set(TINY.width_n)
    assert C.CompareResult.from_json(res.to_json()).table == res.table
    pytest.importorskip("matplotlib")
    from ntkcheck.plots import compare as P

    assert len(P.plot(res, tmp_path)) == 4


def test_registry_api_and_help(softplus):
    """Break: register without the duplicate check → the second registration passes silently."""
    assert registry.names()[-1] == "softplus" and "softplus" not in registry.builtin_names()
    assert "softplus" in kernels.ACTIVATIONS and "softplus" in nk.ACTIVATIONS
    assert kernels.AUTO_RULE["softplus"] == "polar" and "softplus" not in kernels.EVEN
    with pytest.raises(ValueError, match="already registered"):
        registry.register(softplus)
    with pytest.raises(ValueError, match="built in"):
        registry.unregister("relu")
    with pytest.raises(ValueError, match="unknown activation 'gelu'; known: softmax, relu, exp, sigmoid, tanh, swish, softplus"):
        registry.get("gelu")
    parser = build_parser()
    compare_help = parser._subparsers._group_actions[0].choices["compare"].format_help()
    assert "softplus log(1 + e^z)" in compare_help
    with pytest.raises(ValueError, match="sympy expression"):
        Activation.pointwise("bad", z, "log(1 + exp(z))", SOFTPLUS_PRIME, description="x", rule="polar",
                             even=False, style=Style("k", "x"))


def test_builtins_are_the_proved_expressions_and_the_old_tables():
    """Each built-in pointwise entry evaluates the proofs export (lambdified here by sympy itself), its
    parity is that of φ′ (checked at ±z), and the rules, parities and closed forms are the tables the
    package had before the registry.  Break: tanh registered with even=False → the parity check fails."""
    from ntkcheck.proofs import activations as proved

    t = np.linspace(-30, 30, 121)
    for name in ("relu", "exp", "sigmoid", "tanh", "swish"):
        act = registry.get(name)
        for which, fn in (("phi", act.phi), ("dphi", act.dphi)):
            ref = sp.lambdify(proved.z, proved.EXPORTS[f"{which}_{name}"].expr, modules="numpy")
            np.testing.assert_array_equal(fn(t), ref(t), err_msg=f"{which}_{name}")
        assert act.even == bool(np.allclose(act.dphi(-t), act.dphi(t), rtol=1e-12, atol=0)), name
    assert kernels.AUTO_RULE == {"softmax": "hermite", "exp": "hermite", "relu": "polar", "sigmoid": "polar",
                                 "tanh": "polar", "swish": "polar"}
    assert kernels.EVEN == ("sigmoid", "tanh") and kernels.CLOSED_FORMS == ("softmax", "relu", "exp")
    assert registry.get("softmax").normalized and not any(registry.get(a).normalized for a in registry.names()[1:])


def test_no_leak():
    """After the fixture's tests, softplus is gone from every place that lists activations.  Break: the
    fixture without its unregister (this test fails, and every later registration of softplus)."""
    assert "softplus" not in registry.names() and "softplus" not in kernels.ACTIVATIONS
    with pytest.raises(ValueError, match="unknown activation 'softplus'"):
        nk.init_params(2, 4, activation="softplus")
