"""C3 certified-width: with a C2 certificate per draw, the smallest width m (on a given grid) at which T1'
is *proved* for at least a fraction 1 − δ of the draws, at a stated confidence (one-sided Clopper–Pearson
over the draws).

Each success is a proof about its own draw (exact-arithmetic GD from that W(0) converges linearly); the
probability over the initialization is a statistical statement about the draws, and is labelled so.  The
draws are ``init_params(d, m, d', σ, scheme, seed=seed0 + j)``, j < K.
"""
from __future__ import annotations

import math
import time

import numpy as np

from ntkcheck.core import validate as V
from ntkcheck.certify.convergence import certify_convergence
from ntkcheck.core.stats import binomial_lower


def draws_needed(delta: float, level: float) -> int:
    """The fewest draws K for which K proofs out of K give a Clopper–Pearson lower bound ≥ 1 − δ."""
    return max(1, math.ceil(math.log(1 - level) / math.log(1 - delta) - 1e-12))


def certified_width(X, Y, sigma: float, widths, *, delta: float = 0.2, level: float = 0.95, draws: int | None = None,
                    seed0: int = 10_000, scheme: str = "symmetric", progress=None) -> dict:
    """C3: the certified width on a grid, from one C2 certificate per draw.

    Parameters: ``X`` (n, d) data with ‖x_i‖₂ ≤ 1 exactly ((A1); ValueError otherwise), ``Y`` (n, d') labels,
    ``sigma`` the init scale, ``widths`` ascending even ints (the grid), ``delta`` the failure fraction δ,
    ``level`` the Clopper–Pearson confidence, ``draws`` draws per width (default :func:`draws_needed`, the
    fewest that can pass), ``seed0`` draw j is ``init_params(d, m, d', σ, scheme, seed=seed0 + j)`` (the width
    experiment passes a seed0 derived by ``ntkcheck.seeds`` for the purpose "certify.init": its C3 draws are
    their own, not the streamed draws of its sampled m_cert, so the two widths compare as two samples of the
    same law, not draw by draw), ``scheme`` the init, ``progress`` an optional
    callback(m, j, K).

    For each m (ascending) T1' is certified on K draws.  A width passes when the lower confidence bound of
    the proved fraction is ≥ 1 − δ; widths after the first pass are not evaluated.
    Returns a dict: ``m_cert`` (the first passing width, None if none passes), ``rows`` (per width: m,
    draws, proved, lower_bound, passes, not_holding = {hypothesis: draws where it did not hold}),
    ``delta``, ``level``, ``draws_per_width``, ``seed0``, ``scheme``, ``sigma``, ``n``, ``d``, ``d_out``,
    ``seconds`` and ``meaning`` (what is proved and what is statistical)."""
    X, Y = V.matrix(X, "X"), V.matrix(Y, "Y")
    sigma = V.positive_float(sigma, "sigma")
    if not (0 < delta < 1 and 0 < level < 1):
        raise ValueError(f"delta and level must lie in (0, 1), got {delta}, {level}")
    widths = [V.positive_int(w, "width", minimum=2) for w in widths]
    if widths != sorted(widths):
        raise ValueError("widths must be ascending")
    K = draws_needed(delta, level) if draws is None else V.positive_int(draws, "draws")
    t0 = time.perf_counter()
    rows, m_cert = [], None
    for m in widths:
        proved, failing = 0, {}
        for j in range(K):
            r = certify_convergence(X, Y, m, sigma, seed0 + j, scheme=scheme, gd_steps=0)
            if r["proved"]:
                proved += 1
            for name, h in r["hypotheses"].items():
                if h["verdict"] != "holds":
                    failing[name] = failing.get(name, 0) + 1
            if progress is not None:
                progress(m, j + 1, K)
        lb = binomial_lower(proved, K, level)
        rows.append({"m": m, "draws": K, "proved": proved, "lower_bound": lb, "passes": lb >= 1 - delta,
                     "not_holding": failing})
        if lb >= 1 - delta:
            m_cert = m
            break
    return {"m_cert": m_cert, "delta": delta, "level": level, "draws_per_width": K, "seed0": seed0,
            "scheme": scheme, "sigma": sigma, "n": X.shape[0], "d": X.shape[1], "d_out": Y.shape[1],
            "rows": rows, "seconds": time.perf_counter() - t0,
            "meaning": ("each proved draw is a theorem about exact-arithmetic GD from that W(0); 'passes' is a "
                        f"statistical statement: with confidence {level}, T1' is provable for a fraction ≥ "
                        f"1 − {delta} of initializations at that width")}
