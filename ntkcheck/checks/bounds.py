"""Numeric checks of the inequalities B1–B7 (their chapters in the book).

Each check is a violation hunt: random sampling across sizes, σ, R, data and weights, plus an adversarial
search (scipy.optimize, maximizing observed/bound over the hypotheses: base weights, a perturbation kept in
max_r‖w_r − w̃_r‖ < R, data kept in ‖x‖ < 1).  ``worst_ratio`` is the worst observed/bound found; a bound
holds iff it is ≤ 1.  The random and adversarial worsts are reported separately in ``details``.
B1 and B7 are probabilistic: their checks count violations over many initializations against δ with a
one-sided Clopper–Pearson bound.
"""
from __future__ import annotations

import numpy as np
from scipy import optimize
from scipy.stats import norm as normal

import ntkcheck as nk
from ntkcheck.core import bounds as B
from ntkcheck.core.compile import compiled
from ntkcheck.checks import Claim, Outcome, register
from ntkcheck.core.stats import binomial_upper, loglog_slope
from ntkcheck.checks.identities import output_rounding, hessian_blocks
from ntkcheck.core.network import get_activation

EPS = np.finfo(float).eps
CONFIDENCE = 0.95


# ------------------------------------------------------------------------------------------ helpers
def _ball_map(v: np.ndarray, radius, axis: int) -> np.ndarray:
    """Map unconstrained ``v`` into the open ball of ``radius`` along ``axis`` (norm ↦ radius·tanh(norm))."""
    nrm = np.linalg.norm(v, axis=axis, keepdims=True)
    scale = np.where(nrm > 1e-12, np.tanh(nrm) / np.maximum(nrm, 1e-300), 1.0)
    return radius * v * scale


def _log_softmax(Z: np.ndarray) -> np.ndarray:
    mx = Z.max(axis=-1, keepdims=True)
    return Z - mx - np.log(np.exp(Z - mx).sum(axis=-1, keepdims=True))


class _Budget(Exception):
    pass


def _maximize(fun, starts, evals: int = 600) -> tuple[float, np.ndarray]:
    """Maximize ``fun`` (a log-ratio; non-finite values count as −∞) from each start with BFGS on the
    unconstrained parametrization, at most ``evals`` evaluations per start (finite-difference points
    included).  Every evaluated point satisfies the hypotheses (the parametrization maps into them), so
    the best value *seen* is returned.  (BFGS, not L-BFGS-B: the latter is several times slower here with
    a multi-threaded BLAS.)"""
    best = [-np.inf, None]

    for x0 in starts:
        count = [0]

        def neg(v):
            if count[0] >= evals:
                raise _Budget
            count[0] += 1
            val = fun(v)
            if np.isfinite(val) and val > best[0]:
                best[0], best[1] = float(val), np.array(v, copy=True)
            return -val if np.isfinite(val) else 1e6

        try:
            optimize.minimize(neg, x0, method="BFGS", options={"maxiter": 10**6, "gtol": 1e-10})
        except _Budget:
            pass
    return best[0], best[1]


def _nelder_mead(fun, starts, evals: int = 600) -> tuple[float, np.ndarray]:
    """Maximize ``fun`` with Nelder–Mead from each start (at most ``evals`` evaluations each): derivative-free,
    so it follows the kinks of max-type ratios that BFGS's finite differences miss.  Returns the best value
    seen and its point (every evaluated point satisfies the hypotheses, as in :func:`_maximize`)."""
    best = [-np.inf, None]

    def neg(v):
        val = fun(v)
        if np.isfinite(val) and val > best[0]:
            best[0], best[1] = float(val), np.array(v, copy=True)
        return -val if np.isfinite(val) else 1e6

    for x0 in starts:
        optimize.minimize(neg, x0, method="Nelder-Mead", options={"maxfev": evals, "xatol": 1e-12, "fatol": 1e-14})
    return best[0], best[1]


def _inv_ball(D: np.ndarray, radius, axis: int) -> np.ndarray:
    """An unconstrained v with _ball_map(v, radius, axis) ≈ D (points on the sphere are pulled in by 1e-9)."""
    nrm = np.linalg.norm(D, axis=axis, keepdims=True)
    r = np.clip(nrm / radius, 0.0, 1 - 1e-9)
    return np.where(nrm > 0, np.arctanh(r) * D / np.maximum(nrm, 1e-300), 0.0)


def _perturbation(rng, W_tilde: np.ndarray, X: np.ndarray, R: float) -> np.ndarray:
    """A perturbation Δ (d×m) with max_r ‖Δ_r‖ ≤ R: random directions inside the ball, on the sphere, or
    aligned with ±x_0 (the logit-maximizing direction for the first input)."""
    d, m = W_tilde.shape
    kind = rng.integers(3)
    D = rng.standard_normal((d, m))
    D /= np.linalg.norm(D, axis=0, keepdims=True)
    if kind == 0:
        D *= R * rng.random((1, m)) ** (1.0 / d)
    elif kind == 1:
        D *= R
    else:
        x0 = X[0] / max(np.linalg.norm(X[0]), 1e-300)
        D = R * np.outer(x0, rng.choice([-1.0, 1.0], size=m))
    return D


def _data(rng, n: int, d: int) -> np.ndarray:
    """Data in the closed unit ball: on the sphere half of the time (the worst case for most bounds)."""
    seed = int(rng.integers(2**31 - 1))
    return nk.sphere(n, d, seed=seed) if rng.random() < 0.5 else nk.ball(n, d, seed=seed)


def _case(rng, n_max=5, d_max=4, q_max=3, m_max=24, sigma_range=(0.05, 5.0)):
    n, d, q = (int(rng.integers(1, t + 1)) for t in (n_max, d_max, q_max))
    m = int(rng.integers(1, m_max + 1))
    sigma = float(np.exp(rng.uniform(*np.log(sigma_range))))
    p = nk.init_params(d, m, d_out=q, sigma=sigma, seed=int(rng.integers(2**31 - 1)))
    X = _data(rng, n, d)
    kappa = float(m) if rng.random() < 0.5 else float(np.sqrt(m))
    return p, X, kappa


# ------------------------------------------------------------------------------------------ B1
B1_CONFIGS = (  # (n, m, d, σ, δ, data); n = m = 1 on the sphere with δ near 1 is the analytic worst case
    (1, 1, 2, 1.0, 0.9, "sphere"),
    (1, 1, 3, 0.7, 0.3, "sphere"),
    (1, 1, 2, 2.0, 0.1, "sphere"),
    (3, 8, 3, 2.0, 0.2, "sphere"),
    (5, 20, 4, 0.5, 0.2, "ball"),
    (2, 4, 2, 5.0, 0.05, "sphere"),
    (10, 40, 3, 1.0, 0.5, "sphere"),
)


@register("B1", short="P(max|w_rᵀx_i| > σ√(2ln(2nm/δ))) ≤ δ", id="init-bound", proof="init_bound",
          what="violation frequency of |w_rᵀx_i| ≤ B over many inits vs δ (Clopper–Pearson); S ∈ [e^{−2B}/m, e^{2B}/m]")
def check_b1(ctx) -> Outcome:
    draws = max(ctx.trials(4000), 1000)   # a floor: below ~1000 draws the binomial bound cannot resolve δ = 0.05
    rows, worst_freq, worst_S, holds = [], 0.0, 0.0, True
    S_lo, S_hi = compiled("init_bound", "S_lower", "numpy"), compiled("init_bound", "S_upper", "numpy")
    for c, (n, m, d, sigma, delta, kind) in enumerate(B1_CONFIGS):
        seed = ctx.seed_from_rng()
        X = nk.sphere(n, d, seed=seed) if kind == "sphere" else nk.ball(n, d, seed=seed)
        Bv = B.init_bound(sigma, n, m, delta)
        W = sigma * ctx.rng.standard_normal((draws, d, m))
        Z = np.einsum("nd,kdm->knm", X, W)
        bad = np.abs(Z).max(axis=(1, 2)) > Bv
        k = int(bad.sum())
        upper = binomial_upper(k, draws, CONFIDENCE)
        # on the event, S_{i,r} ∈ [e^{−2B}/m, e^{2B}/m] (checked in logs)
        logS = _log_softmax(Z[~bad])
        if logS.size:
            worst_S = max(worst_S, float(np.exp(np.max(logS) - np.log(S_hi(Bv, m)))),
                          float(np.exp(np.log(S_lo(Bv, m)) - np.min(logS))))
        row = {"n": n, "m": m, "d": d, "sigma": sigma, "delta": delta, "data": kind, "B": Bv,
               "violations": k, "draws": draws, "frequency": k / draws, "clopper_pearson_upper": upper}
        if n == 1 and m == 1 and kind == "sphere":
            row["exact_probability"] = float(2 * normal.sf(Bv / sigma))  # ‖x‖ = 1: w·x ~ N(0, σ²)
        rows.append(row)
        worst_freq = max(worst_freq, upper / delta)
        holds &= upper <= delta
        ctx.advance((c + 1) / len(B1_CONFIGS))
    ratio = max(worst_freq, worst_S)
    claims = [Claim(f"Clopper–Pearson {CONFIDENCE:.0%} upper bound of P(max|w_rᵀx_i| > B) / δ, worst of "
                    f"{len(B1_CONFIGS)} configurations × {draws} inits", worst_freq, "≤", 1.0),
              Claim("S_{i,r} against [e^{−2B}/m, e^{2B}/m] on the event, worst ratio", worst_S, "≤", 1.0)]
    return Outcome(holds=bool(holds and worst_S <= 1), trials=draws * len(B1_CONFIGS), worst_ratio=ratio,
                   claims=claims,
                   sizes={"configs": len(B1_CONFIGS), "draws_per_config": draws},
                   details={"configs": rows, "worst_upper_over_delta": worst_freq, "worst_S_ratio_on_event": worst_S,
                            "confidence": CONFIDENCE,
                            "meaning": "worst_ratio = max(Clopper–Pearson upper bound of the violation frequency / δ, "
                                       "S_{i,r} against [e^{−2B}/m, e^{2B}/m] on the event); the n = m = 1 sphere "
                                       "configurations are the worst case of the union bound (exact probability shown)"})


# ------------------------------------------------------------------------------------------ B2
def _b2_ratios(Wt, D, X, R):
    """(upper, lower, absdiff) observed/bound for every (sample, neuron), in logs where possible.  The
    log-ratio is shrunk towards 0 by its float64 rounding allowance 16ε(1 + max|z| + max|z̃|) (log-softmax
    of either side is accurate to a few ε times the largest logit), so a ratio > 1 is a real violation."""
    Zt, Z = X @ Wt, X @ (Wt + D)
    lt, lw = _log_softmax(Zt), _log_softmax(Z)
    tol = 16 * EPS * (1 + np.max(np.abs(Zt)) + np.max(np.abs(Z)))
    lr = lw - lt
    lr = np.sign(lr) * np.maximum(np.abs(lr) - tol, 0.0)
    up = compiled("softmax_ratio", "ratio_upper", "numpy")(R)
    lo = compiled("softmax_ratio", "ratio_lower", "numpy")(R)
    fac = compiled("softmax_ratio", "abs_diff_factor", "numpy")(R)
    return (np.exp(lr - np.log(up)), np.exp(np.log(lo) - lr), np.abs(np.expm1(lr)) / fac)


@register("B2", short="e^{−2R} ≤ S_r(W)/S_r(W̃) ≤ e^{2R}", id="softmax-ratio", proof="softmax_ratio",
          what="S_r(W)/S_r(W̃) against e^{±2R} and |S−S̃| against (e^{2R}−1)S̃: random + adversarial (W̃, W−W̃, x)")
def check_b2(ctx) -> Outcome:
    rng = ctx.rng
    trials = ctx.trials(300)
    rnd = {"upper": 0.0, "lower": 0.0, "absdiff": 0.0}
    for t in range(trials):
        d, m, n = int(rng.integers(1, 5)), int(rng.integers(1, 30)), int(rng.integers(1, 6))
        sigma = float(np.exp(rng.uniform(np.log(0.05), np.log(8.0))))
        R = float(np.exp(rng.uniform(np.log(1e-3), np.log(3.0))))
        X = _data(rng, n, d)
        Wt = sigma * rng.standard_normal((d, m))
        D = _perturbation(rng, Wt, X, R)
        for key, val in zip(rnd, _b2_ratios(Wt, D, X, R)):
            rnd[key] = max(rnd[key], float(val.max()))
    ctx.advance(0.3)
    # adversary: maximize log(ratio/bound) for neuron 0 at input x
    adv = {"upper": 0.0, "lower": 0.0}
    restarts = ctx.trials(4)
    best_case = {}
    for side_i, side in enumerate(adv):
        for k in range(restarts):
            d, m = 2 + k % 2, 2 + k % 4
            R = (0.05, 0.4, 1.2, 2.5)[k % 4]

            def unpack(v):
                Wt = 4.0 * np.tanh(v[: d * m].reshape(d, m))
                D = _ball_map(v[d * m: 2 * d * m].reshape(d, m), R, axis=0)
                x = _ball_map(v[2 * d * m:], 1.0, axis=0)
                return Wt, D, x

            def fun(v):
                Wt, D, x = unpack(v)
                up, lo, _ = _b2_ratios(Wt, D, x[None, :], R)
                return float(np.log((up if side == "upper" else lo)[0, 0]))

            starts = [rng.standard_normal(2 * d * m + d)]
            val, xbest = _maximize(fun, starts, evals=700)
            if np.exp(val) > adv[side]:
                adv[side] = float(np.exp(val))
                Wt, D, x = unpack(xbest)
                best_case[side] = {"R": R, "d": d, "m": m, "S_tilde_0": float(np.exp(_log_softmax(x @ Wt)[0])),
                                   "ratio_over_bound": adv[side]}
            ctx.advance(0.3 + 0.7 * (side_i * restarts + k + 1) / (2 * restarts))
    worst_rnd, worst_adv = max(rnd.values()), max(adv.values())
    ratio = max(worst_rnd, worst_adv)
    what = f"worst of {trials} random cases and {2 * restarts} adversarial searches"
    claims = [Claim(f"(S_r(W)/S_r(W̃)) / e^{{2R}}, {what}", max(rnd["upper"], adv["upper"]), "≤", 1.0),
              Claim(f"e^{{−2R}} / (S_r(W)/S_r(W̃)), {what}", max(rnd["lower"], adv["lower"]), "≤", 1.0),
              Claim(f"|S_r(W) − S_r(W̃)| / ((e^{{2R}} − 1)S_r(W̃)), worst of {trials} random cases",
                    rnd["absdiff"], "≤", 1.0)]
    return Outcome(holds=ratio <= 1, trials=trials + 2 * restarts, worst_ratio=ratio, claims=claims,
                   sizes={"n": "1–5", "d": "1–4", "m": "1–29", "sigma": "0.05–8", "R": "1e-3–3"},
                   details={"random_worst": rnd, "adversarial_worst": adv, "adversarial_cases": best_case,
                            "adversary_reaches": worst_adv,
                            "meaning": "observed/bound for S_r/S̃_r ≤ e^{2R}, S_r/S̃_r ≥ e^{−2R} and |S_r − S̃_r| ≤ "
                                       "(e^{2R}−1)S̃_r; the bound is tight as S̃_r → 0, so the adversary should approach 1"})


# ------------------------------------------------------------------------------------------ B3
def _b3_ratios(pt, D, X, R, kappa):
    """(entrywise, spectral) observed/bound for W = W̃ + D."""
    pw = pt.with_W(pt.W + D)
    dH = nk.empirical_ntk(pw, X, kappa=kappa) - nk.empirical_ntk(pt, X, kappa=kappa)
    Q = B.Q_matrix(pt, X, kappa)
    N = B.ntk_perturbation_factor(R) * np.kron(Q, np.ones((pt.d_out, pt.d_out)))
    scale = np.max(N) if N.size else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = np.where(N > 1e-300, np.abs(dH) / N, np.where(np.abs(dH) <= 1e-14 * max(scale, 1e-300), 0.0, np.inf))
    spec = float(np.linalg.norm(dH, 2)) / B.ntk_perturbation_bound(R, pt, X, kappa)
    return float(ent.max()), spec


B3_W_SCALE = 10.0    # the adversary's W̃ ranges over (−10, 10)^{d×m}: saturated softmax, where the ratio is largest


def _b3_problem(n, d, m, A, kappa, which):
    """The B3 adversary's objective: v = (W̃ as 10·tanh, W − W̃ in the R-ball per neuron, X in the unit ball per
    row, log R in [−9, 1]) ↦ log(observed/bound) for ``which`` (entrywise or spectral)."""
    sizes = (d * m, d * m, n * d)

    def unpack(v):
        Wt = B3_W_SCALE * np.tanh(v[: sizes[0]].reshape(d, m))
        R = float(np.exp(np.clip(v[-1], -9.0, 1.0)))
        D = _ball_map(v[sizes[0]: sizes[0] + sizes[1]].reshape(d, m), R, axis=0)
        X = _ball_map(v[sizes[0] + sizes[1]: -1].reshape(n, d), 1.0, axis=1)
        return nk.params_from(Wt, A), D, X, R

    def fun(v):
        pt, D, X, R = unpack(v)
        ent, spec = _b3_ratios(pt, D, X, R, kappa)
        return float(np.log(max(ent if which == "entrywise" else spec, 1e-300)))

    def pack(Wt, D, X, R):
        vW = np.arctanh(np.clip(Wt / B3_W_SCALE, -1 + 1e-12, 1 - 1e-12)).ravel()
        return np.concatenate([vW, _inv_ball(D, R, 0).ravel(), _inv_ball(X, 1.0, 1).ravel(), [np.log(R)]])

    return fun, pack, sum(sizes) + 1


@register("B3", short="|H(W)−H(W̃)| ≤ 6(e^{4R}−1)Q; ‖·‖₂ ≤ 6(e^{4R}−1)d'‖Q‖₂", id="ntk-perturbation",
          proof="ntk_perturbation",
          what="entrywise and spectral ‖H(W)−H(W̃)‖ against 6(e^{4R}−1)Q: random, then an adversary over (W̃, W−W̃, X, "
               "R) — BFGS and Nelder–Mead from random starts, and Nelder–Mead from the best random cases and the "
               "best BFGS points")
def check_b3(ctx) -> Outcome:
    rng = ctx.rng
    trials = ctx.trials(50)
    rnd = {"entrywise": 0.0, "spectral": 0.0}
    top = {"entrywise": [], "spectral": []}       # the best random cases, as polish starts
    for t in range(trials):
        pt, X, kappa = _case(rng, m_max=40)
        R = float(np.exp(rng.uniform(np.log(1e-3), np.log(2.0))))
        D = _perturbation(rng, pt.W, X, R)
        e, s = _b3_ratios(pt, D, X, R, kappa)
        rnd["entrywise"], rnd["spectral"] = max(rnd["entrywise"], e), max(rnd["spectral"], s)
        for key, val in (("entrywise", e), ("spectral", s)):
            top[key] = sorted(top[key] + [(val, t, pt, X, kappa, R, D)], key=lambda c: -c[0])[:2]
    ctx.advance(0.15)
    adv = {"entrywise": 0.0, "spectral": 0.0}
    stage = {k: {"bfgs": 0.0, "nelder_mead_random_starts": 0.0, "nelder_mead_from_random_cases": 0.0,
                 "nelder_mead_from_bfgs": 0.0} for k in adv}
    restarts = ctx.trials(3)
    configs = [(2, 2, 4, 2), (2, 2, 4, 3), (2, 2, 3, 1), (2, 2, 8, 2)]      # (n, d, m, d')
    jobs = 2 * (restarts + max(1, ctx.trials(2)) + 2)
    done = 0

    def tick():
        nonlocal done
        done += 1
        ctx.advance(0.15 + 0.85 * min(1.0, done / jobs))

    for which in ("entrywise", "spectral"):
        # BFGS from random starts (small R is the hardest regime: the ratio tends to a derivative ratio)
        best_bfgs = []
        for k in range(restarts):
            n, d, m, q = configs[k % len(configs)]
            A = rng.choice([-1.0, 1.0], size=(q, m))
            A[:, 0] = -A[:, 1]
            fun, _, dim = _b3_problem(n, d, m, A, float(m), which)
            v0 = rng.standard_normal(dim)
            v0[2 * d * m: -1] *= 3.0
            v0[-1] = (-6.0, -2.0, 0.0)[k % 3]
            val, xb = _maximize(fun, [v0], evals=300)
            stage[which]["bfgs"] = max(stage[which]["bfgs"], float(np.exp(val)))
            best_bfgs.append((val, fun, xb))
            tick()
        # Nelder–Mead from random starts (it reaches the kinks BFGS stalls at)
        for k in range(max(1, ctx.trials(2))):
            n, d, m, q = configs[(k + 1) % len(configs)]
            A = rng.choice([-1.0, 1.0], size=(q, m))
            A[:, 0] = -A[:, 1]
            fun, _, dim = _b3_problem(n, d, m, A, float(m), which)
            v0 = 2.0 * rng.standard_normal(dim)
            v0[-1] = rng.uniform(-8.0, 0.0)
            val, _ = _nelder_mead(fun, [v0], evals=700)
            stage[which]["nelder_mead_random_starts"] = max(stage[which]["nelder_mead_random_starts"],
                                                            float(np.exp(val)))
            tick()
        # Nelder–Mead from the best random case (all of W̃, W − W̃, X and R free) and the best BFGS point
        val0, _, pt, X, kappa, R, D = top[which][0]
        fun, pack, _ = _b3_problem(X.shape[0], pt.d, pt.m, pt.A, kappa, which)
        val, _ = _nelder_mead(fun, [pack(np.clip(pt.W, -9.99, 9.99), D, X, R)], evals=700)
        stage[which]["nelder_mead_from_random_cases"] = float(np.exp(val))
        tick()
        val, fun, xb = max(best_bfgs, key=lambda c: c[0])
        if xb is not None:
            val, _ = _nelder_mead(fun, [xb], evals=500)
            stage[which]["nelder_mead_from_bfgs"] = float(np.exp(val))
        tick()
        adv[which] = max(stage[which].values())
    worst_rnd, worst_adv = max(rnd.values()), max(adv.values())
    ratio = max(worst_rnd, worst_adv)
    what = f"worst of {trials} random cases and the adversary's {jobs} searches"
    claims = [Claim(f"|H(W) − H(W̃)| / (6(e^{{4R}} − 1)Q) entrywise, {what}",
                    max(rnd["entrywise"], adv["entrywise"]), "≤", 1.0),
              Claim(f"‖H(W) − H(W̃)‖₂ / (6(e^{{4R}} − 1)d'‖Q‖₂), {what}", max(rnd["spectral"], adv["spectral"]),
                    "≤", 1.0)]
    return Outcome(holds=ratio <= 1, trials=trials + jobs, worst_ratio=ratio, claims=claims,
                   sizes={"n": "1–5", "d": "1–4", "d_out": "1–3", "m": "1–40", "R": "1e-3–2", "kappa": "m or √m",
                          "adversary": "n = 2, d = 2, m = 3–8, d' = 1–3, |W̃| < 10"},
                   details={"random_worst": rnd, "adversarial_worst": adv, "adversary_stages": stage,
                            "meaning": "observed/bound for |H(W) − H(W̃)| ≤ 6(e^{4R}−1)Q (entrywise) and the spectral-norm "
                                       "form; the adversary optimizes W̃, W − W̃, X and R (BFGS, then Nelder–Mead from "
                                       "random starts, from the best random cases and from the BFGS optimum)"})


# ------------------------------------------------------------------------------------------ B4
def _b4_ratio(p, x, kappa) -> float:
    Hs = hessian_blocks(p, x, kappa)
    obs = float(np.max(np.linalg.norm(Hs, 2, axis=(1, 2))))
    return obs / B.hessian_bound(p, x[None, :], kappa)


@register("B4", short="‖∇²_W F_ℓ(x)‖₂ ≤ 2κ‖x‖² max_r S_r", id="hessian-bound", proof="hessian_bound",
          what="the full Hessian (G3) norm against ntkcheck.core.bounds.hessian_bound: random + adversarial over (W, x), "
               "with starts at uniform S and one sign against the rest (where ‖M‖₂/max S = 2(1 − 2/m)), m up to 64")
def check_b4(ctx) -> Outcome:
    rng = ctx.rng
    trials = ctx.trials(60)
    rnd = 0.0
    for t in range(trials):
        p, X, kappa = _case(rng, n_max=1, m_max=12, sigma_range=(0.05, 10.0))
        rnd = max(rnd, _b4_ratio(p, X[0], kappa))
    ctx.advance(0.3)
    adv, adv_cases = 0.0, []
    restarts = max(ctx.trials(8), 4)   # a floor: the four widths of the uniform-S starts below
    for k in range(restarts):
        d, q = 1 + k % 2, 1 + (k // 4) % 2
        m = (4, 16, 64, 32)[k % 4]
        if k % 4 == 3:
            A = rng.choice([-1.0, 1.0], size=(q, m))
            A[:, 0] = -A[:, 1]   # both signs present (all-equal signs give M = 0)
        else:                    # one sign against all others: uniform S gives ‖M‖₂ = 2(1 − 2/m) max S
            A = -np.ones((q, m))
            A[:, 0] = 1.0

        def fun(v):
            W = 4.0 * np.tanh(v[: d * m].reshape(d, m))
            x = _ball_map(v[d * m:], 1.0, axis=0)
            return float(np.log(max(_b4_ratio(nk.params_from(W, A), x, float(m)), 1e-300)))

        # start at W = 0 (uniform S, the extremal point for one sign against the rest) and from a random W
        x0 = np.concatenate([np.zeros(d * m), rng.standard_normal(d)])
        starts = [x0, 0.3 * rng.standard_normal(d * m + d)]
        val, _ = _maximize(fun, starts, evals=250 if m <= 16 else 120)
        adv = max(adv, float(np.exp(val)))
        adv_cases.append({"m": m, "d": d, "d_out": q, "one_sign_against_rest": k % 4 != 3,
                          "ratio": float(np.exp(val))})
        ctx.advance(0.3 + 0.7 * (k + 1) / restarts)
    ratio = max(rnd, adv)
    claims = [Claim(f"max_ℓ ‖∇²_W F_ℓ(x)‖₂ / (2κ‖x‖² max_r S_r), worst of {trials} random cases and {restarts} "
                    "adversarial searches", ratio, "≤", 1.0)]
    return Outcome(holds=ratio <= 1, trials=trials + restarts, worst_ratio=ratio, claims=claims,
                   sizes={"d": "1–4", "d_out": "1–3", "m": "1–12 (random), 4–64 (adversary)", "sigma": "0.05–10"},
                   details={"random_worst": rnd, "adversarial_worst": adv, "adversarial_cases": adv_cases,
                            "meaning": "max_ℓ ‖κ M ⊗ xxᵀ‖₂ (G3's Hessian) / ntkcheck.core.bounds.hessian_bound (c κ‖x‖² "
                                       "max_r S_r); sup ‖M‖₂/max S = 2(1 − 2/m) at uniform S with one sign against "
                                       "the rest, so the adversary reaches 2(1 − 2/m)/c"})


# ------------------------------------------------------------------------------------------ B5
def _b5_ratio(p, X, Y, eta, kappa) -> float:
    lhs, rhs = B.one_step_sides(p, X, Y, eta, kappa)
    # float64 allowance for ‖e⁺‖ and ‖e‖: output rounding at W and W⁺, and the norms themselves
    q = X.shape[0] * p.d_out
    e = nk.residual(p, X, Y, kappa)
    p2 = p.with_W(p.W - eta * nk.gradient(p, X, Y, kappa))
    allowance = np.sqrt(q) * (output_rounding(p, X, kappa) + output_rounding(p2, X, kappa)) \
        + 4 * q * EPS * float(np.linalg.norm(e))
    return lhs / (rhs + allowance)


def _eta_scale(p, X, kappa) -> float:
    """1/(m λ_max(H)), with λ_max floored at 1e-8 (a saturated softmax has H ≈ 0; its gradient is tiny too)."""
    lam = float(np.linalg.eigvalsh(nk.empirical_ntk(p, X, kappa=kappa))[-1])
    return 1.0 / (p.m * max(lam, 1e-8))


B5_FINITE_ETA = (0.1, 10.0)   # the finite-η search: η·m·λ_max(H) in this range (the ratio → 1 only as η → 0)


def _b5_problem(n, d, m, A, eta_range):
    """The B5 adversary: v = (W as 3·tanh, X in the unit ball, Y as 5·tanh, log c) ↦ log ratio at
    η = c/(mλ_max(H)), c clipped to ``eta_range``."""
    q = A.shape[0]
    sizes = (d * m, n * d, n * q)
    lo, hi = np.log(eta_range[0]), np.log(eta_range[1])

    def unpack(v):
        W = 3.0 * np.tanh(v[: sizes[0]].reshape(d, m))
        X = _ball_map(v[sizes[0]: sizes[0] + sizes[1]].reshape(n, d), 1.0, axis=1)
        Y = 5.0 * np.tanh(v[sizes[0] + sizes[1]: -1].reshape(n, q))
        return nk.params_from(W, A), X, Y, float(np.exp(np.clip(v[-1], lo, hi)))

    def fun(v):
        p, X, Y, c = unpack(v)
        with np.errstate(all="ignore"):
            r = _b5_ratio(p, X, Y, c * _eta_scale(p, X, float(m)), float(m))
        return float(np.log(max(r, 1e-300))) if np.isfinite(r) else -np.inf

    return fun, sum(sizes) + 1, unpack


@register("B5", short="‖e⁺‖ ≤ ‖I−ηmH‖‖e‖ + ½η²β√(nd')‖∇L‖²", id="one-step-descent", proof="one_step_descent",
          what="one GD step: ‖e⁺‖₂ against ‖I−ηmH‖₂‖e‖₂ + ½η²β√(nd')‖∇L‖_F², η over 8 decades: random + adversarial; "
               "and a separate search at finite η (ηmλ_max(H) ∈ [0.1, 10]), where the first-order term is not exact")
def check_b5(ctx) -> Outcome:
    rng = ctx.rng
    trials = ctx.trials(40)
    rnd, rnd_finite, nonfinite = 0.0, 0.0, 0
    for t in range(trials):
        p, X, kappa = _case(rng, m_max=20, sigma_range=(0.05, 4.0))
        Y = nk.labels(X.shape[0], p.d_out, seed=int(rng.integers(2**31 - 1)), scale=float(rng.choice([0.1, 1.0, 10.0])))
        c = float(np.exp(rng.uniform(np.log(1e-6), np.log(1e2))))
        with np.errstate(all="ignore"):
            r = _b5_ratio(p, X, Y, c * _eta_scale(p, X, kappa), kappa)
        if np.isfinite(r):
            rnd = max(rnd, r)
            if B5_FINITE_ETA[0] <= c <= B5_FINITE_ETA[1]:
                rnd_finite = max(rnd_finite, r)
        else:
            nonfinite += 1
    ctx.advance(0.25)
    adv = 0.0
    restarts = ctx.trials(4)
    for k in range(restarts):
        n, d, m, q = 2, 2, 3, 1 + k % 2
        A = rng.choice([-1.0, 1.0], size=(q, m))
        fun, dim, _ = _b5_problem(n, d, m, A, (1e-6, 1e3))
        starts = [np.concatenate([rng.standard_normal(dim - 1), [np.log(rng.choice([1e-2, 1.0, 3.0]))]])]
        val, _ = _maximize(fun, starts, evals=300)
        adv = max(adv, float(np.exp(val)))
        ctx.advance(0.25 + 0.35 * (k + 1) / restarts)
    # finite η: BFGS from random starts, then Nelder–Mead from the best point found
    adv_finite, best = 0.0, (-np.inf, None, None)
    restarts_f = max(3, ctx.trials(3))   # a floor: the three shapes below
    for k in range(restarts_f):
        n, d, m, q = ((2, 2, 3, 1), (2, 2, 4, 2), (3, 2, 3, 1))[k % 3]
        A = rng.choice([-1.0, 1.0], size=(q, m))
        A[:, 0] = -A[:, 1]
        fun, dim, unpack = _b5_problem(n, d, m, A, B5_FINITE_ETA)
        v0 = np.concatenate([rng.standard_normal(dim - 1), [rng.uniform(np.log(0.2), np.log(5.0))]])
        val, xb = _maximize(fun, [v0], evals=250)
        if val > best[0]:
            best = (val, fun, xb, unpack)
        adv_finite = max(adv_finite, float(np.exp(val)))
        ctx.advance(0.6 + 0.3 * (k + 1) / restarts_f)
    finite_case = {}
    if best[2] is not None:
        val, xb = _nelder_mead(best[1], [best[2]], evals=400)
        adv_finite = max(adv_finite, float(np.exp(val)))
        xb = best[2] if xb is None or val < best[0] else xb
        p, X, Y, c = best[3](xb)
        ev = np.linalg.eigvalsh(nk.empirical_ntk(p, X, kappa=float(p.m)))
        e = nk.residual(p, X, Y, float(p.m)).reshape(-1)
        g = np.linalg.norm(nk.gradient(p, X, Y, float(p.m)))
        # how the worst finite-η case attains its ratio: H (nearly) singular with e (nearly) in its kernel,
        # so e⁺ ≈ e while ‖I − ηmH‖₂ ≥ 1 — the bound is then tight at any η
        finite_case = {"eta_m_lambda_max": c, "lambda_min_over_lambda_max_H": float(ev[0] / max(ev[-1], 1e-300)),
                       "grad_norm_over_sqrt_m_lambda_max_e_norm":
                           float(g / max(np.sqrt(p.m * max(ev[-1], 0.0)) * np.linalg.norm(e), 1e-300))}
    ctx.advance(1.0)
    ratio = max(rnd, adv, adv_finite)
    claims = [Claim(f"‖e⁺‖₂ / (‖I − ηmH‖₂‖e‖₂ + ½η²β√(nd')‖∇L‖² + float64 allowance), η over 8 decades, worst of "
                    f"{trials} random cases and {restarts} adversarial searches", max(rnd, adv), "≤", 1.0),
              Claim(f"the same ratio at finite η (ηmλ_max(H) ∈ [{B5_FINITE_ETA[0]:g}, {B5_FINITE_ETA[1]:g}]), worst "
                    f"of the random cases there and {restarts_f} adversarial searches",
                    max(rnd_finite, adv_finite), "≤", 1.0),
              Claim("random cases whose ratio is not finite", nonfinite, "=", 0)]
    return Outcome(holds=ratio <= 1 and nonfinite == 0, trials=trials + restarts + restarts_f, worst_ratio=ratio,
                   claims=claims,
                   sizes={"n": "1–5", "d": "1–4", "d_out": "1–3", "m": "1–20", "eta·m·λ_max(H)": "1e-6–1e2",
                          "finite_eta": f"{B5_FINITE_ETA[0]:g}–{B5_FINITE_ETA[1]:g}"},
                   details={"random_worst": rnd, "adversarial_worst": adv, "random_nonfinite": nonfinite,
                            "random_worst_finite_eta": rnd_finite, "adversarial_worst_finite_eta": adv_finite,
                            "worst_finite_eta": max(rnd_finite, adv_finite), "worst_finite_eta_case": finite_case,
                            "meaning": "‖e⁺‖₂ / (rhs + float64 allowance); the ratio tends to 1 as η → 0 (first order "
                                       "exact), so values near 1 are expected there; the *_finite_eta entries are the "
                                       "worst at ηmλ_max(H) ∈ [0.1, 10], where the bound's slack is real"})


# ------------------------------------------------------------------------------------------ B6
def _b6_row_ratios(p, X, Y, kappa):
    G = nk.gradient(p, X, Y, kappa)
    rows = np.linalg.norm(G, axis=0)
    l1, l2 = B.gradient_row_bounds(p, X, Y, kappa)
    with np.errstate(divide="ignore", invalid="ignore"):
        r1 = np.where(l1 > 0, rows / l1, 0.0)
        r2 = np.where(l2 > 0, rows / l2, 0.0)
    return float(r1.max()), float(r2.max())


def _b6_run(rng, steps: int):
    """A GD run; the worst movement/bound over t among the times where the hypothesis holds for some p > 0."""
    p, X, kappa = _case(rng, n_max=4, m_max=16, sigma_range=(0.1, 2.0))
    Y = nk.labels(X.shape[0], p.d_out, seed=int(rng.integers(2**31 - 1)))
    eta = 0.5 * _eta_scale(p, X, kappa)
    W0, q = p.W.copy(), p
    e0 = float(np.linalg.norm(nk.residual(p, X, Y, kappa)))
    softmax = get_activation("softmax")
    worst, S_bar, p_min, used = 0.0, 0.0, 1.0, 0
    for t in range(1, steps + 1):
        S_bar = max(S_bar, float(np.max(softmax.features(X @ q.W)[0])))   # S̄ over W(0..t−1)
        q = q.with_W(q.W - eta * nk.gradient(q, X, Y, kappa))               # q = W(t)
        # p_min: the largest p with ‖e(s)‖ ≤ (1 − p)^s‖e(0)‖ for 1 ≤ s < t (p ≤ 1; s = 0 is trivial)
        move = float(np.max(np.linalg.norm(q.W - W0, axis=0)))
        if p_min > 0 and e0 > 0:
            bound = B.weight_movement_bound(eta, kappa, S_bar, X.shape[0], p.d_out, e0, p_min)
            worst, used = max(worst, move / bound), used + 1
        es = float(np.linalg.norm(nk.residual(q, X, Y, kappa)))
        p_min = min(p_min, 1.0 - (es / e0) ** (1.0 / t)) if e0 > 0 else 0.0
    return worst, used


@register("B6", short="‖∇_{w_r}L‖ ≤ 2κ max_i S_ir √(nd')‖e‖; movement ≤ 2ηκS̄√(nd')‖e(0)‖/p", id="weight-movement",
          proof="weight_movement",
          what="per-neuron gradient norms against both B6 bounds (random + adversarial) and the movement bound along GD")
def check_b6(ctx) -> Outcome:
    rng = ctx.rng
    trials = ctx.trials(100)
    rnd = {"l1": 0.0, "l2": 0.0}
    for t in range(trials):
        p, X, kappa = _case(rng, m_max=30, sigma_range=(0.05, 6.0))
        Y = nk.labels(X.shape[0], p.d_out, seed=int(rng.integers(2**31 - 1)), scale=float(rng.choice([0.1, 1.0, 10.0])))
        r1, r2 = _b6_row_ratios(p, X, Y, kappa)
        rnd["l1"], rnd["l2"] = max(rnd["l1"], r1), max(rnd["l2"], r2)
    ctx.advance(0.25)
    adv = {"l1": 0.0, "l2": 0.0}
    restarts = ctx.trials(3)
    for k in range(2 * restarts):
        which = ("l1", "l2")[k % 2]
        n, d, m, q = 1 + k % 2, 2, 3, 1 + (k // 2) % 2
        A = rng.choice([-1.0, 1.0], size=(q, m))
        sizes = (d * m, n * d, n * q)

        def unpack(v):
            W = 4.0 * np.tanh(v[: sizes[0]].reshape(d, m))
            X = _ball_map(v[sizes[0]: sizes[0] + sizes[1]].reshape(n, d), 1.0, axis=1)
            Y = 10.0 * np.tanh(v[sizes[0] + sizes[1]:].reshape(n, q))
            return nk.params_from(W, A), X, Y

        def fun(v):
            r1, r2 = _b6_row_ratios(*unpack(v), float(m))
            return float(np.log(max(r1 if which == "l1" else r2, 1e-300)))

        val, _ = _maximize(fun, [rng.standard_normal(sum(sizes))], evals=500)
        adv[which] = max(adv[which], float(np.exp(val)))
        ctx.advance(0.25 + 0.45 * (k + 1) / (2 * restarts))
    runs = ctx.trials(6)
    movement, used = 0.0, 0
    for k in range(runs):
        w, u = _b6_run(rng, steps=60)
        movement, used = max(movement, w), used + u
        ctx.advance(0.7 + 0.3 * (k + 1) / runs)
    worst_rnd, worst_adv = max(rnd.values()), max(adv.values())
    ratio = max(worst_rnd, worst_adv, movement)
    what = f"worst of {trials} random cases and {restarts} adversarial searches"
    claims = [Claim(f"‖∇_{{w_r}}L‖₂ / (2κ max_i(S_ir‖x_i‖)‖e‖₁), {what}", max(rnd["l1"], adv["l1"]), "≤", 1.0),
              Claim(f"‖∇_{{w_r}}L‖₂ / (2κ max_i S_ir √(nd')‖e‖₂), {what}", max(rnd["l2"], adv["l2"]), "≤", 1.0),
              Claim(f"max_r‖w_r(t) − w_r(0)‖ / (2ηκS̄√(nd')‖e(0)‖/p) along {runs} GD runs ({used} steps)",
                    movement, "≤", 1.0)]
    return Outcome(holds=ratio <= 1, trials=trials + 2 * restarts + runs, worst_ratio=ratio, claims=claims,
                   sizes={"n": "1–5", "d": "1–4", "d_out": "1–3", "m": "1–30", "gd_runs": runs, "gd_steps": 60},
                   details={"random_worst": rnd, "adversarial_worst": adv, "movement_worst": movement,
                            "movement_checks": used,
                            "meaning": "‖∇_{w_r}L‖₂ / (2κ max_i(S_ir‖x_i‖)‖e‖₁) and / (2κ max_i S_ir √(nd')‖e‖₂) "
                                       "(tight as S_ir → 0 with one residual entry: the adversary approaches 1); the "
                                       "movement max_r‖w_r(t) − w_r(0)‖ / (2ηκS̄√(nd')‖e(0)‖/p) along GD, p the largest "
                                       "rate with ‖e(s)‖ ≤ (1−p)^s‖e(0)‖ for s < t"})


# ------------------------------------------------------------------------------------------ B7
B7_DECAY_DELTA = 0.1   # the δ in the heavy-tail threshold m_th = N_ev e^{4σ²}/δ of the decay part
B7_SLOPE_TOL = 0.15    # σ = 0.5, above m_th: the slope's 95% interval contains −1/2, or |slope + 1/2| ≤ 0.15
B7_COVERAGE = (  # (n, d, d_out, σ, δ, data, widths)
    (3, 3, 2, 0.5, 0.1, "sphere", (2000, 20000)),
    (4, 2, 1, 0.25, 0.2, "ball", (500, 5000)),
)


def _b7_deterministic_ratio(params, X, sigma) -> float:
    """The deterministic part of B7 alone: with the radii set to the deviations this draw actually has
    (so the event holds by construction), max |H − H*| / N entrywise must be ≤ 1.  κ = m."""
    m, q = params.m, params.d_out
    nu = np.einsum("ij,ij->i", X, X)
    U = np.exp(X @ params.W - 0.5 * sigma**2 * nu[:, None])        # u_{i,r}/μ_i
    a = params.A
    A_ = U.mean(axis=1)
    tau = np.abs(A_ - 1.0)
    if np.any(tau >= 1):
        return float("nan")
    D = U @ a.T / m                                                  # (n, q)
    Bm = U @ U.T / m
    C = np.einsum("ir,lr,jr->lij", U, a, U) / m                      # (q, n, n)
    BB = np.einsum("ir,lr,kr,jr->lkij", U, a, a, U) / m              # (q, q, n, n)
    off = ~np.eye(q, dtype=bool)
    tau_C = np.max(np.abs(C), axis=0)
    if q > 1:
        tau_C = np.maximum(tau_C, np.max(np.abs(BB[off]), axis=0))
    G = X @ X.T
    b = np.exp(sigma**2 * G)
    tau_B = np.abs(Bm - b)
    gam = np.minimum(1.0, np.max(np.abs(D), axis=1) / (1 - tau))
    args = (G, b, tau[:, None], tau[None, :], tau_B, tau_C, gam[:, None], gam[None, :])
    same = compiled("ntk_concentration", "entry_same_tau", "numpy")(*args)
    cross = compiled("ntk_concentration", "entry_cross_tau", "numpy")(*args)
    eye = np.eye(q)
    N = np.kron(same, eye) + np.kron(cross, np.ones((q, q)) - eye)
    H, Hs = nk.empirical_ntk(params, X), nk.limit_ntk(X, sigma=sigma, d_out=q)
    err = np.abs(H - Hs)
    # with the radii at the observed deviations several steps are equalities (A_i = 1 − τ_i, |c| = γ, …) and the
    # slack can be as small as 2bτ_iτ_j: allow the float64 rounding of the m-term sums in H, B, C, D and of H*
    N = N + 64 * EPS * (m + 10) * (np.abs(H) + np.abs(Hs) + N)
    # entries with N = 0 have g_ij = 0, where H and H* vanish exactly
    return float(np.max(np.where(N > 0, err / np.where(N > 0, N, 1.0), np.where(err > 0, np.inf, 0.0))))


def _b7_coverage(ctx, draws: int) -> tuple[list, float]:
    """B7 step 1, coverage: for each configuration of B7_COVERAGE and each of its widths, ``draws`` inits,
    the number of them with ‖H(W(0)) − H*‖₂ > ε(m, δ, σ, X) and its Clopper–Pearson upper bound; on the first
    fifth of the inits also the deterministic part (:func:`_b7_deterministic_ratio`).

    Parameters: ``ctx`` (its rng draws the data and the inits), ``draws`` per width.  Returns ``(rows, det)``:
    one dict per (configuration, width) and the worst deterministic-part ratio seen."""
    rows, det = [], 0.0
    for c, (n, d, q, sigma, delta, kind, widths) in enumerate(B7_COVERAGE):
        seed = ctx.seed_from_rng()
        X = nk.sphere(n, d, seed=seed) if kind == "sphere" else nk.ball(n, d, seed=seed)
        Hs = nk.limit_ntk(X, sigma=sigma, d_out=q)
        for m in widths:
            eps = B.ntk_concentration_eps(m, delta, sigma, X, q)
            err = []
            for k in range(draws):
                p = nk.init_params(d, m, q, sigma, seed=ctx.seed_from_rng())
                err.append(np.linalg.norm(nk.empirical_ntk(p, X) - Hs, 2))
                if k < draws // 5:   # the deterministic part, at the observed deviations
                    det = np.nanmax([det, _b7_deterministic_ratio(p, X, sigma)])
            err = np.array(err)
            k = int(np.sum(err > eps))
            rows.append({"n": n, "d": d, "d_out": q, "sigma": sigma, "delta": delta, "data": kind, "m": m,
                         "eps": eps, "norm_Hstar": float(np.linalg.norm(Hs, 2)), "mean_error": float(err.mean()),
                         "max_error": float(err.max()), "quantile_1_minus_delta": float(np.quantile(err, 1 - delta)),
                         "violations": k, "draws": draws, "violation_upper": binomial_upper(k, draws, CONFIDENCE)})
        ctx.advance(0.5 * (c + 1) / len(B7_COVERAGE))
    return rows, float(det)


def _b7_deterministic_part(ctx, trials: int) -> float:
    """B7 step 2, the deterministic part where deviations are large: ``trials`` random cases with small m
    (20–400), σ in [0.1, 1.5] and data in the ball.  Returns the worst ratio max |H − H*| / N."""
    rng, det = ctx.rng, 0.0
    for _ in range(trials):
        n, d, q = int(rng.integers(1, 5)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
        sigma = float(rng.uniform(0.1, 1.5))
        X = _data(rng, n, d)
        p = nk.init_params(d, int(rng.integers(20, 400)), q, sigma, seed=ctx.seed_from_rng())
        det = np.nanmax([det, _b7_deterministic_ratio(p, X, sigma)])
    return float(det)


def _b7_decay(ctx, seeds: int) -> tuple[dict, float]:
    """B7 step 3, decay: the mean ‖H(W(0)) − H*‖₂ over ``seeds`` inits per width at σ = 0.5 (m = 2^7…2^15) and
    σ = 2 (m = 2^6…2^13) on 4 sphere points in R³ (d' = 2), its log-log slope over all widths and, with every
    draw, over the widths at or above the heavy-tail threshold m_th = N_ev e^{4σ²}/δ.

    Relative to ‖H*‖ (H*_ii = e^{σ²} on the sphere) B7's radius of C_ii, √(N_ev e^{6σ²}/(mδ)), is below 1
    only for m ≳ m_th (Chebyshev, so up to a factor; the B7 chapter).  Returns ``(decay, n_ev)``: per σ a dict
    keyed ``sigma_<σ>`` and N_ev."""
    decay = {}
    nd, qd = 4, 2
    X = nk.sphere(nd, 3, seed=ctx.seed_from_rng())
    n_ev = float(compiled("ntk_concentration", "n_events", "numpy")(nd, qd))
    for j, (sigma, widths) in enumerate(((0.5, [2**k for k in range(7, 16)]), (2.0, [2**k for k in range(6, 14)]))):
        Hs = nk.limit_ntk(X, sigma=sigma, d_out=qd)
        nH = float(np.linalg.norm(Hs, 2))
        m_th = n_ev * np.exp(4 * sigma**2) / B7_DECAY_DELTA
        errs = nk.init_ntk_errors(X, Hs, widths, seeds, lambda k, s: ctx.seed_from_rng(), sigma, qd)
        means = [float(np.mean(e)) for e in errs]
        above = [k for k, m in enumerate(widths) if m >= m_th]
        fit = loglog_slope(widths, means)
        # the fit above the threshold uses every draw (widths repeated), so its interval reflects the spread
        fit_above = loglog_slope(np.repeat([widths[k] for k in above], seeds),
                                 np.concatenate([errs[k] for k in above])) if len(above) >= 3 else None
        decay[f"sigma_{sigma:g}"] = {"m": widths, "mean_error": means, "relative_error": [x / nH for x in means],
                                     "threshold_m": float(m_th), "widths_above_threshold": [widths[k] for k in above],
                                     "slope_all": fit["slope"], "slope_all_ci": fit["ci"],
                                     "slope_above_threshold": None if fit_above is None else fit_above["slope"],
                                     "slope_above_threshold_ci": None if fit_above is None else fit_above["ci"],
                                     "eps_at_largest_m": B.ntk_concentration_eps(widths[-1], 0.1, sigma, X, qd)}
        ctx.advance(0.5 + 0.5 * (j + 1) / 2)
    return decay, n_ev


def _b7_verdict(rows: list, det: float, decay: dict) -> dict:
    """B7 step 4, the verdict's parts from the coverage rows, the deterministic part and the decay: every
    Clopper–Pearson upper bound ≤ δ (an infinite ε fails) and det ≤ 1; at σ = 0.5 a fit on ≥ 3 widths above
    m_th whose interval is below 0 and contains −1/2 (or |slope + 1/2| ≤ B7_SLOPE_TOL); at σ = 2 no width
    above m_th, slope > −0.25 and relative error > 0.3 at every width.  Returns {part: bool}."""
    covered = all(bool(r["violation_upper"] <= r["delta"]) if np.isfinite(r["eps"]) else False for r in rows)
    s05, s2 = decay["sigma_0.5"], decay["sigma_2"]
    fa, ci = s05["slope_above_threshold"], s05["slope_above_threshold_ci"]
    return {
        "coverage_and_deterministic_part": bool(covered and det <= 1),
        # σ = 0.5: fitted on the widths ≥ m_th (≥ 3 of them), decaying, and at the rate m^{−1/2}
        "sigma_0.5_decays_above_threshold": bool(fa is not None and ci[1] < 0),
        "sigma_0.5_slope_minus_half": bool(fa is not None and (ci[0] <= -0.5 <= ci[1]
                                                              or abs(fa + 0.5) <= B7_SLOPE_TOL)),
        # σ = 2: every width is below m_th, and the error has not entered the decay regime there
        "sigma_2_below_threshold_not_decaying": bool(not s2["widths_above_threshold"] and s2["slope_all"] > -0.25
                                                     and min(s2["relative_error"]) > 0.3),
    }


def _b7_claims(rows: list, det: float, decay: dict, draws: int) -> list:
    """B7's claims, one per part of :func:`_b7_verdict` (the σ = 0.5 slope and the σ = 2 regime in two and three)."""
    s05, s2 = decay["sigma_0.5"], decay["sigma_2"]
    fa, ci = s05["slope_above_threshold"], s05["slope_above_threshold_ci"]
    upper_over_delta = max((r["violation_upper"] / r["delta"]) if np.isfinite(r["eps"]) else np.inf for r in rows)
    contains = fa is not None and ci[0] <= -0.5 <= ci[1]
    return [
        Claim(f"Clopper–Pearson {CONFIDENCE:.0%} upper bound of P(‖H(W(0)) − H*‖₂ > ε) / δ, worst of {len(rows)} "
              f"(configuration, width) pairs × {draws} inits", float(upper_over_delta), "≤", 1.0),
        Claim("deterministic part: max |H − H*| / N with the radii at the observed deviations", float(det), "≤", 1.0),
        Claim(f"upper end of the 95% interval of the slope fitted above m_th = {s05['threshold_m']:.3g} at σ = 0.5",
              np.nan if fa is None else ci[1], "<", 0.0),
        Claim("|that slope + 1/2| (counted as 0 when its interval "
              + ("contains −1/2)" if fa is None else f"[{ci[0]:.3f}, {ci[1]:.3f}] contains −1/2)"),
              np.nan if fa is None else (0.0 if contains else abs(fa + 0.5)), "≤", B7_SLOPE_TOL),
        Claim(f"widths at or above m_th = {s2['threshold_m']:.3g} at σ = 2", len(s2["widths_above_threshold"]), "=", 0),
        Claim("fitted slope of the mean error at σ = 2 (below m_th: no decay yet)", s2["slope_all"], ">", -0.25),
        Claim("smallest relative error ‖H(W(0)) − H*‖₂/‖H*‖₂ at σ = 2", min(s2["relative_error"]), ">", 0.3)]


@register("B7", short="P(‖H(W(0)) − H*‖₂ ≤ ε(m,δ,σ,X)) ≥ 1 − δ", id="ntk-concentration", proof="ntk_concentration",
          what="coverage of ε over many inits (binomial bound) and the deterministic part; the mean error's m^{−1/2} "
               "slope at σ = 0.5 fitted above the heavy-tail threshold m ≳ N_ev e^{4σ²}/δ; no decay yet at σ = 2, "
               "below it")
def check_b7(ctx) -> Outcome:
    draws = max(ctx.trials(150), 40)   # a floor: 0 violations in N draws certify ≤ δ = 0.1 only for N ≥ 29
    rows, det_cov = _b7_coverage(ctx, draws)
    det_trials = ctx.trials(60)
    det = float(np.nanmax([det_cov, _b7_deterministic_part(ctx, det_trials)]))
    seeds = max(24, ctx.trials(24))   # a floor: the slope above m_th is fitted on 5 widths × seeds draws
    decay, n_ev = _b7_decay(ctx, seeds)
    verdict = _b7_verdict(rows, det, decay)
    claims = _b7_claims(rows, det, decay, draws)
    s05, s2 = decay["sigma_0.5"], decay["sigma_2"]
    fa, ci = s05["slope_above_threshold"], s05["slope_above_threshold_ci"]
    worst = max(r["quantile_1_minus_delta"] / r["eps"] for r in rows)
    return Outcome(holds=bool(all(verdict.values())), trials=sum(r["draws"] for r in rows) + det_trials + seeds * 17,
                   claims=claims, worst_ratio=max(worst, det),
                   sizes={"coverage_configs": len(B7_COVERAGE), "draws_per_width": draws, "decay_seeds": seeds,
                          "deterministic_part_trials": det_trials},
                   details={"coverage": rows, "worst_quantile_over_eps": worst,
                            "deterministic_part_worst": float(det), "decay": decay, "verdict": verdict,
                            "n_events": n_ev, "decay_delta": B7_DECAY_DELTA, "slope_tolerance": B7_SLOPE_TOL,
                            "slope_sigma_0.5_above_threshold": fa, "slope_sigma_0.5_above_threshold_ci": ci,
                            "slope_sigma_2": s2["slope_all"],
                            "slope_sigma_0.5": s05["slope_all"], "slope_sigma_0.5_ci": s05["slope_all_ci"],
                            "decay_started_sigma_0.5": verdict["sigma_0.5_decays_above_threshold"]
                            and verdict["sigma_0.5_slope_minus_half"],
                            "sigma_2_not_decaying": verdict["sigma_2_below_threshold_not_decaying"],
                            "meaning": "worst_ratio = max((1−δ)-quantile of ‖H(W(0)) − H*‖₂ over the draws / ε, the "
                                       "deterministic part's max |H − H*|/N with the radii at the observed deviations); "
                                       "holds iff every entry of verdict is true: every Clopper–Pearson upper bound on "
                                       "the violation frequency is ≤ δ and the deterministic part holds; at σ = 0.5 the "
                                       "mean error, fitted on the widths above m_th = N_ev e^{4σ²}/δ, decays with slope "
                                       "−1/2 (interval or ±0.15); at σ = 2 (m_th ≈ 5·10⁹) it has not started to decay "
                                       "(slope > −0.25, relative error > 0.3).  ε is loose (Chebyshev + union bound over "
                                       "N_ev means) but valid"})
