"""Infinite-width kernels (G5): the same call shape as the empirical NTK, ``(X1, X2=None, ...)``."""
from __future__ import annotations

import numpy as np

from ntkcheck import _validate as V
from ntkcheck._compile import compiled


def limit_kernel(X1, X2=None, sigma=1.0) -> np.ndarray:
    """K of G5, shape (n1, n2): K_ij = ⟨x_i,x_j⟩ exp(σ²⟨x_i,x_j⟩). The limit NTK is H* = K ⊗ I_{d_out}."""
    X1 = V.matrix(X1, "X1")
    X2 = X1 if X2 is None else V.matrix(X2, "X2", cols=X1.shape[1], cols_name="the columns of X1")
    sigma = V.positive_float(sigma, "sigma")
    return compiled("ntk_limit", "limit_kernel", "numpy")(X1 @ X2.T, sigma)


def limit_ntk(X1, X2=None, sigma=1.0, d_out=1) -> np.ndarray:
    """H* = K ⊗ I_{d_out}, ordered like :func:`ntkcheck.empirical_ntk` ((i, ℓ) row-major)."""
    d_out = V.positive_int(d_out, "d_out")
    return np.kron(limit_kernel(X1, X2, sigma), np.eye(d_out))
