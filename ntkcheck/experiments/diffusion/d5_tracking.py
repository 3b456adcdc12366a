"""D5, tracking (the book's D5 chapter): the distance between the trained network and the linearized
predictor against the width m."""
from __future__ import annotations

import numpy as np

from ntkcheck.core.network import forward, init_params
from ntkcheck.experiments.diffusion.d1_forward import as_time
from ntkcheck.experiments.diffusion.d2_gmm import Mixture
from ntkcheck.experiments.diffusion.d3_dsm import denoising_data
from ntkcheck.experiments.diffusion.d4_lift import choose_rho, lift
from ntkcheck.experiments.diffusion.learners import TRACKING, LinearizedPredictor, one_blas_thread, step_factor
from ntkcheck.seeds import derived_seed


def _rms(a: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.sum(a**2, axis=1))))


def common_fraction(paths) -> float | None:
    """The fraction of the mean square of a residual that is common to independent inits (D5).

    Parameters: ``paths``, one array per init (all of one shape), e.g. f_lin(x; k) with H(W(0)) minus
    f_lin(x; k) with H* at the recorded k and the points x.  Returns, for the flattened paths r_1 … r_S,
    (‖Σ_s r_s‖² − Σ_s ‖r_s‖²) / ((S − 1) Σ_s ‖r_s‖²) = mean_{s≠s′} ⟨r_s, r_s′⟩ / mean_s ‖r_s‖², an
    estimate of ‖E r‖² / E‖r‖² (in [−1/(S − 1), 1]); None for fewer than two inits.  With a correct H* the
    residual comes from the init's H(W(0)) − H*, of mean O(1/m) against a size O(m^{−1/2}): the fraction
    tends to 0.  A wrong H* adds one and the same path f_lin(H*) − f_lin(H*_wrong) to every init, and the
    fraction tends to 1 as m grows."""
    R = np.stack([np.ravel(p) for p in paths])
    if len(R) < 2:
        return None
    total = float(np.sum(R * R))
    if total == 0.0:
        return 0.0
    return float((np.sum(R.sum(axis=0) ** 2) - total) / ((len(R) - 1) * total))


def tracking(mix: Mixture, t, n=128, widths=(128, 512, 2048, 8192), sigma=1.5, delta=1e-2, steps=400,
             n_records=9, seeds=1, n_fresh=512, data_seed=0, common_inits=0, common_from=0,
             progress=None) -> dict:
    """‖f_NN(·; k) − f_lin(·; k)‖ against the width m (D5), with f_lin built on H* and on H(W(0)).

    One training set (n pairs at time t) for every width; for each (m, seed) the network is trained by GD
    from the symmetric init with η = c/m, c = :func:`step_factor` over every width (one c for all, so step k
    means the same time), and at ``n_records`` steps k (geometric in
    [1, steps]) the RMS distance sqrt(mean_i ‖f_NN(x_i; k) − f_lin(x_i; k)‖²) is measured on the training
    points and on ``n_fresh`` fresh points of p_t.  Reported per width: the largest distance over the
    recorded k (mean over seeds); the :func:`common_fraction` of f_lin(H(W(0))) − f_lin(H*) (the
    concentration part of the H* distance; its paths over the recorded k on the training and on the fresh
    points, keys ``common_star_train``, ``common_star_fresh``) over ``common_inits`` inits per width (key
    ``common_inits``): at the widths m ≥ ``common_from``, max(seeds, common_inits), the trained ones and
    untrained ones (no GD: H(W(0)) is all it needs), elsewhere the ``seeds`` trained ones; and fitted
    log-log slopes against m.  Every draw (the training set, the fresh points, the init of each seed, shared by the widths)
    derives from ``data_seed`` through :mod:`ntkcheck.seeds` (purposes ``diffusion.data``,
    ``diffusion.samples``, ``diffusion.init``; the untrained inits are seeds ``seeds, seeds + 1, …``)."""
    from ntkcheck.core.stats import loglog_slope
    from ntkcheck.core.training import Trainer

    t = as_time(t)
    rho = choose_rho(mix, t, delta).rho
    data = denoising_data(mix, n, t, seed=derived_seed(data_seed, "diffusion.data", TRACKING))
    fresh = mix.sample_t(n_fresh, t, derived_seed(data_seed, "diffusion.samples", TRACKING))
    U = lift(data.x, rho, clip=True)
    Uf = lift(fresh, rho, clip=True)
    inits = {(int(m), sd): init_params(U.shape[1], int(m), d_out=mix.d, sigma=sigma, scheme="symmetric",
                                       seed=derived_seed(data_seed, "diffusion.init", TRACKING, sd))
             for m in widths for sd in range(seeds)}
    c = step_factor(U, sigma, inits.values())     # one c for every width, so "step k" means the same
    star = LinearizedPredictor(data.x, data.y, rho, sigma, c, "limit")
    Bs_train, Bs_fresh = star.cross(data.x), star.cross(fresh)
    ks = np.unique(np.geomspace(1, steps, n_records).round().astype(int))
    star_paths = [np.stack([star.predict_from_cross(B, k) for k in ks]) for B in (Bs_train, Bs_fresh)]
    rows, common = [], {}
    total = len(widths) * seeds
    done = 0

    def concentration_paths(emp, B_train, B_fresh):
        """f_lin(H(W(0))) − f_lin(H*) at the recorded k, on the training and on the fresh points."""
        return [np.stack([emp.predict_from_cross(B, k) for k in ks]) - S
                for B, S in zip((B_train, B_fresh), star_paths)]

    for m in widths:
        conc = []
        for sd in range(seeds):
            p0 = inits[(int(m), sd)]
            emp = LinearizedPredictor(data.x, data.y, rho, sigma, c, "empirical", params=p0)
            Be_train, Be_fresh = emp.cross(data.x), emp.cross(fresh)
            conc.append(concentration_paths(emp, Be_train, Be_fresh))
            lam_emp = float(emp.lam[-1])
            dist = {key: [] for key in ("star_train", "star_fresh", "emp_train", "emp_fresh")}
            with one_blas_thread(), Trainer(p0, U, data.y, c / m) as tr:
                for s in range(steps + 1):
                    if s in ks:
                        cur = tr.current()
                        f_tr, f_fr = forward(cur, U), forward(cur, Uf)
                        dist["star_train"].append(_rms(f_tr - star.predict_from_cross(Bs_train, s)))
                        dist["star_fresh"].append(_rms(f_fr - star.predict_from_cross(Bs_fresh, s)))
                        dist["emp_train"].append(_rms(f_tr - emp.predict_from_cross(Be_train, s)))
                        dist["emp_fresh"].append(_rms(f_fr - emp.predict_from_cross(Be_fresh, s)))
                    if s < steps:
                        tr.step()
            rows.append({"m": int(m), "seed": sd, "steps": ks.tolist(), **{k: v for k, v in dist.items()},
                         **{f"max_{k}": float(max(v)) for k, v in dist.items()},
                         "c_lambda_max_emp": c * lam_emp,
                         "scale_f_lin": _rms(star.predict_from_cross(Bs_fresh, int(ks[-1])))})
            done += 1
            if progress is not None:
                progress(done / total)
        n_common = max(seeds, int(common_inits)) if m >= common_from else seeds
        for sd in range(seeds, n_common):         # untrained inits: H(W(0)) and f_lin only
            p0 = init_params(U.shape[1], int(m), d_out=mix.d, sigma=sigma, scheme="symmetric",
                             seed=derived_seed(data_seed, "diffusion.init", TRACKING, sd))
            emp = LinearizedPredictor(data.x, data.y, rho, sigma, c, "empirical", params=p0)
            # at the training points H(X, X) Q = Q Λ: no second kernel evaluation
            conc.append(concentration_paths(emp, emp.Q * emp.lam, emp.cross(fresh)))
        common[int(m)] = {"common_inits": n_common, **{f"common_{key}": common_fraction([p[i] for p in conc])
                                                       for i, key in enumerate(("star_train", "star_fresh"))}}
    per_m = []
    for m in widths:
        rs = [r for r in rows if r["m"] == int(m)]
        per_m.append({"m": int(m), **{f"max_{k}": float(np.mean([r[f"max_{k}"] for r in rs]))
                                      for k in ("star_train", "star_fresh", "emp_train", "emp_fresh")},
                      **common[int(m)]})
    fits = {}
    if len(widths) >= 3:
        for key in ("star_train", "star_fresh", "emp_train", "emp_fresh"):
            fits[key] = loglog_slope([r["m"] for r in rows], [r[f"max_{key}"] for r in rows])
    decreasing = {key: bool(all(a[f"max_{key}"] > b[f"max_{key}"] for a, b in zip(per_m, per_m[1:])))
                  for key in ("star_train", "star_fresh", "emp_train", "emp_fresh")}
    return {"n": n, "t": t, "sigma": sigma, "rho": rho, "c": c, "eta_times_m": c, "steps": int(steps),
            "record_steps": ks.tolist(), "widths": [int(m) for m in widths], "seeds": seeds, "n_fresh": n_fresh,
            "rows": rows, "per_m": per_m, "slopes": fits, "strictly_decreasing": decreasing}
