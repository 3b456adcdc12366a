"""Bad input gives one ValueError whose message names the argument or the hypothesis ((A1)/(A2) of the book's Setting chapter)."""
from __future__ import annotations

import numpy as np
import pytest

import ntkcheck as nk
from ntkcheck.core import validate as V

P = nk.init_params(2, 4, d_out=3, seed=0)
X = nk.ball(3, 2, seed=1)
Y = nk.labels(3, 3, seed=2)


def _raises(fn, *words):
    """fn() raises a plain ValueError with a one-line message containing every word."""
    with pytest.raises(ValueError) as info:
        fn()
    assert type(info.value) is ValueError, f"{type(info.value).__name__}, not a plain ValueError"
    msg = str(info.value)
    assert "\n" not in msg.strip(), f"message is not one line: {msg!r}"
    for w in words:
        assert w in msg, f"{w!r} not in {msg!r}"
    return msg


# ------------------------------------------------------------------------------------------ shapes
@pytest.mark.parametrize("fn", [
    lambda: nk.forward(P, np.ones((3, 5))),
    lambda: nk.gradient(P, np.ones((3, 5)), Y),
    lambda: nk.loss(P, np.ones((3, 5)), Y),
    lambda: nk.tangent_features(P, np.ones((3, 5))),
    lambda: nk.ntk_jacobian(P, np.ones((3, 5))),
    lambda: nk.forward_mp(P, np.ones((3, 5))),
], ids=["forward", "gradient", "loss", "tangent_features", "ntk_jacobian", "forward_mp"])
def test_X_columns_must_equal_d(fn):
    _raises(fn, "X", "5 columns", "d = 2")


def test_X_must_be_2d_numeric_nonempty():
    _raises(lambda: nk.forward(P, np.ones(2)), "X", "2-D")
    _raises(lambda: nk.forward(P, np.ones((0, 2))), "X", "at least one row")
    _raises(lambda: nk.forward(P, "abc"), "X", "numeric")
    _raises(lambda: nk.forward(P, [[1.0, object()]]), "X")


def test_ntk_inputs_named():
    _raises(lambda: nk.empirical_ntk(P, np.ones((2, 3))), "X1", "d = 2")
    _raises(lambda: nk.empirical_ntk(P, X, np.ones((2, 3))), "X2", "d = 2")
    _raises(lambda: nk.empirical_ntk_mp(P, X, np.ones((2, 3))), "X2")
    _raises(lambda: nk.limit_kernel(X, np.ones((2, 3))), "X2", "3 columns")
    _raises(lambda: nk.limit_kernel_mp(X, np.ones((2, 3))), "X2", "3 columns")


@pytest.mark.parametrize("fn", [nk.gradient, nk.residual, nk.loss,
                                lambda p, X, Y: nk.gd_step(p, X, Y, 0.1)],
                         ids=["gradient", "residual", "loss", "gd_step"])
def test_Y_shape(fn):
    _raises(lambda: fn(P, X, Y[:2]), "X has 3 rows", "Y has 2")
    _raises(lambda: fn(P, X, np.ones((3, 2))), "Y", "2 columns", "d_out = 3")
    _raises(lambda: fn(P, X, np.ones(3)), "Y", "2-D")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs(bad):
    Xb = X.copy()
    Xb[1, 0] = bad
    for fn in (lambda: nk.forward(P, Xb), lambda: nk.gradient(P, Xb, Y), lambda: nk.empirical_ntk(P, Xb),
               lambda: nk.limit_kernel(Xb), lambda: nk.forward_mp(P, Xb)):
        _raises(fn, "non-finite", "1 non-finite")
    Yb = Y.copy()
    Yb[0, 0] = bad
    _raises(lambda: nk.gradient(P, X, Yb), "Y", "non-finite")
    W = P.W.copy()
    W[0, 0] = bad
    _raises(lambda: nk.params_from(W, P.A), "W", "non-finite")


# ------------------------------------------------------------------------------------------ init
@pytest.mark.parametrize("m", [0, -3])
def test_width_at_least_one(m):
    _raises(lambda: nk.init_params(2, m), "m", ">= 1")


@pytest.mark.parametrize("name, kw", [("d", {"d": 0}), ("d_out", {"d_out": 0}), ("m", {"m": 2.0}),
                                      ("d", {"d": True}), ("m", {"m": "4"})])
def test_sizes_are_positive_integers(name, kw):
    args = {"d": 2, "m": 4} | kw
    _raises(lambda: nk.init_params(**args), name)


def test_numpy_integers_accepted():
    p = nk.init_params(np.int64(2), np.int32(4), d_out=np.int8(1))
    assert (p.d, p.m, p.d_out) == (2, 4, 1)


@pytest.mark.parametrize("m", [1, 3, 7])
def test_odd_width_with_symmetric_scheme(m):
    _raises(lambda: nk.init_params(2, m, scheme="symmetric"), "symmetric", "even", f"m = {m}")


@pytest.mark.parametrize("sigma", [0.0, -1.0, np.nan, np.inf, "1", None])
def test_sigma_positive(sigma):
    _raises(lambda: nk.init_params(2, 4, sigma=sigma), "sigma")
    _raises(lambda: nk.limit_kernel(X, sigma=sigma), "sigma")
    _raises(lambda: nk.limit_ntk(X, sigma=sigma), "sigma")
    _raises(lambda: nk.limit_kernel_mp(X, sigma=sigma), "sigma")


def test_unknown_scheme():
    _raises(lambda: nk.init_params(2, 4, scheme="gaussian"), "scheme", "'gaussian'", "iid", "symmetric")


@pytest.mark.parametrize("name", ["gelu", "Softmax", "", None])
def test_unknown_activation_lists_known(name):
    msg = _raises(lambda: nk.init_params(2, 4, activation=name), "activation", repr(name))
    for known in nk.ACTIVATIONS:
        assert known in msg
    _raises(lambda: nk.params_from(P.W, P.A, activation=name), "activation")


def test_params_from_shapes():
    _raises(lambda: nk.params_from(np.ones((2, 4)), np.ones((3, 5))), "A", "5 columns", "m (columns of W) = 4")
    _raises(lambda: nk.params_from(np.ones(4), np.ones((3, 4))), "W", "2-D")


def test_params_must_be_params():
    _raises(lambda: nk.forward({"W": P.W, "A": P.A}, X), "params", "Params")
    _raises(lambda: nk.forward_mp((P.W, P.A), X), "params")


# ------------------------------------------------------------------------------------------ kappa, eta
@pytest.mark.parametrize("kappa", [0.0, -2.0, np.nan, np.inf])
def test_kappa_positive(kappa):
    for fn in (lambda: nk.forward(P, X, kappa), lambda: nk.gradient(P, X, Y, kappa),
               lambda: nk.empirical_ntk(P, X, kappa=kappa), lambda: nk.ntk_jacobian(P, X, kappa),
               lambda: nk.forward_mp(P, X, kappa), lambda: nk.empirical_ntk_mp(P, X, kappa=kappa)):
        _raises(fn, "kappa")


@pytest.mark.parametrize("eta", [0.0, -1e-3, np.nan, np.inf, None])
def test_eta_positive(eta):
    _raises(lambda: nk.gd_step(P, X, Y, eta), "eta")


def test_limit_ntk_d_out():
    _raises(lambda: nk.limit_ntk(X, d_out=0), "d_out")


# ------------------------------------------------------------------------------------------ data
def test_data_sizes():
    _raises(lambda: nk.sphere(0, 3), "n")
    _raises(lambda: nk.ball(3, 0), "d")


@pytest.mark.parametrize("n, d_out", [(0, 2), (2, 0)])
def test_labels_sizes(n, d_out):
    _raises(lambda: nk.labels(n, d_out), "n" if n < 1 else "d_out")


# ------------------------------------------------------------------------------------------ (A1), (A2)
def test_unit_ball_A1():
    V.unit_ball(nk.ball(20, 3, seed=0))
    V.unit_ball(nk.sphere(20, 3, seed=0))
    Xb = np.array([[0.1, 0.2], [0.9, 0.9], [0.0, 1.0]])
    msg = _raises(lambda: V.unit_ball(Xb), "(A1)", "X[1]", "1.27279")
    _raises(lambda: V.unit_ball(Xb, name="X_train"), "(A1)", "X_train[1]")
    V.unit_ball(np.array([[1.0 + 1e-13, 0.0]]))  # within the tolerance of a normalization's rounding
    assert "> 1" in msg


def test_unit_sphere_A2():
    V.unit_sphere(nk.sphere(20, 3, seed=0))
    _raises(lambda: V.unit_sphere(np.array([[1.0, 0.0], [0.0, 0.5]])), "(A2)", "X[1]", "0.5")
    _raises(lambda: V.unit_sphere(np.array([[1.0, 0.0], [0.6, 0.8], [1.0, 0.0]])), "(A2)", "repeated rows")
    _raises(lambda: V.unit_sphere(nk.ball(5, 3, seed=0), name="Z"), "(A2)", "Z[")


# ------------------------------------------------------------------------------------------ issue 11 item 5
@pytest.mark.parametrize("bad, words", [
    (X + 1j, ("X", "complex")),
    (X.astype(np.complex64), ("X", "complex")),
    (np.array([[1 + 2j, 0.0]], dtype=object), ("X", "real")),
    (X.astype(str), ("X", "strings")),
    ([["0.1", "0.2"]], ("X", "strings")),
    (np.ma.array(X, mask=np.zeros_like(X, dtype=bool)), ("X", "masked")),
])
def test_complex_strings_and_masked_arrays_rejected(bad, words):
    """numpy would keep the real part of a complex array, parse numeric strings and use the hidden data
    of masked entries; each is refused."""
    for fn in (lambda: nk.forward(P, bad), lambda: nk.gradient(P, bad, Y), lambda: nk.empirical_ntk(P, bad),
               lambda: nk.tangent_features(P, bad), lambda: nk.forward_mp(P, bad)):
        _raises(fn, *words)
    name = words[0]
    _raises(lambda: nk.limit_kernel(bad), name + "1", *words[1:])
    _raises(lambda: nk.gradient(P, X, Y + 1j), "Y", "complex")
    _raises(lambda: nk.params_from(P.W + 1j, P.A), "W", "complex")
    _raises(lambda: nk.params_from(P.W, P.A.astype(str)), "A", "strings")


def test_params_validated_when_built_directly():
    W = P.W.copy()
    W[0, 1] = np.nan
    _raises(lambda: nk.Params(W=W, A=P.A), "W", "non-finite")
    _raises(lambda: nk.Params(W=P.W, A=np.ones((3, 5))), "A", "5 columns", "m (columns of W) = 4")
    _raises(lambda: nk.Params(W=P.W, A=np.full((3, 4), np.inf)), "A", "non-finite")
    _raises(lambda: nk.Params(W=P.W + 1j, A=P.A), "W", "complex")
    _raises(lambda: nk.Params(W=np.ones(4), A=P.A), "W", "2-D")
    _raises(lambda: nk.Params(W=np.ones((2, 0)), A=np.ones((3, 0))), "W", "m >= 1")
    _raises(lambda: nk.Params(W=P.W, A=P.A, activation="gelu"), "activation", "'gelu'")
    _raises(lambda: nk.Params(W=P.W, A=P.A, scheme="gaussian"), "scheme")
    _raises(lambda: nk.Params(W=P.W, A=P.A, sigma=-1.0), "sigma")
    _raises(lambda: nk.Params(W=P.W, A=P.A, seed=-3), "seed")
    # a valid direct build works, and shares the caller's float64 arrays (no copy)
    q = nk.Params(W=P.W, A=P.A)
    assert q.W is P.W and q.A is P.A
    np.testing.assert_array_equal(nk.forward(q, X), nk.forward(P, X))
    # with_W keeps the shape; a diverged W (inf) is carried, not refused (training records divergence)
    _raises(lambda: P.with_W(np.ones((2, 5))), "W", "shape")
    assert P.with_W(np.full(P.W.shape, np.inf)).W[0, 0] == np.inf


@pytest.mark.parametrize("seed", [-1, 1.5, True, "3", [1, 2], np.float64(2.0)])
def test_seed_validated(seed):
    _raises(lambda: nk.init_params(2, 4, seed=seed), "seed")


@pytest.mark.parametrize("seed", [None, 0, 7, np.int64(5), 2**40])
def test_seeds_that_work(seed):
    p = nk.init_params(2, 4, seed=seed)
    assert p.seed == seed


def test_quadrature_degree_bounded():
    from ntkcheck.core.kernels import DEGREE_LIMIT
    _raises(lambda: nk.quadrature_kernel(X, activation="tanh", max_degree=10**6), "max_degree", f"<= {DEGREE_LIMIT}")
    _raises(lambda: nk.quadrature_kernel(X, activation="tanh", degree=DEGREE_LIMIT + 1), "degree", f"<= {DEGREE_LIMIT}")
