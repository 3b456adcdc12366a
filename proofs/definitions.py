"""the book's Setting part in sympy: the softmax network, at symbolic size and at small concrete sizes.

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


# --- helpers for the derivations (added for G1–G6; pure sympy) --------------------------------------
def softmax_normalizer(logits=z, size=m):
    """α = Σ_i exp(logits_i) at symbolic width ``size``."""
    return sp.Sum(sp.exp(logits[i_]), (i_, 0, size - 1))


def softmax_of(logits, index, size=m):
    """The softmax entry ``index`` of an arbitrary IndexedBase of logits (``softmax_symbolic`` uses ``z``)."""
    return sp.exp(logits[index]) / softmax_normalizer(logits, size)


def in_range(expr, *bounds):
    """Refine ``expr`` under 0 ≤ idx ≤ size − 1 for each ``(idx, size)``.

    Differentiating a ``Sum`` with respect to an ``Indexed`` gives ``Piecewise((…, idx <= size - 1), …)``
    after ``.doit()``; the index of the variable we differentiate by is in range, which is what this says.
    """
    assumptions = sp.And(*[sp.Q.le(idx, size - 1) & sp.Q.nonnegative(idx) for idx, size in bounds])
    return sp.refine(expr, assumptions)


def sum_linear(expr):
    """Linearity of finite sums: split ``Sum(f + g)`` into ``Sum(f) + Sum(g)`` and pull factors that do not
    depend on the summation index out of each ``Sum`` (``Sum(1, (i, lo, hi))`` becomes ``hi − lo + 1``).
    Recursive, so nested sums (a normalizer inside ⟨a, S⟩) are treated too; a Sum with several limits is
    first written as nested single sums.  Every rewrite is exact."""
    if isinstance(expr, sp.Sum) and len(expr.limits) > 1:   # Σ_r Σ_s f = Σ_r (Σ_s f): the innermost limit first
        inner = sum_linear(sp.Sum(expr.function, expr.limits[0]))
        rest = expr.limits[1:]
        outer_vars = {lim[0] for lim in rest}
        out = []
        for term in sp.Add.make_args(sp.expand(inner)):
            const, dep = term.as_independent(*outer_vars, as_Add=False)
            if dep == 1:
                out.append(const * sp.Mul(*[hi - lo + 1 for _, lo, hi in rest]))
            elif isinstance(dep, sp.Sum):    # sympy would merge Sum(Sum(f)) back into this very form: leave it
                out.append(const * sp.Sum(dep, *rest))
            else:
                out.append(const * sum_linear(sp.Sum(dep, *rest)))
        return sp.Add(*out)
    if isinstance(expr, sp.Sum) and len(expr.limits) == 1:
        (var, lo, hi), = expr.limits
        body = sp.expand(sum_linear(expr.function))
        out = []
        for term in sp.Add.make_args(body):
            const, dep = term.as_independent(var, as_Add=False)
            piece = sp.Sum(dep, (var, lo, hi)) if dep != 1 else (hi - lo + 1)
            if isinstance(piece, sp.Sum) and len(piece.limits) > 1:   # dep was itself a Sum, and sympy merged them
                piece = sum_linear(piece)
            out.append(const * piece)
        return sp.Add(*out)
    if not expr.args:
        return expr
    return expr.func(*[sum_linear(arg) for arg in expr.args])


def canonical_dummies(expr, depth: int = 0):
    """Rename the bound index of every ``Sum`` by nesting depth, so Σ_r e^{z_r} and Σ_i e^{z_i} compare equal."""
    if isinstance(expr, sp.Sum) and len(expr.limits) == 1:
        (var, lo, hi), = expr.limits
        new = sp.Symbol(f"_i{depth}", integer=True)
        return sp.Sum(canonical_dummies(expr.function.xreplace({var: new}), depth + 1), (new, lo, hi))
    if not expr.args:
        return expr
    return expr.func(*[canonical_dummies(arg, depth) for arg in expr.args])


def sum_simplify(expr):
    """A simplifier for expressions built from finite ``Sum``s at symbolic size.

    ``sp.simplify`` crashes on several of these in sympy 1.14 (``sum_add`` raises ``StopIteration``), so: apply
    linearity (:func:`sum_linear`), rename bound indices canonically, then ``cancel``, which treats each
    remaining ``Sum`` as an opaque generator.  A zero result is therefore a proof.
    """
    return sp.cancel(canonical_dummies(sum_linear(expr)))


@functools.lru_cache(maxsize=None)
def concrete_batch(m_: int, d_: int, d_out: int, n: int) -> dict:
    """The network of :func:`concrete_network` evaluated at ``n`` symbolic inputs x_1..x_n (rows of ``X``).

    Returns ``W``, ``A``, ``X`` (n×d symbols x_{i,j}), ``Y`` (n×d_out labels), and per input i the lists
    ``z[i]``, ``u[i]``, ``alpha[i]``, ``S[i]`` (as in :func:`concrete_network`), ``F`` (n×d_out), ``E``
    (residual F − Y), ``L`` (½ Σ E²) and ``logits`` (all z_{i,r}, for :func:`rational_simplifier`).
    """
    net = concrete_network(m_, d_, d_out)
    X = sp.Matrix(n, d_, lambda i, j: sp.Symbol(f"x_{i}_{j}", real=True))
    Y = sp.Matrix(n, d_out, lambda i, l: sp.Symbol(f"y_{i}_{l}", real=True))
    out = {"W": net["W"], "A": net["A"], "X": X, "Y": Y, "z": [], "u": [], "alpha": [], "S": [], "logits": []}
    rows = []
    for i in range(n):
        sub = {net["x"][j]: X[i, j] for j in range(d_)}
        for key in ("z", "u", "alpha", "S"):
            out[key].append(net[key].xreplace(sub))
        rows.append(list(net["F"].xreplace(sub)))
        out["logits"].extend(out["z"][i])
    out["F"] = sp.Matrix(rows)
    out["E"] = out["F"] - Y
    out["L"] = sp.Rational(1, 2) * sum(e**2 for e in out["E"])
    return out


def exp_to_symbols(expr, logits, names: str = "_u"):
    """Replace each ``exp(c_1 z_1 + … + c_K z_K + rest)`` (c_k rational, z_k the given logits, linear in W)
    by ``u_1**c_1 ⋯ u_K**c_K · exp(rest)`` with fresh positive symbols u_k.

    The result is a rational function of the u_k (and of other symbols); if it vanishes identically in the
    free u_k it vanishes at u_k = exp(z_k), so proving an identity after this rewrite proves it before.
    """
    logits = [sp.expand(zk) for zk in logits]
    U = [sp.Symbol(f"{names}_{k}", positive=True) for k in range(len(logits))]
    # a signature monomial for each logit: a term of z_k that occurs in no other logit
    terms = [set(sp.Add.make_args(zk)) for zk in logits]
    sigs = []
    for k, tk in enumerate(terms):
        others = set().union(*(t for kk, t in enumerate(terms) if kk != k))
        cand = sorted(tk - others, key=sp.default_sort_key)
        if not cand:
            raise ValueError(f"logit {logits[k]} has no term of its own")
        sigs.append(cand[0])

    def convert(arg):
        arg = sp.expand(arg)
        cs = [arg.coeff(sig) for sig in sigs]
        if not all(c.is_Rational for c in cs):
            return sp.exp(arg)
        rest = sp.expand(arg - sum(c * zk for c, zk in zip(cs, logits)))
        return sp.Mul(*[u**c for u, c in zip(U, cs)]) * sp.exp(rest)

    expr = sp.sympify(expr)
    while True:   # innermost exponentials first (an exp inside an exp's argument is converted first)
        atoms = [e for e in expr.atoms(sp.exp) if not e.args[0].has(sp.exp)]
        mapping = {e: convert(e.args[0]) for e in atoms}
        mapping = {e: c for e, c in mapping.items() if c != e}
        if not mapping:
            return expr
        expr = expr.xreplace(mapping)


def rational_simplifier(*groups):
    """``simplifier=`` for identities between concrete-size softmax expressions.

    Each argument is the list of logits z_{i,1..m} of one input (its normalizer is α_i = Σ_r e^{z_{i,r}}).
    First :func:`exp_to_symbols` (e^{z} ↦ u), then a fast test: replace each α_i = Σ_r u_{i,r} by a free
    symbol A_i and ``expand`` (a Laurent polynomial); zero there means zero at A_i = Σ_r u_{i,r}, so zero is a
    proof.  Otherwise fall back to ``cancel`` of the rational function in u (exact, slower).
    """
    groups = [tuple(grp) for grp in groups]
    flat = tuple(zk for grp in groups for zk in grp)
    U = [sp.Symbol(f"_u_{k}", positive=True) for k in range(len(flat))]
    alpha_map, start = {}, 0
    for k, grp in enumerate(groups):
        if len(grp) > 1:
            alpha_map[sp.Add(*U[start:start + len(grp)])] = sp.Symbol(f"_alpha_{k}", positive=True)
        start += len(grp)

    def simplify(expr):
        ex = exp_to_symbols(sp.sympify(expr), flat)
        fast = sp.expand(ex.xreplace(alpha_map), power_exp=False, power_base=False, log=False, basic=False)
        if fast == 0:
            return fast
        return sp.cancel(ex)

    return simplify
