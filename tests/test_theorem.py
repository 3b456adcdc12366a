"""ntkcheck.core.theorem: T1/T1' hypotheses on an instance that satisfies them and one that does not (naming the
failing hypothesis), the conclusions along GD, the sides against the B-bounds they restate, the choice of
(η, R₀), λ's sign decided in mpmath, the certified width and the initial output size."""
from __future__ import annotations

import math

import numpy as np
import pytest

import ntkcheck as nk
from ntkcheck import bounds
from ntkcheck import theorem as T
from ntkcheck.core.compile import compiled

# fixed data on which T1' holds from m ≈ 3·10⁴ and T1 from m ≈ 6·10⁴ (λ = 0.74; the registered T1 check
# uses it at m = 2^17)
N, D, Q, SIGMA = 4, 8, 1, 0.5
X = nk.sphere(N, D, seed=0)
Y = nk.labels(N, Q, seed=1)


@pytest.fixture(scope="module")
def wide():
    return nk.init_params(D, 2**16, Q, sigma=SIGMA, scheme="symmetric", seed=5)


@pytest.fixture(scope="module")
def narrow():
    """Half the width T1' needs here: (iv) fails by a factor of about 2, everything else holds."""
    return nk.init_params(D, 2**14, Q, sigma=SIGMA, scheme="symmetric", seed=5)


def test_hypotheses_hold_on_a_wide_network(wide):
    eta, R0 = T.choose_eta_R0(X, Y, wide, variant="T1'")
    rep = T.evaluate_hypotheses(X, Y, wide, eta, R0, variant="T1'")
    assert rep.holds and rep.failing == []
    assert [h.name for h in rep.hypotheses] == ["(λ)", "(ii)", "(iii)", "(iv)"]
    assert rep.lam == pytest.approx(np.linalg.eigvalsh(nk.empirical_ntk(wide, X))[0])
    assert rep.e0_norm == pytest.approx(np.linalg.norm(Y), rel=1e-9)      # symmetric init: e(0) = −Y
    assert rep.p == pytest.approx(eta * wide.m * rep.lam / 4)
    # T1 has hypothesis (i) too, and λ from the limit kernel
    t1 = T.evaluate_hypotheses(X, Y, wide, *T.choose_eta_R0(X, Y, wide, variant="T1"), variant="T1")
    assert [h.name for h in t1.hypotheses] == ["(λ)", "(i)", "(ii)", "(iii)", "(iv)"]
    assert t1.lam == pytest.approx(np.linalg.eigvalsh(nk.limit_kernel(X, sigma=SIGMA))[0])
    assert t1.hypothesis("(i)").lhs == pytest.approx(np.linalg.norm(nk.empirical_ntk(wide, X) - nk.limit_ntk(
        X, sigma=SIGMA), 2))


def test_hypotheses_fail_on_a_narrow_network_and_name_the_culprit(narrow):
    rep = T.evaluate_hypotheses(X, Y, narrow, *T.choose_eta_R0(X, Y, narrow, variant="T1'"), variant="T1'")
    assert not rep.holds
    assert rep.failing == ["(iv)"]
    iv = rep.hypothesis("(iv)")
    assert 1 < iv.lhs / iv.rhs < 4


def test_each_hypothesis_can_be_made_to_fail(wide):
    eta, R0 = T.choose_eta_R0(X, Y, wide, variant="T1'")
    assert T.evaluate_hypotheses(X, Y, wide, 2 * eta, R0, variant="T1'").failing == ["(iii)"]
    # past R₀,max (ii) fails; (iii) is re-evaluated at the larger R₀ (β grows with e^{2R₀}) and fails too
    assert "(ii)" in T.evaluate_hypotheses(X, Y, wide, eta, 2 * R0, variant="T1'").failing
    # (iv) reads R₀e^{−2R₀} ≥ C: a tiny R₀ makes it fail while (ii) still holds
    small = T.evaluate_hypotheses(X, Y, wide, eta, R0 / 100, variant="T1'")
    assert "(iv)" in small.failing and small.hypothesis("(ii)").holds


def test_choice_of_eta_and_R0_is_the_extreme_one(wide):
    eta, R0 = T.choose_eta_R0(X, Y, wide, variant="T1'")
    rep = T.evaluate_hypotheses(X, Y, wide, eta, R0, variant="T1'")
    ii, iii = rep.hypothesis("(ii)"), rep.hypothesis("(iii)")
    assert ii.lhs == pytest.approx(ii.rhs, rel=1e-8)            # (ii) is tight at R₀,max
    assert iii.lhs == iii.rhs == min(iii.parts.values())         # η is the smaller cap of (iii)
    assert not T.evaluate_hypotheses(X, Y, wide, eta, R0 * 1.001, variant="T1'").hypothesis("(ii)").holds


def test_sides_agree_with_the_B_bounds_they_restate(wide):
    eta, R0 = T.choose_eta_R0(X, Y, wide, variant="T1'")
    rep = T.evaluate_hypotheses(X, Y, wide, eta, R0, variant="T1'")
    assert rep.hypothesis("(ii)").lhs == pytest.approx(bounds.ntk_perturbation_bound(R0, wide, X), rel=1e-12)
    S_bar = bounds.softmax_ratio_bound(R0) * rep.S0
    iv = bounds.weight_movement_bound(eta, wide.m, S_bar, N, Q, rep.e0_norm, rep.p)
    assert rep.hypothesis("(iv)").lhs == pytest.approx(iv, rel=1e-12)
    assert rep.beta == pytest.approx(bounds.hessian_bound(wide, X) * bounds.softmax_ratio_bound(R0), rel=1e-12)
    assert rep.Q_norm == pytest.approx(np.linalg.norm(bounds.Q_matrix(wide, X), 2), rel=1e-12)
    assert rep.H_norm == pytest.approx(np.linalg.norm(nk.empirical_ntk(wide, X), 2), rel=1e-12)


def test_conclusions_hold_along_gd(wide):
    eta, R0 = T.choose_eta_R0(X, Y, wide, variant="T1'")
    res = T.check_conclusions(X, Y, wide, eta, 40, R0, "T1'")
    assert res["hypotheses_hold"] and res["holds"]
    w = res["worst_ratio"]
    assert set(w) == {"movement", "lambda", "residual"} and max(w.values()) <= 1
    assert res["final_loss"] < 1e-3 * res["initial_loss"]
    assert res["max_sum_drift"] < 1e-10


def test_conclusion_ratios_catch_a_violation(wide):
    """A run that does not train (η → η·10⁻⁶) violates the rate: the residual ratio exceeds 1."""
    eta, R0 = T.choose_eta_R0(X, Y, wide, variant="T1'")
    rep = T.evaluate_hypotheses(X, Y, wide, eta, R0, variant="T1'")
    from ntkcheck.core.training import train

    hist = train(wide, X, Y, eta * 1e-6, 5, record_every=1, lam_every=1)
    hist.eta = eta   # pretend it ran with the report's η
    res = T.conclusion_ratios(hist, rep)
    assert not res["holds"] and res["worst_ratio"]["residual"] > 1


def test_lambda_sign_is_decided_in_mpmath():
    """the book G6: 18 unit vectors in R², σ = 0.1: float64 says λ_min(K) < 0, 100 digits say > 0."""
    Xs = nk.sphere(18, 2, seed=0)
    assert np.linalg.eigvalsh(nk.limit_kernel(Xs, sigma=0.1))[0] < 0
    p = nk.init_params(2, 16, 1, sigma=0.1, scheme="symmetric", seed=0)
    rep = T.evaluate_hypotheses(Xs, nk.labels(18, 1, seed=1), p, 1e-3, 1e-3, variant="T1")
    assert rep.lam_decided_with == "mpmath" and 0 < rep.lam < 1e-20
    assert rep.hypothesis("(λ)").holds and "(i)" in rep.failing


def test_bad_input_is_refused(wide):
    with pytest.raises(ValueError, match="softmax"):
        T.evaluate_hypotheses(X, Y, nk.init_params(D, 8, Q, activation="relu"), 1e-3, 1e-3)
    with pytest.raises(ValueError, match="κ"):
        T.evaluate_hypotheses(X, Y, wide, 1e-3, 1e-3, variant="T1", kappa=math.sqrt(wide.m))
    with pytest.raises(ValueError, match="variant"):
        T.evaluate_hypotheses(X, Y, wide, 1e-3, 1e-3, variant="T2")
    with pytest.raises(ValueError, match="A1"):
        T.evaluate_hypotheses(2 * X, Y, wide, 1e-3, 1e-3)
    with pytest.raises(ValueError, match="eta"):
        T.evaluate_hypotheses(X, Y, wide, -1.0, 1e-3)


def test_initial_output_size():
    Xo = nk.sphere(16, D, seed=3)
    out = T.initial_output_size(Xo, [2**k for k in range(8, 14)], sigma=SIGMA, seeds=24, seed=1)
    assert abs(out["iid"]["fit"]["slope"] - 0.5) <= 0.1
    assert out["symmetric"]["zero_up_to_rounding"]
    # the iid size is about √(m n d') e^{σ²/2}
    ratio = out["iid"]["mean_norm"] / np.sqrt(np.array(out["m"]) * 16 * math.exp(SIGMA**2))
    assert np.all((ratio > 0.5) & (ratio < 1.5))


def test_rate_and_steps_exports():
    rate = compiled("linear_convergence", "rate", "numpy")
    steps = compiled("linear_convergence", "steps_to_loss", "numpy")
    eta, m, lam, e0, eps = 1e-4, 1000, 0.3, 2.0, 1e-3
    p = eta * m * lam / 4
    assert rate(eta, m, lam, 7) == pytest.approx((1 - p) ** 7)
    Tn = steps(eta, m, lam, e0, eps)
    assert 0.5 * (rate(eta, m, lam, Tn) * e0) ** 2 == pytest.approx(eps)


def test_b1b7_hypothesis_ii_holds_at_the_chosen_r0_at_every_width():
    """R₀ is chosen as R₀,max(ii)·(1 − 1e-9), so (ii) must hold at every width; at the widths of B1's bounds
    (m up to 2⁶², R₀ ~ 1e-9) it failed at about half of them when e^{4R₀} − 1 and log(1 + x) were compiled as
    written (their rounding, ~1e-8 relative, exceeds the 1e-9 margin), which made the T1-B1B7 width search
    non-monotone (break: compile_expression without stable_form)."""
    X = nk.sphere(3, 4, seed=0)
    Y = nk.labels(3, 1, seed=1)
    lam = float(np.linalg.eigvalsh(nk.limit_ntk(X, sigma=0.5, d_out=1))[0])
    failed = []
    for e in range(20, 63):
        rep = T.report_b1b7(X, Y, 2**e, sigma=0.5, delta=0.1, lam_star=lam)
        h = {x.name: x for x in rep.hypotheses}["(ii)"]
        if not h.holds:
            failed.append((e, h.lhs, h.rhs))
    assert not failed, failed
