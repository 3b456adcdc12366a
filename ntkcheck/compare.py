"""Beyond softmax (the book's Beyond-softmax part): the softmax network against the pointwise networks (ReLU, exp, sigmoid, tanh,
swish) under the NTK lens, on the same data, the same initial weights and the same step-size rule.

Every network is F(W, X) = κ Φ(XW) Aᵀ with κ = m (:mod:`ntkcheck.network`); the softmax network is the exp
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
* **width** — m_emp(n) and its fitted exponent of n, by :func:`ntkcheck.width.empirical_width` (the width
  experiment's code and defaults, for all six activations; certified widths exist for softmax only).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace

import numpy as np

import ntkcheck as nk
from ntkcheck import _validate as V
from ntkcheck import width as width_experiment
from ntkcheck._results import versions
from ntkcheck.kernels import ACTIVATIONS
from ntkcheck.theorem import lambda_min

DIRECTIONS = ("random", "gradient", "shift")
QUARTER = 0.25          # T1 keeps λ_min(H(W(t))) ≥ λ/2 from ‖H(W(t)) − H(W(0))‖ ≤ λ/4 plus (i)


@dataclass(frozen=True)
class Config:
    activations: tuple = ACTIVATIONS
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
        if a not in ACTIVATIONS:
            raise ValueError(f"unknown activation {a!r}; known: {', '.join(ACTIVATIONS)}")
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
    """The width experiment's data: X = sphere(n, d, data_seed), Y = labels(n, d', data_seed + 1)."""
    n = cfg.n if n is None else n
    return nk.sphere(n, cfg.d, seed=cfg.data_seed), nk.labels(n, cfg.d_out, seed=cfg.data_seed + 1)


def _spectrum(K: np.ndarray) -> dict:
    lam, how = lambda_min(K)
    norm = float(np.linalg.norm(K, 2))
    return {"lambda": lam, "norm": norm, "condition": norm / lam if lam > 0 else math.inf, "lambda_decided_with": how}


def _init(cfg: Config, act: str, seed: int, scheme: str = "symmetric"):
    # the same seed draws the same W(0) and A for every activation (init_params ignores the name when drawing)
    return nk.init_params(cfg.d, cfg.m, cfg.d_out, sigma=cfg.sigma, scheme=scheme, seed=seed, activation=act)


def _seed(cfg: Config, s: int) -> int:
    return 10_000 * (cfg.data_seed + 1) + s


# ------------------------------------------------------------------------------------------ sections
def kernel_section(cfg: Config) -> dict:
    """λ_min(K_φ), ‖K_φ‖₂ and their ratio against n (sphere data), against σ (at n), and on ball data."""
    out = {}
    Xb = nk.ball(cfg.n, cfg.d, seed=cfg.data_seed)
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
        errs = [float(np.linalg.norm(nk.empirical_ntk(_init(cfg, act, _seed(cfg, s)), X) - Hs, 2)) / lam[act]
                for s in range(cfg.seeds)]
        out[act] = {"error_over_lambda": errs, "mean_error_over_lambda": float(np.mean(errs)),
                    "max_error_over_lambda": max(errs)}
    return out


def _directions(cfg: Config, s: int, grad: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-neuron perturbation directions (d×m, unit columns): independent random ones, one common v for
    every neuron, and (given ∇_W L) the direction of the first gradient-descent step, −∇_{w_r}L/‖∇_{w_r}L‖."""
    rng = np.random.default_rng([cfg.data_seed, s, 7])
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
        from ntkcheck.bounds import ntk_perturbation_bound

        p = _init(cfg, "softmax", _seed(cfg, 0))
        out["softmax"]["B3_bound_over_R_lambda"] = [
            ntk_perturbation_bound(R, p, X) / (R * lam["softmax"]) for R in radii]
    return out


def training_section(cfg: Config, X: np.ndarray, Y: np.ndarray, Hstar: dict, tick=None) -> dict:
    """GD at η = c/(m(‖H*‖₂ + λ/2)) from the symmetric init of seed 0, until loss ≤ ε or the budget;
    ``tick(description)`` after each activation."""
    from ntkcheck.training import eta_and_steps, train

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


def width_section(cfg: Config, tick=None) -> dict:
    """m_emp(n) for every activation with the width experiment's code, and the fitted exponents."""
    wcfg = width_experiment.validate(_width_cfg(cfg))
    rows = []
    for n in wcfg.n_values:
        X, Y = width_experiment.data(n, wcfg)
        for act in wcfg.activations:
            emp = width_experiment.empirical_width(X, Y, act, wcfg)
            rows.append({"activation": act, "n": n, "lambda": emp["lambda"], "m_emp": emp["m_emp"],
                         "reason": emp.get("m_emp_reason"),
                         "T": emp["tested"][-1]["T"] if emp["tested"] else None,
                         "failures": emp["tested"][-1]["failures"] if emp["tested"] else []})
            if tick is not None:
                tick(f"{act} n={n}: m_emp = {emp['m_emp']}")
    fits = width_experiment.fits([r | {k: None for k in width_experiment.CERT_VARIANTS.values()} for r in rows])
    return {"config": asdict(wcfg), "eta_rule": width_experiment.eta_rule_text(wcfg), "rows": rows,
            "fits": {a: {"m_emp": f["m_emp"], "m_emp·λ²": f.get("m_emp·λ²")} for a, f in fits.items()}}


# ------------------------------------------------------------------------------------------ run
def run(cfg: Config = QUICK, progress=None) -> dict:
    """Every section, on the same data; ``progress(done, total, description)`` as work completes."""
    cfg = validate(cfg)
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
    widths = timed("width", width_section, cfg, tick=tick) if cfg.width else None
    tick("done")
    result = {"experiment": "beyond-softmax", "config": asdict(cfg),
              "data": {"X": f"sphere(n={cfg.n}, d={cfg.d}, seed={cfg.data_seed})",
                       "Y": f"labels(n={cfg.n}, d_out={cfg.d_out}, seed={cfg.data_seed + 1})",
                       "ball": f"ball(n={cfg.n}, d={cfg.d}, seed={cfg.data_seed})",
                       "init": "symmetric (iid for the shift section), the same W(0) and A for every activation",
                       "kappa": "m"},
              "kernel": kernel, "finite_width": finite, "sensitivity": sens, "shift": shift, "training": training,
              "width": widths, "seconds": {k: round(v, 1) for k, v in seconds.items()}, "versions": versions()}
    result["seconds"]["total"] = round(time.perf_counter() - t0, 1)
    result["table"] = table(result)
    return result


def table(result: dict) -> list[dict]:
    """One row per activation: the comparison's headline numbers."""
    rows = []
    for act in result["config"]["activations"]:
        k, s, tr, sh = (result[x][act] for x in ("kernel", "sensitivity", "training", "shift"))
        row = {"activation": act, "lambda": k["sphere"]["lambda"], "condition": k["sphere"]["condition"],
               "condition_ball": k["ball"]["condition"],
               "finite_width_over_lambda": result["finite_width"][act]["max_error_over_lambda"],
               **{f"r_quarter_{kind}": s[kind]["r_quarter"] for kind in DIRECTIONS},
               **{f"r_quarter_{kind}_text": s[kind]["r_quarter_text"] for kind in DIRECTIONS},
               **{f"sensitivity_{kind}": s[kind]["max_over_R_lambda"][0] for kind in DIRECTIONS},
               "steps": tr["steps"] if tr["reached"] else None, "T_predicted": tr["T_predicted"],
               "observed_rate": tr["observed_rate"], "guaranteed_rate": tr["guaranteed_rate"],
               "common_move_share": tr["common_move_share"],
               "shift_F_change": sh["F_change"], "shift_H_change": sh["H_change"]}
        if result.get("width"):
            f = result["width"]["fits"][act]["m_emp"]
            row |= {"m_emp_slope": f["slope"], "m_emp_ci": f["ci"],
                    "m_emp": {r["n"]: r["m_emp"] for r in result["width"]["rows"] if r["activation"] == act}}
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------------------ pictures
STYLE = {"softmax": ("C0", "o"), "exp": ("C1", "s"), "relu": ("C2", "^"), "sigmoid": ("C3", "v"),
         "tanh": ("C4", "D"), "swish": ("C5", "P")}


def _style(act: str) -> dict:
    color, marker = STYLE.get(act, ("k", "x"))
    return {"color": color, "marker": marker, "lw": 2.2 if act == "softmax" else 1.2, "ms": 4}


def plot_kernel(result: dict, axes) -> None:
    """Three panels: λ_min(K_φ) against n (sphere data); λ_min/‖K_φ‖₂ (scale-free) against n and against σ."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    cfg = result["config"]
    for act in cfg["activations"]:
        k = result["kernel"][act]
        n = [r["n"] for r in k["by_n"]]
        axes[0].loglog(n, [r["lambda"] for r in k["by_n"]], label=act, **_style(act))
        axes[1].loglog(n, [1 / r["condition"] for r in k["by_n"]], label=act, **_style(act))
        axes[2].loglog([r["sigma"] for r in k["by_sigma"]], [1 / r["condition"] for r in k["by_sigma"]], label=act,
                       **_style(act))
    for ax in axes[:2]:
        ax.axvline(cfg["d"], color="0.6", lw=0.8, ls=":")
        ax.set_xlabel("n (sphere data; dotted: n = d)")
    axes[0].set(ylabel=r"$\lambda_{\min}(K_\varphi)$", title=f"smallest eigenvalue (d = {cfg['d']}, σ = {cfg['sigma']:g})")
    axes[1].set(ylabel=r"$\lambda_{\min}/\|K_\varphi\|_2$", title="inverse condition number against n")
    axes[2].set(xlabel="σ", title=f"inverse condition number against σ (n = {cfg['n']})")
    for ax, ticks in zip(axes, (cfg["kernel_n"], cfg["kernel_n"], cfg["kernel_sigmas"])):
        ax.set_xticks(ticks)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    axes[0].legend(fontsize=7)


def plot_sensitivity(result: dict, axes) -> None:
    """One panel per direction kind: max over draws of ‖H(W̃) − H(W)‖₂/(Rλ) against R, the line 1/(4R) (where
    the change reaches λ/4), and B3's bound for softmax."""
    cfg, sens = result["config"], result["sensitivity"]
    R = np.asarray(cfg["radii"])
    tiny = 1e-17
    for ax, kind in zip(axes, DIRECTIONS):
        for act in cfg["activations"]:
            ax.loglog(R, np.maximum(sens[act][kind]["max_over_R_lambda"], tiny), label=act, **_style(act))
        if "B3_bound_over_R_lambda" in sens.get("softmax", {}):
            ax.loglog(R, sens["softmax"]["B3_bound_over_R_lambda"], color="C0", ls="--", lw=1,
                      label="B3 bound (softmax)")
        ax.loglog(R, QUARTER / R, color="k", lw=0.8, ls=":", label=r"$1/(4R)$: change $=\lambda/4$")
        ax.set(xlabel="R (every neuron moved by R)", title=f"{kind} directions")
    axes[0].set_ylabel(r"$\|H(\tilde W) - H(W)\|_2 \,/\, (R\lambda)$")
    axes[0].legend(fontsize=7)


def plot_training(result: dict, ax) -> None:
    """Training loss against the step for every activation, at η = c/(m(‖H*‖₂ + λ/2))."""
    cfg = result["config"]
    for act in cfg["activations"]:
        tr = result["training"][act]
        st = _style(act) | {"marker": None}
        ax.loglog(np.asarray(tr["curve"]["steps"]) + 1, tr["curve"]["loss"], label=f"{act} ({tr['steps']} steps)",
                  **st)
    ax.axhline(cfg["eps"], color="0.5", lw=0.8, ls=":")
    ax.set(xlabel="step + 1", ylabel="training loss",
           title=f"GD at η = {cfg['c']:g}/(m(‖H*‖ + λ/2)), n = {cfg['n']}, m = {cfg['m']}")
    ax.legend(fontsize=7)


def plot_width(result: dict, ax) -> None:
    """m_emp against n for every activation (the width experiment's rule)."""
    w = result["width"]
    for act in result["config"]["activations"]:
        rows = [r for r in w["rows"] if r["activation"] == act and r["m_emp"]]
        f = w["fits"][act]["m_emp"]
        slope = f"slope {f['slope']:.2f}" if f.get("slope") is not None else "no fit"
        ax.loglog([r["n"] for r in rows], [r["m_emp"] for r in rows], label=f"{act} ({slope})", **_style(act))
    ax.set(xlabel="n", ylabel=r"$m_{\rm emp}$", title="empirical width (GD reaches ε in the predicted T steps)")
    ax.legend(fontsize=7)


def plot(result: dict, folder) -> list:
    """Save the comparison's figures (PNG) into ``folder``; returns the paths written."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"plot folder {folder} does not exist")
    out = []
    figures = [("compare_kernel.png", (1, 3), (14, 4.2), plot_kernel),
               ("compare_sensitivity.png", (1, len(DIRECTIONS)), (14, 4.2), plot_sensitivity),
               ("compare_training.png", (1, 1), (6.5, 4.5), plot_training)]
    if result.get("width"):
        figures.append(("compare_width.png", (1, 1), (6.5, 4.5), plot_width))
    for name, grid, size, draw in figures:
        fig, axes = plt.subplots(*grid, figsize=size, dpi=100, squeeze=False)
        axes = axes.ravel()
        draw(result, axes if len(axes) > 1 else axes[0])
        fig.tight_layout()
        path = folder / name
        fig.savefig(path)
        plt.close(fig)
        out.append(path)
    return out
