"""D6, score generalization (the book's D6 chapter): the score error with its confidence interval, and
the two-dimensional pictures' pieces (one network per time, the probability-flow ODE, energy distance,
mode fractions)."""
from __future__ import annotations

import numpy as np

from ntkcheck.core import validate as V
from ntkcheck.core.compile import compiled
from ntkcheck.experiments.diffusion.d2_gmm import Mixture, as_points
from ntkcheck.experiments.diffusion.d3_dsm import denoising_data
from ntkcheck.experiments.diffusion.d4_lift import choose_rho
from ntkcheck.experiments.diffusion.learners import OVER_TIME, NetworkFit, fit_network
from ntkcheck.seeds import derived_seed


def score_error(predict, mix: Mixture, t, x_eval=None, n_eval: int = 4000, seed: int = 12345,
                z: float = 1.96) -> dict:
    """E_{x~p_t}‖ŝ(x) − ∇log p_t(x)‖² by Monte Carlo on fresh points (``x_eval``, or n_eval draws of p_t),
    with the CLT interval mean ± z·sd/√N (D6).  ``predict`` maps (n, d) points to (n, d) scores."""
    x = mix.sample_t(n_eval, t, seed) if x_eval is None else as_points(x_eval, mix.d, "x_eval")
    sq = np.sum((np.asarray(predict(x)) - mix.score(x, t)) ** 2, axis=1)
    mean, sd = float(sq.mean()), float(sq.std(ddof=1))
    hw = float(compiled("score_generalization", "ci_halfwidth", "numpy")(z, sd, len(sq)))
    return {"mean": mean, "ci": [mean - hw, mean + hw], "sd": sd, "n_eval": len(sq)}


def time_grid(t_min=0.05, t_max=2.5, count=10) -> np.ndarray:
    """A geometric grid of diffusion times, increasing."""
    lo, hi = V.positive_float(t_min, "t_min"), V.positive_float(t_max, "t_max")
    return np.geomspace(lo, hi, V.positive_int(count, "count", 2))


def train_over_time(mix: Mixture, times, n=512, n_val=256, m=512, sigma=1.5, delta=1e-2, steps=1500,
                    record_every=10, seed=0, progress=None) -> list[NetworkFit]:
    """One early-stopped network per time of ``times`` (the simplest honest design: no time conditioning),
    each on its own n denoising pairs and held-out set at that time, lifted with its own ρ.

    Parameters: ``mix``, ``times`` (increasing), the sizes ``n``, ``n_val``, ``m``, ``sigma``, ``delta``,
    ``steps``, ``record_every`` as in :func:`~ntkcheck.experiments.diffusion.fit_network`; ``seed`` the
    user's seed (each time's data and init derive from it through :mod:`ntkcheck.seeds`);
    ``progress(fraction)`` or None.  Returns: one :class:`NetworkFit` per time."""
    fits = []
    for j, t in enumerate(times):
        tr = denoising_data(mix, n, t, seed=derived_seed(seed, "diffusion.data", OVER_TIME, j, 0))
        va = denoising_data(mix, n_val, t, seed=derived_seed(seed, "diffusion.data", OVER_TIME, j, 1))
        rho = choose_rho(mix, t, delta).rho
        fits.append(fit_network(tr.x, tr.y, va.x, va.y, rho, m=m, sigma=sigma,
                                seed=derived_seed(seed, "diffusion.init", OVER_TIME, j), steps=steps,
                                record_every=record_every))
        if progress is not None:
            progress((j + 1) / len(times))
    return fits


def flow_samples(score_at, times, d: int, n_samples=1000, seed=0) -> np.ndarray:
    """Samples from the probability-flow ODE dx/dt = −x − ∇log p_t(x) (OU time, D1), integrated from
    times[-1] down to times[0] by Heun's method on the grid ``times`` itself, starting from N(0, I_d).

    ``score_at(j, x)`` is the score at times[j] (a learned network or the true score), so a learned score is
    only evaluated at the times it was trained at.  Returns the samples at times[0], shape (n_samples, d)."""
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or len(times) < 2 or np.any(np.diff(times) <= 0):
        raise ValueError("times must be an increasing 1-D grid with at least two times")
    x = np.random.default_rng(seed).standard_normal((V.positive_int(n_samples, "n_samples"), V.positive_int(d, "d")))
    for j in range(len(times) - 1, 0, -1):
        h = times[j - 1] - times[j]                    # < 0: backwards in time
        k1 = -x - score_at(j, x)
        xe = x + h * k1
        k2 = -xe - score_at(j - 1, xe)
        x = x + 0.5 * h * (k1 + k2)
    return x


def energy_distance(a, b) -> float:
    """The energy distance 2E‖A − B‖ − E‖A − A'‖ − E‖B − B'‖ between two samples (V-statistics)."""
    from scipy.spatial.distance import cdist

    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(2 * cdist(a, b).mean() - cdist(a, a).mean() - cdist(b, b).mean())


def mode_fractions(x, mix: Mixture) -> np.ndarray:
    """The fraction of points whose nearest mean (of p_0) is μ_k, for each k."""
    k = np.argmin(np.sum((np.asarray(x)[:, None, :] - mix.means[None]) ** 2, axis=2), axis=1)
    return np.bincount(k, minlength=mix.K) / len(k)
