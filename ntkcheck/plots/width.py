"""The width experiment's figure (:class:`ntkcheck.experiments.width.WidthResult`): the widths against n on log–log
axes, and the λ-normalized widths beside them.

``plot(result, folder)`` writes ``folder/width.png``; the panels are :func:`draw_widths` and
:func:`draw_normalized`.  matplotlib's object-oriented API only: no backend switch, no pyplot state, no
rcParams."""
from __future__ import annotations

from pathlib import Path

import numpy as np

LABELS = {"m_emp": "m_emp", "m_lazy": "m_lazy", "m_cert_T1p": "m_cert T1'", "m_cert_T1": "m_cert T1",
          "m_cert_T1_B7": "m_cert T1-B7", "m_cert_T1_B1B7": "m_cert T1-B1B7", "m_cert_C3": "m_cert C3 (proved draws)"}
STYLES = {"m_emp": "-", "m_lazy": "-.", "m_cert_T1p": "--", "m_cert_T1": ":", "m_cert_T1_B7": (0, (3, 1, 1, 1)),
          "m_cert_T1_B1B7": (0, (1, 4)), "m_cert_C3": "none"}
MARKERS = {"softmax": "o", "exp": "s", "relu": "^", "sigmoid": "v", "tanh": "D", "swish": "P"}
COLORS = {"m_emp": "C0", "m_lazy": "C1", "m_cert_T1p": "C2", "m_cert_T1": "C3", "m_cert_T1_B7": "C4",
          "m_cert_T1_B1B7": "C5", "m_cert_C3": "k"}


def _typed(result):
    from ntkcheck.experiments.width import WidthResult

    return result if isinstance(result, WidthResult) else WidthResult.from_json(result)


def _slope(result, act, col):
    try:
        f = result.fit(act, col)
    except KeyError:
        return ""
    return "" if f.slope is None else f", slope {f.slope:.2f}"


def draw_widths(result, ax) -> None:
    """Every width column against n (log–log), one marker per activation, with an n² guide line (the
    paper's exponent) through the softmax m_lazy (or m_emp) points; an unfinished search (``pending``) is
    drawn as an up arrow at its lower bound (the largest width that failed) and, once a width passed, a
    down arrow there (its upper bound).

    Parameters: ``result`` a WidthResult (or its JSON dict); ``ax`` a matplotlib Axes.  Returns None."""
    result = _typed(result)
    from ntkcheck.experiments.width import COLUMNS

    acts = list(dict.fromkeys(r.activation for r in result.rows))
    for act in acts:
        for col in COLUMNS:
            pts = sorted((r.n, getattr(r, col)) for r in result.rows if r.activation == act and getattr(r, col))
            if not pts:
                continue
            ns, ms = zip(*pts)
            ax.loglog(ns, ms, marker=MARKERS.get(act, "x"), linestyle=STYLES[col], color=COLORS[col],
                      markersize=6 if act == "softmax" else 4, label=f"{act} {LABELS[col]}{_slope(result, act, col)}")
    bounds = [(r.n, s.lower_bound, col) for r in result.rows for col, s in r.searches.items()
              if s.pending is not None and s.lower_bound is not None and col in COLORS]
    for i, (n, lb, col) in enumerate(sorted(bounds)):
        ax.scatter([n], [lb], marker="$\\uparrow$", s=160, color=COLORS[col], zorder=3,
                   label="width > this (search unfinished)" if i == 0 else None)
    tops = [(r.n, s.upper_bound, col) for r in result.rows for col, s in r.searches.items()
            if s.pending is not None and s.upper_bound is not None and col in COLORS]
    for i, (n, ub, col) in enumerate(sorted(tops)):
        ax.scatter([n], [ub], marker="$\\downarrow$", s=160, color=COLORS[col], zorder=3,
                   label="width ≤ this (it passed; search unfinished)" if i == 0 else None)
    guide = [(r.n, r.m_lazy or r.m_emp) for r in result.rows if r.activation == acts[0] and (r.m_lazy or r.m_emp)]
    if len(guide) >= 2:
        ns = np.array([g[0] for g in guide], float)
        ms = np.array([g[1] for g in guide], float)
        ref = np.exp(np.mean(np.log(ms)) - 2 * np.mean(np.log(ns)))
        grid = np.geomspace(ns.min(), ns.max(), 20)
        ax.loglog(grid, ref * grid**2, color="gray", linewidth=1, label="∝ n² (paper)")
    cfg = result.config
    ax.set_xlabel("n (training points)")
    ax.set_ylabel("width m")
    ax.set_title(f"widths: sphere data, d = {'n' if cfg.d is None else cfg.d}, symmetric init, κ = m, "
                 f"σ = {cfg.sigma:g}, ε = {cfg.eps:g}, δ = {cfg.delta:g}", fontsize=8)
    ax.legend(fontsize=6, ncol=1, loc="center right")   # large n at mid-height widths: empty
    ax.grid(True, which="both", alpha=0.3)


def draw_normalized(result, ax) -> None:
    """m·λ² against n (λ = λ_min(K_φ)) for m_emp and the certified widths, and m_lazy·λ₀² (λ₀ =
    λ_min(H(W(0))) at m_lazy): the paper's width is λ^{−2}n^{2+o(1)}, so these slopes go beside 2.

    Parameters: ``result`` a WidthResult (or its JSON dict); ``ax`` a matplotlib Axes.  Returns None."""
    result = _typed(result)
    from ntkcheck.experiments.width import COLUMNS

    for act in dict.fromkeys(r.activation for r in result.rows):
        mine = [r for r in result.rows if r.activation == act]
        for col in COLUMNS:
            if col == "m_lazy":
                pts, key = [(r.n, r.m_lazy_lam0_sq) for r in mine if r.m_lazy_lam0_sq], "m_lazy·λ₀²"
            elif col == "m_cert_C3":
                continue
            else:
                pts, key = [(r.n, getattr(r, col) * r.lam**2) for r in mine if getattr(r, col)], f"{col}·λ²"
            if not pts:
                continue
            ns, vs = zip(*sorted(pts))
            ax.loglog(ns, vs, marker=MARKERS.get(act, "x"), linestyle=STYLES[col], color=COLORS[col],
                      markersize=6 if act == "softmax" else 4,
                      label=f"{act} {LABELS[col]}·λ{'₀' if col == 'm_lazy' else ''}²{_slope(result, act, key)}")
    ax.set_xlabel("n (training points)")
    ax.set_ylabel("m·λ²")
    ax.set_title("widths normalized by the kernel's conditioning", fontsize=8)
    ax.legend(fontsize=6, ncol=1)
    ax.grid(True, which="both", alpha=0.3)


def plot(result, folder) -> list[Path]:
    """Write ``folder/width.png`` (the two panels side by side).

    Parameters: ``result`` a WidthResult (or its JSON dict); ``folder`` an existing folder.  Returns the
    list of paths written."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install matplotlib (or pip install -e '.[book]')") from None
    result = _typed(result)
    fig = Figure(figsize=(13, 5.5))
    draw_widths(result, fig.add_subplot(1, 2, 1))
    draw_normalized(result, fig.add_subplot(1, 2, 2))
    fig.tight_layout()
    path = Path(folder) / "width.png"
    fig.savefig(path, dpi=110)
    return [path]
