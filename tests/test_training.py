"""ntkcheck.core.training: the trainer's step is ntkcheck.gd_step, GD decreases the loss at a small step, softmax
GD conserves Σ_r w_r (G2), and the same inputs give the same numbers (whatever the thread count)."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import EPS, REL_TOL, Spec, build, hard_examples, magnitudes, specs
from hypothesis import given

import ntkcheck as nk
from ntkcheck.core.training import Trainer, train


def _small_eta(case, frac=0.2):
    """frac/(m λ_max(H(W(0)))): a step well inside the stable range of the linearized dynamics (H = 0
    happens: all signs equal make every tangent feature vanish; then the step is frac/m)."""
    lam_max = float(np.linalg.eigvalsh(nk.empirical_ntk(case.p, case.X, kappa=case.kappa))[-1])
    return frac / (case.p.m * max(lam_max, 1.0 if lam_max < 1e-12 else lam_max))


@hard_examples()
@given(spec=specs())
def test_trainer_step_is_gd_step(spec):
    c = build(spec)
    eta = 0.1
    tr = Trainer(c.p, c.X, c.Y, eta, kappa=c.kappa)
    E = tr.step()
    ref = nk.gd_step(c.p, c.X, c.Y, eta, c.kappa)
    mag = magnitudes(c)
    # W carries its own rounding (ε|W| per step) plus η times the gradient's error (REL_TOL of the terms)
    tol = 4 * EPS * float(np.abs(c.p.W).max()) + eta * REL_TOL * mag["grad"]
    assert float(np.abs(tr.params().W - ref.W).max()) <= tol
    # the residual it reports is E(t) = F(W(t)) − Y, before the step
    assert float(np.abs(E - nk.residual(c.p, c.X, c.Y, c.kappa)).max()) <= REL_TOL * (mag["F"] + 1.0)


@pytest.mark.parametrize("act", ["softmax", "exp", "relu"])
def test_loss_decreases_at_a_small_step(act):
    c = build(Spec(act=act, n=5, d=3, q=2, m=64, sigma=0.5, scheme="symmetric", data="sphere", seed=3))
    hist = train(c.p, c.X, c.Y, _small_eta(c), 60, kappa=c.kappa)
    assert np.all(np.diff(hist.loss) <= 0), hist.loss
    assert hist.loss[-1] < 0.9 * hist.loss[0]


@hard_examples(acts=("softmax",))
@given(spec=specs(acts=("softmax",), max_m=64))
def test_softmax_gd_conserves_the_neuron_sum(spec):
    """G2: Σ_r w_r(t) = Σ_r w_r(0); each step changes it by rounding only, at most 4(m + 2)ε(max|W| +
    max|ηΔ|) per coordinate (the G2 check's budget), summed over the steps."""
    c = build(spec)
    steps = 30
    hist = train(c.p, c.X, c.Y, _small_eta(c, 0.5), steps, kappa=c.kappa)
    wmax = float(np.abs(c.p.W).max()) + float(hist.max_move.max())
    step = float(np.max(np.diff(hist.max_move, prepend=0.0)))
    budget = steps * 4 * (c.p.m + 2) * EPS * (wmax + step + 1e-300)
    assert float(hist.sum_drift.max()) <= budget


def test_same_seed_same_numbers_any_thread_count():
    c = build(Spec(n=40, d=4, q=2, m=20_000, sigma=1.0, scheme="iid", seed=11))
    eta = _small_eta(c)
    runs = [train(nk.init_params(4, 20_000, 2, sigma=1.0, seed=11), c.X, c.Y, eta, 5, lam_every=2, threads=t)
            for t in (1, 2, 2)]
    for h in runs[1:]:
        for key in ("loss", "residual_norm", "max_move", "sum_drift", "lam_min"):
            assert np.array_equal(getattr(h, key), getattr(runs[0], key)), key
        assert np.array_equal(h.params.W, runs[0].params.W)


def test_history_records_what_it_says():
    c = build(Spec(n=6, d=3, q=1, m=32, sigma=0.5, scheme="symmetric", data="sphere"))
    eta = _small_eta(c)
    h = train(c.p, c.X, c.Y, eta, 10, record_every=3, lam_every=5)
    assert h.steps.tolist() == [0, 3, 6, 9, 10]
    assert h.lam_steps.tolist() == [0, 5, 10]
    assert h.loss[0] == pytest.approx(nk.loss(c.p, c.X, c.Y))
    assert h.lam_min[0] == pytest.approx(np.linalg.eigvalsh(nk.empirical_ntk(c.p, c.X))[0])
    ref = c.p
    for _ in range(10):
        ref = nk.gd_step(ref, c.X, c.Y, eta)
    assert np.allclose(h.params.W, ref.W, rtol=0, atol=1e-12)
    assert h.loss[-1] == pytest.approx(nk.loss(ref, c.X, c.Y), rel=1e-10)
    assert h.max_move[-1] == pytest.approx(np.linalg.norm(ref.W - c.p.W, axis=0).max(), rel=1e-10)
    # stop_below: the run ends at the first step whose loss is at or below the level, returning W there
    s = train(c.p, c.X, c.Y, eta, 10, stop_below=float(h.loss[1]))     # the loss at step 3
    assert s.steps[-1] == 3 and s.loss[-1] == h.loss[1]
    ref = c.p
    for _ in range(3):
        ref = nk.gd_step(ref, c.X, c.Y, eta)
    assert np.allclose(s.params.W, ref.W, rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------------ the thread pool
def _gd_threads(before=()):
    """The GD pool threads alive now that were not in ``before`` (another test's unclosed trainer is not ours)."""
    import threading
    return [t for t in threading.enumerate() if t.name.startswith("ntkcheck-gd") and t not in before]


def _wide():
    """A softmax network wide enough (n·m ≥ PARALLEL_MIN) for the fused path to run on the thread pool."""
    from ntkcheck.core.training import PARALLEL_MIN
    n, m = 64, 4096
    assert n * m >= PARALLEL_MIN
    X = nk.sphere(n, 3, seed=0)
    p = nk.init_params(3, m, d_out=1, sigma=1.0, scheme="symmetric", seed=0)
    return p, X, np.zeros((n, 1))


def test_train_leaves_no_thread_behind():
    """The pool of the fused path is the trainer's and train() closes it: no process-wide pool outlives a
    call (the previous design kept one for the life of the process)."""
    p, X, Y = _wide()
    before = _gd_threads()
    train(p, X, Y, 1e-3, 3, threads=2)
    assert not _gd_threads(before), _gd_threads(before)


def test_trainer_closes_its_pool_and_steps_on():
    p, X, Y = _wide()
    before = _gd_threads()
    with Trainer(p, X, Y, 1e-3, threads=2) as tr:
        tr.step()
        assert _gd_threads(before)              # the pool ran the step
    assert not _gd_threads(before)
    E1 = tr.step()                              # a closed trainer still steps (a new pool), same numbers
    tr.close()
    assert not _gd_threads(before)
    with Trainer(p, X, Y, 1e-3, threads=1) as serial:
        serial.step()
        np.testing.assert_array_equal(serial.step(), E1)   # each row is computed the same way on any thread
