"""The strengthened D5 and D6 checks (ntkcheck/checks/diffusion.py): each holds, and each fails on a broken
implementation (a wrong limit kernel, a network that does not track kernel regression)."""
from __future__ import annotations

import numpy as np
import pytest

from ntkcheck import checks
from ntkcheck.experiments import diffusion as D
from conftest import assert_claims_state_numbers
from ntkcheck.experiments.diffusion import learners as DL   # where f_lin takes H* from


def _run(code, seed=0, scale=1.0):
    checks.all_checks()
    return checks.run(checks.REGISTRY[code], seed=seed, scale=scale)


# ------------------------------------------------------------------------------------------ D5
@pytest.mark.parametrize("seed, scale", [(0, 0.25), (0, 1.0), (3, 1.0)])
def test_D5_holds(seed, scale):
    rec = _run("D5", seed=seed, scale=scale)
    assert rec.holds is True, rec.details["verdict"]
    assert rec.trials == 5 * rec.sizes["seeds_per_m"] and rec.sizes["seeds_per_m"] >= 3
    assert rec.sizes["common_inits_per_m"] >= 16
    assert all(v["common_part_below_half"] for k, v in rec.details["verdict"].items() if k.startswith("star"))
    assert_claims_state_numbers(rec)


def _wrong_sigma(monkeypatch):
    orig = DL.limit_kernel
    monkeypatch.setattr(DL, "limit_kernel", lambda X1, X2=None, sigma=1.0, **kw: orig(X1, X2, sigma=1.2 * sigma))


def _exp_kernel(monkeypatch):
    orig = DL.limit_kernel
    monkeypatch.setattr(DL, "limit_kernel", lambda X1, X2=None, sigma=1.0, **kw: orig(X1, X2, sigma=sigma,
                                                                                     activation="exp"))


MUTATION_SEEDS = (0, 1, 2)


@pytest.mark.parametrize("seed", MUTATION_SEEDS)
@pytest.mark.parametrize("mutate", [_wrong_sigma, _exp_kernel])
def test_D5_fails_with_a_wrong_limit_kernel(monkeypatch, mutate, seed):
    """f_lin built on a wrong H* leaves a floor in the H* distance, the same path for every init: the part
    of f_lin(H(W(0))) − f_lin(H*) common to the inits is most of it (the slope alone missed σ·1.2 at some
    seeds: the floor had not bent it yet over m = 128–2048)."""
    mutate(monkeypatch)
    rec = _run("D5", seed=seed, scale=0.25)
    assert rec.holds is False
    v, common = rec.details["verdict"], rec.details["common"]
    assert not v["star_train"]["common_part_below_half"] and not v["star_fresh"]["common_part_below_half"], common
    assert common["star_train"]["mean"] > 0.5 and common["star_fresh"]["mean"] > 0.5


@pytest.mark.parametrize("seed", MUTATION_SEEDS)
def test_D5_fails_when_the_network_does_not_train_lazily(monkeypatch, seed):
    """A trainer whose step is 10% too long: the network leaves its own linearization at every width."""
    import ntkcheck.core.training as T
    orig = T.Trainer.__init__

    def init(self, params, X, Y, eta, *a, **kw):
        orig(self, params, X, Y, 1.1 * eta, *a, **kw)
    monkeypatch.setattr(T.Trainer, "__init__", init)
    rec = _run("D5", seed=seed, scale=0.25)
    assert rec.holds is False
    assert not rec.details["verdict"]["emp_fresh"]["slope_at_most_minus_half"]


# ------------------------------------------------------------------------------------------ D6
@pytest.mark.parametrize("seed, scale", [(0, 0.25), (1, 1.0)])
def test_D6_holds(seed, scale):
    rec = _run("D6", seed=seed, scale=scale)
    assert rec.holds is True, rec.details["verdict"]
    assert rec.trials == 5 * rec.sizes["draws_per_n"] and rec.sizes["draws_per_n"] >= 3
    assert_claims_state_numbers(rec)


def _network_off_by(factor):
    """fit_network whose predictions are pushed away from the true score: the squared error grows by
    about factor² in the direction of the (prediction − mean label) deviation."""
    orig = D.fit_network

    def fit(*a, **kw):
        nf = orig(*a, **kw)
        pred = nf.predict

        class Off:
            eta = nf.eta

            def predict(self, x):
                return factor * pred(x)
        return Off()
    return fit


def test_D6_fails_when_the_network_is_several_times_worse(monkeypatch):
    monkeypatch.setattr(D, "fit_network", _network_off_by(3.0))
    rec = _run("D6", seed=0, scale=0.25)
    assert rec.holds is False
    assert rec.details["nn_over_kernel_pooled"] > 2
    assert not rec.details["verdict"]["nn_within_2x_kernel_pooled"]


def test_D6_fails_when_the_network_does_not_learn(monkeypatch):
    """A network stopped after 2 steps: its error does not fall with n."""
    orig = D.fit_network
    monkeypatch.setattr(D, "fit_network", lambda *a, **kw: orig(*a, **(kw | {"steps": 2})))
    rec = _run("D6", seed=0, scale=0.25)
    assert rec.holds is False
