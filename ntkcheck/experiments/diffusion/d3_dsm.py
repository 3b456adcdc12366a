"""D3, denoising score matching (the book's D3 chapter): the noisy-label pairs (X_t, −ξ/s_t) whose
regression function is the score (Tweedie)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ntkcheck.core.compile import compiled
from ntkcheck.experiments.diffusion.d1_forward import as_time, forward_sample
from ntkcheck.experiments.diffusion.d2_gmm import Mixture


@dataclass(frozen=True)
class DenoisingData:
    """Denoising score matching pairs (D3): ``x`` = X_t (n, d), ``y`` = −ξ/s_t (n, d), with ``x0`` and ``xi``."""

    x: np.ndarray
    y: np.ndarray
    x0: np.ndarray
    xi: np.ndarray
    t: float


def denoising_data(mix: Mixture, n: int, t, seed=0) -> DenoisingData:
    """n noisy pairs (X_t, −ξ/s_t) with X_0 ~ p_0: E[y | x] = ∇log p_t(x) (Tweedie, D3)."""
    if not isinstance(mix, Mixture):
        raise ValueError(f"mix must be a Mixture (see ntkcheck.experiments.diffusion.mixture), got {type(mix).__name__}")
    t = as_time(t)
    rng = np.random.default_rng(seed)
    x0 = mix.sample(n, rng)
    x, xi = forward_sample(x0, t, rng)
    y = compiled("tweedie_dsm", "label", "numpy")(xi, t)
    return DenoisingData(x=x, y=y, x0=x0, xi=xi, t=t)
