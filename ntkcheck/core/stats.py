"""Small statistics used by the checks: log-log slope fits with confidence intervals, binomial bounds."""
from __future__ import annotations

import numpy as np
from scipy import stats


def loglog_slope(x, y, level: float = 0.95) -> dict:
    """Least-squares slope of log y against log x with a t-interval; y must be positive."""
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    if len(lx) < 3:
        raise ValueError("a slope with a confidence interval needs at least 3 points")
    res = stats.linregress(lx, ly)
    t = stats.t.ppf(0.5 + level / 2, len(lx) - 2)
    return {"slope": float(res.slope), "ci": [float(res.slope - t * res.stderr), float(res.slope + t * res.stderr)],
            "intercept": float(res.intercept), "level": level}


def binomial_upper(k: int, n: int, level: float = 0.95) -> float:
    """One-sided Clopper–Pearson upper confidence bound for a frequency k/n."""
    if k >= n:
        return 1.0
    return float(stats.beta.ppf(level, k + 1, n - k))


def binomial_lower(k: int, n: int, level: float = 0.95) -> float:
    """One-sided Clopper–Pearson lower confidence bound for a frequency k/n."""
    if k <= 0:
        return 0.0
    return float(stats.beta.ppf(1 - level, k, n - k + 1))
