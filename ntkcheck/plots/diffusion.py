"""The figures of the diffusion experiment (:func:`ntkcheck.experiments.diffusion.run`, ``ntkcheck diffusion
--plot-dir``): the score error against n (D6), tracking against m (D5), and with the two-dimensional pictures
the score fields and the probability-flow ODE samples.

``plot(result, folder)`` writes them; each panel is a ``draw_<name>(result, ax)``.  matplotlib is imported
here, inside the functions (the core install has none), through its object-oriented API: no backend is
chosen and no global state (pyplot, rcParams) is touched, so a notebook's settings stay as they were.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

FIGURES = ("diffusion_error_vs_n.png", "diffusion_tracking.png", "diffusion_score_field.png",
           "diffusion_flow_samples.png")

_ERROR_SERIES = (("error_nn", "softmax network (early-stopped GD)", "o-"),
                 ("error_kernel", "kernel regression with H*", "s-"),
                 ("error_affine", "best affine fit (reference)", "^:"),
                 ("error_trivial", "trivial (label mean)", "x--"))
_TRACKING_SERIES = (("star_train", "H*, training points", "o-"), ("star_fresh", "H*, fresh points", "o--"),
                    ("emp_train", "H(W(0)), training points", "s-"), ("emp_fresh", "H(W(0)), fresh points", "s--"))


def _figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=100)


def _save(fig, path: Path, tight: bool = True) -> Path:
    """Write ``fig`` to ``path`` (PNG); returns the path."""
    if tight:
        fig.tight_layout()
    fig.savefig(path)
    return path


def draw_error_vs_n(result, ax) -> None:
    """The score error against n: the mean over seeds (line), each seed (dots) with its Monte Carlo
    interval, and the fitted power law of the network's error (D6).

    Parameters: ``result`` a :func:`~ntkcheck.experiments.diffusion.run` result; ``ax`` a matplotlib Axes.
    Returns: None (draws on ``ax``)."""
    rows, runs, f = result.rows, result.runs, result.fit.error_nn
    n = np.array([r.n for r in rows])
    for c, (key, label, style) in enumerate(_ERROR_SERIES):
        ax.plot(n, [getattr(r, key) for r in rows], style, color=f"C{c}", label=label, ms=4)
        rn = np.array([r.n for r in runs], dtype=float) * (1 + 0.03 * (c - 1.5))   # a small offset per series
        y = np.array([getattr(r, key) for r in runs])
        ci = np.array([getattr(r, f"{key}_ci") for r in runs], dtype=float)
        ax.errorbar(rn, y, yerr=[y - ci[:, 0], ci[:, 1] - y], fmt=".", color=f"C{c}", alpha=0.5, capsize=2, ms=3)
    ax.plot(n, np.exp(f.intercept) * n ** f.slope, color="0.5", lw=0.8,
            label=f"fit: slope {f.slope:.2f} [{f.ci[0]:.2f}, {f.ci[1]:.2f}]")
    ax.set(xscale="log", yscale="log", xlabel="n (training pairs)", ylabel="E‖ŝ − ∇log p_t‖²",
           title=f"score error at t = {result.settings.t:g} (D6)")
    ax.legend(fontsize=7)


def draw_tracking(result, ax) -> None:
    """max_k RMS ‖f_NN(·; k) − f_lin(·; k)‖ against m, with H* and H(W(0)), on training and fresh points (D5).

    Parameters: ``result`` a run result; ``ax`` a matplotlib Axes.  Returns: None."""
    trk = result.tracking
    ms = np.array([r.m for r in trk.per_m])
    for key, label, style in _TRACKING_SERIES:
        s = getattr(trk.slopes, key).slope
        ax.plot(ms, [getattr(r, f"max_{key}") for r in trk.per_m], style, label=f"{label} (slope {s:.2f})", ms=4)
    ax.set(xscale="log", yscale="log", xlabel="m", ylabel="max_k RMS ‖f_NN(·;k) − f_lin(·;k)‖",
           title=f"tracking the linearized predictor (D5), n = {trk.n}")
    ax.legend(fontsize=7)


def draw_score_field(result, ax, key: str = "network"):
    """One score field at the pictures' time: ``key`` "true", "network" or "kernel"; a learned field is
    shaded by its distance to the true one.

    Parameters: ``result`` a run result with pictures; ``ax`` a matplotlib Axes; ``key`` the field.
    Returns: the contour set of the shading (None for the true field)."""
    fld = result.pictures.field
    g = np.asarray(fld.grid)
    X, Y = np.meshgrid(g, g)
    true = np.asarray(fld.true)
    levels = np.linspace(0, max(1e-12, float(np.quantile(np.sqrt(np.sum(true**2, axis=1)), 0.9))), 11)
    titles = {"true": "true ∇log p_t", "network": f"softmax network (n = {result.rows[-1].n})",
              "kernel": "kernel regression with H*"}
    F = np.asarray(getattr(fld, key))
    im = None
    if key != "true":
        err = np.sqrt(np.sum((F - true) ** 2, axis=1)).reshape(X.shape)
        im = ax.contourf(X, Y, err, levels=levels, cmap="Oranges", extend="max")
    ax.streamplot(X, Y, F[:, 0].reshape(X.shape), F[:, 1].reshape(X.shape), color="C0", density=0.9,
                  linewidth=0.7, arrowsize=0.7)
    ax.set(title=titles[key], aspect="equal", xlim=(g[0], g[-1]), ylim=(g[0], g[-1]))
    return im


def draw_flow_samples(result, ax, key: str = "learned_ode") -> None:
    """Samples: ``key`` "p0" (of p_0), "exact_ode" or "learned_ode" (the probability-flow ODE with the true or
    the learned score), titled with the energy distance to p_(t_min).

    Parameters: ``result`` a run result with pictures; ``ax`` a matplotlib Axes; ``key`` the sample set.
    Returns: None."""
    pics = result.pictures
    ed = pics.energy_distance
    titles = {"p0": "samples of p_0", "exact_ode": f"flow ODE, true score (E = {ed.exact_ode_vs_p_tmin:.3f})",
              "learned_ode": f"flow ODE, learned score (E = {ed.learned_ode_vs_p_tmin:.3f})"}
    S = np.asarray(getattr(pics.samples, key))
    ax.scatter(S[:, 0], S[:, 1], s=2, alpha=0.5)
    ax.set(title=titles[key], aspect="equal", xlim=(-3, 3), ylim=(-3, 3))


def plot(result, folder) -> list[Path]:
    """Write the figures of a diffusion run into ``folder``.

    Parameters: ``result`` a :class:`~ntkcheck.experiments.diffusion.DiffusionResult` (``run``'s, or
    ``DiffusionResult.from_json`` of its JSON); ``folder`` an existing folder.  Returns: the paths written (:data:`FIGURES`, the last two only with pictures).
    Raises ValueError if ``folder`` is not an existing folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"plot folder {folder} does not exist")
    out = []
    fig = _figure((5.5, 4.0))
    draw_error_vs_n(result, fig.add_subplot())
    out.append(_save(fig, folder / FIGURES[0]))
    fig = _figure((5.5, 4.0))
    draw_tracking(result, fig.add_subplot())
    out.append(_save(fig, folder / FIGURES[1]))
    pics = result.pictures
    if not pics:
        return out
    fig = _figure((12, 4.2))
    axes = fig.subplots(1, 3, sharex=True, sharey=True)
    shading = [draw_score_field(result, ax, key) for ax, key in zip(axes, ("true", "network", "kernel"))]
    fig.colorbar(shading[-1], ax=axes, shrink=0.8, label="‖ŝ − ∇log p_t‖ (shaded)")
    fig.suptitle(f"score fields at t = {pics.t_field:g}")
    out.append(_save(fig, folder / FIGURES[2], tight=False))
    fig = _figure((12, 4.2))
    axes = fig.subplots(1, 3, sharex=True, sharey=True)
    for ax, key in zip(axes, ("p0", "exact_ode", "learned_ode")):
        draw_flow_samples(result, ax, key)
    times, ed = pics.times, pics.energy_distance
    fig.suptitle(f"probability-flow ODE from t = {times[-1]:g} to {times[0]:g}, {len(times)} grid times "
                 f"(E: energy distance to p_(t_min); sampling floor {ed.sampling_floor:.3f})",
                 fontsize=9)
    out.append(_save(fig, folder / FIGURES[3], tight=False))
    return out
