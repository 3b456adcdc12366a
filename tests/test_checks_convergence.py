"""The strengthened T1 check (ntkcheck/checks/convergence.py): it holds, its trials count draws, and it fails
on a broken implementation: a sign error in the fused trainer's centring term, a trainer that does not
conserve Σ_r w_r, and a claimed rate the runs contradict."""
from __future__ import annotations

import numpy as np
import pytest

import ntkcheck.checks.convergence as conv
import ntkcheck.core.theorem as theorem
import ntkcheck.core.training as T
from ntkcheck import checks


def _run(seed=0, scale=0.25):
    checks.all_checks()
    return checks.run(checks.REGISTRY["T1"], seed=seed, scale=scale)


@pytest.mark.parametrize("seed, scale", [(0, 0.25), (0, 1.0), (5, 1.0)])
def test_T1_holds(seed, scale):
    rec = _run(seed, scale)
    assert rec["holds"] is True, rec["details"]["verdict"]
    d = rec["details"]
    assert rec["trials"] == len(d["draws"]) == 2 * rec["sizes"]["draws_per_m"] >= 16
    assert 0 < rec["worst_ratio"] <= 1
    t = d["rate_tightness"]
    assert t["max_contraction"] < t["guaranteed_1_minus_p"]
    assert t["max_contraction_over_1_minus_eta_m_lambda_min_H_t"] <= 1 + 1e-6


def _rows_with_centring_sign_error(self, first, last, scale):
    """training.Trainer._rows with + ⟨C_i, S_i⟩ in place of − ⟨C_i, S_i⟩ in the VJP coefficient."""
    k, vals = self.kappa, self.vals
    for a, b in self._row_blocks[first:last]:
        U = self.Z[a:b]
        U -= U.max(axis=1, keepdims=True)
        np.exp(U, out=U)
        sums = np.empty((b - a, len(self.blocks)))
        for g, (lo, hi) in enumerate(self.blocks):
            np.sum(U[:, lo:hi], axis=1, out=sums[:, g])
        alpha = sums.sum(axis=1)
        F = (k / alpha)[:, None] * np.einsum("ig,gl->il", sums, vals)
        E = F - self.Y[a:b]
        self.E[a:b] = E
        if scale:
            c = np.einsum("il,il->i", E, F) / k
            coef = (k / alpha)[:, None] * (np.einsum("il,gl->ig", E, vals) + c[:, None])   # the sign error
            for g, (lo, hi) in enumerate(self.blocks):
                U[:, lo:hi] *= coef[:, g:g + 1]


def test_T1_fails_with_a_centring_sign_error_in_the_fused_trainer(monkeypatch):
    monkeypatch.setattr(T.Trainer, "_rows", _rows_with_centring_sign_error)
    rec = _run()
    v = rec["details"]["verdict"]
    assert rec["holds"] is False
    assert not v["fused_trainer_equals_gd_step"] and not v["sum_drift_within_rounding_bound"]


def test_T1_fails_when_the_trainer_moves_sum_of_weights(monkeypatch):
    """A trainer whose update adds a common shift 1e-9 to every neuron: F is unchanged (G2), the drift is not."""
    orig = T.Trainer.apply

    def apply(self):
        orig(self)
        self.W += 1e-9
    monkeypatch.setattr(T.Trainer, "apply", apply)
    rec = _run()
    assert rec["holds"] is False and not rec["details"]["verdict"]["sum_drift_within_rounding_bound"]


def _rate_times(monkeypatch, factor):
    """theorem's rate exports with p = factor·ηmλ/4 in place of the proved ηmλ/4."""
    orig = theorem._fn

    def fn(name):
        if name == "rate_p":
            return lambda eta, m, lam: factor * eta * m * lam / 4
        if name == "rate":
            return lambda eta, m, lam, t: (1 - factor * eta * m * lam / 4) ** np.asarray(t, float)
        return orig(name)
    monkeypatch.setattr(theorem, "_fn", fn)


def test_T1_fails_with_a_rate_the_runs_contradict(monkeypatch):
    """p = 2ηmλ (8× the proved rate): GD's residual decays like (1 − ηmλ_min(H))^t, slower than claimed."""
    _rate_times(monkeypatch, 8.0)
    rec = _run()
    assert rec["holds"] is False and not rec["details"]["verdict"]["conclusions_hold_at_every_step"]
    assert max(v for k, v in rec["details"]["worst_ratio_per_conclusion"].items() if "residual" in k) > 1


def test_T1_numeric_part_does_not_see_p_half_but_the_derivation_does(monkeypatch):
    """p = ηmλ/2 (2× the proved rate) is not contradicted by the runs (GD contracts like 1 − ηmλ, ≈ 4× the
    proved rate): the numeric verdict alone cannot reject it; the symbolic derivation does
    (tests/test_runner.py::test_unproved_rate_fails_the_record)."""
    _rate_times(monkeypatch, 2.0)
    rec = _run()
    assert rec["details"]["verdict"]["conclusions_hold_at_every_step"] is True
