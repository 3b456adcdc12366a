"""D1, the forward (Ornstein–Uhlenbeck) process of the diffusion application (the book's D1 chapter):
a_t = e^{−t}, s_t² = 1 − e^{−2t}, and X_t = a_t X_0 + s_t ξ, compiled from proofs/forward_process.py."""
from __future__ import annotations

import numpy as np

from ntkcheck.core import validate as V
from ntkcheck.core.compile import compiled


def as_time(t) -> float:
    """t as a float > 0: at t = 0 the noise scale s_t is 0 and the labels −ξ/s_t are undefined."""
    if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)):
        raise ValueError(f"t must be a real number > 0, got {t!r}")
    t = float(t)
    if not np.isfinite(t) or t <= 0:
        raise ValueError(f"t must be finite and > 0 (s_t = 0 at t = 0: no noise, no score), got {t!r}")
    return t


def mean_scale(t) -> float:
    """a_t = e^{−t} (D1)."""
    return float(compiled("forward_process", "mean_scale", "numpy")(as_time(t)))


def noise_var(t) -> float:
    """s_t² = 1 − e^{−2t}, evaluated as −expm1(−2t) (D1)."""
    return float(compiled("forward_process", "noise_var", "numpy")(as_time(t)))


def forward_sample(x0, t, rng) -> tuple[np.ndarray, np.ndarray]:
    """(X_t, ξ) with X_t = a_t x0 + s_t ξ, ξ ~ N(0, I) (D1); x0 of shape (n, d)."""
    x0 = V.matrix(x0, "x0")
    t = as_time(t)
    xi = np.random.default_rng(rng).standard_normal(x0.shape)
    return mean_scale(t) * x0 + np.sqrt(noise_var(t)) * xi, xi
