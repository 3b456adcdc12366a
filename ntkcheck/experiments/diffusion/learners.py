"""The learners of the diffusion application (the book's D5 and D6 chapters): the linearized predictor
f_lin(·; k) with H* or H(W(0)) (D5), kernel regression with H* and the early-stopped softmax network (D6),
and the step size they share."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ntkcheck.core import validate as V
from ntkcheck.core.compile import compiled
from ntkcheck.core.kernels import limit_kernel
from ntkcheck.core.network import Params, empirical_ntk, forward, init_params
from ntkcheck.experiments.diffusion.d4_lift import lift

# The seed policy (ntkcheck.seeds) for the diffusion experiment: every draw is
# derived_seed(seed, "diffusion.<data|init|samples|noise>", PHASE, ...), the first key naming the phase, so two
# phases never share a stream by accident.  Within a phase the further keys name the draw (documented where used).
ERROR_VS_N, TRACKING, OVER_TIME, PICTURES = 0, 1, 2, 3


try:  # the GD step is a few skinny products: BLAS threads only add contention (optional speed-up)
    from threadpoolctl import threadpool_limits as _threadpool_limits
except ImportError:  # pragma: no cover
    _threadpool_limits = None


def one_blas_thread():
    import contextlib

    return _threadpool_limits(1, user_api="blas") if _threadpool_limits else contextlib.nullcontext()


def gd_filter(lam, c, k) -> np.ndarray:
    """g_k(λ) = (1 − (1 − cλ)^k)/λ elementwise (D5): the stable export where |cλ| < 1/2, the plain form above,
    kc where |cλ| < 1e−12 (the limit)."""
    lam = np.asarray(lam, dtype=np.float64)
    cl = c * lam
    small = np.abs(cl) < 1e-12
    mid = ~small & (np.abs(cl) < 0.5)
    out = np.empty_like(lam)
    out[small] = compiled("kernel_regression_tracking", "gd_filter_at_zero", "numpy")(c, k)
    out[mid] = compiled("kernel_regression_tracking", "gd_filter", "numpy")(lam[mid], c, k)
    big = ~small & ~mid
    out[big] = compiled("kernel_regression_tracking", "gd_filter_naive", "numpy")(lam[big], c, k)
    return out


class LinearizedPredictor:
    """f_lin(x; k) = f(x; 0) + H(x, X) H^{-1}(I − (I − cH)^k)(Y − f(X; 0)) with c = ηm (D5), f(·; 0) = 0 (the
    symmetric init), in the eigenbasis of H.

    ``kernel="limit"`` uses H* = K ⊗ I (K = ``limit_kernel`` of the lifted inputs), which acts on each
    output coordinate alike; ``kernel="empirical"`` uses H(W(0)) of ``params`` (the full nd' × nd' matrix).
    Inputs are raw points x; they are lifted with ``rho`` (clipped beyond ρ).
    """

    def __init__(self, x, y, rho, sigma, c, kernel="limit", params: Params | None = None):
        self.rho, self.sigma, self.c, self.kernel = float(rho), float(sigma), float(c), kernel
        self.U = lift(x, rho, clip=True)
        V.unit_sphere(self.U, "the lifted x")   # (A2): H*, and with it f_lin, is invertible for distinct points of S^d
        self.y = V.matrix(y, "y")
        self.d_out = self.y.shape[1]
        if kernel == "limit":
            H = limit_kernel(self.U, sigma=sigma)
            self._Z_shape = self.y.shape
        elif kernel == "empirical":
            if params is None:
                raise ValueError("kernel='empirical' needs params (the network at W(0))")
            self.params = params
            H = empirical_ntk(params, self.U)
            self._Z_shape = (self.y.size, 1)
        else:
            raise ValueError(f"kernel must be 'limit' or 'empirical', got {kernel!r}")
        self.lam, self.Q = np.linalg.eigh(H)
        self._Z = self.Q.T @ self.y.reshape(self._Z_shape)

    def cross(self, x) -> np.ndarray:
        """H(x, X) Q: the cross block in the eigenbasis, shape (n_x, n) or (n_x d', n d')."""
        Ux = lift(x, self.rho, clip=True)
        if self.kernel == "limit":
            return limit_kernel(Ux, self.U, sigma=self.sigma) @ self.Q
        return empirical_ntk(self.params, Ux, self.U) @ self.Q

    def predict_from_cross(self, B: np.ndarray, k) -> np.ndarray:
        """f_lin at the points whose :meth:`cross` is B, after k steps; shape (n_x, d')."""
        out = B @ (gd_filter(self.lam, self.c, k)[:, None] * self._Z)
        return out.reshape(-1, self.d_out)

    def predict(self, x, k) -> np.ndarray:
        return self.predict_from_cross(self.cross(x), k)


@dataclass
class KernelFit:
    """Kernel regression with H*, early-stopped: ``predict(x)`` is f_lin(x; k_best)."""

    lin: LinearizedPredictor
    k_best: int
    k_grid: np.ndarray
    val_loss: np.ndarray

    def predict(self, x) -> np.ndarray:
        return self.lin.predict(x, self.k_best)


def kernel_c(U: np.ndarray, sigma: float) -> float:
    """1/λ_max(K) for lifted inputs U: the step-size factor c = ηm from H* alone."""
    K = limit_kernel(U, sigma=sigma)
    return 1.0 / float(np.linalg.eigvalsh(K)[-1])


_LANCZOS_SEED = 20240506     # the seed of the Lanczos starting vector of ntk_lambda_max (any fixed value)


def ntk_lambda_max(params: Params, U: np.ndarray) -> float:
    """λ_max(H(W)) (κ = m) without forming H: H = JJᵀ/m with J v and Jᵀ u from the tangent features (G4),
    by Lanczos (scipy's eigsh) from a fixed starting vector: the same input gives the same value."""
    from scipy.sparse.linalg import LinearOperator, eigsh

    from ntkcheck.core.network import tangent_features

    n, q, m = U.shape[0], params.d_out, params.m
    P = tangent_features(params, U).reshape(n, q, m)
    kap = float(m)

    def matvec(v):
        u = np.asarray(v).reshape(n, q)
        C = np.einsum("il,ilr->ir", u, P)          # Jᵀu = κ Uᵀ C
        w = kap * (U.T @ C)
        Z = U @ w                                  # J w = κ Σ_r P (U w)
        return (kap * np.einsum("ilr,ir->il", P, Z) / m).reshape(-1)

    op = LinearOperator((n * q, n * q), matvec=matvec, dtype=np.float64)
    # a fixed starting vector: ARPACK's default one is random (a new draw on every call), which made the
    # step size, and with it every number of the experiment, differ in the last bits from run to run.  A
    # fixed Gaussian draw is, like ARPACK's, almost surely not orthogonal to the top eigenvector.
    v0 = np.random.default_rng(_LANCZOS_SEED).standard_normal(n * q)
    return float(eigsh(op, k=1, which="LA", tol=1e-8, v0=v0, return_eigenvectors=False)[0])


def step_factor(U: np.ndarray, sigma: float, params_list=()) -> float:
    """c = ηm = 1/max(λ_max(H*), λ_max(H(W(0))) for each given network): hypothesis (iii)'s form without the λ/2,
    safe for the network's GD and for both linearized predictors (c λ_max ≤ 1)."""
    lam = 1.0 / kernel_c(U, sigma)
    for p in params_list:
        lam = max(lam, ntk_lambda_max(p, U))
    return 1.0 / lam


def fit_kernel(x, y, x_val, y_val, rho, sigma, c=None, k_max: float = 1e8, grid: int = 161,
               extra_k=()) -> KernelFit:
    """Kernel regression with H* (D5/D6): f_lin(·; k) with k chosen on the held-out pairs from a geometric
    grid of ``grid`` values in [1, k_max] (plus ``extra_k``); c = ηm defaults to 1/λ_max(K)."""
    lin = LinearizedPredictor(x, y, rho, sigma, c=1.0)
    lin.c = float(1.0 / lin.lam[-1]) if c is None else float(c)
    ks = np.unique(np.concatenate([np.geomspace(1, k_max, grid).round(), np.asarray(extra_k, float)])).astype(np.int64)
    B = lin.cross(x_val)
    yv = V.matrix(y_val, "y_val", cols=lin.d_out)
    losses = np.array([np.mean(np.sum((lin.predict_from_cross(B, k) - yv) ** 2, axis=1)) for k in ks])
    best = int(np.argmin(losses))
    return KernelFit(lin=lin, k_best=int(ks[best]), k_grid=ks, val_loss=losses)


@dataclass
class NetworkFit:
    """The early-stopped network: ``params`` at step ``best_step`` (the recorded step with the least held-out
    loss), with the held-out and training loss curves at ``steps``."""

    params: Params
    rho: float
    eta: float
    kappa: float
    best_step: int
    steps: np.ndarray
    val_loss: np.ndarray
    train_loss: np.ndarray
    steps_run: int
    budget: int
    seconds: float

    @property
    def hit_budget(self) -> bool:
        """True when training stopped at the step budget rather than by the early-stopping rule."""
        return self.steps_run >= self.budget

    def predict(self, x) -> np.ndarray:
        return forward(self.params, lift(x, self.rho, clip=True), self.kappa)


def fit_network(x, y, x_val, y_val, rho, m=512, sigma=1.5, seed=0, steps=3000, record_every=10,
                eta=None, progress=None) -> NetworkFit:
    """Train the softmax network on lifted inputs by GD from the symmetric init and early-stop it on the
    held-out denoising loss (D6).  κ = m; η defaults to :func:`step_factor`/m.  Uses
    :class:`ntkcheck.core.training.Trainer`.

    Stops at ``steps`` or as soon as the best recorded step is less than half the steps run (and at least
    ``10·record_every`` steps have passed since it)."""
    from ntkcheck.core.training import Trainer

    steps = V.positive_int(steps, "steps")
    record_every = V.positive_int(record_every, "record_every")
    U, Uv = lift(x, rho, clip=True), lift(x_val, rho, clip=True)
    V.unit_sphere(U, "the lifted x")          # (A2), the hypothesis of the network's lemmas (D4)
    y = V.matrix(y, "y", cols=U.shape[1] - 1)
    y_val = V.matrix(y_val, "y_val", cols=y.shape[1])
    p0 = init_params(U.shape[1], m, d_out=y.shape[1], sigma=sigma, scheme="symmetric", seed=seed)
    kap = float(m)
    eta = step_factor(U, sigma, [p0]) / m if eta is None else V.positive_float(eta, "eta")
    t0 = time.perf_counter()
    rec_s, rec_v, rec_t = [], [], []
    best = (np.inf, 0, p0.W.copy())
    with one_blas_thread(), Trainer(p0, U, y, eta, kappa=kap) as tr:
        s = 0
        while True:
            if s % record_every == 0:
                cur = tr.current()
                vl = float(np.mean(np.sum((forward(cur, Uv, kap) - y_val) ** 2, axis=1)))
                rec_s.append(s)
                rec_v.append(vl)
                if vl < best[0]:
                    best = (vl, s, tr.params().W)
                if s >= steps or (s > 2 * best[1] and s - best[1] >= 10 * record_every):
                    E = tr.residual()
                    rec_t.append(float(np.mean(np.sum(E**2, axis=1))))
                    break
                E = tr.step()
                rec_t.append(float(np.mean(np.sum(E**2, axis=1))))
            else:
                tr.step()
            s += 1
            if progress is not None and s % 50 == 0:
                progress(min(1.0, s / steps))
    return NetworkFit(params=p0.with_W(best[2]), rho=float(rho), eta=float(eta), kappa=kap, best_step=int(best[1]),
                      steps=np.asarray(rec_s), val_loss=np.asarray(rec_v), train_loss=np.asarray(rec_t),
                      steps_run=int(s), budget=steps, seconds=time.perf_counter() - t0)
