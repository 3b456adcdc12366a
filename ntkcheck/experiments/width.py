"""The width experiment of the book's width part: for growing n, on the same data, the empirical width
m_emp(n) of gradient descent, the NTK-regime width m_lazy(n) and the certified widths m_cert(n) of T1 and
T1', for the softmax, exp and ReLU networks (by default; the sigmoid, tanh and swish networks of the book's
Beyond-softmax part run too, e.g. from :mod:`ntkcheck.experiments.compare`).

Setting (recorded in every row): sphere data X ∈ R^{n×d} with d = 8 by default (fixed, as in the paper;
λ = λ_min(K_φ) then shrinks as n grows, and every row records it), labels Y uniform in [−1, 1], κ = m, the
*symmetric* init (F(W(0)) = 0, so ‖e(0)‖ = ‖Y‖ at every width; with the iid init and κ = m, ‖e(0)‖ grows
like √(mnd') and (iv) can never hold — the book's T1 part).  Every draw derives from the user's seed
through :mod:`ntkcheck.seeds`: the data of size n from purposes "width.data"/"width.labels" with key n,
the initialization of draw j at width m from "width.init" with keys (n, m, j) (the same draw for every
activation: common random numbers), the streamed draws of the certified width from "width.certified".

* m_emp(n): the smallest m on a geometric grid at which GD reaches loss ≤ ε within the predicted number of
  steps T (:func:`ntkcheck.core.training.eta_and_steps`) in at least ⌈(1 − δ)·seeds⌉ of the draws, with the step
  of the theorem's form η = c/(m(‖H‖₂ + λ/2)) — eta_rule "limit" (T1's form, H = H* = K_φ ⊗ I of the
  activation) or "empirical" (T1''s form, H = H(W(0)) of each draw).
* m_lazy(n): the smallest m on the grid at which, in a fraction ≥ 1 − δ of the draws (one-sided
  Clopper–Pearson lower bound at confidence ``level``), GD with T1''s step η = 1/(m(‖H(W(0))‖₂ + λ₀/2))
  reaches ‖e‖₂ ≤ ε‖e(0)‖₂ within T = ⌈4 ln(1/ε)/(ηmλ₀)⌉ steps AND the proof's invariant
  ‖H(W(t)) − H(W(0))‖₂ ≤ λ₀/4 holds along the run, measured every k = max(1, ⌈T/checks⌉) steps and at the
  last step (k is recorded).  Where the theorem's mechanism — a nearly constant NTK — operates.
* m_cert(n): the smallest m at which the hypotheses of T1' (T1, T1-B7) hold on the draws with
  Clopper–Pearson lower bound ≥ 1 − δ, searched by doubling and then bisection; each draw's H(W(0)), Q,
  S₀ are streamed over neurons (:mod:`ntkcheck.core.streaming`), so memory stays O((nd')²) at m ~ 10⁸–10⁹;
  T1-B1B7 needs no draw (B1's event and B7).  Softmax only: B2–B6, hence T1, are proved for the softmax
  network; every other activation's row carries null with that reason.
* C3 (``certify_draws``; python-flint installed, n ≤ 6): the certified width from one ball-arithmetic
  proof of T1' per draw (:func:`ntkcheck.certify.width.certified_width`) — each draw proved, the probability
  over the draws a statistical statement.

Every (activation, n, m, draw) unit is a :class:`ntkcheck.sweep.Cell` computed by a module-level function
through :func:`ntkcheck.sweep.run_cells`; the width searches are rounds of cells (every open search
contributes its next cells to one round), so an engine can distribute, cache and resume them and the result
does not depend on how the cells ran.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

import ntkcheck as nk
from ntkcheck import seeds
from ntkcheck.core import activations as registry
from ntkcheck.core import validate as V
from ntkcheck.core import bounds, streaming
from ntkcheck.core.compile import compiled
from ntkcheck.core.results import versions
from ntkcheck.core.stats import binomial_lower, loglog_slope
from ntkcheck.sweep import Cell, engine_client, run_cells
from ntkcheck.core.theorem import (MP_DPS, MP_MAX_TERMS, lambda_min, report_at_chosen, report_b1b7,
                              report_from_quantities)
from ntkcheck.core.training import Trainer, eta_and_steps

ETA_RULES = ("limit", "empirical")
WIDTH_VARIANTS = ("T1", "T1'", "T1-B7", "T1-B1B7")
CERT_VARIANTS = {"T1'": "m_cert_T1p", "T1": "m_cert_T1", "T1-B7": "m_cert_T1_B7", "T1-B1B7": "m_cert_T1_B1B7"}
COLUMNS = ("m_emp", "m_lazy", *CERT_VARIANTS.values(), "m_cert_C3")
PAPER_EXPONENT = 2.0          # m = Ω(λ^{-2} n^{2+o(1)} log²(nd/δ)), arXiv:2405.03251
RELU_LITERATURE_EXPONENT = 6.0  # Du, Zhai, Póczos, Singh (ICLR 2019): m = Ω(n⁶/(λ₀⁴δ³))
C3_N_MAX = 6                  # per-draw ball-arithmetic certificates only up to this n (their cost grows fast)
C3_SHRINK = 1 - 1e-15         # C3 certifies X·(1 − 1e-15): (A1) must hold exactly, not up to rounding


@dataclass(frozen=True)
class Config:
    n_values: tuple = (2, 3, 4, 6, 8)     # m_emp for every n
    activations: tuple = ("softmax", "exp", "relu")   # any registered ones; `ntkcheck compare` runs all six
    seeds: int = 5                 # m_emp: GD runs per (activation, n, m)
    d: int | None = 8              # input dimension; None: d = n
    d_out: int = 1
    sigma: float = 0.5
    eps: float = 1e-3              # m_emp: target loss; m_lazy: target ‖e‖/‖e(0)‖
    delta: float = 0.2             # m_emp: success in ≥ (1 − δ) of seeds; m_lazy, m_cert: probability ≥ 1 − δ
    level: float = 0.95            # Clopper–Pearson confidence of m_cert
    lazy_level: float = 0.95       # Clopper–Pearson confidence of m_lazy
    c: float = 1.0                 # m_emp: η = c/(m(‖H‖ + λ/2))
    eta_rule: str = "limit"        # m_emp's step rule
    m_start: int = 2
    m_max: int = 2**22
    grid: float = 2.0
    max_steps: int = 50_000        # a predicted T above this counts as a failure ("budget")
    max_entries: float = 5e7       # m_emp, m_lazy: no width with n·m above this is simulated
    lazy: bool = True
    lazy_n_max: int = 8            # m_lazy for n ≤ this
    lazy_checks: int = 100         # m_lazy: ‖H(W(t)) − H(W(0))‖₂ measured every ⌈T/lazy_checks⌉ steps
    certify: bool = True
    cert_variants: tuple = ("T1'", "T1", "T1-B7", "T1-B1B7")
    cert_n_max: int = 4            # the Monte Carlo certified widths (T1', T1, T1-B7) for n ≤ this
    cert_m_start: int = 16
    cert_max_entries: float = 1e8  # no certified-width draw with n·m above this (streamed: memory stays flat)
    cert_rel_tol: float = 0.25
    certify_draws: bool = False    # C3: per-draw ball-arithmetic certificates (needs python-flint), n ≤ 6
    data_seed: int = 0             # the user's seed (--seed): every draw derives from it (ntkcheck.seeds)
    emp: bool = True               # m_emp (off: only the other columns, e.g. to run a sweep in parts)

    def dim(self, n: int) -> int:
        return n if self.d is None else self.d


QUICK = Config()
FULL = replace(QUICK, n_values=(2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 64, 91, 128), seeds=10, delta=0.2,
               max_steps=1_000_000, max_entries=1.5e8, lazy_n_max=64, cert_variants=("T1'", "T1", "T1-B7", "T1-B1B7"),
               cert_n_max=16, cert_max_entries=2e10, cert_rel_tol=0.5)


def validate(cfg: Config) -> Config:
    """``cfg`` with every field checked (ValueError naming the field).

    Parameters: ``cfg`` a :class:`Config`.  Returns it unchanged when valid."""
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
    for v in cfg.cert_variants:
        if v not in WIDTH_VARIANTS:
            raise ValueError(f"unknown certified-width variant {v!r}; known: {', '.join(WIDTH_VARIANTS)}")
    V.positive_int(cfg.seeds, "seeds")
    if cfg.d is not None:
        V.positive_int(cfg.d, "d")
    V.positive_int(cfg.d_out, "d_out")
    for name in ("sigma", "eps", "c", "grid", "max_entries", "cert_rel_tol", "cert_max_entries"):
        V.positive_float(getattr(cfg, name), name)
    if not 0 < cfg.eps < 1:
        raise ValueError(f"eps must lie in (0, 1), got {cfg.eps}")
    if not 0 < cfg.delta < 1 or not 0 < cfg.level < 1 or not 0 < cfg.lazy_level < 1:
        raise ValueError(f"delta, level and lazy_level must lie in (0, 1), got {cfg.delta}, {cfg.level}, "
                         f"{cfg.lazy_level}")
    if not cfg.c <= 1:
        raise ValueError(f"c must be in (0, 1] (hypothesis (iii)), got {cfg.c}")
    if not cfg.grid > 1:
        raise ValueError(f"grid must be > 1, got {cfg.grid}")
    V.positive_int(cfg.m_start, "m_start", minimum=2)
    V.positive_int(cfg.m_max, "m_max", minimum=cfg.m_start)
    V.positive_int(cfg.cert_m_start, "cert_m_start", minimum=2)
    V.positive_int(cfg.max_steps, "max_steps")
    V.positive_int(cfg.lazy_checks, "lazy_checks")
    V.positive_int(cfg.lazy_n_max, "lazy_n_max", minimum=0)
    V.positive_int(cfg.cert_n_max, "cert_n_max", minimum=0)
    V.positive_int(cfg.data_seed, "seed", minimum=0)
    return cfg


# ------------------------------------------------------------------------------------------ draws
def _data(n: int, d: int, d_out: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return (nk.sphere(n, d, seed=seeds.derived_seed(seed, "width.data", n)),
            nk.labels(n, d_out, seed=seeds.derived_seed(seed, "width.labels", n)))


def data(n: int, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """The data X (n × d, on the unit sphere) and labels Y (n × d') of size n under ``cfg.data_seed``.

    Parameters: ``n`` the number of points; ``cfg`` the :class:`Config`.  Returns (X, Y)."""
    return _data(n, cfg.dim(n), cfg.d_out, cfg.data_seed)


def _init(d, m, d_out, sigma, activation, seed, n, draw):
    return nk.init_params(d, m, d_out, sigma=sigma, scheme="symmetric", activation=activation,
                          seed=seeds.derived_seed(seed, "width.init", n, m, draw))


def _even(m: float) -> int:
    """The even integer nearest to m (at least 2): the symmetric init pairs the neurons."""
    return max(2, 2 * int(round(m / 2)))


def _grid(cfg: Config, n: int) -> list[int]:
    top = min(cfg.m_max, int(cfg.max_entries // n))
    out, m = [], float(cfg.m_start)
    while _even(m) <= top:
        if not out or _even(m) > out[-1]:
            out.append(_even(m))
        m *= cfg.grid
    return out


def _limit(X, sigma, d_out, activation):
    Hs = nk.limit_ntk(X, sigma=sigma, d_out=d_out, activation=activation)
    lam, how = lambda_min(Hs)
    return lam, how, float(np.linalg.norm(Hs, 2))


def seeds_needed(delta: float, level: float = 0.95) -> int:
    """The fewest draws K for which K successes out of K give a Clopper–Pearson lower bound ≥ 1 − δ.

    Parameters: ``delta`` ∈ (0, 1), ``level`` the confidence.  Returns K."""
    return max(1, math.ceil(math.log(1 - level) / math.log(1 - delta) - 1e-12))


def _successes_needed(K: int, delta: float, level: float) -> int | None:
    for k in range(K + 1):
        if binomial_lower(k, K, level) >= 1 - delta:
            return k
    return None


# ------------------------------------------------------------------------------------------ cells
def compute_cell(cell: Cell) -> dict:
    """The result of one cell of the width experiment (module-level, so an engine can pickle it).

    Kinds: "width.emp" (one GD run for m_emp), "width.lazy" (one GD run with the NTK invariant for
    m_lazy), "width.cert" (the hypotheses of the certified-width variants on one streamed draw).
    Parameters: ``cell`` a :class:`ntkcheck.sweep.Cell`.  Returns a JSON-able dict with ``success`` (for
    "width.cert": per variant), ``seconds`` (wall) and ``cpu_seconds`` (this process's CPU time: on a shared
    machine the wall time measures the load, the CPU time the cell)."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn = {"width.emp": _emp_cell, "width.lazy": _lazy_cell, "width.cert": _cert_cell}.get(cell.kind)
    if fn is None:
        raise ValueError(f"unknown width cell kind {cell.kind!r}")
    out = fn(**cell.params)
    return out | {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}


def _emp_cell(*, activation, n, m, draw, d, d_out, sigma, eps, c, eta_rule, max_steps, seed) -> dict:
    from ntkcheck.core.training import train

    X, Y = _data(n, d, d_out, seed)
    p = _init(d, m, d_out, sigma, activation, seed, n, draw)
    e0 = float(np.linalg.norm(nk.residual(p, X, Y)))
    if eta_rule == "limit":
        lam, _, H_norm = _limit(X, sigma, d_out, activation)
    else:
        H0 = nk.empirical_ntk(p, X)
        lam, _ = lambda_min(H0)
        H_norm = float(np.linalg.norm(H0, 2))
    eta, T = eta_and_steps(lam, H_norm, m, e0, eps, c)
    rec = {"lambda": lam, "eta": eta, "T": T}
    if T is None:
        return rec | {"success": False, "why": "λ ≤ 0"}
    if T > max_steps:
        # with the limit rule T does not depend on m: no width of the grid can succeed
        return rec | {"success": False, "why": f"T > {max_steps}", "final": eta_rule == "limit"}
    if T == 0:
        return rec | {"success": True, "steps": 0, "final_loss": 0.5 * e0**2}
    with np.errstate(all="ignore"):    # a diverging run overflows; it is a failure, recorded as such
        hist = train(p, X, Y, eta, T, record_every=max(1, T), stop_below=eps, threads=1)
    final = float(hist.loss[-1])
    ok = bool(final <= eps)
    why = None if ok else ("diverged" if not math.isfinite(final) else "loss > ε after T steps")
    return rec | {"success": ok, "steps": int(hist.steps[-1]), "final_loss": final, "why": why}


def lazy_steps(eta: float, m: int, lam0: float, eps: float) -> int:
    """T1''s predicted steps to ‖e‖ ≤ ε‖e(0)‖: T = ⌈4 ln(1/ε)/(ηmλ₀)⌉ ((1 − p)^T ≤ e^{−pT} ≤ ε, p = ηmλ₀/4).

    Parameters: step ``eta``, width ``m``, ``lam0`` = λ₀ > 0, relative target ``eps`` ∈ (0, 1).  Returns T."""
    return int(math.ceil(4 * math.log(1 / eps) / (eta * m * lam0)))


def _lazy_cell(*, activation, n, m, draw, d, d_out, sigma, eps, checks, max_steps, seed) -> dict:
    if (m // 2) * d < n * d_out:
        # J Jᵀ/m with paired Jacobian columns (the symmetric init: partner columns are negatives) has rank
        # ≤ (m/2)·d < nd': λ₀ = 0 exactly, so no step of T1''s form exists
        return {"success": False, "why": "λ₀ = 0 (rank of H(W(0)) ≤ (m/2)·d < nd')", "lambda0": 0.0}
    X, Y = _data(n, d, d_out, seed)
    p = _init(d, m, d_out, sigma, activation, seed, n, draw)
    H0 = nk.empirical_ntk(p, X)
    lam0, how = lambda_min(H0)
    H_norm = float(np.linalg.norm(H0, 2))
    rec = {"lambda0": lam0, "lambda0_decided_with": how, "H0_norm": H_norm}
    if not lam0 > 0:
        return rec | {"success": False, "why": "λ₀ ≤ 0"}
    eta = float(compiled("linear_convergence", "eta_cap_spectral", "numpy")(m, H_norm, lam0))  # 1/(m(‖H(W(0))‖ + λ₀/2))
    T = lazy_steps(eta, m, lam0, eps)
    k = max(1, math.ceil(T / checks))
    rec |= {"eta": eta, "T": T, "check_every": k}
    if T > max_steps:
        return rec | {"success": False, "why": f"T > {max_steps}"}
    tr = Trainer(p, X, Y, eta, threads=1)
    e0 = None
    worst = 0.0
    why, steps = None, T
    with np.errstate(all="ignore"):
        for t in range(T + 1):
            E = tr.prepare() if t < T else tr.residual()
            r = float(np.linalg.norm(E))
            if e0 is None:
                e0 = r
            if not math.isfinite(r):
                why, steps = "diverged", t
                break
            reached = r <= eps * e0
            if t > 0 and (t % k == 0 or reached or t == T):
                drift = float(np.linalg.norm(nk.empirical_ntk(tr.current(), X) - H0, 2))
                worst = max(worst, drift)
                if not drift <= lam0 / 4:
                    why, steps = "‖H(W(t)) − H(W(0))‖₂ > λ₀/4", t
                    break
            if reached:
                steps = t
                break
            if t == T:
                why = "‖e‖ > ε‖e(0)‖ after T steps"
                break
            tr.apply()
    return rec | {"success": why is None, "why": why, "steps": steps, "max_ntk_change_over_lambda0": worst / lam0,
                  "final_relative_residual": r / e0 if e0 else math.nan}


def _cert_cell(*, n, m, draw, d, d_out, sigma, seed, variants) -> dict:
    """The simulated certified-width variants on one draw: H(W(0)), Q, S₀ streamed over neurons."""
    X, Y = _data(n, d, d_out, seed)
    s = seeds.derived_seed(seed, "width.certified", n, m, draw)
    chunk = max(1, (1 << 21) // (n * d_out * streaming.BLOCK))
    res = streaming.streamed_ntk(X, m, d_out=d_out, sigma=sigma, scheme="symmetric", seed=s, chunk_blocks=chunk)
    e0 = float(np.linalg.norm(res.F - Y))
    out = {"S0": res.S0, "e0_norm": e0}
    H_norm0 = float(np.linalg.norm(res.H, 2))
    Q_norm = float(np.linalg.norm(res.Q, 2))
    if "T1'" in variants:
        ref = None
        if n * m <= MP_MAX_TERMS:
            def ref():
                params = streaming.materialize(d, m, d_out, sigma=sigma, scheme="symmetric", seed=s)
                return nk.empirical_ntk_mp(params, X, kappa=float(m), dps=MP_DPS)
        lam0, how = lambda_min(res.H, ref)
        rep = report_from_quantities(X, variant="T1'", m=m, d_out=d_out, kappa=float(m), lam=lam0,
                                     lam_decided_with=how, H_norm=H_norm0, Q_norm=Q_norm, S0=res.S0, e0_norm=e0)
        out["T1'"] = {"success": rep.holds, "failing": rep.failing, "lambda0": lam0}
    if "T1" in variants or "T1-B7" in variants:
        lam_star, how, Hs_norm = _lambda_star(X, sigma, d_out)
        Hstar = nk.limit_ntk(X, sigma=sigma, d_out=d_out)
        dist = float(np.linalg.norm(res.H - Hstar, 2))
        rep = report_from_quantities(X, variant="T1", m=m, d_out=d_out, kappa=float(m), lam=lam_star,
                                     lam_decided_with=how, H_norm=Hs_norm, Q_norm=Q_norm, S0=res.S0, e0_norm=e0,
                                     dist_star=dist)
        out["T1"] = {"success": rep.holds, "failing": rep.failing}
        rest = [h for h in rep.failing if h != "(i)"]        # T1-B7: (i) is B7's, decided without the draw
        out["T1-B7"] = {"success": not rest, "failing": rest}
    return out


def _lambda_star(X, sigma, d_out):
    Hs = nk.limit_ntk(X, sigma=sigma, d_out=d_out)
    lam, how = lambda_min(Hs, lambda: nk.limit_kernel_mp(X, sigma=sigma, dps=MP_DPS))
    return lam, how, float(np.linalg.norm(Hs, 2))


# ------------------------------------------------------------------------------------------ searches
@dataclass(frozen=True)
class Tested:
    """One width of a search: ``draws`` evaluated, ``successes`` among them, ``passes``; ``lower_bound`` the
    Clopper–Pearson lower confidence bound of the success probability (None where the rule is a plain
    frequency or not all draws ran); ``failures`` why draws failed (counts); ``seconds_per_draw`` and
    ``cpu_seconds_per_draw`` the mean wall and CPU time of one cell at this width (None for a width decided
    without draws)."""
    m: int
    draws: int
    successes: int
    passes: bool
    lower_bound: float | None = None
    failures: dict = field(default_factory=dict)
    seconds_per_draw: float | None = None
    info: dict = field(default_factory=dict)
    cpu_seconds_per_draw: float | None = None

    def to_json(self) -> dict:
        """The JSON form (a dict)."""
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "Tested":
        """Inverse of :meth:`to_json`."""
        return cls(**d)


@dataclass(frozen=True)
class Search:
    """The outcome of one width search: ``value`` (None, with ``reason``), its rule, every width tested.
    ``pending`` (unfinished searches only, e.g. a result written by :func:`snapshot` while the sweep runs):
    the width whose draws were being computed, {"m", "draws" computed, "successes" among them, "cpu_seconds"
    spent on them}; the value is then unknown and :attr:`lower_bound` is what the finished widths say."""
    column: str
    value: int | None
    reason: str | None
    rule: str
    draws_per_width: int
    successes_needed: int
    tested: tuple = ()
    pending: dict | None = None

    @property
    def lower_bound(self) -> int | None:
        """For a search without a value: the largest width that failed below every passing one (its width
        is larger), None if none failed or the search has a value."""
        if self.value is not None:
            return None
        top = self.upper_bound
        fails = [t.m for t in self.tested if not t.passes and (top is None or t.m < top)]
        return max(fails) if fails else None

    @property
    def upper_bound(self) -> int | None:
        """For an unfinished search: the smallest width that passed (its width is at most that), None if
        none passed yet or the search has a value."""
        if self.value is not None:
            return None
        passes = [t.m for t in self.tested if t.passes]
        return min(passes) if passes else None

    def to_json(self) -> dict:
        """The JSON form (a dict; ``pending`` only when set)."""
        d = asdict(self) | {"tested": [t.to_json() for t in self.tested]}
        if self.pending is None:
            d.pop("pending")
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Search":
        """Inverse of :meth:`to_json`."""
        return cls(**(d | {"tested": tuple(Tested.from_json(t) for t in d["tested"])}))


def _failure_counts(verdicts: list[dict]) -> dict[str, int]:
    """Why draws failed: {hypothesis or reason: draws}, in order of first appearance."""
    why: dict[str, int] = {}
    for v in verdicts:
        if not v["success"]:
            for w in (v.get("failing") or [v.get("why") or "fails"]):
                why[w] = why.get(w, 0) + 1
    return why


def _mean(values) -> float | None:
    """The mean of the values that are not None (None if there are none)."""
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def _cell_info(results: list[dict]) -> dict:
    """The per-width facts of the draws: the distinct T and check_every, the median λ₀."""
    info = {}
    for key in ("T", "check_every"):
        vals = sorted({r[key] for r in results if r.get(key) is not None})
        if vals:
            info[key] = vals
    lam0 = [r.get("lambda0", (r.get("T1'") or {}).get("lambda0")) for r in results]
    lam0 = [x for x in lam0 if x is not None]
    if lam0:
        info["lambda0_median"] = float(np.median(lam0))
    return info


class _WidthSearch:
    """The smallest passing width: up a geometric sequence (``widths`` given, or doubling from ``start``
    up to ``top``), then — with ``rel_tol`` — bisection between the last failure and the first pass.  A
    width's draws come in two batches (the fewest that can already fail it, then the rest), each a list
    of cells for the next round."""

    rule_level = 0.95    # the Clopper–Pearson confidence of the lower bounds (a search sets its own)

    def __init__(self, column, rule, make_cell, K, need, *, widths=None, start=None, top=None, grid=2.0,
                 rel_tol=None, plain=False, verdict=lambda r: r, precheck=None):
        self.column, self.rule, self.make_cell, self.K, self.need = column, rule, make_cell, K, need
        self.widths = widths
        self.start, self.top, self.grid, self.rel_tol = start, top, grid, rel_tol
        self.plain, self.verdict, self.precheck = plain, verdict, precheck
        self.tested: dict[int, Tested] = {}
        self.lo = self.hi = None
        self.value, self.reason, self.done = None, None, False
        self.m = self._first()
        self.results: list[dict] = []

    def _first(self):
        """The first width (None if the grid is empty)."""
        if self.widths is not None:
            return self.widths[0] if self.widths else None
        return _even(self.start) if _even(self.start) <= self.top else None

    def _after(self, m):
        """The width after ``m`` going up (None past the top)."""
        if self.widths is not None:
            i = self.widths.index(m) + 1
            return self.widths[i] if i < len(self.widths) else None
        nxt = _even(m * self.grid)
        return nxt if nxt <= self.top else None

    def next_cells(self) -> list[Cell]:
        """The cells this search needs next ([] when it is done)."""
        while not self.done:
            if self.m is None:
                self._finish()
                return []
            if not self.results and self.precheck is not None:
                ok, info = self.precheck(self.m)
                if not ok:
                    self._decide(Tested(self.m, 0, 0, False, None, {"precheck": 1}, None, info))
                    continue
            first = min(self.K, self.K - self.need + 1)
            j0 = len(self.results)
            j1 = first if j0 == 0 else self.K
            return [self.make_cell(self.m, j) for j in range(j0, j1)]
        return []

    def feed(self, results: list[dict]) -> None:
        """Take the results of the cells of :meth:`next_cells`, in order."""
        self.results += [r | {"_seconds": r.get("seconds")} for r in results]
        verdicts = [self.verdict(r) for r in self.results]
        fails = sum(not v["success"] for v in verdicts)
        final = any(v.get("final") for v in verdicts)
        if fails > self.K - self.need or len(verdicts) == self.K or final:
            t = self._summary(verdicts)
            self.results = []
            if final and not t.passes:
                self._give_up(t)
            else:
                self._decide(t)

    def _summary(self, verdicts: list[dict]) -> Tested:
        """The :class:`Tested` record of the current width from its draws' results and verdicts."""
        ok = sum(bool(v["success"]) for v in verdicts)
        lb = None if self.plain or len(verdicts) < self.K else binomial_lower(ok, self.K, self.rule_level)
        passes = bool(len(verdicts) == self.K and ok >= self.need) or (self.plain and ok >= self.need)
        return Tested(self.m, len(verdicts), ok, passes, lb, _failure_counts(verdicts),
                      _mean(r["_seconds"] for r in self.results), _cell_info(self.results),
                      _mean(r.get("cpu_seconds") for r in self.results))

    def _give_up(self, t: Tested) -> None:
        """Stop at a width whose failure every larger width shares (e.g. m_emp's T > budget)."""
        self.tested[t.m] = t
        self.m = None
        self.reason = f"every width fails the same way ({', '.join(t.failures)}): no width of the grid can pass"
        self._finish()

    def _decide(self, t: Tested) -> None:
        """Record ``t`` and choose the next width: the next one up until a width passes, then the geometric
        midpoint of the last failure and the first pass until they are within ``rel_tol``."""
        self.tested[t.m] = t
        m = t.m
        if self.hi is None:              # going up
            if t.passes:
                self.hi = m
                if self.rel_tol is None or self.lo is None:
                    self._finish()
                    return
            else:
                self.lo = m
                self.m = self._after(m)
                return
        elif t.passes:
            self.hi = m
        else:
            self.lo = m
        mid = _even(math.sqrt(self.lo * self.hi))
        if self.hi / self.lo <= 1 + self.rel_tol or mid in (self.lo, self.hi):
            self._finish()
            return
        self.m = mid

    def _finish(self) -> None:
        """Stop: the value is the smallest passing width (None, with the reason, if none passed)."""
        self.done = True
        self.value = self.hi
        if self.hi is None and self.reason is None:
            last = max(self.tested) if self.tested else None
            self.reason = "no width tested" if last is None else f"no width up to {last} passed"
        elif self.hi is not None and self.lo is None:
            self.reason = f"the smallest width tested ({self.hi}) already passes"

    def outcome(self) -> Search:
        """The :class:`Search` record (the widths tested so far, in increasing order); a search that is not
        done is recorded unfinished (value None, ``pending`` the width being evaluated)."""
        tested = tuple(self.tested[m] for m in sorted(self.tested))
        if self.done:
            return Search(self.column, self.value, self.reason, self.rule, self.K, self.need, tested)
        verdicts = [self.verdict(r) for r in self.results]
        pending = {"m": self.m, "draws": len(verdicts), "successes": sum(bool(v["success"]) for v in verdicts),
                   "cpu_seconds": sum(r.get("cpu_seconds") or 0.0 for r in self.results)}
        fails = [t.m for t in tested if not t.passes]
        below = f"every width up to {max(fails)} failed" if fails else "no width failed yet"
        above = f", {self.hi} passed: the width is in ({max(fails)}, {self.hi}]" if self.hi is not None and fails else ""
        reason = (f"unfinished when this result was written: {below}{above}; at m = {self.m}, "
                  f"{pending['draws']} of the {self.K} draws computed, {pending['successes']} passed")
        return Search(self.column, None, reason, self.rule, self.K, self.need, tested, pending)


def _drive(searches: list[_WidthSearch], engine: dict, progress=None, done_before: int = 0) -> tuple[int, float]:
    """Rounds of cells until every search is done, all on one engine (with ``workers``, one LocalCluster
    that all the rounds share); returns the number of cells computed and the sum of their CPU seconds."""
    engine = dict(engine)
    with engine_client(engine.pop("workers", 1), engine.pop("scheduler", None)) as client:
        if client is not None:
            engine["client"] = client
        return _rounds(searches, engine, progress, done_before)


def _rounds(searches: list[_WidthSearch], engine: dict, progress, done_before: int) -> tuple[int, float]:
    done, cpu = done_before, 0.0
    cache: dict[str, dict] = {}
    while True:
        want = [(s, s.next_cells()) for s in searches if not s.done]
        want = [(s, cs) for s, cs in want if cs]
        if not want:
            return done, cpu
        todo, seen = [], set()
        for _, cs in want:
            for c in cs:
                k = c.key()
                if k not in cache and k not in seen:
                    seen.add(k)
                    todo.append(c)
        base = done
        if todo:
            desc = ", ".join(sorted({f"{s.column} n={cs[0].params['n']} m={cs[0].params['m']}" for s, cs in want})[:3])

            def tick(i, total, base=base, desc=desc):
                if progress is not None:
                    # the searches decide their next cells as they go: the total is the cells known so far
                    progress(base + i, base + total, f"{desc} …" if len(want) > 3 else desc)

            for c, r in zip(todo, run_cells(todo, compute_cell, progress=tick, **engine)):
                cache[c.key()] = r
                cpu += r.get("cpu_seconds") or 0.0
            done = base + len(todo)
        for s, cs in want:
            s.feed([cache[c.key()] for c in cs])


def _replay(searches: list[_WidthSearch], results) -> tuple[int, float, float]:
    """Feed the searches from finished cell ``results`` (key → result) only, computing nothing, until each
    is done or needs a cell that is not there (it stays unfinished, with the draws it has).  Returns the
    number of cells used and the sums of their wall and CPU seconds."""
    used: dict[str, dict] = {}
    stalled: set[int] = set()
    while True:
        want = [(s, s.next_cells()) for s in searches if not s.done and id(s) not in stalled]
        want = [(s, cs) for s, cs in want if cs]
        if not want:
            break
        for s, cs in want:
            got = []
            for c in cs:
                r = results.get(c.key())
                if r is None:
                    break
                used[c.key()] = r
                got.append(r)
            if len(got) < len(cs):
                stalled.add(id(s))
            if got:
                s.feed(got)
    return (len(used), sum(r.get("seconds") or 0.0 for r in used.values()),
            sum(r.get("cpu_seconds") or 0.0 for r in used.values()))


# ------------------------------------------------------------------------------------------ typed result
@dataclass(frozen=True)
class Row:
    """One (activation, n): the widths (None where not found; ``notes`` says why), λ = λ_min(K_φ) of the
    activation's limit kernel, λ₀ (median over the draws at m_lazy) and m_lazy·λ₀², and every search."""
    activation: str
    n: int
    d: int
    d_out: int
    sigma: float
    lam: float
    lam_decided_with: str
    m_emp: int | None = None
    m_lazy: int | None = None
    lam0_at_m_lazy: float | None = None
    m_lazy_lam0_sq: float | None = None
    m_cert_T1p: int | None = None
    m_cert_T1: int | None = None
    m_cert_T1_B7: int | None = None
    m_cert_T1_B1B7: int | None = None
    m_cert_C3: int | None = None
    searches: dict = field(default_factory=dict)      # column → Search
    notes: dict = field(default_factory=dict)         # column → why it is None
    c3: dict | None = None                            # the C3 result as certify.width returns it

    def to_json(self) -> dict:
        """The JSON form: the scalars (``lambda`` for ``lam``), ``searches`` and ``notes``."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("searches", "lam")}
        return d | {"lambda": self.lam, "searches": {k: s.to_json() for k, s in self.searches.items()}}

    @classmethod
    def from_json(cls, d: dict) -> "Row":
        """Inverse of :meth:`to_json`."""
        d = dict(d)
        d["lam"] = d.pop("lambda")
        d["searches"] = {k: Search.from_json(s) for k, s in d["searches"].items()}
        return cls(**d)


@dataclass(frozen=True)
class Fit:
    """The fitted exponent of n of one width column for one activation (log–log least squares, 95%
    t-interval), or None with the reason.  Column ``<col>·λ²`` fits m·λ² (λ = λ_min(K_φ)), ``m_lazy·λ₀²``
    fits m_lazy·λ₀²: the paper's width is λ^{−2}n^{2+o(1)}, so those are the exponents to put beside 2."""
    activation: str
    column: str
    slope: float | None
    ci: tuple | None
    points: int
    reason: str | None = None

    def to_json(self) -> dict:
        """The JSON form (a dict)."""
        return asdict(self) | {"ci": None if self.ci is None else list(self.ci)}

    @classmethod
    def from_json(cls, d: dict) -> "Fit":
        """Inverse of :meth:`to_json`."""
        return cls(**(d | {"ci": None if d["ci"] is None else tuple(d["ci"])}))


@dataclass(frozen=True)
class WidthResult:
    """The width experiment's result: the configuration, one :class:`Row` per (activation, n), the
    :class:`Fit` of every column, the reference exponents, the run time ``seconds`` (wall), the number of
    cells, the package versions, the rules in words and ``cpu_seconds``, the sum of the cells' CPU seconds
    (on a shared machine the wall time measures the load, the CPU time the work)."""
    config: Config
    rows: tuple
    fits: tuple
    reference_exponents: dict
    seconds: float
    cells: int
    versions: dict
    eta_rule: str = ""
    lazy_rule: str = ""
    cpu_seconds: float | None = None

    def to_json(self) -> dict:
        """The JSON form written by ``ntkcheck width --json`` (``experiment`` = "width")."""
        return {"experiment": "width", "config": asdict(self.config), "seed": self.config.data_seed,
                "rows": [r.to_json() for r in self.rows], "fits": [f.to_json() for f in self.fits],
                "reference_exponents": self.reference_exponents, "seconds": self.seconds, "cells": self.cells,
                "versions": self.versions, "eta_rule": self.eta_rule, "lazy_rule": self.lazy_rule,
                "cpu_seconds": self.cpu_seconds}

    @classmethod
    def from_json(cls, d: dict) -> "WidthResult":
        """Inverse of :meth:`to_json` (e.g. on ``json.loads`` of results/width.json)."""
        if d.get("experiment") != "width":
            raise ValueError("not a width-experiment result (its 'experiment' is not 'width')")
        cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in d["config"].items()}
        return cls(Config(**cfg), tuple(Row.from_json(r) for r in d["rows"]),
                   tuple(Fit.from_json(f) for f in d["fits"]), d["reference_exponents"], d["seconds"], d["cells"],
                   d["versions"], d.get("eta_rule", ""), d.get("lazy_rule", ""), d.get("cpu_seconds"))

    def row(self, activation: str, n: int) -> Row:
        """The row of (activation, n); KeyError if absent."""
        for r in self.rows:
            if r.activation == activation and r.n == n:
                return r
        raise KeyError(f"no row for {activation} n={n}")

    def fit(self, activation: str, column: str) -> Fit:
        """The fit of (activation, column); KeyError if absent."""
        for f in self.fits:
            if f.activation == activation and f.column == column:
                return f
        raise KeyError(f"no fit for {activation} {column}")


# ------------------------------------------------------------------------------------------ run
def eta_rule_text(cfg: Config) -> str:
    """m_emp's step rule in words.  Parameters: ``cfg``.  Returns the sentence."""
    if cfg.eta_rule == "limit":
        return (f"eta = {cfg.c:g}/(m(‖H*‖₂ + λ/2)), λ = λ_min(H*), H* = K_φ ⊗ I the activation's "
                "infinite-width NTK (T1's form)")
    return f"eta = {cfg.c:g}/(m(‖H(W(0))‖₂ + λ₀/2)), λ₀ = λ_min(H(W(0))) of each draw (T1''s form)"


def lazy_rule_text(cfg: Config) -> str:
    """m_lazy's rule in words.  Parameters: ``cfg``.  Returns the sentence."""
    return (f"eta = 1/(m(‖H(W(0))‖₂ + λ₀/2)), T = ⌈4 ln(1/ε)/(ηmλ₀)⌉, success: ‖e‖ ≤ ε‖e(0)‖ (ε = {cfg.eps:g}) "
            f"within T steps and ‖H(W(t)) − H(W(0))‖₂ ≤ λ₀/4 measured every ⌈T/{cfg.lazy_checks}⌉ steps and at the "
            f"last; m passes when the Clopper–Pearson lower bound (level {cfg.lazy_level:g}) of the success "
            f"probability is ≥ 1 − δ = {1 - cfg.delta:g}")


def _emp_search(cfg: Config, n: int, act: str) -> _WidthSearch:
    need = math.ceil((1 - cfg.delta) * cfg.seeds - 1e-12)

    def make(m, j):
        return Cell("width.emp", {"activation": act, "n": n, "m": m, "draw": j, "d": cfg.dim(n), "d_out": cfg.d_out,
                                  "sigma": cfg.sigma, "eps": cfg.eps, "c": cfg.c, "eta_rule": cfg.eta_rule,
                                  "max_steps": cfg.max_steps, "seed": cfg.data_seed})
    return _WidthSearch("m_emp", f"≥ {need} of {cfg.seeds} draws reach loss ≤ ε in the predicted T", make,
                        cfg.seeds, need, widths=_grid(cfg, n), plain=True)


def _lazy_search(cfg: Config, n: int, act: str) -> _WidthSearch:
    K = seeds_needed(cfg.delta, cfg.lazy_level)
    need = _successes_needed(K, cfg.delta, cfg.lazy_level)

    def make(m, j):
        return Cell("width.lazy", {"activation": act, "n": n, "m": m, "draw": j, "d": cfg.dim(n), "d_out": cfg.d_out,
                                   "sigma": cfg.sigma, "eps": cfg.eps, "checks": cfg.lazy_checks,
                                   "max_steps": cfg.max_steps, "seed": cfg.data_seed})
    s = _WidthSearch("m_lazy", lazy_rule_text(cfg), make, K, need, widths=_grid(cfg, n))
    s.rule_level = cfg.lazy_level
    return s


def _cert_searches(cfg: Config, n: int, X, Y) -> list[_WidthSearch]:
    out = []
    variants = tuple(v for v in cfg.cert_variants if v != "T1-B1B7")
    top = int(cfg.cert_max_entries // n)
    lam_star = None
    for v in variants:
        d_mc = cfg.delta / 2 if v == "T1-B7" else cfg.delta
        K = seeds_needed(d_mc, cfg.level)
        need = _successes_needed(K, d_mc, cfg.level)

        def make(m, j):
            return Cell("width.cert", {"n": n, "m": m, "draw": j, "d": cfg.dim(n), "d_out": cfg.d_out,
                                       "sigma": cfg.sigma, "seed": cfg.data_seed, "variants": list(variants)})
        precheck = None
        if v == "T1-B7":
            if lam_star is None:
                lam_star = _lambda_star(X, cfg.sigma, cfg.d_out)[0]

            def precheck(m, lam_star=lam_star):
                eps = float(bounds.ntk_concentration_eps(m // 2, cfg.delta / 2, cfg.sigma, X, cfg.d_out))
                rhs = float(compiled("linear_convergence", "hyp_i_rhs", "numpy")(lam_star))
                return eps <= rhs, {"b7_eps": eps, "lambda_star_over_4": rhs}
        rule = (f"the hypotheses of {v} hold on every draw needed for a Clopper–Pearson lower bound ≥ "
                f"{1 - d_mc:g} at level {cfg.level:g}" + (" ((i) by B7 at δ/2)" if v == "T1-B7" else ""))
        s = _WidthSearch(CERT_VARIANTS[v], rule, make, K, need, start=cfg.cert_m_start, top=top,
                         rel_tol=cfg.cert_rel_tol, verdict=lambda r, v=v: r[v], precheck=precheck)
        s.rule_level = cfg.level
        out.append(s)
    return out


def _b1b7_search(cfg: Config, X, Y) -> Search:
    lam_star = _lambda_star(X, cfg.sigma, cfg.d_out)[0]
    s = _WidthSearch("m_cert_T1_B1B7", "T1 with (i) by B7 and (ii)–(iv) on B1's event (no draw)", None, 1, 1,
                     start=cfg.cert_m_start, top=2**62, rel_tol=cfg.cert_rel_tol)
    while not s.done:
        if s.m is None:
            s._finish()
            break
        rep = report_b1b7(X, Y, s.m, sigma=cfg.sigma, delta=cfg.delta, lam_star=lam_star)
        s._decide(Tested(s.m, 0, 0, rep.holds, None, {h: 1 for h in rep.failing}))
    return s.outcome()


def _c3(cfg: Config, X, Y, m_cert: int | None) -> tuple[int | None, dict | None, str | None]:
    try:
        from ntkcheck.certify.width import certified_width as c3_width
    except ImportError:
        return None, None, "python-flint is not installed (pip install 'ntkcheck[certify]')"
    if m_cert is None:
        return None, None, "no sampled m_cert(T1') to start the per-draw certificates from"
    widths = sorted({_even(m_cert * f) for f in (0.5, 1, 2, 4)})
    seed0 = seeds.derived_seed(cfg.data_seed, "certify.init", X.shape[0]) >> 8
    # the certificate decides (A1) exactly: the float64 sphere rows have ‖x‖² = 1 ± ulp, so they are scaled
    # by C3_SHRINK (the instance certified is that scaled data)
    r = c3_width(X * C3_SHRINK, Y, cfg.sigma, widths, delta=cfg.delta, level=cfg.level, seed0=seed0)
    r["data_scaled_by"] = C3_SHRINK
    return r["m_cert"], r, None if r["m_cert"] is not None else f"no width of {widths} certified"


def _searches(cfg: Config) -> dict[tuple, _WidthSearch]:
    """Every width search of ``cfg``, keyed (activation, n, column), none started."""
    searches: dict[tuple, _WidthSearch] = {}
    for n in cfg.n_values:
        X, Y = data(n, cfg)
        for act in cfg.activations:
            if cfg.emp:
                searches[act, n, "m_emp"] = _emp_search(cfg, n, act)
            if cfg.lazy and n <= cfg.lazy_n_max:
                searches[act, n, "m_lazy"] = _lazy_search(cfg, n, act)
        if cfg.certify and "softmax" in cfg.activations and n <= cfg.cert_n_max:
            for s in _cert_searches(cfg, n, X, Y):
                searches["softmax", n, s.column] = s
    return searches


def _notes(cfg: Config, n: int, act: str, found: dict) -> dict:
    """Why each column of the row (act, n) with the searches ``found`` is None (the searched ones' reasons,
    and the columns this configuration does not measure)."""
    notes = {col: s.reason for col, s in found.items() if s.value is None}
    if not cfg.emp:
        notes["m_emp"] = "not measured (emp off)"
    if not (cfg.lazy and n <= cfg.lazy_n_max):
        notes["m_lazy"] = "not measured (lazy off)" if not cfg.lazy else f"not measured beyond n = {cfg.lazy_n_max}"
    if act != "softmax":
        for col in (*CERT_VARIANTS.values(), "m_cert_C3"):
            notes[col] = ("B2–B6, and hence T1/T1', are proved for the softmax network only; "
                          "no certified width for " + act)
    elif not cfg.certify:
        for col in (*CERT_VARIANTS.values(), "m_cert_C3"):
            notes[col] = "not computed (certify off)"
    else:
        for v, col in CERT_VARIANTS.items():
            if v not in cfg.cert_variants:
                notes[col] = f"{v} not in this run's variants"
            elif col not in found:
                notes[col] = f"not searched beyond n = {cfg.cert_n_max} (the searched widths grow too fast)"
    return notes


def _lam0_at(search: Search) -> float | None:
    """The median λ₀ over the draws at the width ``search`` found (None if it found none)."""
    if search.value is None:
        return None
    t = next(t for t in reversed(search.tested) if t.m == search.value)
    return t.info.get("lambda0_median")


def _row(cfg: Config, n: int, act: str, lam: tuple, found: dict) -> Row:
    """The :class:`Row` of (act, n) from its finished searches ``found`` (column → :class:`Search`; the
    draw-free T1-B1B7 search and C3 run here), ``lam`` = (λ, how decided) of the activation's limit kernel.
    ``found`` is not modified."""
    X, Y = data(n, cfg)
    found = dict(found)
    if act == "softmax" and cfg.certify and "T1-B1B7" in cfg.cert_variants:
        found["m_cert_T1_B1B7"] = _b1b7_search(cfg, X, Y)
    vals = {col: s.value for col, s in found.items()}
    notes = _notes(cfg, n, act, found)
    lam0 = _lam0_at(found["m_lazy"]) if "m_lazy" in found else None
    m_lazy_sq = None if lam0 is None else vals["m_lazy"] * lam0**2
    c3 = c3_m = None
    if act == "softmax" and cfg.certify and cfg.certify_draws:
        if n > C3_N_MAX:
            notes["m_cert_C3"] = f"per-draw certificates only for n ≤ {C3_N_MAX}"
        else:
            c3_m, c3, why = _c3(cfg, X, Y, vals.get("m_cert_T1p"))
            if why:
                notes["m_cert_C3"] = why
    elif act == "softmax" and cfg.certify:
        notes["m_cert_C3"] = "not computed (--certify-draws off)"
    return Row(act, n, cfg.dim(n), cfg.d_out, cfg.sigma, lam[0], lam[1],
               m_emp=vals.get("m_emp"), m_lazy=vals.get("m_lazy"), lam0_at_m_lazy=lam0,
               m_lazy_lam0_sq=m_lazy_sq, m_cert_T1p=vals.get("m_cert_T1p"),
               m_cert_T1=vals.get("m_cert_T1"), m_cert_T1_B7=vals.get("m_cert_T1_B7"),
               m_cert_T1_B1B7=vals.get("m_cert_T1_B1B7"), m_cert_C3=c3_m, searches=found,
               notes=notes, c3=c3)


REFERENCE_EXPONENTS = {"paper (arXiv:2405.03251)": PAPER_EXPONENT, "ReLU, Du et al. ICLR 2019": RELU_LITERATURE_EXPONENT}


def run(cfg: Config = QUICK, progress=None, **engine) -> WidthResult:
    """The whole experiment: one :class:`Row` per (activation, n), the fits, the configuration.

    Parameters: ``cfg`` a :class:`Config`; ``progress(done, total, description)`` called as cells complete
    (``total`` the cells known so far: the searches decide how many cells they need as they go); ``engine`` options passed
    unchanged to :func:`ntkcheck.sweep.run_cells` (workers, scheduler, cache).  Returns the
    :class:`WidthResult`."""
    cfg = validate(cfg)
    t0 = time.perf_counter()
    searches = _searches(cfg)
    cells, cpu = _drive(list(searches.values()), engine, progress)
    return _result(cfg, searches, round(time.perf_counter() - t0, 1), cells, cpu)


def _result(cfg: Config, searches: dict, seconds: float, cells: int, cpu: float) -> WidthResult:
    """The :class:`WidthResult` of ``cfg`` from its searches (finished or not)."""
    rows = []
    for n in cfg.n_values:
        X, _ = data(n, cfg)
        for act in cfg.activations:
            found = {col: s.outcome() for (a, nn, col), s in searches.items() if a == act and nn == n}
            rows.append(_row(cfg, n, act, _limit(X, cfg.sigma, cfg.d_out, act)[:2], found))
    return WidthResult(cfg, tuple(rows), fit_rows(rows), dict(REFERENCE_EXPONENTS), seconds, cells, versions(),
                       eta_rule_text(cfg), lazy_rule_text(cfg), round(cpu, 1))


def snapshot(cfg: Config, results) -> WidthResult:
    """The experiment of ``cfg`` as far as finished cells decide it, computing no cell: e.g. the lines of a
    sweep's cache (``--cache DIR``) while the sweep still runs, or after it was stopped.

    Parameters: ``cfg`` a :class:`Config`; ``results`` a mapping from :meth:`ntkcheck.sweep.Cell.key` to the
    cell's result (as :func:`compute_cell` returned it).  Returns the :class:`WidthResult`: where every cell a
    search needs is there, exactly what :func:`run` returns (up to its timings); a search that needs a missing
    cell is recorded unfinished (value None, :attr:`Search.pending` the width being evaluated, the reason
    saying what the finished widths show).  ``seconds`` and ``cpu_seconds`` are the sums of the wall and
    CPU seconds the cells used took when they were computed, ``cells`` their number."""
    cfg = validate(cfg)
    searches = _searches(cfg)
    cells, wall, cpu = _replay(list(searches.values()), results)
    return _result(cfg, searches, round(wall, 1), cells, cpu)


def _fit(act, key, pts) -> Fit:
    if len(pts) < 3:
        return Fit(act, key, None, None, len(pts), "fewer than 3 widths to fit")
    if len({m for _, m in pts}) == 1:
        return Fit(act, key, 0.0, (0.0, 0.0), len(pts), "every n has the same width (the grid cannot resolve a slope)")
    f = loglog_slope([p[0] for p in pts], [p[1] for p in pts])
    return Fit(act, key, float(f["slope"]), tuple(float(c) for c in f["ci"]), len(pts))


def fit_rows(rows) -> tuple:
    """Every column's :class:`Fit` per activation, in the order of ``rows``' activations.

    Parameters: ``rows`` :class:`Row` objects.  Returns a tuple of :class:`Fit` (columns with no finite
    value at any n are left out)."""
    out = []
    for act in dict.fromkeys(r.activation for r in rows):
        mine = [r for r in rows if r.activation == act]
        for col in COLUMNS:
            pts = [(r.n, getattr(r, col)) for r in mine if getattr(r, col)]
            if not pts and all(getattr(r, col) is None for r in mine) and col != "m_emp":
                continue
            out.append(_fit(act, col, pts))
            if col == "m_lazy":
                out.append(_fit(act, "m_lazy·λ₀²", [(r.n, r.m_lazy_lam0_sq) for r in mine if r.m_lazy_lam0_sq]))
            elif all(r.lam and r.lam > 0 for r in mine):
                out.append(_fit(act, f"{col}·λ²", [(r.n, getattr(r, col) * r.lam**2) for r in mine if getattr(r, col)]))
    return tuple(out)


def fits(rows: list[dict]) -> dict:
    """The fits of plain row dicts (``activation``, ``n``, ``lambda`` and width columns such as ``m_emp``),
    as {activation: {column: {slope, ci, points[, reason]}}}; ``<column>·λ²`` fits m·λ².

    Parameters: ``rows`` dicts.  Returns the nested dict (columns absent from the rows are skipped)."""
    out = {}
    for act in sorted({r["activation"] for r in rows}):
        mine = [r for r in rows if r["activation"] == act]
        out[act] = {}
        cols = [c for c in COLUMNS if any(c in r for r in mine)]
        for scaled in (False, True):
            if scaled and not all(r.get("lambda") for r in mine):
                continue
            for col in cols:
                pts = [(r["n"], r[col] * (r["lambda"] ** 2 if scaled else 1)) for r in mine if r.get(col)]
                key = f"{col}·λ²" if scaled else col
                f = _fit(act, key, pts)
                out[act][key] = {"slope": f.slope, "ci": None if f.ci is None else list(f.ci), "points": f.points}
                if f.reason:
                    out[act][key]["reason"] = f.reason
    return out


def empirical_width(X, Y, activation: str, cfg: Config, tick=None, **engine) -> dict:
    """m_emp for one activation on data of size n = len(X) drawn by :func:`data` (the cells regenerate it
    from ``cfg``; X and Y must be ``data(n, cfg)``).

    Parameters: ``X``, ``Y`` as :func:`data` returns them; ``activation``; ``cfg``; ``tick()`` called after
    each width; ``engine`` options of :func:`ntkcheck.sweep.run_cells`.  Returns {"m_emp", "tested",
    "successes_needed", "lambda", "lambda_decided_with", "H_norm"[, "m_emp_reason"]}; each tested width has
    "m", "successes", "runs", "T", "failures"."""
    n = X.shape[0]
    X0, Y0 = data(n, cfg)
    if not (np.array_equal(X, X0) and np.array_equal(Y, Y0)):
        raise ValueError("X and Y must be width.data(n, cfg): the cells redraw the data from the configuration")
    s = _emp_search(cfg, n, activation)
    _drive([s], engine, (lambda *a: tick()) if tick is not None else None)
    o = s.outcome()
    lam, how, H_norm = _limit(X, cfg.sigma, cfg.d_out, activation)
    out = {"m_emp": o.value, "successes_needed": o.successes_needed, "lambda": lam, "lambda_decided_with": how,
           "H_norm": H_norm,
           "tested": [{"m": t.m, "successes": t.successes, "runs": t.draws, "T": t.info.get("T", []),
                       "failures": sorted(t.failures)} for t in o.tested]}
    if o.value is None:
        out["m_emp_reason"] = o.reason
    return out


def certified_width(n: int, d: int, *, d_out: int = 1, sigma: float = 0.5, variant: str = "T1'",
                    delta: float = 0.1, level: float = 0.95, seed: int = 0, m_start: int = 16,
                    max_entries: float = 1e8, rel_tol: float = 0.05, **engine) -> Search:
    """The smallest width m at which the hypotheses of ``variant`` hold with probability ≥ 1 − δ over the
    initialization, at confidence ``level`` (the book's T1 part, "certified width").

    Data :func:`data` of size n under ``seed``, κ = m, the symmetric init.  At each width, K draws
    (K = :func:`seeds_needed`) are streamed over neurons and evaluated at :func:`ntkcheck.core.theorem.choose_eta_R0`'s
    (η, R₀); the width passes when the Clopper–Pearson lower bound of the success frequency is ≥ 1 − δ.
    "T1'", "T1": every hypothesis on every draw; "T1-B7": (i) by B7's ε ≤ λ/4 at δ/2, (ii)–(iv) on draws at
    δ/2; "T1-B1B7": no draw (:func:`ntkcheck.core.theorem.report_b1b7`).  The search doubles m from ``m_start``
    (n·m ≤ ``max_entries``), then bisects to relative width ``rel_tol``.

    Returns the :class:`Search` (``value`` the width, None with ``reason``)."""
    if variant not in WIDTH_VARIANTS:
        raise ValueError(f"variant must be one of {WIDTH_VARIANTS}, got {variant!r}")
    cfg = validate(replace(QUICK, n_values=(n,), d=d, d_out=d_out, sigma=sigma, delta=delta, level=level,
                           data_seed=seed, cert_m_start=m_start, cert_max_entries=max_entries, cert_rel_tol=rel_tol,
                           cert_variants=(variant,)))
    X, Y = data(n, cfg)
    if variant == "T1-B1B7":
        return _b1b7_search(cfg, X, Y)
    (s,) = _cert_searches(cfg, n, X, Y)
    _drive([s], engine)
    return s.outcome()


def combine(results, config: Config | None = None) -> WidthResult:
    """One :class:`WidthResult` from runs of the same experiment in parts (e.g. m_emp, m_lazy and m_cert
    run as separate processes, or different n): the rows of each (activation, n) are merged column by
    column (a column searched in one part replaces the note "not measured" of another), refitted.

    Parameters: ``results`` :class:`WidthResult` objects (same seed, sizes and σ); ``config`` the
    configuration to record (default: the first part's).  Returns the combined result; its ``seconds``
    and ``cpu_seconds`` are the sums of the parts' (the serial time of the whole; ``cpu_seconds`` None if
    a part does not record it)."""
    results = list(results)
    if not results:
        raise ValueError("combine needs at least one result")
    keys = {(r.config.data_seed, r.config.sigma, r.config.d, r.config.d_out, r.config.eps) for r in results}
    if len(keys) != 1:
        raise ValueError("the parts differ in seed, σ, d, d' or ε: they are not parts of one experiment")
    merged: dict[tuple, Row] = {}
    for res in results:
        for row in res.rows:
            k = (row.activation, row.n)
            if k not in merged:
                merged[k] = row
                continue
            old = merged[k]
            searches = old.searches | row.searches
            c3_src = row if row.c3 is not None else old
            # a column neither part searched keeps the earlier part's note: a later part that did not measure it
            # (e.g. a rerun of one column) knows no better why
            notes = {c: why for c, why in (row.notes | old.notes).items() if c not in searches and c != "m_cert_C3"}
            notes |= {c: s.reason for c, s in searches.items() if s.value is None}   # e.g. unfinished: why
            if "m_cert_C3" in c3_src.notes:              # C3's note from the part whose C3 is kept, as its value
                notes["m_cert_C3"] = c3_src.notes["m_cert_C3"]
            vals = {c: getattr(row, c) if c in row.searches else getattr(old, c) for c in COLUMNS if c != "m_cert_C3"}
            lazy_src = row if "m_lazy" in row.searches else old
            merged[k] = replace(old, **vals, searches=searches, notes=notes, lam0_at_m_lazy=lazy_src.lam0_at_m_lazy,
                                m_lazy_lam0_sq=lazy_src.m_lazy_lam0_sq, c3=c3_src.c3,
                                m_cert_C3=c3_src.m_cert_C3)
    acts = list(dict.fromkeys(a for res in results for a in res.config.activations))
    rows = sorted(merged.values(), key=lambda r: (r.n, acts.index(r.activation)))
    cfg = config if config is not None else results[0].config
    first = results[0]
    cpu = [r.cpu_seconds for r in results]
    return WidthResult(cfg, tuple(rows), fit_rows(rows), first.reference_exponents,
                       round(sum(r.seconds for r in results), 1), sum(r.cells for r in results), first.versions,
                       eta_rule_text(cfg), lazy_rule_text(cfg), None if None in cpu else round(sum(cpu), 1))
