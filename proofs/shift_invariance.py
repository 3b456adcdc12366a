"""G2 shift-invariance (the book's G1–G6 part).

F(W + v1ᵀ, x) = F(W, x) for every v, so Σ_r ∂F_ℓ/∂w_r = 0 and gradient descent conserves Σ_r w_r.

Symbolic size: Σ_r S_r = 1 and Σ_r S_r(a_r − ⟨a,S⟩) = 0 (linearity of ``Sum``), hence Σ_r ∂F_ℓ/∂W[j,r] = 0 for
the exported G1 entry.  Concrete sizes: F(W + v1ᵀ) − F(W) = 0 with v symbolic, its derivative in v, the row
sums of the brute-force Jacobian, and exact conservation of Σ_r w_r by one GD step at n = 2.  For contrast,
the exp network (κ/m) Σ_r a_r e^{w_rᵀx} is *not* invariant: the shift multiplies it by e^{vᵀx}.
"""
from __future__ import annotations

import sympy as sp

from ._core import Derivation, Export, cached_derivation
from .softmax_gradient import EXPORTS as G1_EXPORTS
from .definitions import (kappa, m, a, r_, S_r, a_lr, aS_l, softmax_symbolic,
                                concrete_network, concrete_batch, sum_simplify, rational_simplifier)

CODE = "G2"
ID = "shift-invariance"
USES = ("G1",)   # Σ_r ∂F/∂w_r = 0 also read off G1's Jacobian; GD conserves Σ_r w_r by G1's gradient
STATEMENT = "F(W + v1ᵀ, x) = F(W, x) for every v, so Σ_r ∂F_ℓ/∂w_r = 0 and gradient descent conserves Σ_r w_r."

EXPORTS: dict = {}

SIZES = ((2, 1, 1), (3, 2, 2), (4, 3, 2))
GD_SIZE = (3, 2, 2)   # n = 2


def _scratch() -> Derivation:
    return Derivation(CODE, ID, STATEMENT)


def shift_vector(d_: int) -> sp.Matrix:
    return sp.Matrix(d_, 1, lambda j, _: sp.Symbol(f"v_{j}", real=True))


def check_shift_invariance(F, W, logits, derivation: Derivation | None = None, label: str = "") -> Derivation:
    """Assert F(W + v1ᵀ) − F(W) = 0 entrywise for a network ``F`` (a Matrix of expressions in ``W``)."""
    d = derivation or _scratch()
    v = shift_vector(W.shape[0])
    shift = {W[j, r]: W[j, r] + v[j] for j in range(W.shape[0]) for r in range(W.shape[1])}
    d.identities(f"F(W + v1ᵀ, x) = F(W, x){label}", [(Fl.xreplace(shift), Fl) for Fl in F],
                 note="v ∈ R^d symbolic; e^{(w_r+v)ᵀx} = e^{vᵀx} e^{w_rᵀx} cancels between numerator and α",
                 simplifier=rational_simplifier(logits))
    return d


@cached_derivation
def derive() -> Derivation:
    d = _scratch()
    kk = sp.Symbol("k", integer=True, nonnegative=True)

    # -- symbolic size ---------------------------------------------------------------------------
    S = softmax_symbolic(r_)
    aS = sp.Sum(a[kk] * softmax_symbolic(kk), (kk, 0, m - 1))
    d.identity("Σ_r S_r = 1  (symbolic m)", sp.Sum(S, (r_, 0, m - 1)), 1, simplifier=sum_simplify,
               note="pull 1/α out of the Sum; Σ_r e^{z_r} = α")
    d.identity("Σ_r S_r(a_r − ⟨a,S⟩) = ⟨a,S⟩ − ⟨a,S⟩ Σ_r S_r  (linearity, symbolic m)",
               sp.Sum(S * (a[r_] - aS), (r_, 0, m - 1)), aS - aS * sp.Sum(S, (r_, 0, m - 1)),
               simplifier=sum_simplify)
    d.identity("Σ_r S_r(a_r − ⟨a,S⟩) = 0  (symbolic m)", sp.Sum(S * (a[r_] - aS), (r_, 0, m - 1)), 0,
               simplifier=sum_simplify)
    expr = G1_EXPORTS["jacobian_entry"].expr
    d.identity("Σ_r ∂F_ℓ/∂W[j,r] = Σ_r jacobian_entry = 0  (G1 export, symbolic m)",
               sp.Sum(expr.xreplace({S_r: S, a_lr: a[r_], aS_l: aS}), (r_, 0, m - 1)), 0,
               simplifier=sum_simplify)
    # Σ_r ∇_{w_r}L = 0 at symbolic m, n, d' (G1's loss gradient, logits z_{i,r} = w_rᵀx_i)
    nn, dq = sp.symbols("n d'", integer=True, positive=True)
    i, l, j, q = sp.symbols("i l j q", integer=True, nonnegative=True)
    zz, A, e, x = (sp.IndexedBase(nm, real=True) for nm in ("z", "A", "e", "x"))
    Sir = lambda ii, rr: sp.exp(zz[ii, rr]) / sp.Sum(sp.exp(zz[ii, q]), (q, 0, m - 1))  # noqa: E731
    aSi = lambda ll, ii: sp.Sum(A[ll, q] * Sir(ii, q), (q, 0, m - 1))  # noqa: E731
    grad_jr = sp.Sum(e[i, l] * expr.xreplace({S_r: Sir(i, r_), a_lr: A[l, r_], aS_l: aSi(l, i),
                                                sp.Symbol("x_j", real=True): x[i, j]}), (l, 0, dq - 1), (i, 0, nn - 1))
    total = sp.Sum(grad_jr, (r_, 0, m - 1))
    d.identity("Σ_r ∂L/∂W[j,r] = Σ_r Σ_(i,ℓ) e_(i,ℓ) jacobian_entry(x_i) = 0  (symbolic m, n, d'; G1)", total, 0,
               simplifier=lambda ex: sum_simplify(ex.reorder_limit(0, 2)),
               note="∇_{w_r}L = Σ_(i,ℓ) e_(i,ℓ) ∂F_ℓ(x_i)/∂w_r (G1, symbolic n); the finite sums exchanged "
                    "(Sum.reorder_limit), then Σ_r S_(i,r)(a_(ℓ,r) − ⟨a_ℓ,S_i⟩) = 0 for each (i, ℓ)")
    wt, eta_ = sp.IndexedBase("w", real=True), sp.Symbol("eta", positive=True)
    d.identity("Σ_r w_r(t+1) = Σ_r w_r(t) − η Σ_r ∇_{w_r}L  (symbolic m, n, d'; linearity)",
               sp.Sum(wt[j, r_] - eta_ * grad_jr, (r_, 0, m - 1)), sp.Sum(wt[j, r_], (r_, 0, m - 1)) - eta_ * total,
               simplifier=sum_simplify,
               note="one GD step W(t+1) = W(t) − η∇L, coordinate j; with the previous step Σ_r w_r(t+1) = Σ_r w_r(t) "
                    "exactly (in exact arithmetic), for every t")

    # -- concrete sizes --------------------------------------------------------------------------
    for size in SIZES:
        net = concrete_network(*size)
        W, F = net["W"], net["F"]
        check_shift_invariance(F, W, net["z"], d, label=f" at m={size[0]}, d={size[1]}, d'={size[2]}")
        v = shift_vector(size[1])
        shift = {W[j, r]: W[j, r] + v[j] for j in range(size[1]) for r in range(size[0])}
        zero_v = {vj: 0 for vj in v}
        tag = f" at m={size[0]}, d={size[1]}, d'={size[2]}"
        row_sums = {(l, j): sum(sp.diff(F[l], W[j, r]) for r in range(size[0]))
                    for l in range(size[2]) for j in range(size[1])}
        d.identities("∂/∂v_j F_ℓ(W + v1ᵀ)|_(v=0) = Σ_r ∂F_ℓ/∂W[j,r]" + tag,
                     [(sp.diff(F[l].xreplace(shift), v[j]).xreplace(zero_v), row_sums[l, j]) for l, j in row_sums],
                     note="the chain rule in v (consistency of the brute-force derivatives)",
                     simplifier=rational_simplifier(net["z"]))
        d.identities("Σ_r ∂F_ℓ/∂W[j,r] = 0, brute force" + tag, [(row_sums[key], 0) for key in row_sums],
                     note="every (ℓ, j): the rows of the brute-force Jacobian sum to zero over neurons",
                     simplifier=rational_simplifier(net["z"]))

    b = concrete_batch(*GD_SIZE, 2)
    W, L = b["W"], b["L"]
    eta = sp.Symbol("eta", positive=True)
    grad = W.applyfunc(lambda w: sp.diff(L, w))
    W_next = W - eta * grad
    d.identities(f"Σ_r w_r(t+1) = Σ_r w_r(t) after one GD step, brute force at n=2, m={GD_SIZE[0]}, d={GD_SIZE[1]}, d'={GD_SIZE[2]}",
                 [(sum(W_next[j, r] for r in range(GD_SIZE[0])), sum(W[j, r] for r in range(GD_SIZE[0])))
                  for j in range(GD_SIZE[1])],
                 note="∇L by direct differentiation of L = ½ Σ (F − Y)²; η symbolic",
                 simplifier=rational_simplifier(*b["z"]))

    # -- contrast: the exp network has no such invariance ----------------------------------------
    net = concrete_network(2, 2, 1)
    W, x, A = net["W"], net["x"], net["A"]
    v = shift_vector(2)
    F_exp = kappa / 2 * (A * net["u"])[0, 0]
    shift = {W[j, r]: W[j, r] + v[j] for j in range(2) for r in range(2)}
    d.identity("exp network: F(W + v1ᵀ) = e^{vᵀx} F(W)  (m=2, d=2; not invariant)", F_exp.xreplace(shift),
               sp.exp((v.T * x)[0, 0]) * F_exp, simplifier=lambda e: sp.simplify(sp.expand(e)),
               note="so Σ_r ∂F/∂w_r = F(W)·x ≠ 0 in general: the conservation law is specific to the softmax "
                    "normalization")
    return d
