"""mpmath twins of the network maps, for high-precision references.

They follow the *definitions* (the softmax as exp(z)/Σexp(z), with no max-subtraction: mpmath has no
overflow) and the compiled proofs/ expressions evaluated in mpmath, one scalar at a time.  They are slow
and meant for small sizes.

Centred signs.  a_{ℓ,r} − ⟨a_ℓ,S⟩ formed by subtraction loses about (logit range)/ln 10 digits when the
softmax mass sits on neurons of one sign (the result is ~e^{−range}, the terms ~1), and is never exactly 0
when all signs of a row are equal (Σ_k S_k = 1 only up to rounding).  The twins therefore put it over
the common denominator α = Σ_k u_k, u = exp(z):

    a_{ℓ,r} − ⟨a_ℓ,S⟩ = (a_{ℓ,r} α − Σ_k a_{ℓ,k} u_k)/α = Σ_k (a_{ℓ,r} − a_{ℓ,k}) u_k / α,

an exact rewriting of the definition (no use of Σ S = 1 in rounded arithmetic) whose terms, for ±1
signs, all have the sign of a_{ℓ,r}: relatively accurate at any logit gap, and exactly 0 for equal
signs.  It is not the formula of the float64 code (the ±1 mass split 2S₋ / −2S₊ of
ntkcheck.core.network.Softmax.centred).  ``definition=True`` (keyword-only, for cross-checks) uses the literal
subtraction S_r(a_r − ⟨a,S⟩) of the G1/G4 exports instead, at ``dps + ⌈range/ln 10⌉ + GUARD_DIGITS``
digits (range = max_i (max_r z_{i,r} − min_r z_{i,r})): the tests check the two routes agree.  Results
are rounded to ``dps`` digits: ``dps`` is the precision of the answer, not of the arithmetic.

Precision is always local: every computation runs inside ``mpmath.workdps(...)``; results are numpy
object arrays of ``mpf`` carrying ``dps`` digits.
"""
from __future__ import annotations

import math
import numbers

import mpmath
import numpy as np

from ntkcheck.core import validate as V
from ntkcheck.core.compile import compiled
from ntkcheck.core import activations as registry
from ntkcheck.core.kernels import closed_form_kernel_mp
from ntkcheck.core.network import Params, as_inputs

DEFAULT_DPS = 50
MIN_DPS = 15               # fewer digits than float64 carries make no reference
GUARD_DIGITS = 10
MAX_EXTRA_DIGITS = 20_000  # the most extra digits definition=True will use


def _mp(arr) -> list:
    """Exact conversion of a float array to nested lists of mpf (float64 values are exact in mpf)."""
    return np.vectorize(mpmath.mpf, otypes=[object])(np.asarray(arr, dtype=np.float64)).tolist()


def to_float(arr) -> np.ndarray:
    """Round an object array of mpf to float64."""
    return np.vectorize(float, otypes=[np.float64])(arr)


def _dps(dps) -> int:
    if isinstance(dps, bool) or not isinstance(dps, numbers.Integral) or dps < MIN_DPS:
        raise ValueError(f"dps must be an integer >= {MIN_DPS} (the digits of the reference), got {dps!r}")
    return int(dps)


def _extra_digits(params: Params, *Xs) -> int:
    """⌈logit range / ln 10⌉ + GUARD_DIGITS for the softmax network: the digits the subtraction
    a_{ℓ,r} − ⟨a_ℓ,S⟩ can cancel.  The range comes from float64 logits (their rounding is far inside the
    guard digits)."""
    with np.errstate(over="ignore", invalid="ignore"):
        span = max(float(np.max(np.ptp(X @ params.W, axis=1))) for X in Xs)
    if not np.isfinite(span) or span / math.log(10) > MAX_EXTRA_DIGITS:
        raise ValueError(f"definition=True: a logit range of {span:.3g} needs more than {MAX_EXTRA_DIGITS} "
                         "extra digits")
    return int(math.ceil(span / math.log(10))) + GUARD_DIGITS


def _round(arr: np.ndarray, dps: int) -> np.ndarray:
    """Entries rounded to ``dps`` digits (mpf's unary plus rounds to the working precision)."""
    with mpmath.workdps(dps):
        return np.array([+v for v in arr.ravel()], dtype=object).reshape(arr.shape)


def _work(params: Params, dps: int, definition: bool, *Xs) -> int:
    """Working digits for a twin evaluated on the inputs ``Xs``."""
    if definition and registry.get(params.activation).normalized:
        return dps + _extra_digits(params, *Xs)
    return dps + GUARD_DIGITS


def _features(params: Params, X, definition: bool = False):
    """Per sample: (Φ_i as a list over r, the tangent features P_i[ℓ][r] of G4, x_i, ⟨a_ℓ,S_i⟩)."""
    W, A = _mp(params.W), _mp(params.A)
    d, m, q = params.d, params.m, params.d_out
    act = registry.get(params.activation)
    out = []
    for x in _mp(X):
        zs = [mpmath.fsum(W[j][r] * x[j] for j in range(d)) for r in range(m)]
        if act.normalized:     # softmax: Φ = φ(z)/Σ_k φ(z_k) with φ = exp, by the definition
            u = [act.phi_mp(t) for t in zs]
            alpha = mpmath.fsum(u)
            S = [t / alpha for t in u]
            aS = [mpmath.fsum(A[l][r] * S[r] for r in range(m)) for l in range(q)]
            if definition:
                tf = compiled("ntk_factorization", "tangent_feature", "mpmath")
                P = [[tf(S[r], A[l][r], aS[l]) for r in range(m)] for l in range(q)]
            else:   # the centred sign over the common denominator α (module docstring)
                P = [[S[r] * mpmath.fsum((A[l][r] - A[l][k]) * u[k] for k in range(m)) / alpha for r in range(m)]
                     for l in range(q)]
            out.append((S, P, x, aS))
        else:
            Phi = [act.phi_mp(t) / m for t in zs]
            P = [[A[l][r] * act.dphi_mp(zs[r]) / m for r in range(m)] for l in range(q)]
            out.append((Phi, P, x, None))
    return out


def forward_mp(params: Params, X, kappa=None, dps: int = DEFAULT_DPS) -> np.ndarray:
    """F(W, X) at ``dps`` digits (an integer ≥ 15), shape (n, d_out), dtype object (mpf)."""
    X = as_inputs(params, X)
    dps = _dps(dps)
    with mpmath.workdps(dps + GUARD_DIGITS):
        F = _forward(params, X, kappa)
    return _round(F, dps)


def _forward(params: Params, X, kappa) -> np.ndarray:
    k = mpmath.mpf(V.kappa(kappa, params.m))
    A = _mp(params.A)
    rows = [[k * mpmath.fsum(A[l][r] * Phi[r] for r in range(params.m)) for l in range(params.d_out)]
            for Phi, _, _, _ in _features(params, X)]
    return np.array(rows, dtype=object)


def gradient_mp(params: Params, X, Y, kappa=None, dps: int = DEFAULT_DPS, *, definition: bool = False) -> np.ndarray:
    """∇_W L at ``dps`` digits, shape (d, m): Σ_{i,ℓ} e_{iℓ} ∂F_ℓ(x_i)/∂W[j,r] with the G1 entry."""
    X = as_inputs(params, X)
    Y = V.targets(Y, X, params.d_out)
    dps = _dps(dps)
    work = _work(params, dps, definition, X)
    d, m, q = params.d, params.m, params.d_out
    with mpmath.workdps(work):
        k = mpmath.mpf(V.kappa(kappa, params.m))
        F = _forward(params, X, kappa)
        Ymp = _mp(Y)
        feats = _features(params, X, definition)
        G = [[mpmath.mpf(0)] * m for _ in range(d)]
        if definition and registry.get(params.activation).normalized:
            jac = compiled("softmax_gradient", "jacobian_entry", "mpmath")
            A = _mp(params.A)
            for i, (S, _, x, aS) in enumerate(feats):
                for l in range(q):
                    e = F[i, l] - Ymp[i][l]
                    for r in range(m):
                        for j in range(d):
                            G[j][r] += e * jac(k, S[r], A[l][r], aS[l], x[j])
        else:
            for i, (_, P, x, _) in enumerate(feats):
                for l in range(q):
                    e = F[i, l] - Ymp[i][l]
                    for r in range(m):
                        for j in range(d):
                            G[j][r] += e * k * P[l][r] * x[j]
        G = np.array(G, dtype=object)
    return _round(G, dps)


def empirical_ntk_mp(params: Params, X1, X2=None, kappa=None, dps: int = DEFAULT_DPS, *,
                     definition: bool = False) -> np.ndarray:
    """H(W) at ``dps`` digits, (n1·d_out, n2·d_out), from the G4 entry ntk_scale · Σ_r P P."""
    X1 = as_inputs(params, X1, "X1")
    X2 = X1 if X2 is None else as_inputs(params, X2, "X2")
    dps = _dps(dps)
    work = _work(params, dps, definition, X1, X2)
    m, q = params.m, params.d_out
    with mpmath.workdps(work):
        k = mpmath.mpf(V.kappa(kappa, params.m))
        scale = compiled("ntk_factorization", "ntk_scale", "mpmath")
        f1, f2 = _features(params, X1, definition), _features(params, X2, definition)
        H = np.empty((len(f1) * q, len(f2) * q), dtype=object)
        for i, (_, P1, x1, _) in enumerate(f1):
            for j, (_, P2, x2, _) in enumerate(f2):
                s = scale(k, mpmath.mpf(m), mpmath.fsum(a * b for a, b in zip(x1, x2)))
                for l1 in range(q):
                    for l2 in range(q):
                        H[i * q + l1, j * q + l2] = s * mpmath.fsum(P1[l1][r] * P2[l2][r] for r in range(m))
    return _round(H, dps)


def limit_kernel_mp(X1, X2=None, sigma=1.0, dps: int = DEFAULT_DPS) -> np.ndarray:
    """K of G5 at ``dps`` digits (object array): the softmax closed form of
    :func:`ntkcheck.core.kernels.closed_form_kernel_mp`, with this module's precision rule (``dps`` ≥ 15).

    Parameters: ``X1`` (n1×d), ``X2`` (n2×d, default X1), ``sigma`` > 0, ``dps``.  Returns (n1, n2) mpf."""
    return closed_form_kernel_mp(X1, X2, sigma, "softmax", dps=_dps(dps))


def eigvalsh_mp(K, dps: int = 100) -> list:
    """Eigenvalues of a symmetric matrix (float or mpf entries, finite, square, exactly symmetric) at
    ``dps`` digits, ascending."""
    dps = _dps(dps)
    arr = np.asarray(K, dtype=object)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] < 1:
        raise ValueError(f"K must be a non-empty square matrix, got shape {arr.shape}")
    with mpmath.workdps(dps):
        try:
            rows = [[_real_mpf(v) for v in row] for row in arr]
        except (TypeError, ValueError):
            raise ValueError("K must hold finite real numbers (float or mpf)") from None
        if not all(mpmath.isfinite(v) for row in rows for v in row):
            raise ValueError("K contains non-finite value(s) (NaN or inf)")
        n = len(rows)
        bad = next(((i, j) for i in range(n) for j in range(i) if rows[i][j] != rows[j][i]), None)
        if bad is not None:
            raise ValueError(f"K must be symmetric: K[{bad[0]}, {bad[1]}] != K[{bad[1]}, {bad[0]}]")
        M = mpmath.matrix(rows)
        ev = mpmath.eigsy(M, eigvals_only=True)
        return sorted(ev[i] for i in range(M.rows))


def _real_mpf(v):
    if isinstance(v, (bool, np.bool_, str, bytes)) or isinstance(v, (complex, np.complexfloating, mpmath.mpc)):
        raise TypeError(v)
    return mpmath.mpf(v)
