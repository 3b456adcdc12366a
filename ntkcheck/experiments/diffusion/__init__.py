"""Application (the book's D1–D6 part): learning a diffusion model's score with the softmax network.

One module per lemma (d1_forward, d2_gmm, d3_dsm, d4_lift, d5_tracking, d6_generalization), the learners
(learners) and the experiment (experiment); every public name is also here.  The figures are drawn by
:mod:`ntkcheck.plots.diffusion`.  The pieces, in the order of the book:

* D1 the forward (Ornstein–Uhlenbeck) process: :func:`mean_scale` a_t, :func:`noise_var` s_t², and
  :func:`forward_sample` X_t = a_t X_0 + s_t ξ;
* D2 the exact score of a Gaussian mixture at time t, :func:`gmm_score` (log-sum-exp, compiled from
  proofs/gmm_score.py), :func:`gmm_log_density`, and the mpmath twin :func:`gmm_score_mp`;
* D3 the noisy-label data set of denoising score matching, :func:`denoising_data` (x = X_t, y = −ξ/s_t);
* D4 the lift to the sphere, :func:`lift` / :func:`unlift`, with ρ from :func:`choose_rho` and the
  truncated mass P(‖X_t‖ > ρ) (:func:`truncated_mass`: exact, from the noncentral chi-square law);
* D5 the linearized predictor f_lin(x; k) (:class:`LinearizedPredictor`, with H* or H(W(0))) and the
  tracking distance ‖f_NN − f_lin‖ (:func:`tracking`), with the part of f_lin(H(W(0))) − f_lin(H*)
  common to independent inits (:func:`common_fraction`);
* D6 the early-stopped network (:func:`fit_network`), kernel regression with H* (:func:`fit_kernel`), the
  trivial predictor, their score errors with confidence intervals (:func:`score_error`), the experiment
  (:func:`run`, ``ntkcheck diffusion``), the two-dimensional pictures (:func:`pictures`,
  :func:`flow_samples`) and :func:`quick_demo` for a notebook cell.

Design choices, stated once:

* Inputs are lifted to S^d (d + 1 coordinates) with ρ such that P(‖X_t‖ > ρ) = δ (exactly, by default);
  the network is ``init_params(d + 1, m, d_out=d, sigma, scheme="symmetric")`` with κ = m, so f(·; 0) = 0.
  Points with ‖x‖ > ρ (mass δ) are clipped radially onto the sphere of radius ρ before lifting, in
  training and in evaluation; the score error is measured on all fresh points, clipped ones included.
* η = 1/(m·max(λ_max(H*), λ_max(H(W(0))))) (hypothesis (iii)'s form without the λ/2, safe for the network
  and for both linearized predictors); GD runs on the training
  set with :class:`ntkcheck.core.training.Trainer` and the held-out denoising loss is recorded every
  ``record_every`` steps; the returned network is the one at the recorded step with the least held-out
  loss (early stopping, D3: that loss is the score error plus a constant).  Training stops once the best
  step is less than half of the steps run (no improvement over the second half) or at ``steps``.
* Kernel regression with H* is f_lin(·; k) (D5, H* = K ⊗ I, which acts on each output coordinate) with k
  chosen on the same held-out set from a geometric grid up to ``kernel_k_max`` — the infinite-width limit
  of the network's GD, early-stopped the same way.
* The trivial predictor is the best constant fitted on the training labels (their mean); its error is
  ‖ȳ‖² + J (D6), J = E‖∇log p_t‖².
* Pictures: one network per time on a geometric grid of times (no time conditioning), and the
  probability-flow ODE dx/dt = −x − ∇log p_t(x) integrated from t_max down to t_min by Heun's method on
  that grid, so the learned score is only evaluated at times it was trained at.
"""

from __future__ import annotations

from ntkcheck.experiments.diffusion.d1_forward import as_time, forward_sample, mean_scale, noise_var
from ntkcheck.experiments.diffusion.d2_gmm import (FAR_LOGIT, Mixture, as_points, default_mixture, gmm_log_density,
                                                   gmm_score, gmm_score_mp, gmm_score_naive, logits, mixture)
from ntkcheck.experiments.diffusion.d3_dsm import DenoisingData, denoising_data
from ntkcheck.experiments.diffusion.d4_lift import (RhoChoice, as_delta, choose_rho, concentration_radius, lift,
                                                    truncated_mass, truncated_mass_mc, unlift)
from ntkcheck.experiments.diffusion.learners import (KernelFit, LinearizedPredictor, NetworkFit, fit_kernel,
                                                     fit_network, gd_filter, kernel_c, ntk_lambda_max,
                                                     one_blas_thread, step_factor)
from ntkcheck.experiments.diffusion.d5_tracking import common_fraction, tracking
from ntkcheck.experiments.diffusion.d6_generalization import (energy_distance, flow_samples, mode_fractions,
                                                              score_error, time_grid, train_over_time)
from ntkcheck.experiments.diffusion.result import DiffusionResult
from ntkcheck.experiments.diffusion.experiment import DEMO, FULL, QUICK, Config, pictures, quick_demo, run, validate

__all__ = [
    "Config", "DEMO", "DiffusionResult", "DenoisingData", "FAR_LOGIT", "FULL", "KernelFit", "LinearizedPredictor",
    "Mixture", "NetworkFit", "QUICK", "RhoChoice", "as_delta", "as_points", "as_time", "choose_rho",
    "common_fraction", "concentration_radius", "default_mixture", "denoising_data", "energy_distance", "fit_kernel",
    "fit_network", "flow_samples", "forward_sample", "gd_filter", "gmm_log_density", "gmm_score", "gmm_score_mp",
    "gmm_score_naive", "kernel_c", "lift", "logits", "mean_scale", "mixture", "mode_fractions", "noise_var",
    "ntk_lambda_max", "one_blas_thread", "pictures", "quick_demo", "run", "score_error", "step_factor", "time_grid",
    "tracking", "train_over_time", "truncated_mass", "truncated_mass_mc", "unlift", "validate",
]
