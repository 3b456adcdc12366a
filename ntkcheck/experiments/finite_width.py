"""The finite-width experiment: how far the NTK of a finite network at initialization is from its
infinite-width limit, over widths and draws, and the log-log slope of that distance in m (the G5 and
Beyond-softmax chapters: −1/2 once m is large, a Monte Carlo error over m neurons).
"""
from __future__ import annotations

import math

import numpy as np

from ntkcheck.core import activations as registry
from ntkcheck.core import validate as V
from ntkcheck.core.kernels import DEFAULT_TOL, init_ntk_errors, limit_ntk


def finite_width_errors(X, widths, sigma=1.0, activation="softmax", d_out=1, seeds=10, scheme="iid",
                        tol=DEFAULT_TOL) -> dict:
    """‖H(W(0)) − K_φ ⊗ I‖₂ / ‖K_φ ⊗ I‖₂ over ``seeds`` initializations at each width in ``widths``
    (κ = m), for ``init_params(d, m, d_out, sigma, scheme, seed=s, activation)``, s = 0 … seeds − 1.

    Parameters: ``X`` (n×d data), ``widths`` (positive ints), ``sigma``, ``activation`` (a registered
    name), ``d_out``, ``seeds`` (the number of draws per width), ``scheme`` ("iid" or "symmetric"),
    ``tol`` (the limit kernel's quadrature accuracy).

    Returns a dict with ``m`` (the widths), ``errors`` (len(widths) × seeds), ``mean`` and ``stderr`` of
    the relative error at each width, and ``slope``, the least-squares slope of log(mean) against log(m)
    (−1/2 expected once m is large enough: the error is a Monte Carlo error over m neurons)."""
    X = V.matrix(X, "X")
    act = registry.get(activation).name
    d_out = V.positive_int(d_out, "d_out")
    seeds = V.positive_int(seeds, "seeds")
    widths = [V.positive_int(m, "width") for m in widths]
    if not widths:
        raise ValueError("widths must not be empty")
    Hstar = limit_ntk(X, None, sigma, d_out, act, tol)
    scale = np.linalg.norm(Hstar, 2)
    errs = init_ntk_errors(X, Hstar, widths, seeds, lambda k, s: s, sigma, d_out, scheme, act) / scale
    mean = errs.mean(axis=1)
    stderr = errs.std(axis=1, ddof=1) / math.sqrt(seeds) if seeds > 1 else np.full(len(widths), np.nan)
    slope = float(np.polyfit(np.log(widths), np.log(mean), 1)[0]) if len(widths) > 1 else float("nan")
    return {"m": np.array(widths), "errors": errs, "mean": mean, "stderr": stderr, "slope": slope}
