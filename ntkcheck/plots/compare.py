"""The figures of the beyond-softmax comparison (:class:`ntkcheck.experiments.compare.CompareResult`).

``plot(result, folder)`` writes compare_kernel.png, compare_sensitivity.png, compare_training.png and (when
m_emp ran) compare_width.png; each panel is a ``draw_<name>(result, ax)`` that a notebook can call on its own
axes.  Colours, markers and line widths are the activation registry's (:mod:`ntkcheck.core.activations`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ntkcheck.core import activations as registry
from ntkcheck.experiments.compare import DIRECTIONS, QUARTER


def _style(act: str) -> dict:
    return registry.get(act).style.kwargs()


def draw_kernel(result, axes) -> None:
    """Three panels: λ_min(K_φ) against n (sphere data); λ_min/‖K_φ‖₂ (scale-free) against n and against σ.

    Parameters: ``result`` a CompareResult with its kernel section, ``axes`` three matplotlib Axes."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    cfg = result.config
    for act in cfg.activations:
        k = result.kernel[act]
        n = [m for m, _ in k.by_n]
        axes[0].loglog(n, [s.lam for _, s in k.by_n], label=act, **_style(act))
        axes[1].loglog(n, [1 / s.condition for _, s in k.by_n], label=act, **_style(act))
        axes[2].loglog([g for g, _ in k.by_sigma], [1 / s.condition for _, s in k.by_sigma], label=act, **_style(act))
    for ax in axes[:2]:
        ax.axvline(cfg.d, color="0.6", lw=0.8, ls=":")
        ax.set_xlabel("n (sphere data; dotted: n = d)")
    axes[0].set(ylabel=r"$\lambda_{\min}(K_\varphi)$", title=f"smallest eigenvalue (d = {cfg.d}, σ = {cfg.sigma:g})")
    axes[1].set(ylabel=r"$\lambda_{\min}/\|K_\varphi\|_2$", title="inverse condition number against n")
    axes[2].set(xlabel="σ", title=f"inverse condition number against σ (n = {cfg.n})")
    for ax, ticks in zip(axes, (cfg.kernel_n, cfg.kernel_n, cfg.kernel_sigmas)):
        ax.set_xticks(ticks)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    axes[0].legend(fontsize=7)


def draw_sensitivity(result, axes) -> None:
    """One panel per direction kind: max over draws of ‖H(W̃) − H(W)‖₂/(Rλ) against R, the line 1/(4R) (where
    the change reaches λ/4), and B3's bound for softmax.

    Parameters: ``result`` a CompareResult with its sensitivity section, ``axes`` one Axes per kind."""
    cfg, sens = result.config, result.sensitivity
    R = np.asarray(cfg.radii)
    tiny = 1e-17
    soft = sens.get("softmax")
    for ax, kind in zip(axes, DIRECTIONS):
        for act in cfg.activations:
            ax.loglog(R, np.maximum(sens[act].directions[kind].max_over_R_lambda, tiny), label=act, **_style(act))
        if soft is not None and soft.B3_bound_over_R_lambda is not None:
            ax.loglog(R, soft.B3_bound_over_R_lambda, color=registry.get("softmax").style.color, ls="--", lw=1,
                      label="B3 bound (softmax)")
        ax.loglog(R, QUARTER / R, color="k", lw=0.8, ls=":", label=r"$1/(4R)$: change $=\lambda/4$")
        ax.set(xlabel="R (every neuron moved by R)", title=f"{kind} directions")
    axes[0].set_ylabel(r"$\|H(\tilde W) - H(W)\|_2 \,/\, (R\lambda)$")
    axes[0].legend(fontsize=7)


def draw_training(result, ax) -> None:
    """Training loss against the step for every activation, at η = c/(m(‖H*‖₂ + λ/2)).

    Parameters: ``result`` a CompareResult with its training section, ``ax`` one Axes."""
    cfg = result.config
    for act in cfg.activations:
        tr = result.training[act]
        st = _style(act) | {"marker": None}
        ax.loglog(np.asarray(tr.curve_steps) + 1, tr.curve_loss, label=f"{act} ({tr.steps} steps)", **st)
    ax.axhline(cfg.eps, color="0.5", lw=0.8, ls=":")
    ax.set(xlabel="step + 1", ylabel="training loss",
           title=f"GD at η = {cfg.c:g}/(m(‖H*‖ + λ/2)), n = {cfg.n}, m = {cfg.m}")
    ax.legend(fontsize=7)


def draw_width(result, ax) -> None:
    """m_emp against n for every activation (the width experiment's rule).

    Parameters: ``result`` a CompareResult with its width section, ``ax`` one Axes."""
    w = result.width
    for act in result.config.activations:
        rows = [r for r in w.rows if r.activation == act and r.m_emp]
        f = w.fits[act][0]
        slope = f"slope {f.slope:.2f}" if f.slope is not None else "no fit"
        ax.loglog([r.n for r in rows], [r.m_emp for r in rows], label=f"{act} ({slope})", **_style(act))
    ax.set(xlabel="n", ylabel=r"$m_{\rm emp}$", title="empirical width (GD reaches ε in the predicted T steps)")
    ax.legend(fontsize=7)


def plot(result, folder) -> list[Path]:
    """Save the comparison's figures (PNG) into ``folder``.

    Parameters: ``result`` a CompareResult (the width figure only when its width section ran), ``folder``
    an existing folder.  Returns the paths written; ValueError if the folder does not exist."""
    from matplotlib.figure import Figure

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"plot folder {folder} does not exist")
    figures = [("compare_kernel.png", 3, (14, 4.2), draw_kernel),
               ("compare_sensitivity.png", len(DIRECTIONS), (14, 4.2), draw_sensitivity),
               ("compare_training.png", 1, (6.5, 4.5), draw_training)]
    if result.width is not None:
        figures.append(("compare_width.png", 1, (6.5, 4.5), draw_width))
    out = []
    for name, panels, size, draw in figures:
        fig = Figure(figsize=size, dpi=100)
        axes = fig.subplots(1, panels, squeeze=False).ravel()
        draw(result, axes if panels > 1 else axes[0])
        fig.tight_layout()
        path = folder / name
        fig.savefig(path)
        out.append(path)
    return out
