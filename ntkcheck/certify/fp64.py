"""C2's per-neuron work in float64 with a-priori rounding bounds (the route for widths where ball arithmetic
over all m neurons is too slow).  No float64 value is trusted without a proved bound:

* logits ẑ = fl(XW) (:func:`matmul_fixed`): |ẑ − z| ≤ γ_d (|X||W|) + d·η entrywise, with |X||W| bounded
  through a second product fl(|X||W|) (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., §3.1 and (3.5):
  |fl(xᵀy) − xᵀy| ≤ γ_k |x|ᵀ|y| for ANY order of the k-term sum, FMA or not; γ_k = ku/(1 − ku), u = 2⁻⁵³,
  η = 2⁻¹⁰⁷⁴ the underflow allowance per product);
* exp by :func:`exp_bounded`, this module's own exp made of +, ×, ldexp only (each correctly rounded in
  IEEE binary64): Cody–Waite reduction y = k ln 2 + t, |t| ≤ ½ ln 2, a degree-13 Taylor polynomial by
  Horner, and a proved relative error bound (:func:`exp_error_bound`: reduction rounding, the ln 2 split,
  Horner's γ_{2N} bound (Higham (5.3)), the coefficients' rounding and the Taylor remainder).  numpy's and
  libm's exp are never used (their accuracy is not documented);
* every sum over the m neurons is a sum of NONNEGATIVE products of these exps u_{i,r} = e^{z_{i,r} − c_i},
  split by the sign pattern of A: the row sums Σ_{r: a_{ℓ,r} = s} u_{i,r} and the Gram entries
  Σ_{r: a_{ℓ,r} = s, a_{ℓ',r} = s'} u_{i,r} u_{j,r} (:func:`gram_fixed`: a dot product per sub-block of
  :data:`SUB` neurons, then the sum of the :data:`NSUB` dot products);
  nonnegative terms make the bound relative: the exact sum lies in ŝ·[1/(1 + γ), 1/(1 − γ)] per level;
* the block totals are enclosed as balls and everything after the sums over neurons (the division by
  α_i = Σ_r u_{i,r}, the centred signs 2S₋/−2S₊, H, Q, ‖e(0)‖, the eigenvalue tests) is ball arithmetic.

No BLAS: every product and sum is a numpy elementwise operation or a numpy reduction (``sum`` along an
axis), each correctly rounded and in an order fixed by the array shapes, not by the CPU.  A BLAS picks its
kernel, and with it the order of the sums, by CPU (measured: a certificate of n = 4, m = 200 000 made with
OpenBLAS's SkylakeX kernels gave other last bits of the margins and of η with its Haswell, Sandybridge and
Prescott kernels, so ``certify check`` rejected it there); these sums give the same bits on every CPU
(tests/test_certify_fp64.py runs them under other BLAS kernels and with numpy's AVX-512 loops
disabled).  The bounds do not depend on the order: they hold for any order of each sum.

Assumptions (recorded in the certificate's trust base): IEEE binary64 with rounding to nearest for numpy's
elementwise +, × and ldexp and for the additions of its reductions.

The scalar bounds are computed in exact rational or ball arithmetic from float64 maxima, so their own
rounding is covered.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ntkcheck.certify.arb import arb, endpoints, float_up, fraction_ball, to_ball
from ntkcheck.certify.linalg import ETA, U, gamma

CUT = -600.0            # exps of ŷ < CUT are set to 0 (their true value is below e^{CUT}, bounded absolutely)
N_TAYLOR = 13           # degree of the Taylor polynomial of exp on |t| ≤ ½ ln 2 (remainder < 2⁻⁶⁰)
SUB = 4096              # neurons per BLAS product (the γ_k of one dot product has k = SUB)
NSUB = 64               # sub-blocks per block: a block is SUB·NSUB neurons, summed at three levels
BLOCK = SUB * NSUB
ROW_LEVELS = (64, 64, 64)   # the row sums of a block in three levels of 64 terms (γ_64 each)
assert math.prod(ROW_LEVELS) == BLOCK

# ln 2 = L1 + L2 + δ: L1 has 32 significant bits, so k·L1 is exact for |k| < 2^21
L1 = math.ldexp(math.floor(math.ldexp(math.log(2.0), 32)), -32)
L2 = 0.0
INV_LN2 = 1 / math.log(2.0)      # any double: k only has to keep |t| small, and |t| is measured, not assumed
COEFFS = [1.0 / math.factorial(j) for j in range(N_TAYLOR + 1)]    # fl(1/j!), their errors bounded exactly


def _ln2_parts():
    """L2 = fl(ln 2 − L1) and an upper bound (Fraction) of |ln 2 − L1 − L2|, from a 300-bit ball of ln 2."""
    from flint import ctx

    with ctx.workprec(300):
        ln2 = arb(2).log()
        l2 = float((ln2 - arb(L1)).mid())
        err = abs(ln2 - arb(L1) - arb(l2))
        hi = err.upper()
        man, e = hi.mid().man_exp()
    man, e = int(man), int(e)
    return l2, Fraction(man * 2**e) if e >= 0 else Fraction(man, 2**(-e))


def _ensure_ln2():
    global L2, _LN2_ERR
    if L2 == 0.0:
        L2, _LN2_ERR = _ln2_parts()


_LN2_ERR = Fraction(1)


def exp_bounded(y: np.ndarray) -> tuple[np.ndarray, dict]:
    """e^y for a float64 array y (entries ≤ 700), computed with +, ×, ldexp only.

    Parameters: y -- float64 array.
    Returns: (û, stats): û = 0 where y < CUT, else 2^k·p̂(t̂); stats holds the maxima the error bound needs
    (``T`` = max|t̂|, ``kmax`` = max|k|, ``amax`` = max|fl(y − kL1)|, ``bmax`` = max|fl(k·L2)|); pass the stats
    of every call to :func:`exp_error_bound`."""
    _ensure_ln2()
    y = np.asarray(y, dtype=np.float64)
    if y.size and float(np.max(y)) > 700.0:
        raise ValueError("exp_bounded: an argument above 700 (the result would overflow)")
    keep = y >= CUT
    k, a, b, t = reduce(np.where(keep, y, 0.0))
    p = np.full_like(t, COEFFS[N_TAYLOR])
    for c in reversed(COEFFS[:-1]):
        p = p * t + c
    u = np.ldexp(p, k.astype(np.int64))
    u[~keep] = 0.0
    stats = {"T": float(np.max(np.abs(t), initial=0.0)), "kmax": float(np.max(np.abs(k), initial=0.0)),
             "amax": float(np.max(np.abs(a), initial=0.0)), "bmax": float(np.max(np.abs(b), initial=0.0))}
    return u, stats


def reduce(y: np.ndarray):
    """Cody–Waite reduction y = k ln 2 + t in float64: k = rint(y/ln 2), â = fl(y − k·L1) (k·L1 exact for
    |k| < 2^21, L1 has 32 bits), b̂ = fl(k·L2), t̂ = fl(â − b̂).

    Parameters: y -- float64 array (|y| ≤ 745).  Returns: (k, â, b̂, t̂) as float64 arrays."""
    _ensure_ln2()
    k = np.rint(y * INV_LN2)
    a = y - k * L1
    b = k * L2
    return k, a, b, a - b


def reduction_error(stats: dict) -> Fraction:
    """An upper bound of |t̂ − (y − k ln 2)| over the entries of :func:`reduce` summarised by ``stats``: the
    roundings of y − kL1, k·L2 (+ an underflow allowance η) and â − b̂, each ≤ u/(1 − u)·|computed value|,
    and k·|ln 2 − L1 − L2| (a 300-bit ball).  Returns: the bound (exact rational)."""
    _ensure_ln2()
    v = U / (1 - U)
    return (v * Fraction(stats["amax"]) + v * Fraction(stats["bmax"]) + ETA + v * Fraction(stats["T"])
            + Fraction(stats["kmax"]) * _LN2_ERR)


def merge_stats(stats: list[dict]) -> dict:
    """The entrywise maxima of several :func:`exp_bounded` stats (one bound for all of them)."""
    return {k: max(s[k] for s in stats) for k in ("T", "kmax", "amax", "bmax")}


def exp_error_bound(stats: dict) -> Fraction:
    """ε (exact rational) with |û − e^y| ≤ ε·e^y for every entry û = exp_bounded(y) with y ≥ CUT, given the
    merged stats of the calls.

    Parameters: stats -- from :func:`exp_bounded` / :func:`merge_stats`.
    Returns: ε.  Raises ValueError if the reduction left |t̂| > 0.36 (the bound is derived for |t| < ½)."""
    _ensure_ln2()
    T = Fraction(stats["T"])
    if T > Fraction(36, 100):
        raise ValueError(f"exp_bounded: reduced argument {float(T)} outside |t| ≤ 0.36")
    e_t = reduction_error(stats)                          # |t̂ − (y − k ln 2)|
    # Horner (Higham (5.3)): |p̂ − p(t̂)| ≤ γ_{2N} Σ|c_j||t̂|^j, + N·η for products that may underflow
    N = N_TAYLOR
    pos = sum(Fraction(c) * T**j for j, c in enumerate(COEFFS))
    horner = gamma(2 * N) * pos + N * ETA
    coef = sum(abs(Fraction(c) - Fraction(1, math.factorial(j))) * T**j for j, c in enumerate(COEFFS))
    e_up = Fraction(3)                                   # e^T ≤ 3 for T ≤ 0.36 (e^0.36 < 1.44)
    e_T = 1 + T + T**2 / 2 * e_up                        # e^T ≤ 1 + T + T²e^T/2
    trunc = T**(N + 1) / math.factorial(N + 1) * e_T
    rel_p = (horner + coef + trunc) * e_T                # relative to e^{t̂} ≥ e^{−T}
    # û = e^y·e^{t̂ − t}(1 + θ), |θ| ≤ rel_p, |t̂ − t| ≤ e_t: ε = (1 + rel_p)e^{e_t} − 1, e^x ≤ 1 + x + x² (x ≤ 1)
    ex = e_t + e_t**2
    return (1 + rel_p) * (1 + ex) - 1


def logits_error_bound(zabs_max: float, d: int) -> Fraction:
    """ε_z with |ẑ − z| ≤ ε_z for every entry of ẑ = fl(XW) (:func:`matmul_fixed`, k = d), given the largest entry of the
    computed fl(|X||W|): |X||W| ≤ (fl(|X||W|) + dη)/(1 − γ_d), |ẑ − z| ≤ γ_d|X||W| + dη.

    Parameters: zabs_max -- max of fl(|X||W|); d -- the inner dimension.  Returns: ε_z (exact rational)."""
    g = gamma(d)
    return g * (Fraction(zabs_max) + d * ETA) / (1 - g) + d * ETA


def _levels_ball(s: float, levels: int, k: int):
    """The ball of an exact sum of nonnegative doubles whose float64 sum, formed in ``levels`` nested levels of
    at most ``k`` terms each (any order inside a level), is ``s``."""
    g = gamma(k)
    f = Fraction(s)
    return fraction_ball(f / (1 + g) ** levels, f / (1 - g) ** levels)


class Accumulator:
    """The per-block float64 sums of C2's γ route, enclosed as balls block by block.

    Rows are indexed (ℓ, s, i), s ∈ {+, −} (sign class of neuron r in row ℓ of A), i the data point:
    row sums R[(ℓ,s,i)] = Σ_{r: a_{ℓ,r} = s} û_{i,r}, Gram entries T = M Mᵀ with M_{(ℓ,s,i),r} = û_{i,r}[a_{ℓ,r} = s],
    and the row maxima of û.  ``add`` takes one block of at most BLOCK neurons (padded with zeros, exact)."""

    def __init__(self, n: int, q: int):
        self.n, self.q = n, q
        self.rows = 2 * q * n
        self.R = [arb(0)] * self.rows
        self.T = [[arb(0)] * self.rows for _ in range(self.rows)]
        self.umax = np.zeros(n)
        self.padded = 0

    def add(self, u: np.ndarray, A_block: np.ndarray) -> None:
        """Add the exps ``u`` (n×b, b ≤ BLOCK) of one block of neurons with its columns ``A_block`` (q×b, ±1)."""
        n, b = u.shape
        if b < BLOCK:
            u = np.concatenate([u, np.zeros((n, BLOCK - b))], axis=1)
            A_block = np.concatenate([A_block, np.ones((self.q, BLOCK - b))], axis=1)
        self.padded += BLOCK
        self.umax = np.maximum(self.umax, u.max(axis=1))
        masks = np.concatenate([[(A_block[l] > 0), (A_block[l] < 0)] for l in range(self.q)]).astype(np.float64)
        M = (masks[:, None, :] * u[None, :, :]).reshape(self.rows, BLOCK)          # exact (× 0 or 1)
        rs = M
        for k in reversed(ROW_LEVELS):
            rs = rs.reshape(self.rows, -1, k).sum(axis=2)
        rs = rs.reshape(self.rows)
        Tb = gram_fixed(M)                           # lower triangle: NSUB dot products of SUB terms, summed
        k1, k2 = gamma(SUB), gamma(NSUB)
        und = Fraction(BLOCK) * ETA                  # underflowing products, η each (SUB per dot, NSUB dots)
        for a in range(self.rows):
            self.R[a] = self.R[a] + _levels_ball(float(rs[a]), len(ROW_LEVELS), max(ROW_LEVELS))
            for c in range(a + 1):
                f = Fraction(float(Tb[a, c]))
                lo = (f / (1 + k2) - und) / (1 + k1)
                hi = (f / (1 - k2) + und) / (1 - k1)
                ball = fraction_ball(max(lo, Fraction(0)), hi)
                self.T[a][c] = self.T[a][c] + ball
                if c != a:
                    self.T[c][a] = self.T[a][c]


def matmul_fixed(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """fl(XW) without BLAS: Σ_k X[:, k]·W[k, :] summed in the order k = 0, 1, …, d − 1, each product and each
    addition a separate numpy operation (correctly rounded, no FMA), so the same bits on every CPU.  The k-term
    sums satisfy Higham's γ_k bound (which holds for any order).

    Parameters: X (n×d), W (d×b), float64.  Returns: the n×b float64 product."""
    Z = X[:, 0:1] * W[0:1, :]
    for k in range(1, X.shape[1]):
        Z += X[:, k:k + 1] * W[k:k + 1, :]
    return Z


def gram_fixed(M: np.ndarray) -> np.ndarray:
    """fl(MMᵀ) for one block M (rows × BLOCK) without BLAS: per pair of rows, the products of the
    :data:`NSUB` sub-blocks of :data:`SUB` neurons summed by numpy's reduction along the sub-block, then the
    NSUB dot products summed the same way: a fixed order (numpy's pairwise summation), the same bits on every
    CPU, within γ_SUB and γ_NSUB of the exact sums as any order is.

    Parameters: M -- float64, rows × BLOCK.  Returns: rows × rows, the sums in the lower triangle (diagonal
    included; the Gram matrix is symmetric), zeros above it."""
    rows = M.shape[0]
    Ms = M.reshape(rows, NSUB, SUB)
    T = np.zeros((rows, rows))
    for a in range(rows):
        T[a, :a + 1] = (Ms[a][None] * Ms[:a + 1]).sum(axis=2).sum(axis=1)
    return T


def logits_pass(X: np.ndarray, W: np.ndarray, blocks) -> tuple[np.ndarray, float]:
    """First pass: the shift c_i = max_r ẑ_{i,r} (any double gives the same softmax; this one keeps ŷ ≤ 0 up
    to the rounding of a recomputed product) and max fl(|X||W|) for :func:`logits_error_bound`."""
    n = X.shape[0]
    c = np.full(n, -np.inf)
    zabs = 0.0
    Xa = np.abs(X)
    for r0, r1 in blocks:
        Z = matmul_fixed(X, W[:, r0:r1])
        c = np.maximum(c, Z.max(axis=1))
        zabs = max(zabs, float(matmul_fixed(Xa, np.abs(W[:, r0:r1])).max()))
    return c, zabs


def aggregates(X: np.ndarray, W: np.ndarray, A: np.ndarray) -> dict:
    """The sums over neurons C2 needs, as balls that contain the exact values for the exact inputs.

    Parameters: X (n×d), W (d×m), A (q×m, entries ±1), float64.
    Returns: {"R": row-sum balls, "T": Gram balls (rows (ℓ, s, i)), "umax": balls of max_r u_{i,r},
    "eps_u", "eps_z", "tau" (the bounds used), "rows": the row labels}.  Here u_{i,r} = e^{z_{i,r} − c_i} with
    the exact z = XW and the recorded double shifts c_i."""
    n, d = X.shape
    m, q = W.shape[1], A.shape[0]
    if not np.all(np.abs(A) == 1):
        raise ValueError("the float64 route needs A ∈ {−1, +1}^{d'×m} (the sign-class split)")
    blocks = [(r0, min(m, r0 + BLOCK)) for r0 in range(0, m, BLOCK)]
    c, zabs = logits_pass(X, W, blocks)
    acc = Accumulator(n, q)
    stats, ymax = [], 0.0
    for r0, r1 in blocks:
        Yb = matmul_fixed(X, W[:, r0:r1]) - c[:, None]
        u, st = exp_bounded(Yb)
        stats.append(st)
        kept = Yb >= CUT
        if kept.any():
            ymax = max(ymax, float(np.max(np.abs(Yb[kept]))))
        acc.add(u, A[:, r0:r1])
    # the scalar bounds rounded up to doubles (an upper bound is all they need to be; keeps the rationals short)
    eps_e = Fraction(float_up(exp_error_bound(merge_stats(stats))))
    eps_z = Fraction(float_up(logits_error_bound(zabs, d)))
    v = U / (1 - U)
    eps_y = eps_z + v * Fraction(ymax)                 # |ŷ − y| on the kept entries (y = z − c exactly)
    # ε_u: û = u(1 + θ), |θ| ≤ (1 + ε_e)e^{ε_y} − 1 ≤ (1 + ε_e)(1 + ε_y + ε_y²) − 1
    eps_u = Fraction(float_up((1 + eps_e) * (1 + eps_y + eps_y**2) - 1))
    # cut entries (û = 0): ŷ < CUT ⇒ y ≤ CUT(1 − u/(1 − u)) + ε_z, so u_{i,r} ≤ τ := e^{that} (in balls)
    tau = Fraction(float_up(_upper_fraction(to_ball(Fraction(CUT) * (1 - v) + eps_z).exp())))
    mpad = Fraction(acc.padded)
    # max_r u_{i,r}: the argmax of û is a kept entry (û > 0), so max u ≥ û_max/(1 + ε); max u ≤ û_max/(1 − ε) + τ
    umax = [fraction_ball(Fraction(float(x)) / (1 + eps_u), Fraction(float(x)) / (1 - eps_u) + tau)
            for x in acc.umax]
    Umax = max(Fraction(float(x)) / (1 - eps_u) + tau for x in acc.umax)
    # Σ û vs Σ u: Σu ∈ [Σû/(1 + ε), Σû/(1 − ε) + mτ]; Σ û_i û_j vs Σ u_i u_j: factors (1 ± ε)², + mτ·U_max
    R = [_rel_ball(b, eps_u, 1, mpad * tau) for b in acc.R]
    T = [[_rel_ball(b, eps_u, 2, mpad * tau * Umax) for b in row] for row in acc.T]
    labels = [(l, s, i) for l in range(q) for s in (+1, -1) for i in range(n)]
    return {"R": R, "T": T, "umax": umax, "eps_u": eps_u, "eps_e": eps_e, "eps_z": eps_z, "tau": tau,
            "rows": labels, "shift": c, "k_dot": SUB, "k_block": NSUB, "row_levels": ROW_LEVELS}


def _upper_fraction(ball) -> Fraction:
    return endpoints(ball)[1]


def _rel_ball(b, eps: Fraction, power: int, absolute: Fraction):
    """The ball of a true sum X ≥ 0 given the ball b of the computed-input sum X̂ = Σ x̂ with x̂ = x(1 + θ),
    |θ| ≤ eps (products of ``power`` such factors), plus ``absolute`` for the terms set to zero."""
    lo, hi = endpoints(b)
    lo = max(lo, Fraction(0))
    return fraction_ball(lo / (1 + eps) ** power, hi / (1 - eps) ** power + absolute)


def features(X: np.ndarray, W: np.ndarray, A: np.ndarray, kappa: float, tangent_feature):
    """C2's ball enclosures from the float64 sums of :func:`aggregates` (the γ route): S₀, F = κ⟨a_ℓ, S_i⟩
    (n×d' balls), PPᵀ (rows (i, ℓ)) and SSᵀ, the same quantities as the ball route's ``features``.

    With α_i = Σ_r u_{i,r}, S_{i,r} = u_{i,r}/α_i; S±_{iℓ} = Σ_{a_{ℓ,r} = ±1} S_{i,r}; the centred sign of
    neuron r is c⁺_{iℓ} = 2S⁻_{iℓ} where a_{ℓ,r} = +1 and c⁻_{iℓ} = −2S⁺_{iℓ} where −1, so
    P_{(i,ℓ),r} = tangent_feature(S_{i,r}, c, 0) = S_{i,r}·tangent_feature(1, c, 0) (the export is linear in
    S_r) and, grouping the neurons by the sign pair (a_{ℓ,r}, a_{ℓ',r}),
    (PPᵀ)_{(i,ℓ),(j,ℓ')} = Σ_{s,s'} tf(1, c^s_{iℓ}, 0)·tf(1, c^{s'}_{jℓ'}, 0)·T[(ℓ,s,i),(ℓ',s',j)]/(α_iα_j);
    (SSᵀ)_{ij} = Σ_s T[(0,s,i),(0,s,j)]/(α_iα_j) (the classes of row 0 partition the neurons).

    Parameters: X, W, A -- the float64 instance; kappa -- κ; tangent_feature -- the compiled export
    (ntk_factorization.tangent_feature in balls).  Returns: (S0, F, PP, SS, record) with the record of the
    bounds used (for the trust base)."""
    from ntkcheck.certify.arb import arb_mat

    n, q = X.shape[0], A.shape[0]
    agg = aggregates(X, W, A)
    R, T = agg["R"], agg["T"]
    idx = {lab: k for k, lab in enumerate(agg["rows"])}
    alpha = [R[idx[(0, +1, i)]] + R[idx[(0, -1, i)]] for i in range(n)]
    Sp = [[R[idx[(l, +1, i)]] / alpha[i] for l in range(q)] for i in range(n)]
    Sn = [[R[idx[(l, -1, i)]] / alpha[i] for l in range(q)] for i in range(n)]
    zero, one = arb(0), arb(1)
    cen = {(i, l, +1): tangent_feature(one, 2 * Sn[i][l], zero) for i in range(n) for l in range(q)}
    cen.update({(i, l, -1): tangent_feature(one, -2 * Sp[i][l], zero) for i in range(n) for l in range(q)})
    PP = arb_mat(n * q, n * q)
    for i in range(n):
        for l in range(q):
            for j in range(n):
                for l2 in range(q):
                    acc = zero
                    for s in (+1, -1):
                        for s2 in (+1, -1):
                            acc += cen[(i, l, s)] * cen[(j, l2, s2)] * T[idx[(l, s, i)]][idx[(l2, s2, j)]]
                    PP[i * q + l, j * q + l2] = acc / (alpha[i] * alpha[j])
    SS = arb_mat(n, n)
    for i in range(n):
        for j in range(n):
            SS[i, j] = (T[idx[(0, +1, i)]][idx[(0, +1, j)]] + T[idx[(0, -1, i)]][idx[(0, -1, j)]]) / (alpha[i] * alpha[j])
    S0 = None
    for i in range(n):
        v = agg["umax"][i] / alpha[i]
        S0 = v if S0 is None else S0.max(v)
    k = to_ball(kappa)
    F = [[k * (Sp[i][l] - Sn[i][l]) for l in range(q)] for i in range(n)]
    record = {"eps_exp": float(agg["eps_e"]), "eps_logits": float(agg["eps_z"]), "eps_u": float(agg["eps_u"]),
              "tau_cut": float(agg["tau"]), "cut": CUT, "k_dot": SUB, "k_block_sum": NSUB,
              "row_sum_levels": list(ROW_LEVELS), "d": X.shape[1]}
    return S0, F, PP, SS, record
