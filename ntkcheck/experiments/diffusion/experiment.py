"""The diffusion experiment (``ntkcheck diffusion``, the book's D5 and D6 chapters): its settings
(:class:`Config`: QUICK, FULL, DEMO), :func:`run` and the pictures' data.  The figures are drawn by
:mod:`ntkcheck.plots.diffusion`."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy import stats

from ntkcheck.core import validate as V
from ntkcheck.experiments.diffusion.d1_forward import as_time
from ntkcheck.experiments.diffusion.d2_gmm import Mixture, default_mixture
from ntkcheck.experiments.diffusion.d3_dsm import denoising_data
from ntkcheck.experiments.diffusion.d4_lift import as_delta, choose_rho
from ntkcheck.experiments.diffusion.d5_tracking import tracking
from ntkcheck.experiments.diffusion.d6_generalization import (energy_distance, flow_samples, mode_fractions,
                                                              score_error, time_grid, train_over_time)
from ntkcheck.experiments.diffusion.learners import ERROR_VS_N, PICTURES, fit_kernel, fit_network
from ntkcheck.experiments.diffusion.result import (ERRORS, Claims, DiffusionResult, EnergyDistances, ErrorFits,
                                                   ErrorRow, ErrorRun, Fit, ModeFractions, Pictures, PictureTime,
                                                   Samples, ScoreField, Seconds, Settings, Tracking)
from ntkcheck.seeds import derived_seed


@dataclass(frozen=True)
class Config:
    """Settings of :func:`run` (``ntkcheck diffusion``).  QUICK is the default, FULL the long run, DEMO fits a
    notebook cell (:func:`quick_demo`)."""

    t: float = 0.4                  # the diffusion time of the error-vs-n and tracking experiments
    sigma: float = 1.5              # init scale of W (and of H*)
    delta: float = 1e-2             # truncated mass of the lift
    m: int = 512                    # width of the networks in the error-vs-n experiment
    n_values: tuple = (64, 128, 256, 512)
    seeds: int = 2                  # training sets (and inits) per n
    n_val: int = 256                # held-out denoising pairs for early stopping
    n_eval: int = 4000              # fresh points of p_t for the score error
    steps: int = 3000               # GD step budget
    record_every: int = 10          # held-out loss cadence
    kernel_k_max: float = 1e8       # largest k tried for kernel regression
    track_n: int = 128
    track_widths: tuple = (64, 256, 1024, 4096)
    track_steps: int = 400
    track_seeds: int = 2
    pictures: bool = True
    pic_t_min: float = 0.05
    pic_t_max: float = 2.5
    pic_times: int = 8
    pic_n: int = 512
    pic_m: int = 256
    pic_steps: int = 1500
    pic_samples: int = 1000
    field_grid: int = 21
    seed: int = 0


QUICK = Config()
FULL = replace(QUICK, m=1024, n_values=(64, 128, 256, 512, 1024, 2048), seeds=3, n_eval=10000, steps=20000,
               record_every=20, track_widths=(64, 256, 1024, 4096, 16384), track_seeds=3, track_steps=1000,
               pic_times=10, pic_n=1024, pic_m=1024, pic_steps=5000, pic_samples=2000)
DEMO = replace(QUICK, m=256, n_values=(64, 128, 256), seeds=1, n_eval=2000, steps=1500, track_n=64,
               track_widths=(64, 256, 1024), track_steps=200, track_seeds=1, pic_times=6, pic_n=256, pic_m=256,
               pic_steps=800, pic_samples=500, field_grid=15)


def validate(cfg: Config) -> Config:
    """``cfg`` with every field checked (one ValueError naming the field)."""
    if not isinstance(cfg, Config):
        raise ValueError(f"cfg must be a diffusion.Config, got {type(cfg).__name__}")
    as_time(cfg.t)
    for name in ("sigma", "kernel_k_max", "pic_t_min", "pic_t_max"):
        V.positive_float(getattr(cfg, name), name)
    as_delta(cfg.delta)
    for name in ("seeds", "n_val", "n_eval", "steps", "record_every", "track_n", "track_steps", "track_seeds",
                 "pic_times", "pic_n", "pic_samples", "field_grid"):
        V.positive_int(getattr(cfg, name), name)
    for name in ("m", "pic_m"):
        m = V.positive_int(getattr(cfg, name), name, minimum=2)
        if m % 2:
            raise ValueError(f"{name} must be even (the symmetric init), got {m}")
    if len(cfg.n_values) < 3 or len(set(cfg.n_values)) != len(cfg.n_values):
        raise ValueError(f"n_values needs at least 3 distinct sizes (a slope with a CI), got {cfg.n_values}")
    for n in cfg.n_values:
        V.positive_int(n, "n_values entry", minimum=4)
    if len(cfg.track_widths) < 3:
        raise ValueError(f"track_widths needs at least 3 widths, got {cfg.track_widths}")
    for m in cfg.track_widths:
        if V.positive_int(m, "track_widths entry", minimum=2) % 2:
            raise ValueError(f"track_widths must be even (the symmetric init), got {m}")
    if not cfg.pic_t_min < cfg.pic_t_max:
        raise ValueError(f"pic_t_min must be < pic_t_max, got {cfg.pic_t_min}, {cfg.pic_t_max}")
    if not isinstance(cfg.seed, (int, np.integer)) or isinstance(cfg.seed, bool) or cfg.seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {cfg.seed!r}")
    return cfg


def _affine_fit(x, y):
    A = np.c_[x, np.ones(len(x))]
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    return lambda z: np.c_[z, np.ones(len(z))] @ coef


def _seed_interval(vals, level=0.95):
    """mean ± t·sd/√s over seeds, the lower end clipped at 0 (an error is ≥ 0); None for one seed."""
    vals = np.asarray(vals, float)
    if len(vals) < 2:
        return None
    hw = stats.t.ppf(0.5 + level / 2, len(vals) - 1) * vals.std(ddof=1) / np.sqrt(len(vals))
    return [max(0.0, float(vals.mean() - hw)), float(vals.mean() + hw)]


def _one_run(cfg: Config, rho: float, tr, va, sd: int, err, progress):
    """One (n, seed) of the error-vs-n experiment (D6): the early-stopped network, kernel regression with H*
    (free k, and k within the network's step budget), the trivial and the affine predictors; returns (the
    run's row, the network fit, the kernel fit)."""
    c0 = time.perf_counter()
    # one init per seed index, shared by every n (as before the seed policy): the runs at different n differ by
    # their data only
    nf = fit_network(tr.x, tr.y, va.x, va.y, rho, m=cfg.m, sigma=cfg.sigma,
                     seed=derived_seed(cfg.seed, "diffusion.init", ERROR_VS_N, sd), steps=cfg.steps,
                     record_every=cfg.record_every, progress=progress)
    kf = fit_kernel(tr.x, tr.y, va.x, va.y, rho, cfg.sigma, c=nf.eta * cfg.m, k_max=cfg.kernel_k_max,
                    extra_k=nf.steps)
    in_budget = kf.k_grid <= cfg.steps
    k_budget = int(kf.k_grid[in_budget][np.argmin(kf.val_loss[in_budget])])
    ybar = tr.y.mean(axis=0)
    e_nn, e_k = err(nf.predict), err(kf.predict)
    e_kb = err(lambda z: kf.lin.predict(z, k_budget))
    e_tr = err(lambda z: np.broadcast_to(ybar, z.shape))
    e_af = err(_affine_fit(tr.x, tr.y))
    row = ErrorRun(n=int(tr.x.shape[0]), seed=sd, error_nn=e_nn["mean"], error_nn_ci=e_nn["ci"],
                   error_kernel=e_k["mean"], error_kernel_ci=e_k["ci"],
                   error_kernel_budget=e_kb["mean"], error_kernel_budget_ci=e_kb["ci"],
                   error_trivial=e_tr["mean"], error_trivial_ci=e_tr["ci"],
                   error_affine=e_af["mean"], error_affine_ci=e_af["ci"],
                   early_stop_step=nf.best_step, steps_run=nf.steps_run, hit_budget=nf.hit_budget,
                   eta=nf.eta, kernel_k=kf.k_best, kernel_k_budget=k_budget,
                   val_loss_nn=float(nf.val_loss.min()), val_loss_kernel=float(kf.val_loss.min()),
                   seconds_nn=nf.seconds, seconds_kernel=time.perf_counter() - c0 - nf.seconds)
    return row, nf, kf


def _rows(n_values, runs: list[ErrorRun]) -> list[ErrorRow]:
    """The per-n rows: each error's mean over seeds, the seeds' values and their interval."""
    rows = []
    for n in n_values:
        rs = [r for r in runs if r.n == int(n)]
        cols = {}
        for key in ERRORS:
            vals = [getattr(r, key) for r in rs]
            cols[key] = float(np.mean(vals))
            cols[f"{key}_seeds"] = vals
            cols[f"{key}_ci"] = _seed_interval(vals) or getattr(rs[0], f"{key}_ci")
        rows.append(ErrorRow(n=int(n), seeds=len(rs), **cols, ratio_nn_trivial=cols["error_nn"] / cols["error_trivial"],
                             early_stop_steps=[r.early_stop_step for r in rs], kernel_k=[r.kernel_k for r in rs],
                             any_hit_budget=any(r.hit_budget for r in rs)))
    return rows


def _claims(rows: list[ErrorRow], fit_nn: Fit, fit_k: Fit, trk: Tracking) -> Claims:
    """What the experiment claims (D5, D6), read off its rows, fits and tracking."""
    last = rows[-1]
    slopes = trk.slopes.to_json()
    return Claims(
        slope_nn=fit_nn.slope, slope_nn_ci=fit_nn.ci, slope_nn_negative=bool(fit_nn.ci[1] < 0),
        slope_kernel=fit_k.slope, slope_kernel_ci=fit_k.ci, slope_kernel_negative=bool(fit_k.ci[1] < 0),
        ratio_nn_trivial=[r.ratio_nn_trivial for r in rows],
        ratio_nn_trivial_at_largest_n=last.ratio_nn_trivial,
        nn_below_trivial_every_n=bool(all(r.error_nn < r.error_trivial for r in rows)),
        nn_below_affine_at_largest_n=bool(last.error_nn < last.error_affine),
        tracking_slopes={k: v["slope"] for k, v in slopes.items()},
        tracking_slope_cis={k: v["ci"] for k, v in slopes.items()},
        tracking_decreasing_in_m=bool(all(v["ci"][1] < 0 for v in slopes.values())),
    )


def _settings(cfg: Config, mix: Mixture, rc, fisher: float) -> Settings:
    return Settings(**{**asdict(cfg), "d": mix.d, "d_out": mix.d, "mixture": mix.as_dict(), "kappa": "m",
            "init": "symmetric", "rho": rc.rho, "rho_method": rc.method, "truncated_mass": rc.mass,
            "truncated_mass_kind": "exact (noncentral chi-square)", "rho_bound": rc.bound_rho,
            "fisher_information": fisher, "eta_rule": "eta = 1/(m·max(λ_max(H*), λ_max(H(W(0)))))",
            "early_stopping": "least held-out denoising loss over steps recorded every record_every; "
                              "stop once the best step is < half the steps run, or at the budget",
            "kernel_regression": "f_lin(·; k) with H* (D5), k on the same held-out set, geometric grid to "
                                 "kernel_k_max; error_kernel_budget restricts k to the network's budget",
            "error_ci": "rows: t-interval over seeds, lower end clipped at 0 (the MC interval of seed 0 "
                        "when seeds = 1); "
                        "runs: CLT interval of the Monte Carlo mean over n_eval fresh points"})


def run(cfg: Config = QUICK, mix: Mixture | None = None, progress=None) -> DiffusionResult:
    """The application experiment of the book's D1–D6 part (D5, D6).

    Parameters: ``cfg`` a :class:`Config` (QUICK, FULL, DEMO or a replace of one); ``mix`` the data's
    :class:`Mixture` (default :func:`default_mixture`); ``progress(phase, fraction)`` called as the work
    proceeds (phases "error vs n", "tracking", "pictures").
    Returns: a :class:`~ntkcheck.experiments.diffusion.result.DiffusionResult` (settings, versions, rows,
    runs, fit, tracking, pictures, claims, seconds; ``to_json()`` is what ``ntkcheck diffusion --json``
    writes).  Same ``cfg`` and mixture ⇒ same numbers."""
    from ntkcheck.core.results import versions
    from ntkcheck.core.stats import loglog_slope

    cfg = validate(cfg)
    mix = default_mixture() if mix is None else mix
    if not isinstance(mix, Mixture):
        raise ValueError(f"mix must be a Mixture, got {type(mix).__name__}")
    tick = progress or (lambda phase, frac: None)
    t0 = time.perf_counter()
    t = cfg.t
    rc = choose_rho(mix, t, cfg.delta)
    x_eval = mix.sample_t(cfg.n_eval, t, derived_seed(cfg.seed, "diffusion.samples", ERROR_VS_N))
    s_eval = mix.score(x_eval, t)
    fisher = float(np.mean(np.sum(s_eval**2, axis=1)))
    val = [denoising_data(mix, cfg.n_val, t, seed=derived_seed(cfg.seed, "diffusion.data", ERROR_VS_N, 0, sd))
           for sd in range(cfg.seeds)]

    def err(pred):
        return score_error(pred, mix, t, x_eval=x_eval)

    # -- D6: score error against n -------------------------------------------------------------------------
    runs = []
    total = len(cfg.n_values) * cfg.seeds
    for a, n in enumerate(cfg.n_values):
        for sd in range(cfg.seeds):
            tr = denoising_data(mix, n, t,
                                seed=derived_seed(cfg.seed, "diffusion.data", ERROR_VS_N, 1, int(n), sd))
            row, nf, kf = _one_run(cfg, rc.rho, tr, val[sd], sd, err,
                                   lambda f, a=a, sd=sd: tick("error vs n", (a * cfg.seeds + sd + f) / total))
            runs.append(row)
            if a == len(cfg.n_values) - 1 and sd == 0:
                field_fits = (nf, kf)
    rows = _rows(cfg.n_values, runs)
    fit_nn = Fit.from_json(loglog_slope([r.n for r in runs], [r.error_nn for r in runs]))
    fit_k = Fit.from_json(loglog_slope([r.n for r in runs], [r.error_kernel for r in runs]))
    t_err = time.perf_counter() - t0

    # -- D5: tracking against m -----------------------------------------------------------------------------
    t1 = time.perf_counter()
    trk = Tracking.from_json(tracking(mix, t, n=cfg.track_n, widths=cfg.track_widths, sigma=cfg.sigma,
                                      delta=cfg.delta, steps=cfg.track_steps, seeds=cfg.track_seeds,
                                      data_seed=cfg.seed, progress=lambda f: tick("tracking", f)))
    t_trk = time.perf_counter() - t1

    # -- pictures -----------------------------------------------------------------------------------------------
    pics = None
    if cfg.pictures and mix.d == 2:
        t2 = time.perf_counter()
        pics = pictures(mix, cfg, field_fits, progress=lambda f: tick("pictures", f))
        pics = replace(pics, seconds=time.perf_counter() - t2)
    return DiffusionResult(
        experiment="diffusion (D5–D6)", settings=_settings(cfg, mix, rc, fisher), versions=versions(),
        rows=rows, runs=runs, fit=ErrorFits(error_nn=fit_nn, error_kernel=fit_k), tracking=trk, pictures=pics,
        claims=_claims(rows, fit_nn, fit_k, trk),
        seconds=Seconds(error_vs_n=t_err, tracking=t_trk, total=time.perf_counter() - t0))


def pictures(mix: Mixture, cfg: Config, field_fits, progress=None) -> Pictures:
    """The two-dimensional pictures' data: the true and learned score fields at cfg.t (the network and the
    kernel fitted at the largest n, seed 0), and probability-flow ODE samples driven by one network per
    time of a geometric grid, next to the same ODE with the true score and to samples of p_0.

    Parameters: ``mix`` the data's mixture (d = 2); ``cfg`` the run's Config; ``field_fits`` (network fit,
    kernel fit) at the largest n; ``progress(fraction)`` or None.  Returns: a :class:`Pictures`
    (``seconds`` left None)."""
    nf, kf = field_fits
    t = cfg.t
    lim = 2.5
    g = np.linspace(-lim, lim, cfg.field_grid)
    G = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)
    # the arrays for pictures are stored rounded to 4 decimals (plenty for a plot; keeps the JSON small)
    field = ScoreField(grid=g, true=np.round(mix.score(G, t), 4), network=np.round(nf.predict(G), 4),
                       kernel=np.round(kf.predict(G), 4))
    times = time_grid(cfg.pic_t_min, cfg.pic_t_max, cfg.pic_times)
    nets = train_over_time(mix, times, n=cfg.pic_n, n_val=cfg.n_val, m=cfg.pic_m, sigma=cfg.sigma,
                           delta=cfg.delta, steps=cfg.pic_steps, record_every=cfg.record_every,
                           seed=cfg.seed, progress=progress)
    # both flows start from the same N(0, I) draw (common random numbers: the difference is the score's)
    start = derived_seed(cfg.seed, "diffusion.noise", PICTURES)
    learned = flow_samples(lambda j, x: nets[j].predict(x), times, mix.d, cfg.pic_samples, seed=start)
    exact = flow_samples(lambda j, x: mix.score(x, times[j]), times, mix.d, cfg.pic_samples, seed=start)
    p0 = mix.sample(cfg.pic_samples, derived_seed(cfg.seed, "diffusion.samples", PICTURES, 0))
    p_tmin = mix.sample_t(cfg.pic_samples, times[0], derived_seed(cfg.seed, "diffusion.samples", PICTURES, 1))
    p_tmin_2 = mix.sample_t(cfg.pic_samples, times[0], derived_seed(cfg.seed, "diffusion.samples", PICTURES, 2))
    per_time = []
    for j, (tt, nfj) in enumerate(zip(times, nets)):
        e = score_error(nfj.predict, mix, tt, n_eval=2000,
                        seed=derived_seed(cfg.seed, "diffusion.samples", PICTURES, 3, j))
        per_time.append(PictureTime(t=float(tt), error_nn=e["mean"], error_nn_ci=e["ci"],
                                    fisher=mix.fisher(tt, 20000, seed=derived_seed(cfg.seed, "diffusion.samples",
                                                                                PICTURES, 4, j))[0],
                                    early_stop_step=nfj.best_step, hit_budget=nfj.hit_budget))
    return Pictures(
        t_field=t, field=field, times=times, per_time=per_time,
        samples=Samples(learned_ode=np.round(learned, 4), exact_ode=np.round(exact, 4), p0=np.round(p0, 4)),
        energy_distance=EnergyDistances(learned_ode_vs_p_tmin=energy_distance(learned, p_tmin),
                                        exact_ode_vs_p_tmin=energy_distance(exact, p_tmin),
                                        learned_ode_vs_p0=energy_distance(learned, p0),
                                        sampling_floor=energy_distance(p_tmin_2, p_tmin)),
        mode_fractions=ModeFractions(weights=mix.weights, learned_ode=mode_fractions(learned, mix),
                                     exact_ode=mode_fractions(exact, mix), p0=mode_fractions(p0, mix)),
        design="one network per time on a geometric grid (no time conditioning); Heun's method on that grid "
               "from t_max (start N(0, I)) to t_min for dx/dt = −x − ŝ(x, t)")


def quick_demo(seed: int = 0) -> DiffusionResult:
    """The DEMO configuration (≈ 20 s on two cores): a notebook cell's worth of the experiment.

    Parameters: ``seed`` the experiment's seed.  Returns: the :func:`run` result; its figures are
    ``ntkcheck.plots.diffusion.plot(result, folder)``."""
    return run(replace(DEMO, seed=seed))
