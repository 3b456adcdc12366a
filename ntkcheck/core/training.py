"""Gradient descent on the two-layer networks (the book's Setting and Beyond-softmax parts), vectorized, recording what T1 speaks about.

:func:`train` runs W(t+1) = W(t) − η∇L(W(t)) and records, at chosen cadences, the loss, ‖e(t)‖₂, the largest
neuron movement max_r ‖w_r(t) − w_r(0)‖₂, the drift of Σ_r w_r(t) (zero up to rounding for softmax, G2) and
λ_min(H(W(t))).  :class:`Trainer` is the stepping engine (the benchmark in benchmarks/bench_gd_step.py times
it).

One step is: logits Z = XW, features, one vector-Jacobian product, Xᵀ·G — no Jacobian, no loop over
neurons.  Pointwise activations use the VJP path of :mod:`ntkcheck.core.network` (``features``/``gradient_from``).
The softmax network has a fused path, written for speed (the step is dominated by the n·m exponentials):

* the neurons are grouped by their output-sign column a_r (A ∈ {±1}^{d'×m} has at most 2^{d'} distinct
  columns) and the working copy of W is permuted so that each group is a contiguous block.  Then
  ⟨a_ℓ, u_i⟩ and Σ_r u_{i,r} are block sums, and the softmax VJP G1,
  G_{i,r} = κ S_{i,r} Σ_ℓ e_{iℓ}(a_{ℓ,r} − ⟨a_ℓ, S_i⟩),
  is one in-place scaling of each block of u = exp(z − max z) by a per-row coefficient (κ folded in).
  The centred signs are formed without cancellation (the book's Setting part): a_{ℓ,r} − ⟨a_ℓ,S_i⟩ = 2S₋ (a_{ℓ,r} = +1)
  or −2S₊ (a_{ℓ,r} = −1), S± the softmax mass of the groups with a_ℓ = ±1, sums of positive block sums;
  the fused path needs A ∈ {±1} (other A take the generic path);
* rows are independent until Xᵀ·G, so max-subtraction, exp, block sums, residual and scaling run per
  block of rows small enough to stay in cache, on a thread pool (numpy releases the GIL), into a buffer
  reused across steps; W is updated in place.  The pool belongs to its :class:`Trainer` (created at the
  first parallel step, shut down by :meth:`Trainer.close`, the ``with`` block, or when the trainer is
  collected); :func:`train` closes its own, so no thread outlives a call.
The result equals :func:`ntkcheck.gd_step` up to rounding (tests/test_training.py) and does not depend
on the thread count (each row is computed the same way whichever thread runs it).
"""
from __future__ import annotations

import math
import os
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ntkcheck.core import validate as V
from ntkcheck.core.compile import compiled
from ntkcheck.core.network import Params, features, gradient_from, empirical_ntk, pm1

MAX_GROUPS = 64            # distinct columns of A for the fused softmax path (d' ≤ 6 with ±1 signs)
BLOCK_ELEMS = 1 << 17      # entries of Z per row block of the fused path (1 MiB: an L2 cache)
PARALLEL_MIN = 1 << 18     # below this many entries of Z the fused path runs on the calling thread

def _threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class Trainer:
    """Full-batch gradient descent on one network, with buffers reused across steps.

    ``step()`` returns the residual E(t) = F(W(t), X) − Y (n × d') and moves W to W(t+1); ``residual()``
    evaluates E at the current W without moving it.  ``current()`` is the network at the current W (in
    the trainer's internal neuron order, which changes no quantity summed over neurons: F, L, H, λ, the
    movement and Σ_r w_r); ``params()`` returns it in the original order, as a copy.

    The fused path's thread pool is the trainer's own: ``close()`` (or leaving a ``with Trainer(...) as tr``
    block) shuts it down; an unclosed trainer's pool is shut down when the trainer is collected.
    """

    def __init__(self, params: Params, X, Y, eta, kappa=None, threads: int | None = None):
        if not isinstance(params, Params):
            raise ValueError(f"params must be a Params from init_params, got {type(params).__name__}")
        self.X = V.matrix(X, "X", cols=params.d)
        self.Y = V.targets(Y, self.X, params.d_out)
        self.eta = V.positive_float(eta, "eta")
        self.kappa = V.kappa(kappa, params.m)
        self.threads = _threads() if threads is None else V.positive_int(threads, "threads")
        self._orig = params
        n, m = self.X.shape[0], params.m
        vals, inv = np.unique(params.A.T, axis=0, return_inverse=True)
        self.fused = params.activation == "softmax" and len(vals) <= MAX_GROUPS and pm1(params.A)
        if self.fused:
            # group the neurons by their column of A; the working W is permuted so each group is contiguous
            inv = inv.reshape(-1)
            self.order = np.argsort(inv, kind="stable")
            counts = np.bincount(inv, minlength=len(vals))
            edges = np.concatenate([[0], np.cumsum(counts)])
            self.blocks = [(int(edges[g]), int(edges[g + 1])) for g in range(len(vals))]
            self.vals = np.ascontiguousarray(vals)            # (groups, d'): the column a of each group
            self.vpos = (self.vals > 0).astype(np.float64)    # [a_ℓ = +1] per group
            self.vneg = 1.0 - self.vpos
            self.A = np.ascontiguousarray(params.A[:, self.order])
            self.W = np.ascontiguousarray(params.W[:, self.order])
            self.Z = np.empty((n, m))
            self.E = np.empty((n, params.d_out))
            rb = max(1, BLOCK_ELEMS // m)
            starts = list(range(0, n, rb))
            self._row_blocks = [(a, min(a + rb, n)) for a in starts]
        else:
            self.order = None
            self.A = params.A
            self.W = np.array(params.W, dtype=np.float64, copy=True)
        self.grad = np.empty_like(self.W)
        self._serial = self.threads == 1 or n * m < PARALLEL_MIN
        self._pool: ThreadPoolExecutor | None = None
        self._finalizer = None

    # -- the thread pool -------------------------------------------------------------------------------
    def _workers(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=_threads(), thread_name_prefix="ntkcheck-gd")
            self._finalizer = weakref.finalize(self, self._pool.shutdown, wait=False)
        return self._pool

    def close(self) -> None:
        """Shut down the trainer's thread pool (if it has one); the trainer can still step (a new pool is
        made when needed).  Returns None."""
        if self._pool is not None:
            self._finalizer.detach()
            self._pool.shutdown(wait=True)
            self._pool = self._finalizer = None

    def __enter__(self) -> "Trainer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the network at the current weights --------------------------------------------------------
    def current(self) -> Params:
        """The network at the current W, in the internal neuron order (shares W's buffer: no copy)."""
        return self._orig._derived(self.W, self.A)

    def params(self) -> Params:
        """The network at the current W in the original neuron order (a copy)."""
        if self.order is None:
            return self._orig.with_W(self.W.copy())
        W = np.empty_like(self.W)
        W[:, self.order] = self.W
        return self._orig.with_W(W)

    # -- one step ------------------------------------------------------------------------------------
    def step(self) -> np.ndarray:
        """E(t) (a new array), then W ← W − η∇L(W) in place."""
        E = self.prepare()
        self.apply()
        return E

    def prepare(self) -> np.ndarray:
        """E at the current W (a new array) and η∇L(W) into ``self.grad``; W is not changed."""
        if not self.fused:
            return self._generic(gradient=True)
        self._fused(scale=True)
        np.dot(self.X.T, self.Z, out=self.grad)
        np.multiply(self.grad, self.eta, out=self.grad)
        return self.E.copy()

    def apply(self) -> None:
        """W ← W − (the η∇L of the last :meth:`prepare`), in place."""
        np.subtract(self.W, self.grad, out=self.W)

    def residual(self) -> np.ndarray:
        """E at the current W (a new array); W and the stored gradient are not changed."""
        if not self.fused:
            return self._generic(gradient=False)
        self._fused(scale=False)
        return self.E.copy()

    def _generic(self, gradient: bool) -> np.ndarray:
        p = self.current()
        act, Phi, cache = features(p, self.X)
        E = self.kappa * (Phi @ p.A.T) - self.Y
        if gradient:
            np.multiply(gradient_from(p, self.X, E, self.kappa, act, cache), self.eta, out=self.grad)
        return E

    def _fused(self, scale: bool) -> None:
        np.dot(self.X, self.W, out=self.Z)
        if self._serial:
            self._rows(0, len(self._row_blocks), scale)
            return
        nb = len(self._row_blocks)
        cuts = np.linspace(0, nb, min(self.threads, nb) + 1).astype(int)
        pool = self._workers()
        jobs = [pool.submit(self._rows, int(a), int(b), scale) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]
        for j in jobs:
            j.result()

    def _rows(self, first: int, last: int, scale: bool) -> None:
        """Row blocks [first, last): u = exp(z − max z) in place, residual, and (``scale``) u → G."""
        k, vals = self.kappa, self.vals
        for a, b in self._row_blocks[first:last]:
            U = self.Z[a:b]
            U -= U.max(axis=1, keepdims=True)
            np.exp(U, out=U)
            sums = np.empty((b - a, len(self.blocks)))
            for g, (lo, hi) in enumerate(self.blocks):
                np.sum(U[:, lo:hi], axis=1, out=sums[:, g])
            alpha = sums.sum(axis=1)                                   # Σ_r u_{i,r}
            F = (k / alpha)[:, None] * np.einsum("ig,gl->il", sums, vals)  # κ⟨a_ℓ, S_i⟩
            E = F - self.Y[a:b]
            self.E[a:b] = E
            if scale:
                # κ/α · Σ_ℓ e_ℓ (a_ℓ − ⟨a_ℓ,S⟩) per group, with a_ℓ − ⟨a_ℓ,S⟩ = 2S₋ or −2S₊ (no cancellation)
                Sp, Sn = sums @ self.vpos, sums @ self.vneg        # α S₊, α S₋ (sums of positive terms)
                coef = (E * Sn) @ self.vpos.T
                coef -= (E * Sp) @ self.vneg.T
                coef *= (2.0 * k / (alpha * alpha))[:, None]
                for g, (lo, hi) in enumerate(self.blocks):
                    U[:, lo:hi] *= coef[:, g:g + 1]


@dataclass
class History:
    """What :func:`train` recorded.  Row quantities are at the steps ``steps`` (t = 0, record_every, …, and
    the last step); λ_min(H(W(t))) at ``lam_steps``."""

    steps: np.ndarray
    loss: np.ndarray
    residual_norm: np.ndarray
    max_move: np.ndarray        # max_r ‖w_r(t) − w_r(0)‖₂
    sum_drift: np.ndarray       # max_j |Σ_r W_{j,r}(t) − Σ_r W_{j,r}(0)|  (G2: rounding only, for softmax)
    lam_steps: np.ndarray
    lam_min: np.ndarray         # λ_min(H(W(t)))
    params: Params              # the network after the last step
    eta: float
    kappa: float
    seconds: float

    def as_dict(self) -> dict:
        """The recorded arrays and η, κ, seconds (not the network): JSON-ready through results.write_json."""
        return {"steps": self.steps, "loss": self.loss, "residual_norm": self.residual_norm,
                "max_move": self.max_move, "sum_drift": self.sum_drift, "lam_steps": self.lam_steps,
                "lam_min": self.lam_min, "eta": self.eta, "kappa": self.kappa, "seconds": self.seconds}


def train(params: Params, X, Y, eta, steps, kappa=None, record_every=1, lam_every=None, progress=None,
          stop_below=None, threads=None) -> History:
    """Run ``steps`` steps of gradient descent from ``params`` (which is not modified).

    ``record_every``: cadence of loss, ‖e‖, movement and Σ_r w_r drift (the last step is always recorded).
    ``lam_every``: cadence of λ_min(H(W(t))) (None: never; it costs one empirical NTK).  ``progress``: a
    callable receiving the fraction done.  ``stop_below``: stop at the first step whose loss is ≤ this
    value (checked every step; that step is recorded and ``params`` is W at that step).  Same inputs ⇒
    same numbers.
    """
    steps = V.positive_int(steps, "steps", minimum=0)
    record_every = V.positive_int(record_every, "record_every")
    lam_every = None if lam_every is None else V.positive_int(lam_every, "lam_every")
    stop_below = None if stop_below is None else float(stop_below)
    t0 = time.perf_counter()
    with Trainer(params, X, Y, eta, kappa, threads) as tr:      # its thread pool ends with the call
        return _train(tr, steps, record_every, lam_every, progress, stop_below, t0)


def _train(tr: Trainer, steps, record_every, lam_every, progress, stop_below, t0) -> History:
    W0 = tr.W.copy()
    sum0 = W0.sum(axis=1)
    rec = {k: [] for k in ("steps", "loss", "residual_norm", "max_move", "sum_drift")}
    lam_t, lam_v = [], []
    tick = max(1, steps // 100)
    for t in range(steps + 1):
        # every measurement of step t is taken at W(t): prepare() leaves W alone until apply()
        E = tr.prepare() if t < steps else tr.residual()
        r2 = float(np.vdot(E, E))
        stop = stop_below is not None and 0.5 * r2 <= stop_below
        if lam_every is not None and (t % lam_every == 0 or t == steps or stop):
            H = empirical_ntk(tr.current(), tr.X, kappa=tr.kappa)
            lam_t.append(t)
            lam_v.append(float(np.linalg.eigvalsh(H)[0]))
        if t % record_every == 0 or t == steps or stop:
            D = tr.W - W0
            move = float(np.sqrt(np.einsum("jr,jr->r", D, D).max()))
            drift = float(np.abs(tr.W.sum(axis=1) - sum0).max())
            for key, val in zip(rec, (t, 0.5 * r2, np.sqrt(r2), move, drift)):
                rec[key].append(val)
        if stop:
            break
        if t < steps:
            tr.apply()
        if progress is not None and (t % tick == 0 or t == steps):
            progress(min(1.0, (t + 1) / (steps + 1)))
    out = {k: np.asarray(v, dtype=np.int64 if k == "steps" else np.float64) for k, v in rec.items()}
    return History(**out, lam_steps=np.asarray(lam_t, dtype=np.int64), lam_min=np.asarray(lam_v),
                   params=tr.params(), eta=tr.eta, kappa=tr.kappa, seconds=time.perf_counter() - t0)


def eta_and_steps(lam: float, H_norm: float, m: int, e0: float, eps: float, c: float = 1.0) -> tuple[float, int | None]:
    """The step size of T1's form and the steps it predicts to reach a target loss.

    Parameters: ``lam`` λ (λ_min(H*) for T1's form, λ₀ = λ_min(H(W(0))) for T1''s); ``H_norm`` ‖H‖₂ of the
    same matrix; width ``m``; ``e0`` = ‖e(0)‖₂; target loss ``eps``; ``c`` ∈ (0, 1] the fraction of the cap.
    Returns (η, T): η = c/(m(‖H‖₂ + λ/2)) (hypothesis (iii), first part, times c) and T = ⌈steps_to_loss⌉,
    the steps after which (1 − ηmλ/4)^T ‖e(0)‖ reaches loss ε (0 if ½‖e(0)‖² ≤ ε already); (nan, None)
    if λ ≤ 0."""
    if not lam > 0:
        return math.nan, None
    eta = c * float(compiled("linear_convergence", "eta_cap_spectral", "numpy")(m, H_norm, lam))
    if 0.5 * e0**2 <= eps:
        return eta, 0
    T = float(compiled("linear_convergence", "steps_to_loss", "numpy")(eta, m, lam, e0, eps))
    return eta, int(math.ceil(T))
