"""The two-layer network of the book's Setting chapter (softmax) and Beyond-softmax part (pointwise activations), its loss, gradient (G1),
gradient-descent step and empirical NTK (G4), in vectorized float64.

Every network here has the form F(W, X) = κ Φ(XW) Aᵀ with a feature map Φ acting on the logits
Z = XW (n×m): Φ = softmax (rows normalized) for the softmax network, Φ = φ(Z)/m for a pointwise φ.
Everything else — gradient, NTK, training — needs only the vector-Jacobian product of Φ, so a new
activation is one entry of the registry (:mod:`ntkcheck.core.activations`).
"""
from __future__ import annotations

import contextlib
import copy
import numbers
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ntkcheck.core import validate as V
from ntkcheck.core import activations

SCHEMES = ("iid", "symmetric")


# ------------------------------------------------------------------------------------------ features
# The feature maps live with the activation registry (one entry per activation); these names stay importable
# from here.
ACTIVATIONS = activations.ACTIVATIONS       # live read-only view {name: Activation}
Softmax, SignedResidual, pm1 = activations.Softmax, activations.SignedResidual, activations.pm1


def get_activation(name: str) -> activations.Activation:
    """The registered activation ``name`` (:func:`ntkcheck.core.activations.get`).

    Parameters: ``name``.  Returns its :class:`ntkcheck.core.activations.Activation`; ValueError if unknown."""
    return activations.get(name)


# ------------------------------------------------------------------------------------------ params
@dataclass(frozen=True)
class Params:
    """Trained first layer ``W`` (d×m) and fixed signs ``A`` (d_out×m), with how they were drawn."""

    W: np.ndarray
    A: np.ndarray
    sigma: float = 1.0
    scheme: str = "iid"
    seed: int | None = None
    activation: str = "softmax"

    def __post_init__(self):
        """Validated however it is built (``Params(W=..., A=...)`` too): W a finite real 2-D array with at
        least one column, A a finite real 2-D array with W's m columns (±1 for the networks of the book's Setting part;
        other finite values take the documented subtracting fallback), a known activation and scheme, σ
        finite and > 0 (or NaN: not drawn), the seed None or a non-negative integer."""
        W = V.matrix(self.W, "W")
        object.__setattr__(self, "W", W)
        self._set_A(self.A)
        get_activation(self.activation)
        if self.scheme not in SCHEMES + ("given",):
            raise ValueError(f"scheme must be one of {SCHEMES + ('given',)}, got {self.scheme!r}")
        if isinstance(self.sigma, bool) or not isinstance(self.sigma, numbers.Real) or not (
                np.isnan(self.sigma) or (np.isfinite(self.sigma) and self.sigma > 0)):
            raise ValueError(f"sigma must be finite and > 0 (or NaN for given weights), got {self.sigma!r}")
        V.seed(self.seed)

    def _set_A(self, A) -> None:
        if self.W.shape[1] < 1:
            raise ValueError(f"W must have at least one column (m >= 1), got shape {self.W.shape}")
        object.__setattr__(self, "A", V.matrix(A, "A", cols=self.W.shape[1], cols_name="m (columns of W)"))

    def _derived(self, W, A=None) -> "Params":
        """The same network with new weights (and signs), e.g. after a GD step: shapes are checked, W's
        finiteness is not — a diverging run carries inf/NaN into W, and its callers record that as
        divergence rather than an input error."""
        W = V.real_array(W, "W")
        if W.shape != self.W.shape:
            raise ValueError(f"W must keep its shape {self.W.shape}, got {W.shape}")
        q = copy.copy(self)
        object.__setattr__(q, "W", W)
        if A is not None:
            q._set_A(A)
        return q

    @property
    def d(self) -> int:
        return self.W.shape[0]

    @property
    def m(self) -> int:
        return self.W.shape[1]

    @property
    def d_out(self) -> int:
        return self.A.shape[0]

    def with_W(self, W: np.ndarray) -> "Params":
        """A copy with weights W (same shape; see :meth:`_derived`)."""
        return self._derived(W)


def init_params(d, m, d_out=None, sigma=1.0, scheme="iid", seed=0, activation="softmax") -> Params:
    """Draw W(0) and A per the book's Setting part: w_r ~ N(0, σ²I), a_{ℓ,r} ~ Uniform{±1}.

    ``scheme="symmetric"`` (m even) copies the first m/2 neurons with opposite output signs, so that
    F(W(0), x) = 0 for every x (exactly in exact arithmetic; in float64 up to the rounding of a sum
    over m neurons, since BLAS does not add the paired terms together).
    """
    d = V.positive_int(d, "d")
    m = V.positive_int(m, "m")
    d_out = d if d_out is None else V.positive_int(d_out, "d_out")
    sigma = V.positive_float(sigma, "sigma")
    seed = V.seed(seed)
    act = get_activation(activation)  # validates the name
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if scheme == "symmetric" and m % 2:
        raise ValueError(f"the symmetric scheme needs an even width m, got m = {m}")
    rng = np.random.default_rng(seed)
    if scheme == "iid":
        W = sigma * rng.standard_normal((d, m))
        A = rng.choice(np.array([-1.0, 1.0]), size=(d_out, m))
    else:
        h = m // 2
        W0 = sigma * rng.standard_normal((d, h))
        A0 = rng.choice(np.array([-1.0, 1.0]), size=(d_out, h))
        W = np.concatenate([W0, W0], axis=1)
        A = np.concatenate([A0, -A0], axis=1)
    return Params(W=W, A=A, sigma=sigma, scheme=scheme, seed=seed, activation=act.name)


def params_from(W, A, activation: str = "softmax") -> Params:
    """Params from explicit arrays (validated), e.g. for an adversarial search over W."""
    W = V.matrix(W, "W")
    A = V.matrix(A, "A", cols=W.shape[1], cols_name="m (columns of W)")
    return Params(W=W, A=A, sigma=float("nan"), scheme="given", seed=None, activation=get_activation(activation).name)


# ------------------------------------------------------------------------------------------ core maps
def as_inputs(params: Params, X, name: str = "X") -> np.ndarray:
    """``X`` checked as the inputs of ``params``: an n×d float matrix, d = ``params.d``.

    Parameters: ``params`` a :class:`Params`; ``X`` array-like; ``name`` the argument named in errors.
    Returns: X as a float64 array of shape (n, d).  Raises ValueError (one line, naming the argument)."""
    if not isinstance(params, Params):
        raise ValueError(f"params must be a Params from init_params, got {type(params).__name__}")
    return V.matrix(X, name, cols=params.d)


def features(params: Params, X: np.ndarray):
    """The feature map at checked inputs (see :func:`as_inputs`): one product X W and the activation.

    Parameters: ``params`` the network; ``X`` an n×d float array.
    Returns: ``(act, Phi, cache)``: the activation object, Φ(XW) of shape (n, m), and what the activation's
    ``vjp`` and ``tangent`` need (the softmax S, or the pre-activations)."""
    act = get_activation(params.activation)
    Phi, cache = act.features(X @ params.W)
    return act, Phi, cache


def forward(params: Params, X, kappa=None) -> np.ndarray:
    """F(W, X) of shape (n, d_out); ``kappa=None`` means κ = m."""
    X = as_inputs(params, X)
    k = V.kappa(kappa, params.m)
    _, Phi, _ = features(params, X)
    return k * (Phi @ params.A.T)


def residual(params: Params, X, Y, kappa=None) -> np.ndarray:
    """E = F(W, X) − Y, shape (n, d_out); its row-major flattening is the book's e."""
    X = as_inputs(params, X)
    Y = V.targets(Y, X, params.d_out)
    return forward(params, X, kappa) - Y


def loss(params: Params, X, Y, kappa=None) -> float:
    """L(W) = ½ Σ_{i,ℓ} (F_ℓ(W, x_i) − y_{i,ℓ})²."""
    E = residual(params, X, Y, kappa)
    return 0.5 * float(np.vdot(E, E))


def gradient_from(params: Params, X: np.ndarray, E: np.ndarray, k: float, act, cache) -> np.ndarray:
    """∇_W L (d×m) from the residual and the features already computed (the GD loop's path).

    Parameters: ``params`` the network; ``X`` the n×d inputs; ``E`` the n×d_out residual F − Y; ``k`` κ;
    ``act``, ``cache`` from :func:`features` at (params, X).
    Returns: ∇_W L = κ Σ_i x_i Σ_ℓ e_{iℓ} P_{(i,ℓ),r} (G1): one VJP of Φ, then Xᵀ G."""
    G = np.asarray(act.vjp(cache, SignedResidual.of(E, params.A)))
    G *= k
    return X.T @ G


def gradient(params: Params, X, Y, kappa=None) -> np.ndarray:
    """∇_W L (d×m), by G1 (no Jacobian is formed)."""
    X = as_inputs(params, X)
    Y = V.targets(Y, X, params.d_out)
    k = V.kappa(kappa, params.m)
    act, Phi, cache = features(params, X)
    E = k * (Phi @ params.A.T) - Y
    return gradient_from(params, X, E, k, act, cache)


def gd_step(params: Params, X, Y, eta, kappa=None) -> Params:
    """One gradient-descent step W ← W − η∇L(W)."""
    eta = V.positive_float(eta, "eta")
    return params.with_W(params.W - eta * gradient(params, X, Y, kappa))


def tangent_features(params: Params, X) -> np.ndarray:
    """P of G4, shape (n·d_out, m), rows (i, ℓ) row-major: the Jacobian of F_ℓ(x_i) w.r.t. w_r is
    κ P_{(i,ℓ),r} x_i."""
    X = as_inputs(params, X)
    n = X.shape[0]
    V.memory({"P": 8 * n * params.d_out * params.m, "softmax/logits": 16 * n * params.m},
             f"tangent_features (n = {n}, d_out = {params.d_out}, m = {params.m})")
    act, _, cache = features(params, X)
    return act.tangent(cache, params.A).reshape(n * params.d_out, params.m)


GRAM_BLOCK_BYTES = 512 << 10   # the Gram matrix X₁X₂ᵀ is formed in row blocks of at most this size (small
# blocks also keep OpenBLAS single-threaded for the thin products X₁[block] X₂ᵀ: at 64 rows × 4096 × d = 8
# it went multi-threaded and was 20× slower per row on a loaded 2-core machine)
FEATURE_BLOCK_ELEMS = 1 << 17  # entries of P per row block of the tangent features (1 MiB, an L2 cache; the
# softmax's masses S[block] Aᵀ then stay below OpenBLAS's 2^18 multiply-adds threshold for threading, so a
# block never starts BLAS threads from inside the pool)
BLAS_SMALL = 1 << 17           # multiply-adds of a product called from the pool (OpenBLAS threads from 2^18)
PARALLEL_MIN = 1 << 20         # below this many entries of P the symmetric NTK runs on the calling thread
MIRROR_BLOCK = 128             # columns of H per panel of the Hadamard-and-mirror pass (cache-sized transposes)

_BLAS = None                   # threadpoolctl's controller, made on first use (reads the BLAS thread count)


def default_threads() -> int:
    """The threads :func:`empirical_ntk` uses when not told: the BLAS thread count (``OPENBLAS_NUM_THREADS``,
    or a ``threadpoolctl`` limit such as a sweep's single-thread workers), at most the usable cores.

    Returns: a positive int."""
    global _BLAS
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        cores = max(1, os.cpu_count() or 1)
    try:
        if _BLAS is None:
            from threadpoolctl import ThreadpoolController

            _BLAS = ThreadpoolController()
        blas = [c.num_threads for c in _BLAS.lib_controllers if c.user_api == "blas"]
    except Exception:  # pragma: no cover - threadpoolctl is a core dependency; without it, the cores
        blas = []
    return max(1, min([cores] + blas))


def empirical_ntk(params: Params, X1, X2=None, kappa=None, threads: int | None = None) -> np.ndarray:
    """H(W) of G4, shape (n1·d_out, n2·d_out), rows and columns ordered (i, ℓ) row-major.

    H = (κ²/m) (P₁P₂ᵀ) ∘ (X₁X₂ᵀ ⊗ 11ᵀ): one BLAS product of the tangent features (a symmetric rank-k
    update when X2 is None, is X1 or equals it — P is then computed once); the Jacobian is never formed.
    Memory: H and the features P (freed before the Hadamard pass), and the Gram matrix only in blocks
    of GRAM_BLOCK_BYTES; a call that would need more than the available memory is refused up front.

    The symmetric path (:func:`symmetric_ntk`) computes P in row blocks and applies the Hadamard factor
    to one triangle in column panels, mirroring each panel as it goes; both run on a thread pool of the
    call's own (``threads``; numpy releases the GIL), over a partition fixed by the sizes alone, so the
    result is bit-identical for any thread count.

    Parameters: ``params`` the network; ``X1`` (n1×d) and ``X2`` (n2×d, or None for X1) the inputs;
    ``kappa`` κ (None: κ = m); ``threads`` the threads of the symmetric path (None:
    :func:`default_threads`; 1: the calling thread only).
    Returns: H as a C-contiguous float64 array (exactly symmetric on the symmetric path).
    """
    X1 = as_inputs(params, X1, "X1")
    k = V.kappa(kappa, params.m)
    threads = None if threads is None else V.positive_int(threads, "threads")
    q, m = params.d_out, params.m
    same = X2 is None or X2 is X1
    if not same:
        X2 = as_inputs(params, X2, "X2")
        same = X2.shape == X1.shape and np.array_equal(X2, X1)
    n1, n2 = X1.shape[0], (X1 if same else X2).shape[0]
    P_bytes = 8 * q * m * (n1 if same else n1 + n2)
    V.memory({"H": 8 * n1 * q * n2 * q, "P": P_bytes, "softmax/logits": 16 * m * max(n1, n2)},
             f"empirical_ntk (n1 = {n1}, n2 = {n2}, d_out = {q}, m = {m})")
    # κ²/m = c², c = κ/√m; when c² overflows (κ > 1.3e154·√m) it is applied as c·(… ∘ (c·G)), each
    # intermediate then at most max(1, c)·|H|, finite wherever H is
    c = k / np.sqrt(m)
    if same:
        return symmetric_ntk(params, X1, c, threads)
    H = tangent_features(params, X1) @ tangent_features(params, X2).T
    hadamard_gram(H, X1, X2, q, c)
    return H


def _pool(threads: int, tasks: int):
    """A thread pool for one call, closed by the caller's ``with`` (None when one thread suffices)."""
    if threads <= 1 or tasks <= 1:
        return None
    return ThreadPoolExecutor(max_workers=min(threads, tasks), thread_name_prefix="ntkcheck-ntk")


def _run_tasks(pool, fn, tasks) -> None:
    """fn(*t) for every t in ``tasks``: on ``pool`` (any order; each task writes its own part) or in order."""
    if pool is None:
        for t in tasks:
            fn(*t)
        return
    for f in [pool.submit(fn, *t) for t in tasks]:
        f.result()


def symmetric_ntk(params: Params, X: np.ndarray, c: float, threads: int | None = None) -> np.ndarray:
    """H(W) of G4 at checked inputs X against themselves, κ/√m = ``c``: the path of :func:`empirical_ntk`.

    1. the tangent features P (n·d' × m) in row blocks of FEATURE_BLOCK_ELEMS entries, each from its rows
       of Z = X W (formed in the block, in products small enough to stay on the calling thread) and the
       activation's own ``features``/``tangent`` (rows are independent), written into one preallocated P;
    2. one BLAS dsyrk: the lower triangle of P Pᵀ only;
    3. :func:`hadamard_mirror`: c²·(· ∘ (XXᵀ ⊗ 11ᵀ)) on the lower triangle, mirrored panel by panel.
    Steps 1 and 3 run on a pool of ``threads`` threads of this call (none below PARALLEL_MIN entries of P);
    the blocks and panels depend on the sizes only, and each is computed the same way whichever thread runs
    it, so H does not depend on ``threads``.

    Parameters: ``params``; ``X`` an n×d float64 array (checked by the caller); ``c`` = κ/√m; ``threads``
    (None: :func:`default_threads`).
    Returns: H, C-contiguous and exactly symmetric."""
    from scipy.linalg.blas import dsyrk

    act = get_activation(params.activation)
    n, q, m = X.shape[0], params.d_out, params.m
    rb = max(1, FEATURE_BLOCK_ELEMS // (q * m))
    blocks = [(a, min(n, a + rb)) for a in range(0, n, rb)]
    if n * q * m < PARALLEL_MIN:
        threads = 1
    elif threads is None:
        threads = default_threads()
    P = np.empty((n, q, m))
    W, A = params.W, params.A

    def rows(a, b):
        # Z = X[a:b] W in column chunks of at most BLAS_SMALL multiply-adds, of 2 columns or more but for a
        # ragged last one (numpy calls gemm for those, gemv only for a single column, whose threading starts
        # far lower): one X W of the whole X would start OpenBLAS's threads, whose idle spin after it
        # (about 0.1 s) takes a core from the features' pool threads
        cw = max(2, BLAS_SMALL // ((b - a) * X.shape[1]))
        Z = np.empty((b - a, m))
        for j in range(0, m, cw):
            np.matmul(X[a:b], W[:, j:j + cw], out=Z[:, j:j + cw])
        _, cache = act.features(Z)
        act.tangent(cache, A, out=P[a:b])

    with _pool(threads, len(blocks)) or contextlib.nullcontext() as pool:
        _run_tasks(pool, rows, blocks)
        # Fortran order: the upper triangle of U = (Pᵀ)ᵀ Pᵀ is the lower triangle of its C-order view Uᵀ
        H = dsyrk(1.0, P.reshape(n * q, m).T, trans=1).T
        del P
        hadamard_mirror(H, X, q, c, pool)
    return H


def hadamard_mirror(H: np.ndarray, X: np.ndarray, q: int, c: float, pool=None) -> None:
    """H ← c²·(H ∘ (XXᵀ ⊗ 11ᵀ)) in place from H's lower triangle (what dsyrk wrote), then mirrored: the
    result is exactly symmetric and the upper triangle on entry is ignored.  One task per column panel of
    MIRROR_BLOCK columns (whole samples): scale the panel's part of the lower triangle, its Gram factor
    X[rows] X[cols]ᵀ formed in blocks of GRAM_BLOCK_BYTES (and of BLAS_SMALL multiply-adds), then copy the panel's transpose into the
    panel's rows of the upper triangle.  Panels touch disjoint parts of H, so they run in any order or
    concurrently.  c² is folded into the Gram block when finite; otherwise c is applied twice, as in
    :func:`hadamard_gram`.

    Parameters: ``H`` (n·q × n·q, C-contiguous float64, modified in place); ``X`` the n×d inputs; ``q`` =
    d_out; ``c`` = κ/√m; ``pool`` a ThreadPoolExecutor or None (the calling thread).  Returns: None."""
    n = X.shape[0]
    with np.errstate(over="ignore"):
        c2 = c * c
    split = not np.isfinite(c2)
    H3 = H.reshape(n, q, n * q)
    cs = max(1, MIRROR_BLOCK // q)                       # samples per panel

    def panel(a, e):
        Xc = X[a:e]
        # at most GRAM_BLOCK_BYTES of Gram, and X[rows] Xcᵀ below OpenBLAS's 2^18 multiply-adds threshold
        # for threading (BLAS threads started from inside the pool would oversubscribe the cores)
        rows = max(1, min(GRAM_BLOCK_BYTES // (8 * (e - a)), BLAS_SMALL // (X.shape[1] * (e - a))))
        for r in range(a, n, rows):
            s = min(n, r + rows)
            G = X[r:s] @ Xc.T
            G *= c if split else c2
            if q == 1:
                H[r:s, a:e] *= G
            else:     # G ⊗ 11ᵀ by rows: each of the q rows of sample i takes G[i] repeated q times
                H3[r:s, :, a * q:e * q] *= np.repeat(G, q, axis=1)[:, None, :]
            if split:
                H[r * q:s * q, a * q:e * q] *= c
        lo, hi = a * q, e * q
        H[lo:hi, hi:] = H[hi:, lo:hi].T
        D = H[lo:hi, lo:hi]
        iu = np.triu_indices(hi - lo, 1)
        D[iu] = D.T[iu]

    _run_tasks(pool, panel, [(a, min(n, a + cs)) for a in range(0, n, cs)])


def ntk_from_features(params: Params, X: np.ndarray, act, cache, k: float) -> np.ndarray:
    """H(W) of G4 at X against itself from the features already computed (one pass of X W serves H and
    whatever else the caller needs from the same S: the theorem's draw).

    Parameters: ``params`` the network; ``X`` the n×d checked inputs; ``act``, ``cache`` from
    :func:`features` at (params, X); ``k`` κ.
    Returns: H of shape (n·d_out, n·d_out): one dsyrk of the features, then :func:`hadamard_mirror`, the
    arithmetic of :func:`empirical_ntk` (agreement to rounding: the features there are formed per row
    block)."""
    from scipy.linalg.blas import dsyrk

    n, q = X.shape[0], params.d_out
    P = act.tangent(cache, params.A).reshape(n * q, params.m)
    H = dsyrk(1.0, np.ascontiguousarray(P).T, trans=1).T
    del P
    hadamard_mirror(H, X, q, k / np.sqrt(params.m))
    return H


def hadamard_gram(H: np.ndarray, X1: np.ndarray, X2: np.ndarray, q: int, c: float) -> None:
    """H ← c²·(H ∘ (X₁X₂ᵀ ⊗ 11ᵀ)) in place, the Gram matrix formed in row blocks (no n1×n2 copy).  c² is
    folded into the Gram block when it is finite; otherwise (c > 1.3e154) c is applied twice,
    c·(H ∘ cG), so that no intermediate overflows where the result does not.

    Parameters: ``H`` (n1·q × n2·q, float64, modified in place); ``X1``, ``X2`` the inputs; ``q`` = d_out;
    ``c`` = κ/√m.  Returns: None."""
    n1, n2 = X1.shape[0], X2.shape[0]
    c2 = c * c
    split = not np.isfinite(c2)
    H4 = H.reshape(n1, q, n2, q)
    rows = max(1, GRAM_BLOCK_BYTES // (8 * n2))
    XT = np.ascontiguousarray(X2.T)
    for a in range(0, n1, rows):
        G = X1[a:a + rows] @ XT
        G *= c if split else c2
        if q == 1:
            H[a:a + rows] *= G
        else:
            H4[a:a + rows] *= G[:, None, :, None]
    if split:
        H *= c


def _symmetric_ntk(P: np.ndarray, Gs: np.ndarray, q: int, post: float = 1.0) -> np.ndarray:
    """post·(PPᵀ) ∘ (Gs ⊗ 11ᵀ): numpy computes a @ a.T with one syrk (the rank-k update) and mirrors the
    triangle in C; the Hadamard product is one in-place pass (and the scale ``post`` one more, if ≠ 1)."""
    H = P @ P.T
    n = Gs.shape[0]
    H.reshape(n, q, n, q)[...] *= Gs[:, None, :, None]
    if post != 1.0:
        H *= post
    return H


def ntk_jacobian(params: Params, X, kappa=None) -> np.ndarray:
    """The Jacobian J of vec F w.r.t. vec W (rows (i, ℓ), columns (j, r) row-major over W's (d, m)).

    Slow and memory-hungry (a factor d over P): for tests and small checks only; H = J Jᵀ / m.
    """
    X = as_inputs(params, X)
    k = V.kappa(kappa, params.m)
    V.memory({"J": 8 * X.shape[0] * params.d_out * params.d * params.m},
             f"ntk_jacobian (n = {X.shape[0]}, d_out = {params.d_out}, d = {params.d}, m = {params.m})")
    P = tangent_features(params, X).reshape(X.shape[0], params.d_out, params.m)
    J = k * P[:, :, None, :] * X[:, None, :, None]
    return J.reshape(X.shape[0] * params.d_out, params.d * params.m)
