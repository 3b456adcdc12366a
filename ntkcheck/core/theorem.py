"""Theorem T1 / T1' (the book's T1 part) on concrete data: its hypotheses, its conclusions along gradient descent,
its certified width, and the initial output size that drives hypothesis (iv).

* :func:`evaluate_hypotheses` evaluates (i)–(iv) (and λ > 0) for given (X, Y, W(0), η, R₀) and says which
  fail; :func:`choose_eta_R0` picks the largest η that (iii) allows and the R₀ that makes (iv) easiest
  among those (ii) allows.
* :func:`check_conclusions` runs GD and checks every conclusion at every step.
* :func:`report_at_chosen`, :func:`report_from_quantities` (quantities streamed over neurons) and
  :func:`report_b1b7` (no draw: B1's event and B7) are what the width experiment's certified width
  (:func:`ntkcheck.experiments.width.certified_width`) evaluates per draw and width.
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
from ntkcheck.core.stats import loglog_slope
from ntkcheck.core.network import SCHEMES, Params, as_inputs, features, ntk_from_features

VARIANTS = ("T1", "T1'")
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


# ------------------------------------------------------------------------------------------ reports for the width experiment
def report_at_chosen(X, Y, params: Params, *, variant: str = "T1", kappa=None, sigma=None) -> Report:
    """The hypotheses of ``variant`` at the (η, R₀) that :func:`choose_eta_R0` picks, from one pass of the
    features (what :func:`evaluate_hypotheses` at :func:`choose_eta_R0`'s choice returns, computed once).

    Parameters as :func:`evaluate_hypotheses` without (η, R₀).  Returns the :class:`Report` (η = R₀ = nan
    when λ ≤ 0; then every hypothesis that needs them fails)."""
    dr = _draw(X, Y, params, variant, kappa, sigma)
    return _evaluate(dr, *_choose(dr))


def report_from_quantities(X, *, variant: str, m: int, d_out: int, kappa: float, lam: float, lam_decided_with: str,
                           H_norm: float, Q_norm: float, S0: float, e0_norm: float,
                           dist_star: float | None = None) -> Report:
    """The hypotheses of ``variant`` at :func:`choose_eta_R0`'s (η, R₀) from quantities computed elsewhere
    (e.g. streamed over neurons by :mod:`ntkcheck.core.streaming`, for widths whose features do not fit in memory).

    Parameters: ``X`` the data (n × d, (A1)); ``variant`` "T1" or "T1'"; ``m``, ``d_out``, ``kappa``; ``lam``
    λ_min(H*) (T1) or λ₀ = λ_min(H(W(0))) (T1'), ``lam_decided_with`` "float64" or "mpmath"; ``H_norm``
    ‖H*‖₂ (T1) or ‖H(W(0))‖₂ (T1'); ``Q_norm`` ‖Q(W(0))‖₂ (B3); ``S0`` max_{i,r} S_{i,r}(W(0)); ``e0_norm``
    ‖e(0)‖₂; ``dist_star`` ‖H(W(0)) − H*‖₂ (T1 only).  B4's bound at W(0) is computed from S0.  Returns the
    :class:`Report`."""
    variant = _variant(variant)
    X = V.matrix(X, "X")
    V.unit_ball(X)
    if variant == "T1" and dist_star is None:
        raise ValueError("T1 needs dist_star = ‖H(W(0)) − H*‖₂ (hypothesis (i))")
    k = V.positive_float(kappa, "kappa")
    dr = _Draw(variant, X.shape[0], V.positive_int(m, "m"), V.positive_int(d_out, "d_out"), k, float(lam),
               lam_decided_with, float(H_norm), None if dist_star is None else float(dist_star), float(Q_norm),
               float(S0), bounds.hessian_bound_from(float(S0), X, k), float(e0_norm))
    return _evaluate(dr, *_choose(dr))


def report_b1b7(X, Y, m: int, *, sigma: float, delta: float, lam_star: float) -> Report:
    """T1's hypotheses bounded with no draw, for the symmetric init at width m (κ = m): (i) by B7's ε at
    δ/2 (width m/2, the independent neurons) and (ii)–(iv) on B1's event at δ/2 over those m/2 neurons —
    S₀ ≤ e^{2B}/m, ‖Q‖₂ ≤ ‖Q_entry(κ, m, G, m(e^{2B}/m)²)‖₂ (entrywise domination of a nonnegative matrix),
    B4 at that S₀, ‖e(0)‖ = ‖Y‖ (F(W(0)) = 0).

    Parameters: data ``X``, labels ``Y``, even width ``m``, ``sigma``, ``delta`` (total failure probability),
    ``lam_star`` = λ_min(H*).  Returns the :class:`Report`; every hypothesis holds ⇒ T1's conclusions hold
    with probability ≥ 1 − δ over the initialization."""
    X = V.matrix(X, "X")
    Y = V.matrix(Y, "Y")
    m = V.positive_int(m, "m", minimum=2)
    m_indep = m // 2
    eps = float(bounds.ntk_concentration_eps(m_indep, delta / 2, sigma, X, Y.shape[1]))
    n, q = X.shape[0], Y.shape[1]
    k = float(m)
    B = bounds.init_bound(sigma, n, m_indep, delta / 2)
    S_up = float(compiled("init_bound", "S_upper", "numpy")(B, m))
    Qb = compiled("ntk_perturbation", "Q_entry", "numpy")(k, m, X @ X.T, m * S_up**2)
    hess = bounds.hessian_bound_from(S_up, X, k)
    Hstar = nk.limit_ntk(X, sigma=sigma, d_out=q)
    dr = _Draw("T1", n, m, q, k, float(lam_star), "float64", float(np.linalg.norm(Hstar, 2)), eps,
               float(np.linalg.norm(Qb, 2)), S_up, hess, float(np.linalg.norm(Y)))
    return _evaluate(dr, *_choose(dr))


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
