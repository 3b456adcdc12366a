"""Numeric check of the convergence theorem T1 / T1' and of the initial output size (MATH.md §4)."""
from __future__ import annotations

import math

import numpy as np

import ntkcheck as nk
from ntkcheck.checks import Outcome, register
from ntkcheck.theorem import choose_eta_R0, conclusion_ratios, evaluate_hypotheses, initial_output_size
from ntkcheck.training import train

# The instance: fixed data on which T1' holds from m ≈ 3·10⁴ and T1 from m ≈ 6·10⁴ (λ = λ_min(K) = 0.74),
# run at m = 2^17 so that both hold on every draw; the initialization is drawn from the check's seed.
T1_SIZES = {"n": 4, "d": 8, "d_out": 1, "sigma": 0.5, "m": 2**17, "data_seed": 0}
T1_SMALL_M = 2**10          # a width at which (iv) fails: the check names the failing hypotheses there
T1_MAX_STEPS = 200
T1_FLOOR = 1e-3             # run while the bound (1 − p)^t stays above 10⁻³ of ‖e(0)‖ (far above rounding)
OUT_WIDTHS = [2**k for k in range(8, 15)]
OUT_N, OUT_SIGMA = 16, 0.5
OUT_SLOPE_TOL = 0.1         # |fitted slope − 1/2| for the iid init, as in G5


@register("T1", id="linear-convergence", proof="linear_convergence",
          short="(i)–(iv) ⇒ ‖e(t)‖ ≤ (1−ηmλ/4)^t‖e(0)‖, λ_min(H(t)) ≥ λ/2, max_r‖w_r(t)−w_r(0)‖ ≤ R₀",
          what="T1 and T1' at n=4, d=8, m=2^17 (symmetric init, κ=m): hypotheses (i)–(iv) evaluated, one GD "
               "run, every conclusion of both checked at every step; the failing hypotheses named at m=2^10; "
               "‖F(W(0))‖ vs m: slope ≈ 1/2 (iid), 0 up to rounding (symmetric)")
def check_t1(ctx) -> Outcome:
    s = T1_SIZES
    X = nk.sphere(s["n"], s["d"], seed=s["data_seed"])
    Y = nk.labels(s["n"], s["d_out"], seed=s["data_seed"] + 1)
    params = nk.init_params(s["d"], s["m"], s["d_out"], sigma=s["sigma"], scheme="symmetric", seed=ctx.seed_from_rng())
    # one GD run serves both theorems: the smaller of their largest η satisfies both (iii) ((iv) is free of η)
    chosen = {v: choose_eta_R0(X, Y, params, variant=v) for v in ("T1'", "T1")}
    eta = min(e for e, _ in chosen.values())
    reports = {v: evaluate_hypotheses(X, Y, params, eta, R0, variant=v) for v, (_, R0) in chosen.items()}
    holds = all(r.holds for r in reports.values())   # the instance was chosen so that they hold
    p = min(r.p for r in reports.values())
    steps = max(1, min(T1_MAX_STEPS, int(math.log(T1_FLOOR) / math.log1p(-p))))
    hist = train(params, X, Y, eta, steps, record_every=1, lam_every=1, progress=lambda f: ctx.advance(0.8 * f))
    details, worst = {}, 0.0
    for v, rep in reports.items():
        res = conclusion_ratios(hist, rep)
        worst = max(worst, *res["worst_ratio"].values())
        holds &= res["holds"]
        details[v] = {"hypotheses_hold": rep.holds, "failing": rep.failing, "lambda": rep.lam, "p": rep.p,
                      "R0": rep.R0, "hypotheses": {h.name: {"lhs": h.lhs, "rhs": h.rhs, "holds": h.holds}
                                                   for h in rep.hypotheses}} | res
    details["run"] = {"eta": eta, "steps": steps, "e0_norm": reports["T1"].e0_norm,
                      "initial_loss": float(hist.loss[0]), "final_loss": float(hist.loss[-1]),
                      "max_sum_drift": float(np.max(hist.sum_drift))}
    small = nk.init_params(s["d"], T1_SMALL_M, s["d_out"], sigma=s["sigma"], scheme="symmetric",
                           seed=ctx.seed_from_rng())
    neg = evaluate_hypotheses(X, Y, small, *choose_eta_R0(X, Y, small, variant="T1'"), variant="T1'")
    details[f"T1' at m = {T1_SMALL_M}"] = {"hypotheses_hold": neg.holds, "failing": neg.failing}

    Xo = nk.sphere(OUT_N, s["d"], seed=ctx.seed_from_rng())
    out = initial_output_size(Xo, OUT_WIDTHS, sigma=OUT_SIGMA, seeds=ctx.trials(32), seed=ctx.seed_from_rng())
    slope = out["iid"]["fit"]["slope"]
    holds &= abs(slope - 0.5) <= OUT_SLOPE_TOL and out["symmetric"]["zero_up_to_rounding"]
    ctx.advance(1.0)
    details["initial_output_size"] = {
        "m": OUT_WIDTHS, "n": OUT_N, "sigma": OUT_SIGMA,
        "iid_mean_norm": out["iid"]["mean_norm"], "iid_slope": slope, "iid_slope_ci": out["iid"]["fit"]["ci"],
        "iid_slope_tolerance": OUT_SLOPE_TOL,
        "symmetric_max_abs_output": out["symmetric"]["max_abs_output"],
        "symmetric_rounding_bound": out["symmetric"]["rounding_bound"]}
    details["meaning"] = ("worst_ratio = max over T1, T1' and every step of movement/R₀, (λ/2)/λ_min(H(W(t))) "
                          "and ‖e(t)‖/((1 − p)^t‖e(0)‖); the check holds iff the hypotheses hold on the instance, "
                          "every ratio is ≤ 1, the iid output slope is within 0.1 of 1/2 and the symmetric output "
                          "is 0 up to its rounding bound")
    return Outcome(holds=bool(holds), trials=steps, worst_ratio=worst,
                   sizes=s | {"scheme": "symmetric", "kappa": "m", "steps_max": T1_MAX_STEPS,
                              "output_size_widths": f"2^8–2^14, n = {OUT_N}"},
                   details=details)
