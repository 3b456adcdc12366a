"""The width experiment of the book's width part: the empirical width m_emp(n) of gradient descent and the certified
widths m_cert(n) of T1 and T1', for growing n, on the same data for the softmax, exp and ReLU networks (by
default; the sigmoid, tanh and swish networks of the book's Beyond-softmax part run too, e.g. from :mod:`ntkcheck.experiments.compare`).

Setting (recorded in every row): sphere data X = sphere(n, d, seed) with d = 8 by default (fixed, as in
the paper; λ = λ_min(K_φ) then shrinks as n grows, and every row records it), labels
Y = labels(n, d', seed + 1) uniform in [−1, 1], κ = m, the *symmetric* init (F(W(0)) = 0, so
‖e(0)‖ = ‖Y‖ at every width; with the iid init and κ = m, ‖e(0)‖ grows like √(mnd') and (iv) can never
hold — the book's T1 part).

m_emp(n): the smallest m on a geometric grid at which GD reaches loss ≤ ε within the predicted number of
steps T = ⌈log(‖e(0)‖²/(2ε)) / (−2 log(1 − ηmλ/4))⌉ in at least (1 − δ) of the seeds, with the step
size of the theorem's form η = c/(m(‖H‖₂ + λ/2)):
  * eta_rule "limit" (default, T1's form): λ = λ_min(H*), ‖H‖ = ‖H*‖ of the activation's infinite-width
    NTK H* = K_φ ⊗ I (:func:`ntkcheck.limit_ntk`), the same for every draw and width;
  * eta_rule "empirical" (T1''s form): λ₀ = λ_min(H(W(0))) and ‖H(W(0))‖ of each draw.
m_cert(n): :func:`ntkcheck.core.theorem.certified_width` for T1', T1 and T1-B7 (Monte Carlo over draws, up to
n·m ≤ max_entries) and T1-B1B7 (B1 and B7, no simulation) — softmax only: B2–B6, hence T1, are proved for
the softmax network; the rows of every other activation carry null with that reason.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace

import numpy as np

import ntkcheck as nk
from ntkcheck.core import validate as V
from ntkcheck.core import activations as registry
from ntkcheck.core.compile import compiled
from ntkcheck.core.results import versions
from ntkcheck.core.stats import loglog_slope
from ntkcheck.core.theorem import certified_width, lambda_min

ETA_RULES = ("limit", "empirical")
CERT_VARIANTS = {"T1'": "m_cert_T1p", "T1": "m_cert_T1", "T1-B7": "m_cert_T1_B7", "T1-B1B7": "m_cert_T1_B1B7"}
PAPER_EXPONENT = 2.0          # m = Ω(λ^{-2} n^{2+o(1)} log²(nd/δ)), arXiv:2405.03251
RELU_LITERATURE_EXPONENT = 6.0  # Du, Zhai, Póczos, Singh (ICLR 2019): m = Ω(n⁶/(λ₀⁴δ³))


@dataclass(frozen=True)
class Config:
    n_values: tuple = (2, 3, 4, 6, 8, 11, 16, 23, 32)     # ≈ √2 apart
    activations: tuple = ("softmax", "exp", "relu")   # any registered ones; `ntkcheck compare` runs all six
    seeds: int = 5                 # GD runs per (activation, n, m)
    d: int | None = 8              # input dimension; None: d = n
    d_out: int = 1
    sigma: float = 0.5
    eps: float = 1e-3              # target loss
    delta: float = 0.2             # m_emp: success in ≥ (1 − δ) of seeds; m_cert: probability ≥ 1 − δ
    level: float = 0.95            # Clopper–Pearson confidence of m_cert
    c: float = 1.0                 # η = c/(m(‖H‖ + λ/2))
    eta_rule: str = "limit"
    m_start: int = 2
    m_max: int = 2**22
    grid: float = 2.0
    max_steps: int = 50_000        # a predicted T above this counts as a failure ("budget")
    max_entries: float = 5e7       # no width with n·m above this is simulated (GD or Monte Carlo)
    certify: bool = True
    cert_rel_tol: float = 0.25
    data_seed: int = 0

    def dim(self, n: int) -> int:
        return n if self.d is None else self.d


QUICK = Config()
FULL = replace(QUICK, n_values=QUICK.n_values + (45, 64), seeds=10, delta=0.1, grid=2 ** 0.5, max_entries=1.5e8,
               cert_rel_tol=0.05)


def validate(cfg: Config) -> Config:
    """``cfg`` with every field checked (ValueError naming the field)."""
    if not cfg.n_values or len(set(cfg.n_values)) != len(cfg.n_values):
        raise ValueError(f"n_values must be distinct and non-empty, got {cfg.n_values}")
    for n in cfg.n_values:
        V.positive_int(n, "n", minimum=2)
    if not cfg.activations:
        raise ValueError("activations must not be empty")
    for a in cfg.activations:
        if a not in registry.ACTIVATIONS:
            raise ValueError(f"unknown activation {a!r}; the width experiment runs {', '.join(registry.names())}")
    if cfg.eta_rule not in ETA_RULES:
        raise ValueError(f"eta_rule must be one of {ETA_RULES}, got {cfg.eta_rule!r}")
    V.positive_int(cfg.seeds, "seeds")
    if cfg.d is not None:
        V.positive_int(cfg.d, "d")
    V.positive_int(cfg.d_out, "d_out")
    for name in ("sigma", "eps", "c", "grid", "max_entries", "cert_rel_tol"):
        V.positive_float(getattr(cfg, name), name)
    if not 0 < cfg.delta < 1 or not 0 < cfg.level < 1:
        raise ValueError(f"delta and level must lie in (0, 1), got {cfg.delta}, {cfg.level}")
    if not cfg.c <= 1:
        raise ValueError(f"c must be in (0, 1] (hypothesis (iii)), got {cfg.c}")
    if not cfg.grid > 1:
        raise ValueError(f"grid must be > 1, got {cfg.grid}")
    V.positive_int(cfg.m_start, "m_start", minimum=2)
    V.positive_int(cfg.m_max, "m_max", minimum=cfg.m_start)
    V.positive_int(cfg.max_steps, "max_steps")
    return cfg


def data(n: int, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    return nk.sphere(n, cfg.dim(n), seed=cfg.data_seed), nk.labels(n, cfg.d_out, seed=cfg.data_seed + 1)


def _even(m: float) -> int:
    return max(2, 2 * int(round(m / 2)))


def _grid(cfg: Config, n: int) -> list[int]:
    top = min(cfg.m_max, int(cfg.max_entries // n))
    out, m = [], float(cfg.m_start)
    while _even(m) <= top:
        if not out or _even(m) > out[-1]:
            out.append(_even(m))
        m *= cfg.grid
    return out


def eta_and_steps(lam: float, H_norm: float, m: int, e0: float, cfg: Config) -> tuple[float, int | None]:
    """η = c/(m(‖H‖ + λ/2)) (T1's (iii), first part, times c) and T = ⌈steps_to_loss⌉ (None if λ ≤ 0)."""
    if not lam > 0:
        return math.nan, None
    eta = cfg.c * float(compiled("linear_convergence", "eta_cap_spectral", "numpy")(m, H_norm, lam))
    if 0.5 * e0**2 <= cfg.eps:
        return eta, 0
    T = float(compiled("linear_convergence", "steps_to_loss", "numpy")(eta, m, lam, e0, cfg.eps))
    return eta, int(math.ceil(T))


def gd_reaches(X, Y, activation: str, m: int, seed: int, cfg: Config, limit=None) -> dict:
    """One draw at width m: GD with the rule's η for its predicted T steps; did the loss reach ε?"""
    from ntkcheck.core.training import train

    n, q = X.shape[0], cfg.d_out
    p = nk.init_params(X.shape[1], m, q, sigma=cfg.sigma, scheme="symmetric", seed=seed, activation=activation)
    e0 = float(np.linalg.norm(nk.residual(p, X, Y)))
    if cfg.eta_rule == "limit":
        lam, H_norm = limit
    else:
        H0 = nk.empirical_ntk(p, X)
        lam, _ = lambda_min(H0)
        H_norm = float(np.linalg.norm(H0, 2))
    eta, T = eta_and_steps(lam, H_norm, m, e0, cfg)
    rec = {"seed": seed, "lambda": lam, "eta": eta, "T": T}
    if T is None:
        return rec | {"success": False, "why": "λ ≤ 0"}
    if T > cfg.max_steps:
        return rec | {"success": False, "why": f"T > {cfg.max_steps}"}
    if T == 0:
        return rec | {"success": True, "steps": 0, "final_loss": 0.5 * e0**2}
    with np.errstate(all="ignore"):    # a diverging run overflows; it is a failure, recorded as such
        hist = train(p, X, Y, eta, T, record_every=max(1, T), stop_below=cfg.eps)
    final = float(hist.loss[-1])
    ok = bool(final <= cfg.eps)
    why = None if ok else ("diverged" if not math.isfinite(final) else "loss > ε after T steps")
    return rec | {"success": ok, "steps": int(hist.steps[-1]), "final_loss": final, "why": why}


def empirical_width(X, Y, activation: str, cfg: Config, tick=None) -> dict:
    """m_emp for one (data, activation): the first width of the grid where ≥ (1 − δ) of the seeds succeed."""
    n = X.shape[0]
    limit = None
    if cfg.eta_rule == "limit":
        Hs = nk.limit_ntk(X, sigma=cfg.sigma, d_out=cfg.d_out, activation=activation)
        lam, how = lambda_min(Hs)
        limit = (lam, float(np.linalg.norm(Hs, 2)))
    need = math.ceil((1 - cfg.delta) * cfg.seeds - 1e-12)
    tested = []
    m_emp = None
    for m in _grid(cfg, n):
        ok = fails = 0
        runs = []
        for s in range(cfg.seeds):
            r = gd_reaches(X, Y, activation, m, 1_000 * (cfg.data_seed + 1) + s, cfg, limit)
            runs.append(r)
            ok += r["success"]
            fails += not r["success"]
            if cfg.seeds - fails < need:       # cannot pass any more
                break
        tested.append({"m": m, "successes": ok, "runs": len(runs),
                       "T": sorted({r["T"] for r in runs if r["T"] is not None}),
                       "steps_used": [r.get("steps") for r in runs],
                       "failures": sorted({r["why"] for r in runs if not r["success"]})})
        if tick is not None:
            tick()
        if ok >= need:
            m_emp = m
            break
    out = {"m_emp": m_emp, "tested": tested, "successes_needed": need}
    if limit is not None:
        out |= {"lambda": limit[0], "lambda_decided_with": how, "H_norm": limit[1]}
    if m_emp is None:
        out["m_emp_reason"] = f"no width up to {tested[-1]['m'] if tested else cfg.m_start} succeeded"
    return out


def eta_rule_text(cfg: Config) -> str:
    if cfg.eta_rule == "limit":
        return (f"eta = {cfg.c:g}/(m(‖H*‖₂ + λ/2)), λ = λ_min(H*), H* = K_φ ⊗ I the activation's "
                "infinite-width NTK (T1's form)")
    return f"eta = {cfg.c:g}/(m(‖H(W(0))‖₂ + λ₀/2)), λ₀ = λ_min(H(W(0))) of each draw (T1''s form)"


def run(cfg: Config = QUICK, progress=None) -> dict:
    """The whole experiment: one row per (activation, n), the fitted exponents, the configuration.

    ``progress(done, total, description)`` is called as work completes."""
    cfg = validate(cfg)
    t0 = time.perf_counter()
    units = len(cfg.activations) * len(cfg.n_values)
    units += len(cfg.n_values) * len(CERT_VARIANTS) * (cfg.certify and "softmax" in cfg.activations)
    done = 0

    def tick(desc):
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, units, desc)

    rows = []
    for n in cfg.n_values:
        X, Y = data(n, cfg)
        for act in cfg.activations:
            if progress is not None:
                progress(done, units, f"{act} n={n}: m_emp")
            emp = empirical_width(X, Y, act, cfg)
            tick(f"{act} n={n}: m_emp = {emp['m_emp']}")
            lam = emp.get("lambda")
            if lam is None:   # the empirical rule does not need H*; the row still records λ_min(K_φ)
                lam, _ = lambda_min(nk.limit_ntk(X, sigma=cfg.sigma, d_out=cfg.d_out, activation=act))
            row = {"activation": act, "n": n, "d": cfg.dim(n), "d_out": cfg.d_out, "sigma": cfg.sigma,
                   "lambda": lam,
                   "scheme": "symmetric", "kappa": "m", "epsilon": cfg.eps, "delta": cfg.delta, "seeds": cfg.seeds,
                   "eta_rule": eta_rule_text(cfg), "m_emp": emp["m_emp"], "m_emp_detail": emp}
            for variant, key in CERT_VARIANTS.items():
                row[key] = None
            if act != "softmax":
                row["m_cert_reason"] = ("B2–B6, and hence T1/T1', are proved for the softmax network only; "
                                        "no certified width for " + act)
            elif not cfg.certify:
                row["m_cert_reason"] = "not computed (certify off)"
            else:
                row["m_cert_detail"] = {}
                for variant, key in CERT_VARIANTS.items():
                    if progress is not None:
                        progress(done, units, f"softmax n={n}: m_cert {variant}")
                    c = certified_width(n, cfg.dim(n), d_out=cfg.d_out, sigma=cfg.sigma, variant=variant,
                                        delta=cfg.delta, level=cfg.level, X=X, Y=Y, data_seed=cfg.data_seed,
                                        m_start=cfg.m_start, m_max=cfg.m_max, rel_tol=cfg.cert_rel_tol,
                                        max_entries=cfg.max_entries)
                    row[key] = c["m_cert"]
                    # keep the JSON small: the decisive widths (from the last failing one up) and how many
                    lo = c.get("m_fail_below")
                    kept = [t for t in c["tested"] if lo is not None and t["m"] >= lo] or c["tested"][-2:]
                    row["m_cert_detail"][variant] = c | {"widths_tested": len(c["tested"]), "tested": kept}
                    tick(f"softmax n={n}: m_cert {variant} = {c['m_cert']}")
            rows.append(row)
    return {"experiment": "width", "config": asdict(cfg), "rows": rows, "fits": fits(rows),
            "reference_exponents": {"paper (arXiv:2405.03251)": PAPER_EXPONENT,
                                    "ReLU, Du et al. ICLR 2019": RELU_LITERATURE_EXPONENT},
            "seconds": round(time.perf_counter() - t0, 1), "versions": versions()}


def fits(rows: list[dict]) -> dict:
    """Fitted exponent of n (log-log least squares, 95% t-interval) of every width column per activation;
    None (with the reason) with fewer than 3 finite points.  ``<column>·λ²`` fits m·λ² instead, λ = λ_min(K_φ)
    of the row: the paper's width is λ^{−2} n^{2+o(1)}, so this is the exponent to put beside its 2."""
    out = {}
    for act in sorted({r["activation"] for r in rows}):
        mine = [r for r in rows if r["activation"] == act]
        out[act] = {}
        keys = [(k, False) for k in ("m_emp", *CERT_VARIANTS.values())]
        keys += [(k, True) for k in ("m_emp", *CERT_VARIANTS.values()) if all(r.get("lambda") for r in mine)]
        for key, scaled in keys:
            pts = [(r["n"], r[key] * (r["lambda"] ** 2 if scaled else 1)) for r in mine if r.get(key)]
            key = f"{key}·λ²" if scaled else key
            if len(pts) < 3:
                out[act][key] = {"slope": None, "ci": None, "points": len(pts),
                                 "reason": "fewer than 3 widths to fit"}
                continue
            if len({m for _, m in pts}) == 1:
                out[act][key] = {"slope": 0.0, "ci": [0.0, 0.0], "points": len(pts),
                                 "reason": "every n has the same width (the grid cannot resolve a slope)"}
                continue
            f = loglog_slope([p[0] for p in pts], [p[1] for p in pts])
            out[act][key] = {"slope": f["slope"], "ci": f["ci"], "points": len(pts)}
    return out


def plot(result: dict, path) -> None:
    """Log-log plot of m_emp and m_cert against n, with the paper's n² line.  Needs matplotlib."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install matplotlib (or pip install -e '.[book]')") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    rows = result["rows"]
    styles = {"m_emp": "-", "m_cert_T1p": "--", "m_cert_T1": ":", "m_cert_T1_B7": "-.", "m_cert_T1_B1B7": (0, (1, 4))}
    labels = {"m_emp": "m_emp", "m_cert_T1p": "m_cert T1'", "m_cert_T1": "m_cert T1", "m_cert_T1_B7": "m_cert T1-B7",
              "m_cert_T1_B1B7": "m_cert T1-B1B7"}
    markers = {a: registry.get(a).style.marker for a in registry.names()}
    all_n, all_m = [], []
    for act in sorted({r["activation"] for r in rows}):
        for key, ls in styles.items():
            pts = sorted((r["n"], r[key]) for r in rows if r["activation"] == act and r.get(key))
            if not pts:
                continue
            ns, ms = zip(*pts)
            fit = result["fits"].get(act, {}).get(key, {})
            slope = f", slope {fit['slope']:.2f}" if fit.get("slope") is not None else ""
            ax.loglog(ns, ms, marker=markers.get(act, "x"), linestyle=ls, label=f"{act} {labels[key]}{slope}",
                      markersize=7 if act == "softmax" else 4)
            all_n += ns
            all_m += ms
    if all_n:
        n0, n1 = min(all_n), max(all_n)
        ref = np.exp(np.mean(np.log(all_m)) - 2 * np.mean(np.log(all_n)))
        grid = np.geomspace(n0, n1, 20)
        ax.loglog(grid, ref * grid**2, color="gray", linewidth=1, label="n² (paper)")
    cfg = result["config"]
    ax.set_xlabel("n (training points)")
    ax.set_ylabel("width m")
    ax.set_title(f"width vs n: sphere data, d = {'n' if cfg['d'] is None else cfg['d']}, symmetric init, "
                 f"κ = m, σ = {cfg['sigma']}, ε = {cfg['eps']}, δ = {cfg['delta']}", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
