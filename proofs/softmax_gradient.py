"""G1 softmax-gradient (the book's G1–G6 part).

∂F_ℓ(x)/∂w_r = κ S_r(x)(a_{ℓ,r} − ⟨a_ℓ,S(x)⟩) x, so ∇_{w_r}L = Σ_{i,ℓ} e_{i,ℓ} κ S_{i,r}(a_{ℓ,r} − ⟨a_ℓ,S_i⟩) x_i.

Symbolic size (m, d symbols, ``Sum``): the softmax Jacobian, ∂F_ℓ/∂z_r, ∂z_s/∂W[j,r] and the chain rule.
Concrete sizes: brute-force differentiation of ``concrete_network`` against ``EXPORTS["jacobian_entry"]``
for every (ℓ, j, r), and of the loss at n = 2 against Σ_{i,ℓ} e_{i,ℓ}·jacobian_entry(x_i).
"""
from __future__ import annotations

import sympy as sp

from ._core import EXPORT_SYMPY, Derivation, Export, cached_derivation
from .definitions import (kappa, S_r, a_lr, aS_l, x_j, m, z, a, r_, s_, softmax_symbolic,
                                concrete_network, concrete_batch, in_range, sum_simplify,
                                rational_simplifier)

CODE = "G1"
ID = "softmax-gradient"
USES = ()   # the softmax Jacobian and the chain rule, from the definitions
STATEMENT = "∂F_ℓ(x)/∂w_r = κ S_r(x)(a_{ℓ,r} − ⟨a_ℓ,S(x)⟩) x, so ∇_{w_r}L = Σ_{i,ℓ} e_{i,ℓ} κ S_{i,r}(a_{ℓ,r} − ⟨a_ℓ,S_i⟩) x_i."

EXPORTS = {
    "jacobian_entry": Export((kappa, S_r, a_lr, aS_l, x_j), kappa * S_r * (a_lr - aS_l) * x_j,
                             "∂F_ℓ(x)/∂W[j,r]", EXPORT_SYMPY),
}

# concrete sizes (m, d, d') for the brute-force steps
SIZES = ((1, 1, 1), (2, 1, 1), (3, 2, 2), (4, 3, 2))
LOSS_SIZE = (3, 2, 2)   # with n = 2 inputs


def _scratch() -> Derivation:
    return Derivation(CODE, ID, STATEMENT)


def jacobian_entry_cases(expr, m_: int, d_: int, d_out: int) -> list:
    """(∂F_ℓ/∂W[j,r] of the concrete network, ``expr`` at the concrete quantities) for every (ℓ, j, r)."""
    net = concrete_network(m_, d_, d_out)
    W, x, A, S, F = net["W"], net["x"], net["A"], net["S"], net["F"]
    pairs = []
    for l in range(d_out):
        aS = (A[l, :] * S)[0, 0]
        for j in range(d_):
            for r in range(m_):
                rhs = expr.xreplace({S_r: S[r], a_lr: A[l, r], aS_l: aS, x_j: x[j]})
                pairs.append((sp.diff(F[l], W[j, r]), rhs))
    return pairs


def check_jacobian_entry(expr, m_: int, d_: int, d_out: int, derivation: Derivation | None = None) -> Derivation:
    """Assert ∂F_ℓ/∂W[j,r] = ``expr`` (a function of κ, S_r, a_lr, aS_l, x_j) for every (ℓ, j, r) of the
    concrete network of size (m_, d_, d_out), by brute-force differentiation.  Raises ProofError if not."""
    d = derivation or _scratch()
    net = concrete_network(m_, d_, d_out)
    d.identities(f"∂F_ℓ/∂W[j,r] = jacobian_entry, brute force at m={m_}, d={d_}, d'={d_out}",
                 jacobian_entry_cases(expr, m_, d_, d_out),
                 note="every (ℓ, j, r); S, ⟨a_ℓ,S⟩ and x_j are those of the concrete network",
                 simplifier=rational_simplifier(net["z"]))
    return d


def check_loss_gradient(expr, m_: int, d_: int, d_out: int, n: int = 2,
                        derivation: Derivation | None = None) -> Derivation:
    """Assert ∂L/∂W[j,r] = Σ_{i,ℓ} e_{i,ℓ}·``expr``(x_i) for the concrete loss with n inputs."""
    d = derivation or _scratch()
    b = concrete_batch(m_, d_, d_out, n)
    W, A, X, E, L = b["W"], b["A"], b["X"], b["E"], b["L"]
    pairs = []
    for j in range(d_):
        for r in range(m_):
            rhs = 0
            for i in range(n):
                S = b["S"][i]
                for l in range(d_out):
                    aS = (A[l, :] * S)[0, 0]
                    rhs += E[i, l] * expr.xreplace({S_r: S[r], a_lr: A[l, r], aS_l: aS, x_j: X[i, j]})
            pairs.append((sp.diff(L, W[j, r]), rhs))
    d.identities(f"∂L/∂W[j,r] = Σ_(i,ℓ) e_(i,ℓ)·jacobian_entry(x_i), brute force at n={n}, m={m_}, d={d_}, d'={d_out}",
                 pairs, note="L = ½ Σ_(i,ℓ) (F_ℓ(W,x_i) − y_(i,ℓ))², differentiated directly",
                 simplifier=rational_simplifier(*b["z"]))
    return d


@cached_derivation
def derive() -> Derivation:
    d = _scratch()
    kk, p_, j_ = sp.symbols("k p j", integer=True, nonnegative=True)
    dd = sp.Symbol("d", integer=True, positive=True)
    Wb, xb = sp.IndexedBase("W", real=True), sp.IndexedBase("x", real=True)
    expr = EXPORTS["jacobian_entry"].expr

    # -- symbolic size ---------------------------------------------------------------------------
    S_k, S_rr = softmax_symbolic(kk), softmax_symbolic(r_)
    d.define("softmax", sp.Symbol("S_k"), S_k, note="S_k = e^{z_k} / Σ_i e^{z_i}, k, r ∈ {0,…,m−1}, m symbolic")
    jac = in_range(sp.diff(S_k, z[r_]).doit(), (r_, m))
    d.identity("softmax Jacobian ∂S_k/∂z_r = S_k(δ_kr − S_r)  (symbolic m)", jac,
               S_k * (sp.KroneckerDelta(kk, r_) - S_rr),
               note="sympy differentiates the Sum to a Sum of KroneckerDelta; .doit() gives a Piecewise in "
                    "r ≤ m−1, resolved because r indexes a neuron")

    aS = sp.Sum(a[kk] * S_k, (kk, 0, m - 1))
    F = kappa * aS
    d.define("network", sp.Symbol("F_ℓ"), F, note="F_ℓ = κ Σ_k a_ℓk S_k (a = a_ℓ)")
    dFdz = in_range(sp.diff(F, z[r_]).doit(), (r_, m))
    dFdz_claim = kappa * S_rr * (a[r_] - aS)
    d.identity("∂F_ℓ/∂z_r = κ S_r(a_ℓr − ⟨a_ℓ,S⟩)  (symbolic m)", dFdz, dFdz_claim,
               note="the softmax Jacobian summed against a_ℓ: κ Σ_k a_k S_k(δ_kr − S_r)",
               simplifier=sum_simplify)
    d.identity("… the same via the Jacobian: κ Σ_k a_k S_k(δ_kr − S_r)",
               in_range(kappa * sp.Sum(a[kk] * S_k * (sp.KroneckerDelta(kk, r_) - S_rr), (kk, 0, m - 1)).doit(),
                        (r_, m)),
               dFdz_claim, simplifier=sum_simplify)

    z_s = sp.Sum(Wb[p_, s_] * xb[p_], (p_, 0, dd - 1))
    d.define("logits", sp.Symbol("z_s"), z_s, note="z_s = w_sᵀx, d symbolic")
    dz = in_range(sp.diff(z_s, Wb[j_, r_]).doit(), (j_, dd))
    d.identity("∂z_s/∂W[j,r] = δ_sr x_j  (symbolic d)", dz, sp.KroneckerDelta(s_, r_) * xb[j_])

    dFdz_s = dFdz_claim.xreplace({r_: s_})
    chain = in_range(sp.Sum(dFdz_s * sp.KroneckerDelta(s_, r_) * xb[j_], (s_, 0, m - 1)).doit(), (r_, m))
    sub = {kappa: kappa, S_r: S_rr, a_lr: a[r_], aS_l: aS, x_j: xb[j_]}
    d.identity("chain rule Σ_s ∂F_ℓ/∂z_s · ∂z_s/∂W[j,r] = jacobian_entry  (symbolic m, d)", chain,
               expr.xreplace(sub), simplifier=sum_simplify,
               note="EXPORTS['jacobian_entry'] with S_r, a_lr, aS_l, x_j the symbolic-size quantities")

    # -- concrete sizes: brute force against the definition --------------------------------------
    for size in SIZES:
        check_jacobian_entry(expr, *size, derivation=d)
    check_loss_gradient(expr, *LOSS_SIZE, n=2, derivation=d)
    # -- the loss gradient at symbolic n, d': the chain rule through the sum of squares -------------------
    nn, dq = sp.symbols("n d'", integer=True, positive=True)
    i_, l_ = sp.symbols("i l", integer=True, nonnegative=True)
    Fo = sp.Function("F")                     # F(i, ℓ, w) = F_ℓ(W, x_i) as a function of one weight w = W[j,r]
    yb, w = sp.IndexedBase("y", real=True), sp.Symbol("w", real=True)
    loss = sp.Sum(sp.Sum((Fo(i_, l_, w) - yb[i_, l_])**2, (l_, 0, dq - 1)), (i_, 0, nn - 1)) / 2
    d.identity("∂L/∂W[j,r] = Σ_(i,ℓ) e_(i,ℓ) ∂F_ℓ(x_i)/∂W[j,r]  (symbolic n, d'; sympy differentiates L)",
               loss.diff(w), sp.Sum(sp.Sum((Fo(i_, l_, w) - yb[i_, l_]) * sp.Derivative(Fo(i_, l_, w), w),
                                           (l_, 0, dq - 1)), (i_, 0, nn - 1)),
               note="L = ½ Σ_(i,ℓ) (F_ℓ(W,x_i) − y_(i,ℓ))² with F an arbitrary differentiable function of w = W[j,r]; "
                    "with ∂F_ℓ(x_i)/∂W[j,r] = jacobian_entry (the chain-rule step above, at symbolic m, d) this is "
                    "∇_{w_r}L = Σ_(i,ℓ) e_(i,ℓ) κ S_(i,r)(a_(ℓ,r) − ⟨a_ℓ,S_i⟩) x_i for every n, d'")
    return d
