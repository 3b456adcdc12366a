"""Streaming kernels at initialization: H(W(0)), Q(W(0)), S₀ = max_{i,r} S_{i,r} and F(W(0), X) of the
softmax network, accumulated over chunks of neurons in O((n d')²) memory whatever the width m is.

Neurons are drawn in canonical blocks of ``block`` neurons (default ``BLOCK``): block b's columns of W and A
come from ``default_rng(SeedSequence(entropy=seed, spawn_key=(b,)))``, so any block can be generated on its
own, and a processing chunk is a run of whole blocks — the result does not depend on the chunk size, the
number of workers or the merge order (up to rounding). ``materialize`` builds the same W and A in memory.
The draw is NOT the one of ``network.init_params`` with the same seed (that draws all of W at once).

Scheme "symmetric": the blocks cover the first m/2 neurons; neuron r + m/2 copies w_r with −a_r (the
partner is implicit). At W(0) then ⟨a_ℓ, S_i⟩ = 0 exactly (pairs cancel), so the centred sign is a itself,
paired neurons share S, F = 0 exactly and H = (κ²/m)·2·(VVᵀ)∘(G⊗11ᵀ)/(α_i α_j) with V = u∘a over the first
half only ("paired neurons share S"): half the flops of the in-memory product.

Scheme "iid", one pass (``passes=1``; ``partial``/``merge``/``finish``): a state holds, per row i, the
running max logit M_i and sums rescaled to it (online softmax): α_i = Σ_r e^{z_ir − M_i}, the signed masses
S_±^{(iℓ)} = Σ_{a_ℓr = ±1} u_ir, and the class sums T^{ss'}_{(iℓ),(jℓ')} = Σ_{r: a_ℓr = s, a_ℓ'r = s'} u_ir u_jr
(one BLAS product of the stacked [u∘[a_ℓ=+]; u∘[a_ℓ=−]] per chunk). The centred sign (G4's
a_ℓr − ⟨a_ℓ,S_i⟩) is 2S₋/α if a_ℓr = +1 and −2S₊/α if −1 (a sum of positive terms, G1/G4 without
cancellation); the global masses are only known at the end, where
PPᵀ = Σ_{s,s'} c^s_{iℓ} c^{s'}_{jℓ'} T^{ss'}/(α_i α_j), c^+ = 2S₋/α, c^- = −2S₊/α. Merging two states rescales
by e^{M − M'}; the merge is associative and commutative up to rounding. It costs ~4× the flops of the
in-memory product. ``passes=2`` (the default of ``streamed_ntk`` for iid): pass 1 accumulates M, α, S_±
(a cheap logits pass, merged the same way); pass 2 regenerates the blocks and accumulates PPᵀ from P of G4
with the cancellation-free centred signs (~1× the in-memory flops); distributed: ``stats``/``merge_stats``
(pass 1), then ``gram``/``merge_gram`` given the complete pass-1 state, then ``finish_two_pass``. Measured by
benchmarks/bench_streaming.py at n = 256, d = 32, d' = 8, m = 4096 (2 shared cores, median of 5
interleaved repeats, time relative to network.empirical_ntk of the materialized W, three runs): iid
passes=2 1.0–1.3×, iid passes=1 3.9–4.3×, symmetric 0.6–0.8×; tracemalloc peak 5.5 MB (iid) and 3.4 MB
(symmetric) from m = 2¹⁴ to 10⁶ at n = 16, d' = 4, where the in-memory path needs 40·m/2¹⁶ MB.

On a Dask cluster (``streamed_ntk(..., client=...)``) each chunk of whole blocks is one future and the
states are merged in a binary tree of futures (the same merges, so the same result up to rounding).

Q (B3): Q_ij = (κ²/m)|⟨x_i,x_j⟩|⟨S_i,S_j⟩ with ⟨S_i,S_j⟩ = Σ_r u_ir u_jr/(α_i α_j), read off the class sums
of output 0 (T^{++} + T^{--}, positive terms). S₀ (B4): the largest u_ir at the row max is 1, so
S₀ = max_i 1/α_i.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np

from ntkcheck.core import validate as V
from ntkcheck.core.network import SCHEMES, Params

BLOCK = 4096


# ------------------------------------------------------------------------------------------ drawing
def _seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _config(d, m, d_out, sigma, scheme, seed, block):
    d = V.positive_int(d, "d")
    m = V.positive_int(m, "m")
    d_out = d if d_out is None else V.positive_int(d_out, "d_out")
    sigma = V.positive_float(sigma, "sigma")
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if scheme == "symmetric" and m % 2:
        raise ValueError(f"the symmetric scheme needs an even width m, got m = {m}")
    seed = _seed(seed)
    block = V.positive_int(block, "block")
    return (d, m, d_out, sigma, scheme, seed, block)


def _drawn(cfg) -> int:
    """How many neurons the blocks draw: m (iid) or m/2 (symmetric, the partners are implicit)."""
    m, scheme = cfg[1], cfg[4]
    return m if scheme == "iid" else m // 2


def n_blocks(m, scheme="iid", block=BLOCK) -> int:
    """Number of canonical blocks of a width-m network."""
    cfg = _config(1, m, 1, 1.0, scheme, 0, block)
    return -(-_drawn(cfg) // cfg[6])


def _block(cfg, b: int):
    """Columns of W (d×w) and A (d_out×w) of block b (for symmetric: of the first half)."""
    d, _, d_out, sigma, _, seed, block = cfg
    lo = b * block
    w = min(block, _drawn(cfg) - lo)
    rng = np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(b,)))
    W = sigma * rng.standard_normal((d, w))
    A = rng.choice(np.array([-1.0, 1.0]), size=(d_out, w))
    return W, A


def materialize(d, m, d_out=None, sigma=1.0, scheme="iid", seed=0, block=BLOCK) -> Params:
    """The W(0), A that the streaming functions draw, concatenated in memory (for tests and small m)."""
    cfg = _config(d, m, d_out, sigma, scheme, seed, block)
    parts = [_block(cfg, b) for b in range(-(-_drawn(cfg) // cfg[6]))]
    W = np.concatenate([p[0] for p in parts], axis=1)
    A = np.concatenate([p[1] for p in parts], axis=1)
    if scheme == "symmetric":
        W = np.concatenate([W, W], axis=1)
        A = np.concatenate([A, -A], axis=1)
    return Params(W=W, A=A, sigma=cfg[3], scheme=scheme, seed=cfg[5], activation="softmax")


# ------------------------------------------------------------------------------------------ states
@dataclass
class PartialState:
    """Sums over a set of blocks, rescaled to the running row max ``M`` (see the module docstring).

    ``T`` is (2nd')² for iid (rows (s, i, ℓ), s = + then −) and (nd')² = VVᵀ for symmetric; ``Sp``, ``Sm``
    (n, d') are the signed masses (None for symmetric, where they are equal by construction).
    """

    cfg: tuple
    X: np.ndarray
    blocks: frozenset
    M: np.ndarray
    alpha: np.ndarray
    T: np.ndarray
    Sp: np.ndarray | None = None
    Sm: np.ndarray | None = None


@dataclass
class StreamResult:
    """H (nd'×nd', G4), Q (n×n, B3), S0 = max S (B4), F = F(W(0), X) (n×d'), and per row the max logit
    M and α = Σ_r e^{z_ir − M_i} over all m neurons (so S_ir = e^{z_ir − M_i}/α_i)."""

    H: np.ndarray
    Q: np.ndarray
    S0: float
    F: np.ndarray
    alpha: np.ndarray
    M: np.ndarray
    m: int
    d_out: int
    kappa: float
    scheme: str
    info: dict = field(default_factory=dict)


def _exp_shift(Z: np.ndarray):
    if not np.all(np.isfinite(Z)):
        raise ValueError("X @ W overflows float64 (non-finite logits); scale X or sigma down")
    M = Z.max(axis=1)
    U = Z - M[:, None]
    np.exp(U, out=U)
    return M, U


def _gram(U: np.ndarray) -> np.ndarray:
    return U @ U.T  # numpy uses syrk (one triangle, mirrored) for a @ a.T


def _block_stats(cfg, X, b):
    """(M, u, A, α, S₊, S₋) of one block at its own max; for symmetric α counts both partners."""
    W, A = _block(cfg, b)
    with np.errstate(over="ignore", invalid="ignore"):
        Z = X @ W
    M, U = _exp_shift(Z)
    pos = A > 0
    if cfg[4] == "symmetric":
        return M, U, A, 2.0 * U.sum(axis=1), None, None
    q = A.shape[0]
    Spm = U @ np.concatenate([pos, ~pos]).T.astype(float)  # sums of positive terms: (S₊ | S₋) unnormalized
    return M, U, A, U.sum(axis=1), Spm[:, :q], Spm[:, q:]


def _one_block(cfg, X, b) -> PartialState:
    return _chunk_state(cfg, X, [b])


def _rows(state: PartialState, f: np.ndarray) -> np.ndarray:
    """f_i expanded to T's row index: (i, ℓ) for symmetric, (s, i, ℓ) for iid."""
    q = state.cfg[2]
    r = np.repeat(f, q)
    return r if state.Sp is None else np.concatenate([r, r])


def _rescale(state: PartialState, M: np.ndarray) -> None:
    f = np.exp(state.M - M)  # ≤ 1: no overflow; underflow to 0 drops only negligible mass
    state.alpha *= f
    if state.Sp is not None:
        state.Sp *= f[:, None]
        state.Sm *= f[:, None]
    fr = _rows(state, f)
    state.T *= fr[:, None]
    state.T *= fr[None, :]
    state.M = M


def merge(a: PartialState, b: PartialState) -> PartialState:
    """The state of the union of two disjoint sets of blocks (a new object; the inputs are not changed)."""
    if not isinstance(a, PartialState) or not isinstance(b, PartialState):
        raise ValueError("merge needs two PartialState objects from streaming.partial")
    if a.cfg != b.cfg or a.X.shape != b.X.shape or not np.array_equal(a.X, b.X):
        raise ValueError("merge: the states come from different networks or data X")
    if a.blocks & b.blocks:
        raise ValueError(f"merge: blocks {sorted(a.blocks & b.blocks)} are in both states")
    M = np.maximum(a.M, b.M)
    out = PartialState(a.cfg, a.X, a.blocks | b.blocks, a.M.copy(), a.alpha.copy(), a.T.copy(),
                       None if a.Sp is None else a.Sp.copy(), None if a.Sm is None else a.Sm.copy())
    _rescale(out, M)
    _add_rescaled(out, b)
    return out


def _add_rescaled(acc: PartialState, b: PartialState) -> None:
    """acc += b rescaled to acc.M (acc.M ≥ b.M elementwise), in place on acc, without copying b.T."""
    f = np.exp(b.M - acc.M)
    acc.alpha += f * b.alpha
    if acc.Sp is not None:
        acc.Sp += f[:, None] * b.Sp
        acc.Sm += f[:, None] * b.Sm
    fr = _rows(acc, f)
    acc.T += b.T * fr[:, None] * fr[None, :]
    acc.blocks = acc.blocks | b.blocks


def _absorb(acc: PartialState | None, b: PartialState) -> PartialState:
    """acc ← merge(acc, b) in place (the streaming loop: no copy of acc.T)."""
    if acc is None:
        return b
    M = np.maximum(acc.M, b.M)
    _rescale(acc, M)
    _add_rescaled(acc, b)
    return acc


def _block_list(blocks, nb: int) -> list:
    try:
        bl = [int(b) for b in blocks]
    except (TypeError, ValueError):
        raise ValueError(f"blocks must be an iterable of block indices, got {blocks!r}") from None
    if not bl:
        raise ValueError("blocks must not be empty")
    if len(set(bl)) != len(bl) or any(b < 0 or b >= nb for b in bl):
        raise ValueError(f"blocks must be distinct indices in [0, {nb}), got {sorted(bl)}")
    return bl


def partial(X, blocks, m, *, d_out=None, sigma=1.0, scheme="iid", seed=0, block=BLOCK) -> PartialState:
    """One-pass state of the given blocks (e.g. one worker's share), at the network (m, d_out, σ, scheme,
    seed, block) on data X."""
    X = V.matrix(X, "X")
    cfg = _config(X.shape[1], m, d_out, sigma, scheme, seed, block)
    acc = None
    for b in _block_list(blocks, -(-_drawn(cfg) // cfg[6])):
        acc = _absorb(acc, _one_block(cfg, X, b))
    return acc


def _qmatrix(X, ss, m, k):
    return (k * k / m) * np.abs(X @ X.T) * ss


def finish(state: PartialState, kappa=None) -> StreamResult:
    """H, Q, S₀, F from the state of ALL blocks (``kappa=None`` means κ = m)."""
    if not isinstance(state, PartialState):
        raise ValueError("state must be a PartialState from streaming.partial or merge")
    d, m, q, _, scheme, _, _ = state.cfg
    nb = -(-_drawn(state.cfg) // state.cfg[6])
    if state.blocks != frozenset(range(nb)):
        raise ValueError(f"state covers {len(state.blocks)} of the {nb} blocks; merge all before finish")
    k = float(m) if kappa is None else V.positive_float(kappa, "kappa")
    X = state.X
    n = X.shape[0]
    alpha = state.alpha
    ar = np.repeat(alpha, q)
    if scheme == "symmetric":
        PP = state.T * (2.0 / ar)[:, None] / ar[None, :]
        ss = 2.0 * state.T.reshape(n, q, n, q)[:, 0, :, 0] / alpha[:, None] / alpha[None, :]
        F = np.zeros((n, q))
    else:
        cp = (2.0 * state.Sm / alpha[:, None]).ravel()  # centred sign where a = +1
        cm = (-2.0 * state.Sp / alpha[:, None]).ravel()  # where a = −1
        nq = n * q
        T = state.T
        PP = (cp[:, None] * T[:nq, :nq] * cp[None, :] + cp[:, None] * T[:nq, nq:] * cm[None, :]
              + cm[:, None] * T[nq:, :nq] * cp[None, :] + cm[:, None] * T[nq:, nq:] * cm[None, :])
        PP /= ar[:, None]
        PP /= ar[None, :]
        T4 = T.reshape(2, n, q, 2, n, q)
        ss = (T4[0, :, 0, 0, :, 0] + T4[1, :, 0, 1, :, 0]) / alpha[:, None] / alpha[None, :]
        F = k * (state.Sp - state.Sm) / alpha[:, None]
    H = PP
    H.reshape(n, q, n, q)[...] *= ((k * k / m) * (X @ X.T))[:, None, :, None]
    return StreamResult(H=H, Q=_qmatrix(X, ss, m, k), S0=float(np.max(1.0 / alpha)), F=F, alpha=alpha.copy(),
                        M=state.M.copy(), m=m, d_out=q, kappa=k, scheme=scheme)


# ------------------------------------------------------------------------------------------ two passes
@dataclass
class Stats:
    """Pass 1 of the two-pass route (iid): per row the max logit M, α and the unnormalized signed masses
    S_± (n, d') over a set of blocks, rescaled to M."""

    cfg: tuple
    X: np.ndarray
    blocks: frozenset
    M: np.ndarray
    alpha: np.ndarray
    Sp: np.ndarray
    Sm: np.ndarray


@dataclass
class GramState:
    """Pass 2: Σ over a set of blocks of P Pᵀ (nd'×nd', P of G4 at the global S) and S Sᵀ (n×n)."""

    cfg: tuple
    X: np.ndarray
    blocks: frozenset
    PP: np.ndarray
    SS: np.ndarray


def _same(a, b, what):
    if a.cfg != b.cfg or a.X.shape != b.X.shape or not np.array_equal(a.X, b.X):
        raise ValueError(f"{what}: the states come from different networks or data X")
    if a.blocks & b.blocks:
        raise ValueError(f"{what}: blocks {sorted(a.blocks & b.blocks)} are in both states")


def _complete(state, what):
    nb = -(-_drawn(state.cfg) // state.cfg[6])
    if state.blocks != frozenset(range(nb)):
        raise ValueError(f"{what} covers {len(state.blocks)} of the {nb} blocks; merge all first")


def stats(X, blocks, m, *, d_out=None, sigma=1.0, seed=0, block=BLOCK) -> Stats:
    """Pass 1 (iid) over the given blocks: M, α, S_±."""
    X = V.matrix(X, "X")
    cfg = _config(X.shape[1], m, d_out, sigma, "iid", seed, block)
    acc = None
    for b in _block_list(blocks, -(-_drawn(cfg) // cfg[6])):
        Mb, _, _, ab, Spb, Smb = _block_stats(cfg, X, b)
        st = Stats(cfg, X, frozenset([b]), Mb, ab, Spb, Smb)
        acc = st if acc is None else merge_stats(acc, st)
    return acc


def merge_stats(a: Stats, b: Stats) -> Stats:
    """Online-softmax merge of two pass-1 states of disjoint block sets (rescaled by e^{M − M'})."""
    if not isinstance(a, Stats) or not isinstance(b, Stats):
        raise ValueError("merge_stats needs two Stats objects from streaming.stats")
    _same(a, b, "merge_stats")
    M = np.maximum(a.M, b.M)
    f, g = np.exp(a.M - M), np.exp(b.M - M)
    return Stats(a.cfg, a.X, a.blocks | b.blocks, M, f * a.alpha + g * b.alpha,
                 f[:, None] * a.Sp + g[:, None] * b.Sp, f[:, None] * a.Sm + g[:, None] * b.Sm)


def gram(st: Stats, blocks) -> GramState:
    """Pass 2 over the given blocks (one BLAS product for all of them), given the complete pass-1 ``st``:
    P = S·c^± with c^+ = 2S₋, c^- = −2S₊ (G4's centred signs as sums of positive terms)."""
    if not isinstance(st, Stats):
        raise ValueError("st must be a Stats object from streaming.stats / merge_stats")
    _complete(st, "st")
    cfg, X = st.cfg, st.X
    bl = _block_list(blocks, -(-_drawn(cfg) // cfg[6]))
    n, q = X.shape[0], cfg[2]
    Ws, As = zip(*(_block(cfg, b) for b in bl))
    W, A = np.concatenate(Ws, axis=1), np.concatenate(As, axis=1)
    cp = 2.0 * st.Sm / st.alpha[:, None]  # (n, q): centred sign where a = +1, positive terms only
    cm = -2.0 * st.Sp / st.alpha[:, None]
    Z = X @ W
    Z -= st.M[:, None]
    S = np.exp(Z, out=Z)
    S /= st.alpha[:, None]
    pos = A > 0
    # P = S·c^+ + S·c^- with exactly one of the two terms nonzero (x + 0 = x: the split adds no rounding)
    P = np.empty((n, q, S.shape[1]))
    np.multiply(S[:, None, :], pos[None], out=P)
    P *= cp[:, :, None]
    N = S[:, None, :] * ~pos[None]
    N *= cm[:, :, None]
    P += N
    del N
    return GramState(cfg, X, frozenset(bl), _gram(P.reshape(n * q, -1)), _gram(S))


def merge_gram(a: GramState, b: GramState, *, inplace: bool = False) -> GramState:
    """Sum of two pass-2 states of disjoint block sets (plain sums: the global M is already applied)."""
    if not isinstance(a, GramState) or not isinstance(b, GramState):
        raise ValueError("merge_gram needs two GramState objects from streaming.gram")
    _same(a, b, "merge_gram")
    if inplace:
        a.PP += b.PP
        a.SS += b.SS
        a.blocks = a.blocks | b.blocks
        return a
    return GramState(a.cfg, a.X, a.blocks | b.blocks, a.PP + b.PP, a.SS + b.SS)


def finish_two_pass(st: Stats, g: GramState, kappa=None, *, inplace: bool = False) -> StreamResult:
    """H, Q, S₀, F from the complete pass-1 and pass-2 states (``kappa=None`` means κ = m); with
    ``inplace`` H is built in g.PP's memory (no second nd'×nd' array)."""
    if not isinstance(st, Stats) or not isinstance(g, GramState):
        raise ValueError("finish_two_pass needs a Stats and a GramState")
    if g.cfg != st.cfg or not np.array_equal(g.X, st.X):
        raise ValueError("finish_two_pass: the states come from different networks or data X")
    _complete(st, "st")
    _complete(g, "g")
    _, m, q, _, scheme, _, _ = st.cfg
    k = float(m) if kappa is None else V.positive_float(kappa, "kappa")
    X, n = st.X, st.X.shape[0]
    H = g.PP if inplace else g.PP.copy()
    H.reshape(n, q, n, q)[...] *= ((k * k / m) * (X @ X.T))[:, None, :, None]
    return StreamResult(H=H, Q=_qmatrix(X, g.SS, m, k), S0=float(np.max(1.0 / st.alpha)),
                        F=k * (st.Sp - st.Sm) / st.alpha[:, None], alpha=st.alpha.copy(), M=st.M.copy(), m=m,
                        d_out=q, kappa=k, scheme=scheme, info={"passes": 2})


def _two_pass(cfg, X, chunk_blocks, k) -> StreamResult:
    d, m, q, sigma, _, seed, block = cfg
    nb = -(-_drawn(cfg) // block)
    st = stats(X, range(nb), m, d_out=q, sigma=sigma, seed=seed, block=block)
    acc = None
    for c0 in range(0, nb, chunk_blocks):
        g = gram(st, range(c0, min(nb, c0 + chunk_blocks)))
        acc = g if acc is None else merge_gram(acc, g, inplace=True)
    return finish_two_pass(st, acc, kappa=k, inplace=True)


# ------------------------------------------------------------------------------------------ driver
def streamed_ntk(X, m, *, d_out=None, sigma=1.0, scheme="iid", seed=0, kappa=None, chunk_blocks=1,
                 block=BLOCK, passes=None, client=None) -> StreamResult:
    """H(W(0)), Q(W(0)), S₀, F(W(0), X) of the width-m softmax network drawn blockwise (``materialize``),
    streaming ``chunk_blocks`` blocks at a time in O((n d')² + n d'·chunk) memory.

    ``passes``: for iid, 2 (default; ~1× the in-memory flops plus a cheap logits pass) or 1 (one pass,
    the ``partial``/``merge``/``finish`` state, ~4× the flops). The symmetric scheme always uses its
    one-pass fast path (half the in-memory flops) and ignores ``passes`` except to validate it.
    ``client``: a ``distributed.Client`` (e.g. ``ntkcheck.sweep.engine_client``) — then every chunk of
    ``chunk_blocks`` whole blocks is a future on the cluster and the states are merged in a binary tree
    of futures (:func:`_on_cluster`); the result equals the serial one up to rounding (the merge is
    associative). Returns a :class:`StreamResult`.
    """
    X = V.matrix(X, "X")
    cfg = _config(X.shape[1], m, d_out, sigma, scheme, seed, block)
    chunk_blocks = V.positive_int(chunk_blocks, "chunk_blocks")
    if passes is None:
        passes = 2
    if passes not in (1, 2) or isinstance(passes, bool):
        raise ValueError(f"passes must be 1 or 2, got {passes!r}")
    k = float(cfg[1]) if kappa is None else V.positive_float(kappa, "kappa")
    nb = -(-_drawn(cfg) // cfg[6])
    if client is not None:
        return _on_cluster(client, cfg, X, chunk_blocks, k, passes)
    if scheme == "iid" and passes == 2:
        return _two_pass(cfg, X, chunk_blocks, k)
    acc = None
    for c0 in range(0, nb, chunk_blocks):
        acc = _absorb(acc, _chunk_state(cfg, X, range(c0, min(nb, c0 + chunk_blocks))))
    res = finish(acc, kappa=k)
    res.info["passes"] = 1
    return res


def _chunk_state(cfg, X, blocks) -> PartialState:
    """One-pass state of a run of whole blocks, with ONE Gram product over the chunk: each block is
    rescaled to the chunk's row max before the product (the same sums as merging the blocks one by one)."""
    stats = [_block_stats(cfg, X, b) for b in blocks]
    M = np.max([s[0] for s in stats], axis=0)
    n, q = X.shape[0], cfg[2]
    Us, As, alpha = [], [], np.zeros(n)
    Sp = None if cfg[4] == "symmetric" else np.zeros((n, q))
    Sm = None if Sp is None else np.zeros((n, q))
    for Mb, U, A, ab, Spb, Smb in stats:
        f = np.exp(Mb - M)
        U *= f[:, None]
        alpha += f * ab
        if Sp is not None:
            Sp += f[:, None] * Spb
            Sm += f[:, None] * Smb
        Us.append(U)
        As.append(A)
    U, A = np.concatenate(Us, axis=1), np.concatenate(As, axis=1)
    if cfg[4] == "symmetric":
        T = _gram((U[:, None, :] * A[None, :, :]).reshape(n * q, -1))
    else:
        pos = A > 0
        St = np.zeros((2, n, q, U.shape[1]))
        np.multiply(U[:, None, :], pos[None], out=St[0])
        np.multiply(U[:, None, :], ~pos[None], out=St[1])
        T = _gram(St.reshape(2 * n * q, -1))
    return PartialState(cfg, X, frozenset(blocks), M, alpha, T, Sp, Sm)


# ------------------------------------------------------------------------------------------ on a cluster
def _tree(client, merge_fn, futures: list):
    """Merge a list of futures pairwise, level by level (a binary tree: depth log₂ of the chunks)."""
    while len(futures) > 1:
        nxt = [client.submit(merge_fn, futures[i], futures[i + 1], pure=False)
               for i in range(0, len(futures) - 1, 2)]
        if len(futures) % 2:
            nxt.append(futures[-1])
        futures = nxt
    return futures[0]


def _stats_chunk(cfg, X, blocks) -> Stats:
    _, m, q, sigma, _, seed, block = cfg
    return stats(X, blocks, m, d_out=q, sigma=sigma, seed=seed, block=block)


def _on_cluster(client, cfg, X, chunk_blocks, k, passes) -> StreamResult:
    """``streamed_ntk`` with each chunk (a run of ``chunk_blocks`` whole canonical blocks) a future and the
    chunk states tree-merged on the cluster; only the final state comes back (O((n d')²))."""
    nb = -(-_drawn(cfg) // cfg[6])
    chunks = [list(range(c0, min(nb, c0 + chunk_blocks))) for c0 in range(0, nb, chunk_blocks)]
    Xf = client.scatter(X, broadcast=True, hash=False)  # a unique key: no clash with a released one
    if cfg[4] == "iid" and passes == 2:
        st = _tree(client, merge_stats, [client.submit(_stats_chunk, cfg, Xf, c, pure=False) for c in chunks])
        g = _tree(client, merge_gram, [client.submit(gram, st, c, pure=False) for c in chunks])
        st_local, g_local = client.gather([st, g])
        return finish_two_pass(st_local, g_local, kappa=k, inplace=True)
    acc = _tree(client, merge, [client.submit(_chunk_state, cfg, Xf, c, pure=False) for c in chunks])
    res = finish(acc.result(), kappa=k)
    res.info["passes"] = 1
    return res
