"""Synthetic data sets used by the checks and experiments (seeded, so reproducible)."""
from __future__ import annotations

import numpy as np

from ntkcheck.core import validate as V


def sphere(n: int, d: int, seed: int = 0) -> np.ndarray:
    """n points uniform on the unit sphere S^{d-1} (satisfies (A2) almost surely)."""
    n, d = V.positive_int(n, "n"), V.positive_int(d, "d")
    X = np.random.default_rng(seed).standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def ball(n: int, d: int, seed: int = 0) -> np.ndarray:
    """n points uniform in the closed unit ball (satisfies (A1))."""
    rng = np.random.default_rng(seed)
    X = sphere(n, d, seed=int(rng.integers(2**31)))
    return X * rng.random((n, 1)) ** (1.0 / d)


def labels(n: int, d_out: int, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    """Labels uniform in [−scale, scale]^{d_out}."""
    n, d_out = V.positive_int(n, "n"), V.positive_int(d_out, "d_out")
    scale = V.positive_float(scale, "scale")
    return scale * np.random.default_rng(seed).uniform(-1.0, 1.0, size=(n, d_out))
