"""MATH.md §1 in sympy: the softmax network, at symbolic size and at small concrete sizes.

Symbolic size uses ``IndexedBase`` and ``Sum``; concrete sizes build explicit matrices of symbols so that
every identity can also be checked by brute-force differentiation of the definition.
"""
from __future__ import annotations

import functools

import sympy as sp

# --- scalar symbols shared by every export (the numeric layer binds them by position) -----------------
kappa = sp.Symbol("kappa", positive=True)      # output scale κ
m = sp.Symbol("m", integer=True, positive=True)  # width
sigma = sp.Symbol("sigma", positive=True)      # init standard deviation σ
S_r, S_s = sp.symbols("S_r S_s", positive=True)  # softmax entries S_r(x), S_s(x)
a_lr = sp.Symbol("a_lr", real=True)            # a_{ℓ,r}
aS_l = sp.Symbol("aS_l", real=True)            # ⟨a_ℓ, S(x)⟩
x_j = sp.Symbol("x_j", real=True)              # a coordinate of x
v_r, v_s = sp.symbols("v_r v_s", real=True)    # v = a_ℓ − ⟨a_ℓ,S⟩1
delta_rs = sp.Symbol("delta_rs", real=True)    # Kronecker δ_{rs}
g = sp.Symbol("g", real=True)                  # an inner product ⟨x_i, x_j⟩
k = sp.Symbol("k", integer=True, nonnegative=True)

# --- symbolic size ----------------------------------------------------------------------------------
z = sp.IndexedBase("z", real=True)   # logits z_r = w_rᵀx
a = sp.IndexedBase("a", real=True)   # a row a_ℓ of A
i_, r_, s_ = sp.symbols("i r s", integer=True, nonnegative=True)


def softmax_symbolic(index, size=m):
    """S_index = exp(z_index) / Σ_i exp(z_i), the softmax of the logits at symbolic width ``size``."""
    return sp.exp(z[index]) / sp.Sum(sp.exp(z[i_]), (i_, 0, size - 1))


# --- concrete sizes ---------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def concrete_network(m_: int, d_: int, d_out: int) -> dict:
    """The network at a concrete size, as explicit sympy matrices.

    Returns a dict with ``W`` (d×m symbols w_{j,r}), ``x`` (d-vector), ``A`` (d_out×m symbols), ``z``
    (logits Wᵀx), ``u`` (exp z), ``alpha`` (Σ u), ``S`` (u/α) and ``F`` (d_out outputs κ⟨a_ℓ,S⟩).
    """
    if not (1 <= m_ <= 6 and 1 <= d_ <= 4 and 1 <= d_out <= 3):
        raise ValueError("concrete_network is for brute-force proofs at small sizes (m<=6, d<=4, d_out<=3)")
    W = sp.Matrix(d_, m_, lambda j, r: sp.Symbol(f"w_{j}_{r}", real=True))
    x = sp.Matrix(d_, 1, lambda j, _: sp.Symbol(f"x_{j}", real=True))
    A = sp.Matrix(d_out, m_, lambda l, r: sp.Symbol(f"a_{l}_{r}", real=True))
    zz = W.T * x
    u = zz.applyfunc(sp.exp)
    alpha = sum(u)
    S = u / alpha
    F = sp.Matrix([kappa * (A[l, :] * S)[0, 0] for l in range(d_out)])
    return {"W": W, "x": x, "A": A, "z": zz, "u": u, "alpha": alpha, "S": S, "F": F}
