"""Beyond softmax (the book's Beyond-softmax part): the softmax network against the pointwise networks (ReLU, exp, sigmoid, tanh,
swish) under the NTK lens, on the same data, the same initial weights and the same step-size rule.

Every network is F(W, X) = κ Φ(XW) Aᵀ with κ = m (:mod:`ntkcheck.core.network`); the softmax network is the exp
network with each input's features divided by their mean over the neurons.  For each activation φ this
module measures, on sphere data X = sphere(n, d) and labels Y = labels(n, d') (the width experiment's data):

* **kernel** — λ = λ_min(K_φ) of the infinite-width NTK and its condition number ‖K_φ‖₂/λ, against n and
  against σ; and on ball data (‖x‖ < 1), where the normalization stops being a constant factor.
* **finite width** — ‖H(W(0)) − H*‖₂/λ at width m: T1's hypothesis (i) asks for ≤ 1/4.
* **sensitivity** — ‖H(W̃) − H(W)‖₂/R against R, with W̃ − W a perturbation of size exactly R in every
  neuron: in independent random directions ("random"), along the first gradient-descent step
  (−∇_{w_r}L/‖∇_{w_r}L‖, "gradient", the direction training moves in), or in the same direction v for every
  neuron (W̃ = W + R v1ᵀ, "shift").  Reported divided by λ, so that the radius R_{λ/4} where the change reaches
  λ/4 (the room T1's proof needs: B3 with (ii)) can be read off against the line 1/(4R).
* **training** — gradient descent from the symmetric init with T1's step-size form
  η = c/(m(‖H*‖₂ + λ/2)) (the same rule for every activation, each with its own H*): the steps to loss ε,
  the observed per-step contraction of ‖e‖ against the guaranteed 1 − ηmλ/4, how far the weights and the
  NTK moved, and the drift of Σ_r w_r (G2).
* **shift** (G2) — the relative change of F and of H under W → W + v1ᵀ, ‖v‖₂ = 1, at the iid init (F ≠ 0).
  Zero up to rounding for softmax; no counterpart for any pointwise φ.
* **width** — m_emp(n) and its fitted exponent of n, by :func:`ntkcheck.experiments.width.empirical_width` (the width
  experiment's code and defaults, for all six activations; certified widths exist for softmax only).

:func:`run` returns a :class:`CompareResult` (frozen dataclasses, ``to_json``/``from_json``), which the command
line renders, the JSON writer writes, :mod:`ntkcheck.plots.compare` draws and the book reads.  The section
functions return the JSON form of their section ({activation: record}); :meth:`CompareResult.of` types them.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

import ntkcheck as nk
from ntkcheck import seeds
from ntkcheck.core import validate as V
from ntkcheck.experiments import width as width_experiment
from ntkcheck.core import activations as registry
from ntkcheck.core.results import versions
from ntkcheck.core.theorem import lambda_min

DIRECTIONS = ("random", "gradient", "shift")
QUARTER = 0.25          # T1 keeps λ_min(H(W(t))) ≥ λ/2 from ‖H(W(t)) − H(W(0))‖ ≤ λ/4 plus (i)


@dataclass(frozen=True)
class Config:
    activations: tuple = registry.builtin_names()     # any registered activations
    n: int = 16                    # training points of the kernel, sensitivity, training and shift sections
    d: int = 8                     # input dimension (as in the width experiment)
    d_out: int = 1
    sigma: float = 0.5
    m: int = 1024                  # width of the finite-width sections
    seeds: int = 3                 # draws of W(0) (and of the perturbation directions)
    radii: tuple = tuple(float(r) for r in np.geomspace(1e-3, 1.0, 13))
    kernel_n: tuple = (4, 8, 16, 32, 64)       # λ_min(K_φ) against n
    kernel_sigmas: tuple = (0.25, 0.5, 1.0, 2.0)  # λ_min(K_φ) against σ (at n)
    eps: float = 1e-3              # target loss of the training section and of m_emp
    c: float = 1.0                 # η = c/(m(‖H*‖₂ + λ/2))
    max_steps: int = 100_000       # training budget
    width: bool = True             # run the m_emp section (the slow part)
    width_n: tuple = (4, 6, 8, 11, 16, 23, 32)
    width_seeds: int = 5
    data_seed: int = 0


QUICK = Config()
FULL = replace(QUICK, n=32, m=4096, seeds=10, radii=tuple(float(r) for r in np.geomspace(1e-4, 1.0, 25)),
               kernel_n=QUICK.kernel_n + (128,), max_steps=400_000, width_n=QUICK.width_n + (45, 64),
               width_seeds=10)


def validate(cfg: Config) -> Config:
    """``cfg`` with every field checked (ValueError naming the field)."""
    if not cfg.activations or len(set(cfg.activations)) != len(cfg.activations):
        raise ValueError(f"activations must be distinct and non-empty, got {cfg.activations}")
    for a in cfg.activations:
        registry.get(a)              # a one-line ValueError naming the known activations
    V.positive_int(cfg.n, "n", minimum=2)
    V.positive_int(cfg.d, "d")
    V.positive_int(cfg.d_out, "d_out")
    V.positive_int(cfg.m, "m", minimum=2)
    if cfg.m % 2:
        raise ValueError(f"m must be even (the symmetric init pairs the neurons), got {cfg.m}")
    V.positive_int(cfg.seeds, "seeds")
    V.positive_int(cfg.width_seeds, "width_seeds")
    V.positive_int(cfg.max_steps, "max_steps")
    V.positive_int(cfg.data_seed, "data_seed", minimum=0)
    for name in ("sigma", "eps", "c"):
        V.positive_float(getattr(cfg, name), name)
    if not cfg.c <= 1:
        raise ValueError(f"c must be in (0, 1] (hypothesis (iii)), got {cfg.c}")
    if len(cfg.radii) < 2 or any(not (isinstance(r, (int, float)) and 0 < r < math.inf) for r in cfg.radii) \
            or list(cfg.radii) != sorted(set(cfg.radii)):
        raise ValueError(f"radii must be at least two increasing positive numbers, got {cfg.radii}")
    for name in ("kernel_n", "width_n"):
        vals = getattr(cfg, name)
        if not vals or len(set(vals)) != len(vals):
            raise ValueError(f"{name} must be distinct and non-empty, got {vals}")
        for v in vals:
            V.positive_int(v, name, minimum=2)
    if not cfg.kernel_sigmas:
        raise ValueError("kernel_sigmas must not be empty")
    for s in cfg.kernel_sigmas:
        V.positive_float(s, "kernel_sigmas")
    return cfg


def data(cfg: Config, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The data of size n (``cfg.n`` by default): X = sphere(n, d) and Y = labels(n, d'), drawn for the
    purposes "compare.data" and "compare.labels" with key n under ``cfg.data_seed`` (:mod:`ntkcheck.seeds`).

    Returns ``(X, Y)``."""
    n = cfg.n if n is None else n
    return (nk.sphere(n, cfg.d, seed=seeds.derived_seed(cfg.data_seed, "compare.data", n)),
            nk.labels(n, cfg.d_out, seed=seeds.derived_seed(cfg.data_seed, "compare.labels", n)))


def _spectrum(K: np.ndarray) -> dict:
    lam, how = lambda_min(K)
    norm = float(np.linalg.norm(K, 2))
    return {"lambda": lam, "norm": norm, "condition": norm / lam if lam > 0 else math.inf, "lambda_decided_with": how}


def _init(cfg: Config, act: str, seed: int, scheme: str = "symmetric"):
    # the same seed draws the same W(0) and A for every activation (init_params ignores the name when drawing)
    return nk.init_params(cfg.d, cfg.m, cfg.d_out, sigma=cfg.sigma, scheme=scheme, seed=seed, activation=act)


def _seed(cfg: Config, s: int) -> int:
    # draw s of W(0), the same for every activation and section
    return seeds.derived_seed(cfg.data_seed, "compare.init", s)


# ------------------------------------------------------------------------------------------ sections
def kernel_section(cfg: Config) -> dict:
    """λ_min(K_φ), ‖K_φ‖₂ and their ratio against n (sphere data), against σ (at n), and on ball data."""
    out = {}
    Xb = nk.ball(cfg.n, cfg.d, seed=seeds.derived_seed(cfg.data_seed, "compare.ball", cfg.n))
    for act in cfg.activations:
        spectra = {}        # (n, σ) → spectrum: the training set (n, σ) recurs in by_n and by_sigma

        def sphere(n, sigma, act=act, spectra=spectra):
            if (n, sigma) not in spectra:
                spectra[n, sigma] = _spectrum(nk.limit_kernel(data(cfg, n)[0], sigma=sigma, activation=act))
            return spectra[n, sigma]

        out[act] = {"sphere": sphere(cfg.n, cfg.sigma),
                    "ball": _spectrum(nk.limit_kernel(Xb, sigma=cfg.sigma, activation=act))
                    | {"min_norm": float(np.linalg.norm(Xb, axis=1).min())},
                    "by_n": [{"n": n} | sphere(n, cfg.sigma) for n in cfg.kernel_n],
                    "by_sigma": [{"sigma": s} | sphere(cfg.n, s) for s in cfg.kernel_sigmas]}
    return out


def _unit_columns(U: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(U, axis=0, keepdims=True)
    return U / np.where(norms > 0, norms, 1.0)


def finite_width_section(cfg: Config, X: np.ndarray, lam: dict) -> dict:
    """‖H(W(0)) − H*‖₂/λ at width m over the draws (T1's hypothesis (i) asks for ≤ 1/4)."""
    out = {}
    for act in cfg.activations:
        Hs = nk.limit_ntk(X, sigma=cfg.sigma, d_out=cfg.d_out, activation=act)
        dist = nk.init_ntk_errors(X, Hs, [cfg.m], cfg.seeds, lambda k, s: _seed(cfg, s), cfg.sigma, cfg.d_out,
                                  "symmetric", act)[0]
        errs = [float(e) / lam[act] for e in dist]
        out[act] = {"error_over_lambda": errs, "mean_error_over_lambda": float(np.mean(errs)),
                    "max_error_over_lambda": max(errs)}
    return out


def _directions(cfg: Config, s: int, grad: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-neuron perturbation directions (d×m, unit columns): independent random ones, one common v for
    every neuron, and (given ∇_W L) the direction of the first gradient-descent step, −∇_{w_r}L/‖∇_{w_r}L‖."""
    rng = seeds.rng(cfg.data_seed, "compare.directions", s)
    U = _unit_columns(rng.standard_normal((cfg.d, cfg.m)))
    v = _unit_columns(rng.standard_normal((cfg.d, 1)))
    out = {"random": U, "shift": np.repeat(v, cfg.m, axis=1)}
    if grad is not None:
        out["gradient"] = _unit_columns(-grad)
    return out


def _crossing(radii, change, level) -> tuple[float | None, str]:
    """The radius where ``change`` (increasing in R on the whole, sampled at ``radii``) first exceeds
    ``level``, interpolated linearly in log–log between the grid points around it."""
    above = np.flatnonzero(np.asarray(change) > level)
    if above.size == 0:
        return None, f"> {radii[-1]:g}"
    k = int(above[0])
    if k == 0:
        return None, f"< {radii[0]:g}"
    if not change[k - 1] > 0:       # an exactly zero change below the crossing: no log to interpolate in
        return float(radii[k]), f"{radii[k]:.3g}"
    r0, r1, c0, c1 = math.log(radii[k - 1]), math.log(radii[k]), math.log(change[k - 1]), math.log(change[k])
    r = math.exp(r0 + (math.log(level) - c0) * (r1 - r0) / (c1 - c0))
    return r, f"{r:.3g}"


def sensitivity_section(cfg: Config, X: np.ndarray, Y: np.ndarray, lam: dict) -> dict:
    """‖H(W + R·U) − H(W)‖₂ over the radii, per activation and direction kind, for ``seeds`` draws."""
    out = {}
    radii = np.asarray(cfg.radii)
    for act in cfg.activations:
        changes = {k: np.empty((cfg.seeds, len(radii))) for k in DIRECTIONS}
        norms = []
        for s in range(cfg.seeds):
            p = _init(cfg, act, _seed(cfg, s))
            H = nk.empirical_ntk(p, X)
            norms.append(float(np.linalg.norm(H, 2)))
            for kind, U in _directions(cfg, s, nk.gradient(p, X, Y)).items():
                for j, R in enumerate(radii):
                    changes[kind][s, j] = np.linalg.norm(nk.empirical_ntk(p.with_W(p.W + R * U), X) - H, 2)
        rec = {"lambda": lam[act], "H_norm_mean": float(np.mean(norms))}
        for kind, ch in changes.items():
            worst = ch.max(axis=0)
            r_q, text = _crossing(radii, worst, QUARTER * lam[act])
            rec[kind] = {"change": ch.tolist(),
                         "median_over_R_lambda": (np.median(ch, axis=0) / (radii * lam[act])).tolist(),
                         "max_over_R_lambda": (worst / (radii * lam[act])).tolist(),
                         "r_quarter": r_q, "r_quarter_text": text}
        out[act] = rec
    if "softmax" in cfg.activations:
        # the proof's view: B3's spectral bound 6(e^{4R} − 1) d' ‖Q(W)‖₂, at the first draw (softmax only)
        from ntkcheck.core.bounds import ntk_perturbation_bound

        p = _init(cfg, "softmax", _seed(cfg, 0))
        out["softmax"]["B3_bound_over_R_lambda"] = [
            ntk_perturbation_bound(R, p, X) / (R * lam["softmax"]) for R in radii]
    return out


def training_section(cfg: Config, X: np.ndarray, Y: np.ndarray, Hstar: dict, tick=None) -> dict:
    """GD at η = c/(m(‖H*‖₂ + λ/2)) from the symmetric init of seed 0, until loss ≤ ε or the budget;
    ``tick(description)`` after each activation."""
    from ntkcheck.core.training import eta_and_steps, train

    out = {}
    for act in cfg.activations:
        lam, H_norm = Hstar[act]
        p = _init(cfg, act, _seed(cfg, 0))
        e0 = float(np.linalg.norm(nk.residual(p, X, Y)))
        eta, T = eta_and_steps(lam, H_norm, cfg.m, e0, cfg.eps, cfg.c)
        rec = {"lambda": lam, "H_star_norm": H_norm, "eta": eta, "eta_m": eta * cfg.m, "T_predicted": T,
               "guaranteed_rate": 1 - eta * cfg.m * lam / 4, "linear_rate": 1 - eta * cfg.m * lam}
        with np.errstate(all="ignore"):
            hist = train(p, X, Y, eta, cfg.max_steps, record_every=1, stop_below=cfg.eps)
        steps = int(hist.steps[-1])
        final = float(hist.loss[-1])
        reached = bool(final <= cfg.eps)
        H0 = nk.empirical_ntk(p, X)
        HT = nk.empirical_ntk(hist.params, X)
        move = hist.params.W - p.W
        rate = (float(hist.residual_norm[-1]) / e0) ** (1 / steps) if steps and math.isfinite(final) else math.nan
        rec |= {"reached": reached, "steps": steps, "final_loss": final, "observed_rate": rate,
                "max_move": float(hist.max_move[-1]),
                "ntk_change_over_lambda": float(np.linalg.norm(HT - H0, 2)) / lam,
                "lambda_min_final_over_lambda": float(np.linalg.eigvalsh(HT)[0]) / lam,
                # G2: the share of the movement that is common to all neurons, ‖Σ_r Δw_r‖ / Σ_r ‖Δw_r‖
                "common_move_share": float(np.linalg.norm(move.sum(axis=1))
                                           / max(np.linalg.norm(move, axis=0).sum(), 1e-300)),
                "sum_drift": float(hist.sum_drift[-1]),
                "curve": _curve(hist.steps, hist.loss),
                "seconds": round(hist.seconds, 2)}
        out[act] = rec
        if tick is not None:
            tick(f"training {act}: {steps} steps")
    return out


def _curve(steps: np.ndarray, loss: np.ndarray, points: int = 300) -> dict:
    """The loss curve at about ``points`` steps spaced geometrically (every step early, sparser later)."""
    keep = np.unique(np.concatenate([np.geomspace(1, len(steps), points).astype(int) - 1, [0, len(steps) - 1]]))
    return {"steps": steps[keep].tolist(), "loss": loss[keep].tolist()}


def shift_section(cfg: Config, X: np.ndarray) -> dict:
    """G2: relative change of F and of H under W → W + v1ᵀ, ‖v‖₂ = 1, at the iid init, over the seeds."""
    out = {}
    for act in cfg.activations:
        dF, dH = [], []
        for s in range(cfg.seeds):
            p = _init(cfg, act, _seed(cfg, s), scheme="iid")
            q = p.with_W(p.W + _directions(cfg, s)["shift"])
            F, Fq = nk.forward(p, X), nk.forward(q, X)
            H, Hq = nk.empirical_ntk(p, X), nk.empirical_ntk(q, X)
            dF.append(float(np.linalg.norm(Fq - F) / np.linalg.norm(F)))
            dH.append(float(np.linalg.norm(Hq - H, 2) / np.linalg.norm(H, 2)))
        out[act] = {"F_change": max(dF), "H_change": max(dH), "F_change_all": dF, "H_change_all": dH}
    return out


def _width_cfg(cfg: Config) -> width_experiment.Config:
    return replace(width_experiment.QUICK, activations=cfg.activations, n_values=cfg.width_n, seeds=cfg.width_seeds,
                   d=cfg.d, d_out=cfg.d_out, sigma=cfg.sigma, eps=cfg.eps, c=cfg.c, certify=False,
                   data_seed=cfg.data_seed)


def width_cell(cell) -> dict:
    """One (activation, n) cell of the width section: m_emp by the width experiment's code (a module-level
    function, so that a Dask worker can run it; the benchmark of the sweep engine times it).

    Parameters: ``cell`` a :class:`ntkcheck.sweep.Cell` of :func:`width_cells` (its params hold the width
    configuration, n and the activation).  Returns the row {activation, n, lambda, m_emp, reason, T,
    failures} of the width section."""
    p = cell.params
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in p["width_config"].items()}
    wcfg = width_experiment.validate(width_experiment.Config(**fields))
    n, act = p["n"], p["activation"]
    X, Y = width_experiment.data(n, wcfg)
    emp = width_experiment.empirical_width(X, Y, act, wcfg)
    return {"activation": act, "n": n, "lambda": emp["lambda"], "m_emp": emp["m_emp"],
            "reason": emp.get("m_emp_reason"),
            "T": emp["tested"][-1]["T"] if emp["tested"] else None,
            "failures": emp["tested"][-1]["failures"] if emp["tested"] else []}


def width_cells(cfg: Config) -> list:
    """The width section's cells, one per (n, activation), in the table's order."""
    from ntkcheck.sweep import Cell

    wcfg = width_experiment.validate(_width_cfg(cfg))
    common = asdict(wcfg)
    return [Cell("compare.width", {"width_config": common, "n": n, "activation": act})
            for n in wcfg.n_values for act in wcfg.activations]


def width_section(cfg: Config, tick=None, *, workers: int = 1, scheduler: str | None = None, cache=None) -> dict:
    """m_emp(n) for every activation with the width experiment's code, and the fitted exponents.

    The (n, activation) pairs are independent cells run by :func:`ntkcheck.sweep.run_cells` with the engine
    options ``workers``, ``scheduler``, ``cache`` (serial by default); ``tick(description)`` once per
    finished cell.  Returns the section's dict (config, eta rule, rows, fits)."""
    from ntkcheck.sweep import run_cells

    wcfg = width_experiment.validate(_width_cfg(cfg))
    seen = 0

    def progress(done, total):
        nonlocal seen
        while tick is not None and seen < done:
            seen += 1
            tick(f"m_emp: {done}/{total} cells")

    rows = run_cells(width_cells(cfg), width_cell, workers=workers, scheduler=scheduler, cache=cache,
                     progress=progress)
    fits = width_experiment.fits([r | {k: None for k in width_experiment.CERT_VARIANTS.values()} for r in rows])
    return {"config": asdict(wcfg), "eta_rule": width_experiment.eta_rule_text(wcfg), "rows": rows,
            "fits": {a: {"m_emp": f["m_emp"], "m_emp·λ²": f.get("m_emp·λ²")} for a, f in fits.items()}}


def local_order(change, radii, k: int = 5) -> float | None:
    """The order p of ‖ΔH‖ ∝ R^p at small R: the least-squares slope of log(median over the draws of the
    change) against log R over the ``k`` smallest radii.

    Parameters: ``change`` the draws × radii array of a sensitivity record's "change"; ``radii`` the radii;
    ``k`` how many of the smallest radii to fit.  Returns the slope, or None when the median change is
    exactly zero at one of them (no logarithm: softmax under the shift)."""
    ch = np.median(np.asarray(change, dtype=float), axis=0)[:k]
    if not ch.min() > 0:
        return None
    return float(np.polyfit(np.log(np.asarray(radii, dtype=float)[:k]), np.log(ch), 1)[0])


#: The data seeds of :func:`seed_spread`'s file, results/compare_seeds.json.
SPREAD_SEEDS = tuple(range(10))
SPREAD_DRAWS = 10               # draws of W(0) for the finite-width mean (the perturbation page's count)
SPREAD_COMMAND = ("python -c 'from ntkcheck.experiments import compare; "
                  "compare.write_seed_spread(\"results/compare_seeds.json\")'")


def spread_record(result: "CompareResult", X: np.ndarray | None = None) -> dict:
    """The scalars of one comparison that the book's Beyond-softmax pages state, per activation.

    Parameters: ``result`` a :class:`CompareResult` with the kernel, finite-width, sensitivity, shift and
    training sections; ``X`` its training data, to add the finite-width mean over :data:`SPREAD_DRAWS`
    draws (skipped when None).  Returns {activation: {name: value}}: the table row's fields, and
    ``reached``, ``steps_per_condition`` (steps/(‖K‖/λ)), the NTK's movement and final λ_min in units of λ,
    ``max_move``, ``collapse`` (λ_min at n = d/2 over λ_min at n = 2d, when both are in ``kernel_n``), the
    local orders of ‖ΔH‖ in R per direction kind, the softmax NTK's largest change under the shift relative
    to ‖H‖, and the smallest ratio of B3's bound to the random-direction change at the first draw."""
    cfg = result.config
    js = result.to_json()
    fw10 = None
    if X is not None:
        lam = {a: js["kernel"][a]["sphere"]["lambda"] for a in cfg.activations}
        fw10 = finite_width_section(replace(cfg, seeds=SPREAD_DRAWS), X, lam)
    out = {}
    for row in js["table"]:
        act = row["activation"]
        tr, k, sens = js["training"][act], js["kernel"][act], js["sensitivity"][act]
        rec = dict(row)
        del rec["activation"]
        by_n = {r["n"]: r["lambda"] for r in k["by_n"]}
        rec |= {"reached": tr["reached"], "steps_per_condition": tr["steps"] / row["condition"],
                "ntk_change_over_lambda": tr["ntk_change_over_lambda"],
                "lambda_min_final_over_lambda": tr["lambda_min_final_over_lambda"], "max_move": tr["max_move"],
                "collapse": (by_n[cfg.d // 2] / by_n[2 * cfg.d]) if {cfg.d // 2, 2 * cfg.d} <= set(by_n) else None,
                **{f"order_{kind}": local_order(sens[kind]["change"], cfg.radii) for kind in DIRECTIONS},
                "shift_change_over_H": max(map(max, sens["shift"]["change"])) / sens["H_norm_mean"]}
        if fw10 is not None:
            rec["finite_width_mean_over_lambda_10"] = fw10[act]["mean_error_over_lambda"]
        if "B3_bound_over_R_lambda" in sens:
            bound = np.asarray(sens["B3_bound_over_R_lambda"]) * np.asarray(cfg.radii) * sens["lambda"]
            rec["B3_over_random_change"] = float(np.min(bound / np.asarray(sens["random"]["change"][0])))
        out[act] = rec
    return out


def seed_spread(cfg: Config = QUICK, data_seeds=SPREAD_SEEDS, progress=None) -> dict:
    """Every section but m_emp at each data seed (new data and new draws of W(0) and of the directions):
    how much of what one run shows is the seed's.

    Parameters: ``cfg`` the configuration (its ``data_seed`` and ``width`` are replaced); ``data_seeds``
    distinct non-negative ints; ``progress(done, total, seed)`` after each seed, or None.  Returns
    {"config", "data_seeds", "draws_finite_width_mean", "per_seed": {seed: :func:`spread_record`},
    "seconds"} (write it with :func:`write_seed_spread`)."""
    seeds_ = [int(s) for s in data_seeds]
    if not seeds_ or len(set(seeds_)) != len(seeds_):
        raise ValueError(f"data_seeds must be distinct and non-empty, got {tuple(data_seeds)}")
    for s in seeds_:
        V.positive_int(s, "data_seeds", minimum=0)
    base = validate(replace(cfg, width=False))
    t0 = time.perf_counter()
    per_seed = {}
    for i, s in enumerate(seeds_):
        c = replace(base, data_seed=s)
        per_seed[str(s)] = spread_record(run(c), data(c)[0])
        if progress is not None:
            progress(i + 1, len(seeds_), s)
    return {"experiment": "beyond-softmax seed spread", "config": asdict(base), "data_seeds": seeds_,
            "draws_finite_width_mean": SPREAD_DRAWS, "per_seed": per_seed,
            "seconds": round(time.perf_counter() - t0, 1)}


def write_seed_spread(path, cfg: Config = QUICK, data_seeds=SPREAD_SEEDS) -> dict:
    """Run :func:`seed_spread` and write it atomically as JSON to ``path`` (the folder must exist), with the
    command that made it and the package versions.

    Parameters: ``path`` the file; ``cfg``, ``data_seeds`` as for :func:`seed_spread`.  Returns the dict
    written."""
    from pathlib import Path

    from ntkcheck.core.results import write_json

    if not Path(path).parent.is_dir():        # before the minutes of computing
        raise ValueError(f"cannot write {path}: folder {Path(path).parent} does not exist")
    out = seed_spread(cfg, data_seeds) | {"command": SPREAD_COMMAND, "versions": versions()}
    write_json(path, out)
    return out


# ------------------------------------------------------------------------------------------ the typed result
def _num(v):
    """A float read back from JSON (non-finite values are written as the strings 'inf', '-inf', 'nan')."""
    return float(v) if isinstance(v, str) else v


def _floats(v) -> tuple:
    return tuple(_num(x) for x in v)


@dataclass(frozen=True)
class Spectrum:
    """λ_min, ‖·‖₂ and their ratio of one kernel matrix, and how λ_min was decided (float64 or mpmath)."""

    lam: float
    norm: float
    condition: float
    lambda_decided_with: str

    def to_json(self) -> dict:
        return {"lambda": self.lam, "norm": self.norm, "condition": self.condition,
                "lambda_decided_with": self.lambda_decided_with}

    @classmethod
    def from_json(cls, d: dict) -> "Spectrum":
        return cls(_num(d["lambda"]), _num(d["norm"]), _num(d["condition"]), d["lambda_decided_with"])


@dataclass(frozen=True)
class KernelRecord:
    """The kernel section of one activation: K_φ on the training sphere data, on ball data (with the
    smallest input norm), against n (``by_n``: (n, spectrum) pairs) and against σ (``by_sigma``)."""

    sphere: Spectrum
    ball: Spectrum
    ball_min_norm: float
    by_n: tuple
    by_sigma: tuple

    def to_json(self) -> dict:
        return {"sphere": self.sphere.to_json(), "ball": self.ball.to_json() | {"min_norm": self.ball_min_norm},
                "by_n": [{"n": n} | s.to_json() for n, s in self.by_n],
                "by_sigma": [{"sigma": g} | s.to_json() for g, s in self.by_sigma]}

    @classmethod
    def from_json(cls, d: dict) -> "KernelRecord":
        return cls(Spectrum.from_json(d["sphere"]), Spectrum.from_json(d["ball"]), _num(d["ball"]["min_norm"]),
                   tuple((r["n"], Spectrum.from_json(r)) for r in d["by_n"]),
                   tuple((r["sigma"], Spectrum.from_json(r)) for r in d["by_sigma"]))


@dataclass(frozen=True)
class FiniteWidthRecord:
    """‖H(W(0)) − H*‖₂/λ per draw, their mean and maximum (T1's hypothesis (i) asks ≤ 1/4)."""

    error_over_lambda: tuple
    mean_error_over_lambda: float
    max_error_over_lambda: float

    def to_json(self) -> dict:
        return {"error_over_lambda": list(self.error_over_lambda), "mean_error_over_lambda": self.mean_error_over_lambda,
                "max_error_over_lambda": self.max_error_over_lambda}

    @classmethod
    def from_json(cls, d: dict) -> "FiniteWidthRecord":
        return cls(_floats(d["error_over_lambda"]), _num(d["mean_error_over_lambda"]), _num(d["max_error_over_lambda"]))


@dataclass(frozen=True)
class DirectionRecord:
    """‖H(W + R·U) − H(W)‖₂ for one kind of direction: ``change`` (draws × radii), the median and maximum
    over the draws divided by Rλ, and the radius R_{λ/4} where the maximum first reaches λ/4 (None outside
    the grid; ``r_quarter_text`` says which side)."""

    change: tuple
    median_over_R_lambda: tuple
    max_over_R_lambda: tuple
    r_quarter: float | None
    r_quarter_text: str

    def to_json(self) -> dict:
        return {"change": [list(r) for r in self.change], "median_over_R_lambda": list(self.median_over_R_lambda),
                "max_over_R_lambda": list(self.max_over_R_lambda), "r_quarter": self.r_quarter,
                "r_quarter_text": self.r_quarter_text}

    @classmethod
    def from_json(cls, d: dict) -> "DirectionRecord":
        return cls(tuple(_floats(r) for r in d["change"]), _floats(d["median_over_R_lambda"]),
                   _floats(d["max_over_R_lambda"]), _num(d["r_quarter"]), d["r_quarter_text"])


@dataclass(frozen=True)
class SensitivityRecord:
    """The sensitivity section of one activation: λ, the mean ‖H(W(0))‖₂, one :class:`DirectionRecord` per
    kind of ``DIRECTIONS`` and, for softmax, B3's bound divided by Rλ (None otherwise)."""

    lam: float
    H_norm_mean: float
    directions: dict
    B3_bound_over_R_lambda: tuple | None = None

    def to_json(self) -> dict:
        out = {"lambda": self.lam, "H_norm_mean": self.H_norm_mean}
        out |= {k: self.directions[k].to_json() for k in DIRECTIONS}
        if self.B3_bound_over_R_lambda is not None:
            out["B3_bound_over_R_lambda"] = list(self.B3_bound_over_R_lambda)
        return out

    @classmethod
    def from_json(cls, d: dict) -> "SensitivityRecord":
        b3 = d.get("B3_bound_over_R_lambda")
        return cls(_num(d["lambda"]), _num(d["H_norm_mean"]), {k: DirectionRecord.from_json(d[k]) for k in DIRECTIONS},
                   None if b3 is None else _floats(b3))


@dataclass(frozen=True)
class ShiftRecord:
    """G2: the largest relative change of F and of H under W → W + v1ᵀ, and the change per draw."""

    F_change: float
    H_change: float
    F_change_all: tuple
    H_change_all: tuple

    def to_json(self) -> dict:
        return {"F_change": self.F_change, "H_change": self.H_change, "F_change_all": list(self.F_change_all),
                "H_change_all": list(self.H_change_all)}

    @classmethod
    def from_json(cls, d: dict) -> "ShiftRecord":
        return cls(_num(d["F_change"]), _num(d["H_change"]), _floats(d["F_change_all"]), _floats(d["H_change_all"]))


_TRAINING_FIELDS = ("H_star_norm", "eta", "eta_m", "T_predicted", "guaranteed_rate", "linear_rate", "reached",
                    "steps", "final_loss", "observed_rate", "max_move", "ntk_change_over_lambda",
                    "lambda_min_final_over_lambda", "common_move_share", "sum_drift")


@dataclass(frozen=True)
class TrainingRecord:
    """The training section of one activation: the step size and its prediction T, what GD did (steps,
    final loss, observed against guaranteed rate, movement of W and of H, G2's common share and drift),
    the loss curve at geometrically spaced steps, and the wall-clock seconds."""

    lam: float
    H_star_norm: float
    eta: float
    eta_m: float
    T_predicted: int
    guaranteed_rate: float
    linear_rate: float
    reached: bool
    steps: int
    final_loss: float
    observed_rate: float
    max_move: float
    ntk_change_over_lambda: float
    lambda_min_final_over_lambda: float
    common_move_share: float
    sum_drift: float
    curve_steps: tuple
    curve_loss: tuple
    seconds: float

    def to_json(self) -> dict:
        return {"lambda": self.lam, **{k: getattr(self, k) for k in _TRAINING_FIELDS},
                "curve": {"steps": list(self.curve_steps), "loss": list(self.curve_loss)}, "seconds": self.seconds}

    @classmethod
    def from_json(cls, d: dict) -> "TrainingRecord":
        return cls(lam=_num(d["lambda"]), **{k: _num(d[k]) for k in _TRAINING_FIELDS},
                   curve_steps=tuple(d["curve"]["steps"]), curve_loss=_floats(d["curve"]["loss"]),
                   seconds=d["seconds"])


@dataclass(frozen=True)
class Fit:
    """A fitted exponent of n: slope, 95% interval, the points used, and why there is none (or why it is 0)."""

    slope: float | None
    ci: tuple | None
    points: int
    reason: str | None = None

    def to_json(self) -> dict:
        out = {"slope": self.slope, "ci": None if self.ci is None else list(self.ci), "points": self.points}
        return out | ({} if self.reason is None else {"reason": self.reason})

    @classmethod
    def from_json(cls, d: dict) -> "Fit":
        return cls(_num(d["slope"]), None if d["ci"] is None else _floats(d["ci"]), d["points"], d.get("reason"))


@dataclass(frozen=True)
class WidthRow:
    """m_emp for one (activation, n): λ, the width (None: none reached ε, with the reason), the predicted T
    and the failures at the last width tried."""

    activation: str
    n: int
    lam: float
    m_emp: int | None
    reason: str | None
    T: object
    failures: tuple

    def to_json(self) -> dict:
        return {"activation": self.activation, "n": self.n, "lambda": self.lam, "m_emp": self.m_emp,
                "reason": self.reason, "T": list(self.T) if isinstance(self.T, tuple) else self.T,
                "failures": list(self.failures)}

    @classmethod
    def from_json(cls, d: dict) -> "WidthRow":
        T = tuple(d["T"]) if isinstance(d["T"], list) else d["T"]
        return cls(d["activation"], d["n"], _num(d["lambda"]), d["m_emp"], d["reason"], T, tuple(d["failures"]))


@dataclass(frozen=True)
class WidthSection:
    """m_emp(n) for every activation with the width experiment's code: its configuration (the width
    experiment's, as recorded), the step-size rule, the rows, and per activation the fits of m_emp and of
    m_emp·λ² (the JSON key ``m_emp·λ²``)."""

    config: dict
    eta_rule: str
    rows: tuple
    fits: dict          # {activation: (Fit of m_emp, Fit of m_emp·λ² or None)}

    def to_json(self) -> dict:
        fits = {a: {"m_emp": f.to_json(), "m_emp·λ²": None if g is None else g.to_json()}
                for a, (f, g) in self.fits.items()}
        return {"config": self.config, "eta_rule": self.eta_rule, "rows": [r.to_json() for r in self.rows],
                "fits": fits}

    @classmethod
    def from_json(cls, d: dict) -> "WidthSection":
        fits = {a: (Fit.from_json(f["m_emp"]), Fit.from_json(f["m_emp·λ²"]) if f.get("m_emp·λ²") else None)
                for a, f in d["fits"].items()}
        return cls(d["config"], d["eta_rule"], tuple(WidthRow.from_json(r) for r in d["rows"]), fits)


@dataclass(frozen=True)
class TableRow:
    """One activation's headline numbers (the command line's tables, the book's summary)."""

    activation: str
    lam: float
    condition: float
    condition_ball: float
    finite_width_over_lambda: float
    r_quarter: dict                 # {direction kind: R_{λ/4} or None}
    r_quarter_text: dict
    sensitivity: dict               # {direction kind: ‖ΔH‖/(Rλ) at the smallest R}
    steps: int | None               # None: ε not reached
    T_predicted: int
    observed_rate: float
    guaranteed_rate: float
    common_move_share: float
    shift_F_change: float
    shift_H_change: float
    m_emp_slope: float | None = None
    m_emp_ci: tuple | None = None
    m_emp: dict | None = None       # {n: m_emp}, when the width section ran

    def to_json(self) -> dict:
        out = {"activation": self.activation, "lambda": self.lam, "condition": self.condition,
               "condition_ball": self.condition_ball, "finite_width_over_lambda": self.finite_width_over_lambda,
               **{f"r_quarter_{k}": self.r_quarter[k] for k in DIRECTIONS},
               **{f"r_quarter_{k}_text": self.r_quarter_text[k] for k in DIRECTIONS},
               **{f"sensitivity_{k}": self.sensitivity[k] for k in DIRECTIONS},
               "steps": self.steps, "T_predicted": self.T_predicted, "observed_rate": self.observed_rate,
               "guaranteed_rate": self.guaranteed_rate, "common_move_share": self.common_move_share,
               "shift_F_change": self.shift_F_change, "shift_H_change": self.shift_H_change}
        if self.m_emp is not None:
            out |= {"m_emp_slope": self.m_emp_slope, "m_emp_ci": None if self.m_emp_ci is None else list(self.m_emp_ci),
                    "m_emp": dict(self.m_emp)}
        return out


_SECTIONS = {"kernel": KernelRecord, "finite_width": FiniteWidthRecord, "sensitivity": SensitivityRecord,
             "shift": ShiftRecord, "training": TrainingRecord}


@dataclass(frozen=True)
class CompareResult:
    """The comparison: its configuration, the data it ran on, every section ({activation: record}; a
    section that did not run is None, e.g. ``width`` without m_emp or the parts the book computes alone),
    the wall-clock seconds per section and the package versions.  ``table`` derives the headline rows;
    ``to_json``/``from_json`` give and read the JSON of results/compare.json."""

    config: Config
    data: dict | None = None
    kernel: dict | None = None
    finite_width: dict | None = None
    sensitivity: dict | None = None
    shift: dict | None = None
    training: dict | None = None
    width: WidthSection | None = None
    seconds: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)

    experiment = "beyond-softmax"

    @classmethod
    def of(cls, config: Config, **sections) -> "CompareResult":
        """A result from section functions' output (their JSON form), e.g. ``of(cfg, kernel=kernel_section(cfg))``.

        Parameters: ``config``; any of kernel, finite_width, sensitivity, shift, training ({activation:
        dict}), width (dict), data, seconds, versions.  Returns the typed result."""
        typed = {}
        for name, value in sections.items():
            if value is None or name in ("data", "seconds", "versions"):
                typed[name] = value
            elif name == "width":
                typed[name] = WidthSection.from_json(value)
            elif name in _SECTIONS:
                typed[name] = {a: _SECTIONS[name].from_json(rec) for a, rec in value.items()}
            else:
                raise ValueError(f"CompareResult has no section {name!r}")
        return cls(config=config, **typed)

    @property
    def activations(self) -> tuple:
        return tuple(self.config.activations)

    @property
    def table(self) -> tuple:
        """One :class:`TableRow` per activation (needs the kernel, finite-width, sensitivity, training and
        shift sections)."""
        rows = []
        for act in self.activations:
            k, s, tr, sh = self.kernel[act], self.sensitivity[act], self.training[act], self.shift[act]
            d = s.directions
            extra = {}
            if self.width is not None:
                f = self.width.fits[act][0]
                extra = {"m_emp_slope": f.slope, "m_emp_ci": f.ci,
                         "m_emp": {r.n: r.m_emp for r in self.width.rows if r.activation == act}}
            rows.append(TableRow(
                activation=act, lam=k.sphere.lam, condition=k.sphere.condition, condition_ball=k.ball.condition,
                finite_width_over_lambda=self.finite_width[act].max_error_over_lambda,
                r_quarter={kind: d[kind].r_quarter for kind in DIRECTIONS},
                r_quarter_text={kind: d[kind].r_quarter_text for kind in DIRECTIONS},
                sensitivity={kind: d[kind].max_over_R_lambda[0] for kind in DIRECTIONS},
                steps=tr.steps if tr.reached else None, T_predicted=tr.T_predicted, observed_rate=tr.observed_rate,
                guaranteed_rate=tr.guaranteed_rate, common_move_share=tr.common_move_share,
                shift_F_change=sh.F_change, shift_H_change=sh.H_change, **extra))
        return tuple(rows)

    def to_json(self) -> dict:
        """The JSON form (the keys of results/compare.json; ``table`` included when every section ran)."""
        def sec(value):
            return None if value is None else {a: rec.to_json() for a, rec in value.items()}

        out = {"experiment": self.experiment, "config": asdict(self.config), "data": self.data,
               "kernel": sec(self.kernel), "finite_width": sec(self.finite_width),
               "sensitivity": sec(self.sensitivity), "shift": sec(self.shift), "training": sec(self.training),
               "width": None if self.width is None else self.width.to_json(), "seconds": dict(self.seconds),
               "versions": dict(self.versions)}
        if all(v is not None for v in (self.kernel, self.finite_width, self.sensitivity, self.shift, self.training)):
            out["table"] = [r.to_json() for r in self.table]
        return out

    @classmethod
    def from_json(cls, d: dict) -> "CompareResult":
        """Read the JSON form (e.g. results/compare.json); the configuration is checked by :func:`validate`.

        Parameters: ``d`` the parsed JSON.  Returns the typed result; ValueError if it is not a comparison."""
        if not isinstance(d, dict) or d.get("experiment") != cls.experiment:
            raise ValueError("not a beyond-softmax comparison result (the field 'experiment' is not 'beyond-softmax')")
        known = {f.name for f in fields(Config)}
        cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in d["config"].items() if k in known}
        config = validate(Config(**cfg))
        return cls.of(config, **{k: d.get(k) for k in ("data", *_SECTIONS, "width", "seconds", "versions")})


# ------------------------------------------------------------------------------------------ run
def run(cfg: Config = QUICK, progress=None, *, workers: int = 1, scheduler: str | None = None,
        cache=None) -> CompareResult:
    """Every section, on the same data; ``progress(done, total, description)`` as work completes.

    Parameters: ``cfg`` a :class:`Config`, ``progress`` None or a callable; ``workers``, ``scheduler``,
    ``cache``: the engine of the width section's cells (see :func:`ntkcheck.sweep.run_cells`); the other
    sections run in this process.  Returns the :class:`CompareResult`."""
    from ntkcheck.sweep import check_engine

    cfg = validate(cfg)
    check_engine(workers, scheduler, cache)     # before any computing
    t0 = time.perf_counter()
    k = len(cfg.activations)
    total = 4 + k + (k * len(cfg.width_n) if cfg.width else 0)
    done = 0

    def tick(desc):
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, desc)

    X, Y = data(cfg)
    seconds = {}

    def timed(name, section, *args, **kwargs):
        t = time.perf_counter()
        out = section(*args, **kwargs)
        seconds[name] = time.perf_counter() - t
        return out

    kernel = timed("kernel", kernel_section, cfg)
    lam = {a: kernel[a]["sphere"]["lambda"] for a in cfg.activations}
    Hstar = {a: (lam[a], kernel[a]["sphere"]["norm"]) for a in cfg.activations}   # H* = K ⊗ I_{d'}
    finite = timed("finite_width", finite_width_section, cfg, X, lam)
    tick("limit kernels")
    sens = timed("sensitivity", sensitivity_section, cfg, X, Y, lam)
    tick("perturbation sensitivity")
    shift = timed("shift", shift_section, cfg, X)
    tick("shift invariance (G2)")
    training = timed("training", training_section, cfg, X, Y, Hstar, tick=tick)
    widths = (timed("width", width_section, cfg, tick=tick, workers=workers, scheduler=scheduler, cache=cache)
              if cfg.width else None)
    tick("done")
    seconds = {k: round(v, 1) for k, v in seconds.items()}
    seconds["total"] = round(time.perf_counter() - t0, 1)
    return CompareResult.of(
        cfg, data={"X": f"sphere(n={cfg.n}, d={cfg.d}, seed=derived_seed({cfg.data_seed}, 'compare.data', {cfg.n}))",
                   "Y": f"labels(n={cfg.n}, d_out={cfg.d_out}, "
                        f"seed=derived_seed({cfg.data_seed}, 'compare.labels', {cfg.n}))",
                   "ball": f"ball(n={cfg.n}, d={cfg.d}, seed=derived_seed({cfg.data_seed}, 'compare.ball', {cfg.n}))",
                   "init": "symmetric (iid for the shift section), the same W(0) and A for every activation",
                   "kappa": "m"},
        kernel=kernel, finite_width=finite, sensitivity=sens, shift=shift, training=training, width=widths,
        seconds=seconds, versions=versions())
