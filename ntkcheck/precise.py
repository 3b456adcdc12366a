"""mpmath twins of the network maps, for high-precision references.

They follow the *definitions* (the softmax as exp(z)/Σexp(z), with no max-subtraction: mpmath has no
overflow) and the compiled proofs/ expressions evaluated in mpmath, one scalar at a time.  They are slow
and meant for small sizes.  Precision is always local: every computation runs inside
``mpmath.workdps(dps)``; results are numpy object arrays of ``mpf`` carrying that precision.
"""
from __future__ import annotations

import mpmath
import numpy as np

from ntkcheck import _validate as V
from ntkcheck._compile import compiled
from ntkcheck.network import Params, _check, get_activation

DEFAULT_DPS = 50


def _mp(arr) -> list:
    """Exact conversion of a float array to nested lists of mpf (float64 values are exact in mpf)."""
    return np.vectorize(mpmath.mpf, otypes=[object])(np.asarray(arr, dtype=np.float64)).tolist()


def to_float(arr) -> np.ndarray:
    """Round an object array of mpf to float64."""
    return np.vectorize(float, otypes=[np.float64])(arr)


def _kappa(params: Params, kappa):
    return mpmath.mpf(params.m) if kappa is None else mpmath.mpf(V.positive_float(kappa, "kappa"))


def _features(params: Params, X):
    """Per sample: (Φ_i as a list over r, and the tangent features P_i[ℓ][r] of G4)."""
    W, A = _mp(params.W), _mp(params.A)
    d, m, q = params.d, params.m, params.d_out
    out = []
    for x in _mp(X):
        zs = [mpmath.fsum(W[j][r] * x[j] for j in range(d)) for r in range(m)]
        if params.activation == "softmax":
            tf = compiled("ntk_factorization", "tangent_feature", "mpmath")
            u = [mpmath.exp(t) for t in zs]
            alpha = mpmath.fsum(u)
            S = [t / alpha for t in u]
            aS = [mpmath.fsum(A[l][r] * S[r] for r in range(m)) for l in range(q)]
            P = [[tf(S[r], A[l][r], aS[l]) for r in range(m)] for l in range(q)]
            out.append((S, P, x, aS))
        else:
            get_activation(params.activation)
            phi = compiled("activations", f"phi_{params.activation}", "mpmath")
            dphi = compiled("activations", f"dphi_{params.activation}", "mpmath")
            Phi = [phi(t) / m for t in zs]
            P = [[A[l][r] * dphi(zs[r]) / m for r in range(m)] for l in range(q)]
            out.append((Phi, P, x, None))
    return out


def forward_mp(params: Params, X, kappa=None, dps: int = DEFAULT_DPS) -> np.ndarray:
    """F(W, X) at ``dps`` digits, shape (n, d_out), dtype object (mpf)."""
    X = _check(params, X)
    with mpmath.workdps(dps):
        k = _kappa(params, kappa)
        A = _mp(params.A)
        rows = [[k * mpmath.fsum(A[l][r] * Phi[r] for r in range(params.m)) for l in range(params.d_out)]
                for Phi, _, _, _ in _features(params, X)]
    return np.array(rows, dtype=object)


def gradient_mp(params: Params, X, Y, kappa=None, dps: int = DEFAULT_DPS) -> np.ndarray:
    """∇_W L at ``dps`` digits, shape (d, m): Σ_{i,ℓ} e_{iℓ} ∂F_ℓ(x_i)/∂W[j,r] with the G1 entry."""
    X = _check(params, X)
    Y = V.matrix(Y, "Y", cols=params.d_out, cols_name="d_out")
    if Y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but Y has {Y.shape[0]}")
    d, m, q = params.d, params.m, params.d_out
    with mpmath.workdps(dps):
        k = _kappa(params, kappa)
        F = forward_mp(params, X, kappa, dps)
        Ymp = _mp(Y)
        feats = _features(params, X)
        G = [[mpmath.mpf(0)] * m for _ in range(d)]
        if params.activation == "softmax":
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
    return np.array(G, dtype=object)


def empirical_ntk_mp(params: Params, X1, X2=None, kappa=None, dps: int = DEFAULT_DPS) -> np.ndarray:
    """H(W) at ``dps`` digits, (n1·d_out, n2·d_out), from the G4 entry ntk_scale · Σ_r P P."""
    X1 = _check(params, X1, "X1")
    X2 = X1 if X2 is None else _check(params, X2, "X2")
    m, q = params.m, params.d_out
    with mpmath.workdps(dps):
        k = _kappa(params, kappa)
        scale = compiled("ntk_factorization", "ntk_scale", "mpmath")
        f1, f2 = _features(params, X1), _features(params, X2)
        H = np.empty((len(f1) * q, len(f2) * q), dtype=object)
        for i, (_, P1, x1, _) in enumerate(f1):
            for j, (_, P2, x2, _) in enumerate(f2):
                s = scale(k, mpmath.mpf(m), mpmath.fsum(a * b for a, b in zip(x1, x2)))
                for l1 in range(q):
                    for l2 in range(q):
                        H[i * q + l1, j * q + l2] = s * mpmath.fsum(P1[l1][r] * P2[l2][r] for r in range(m))
    return H


def limit_kernel_mp(X1, X2=None, sigma=1.0, dps: int = DEFAULT_DPS) -> np.ndarray:
    """K of G5 at ``dps`` digits (object array)."""
    X1 = V.matrix(X1, "X1")
    X2 = X1 if X2 is None else V.matrix(X2, "X2", cols=X1.shape[1])
    V.positive_float(sigma, "sigma")
    kern = compiled("ntk_limit", "limit_kernel", "mpmath")
    with mpmath.workdps(dps):
        s = mpmath.mpf(sigma)
        a, b = _mp(X1), _mp(X2)
        return np.array([[kern(mpmath.fsum(p * q for p, q in zip(x, y)), s) for y in b] for x in a],
                        dtype=object)


def eigvalsh_mp(K, dps: int = 100) -> list:
    """Eigenvalues of a symmetric matrix (float or mpf entries) at ``dps`` digits, ascending."""
    with mpmath.workdps(dps):
        M = mpmath.matrix([[mpmath.mpf(v) for v in row] for row in np.asarray(K, dtype=object)])
        ev = mpmath.eigsy(M, eigvals_only=True)
        return sorted(ev[i] for i in range(M.rows))
