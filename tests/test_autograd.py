"""Cross-check against automatic differentiation: an independent autograd implementation of the network
of the book's Setting and Beyond-softmax parts, written from the definition, differentiated by autograd.

Compared with ntkcheck: the Jacobian J of vec F w.r.t. vec W (rows (i, ℓ) row-major, columns ordered like
``W.reshape(-1)``), ∇L, H = JJᵀ/m, and the G3 Hessian ∇²_W F_ℓ(x) from ``hessian_blocks``.
"""
from __future__ import annotations

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given

import ntkcheck as nk
from conftest import REL_TOL, Spec, build, hard_examples, magnitudes, normwise_error, specs
from ntkcheck.checks.identities import hessian_blocks
from ntkcheck.core.network import Softmax


def _sigmoid(z):
    return 1.0 / (1.0 + anp.exp(-z))


_PHI = {  # φ from the book's Beyond-softmax part; relu via where so that φ'(0) = 0 like ntkcheck's convention
    "exp": anp.exp,
    "relu": lambda z: anp.where(z > 0, z, 0.0),
    "sigmoid": _sigmoid,
    "tanh": anp.tanh,
    "swish": lambda z: z * _sigmoid(z),
}


def network(w, A, X, kappa, act):
    """F(W, X) (n × d') with W = w.reshape(d, m): κ·softmax(XW)Aᵀ (max subtracted first) or κ·φ(XW)Aᵀ/m."""
    d, m = X.shape[1], A.shape[1]
    Z = anp.dot(X, anp.reshape(w, (d, m)))
    if act == "softmax":
        U = anp.exp(Z - anp.max(Z, axis=1, keepdims=True))
        Phi = U / anp.sum(U, axis=1, keepdims=True)
    else:
        Phi = _PHI[act](Z) / m
    return kappa * anp.dot(Phi, A.T)


def jacobian(c):
    """J (n·d' × d·m) by autograd."""
    p = c.p
    return autograd.jacobian(lambda w: anp.reshape(network(w, p.A, c.X, c.kappa, p.activation), (-1,)))(
        p.W.reshape(-1))


def check_jacobian(c):
    J = nk.ntk_jacobian(c.p, c.X, c.kappa)
    Ja = jacobian(c)
    assert J.shape == Ja.shape
    err = normwise_error(J, Ja, magnitudes(c, cancelling=True)["J"])
    assert err <= REL_TOL, f"ntk_jacobian vs autograd: {err:.3g} ({c.spec})"


def check_gradient(c):
    p = c.p

    def L(w):
        E = network(w, p.A, c.X, c.kappa, p.activation) - c.Y
        return 0.5 * anp.sum(E * E)

    ga = autograd.grad(L)(p.W.reshape(-1)).reshape(p.W.shape)
    err = normwise_error(nk.gradient(p, c.X, c.Y, c.kappa), ga, magnitudes(c, cancelling=True)["grad"])
    assert err <= REL_TOL, f"gradient vs autograd: {err:.3g} ({c.spec})"


def check_ntk(c):
    Ja = jacobian(c)
    err = normwise_error(nk.empirical_ntk(c.p, c.X, kappa=c.kappa), Ja @ Ja.T / c.p.m, magnitudes(c, cancelling=True)["H"])
    assert err <= REL_TOL, f"empirical_ntk vs autograd JJᵀ/m: {err:.3g} ({c.spec})"


def check_hessian(c):
    """G3: ∇²_W F_ℓ(x) = κ M ⊗ xxᵀ for each ℓ, against autograd's Hessian of F_ℓ (softmax)."""
    p, x = c.p, c.X[0]
    Hs = hessian_blocks(p, x, c.kappa)
    Ha = autograd.jacobian(autograd.jacobian(
        lambda w: network(w, p.A, x[None, :], c.kappa, "softmax")[0]))(p.W.reshape(-1))
    assert Hs.shape == Ha.shape == (p.d_out, p.d * p.m, p.d * p.m)
    # |M_rs| ≤ δ_rs S_r|v_r| + S_r S_s(|v_r| + |v_s|) with |v| ≤ |a| + ⟨|a|,S⟩: the magnitude of the terms
    S, _ = Softmax().features((x @ p.W)[None, :])
    S = S[0]
    V = 1.0 + np.abs(p.A) @ S
    Mmag = S * V.max() * (1 + 2 * S.max())
    scale = c.kappa * float(np.max(x * x)) * float(Mmag.max())
    err = normwise_error(Hs, Ha, scale)
    assert err <= REL_TOL, f"hessian_blocks vs autograd: {err:.3g} ({c.spec})"


@given(spec=specs())
@hard_examples()
def test_jacobian_matches_autograd(spec):
    check_jacobian(build(spec))


@given(spec=specs())
@hard_examples()
def test_gradient_matches_autograd(spec):
    check_gradient(build(spec))


@given(spec=specs())
@hard_examples()
def test_ntk_matches_autograd(spec):
    check_ntk(build(spec))


@given(spec=specs(acts=("softmax",), max_n=1, max_m=8))
@hard_examples(acts=("softmax",))
def test_hessian_blocks_match_autograd(spec):
    check_hessian(build(spec))


def test_hessian_blocks_symmetric_and_shift_null():
    """∇²F_ℓ is symmetric, and by G2 every direction v1ᵀ (the same v for every neuron) is in its null space."""
    c = build(Spec(n=1, d=3, q=2, m=5, seed=9))
    Hs = hessian_blocks(c.p, c.X[0], c.kappa)
    np.testing.assert_allclose(Hs, Hs.transpose(0, 2, 1), rtol=0, atol=REL_TOL * np.abs(Hs).max())
    v = np.array([0.3, -1.2, 0.7])
    shift = np.repeat(v[:, None], c.p.m, axis=1).reshape(-1)     # W + v1ᵀ, flattened like W
    assert np.abs(Hs @ shift).max() <= REL_TOL * np.abs(Hs).max() * np.abs(v).sum()


# ------------------------------------------------------------------------------------------ mutations
GENERIC = Spec(n=3, d=3, q=2, m=6, seed=1)


def test_mutation_broken_vjp_caught_by_autograd_gradient(monkeypatch):
    c = build(GENERIC)
    check_gradient(c)
    monkeypatch.setattr(Softmax, "vjp", lambda self, S, C: C * (S[:, None, :] if C.ndim == 3 else S))
    with pytest.raises(AssertionError):
        check_gradient(c)


def test_mutation_broken_tangent_caught_by_autograd_jacobian(monkeypatch):
    c = build(GENERIC)
    monkeypatch.setattr(Softmax, "tangent",
                        lambda self, S, A, out=None: np.multiply(A[None, :, :], S[:, None, :], out=out))
    for check in (check_jacobian, check_ntk):
        with pytest.raises(AssertionError):
            check(c)


def test_mutation_transposed_jacobian_columns_caught(monkeypatch):
    """Columns ordered (r, j) instead of W.reshape(-1)'s (j, r)."""
    c = build(GENERIC)
    orig = nk.ntk_jacobian

    def swapped(params, X, kappa=None):
        J = orig(params, X, kappa)
        return J.reshape(J.shape[0], params.d, params.m).transpose(0, 2, 1).reshape(J.shape).copy()

    monkeypatch.setattr(nk, "ntk_jacobian", swapped)
    with pytest.raises(AssertionError):
        check_jacobian(c)


def test_mutation_hessian_missing_term_caught(monkeypatch):
    """M without the −S(S∘v)ᵀ term (not symmetric any more)."""
    import ntkcheck.checks.identities as ident
    c = build(GENERIC._replace(n=1, m=5))
    orig = ident.compiled

    def compiled(module, name, target="numpy"):
        if (module, name) == ("hessian", "hessian_M_entry"):
            return lambda delta, Sr, Ss, vr, vs: delta * Sr * vr - Sr * vr * Ss
        return orig(module, name, target)

    monkeypatch.setattr(ident, "compiled", compiled)
    with pytest.raises(AssertionError):
        check_hessian(c)
