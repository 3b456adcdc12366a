"""Theorem T1 / T1' (the book's T1 part) on concrete data: its hypotheses, its conclusions along gradient descent,
its certified width, and the initial output size that drives hypothesis (iv).

* :func:`evaluate_hypotheses` evaluates (i)–(iv) (and λ > 0) for given (X, Y, W(0), η, R₀) and says which
  fail; :func:`choose_eta_R0` picks the largest η that (iii) allows and the R₀ that makes (iv) easiest
  among those (ii) allows.
* :func:`check_conclusions` runs GD and checks every conclusion at every step.
* :func:`certified_width` is the smallest width at which the hypotheses hold with probability ≥ 1 − δ over
  the initialization (Monte Carlo with a Clopper–Pearson bound; "T1-B7" replaces (i) by B7's ε ≤ λ/4).
* :func:`initial_output_size` measures ‖F(W(0))‖ against m for both init schemes.

Every scalar formula comes from proofs/linear_convergence.py (compiled); the quantities the formulas take
come from the B lemmas through :mod:`ntkcheck.core.bounds`: e^{2R} (B2), B (B1), ε (B7), and Q (B3) and the
Hessian bound (B4) from one pass of the features (bounds.Q_from_features, bounds.hessian_bound_from — what
bounds.Q_matrix and bounds.hessian_bound compute from params; the tests check they agree); S_{i,r} ≤ e^{2B}/m
(B1) from init_bound's compiled export.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

import ntkcheck as nk
from ntkcheck.core import validate as V
from ntkcheck.core import bounds
from ntkcheck.core.compile import compiled
from ntkcheck.core.stats import binomial_lower, loglog_slope
from ntkcheck.core.network import SCHEMES, Params, as_inputs, features, ntk_from_features

VARIANTS = ("T1", "T1'")
WIDTH_VARIANTS = ("T1", "T1'", "T1-B7", "T1-B1B7")
EPS = np.finfo(float).eps
MP_DPS = 100                  # digits for λ when float64 cannot decide its sign (as in the G6 check)
MP_MAX_TERMS = 20_000         # n·m above which λ₀ of T1' is refined from the float64 H(W(0)) itself
R0_SHRINK = 1 - 1e-9          # R₀ = R₀,max·(1 − 1e-9): (ii) then holds despite the rounding of e^{4R₀}


def _fn(name: str):
    return compiled("linear_convergence", name, "numpy")


def _variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    return variant


# ------------------------------------------------------------------------------------------ λ
def lambda_min(H: np.ndarray, reference=None) -> tuple[float, str]:
    """λ_min of a symmetric matrix, decided in mpmath when float64 cannot (|λ| ≲ 8·N·ε·‖H‖).

    ``reference``: a callable returning the matrix at high precision (object array of mpf); default: the
    float64 matrix itself, converted exactly.  Returns (λ, "float64" or "mpmath")."""
    ev = np.linalg.eigvalsh(H)
    resolution = 8 * H.shape[0] * EPS * max(abs(ev[0]), abs(ev[-1]))
    if ev[0] > resolution:
        return float(ev[0]), "float64"
    M = H if reference is None else reference()
    return float(nk.eigvalsh_mp(M, dps=MP_DPS)[0]), "mpmath"


# ------------------------------------------------------------------------------------------ hypotheses
@dataclass
class Hypothesis:
    """One hypothesis ``lhs ≤ rhs`` (for "(λ)": λ > 0, written 0 < λ)."""

    name: str
    what: str
    lhs: float
    rhs: float
    holds: bool
    parts: dict = field(default_factory=dict)


@dataclass
class Report:
    """The hypotheses of T1 or T1' for one (X, Y, W(0), η, R₀), with the quantities they are built from."""

    variant: str
    n: int
    m: int
    d_out: int
    kappa: float
    eta: float
    R0: float
    lam: float               # λ = λ_min(H*) (T1) or λ₀ = λ_min(H(W(0))) (T1')
    lam_decided_with: str    # "float64" or "mpmath"
    p: float                 # ηmλ/4
    e0_norm: float
    H_norm: float            # ‖H*‖₂ (T1) or ‖H(W(0))‖₂ (T1')
    Q_norm: float
    S0: float                # max_{i,r} S_{i,r}(W(0))
    beta: float              # B4 with B2 at R₀
    hypotheses: list[Hypothesis]

    @property
    def holds(self) -> bool:
        """True when every hypothesis holds (the theorem then applies to this draw)."""
        return all(h.holds for h in self.hypotheses)

    @property
    def failing(self) -> list[str]:
        """The names of the hypotheses that fail, in order."""
        return [h.name for h in self.hypotheses if not h.holds]

    def hypothesis(self, name: str) -> Hypothesis:
        """The hypothesis called ``name``; raises KeyError (naming the known ones) if there is none."""
        for h in self.hypotheses:
            if h.name == name:
                return h
        raise KeyError(f"no hypothesis {name!r}; have {[h.name for h in self.hypotheses]}")

    def as_dict(self) -> dict:
        """Every field as plain data, with ``holds`` and ``failing`` (JSON-ready through results.write_json)."""
        return asdict(self) | {"holds": self.holds, "failing": self.failing}


@dataclass
class _Draw:
    """What the hypotheses need from one (X, Y, W(0)), computed once: independent of η and R₀."""

    variant: str
    n: int
    m: int
    d_out: int
    kappa: float
    lam: float
    lam_how: str
    H_norm: float
    dist_star: float | None   # ‖H(W(0)) − H*‖₂ (T1)
    Q_norm: float
    S0: float
    hess0: float              # B4's bound at W(0)
    e0_norm: float


def _softmax_only(params: Params) -> None:
    if not isinstance(params, Params):
        raise ValueError(f"params must be a Params from init_params, got {type(params).__name__}")
    if params.activation != "softmax":
        raise ValueError(f"T1 is proved for the softmax network (B2–B6), not for {params.activation!r}")


def _draw(X, Y, params: Params, variant: str, kappa=None, sigma=None) -> _Draw:
    _softmax_only(params)
    variant = _variant(variant)
    X = as_inputs(params, X)
    V.unit_ball(X)
    Y = V.targets(Y, X, params.d_out)
    k = V.kappa(kappa, params.m)
    n, q = X.shape[0], params.d_out
    # one pass of the features serves every quantity (the draw can be wide: m = 10⁷ happens):
    # H(W(0)) as network.empirical_ntk computes it, and B3's Q and B4's bound by ntkcheck.core.bounds from the
    # same S (Q_from_features, hessian_bound_from) — tests/test_theorem.py checks they match the public path
    act, S, cache = features(params, X)
    S0 = float(S.max())
    e0 = float(np.linalg.norm(k * (S @ params.A.T) - Y))
    H0 = ntk_from_features(params, X, act, cache, k)     # network.empirical_ntk's arithmetic, on the same S
    if variant == "T1":
        if k != params.m:
            raise ValueError(f"T1 compares H(W(0)) with its κ = m limit H*; got κ = {k:g} ≠ m = {params.m} "
                             "(use T1', which needs no limit)")
        sigma = params.sigma if sigma is None else sigma
        if not np.isfinite(sigma):
            raise ValueError("T1 needs σ for H*: pass sigma= (these params were not drawn by init_params)")
        sigma = V.positive_float(sigma, "sigma")
        Hstar = nk.limit_ntk(X, sigma=sigma, d_out=q)
        # λ_min(K ⊗ I) = λ_min(K): the mpmath reference is K at high precision
        lam, how = lambda_min(Hstar, lambda: nk.limit_kernel_mp(X, sigma=sigma, dps=MP_DPS))
        H_norm = float(np.linalg.norm(Hstar, 2))
        dist = float(np.linalg.norm(H0 - Hstar, 2))
    else:
        ref = (lambda: nk.empirical_ntk_mp(params, X, kappa=k, dps=MP_DPS)) if n * params.m <= MP_MAX_TERMS else None
        lam, how = lambda_min(H0, ref)
        H_norm = float(np.linalg.norm(H0, 2))
        dist = None
    Q_norm = float(np.linalg.norm(bounds.Q_from_features(S, X, params.m, k), 2))
    hess0 = bounds.hessian_bound_from(S0, X, k)
    return _Draw(variant, n, params.m, q, k, lam, how, H_norm, dist, Q_norm, S0, hess0, e0)


def _r0_max(dr: _Draw) -> float:
    name = "R0_max_T1" if dr.variant == "T1" else "R0_max_T1p"
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(_fn(name)(dr.lam, dr.d_out, dr.Q_norm))


def _choose(dr: _Draw) -> tuple[float, float]:
    """(η, R₀): R₀ = min(R₀,max of (ii), 1/2) (so (iv) is as easy as (ii) allows), η = the smaller cap of
    (iii) at that R₀.  (nan, nan) when λ ≤ 0 (no choice makes the theorem apply)."""
    if not dr.lam > 0:
        return math.nan, math.nan
    R0 = min(_r0_max(dr) * R0_SHRINK, float(_fn("R0_iv_best")()))
    return _caps(dr, R0)[0], R0


def _caps(dr: _Draw, R0: float) -> tuple[float, float, float, float]:
    """(min cap, spectral cap, second-order cap, β) of (iii) at R₀ (nan without a valid R₀, i.e. λ ≤ 0)."""
    if not (math.isfinite(R0) and R0 >= 0):
        return math.nan, math.nan, math.nan, math.nan
    beta = dr.hess0 * float(bounds.softmax_ratio_bound(R0))
    a = float(_fn("eta_cap_spectral")(dr.m, dr.H_norm, dr.lam))
    with np.errstate(divide="ignore"):
        b = float(_fn("eta_cap_second_order")(dr.lam, beta, dr.n, dr.d_out, dr.H_norm, dr.e0_norm)) \
            if dr.e0_norm > 0 else math.inf
    return min(a, b), a, b, beta


def _evaluate(dr: _Draw, eta: float, R0: float) -> Report:
    eta, R0 = float(eta), float(R0)
    v = dr.variant
    hyps = [Hypothesis("(λ)", "λ_min(H*) > 0" if v == "T1" else "λ₀ = λ_min(H(W(0))) > 0", 0.0, dr.lam,
                       bool(dr.lam > 0), {"decided_with": dr.lam_how})]
    if v == "T1":
        rhs = float(_fn("hyp_i_rhs")(dr.lam))
        hyps.append(Hypothesis("(i)", "‖H(W(0)) − H*‖₂ ≤ λ/4", dr.dist_star, rhs, bool(dr.dist_star <= rhs)))
    lhs = float(_fn("hyp_ii_lhs")(R0, dr.d_out, dr.Q_norm))
    rhs = float(_fn("hyp_ii_rhs_T1" if v == "T1" else "hyp_ii_rhs_T1p")(dr.lam))
    hyps.append(Hypothesis("(ii)", "6(e^{4R₀} − 1) d'‖Q(W(0))‖₂ ≤ " + ("λ/4" if v == "T1" else "λ₀/2"),
                           lhs, rhs, bool(lhs <= rhs)))
    cap, a, b, beta = _caps(dr, R0)
    hyps.append(Hypothesis("(iii)", "η ≤ min(1/(m(‖H‖ + λ/2)), λ/(2β√(nd')(‖H‖ + λ/2)‖e(0)‖))", eta, cap,
                           bool(eta <= cap), {"spectral": a, "second_order": b}))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = float(_fn("rate_p")(eta, dr.m, dr.lam))
        lhs = float(_fn("hyp_iv_lhs")(eta, dr.kappa, R0, dr.S0, dr.n, dr.d_out, dr.e0_norm, dr.m, dr.lam))
    hyps.append(Hypothesis("(iv)", "2ηκe^{2R₀}S₀√(nd')‖e(0)‖/p ≤ R₀", lhs, R0, bool(lhs <= R0)))
    return Report(v, dr.n, dr.m, dr.d_out, dr.kappa, eta, R0, dr.lam, dr.lam_how, p, dr.e0_norm, dr.H_norm,
                  dr.Q_norm, dr.S0, beta, hyps)


def evaluate_hypotheses(X, Y, params: Params, eta, R0, *, variant: str = "T1", kappa=None, sigma=None) -> Report:
    """Hypotheses (λ > 0), (i)–(iv) of T1 (or (λ₀ > 0), (ii)–(iv) of T1') for this data, W(0) and (η, R₀).

    κ defaults to m (T1 requires it: H* is the κ = m limit); σ, for H*, defaults to ``params.sigma``.
    The network must be the softmax network and X must satisfy (A1)."""
    eta = V.positive_float(eta, "eta")
    R0 = V.positive_float(R0, "R0")
    return _evaluate(_draw(X, Y, params, variant, kappa, sigma), eta, R0)


def choose_eta_R0(X, Y, params: Params, *, variant: str = "T1", kappa=None, sigma=None) -> tuple[float, float]:
    """The largest η allowed by (iii) and the R₀ that makes (iv) easiest among those (ii) allows.

    (ii) is increasing in R₀, so it allows exactly R₀ ≤ R₀,max (solved in proofs/linear_convergence.py);
    (iv) reads R₀e^{−2R₀} ≥ C with C free of η, so the best R₀ is min(R₀,max, 1/2).  η is then the smaller
    cap of (iii) (which depends on R₀ through β).  Returns (nan, nan) when λ ≤ 0."""
    return _choose(_draw(X, Y, params, variant, kappa, sigma))


# ------------------------------------------------------------------------------------------ conclusions
def conclusion_ratios(hist, report: Report) -> dict:
    """The worst ratio of each conclusion of ``report``'s theorem along a GD history recorded at every step
    (``train(..., record_every=1, lam_every=1)`` with the report's η):

    movement  max_r ‖w_r(t) − w_r(0)‖₂ ≤ R₀            worst ratio max_t movement/R₀
    lambda    λ_min(H(W(t))) ≥ λ/2                       worst ratio max_t (λ/2)/λ_min(H(W(t)))
    residual  ‖e(t)‖₂ ≤ (1 − ηmλ/4)^t ‖e(0)‖₂ (t ≥ 1)    worst ratio max_t ‖e(t)‖/((1 − p)^t‖e(0)‖)

    A conclusion holds at every step iff its worst ratio is ≤ 1 (at t = 0 the residual bound is an
    equality).  Returns {"worst_ratio", "worst_at_step", "holds"}."""
    if not np.array_equal(hist.steps, np.arange(len(hist.steps))) or len(hist.lam_steps) != len(hist.steps):
        raise ValueError("the history must record every step, with λ_min at every step")
    if not math.isclose(hist.eta, report.eta, rel_tol=1e-12):
        raise ValueError(f"the history ran with η = {hist.eta:g}, the report is for η = {report.eta:g}")
    t = hist.steps
    with np.errstate(divide="ignore"):
        lam_ratio = np.where(hist.lam_min > 0, (report.lam / 2) / hist.lam_min, np.inf)
        bound = np.asarray(_fn("rate")(report.eta, report.m, report.lam, t), dtype=float) * hist.residual_norm[0]
        res_ratio = hist.residual_norm[1:] / bound[1:]
    worst = {"movement": float(np.max(hist.max_move) / report.R0), "lambda": float(np.max(lam_ratio)),
             "residual": float(np.max(res_ratio)) if len(res_ratio) else 0.0}
    at = {"movement": int(t[np.argmax(hist.max_move)]), "lambda": int(t[np.argmax(lam_ratio)]),
          "residual": int(t[1:][np.argmax(res_ratio)]) if len(res_ratio) else 0}
    return {"worst_ratio": worst, "worst_at_step": at, "holds": all(v <= 1 for v in worst.values())}


def check_conclusions(X, Y, params: Params, eta, steps, R0, variant: str = "T1", *, kappa=None, sigma=None,
                      progress=None) -> dict:
    """Run ``steps`` GD steps from ``params`` with step ``eta`` and check each conclusion of T1/T1' (for
    radius ``R0``) at every step: see :func:`conclusion_ratios`.  Also reports whether the hypotheses hold
    (the conclusions are only guaranteed if they do).  Choose ``steps`` so that (1 − p)^t‖e(0)‖ stays well
    above the rounding of e (≈ κε·log m)."""
    from ntkcheck.core.training import train

    steps = V.positive_int(steps, "steps")
    dr = _draw(X, Y, params, variant, kappa, sigma)
    rep = _evaluate(dr, V.positive_float(eta, "eta"), V.positive_float(R0, "R0"))
    hist = train(params, X, Y, eta, steps, kappa=dr.kappa, record_every=1, lam_every=1, progress=progress)
    return conclusion_ratios(hist, rep) | {
        "variant": rep.variant, "hypotheses_hold": rep.holds, "failing_hypotheses": rep.failing,
        "report": rep.as_dict(), "steps": steps, "final_loss": float(hist.loss[-1]),
        "initial_loss": float(hist.loss[0]), "max_sum_drift": float(np.max(hist.sum_drift)),
        "seconds": hist.seconds}


# ------------------------------------------------------------------------------------------ width
def seeds_needed(delta: float, level: float = 0.95) -> int:
    """The fewest draws K for which K successes out of K give a Clopper–Pearson lower bound ≥ 1 − δ."""
    return max(1, math.ceil(math.log(1 - level) / math.log(1 - delta) - 1e-12))


def _successes_needed(K: int, delta: float, level: float) -> int | None:
    for k in range(K + 1):
        if binomial_lower(k, K, level) >= 1 - delta:
            return k
    return None


def _even(m: float) -> int:
    return max(2, 2 * int(round(m / 2)))


def certified_width(n: int, d: int, *, d_out: int = 1, sigma: float = 0.5, variant: str = "T1'",
                    delta: float = 0.1, level: float = 0.95, seeds: int | None = None, scheme: str = "symmetric",
                    data_seed: int = 0, X=None, Y=None, m_start: int = 16, m_max: int = 2**26, grid: float = 2.0,
                    rel_tol: float = 0.05, max_entries: float = 3e8, progress=None) -> dict:
    """The smallest width m at which the hypotheses of ``variant`` hold with probability ≥ 1 − δ over the
    initialization, at confidence ``level``.

    Data: X = sphere(n, d, data_seed), Y = labels(n, d', data_seed + 1) unless given; κ = m; σ; ``scheme``.
    At each m, K draws (K = :func:`seeds_needed` unless ``seeds``) of W(0) are evaluated with
    :func:`choose_eta_R0`'s (η, R₀); m passes when the Clopper–Pearson lower bound of the success
    frequency is ≥ 1 − δ (a draw-by-draw early stop when it no longer can).  Variants:

    * "T1'" and "T1": every hypothesis on every draw ((i) from the draw's ‖H(W(0)) − H*‖);
    * "T1-B7": (i) replaced by B7's ε ≤ λ/4 at δ/2 (deterministic), (ii)–(iv) on draws at δ/2 — a union
      bound gives probability ≥ 1 − δ;
    * "T1-B1B7" (no simulation, symmetric init only): (i) by B7 at δ/2 and (ii)–(iv) from B1's event at
      δ/2 — on it S_{i,r}(W(0)) ≤ e^{2B}/m, so ‖Q‖₂ ≤ ‖Q_entry(κ, m, G, m e^{4B}/m²)‖₂ (entrywise domination of
      a nonnegative matrix), S₀ ≤ e^{2B}/m, B4's bound with that S₀, and ‖e(0)‖ = ‖Y‖ (F(W(0)) = 0).

    With the symmetric init the m/2 first neurons are the independent ones: B1 is applied to them (n·m/2
    events) and B7 at width m/2 — H(W(0)) is then exactly the iid-form mean over m/2 neurons with the
    ⟨a_ℓ, S⟩ terms equal to 0, so B7's event and its entry bound apply with those terms dropped
    (proofs/linear_convergence.py, "certified T1").

    The search doubles m (``grid``) from ``m_start`` to the first pass, then bisects (geometrically, on
    even m) to a relative width ``rel_tol``.  Widths with n·m > ``max_entries`` are not simulated.
    Returns a dict with ``m_cert`` (None, with ``reason``, when no width ≤ the limit passes) and every
    width tested."""
    if variant not in WIDTH_VARIANTS:
        raise ValueError(f"variant must be one of {WIDTH_VARIANTS}, got {variant!r}")
    n, d, d_out = V.positive_int(n, "n"), V.positive_int(d, "d"), V.positive_int(d_out, "d_out")
    sigma = V.positive_float(sigma, "sigma")
    if not 0 < delta < 1 or not 0 < level < 1:
        raise ValueError(f"delta and level must lie in (0, 1), got {delta}, {level}")
    X = nk.sphere(n, d, seed=data_seed) if X is None else V.matrix(X, "X", cols=d)
    Y = nk.labels(n, d_out, seed=data_seed + 1) if Y is None else V.matrix(Y, "Y", cols=d_out, cols_name="d_out")
    if variant in ("T1-B7", "T1-B1B7") and scheme != "symmetric":
        raise ValueError(f"{variant} is implemented for the symmetric init (with the iid init and κ = m, "
                         "‖e(0)‖ grows like √m and (iv) fails)")
    core = "T1'" if variant == "T1'" else "T1"
    d_mc = delta / 2 if variant == "T1-B7" else delta
    K = seeds_needed(d_mc, level) if seeds is None else V.positive_int(seeds, "seeds")
    k_need = _successes_needed(K, d_mc, level)
    if k_need is None:
        raise ValueError(f"{K} draws cannot certify probability ≥ 1 − {d_mc:g} at level {level}: "
                         f"use at least {seeds_needed(d_mc, level)}")
    lam_star = None
    if variant != "T1'":
        lam_star, _ = lambda_min(nk.limit_ntk(X, sigma=sigma, d_out=d_out),
                                 lambda: nk.limit_kernel_mp(X, sigma=sigma, dps=MP_DPS))
    independent = (lambda m: m // 2) if scheme == "symmetric" else (lambda m: m)
    m_limit = 2**62 if variant == "T1-B1B7" else int(min(m_max, max_entries // n))   # B1B7 simulates nothing
    tested: dict[int, dict] = {}

    def passes(m: int) -> bool:
        if m in tested:
            return tested[m]["holds"]
        rec = {"m": m, "draws": 0, "successes": 0}
        if variant in ("T1-B7", "T1-B1B7"):
            eps = float(bounds.ntk_concentration_eps(independent(m), delta / 2, sigma, X, d_out))
            rhs = float(_fn("hyp_i_rhs")(lam_star))
            rec["b7_eps"], rec["b7_holds"] = eps, bool(eps <= rhs)
            if not eps <= rhs:
                rec["holds"] = False
                tested[m] = rec
                return False
        if variant == "T1-B1B7":
            rep = _evaluate(*_certified_draw(X, Y, m, independent(m), sigma, delta / 2, lam_star, eps))
            rec.update(holds=rep.holds, failing=rep.failing, eta=rep.eta, R0=rep.R0, S0_bound=rep.S0,
                       Q_norm_bound=rep.Q_norm)
            tested[m] = rec
            return rec["holds"]
        fails_left = K - k_need
        fail_counts: dict[str, int] = {}
        for j in range(K):
            params = nk.init_params(d, m, d_out, sigma=sigma, scheme=scheme, seed=10_000 * (data_seed + 1) + j)
            dr = _draw(X, Y, params, core, None, sigma)
            rep = _evaluate(dr, *_choose(dr))
            failing = [h for h in rep.failing if not (variant == "T1-B7" and h == "(i)")]
            rec["draws"] += 1
            if failing:
                fails_left -= 1
                for h in failing:
                    fail_counts[h] = fail_counts.get(h, 0) + 1
                if fails_left < 0:
                    break
            else:
                rec["successes"] += 1
        rec["lower_bound"] = binomial_lower(rec["successes"], K, level) if rec["draws"] == K else None
        rec["holds"] = rec["draws"] == K and rec["successes"] >= k_need
        rec["failing"] = fail_counts
        tested[m] = rec
        if progress is not None:
            progress(m)
        return rec["holds"]

    lo, hi = None, None
    m = _even(m_start)
    while m <= m_limit:
        if passes(m):
            hi = m
            break
        lo = m
        m = _even(m * grid)
    out = {"variant": variant, "n": n, "d": d, "d_out": d_out, "sigma": sigma, "scheme": scheme, "kappa": "m",
           "delta": delta, "level": level, "draws_per_width": K, "successes_needed": k_need,
           "lambda_star": lam_star, "data_seed": data_seed}
    if hi is None:
        return out | {"m_cert": None, "reason": f"no width up to {m_limit} passed (n·m ≤ {max_entries:g})",
                      "tested": [tested[k] for k in sorted(tested)]}
    while lo is not None and hi / lo > 1 + rel_tol:
        mid = _even(math.sqrt(lo * hi))
        if mid in (lo, hi):
            break
        if passes(mid):
            hi = mid
        else:
            lo = mid
    return out | {"m_cert": hi, "m_fail_below": lo, "reason": None if lo is not None else
                  f"the smallest width tested ({hi}) already passes",
                  "tested": [tested[k] for k in sorted(tested)]}


def _certified_draw(X, Y, m: int, m_indep: int, sigma: float, delta_b1: float, lam_star: float, eps_b7: float):
    """The quantities of T1's hypotheses bounded on B1's event (probability ≥ 1 − δ_B1) for the symmetric
    init at width m, with no draw: S₀ ≤ e^{2B}/m, ‖Q‖₂ ≤ ‖Q_entry(κ, m, G, m(e^{2B}/m)²)‖₂, B4 at that S₀,
    ‖e(0)‖ = ‖Y‖, and B7's ε in place of ‖H(W(0)) − H*‖₂.  Returns the arguments of :func:`_evaluate`
    with (η, R₀) from :func:`_choose`."""
    n, q = X.shape[0], Y.shape[1]
    k = float(m)
    B = bounds.init_bound(sigma, n, m_indep, delta_b1)
    S_up = float(compiled("init_bound", "S_upper", "numpy")(B, m))
    Qb = compiled("ntk_perturbation", "Q_entry", "numpy")(k, m, X @ X.T, m * S_up**2)
    hess = bounds.hessian_bound_from(S_up, X, k)
    Hstar = nk.limit_ntk(X, sigma=sigma, d_out=q)
    dr = _Draw("T1", n, m, q, k, lam_star, "float64", float(np.linalg.norm(Hstar, 2)), eps_b7,
               float(np.linalg.norm(Qb, 2)), S_up, hess, float(np.linalg.norm(Y)))
    eta, R0 = _choose(dr)
    return dr, eta, R0


# ------------------------------------------------------------------------------------------ initial output
def initial_output_size(X, widths, *, sigma: float = 1.0, d_out: int = 1, seeds: int = 4, schemes=SCHEMES,
                        seed: int = 0) -> dict:
    """‖F(W(0), X)‖_F of the softmax network against m with κ = m, for each init scheme (the book's T1 part,
    "Initial output size").  ``widths`` must be even for the symmetric scheme.

    iid: ‖F(W(0))‖ ≈ √(m n d') e^{σ²/2} on the sphere; the fitted log-log slope (with a 95% interval) is
    ≈ 1/2.  symmetric: F(W(0)) = 0 in exact arithmetic; in float64 each output is a sum of m terms
    a_r κS_r whose exact value is 0, so |F| ≤ κ(m − 1)ε·Σ_r S_r·1.01 ≤ m(m − 1)ε·1.01 (the recursive-
    summation bound, in any order; Σ_r S_r ≤ 1 + mε): the record gives max|F| and that bound."""
    X = V.matrix(X, "X")
    widths = [V.positive_int(w, "width") for w in widths]
    seeds = V.positive_int(seeds, "seeds")
    out = {"m": widths, "sigma": sigma, "d_out": d_out, "seeds": seeds, "kappa": "m"}
    for scheme in schemes:
        norms = np.empty((len(widths), seeds))
        maxabs = np.zeros(len(widths))
        for a, m in enumerate(widths):
            for s in range(seeds):
                F = nk.forward(nk.init_params(X.shape[1], m, d_out, sigma=sigma, scheme=scheme, seed=seed + s), X)
                norms[a, s] = np.linalg.norm(F)
                maxabs[a] = max(maxabs[a], float(np.abs(F).max()))
        rec = {"mean_norm": norms.mean(axis=1), "max_abs_output": maxabs}
        if scheme == "iid":
            rec["fit"] = loglog_slope(widths, rec["mean_norm"])
        else:
            bound = np.array([m * (m - 1) * EPS * 1.01 for m in widths])
            rec["rounding_bound"] = bound
            rec["zero_up_to_rounding"] = bool(np.all(maxabs <= bound))
        out[scheme] = rec
    return out
