"""C2 convergence-certificate: T1' (linear-convergence, conditional on the draw) proved for one concrete
instance (X, Y, W(0), A, κ, η), or each failing hypothesis named with its rigorous margin.

W(0) and A are the package's draw (``ntkcheck.core.network.init_params``, symmetric scheme by default), so the
instance is exactly the one every other command uses with that seed.  The sums over the m neurons take one of
two routes (:func:`choose_method`): ball arithmetic over all n·m entries, described below, or float64 with
a-priori rounding bounds (:mod:`ntkcheck.certify.fp64`: the package's own exp with a proved error bound, fixed-order
numpy sums (no BLAS) of nonnegative terms with Higham's γ_k), whose balls then enter the same steps.  The ball route is ball
arithmetic (python-flint ``arb``, 128 bits, outward rounding, exp included) on the exact float64 inputs:

* softmax features S_{i,r} = exp(z_{i,r} − c_i)/Σ_r exp(z_{i,r} − c_i), z = XW (the definition; any shift
  c_i gives the same S);
* the tangent features P (export ``ntk_factorization.tangent_feature``) with the centred signs formed without
  cancellation, a − ⟨a,S⟩ = 2S₋ (a = +1) or −2S₊ (a = −1), S± the sums of the positive balls S_r over the
  neurons of each sign; H(W(0)) = ntk_scale ∘ (PPᵀ) (G4),
  Q (export ``ntk_perturbation.Q_entry``, B3), S₀ = max S, ‖e(0)‖₂ with e = κ S Aᵀ − Y;
* λ₀ = λ_min(H(W(0))) and ‖H(W(0))‖₂ = λ_max (H = JJᵀ/m ⪰ 0, G4), ‖Q‖₂ = λ_max(Q) (Q symmetric and
  entrywise ≥ 0, Perron–Frobenius), each enclosed by LDLᵀ inertia tests in ball arithmetic;
* R₀ = min(the lower end of the ball of R₀,max (export ``R0_max_T1p``)·(1 − 10⁻⁹), ``R0_iv_best``);
  β = B4's bound (export ``hessian_bound.hessian_norm_bound``) times B2's e^{2R₀} (``softmax_ratio.ratio_upper``);
  η (unless given) = the lower end of the ball of min((iii) caps)·(1 − 10⁻⁹);
* (λ₀ > 0), (ii), (iii), (iv) decided as ball inequalities (export sides from proofs/linear_convergence.py):
  "holds" when certain, "fails" when its negation is certain, else "undecided".

The float64 gradient-descent run afterwards is a consistency check of the certified envelope, not part
of the proof.
"""
from __future__ import annotations

import math
import time
from fractions import Fraction

import numpy as np

import ntkcheck as nk
from ntkcheck.core import validate as V
from ntkcheck.certify.arb import (arb, arb_mat, compiled_arb, endpoints, lower, require_flint, to_ball, upper,
                                  workprec)
from ntkcheck.certify.kernel import ldl_enclosure

PREC = 128
MAX_PREC = 1024
BLOCK = 8192                 # neurons per block of ball products (bounds memory)
SHRINK = 1 - 1e-9            # R₀ and η are taken a relative 1e-9 inside the largest admissible value
MAX_TERMS = 10**8            # n·m above which the ball computation is refused (time)
STORE_MAX = 4 * 10**6        # n·m up to which the softmax balls are kept between passes (memory)


def _f(module: str, name: str):
    return compiled_arb(module, name)


def exact_unit_ball(X: np.ndarray, name: str = "X") -> None:
    """(A1) decided exactly: Σ_j x_ij² ≤ 1 for every row, in rational arithmetic (no tolerance)."""
    for i, row in enumerate(X):
        sq = sum(Fraction(float(v)) ** 2 for v in row)
        if sq > 1:
            raise ValueError(f"hypothesis (A1) violated: ‖{name}[{i}]‖₂² = 1 + {float(sq - 1):.3g} > 1 exactly "
                             "(B2–B6 need ‖x_i‖₂ ≤ 1; scale the rows down, e.g. by 1 − 1e-15)")


def _ball_interval(lo: Fraction, hi: Fraction):
    return to_ball(lo).union(to_ball(hi))


def _eig_range(H):
    """Enclosures (λ_min ball, λ_max ball) of a symmetric ball matrix (list of lists), or None where the
    inertia tests did not decide."""
    n = len(H)
    r_min = ldl_enclosure(H)
    neg = [[-H[i][j] for j in range(n)] for i in range(n)]
    r_max = ldl_enclosure(neg)
    lmin = None if r_min["lo"] is None or r_min["hi"] is None else _ball_interval(r_min["lo"], r_min["hi"])
    lmax = None if r_max["lo"] is None or r_max["hi"] is None else _ball_interval(-r_max["hi"], -r_max["lo"])
    return lmin, lmax, r_min, r_max


def features(X: np.ndarray, W: np.ndarray, A: np.ndarray, kappa: float):
    """Ball enclosures at the working precision, streamed over blocks of neurons: S0 ball, F (n×d' balls),
    PPᵀ (arb_mat, rows (i, ℓ)), SSᵀ (arb_mat).  The softmax blocks are kept between passes when n·m ≤
    STORE_MAX, else recomputed (the same Arb operations give the same balls)."""
    n, m, q = X.shape[0], W.shape[1], A.shape[0]
    tf = _f("ntk_factorization", "tangent_feature").raw
    Xa = arb_mat(X.tolist())
    blocks = [(r0, min(m, r0 + BLOCK)) for r0 in range(0, m, BLOCK)]

    def logits(r0, r1):
        Z = Xa * arb_mat(W[:, r0:r1].tolist())
        return [[Z[i, k] for k in range(r1 - r0)] for i in range(n)]

    # the shift c_i: the largest logit midpoint (any double gives the same S; this one is computed by Arb,
    # so a re-check on another machine reproduces every digit)
    shift = [-math.inf] * n
    for r0, r1 in blocks:
        for i, row in enumerate(logits(r0, r1)):
            shift[i] = max(shift[i], max(float(z.mid()) for z in row))
    c = [arb(v) for v in shift]

    def exps(r0, r1):
        return [[(z - c[i]).exp() for z in row] for i, row in enumerate(logits(r0, r1))]

    alpha = [arb(0)] * n
    store = n * m <= STORE_MAX
    cache = {}
    for r0, r1 in blocks:
        U = exps(r0, r1)
        for i in range(n):
            acc = arb(0)
            for u in U[i]:
                acc += u
            alpha[i] = alpha[i] + acc
        if store:
            cache[r0] = U
    inv = [1 / a for a in alpha]

    def softmax(r0, r1):
        U = cache[r0] if store else exps(r0, r1)
        return [[u * inv[i] for u in row] for i, row in enumerate(U)]

    # ⟨a_ℓ, S_i⟩ and the centred signs a_{ℓ,r} − ⟨a_ℓ,S_i⟩ from the masses S₊ = Σ_{a=+1} S, S₋ = Σ_{a=−1} S
    # (sums of positive terms).  For a ∈ {±1}: a − ⟨a,S⟩ = 2S₋ where a = +1 and −2S₊ where a = −1 (Σ_r S_r = 1,
    # the book's Setting part); formed so, a centred sign keeps its relative accuracy when the softmax mass
    # sits on neurons of one sign, where the subtraction a − ⟨a,S⟩ in balls would keep only its absolute one.
    S0 = None
    SS = arb_mat(n, n)
    Sp = [[arb(0)] * q for _ in range(n)]
    Sn = [[arb(0)] * q for _ in range(n)]
    pm = bool(np.all(np.abs(A) == 1))
    pos = (A > 0).astype(np.float64)
    for r0, r1 in blocks:
        Sb = softmax(r0, r1)
        for row in Sb:
            for v in row:
                S0 = v if S0 is None else S0.max(v)
        Sm = arb_mat(n, r1 - r0, [v for row in Sb for v in row])
        SP = Sm * arb_mat(pos[:, r0:r1].T.tolist())
        SN = Sm * arb_mat((1.0 - pos[:, r0:r1]).T.tolist()) if pm else Sm * arb_mat(A[:, r0:r1].T.tolist())
        for i in range(n):
            for l in range(q):
                Sp[i][l] = Sp[i][l] + SP[i, l]
                Sn[i][l] = Sn[i][l] + SN[i, l]
        SS = SS + Sm * Sm.transpose()
        if store:
            cache[r0] = Sb
    aS = [[Sp[i][l] - Sn[i][l] for l in range(q)] for i in range(n)] if pm else Sn
    store_S = store
    PP = arb_mat(n * q, n * q)
    zero = arb(0)
    a_b = [[arb(float(v)) for v in A[l]] for l in range(q)]
    if pm:   # the centred sign of neuron r for (i, ℓ): 2S₋ if a_{ℓ,r} = +1, −2S₊ if −1 (exact identity)
        cen = [[(2 * Sn[i][l], -2 * Sp[i][l]) for l in range(q)] for i in range(n)]
    for r0, r1 in blocks:
        Sb = cache[r0] if store_S else softmax(r0, r1)
        entries = []
        for i in range(n):
            Si = Sb[i]
            for l in range(q):
                al = A[l]
                if pm:    # the export S_r·(c − 0) with c the centred sign formed above
                    cp, cm = cen[i][l]
                    entries.extend(tf(Si[k], cp if al[r0 + k] > 0 else cm, zero) for k in range(r1 - r0))
                else:     # general A: the export S_r·(a_{ℓ,r} − ⟨a_ℓ,S_i⟩) by subtraction
                    abl, asl = a_b[l], aS[i][l]
                    entries.extend(tf(Si[k], abl[r0 + k], asl) for k in range(r1 - r0))
        Pb = arb_mat(n * q, r1 - r0, entries)
        PP = PP + Pb * Pb.transpose()
        cache.pop(r0, None)
    k = to_ball(kappa)
    F = [[k * aS[i][l] for l in range(q)] for i in range(n)]
    return S0, F, PP, SS


def _verdict(lhs, rhs) -> str:
    """lhs ≤ rhs for balls: "holds" (certain), "fails" (lhs > rhs certain), "undecided"."""
    if lhs <= rhs:
        return "holds"
    if lhs > rhs:
        return "fails"
    return "undecided"


METHODS = ("auto", "ball", "float64")
AUTO_BALL_MAX = 10**5        # n·m up to which "auto" takes the ball route (above it: float64 with γ_k bounds)
MAX_TERMS_FP64 = 4 * 10**9   # n·m above which the float64 route is refused (time: about an hour)

BALL_METHODS = {
    "S0": "ball arithmetic (arb) over all n·m softmax entries",
    "e0_norm": "ball arithmetic (arb): e = κ S Aᵀ − Y, √(Σe²)",
    "H_entries": "ball arithmetic (arb): the export tangent_feature per neuron, PPᵀ as ball matrix products",
}
def _fp64_methods() -> dict:
    from ntkcheck.certify import fp64 as F

    levels = " × ".join(str(k) for k in F.ROW_LEVELS)
    return {
        "S0": "float64 exps with a proved error bound (this package's exp: +, ×, ldexp), max over neurons; "
              "the division by α_i in ball arithmetic",
        "e0_norm": f"float64 sums Σ_{{a=±1}} u_{{i,r}} in levels of {levels} terms with the a-priori bound γ_k per "
                   "level and (1 ± ε_u) for the exps; ⟨a,S⟩ = S₊ − S₋ and e = κ⟨a,S⟩ − Y in ball arithmetic",
        "H_entries": f"float64 Gram sums (numpy, fixed order, no BLAS) of nonnegative exps per sign class, with the a-priori bound γ_k, "
                     f"k = {F.SUB} per product, γ_{F.NSUB} for the sum of {F.NSUB} products, (1 ± ε_u)² for the exps "
                     "and the underflow terms; the centred signs (export tangent_feature) and G4's scale in ball "
                     "arithmetic",
    }


COMMON_METHODS = {
    "lambda0": "LDLᵀ inertia tests in ball arithmetic on the ball enclosure of H(W(0)) (G4 exports)",
    "H_norm": "λ_max(H) (H ⪰ 0 by G4) by LDLᵀ inertia tests of −H in ball arithmetic",
    "Q_norm": "λ_max(Q) (Q ≥ 0 entrywise, symmetric: Perron–Frobenius) by LDLᵀ inertia tests",
    "R0_max": "export R0_max_T1p in ball arithmetic", "beta": "B4 export × B2 export at R₀, ball arithmetic",
    "p": "export rate_p in ball arithmetic",
    "eta_cap_spectral": "export eta_cap_spectral in ball arithmetic",
    "eta_cap_second_order": "export eta_cap_second_order in ball arithmetic",
}


def choose_method(method: str, n: int, m: int) -> str:
    """The route of the sums over neurons: "ball" (Arb over all n·m entries) or "float64" (float64 with a-priori
    γ_k bounds, :mod:`ntkcheck.certify.fp64`).  ``method`` "auto" takes the ball route for n·m ≤ AUTO_BALL_MAX.

    Parameters: method -- one of METHODS; n, m -- sizes.  Returns: "ball" or "float64".
    Raises: ValueError for an unknown method or a size the route refuses."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "auto":
        method = "ball" if n * m <= AUTO_BALL_MAX else "float64"
    if method == "ball" and n * m > MAX_TERMS:
        raise ValueError(f"n·m = {n * m} exceeds {MAX_TERMS} for the ball route (use --method float64)")
    if method == "float64" and n * m > MAX_TERMS_FP64:
        raise ValueError(f"n·m = {n * m} exceeds {MAX_TERMS_FP64}: the computation would take hours")
    return method


def _inputs(X, Y, m, sigma, seed, eta):
    X = V.matrix(X, "X")
    Y = V.matrix(Y, "Y")
    if Y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but Y has {Y.shape[0]}")
    exact_unit_ball(X)
    m = V.positive_int(m, "m", minimum=2)
    sigma = V.positive_float(sigma, "sigma")
    seed = V.positive_int(seed, "seed", minimum=0)
    if eta is not None:
        eta = V.positive_float(eta, "eta")
    return X, Y, m, sigma, seed, eta


def kernel_enclosures(X, Y, params, kap: float, method: str):
    """The enclosures of S₀, ‖e(0)‖₂, λ₀, ‖H(W(0))‖₂, ‖Q(W(0))‖₂ for the draw ``params``, the sums over
    neurons by ``method`` ("ball" or "float64"); the eigenvalue tests double the precision (from PREC to
    MAX_PREC) until λ₀, ‖H‖ and ‖Q‖ are enclosed.

    Returns: (dict name → ball or None, precision used, seconds of the sums over neurons, the float64
    route's bound record or None)."""
    n, q, m = X.shape[0], Y.shape[1], params.m
    t0 = time.perf_counter()
    prec, feats, record = PREC, None, None
    while True:
        with workprec(prec):
            if method == "ball":
                feats = features(X, params.W, params.A, kap)
            elif feats is None:       # float64 sums: computed once, their balls reused at every precision
                from ntkcheck.certify import fp64

                *feats, record = fp64.features(X, params.W, params.A, kap,
                                               _f("ntk_factorization", "tangent_feature").raw)
            S0, F, PP, SS = feats
            t_feat = time.perf_counter() - t0
            Gm = arb_mat(X.tolist())
            G = Gm * Gm.transpose()
            scale = _f("ntk_factorization", "ntk_scale")
            Qe = _f("ntk_perturbation", "Q_entry")
            H = [[scale(kap, m, G[i // q, j // q]) * PP[i, j] for j in range(n * q)] for i in range(n * q)]
            Q = [[Qe(kap, m, G[i, j], SS[i, j]) for j in range(n)] for i in range(n)]
            e2 = arb(0)
            for i in range(n):
                for l in range(q):
                    e = F[i][l] - to_ball(float(Y[i, l]))
                    e2 += e * e
            lam, Hn, _, _ = _eig_range(H)
            _, Qn, _, _ = _eig_range(Q)
        if (lam is not None and Hn is not None and Qn is not None) or prec >= MAX_PREC:
            break
        prec *= 2
    return ({"S0": S0, "e0_norm": e2.sqrt(), "lambda0": lam, "H_norm": Hn, "Q_norm": Qn}, prec, t_feat, record)


def decide_hypotheses(X, enc: dict, *, m: int, q: int, kap: float, eta):
    """(λ), (ii), (iii), (iv) of T1' decided in ball arithmetic from the enclosures ``enc`` (extended in place
    with R0_max, beta, the η caps and p).  R₀ = min(lower(R₀,max)·SHRINK, R0_iv_best); η (if None) =
    lower(min caps)·SHRINK.

    Returns: (hypotheses dict name → record, R₀ or None, η used or None)."""
    n = X.shape[0]
    lam, Hn, Qn, S0, e0 = (enc.get(k) for k in ("lambda0", "H_norm", "Q_norm", "S0", "e0_norm"))
    hyps, R0, eta_used = {}, None, None
    if lam is None or Hn is None or Qn is None:
        missing = [k for k, v in (("λ₀", lam), ("‖H(W(0))‖₂", Hn), ("‖Q‖₂", Qn)) if v is None]
        hyps["(λ)"] = {"verdict": "undecided", "what": f"no enclosure of {', '.join(missing)}"}
        return hyps, R0, eta_used
    hyps["(λ)"] = {"what": "λ₀ = λ_min(H(W(0))) > 0", "lhs": arb(0), "rhs": lam, "margin": lam,
                   "verdict": "holds" if lam > 0 else ("fails" if lam <= 0 else "undecided")}
    if not lam > 0:
        return hyps, R0, eta_used
    xsq = None                      # max_i ‖x_i‖² as a ball (arb.max: Python's max would compare balls)
    for row in X:
        sq = sum((to_ball(float(v)) ** 2 for v in row), arb(0))
        xsq = sq if xsq is None else xsq.max(sq)
    r0max = _f("linear_convergence", "R0_max_T1p")(lam, q, Qn)
    enc["R0_max"] = r0max
    R0 = min(lower(r0max) * SHRINK, float(_f("linear_convergence", "R0_iv_best")().mid()))
    beta = _f("hessian_bound", "hessian_norm_bound")(kap, xsq, S0) * _f("softmax_ratio", "ratio_upper")(R0)
    enc["beta"] = beta
    cap_a = _f("linear_convergence", "eta_cap_spectral")(m, Hn, lam)
    cap_b = _f("linear_convergence", "eta_cap_second_order")(lam, beta, n, q, Hn, e0)
    enc["eta_cap_spectral"], enc["eta_cap_second_order"] = cap_a, cap_b
    eta_used = eta if eta is not None else lower(cap_a.min(cap_b)) * SHRINK
    lhs = _f("linear_convergence", "hyp_ii_lhs")(R0, q, Qn)
    rhs = _f("linear_convergence", "hyp_ii_rhs_T1p")(lam)
    hyps["(ii)"] = {"what": "6(e^{4R₀} − 1) d'‖Q(W(0))‖₂ ≤ λ₀/2", "lhs": lhs, "rhs": rhs,
                    "margin": rhs - lhs, "verdict": _verdict(lhs, rhs)}
    cap = cap_a.min(cap_b)
    hyps["(iii)"] = {"what": "η ≤ min(1/(m(‖H‖ + λ₀/2)), λ₀/(2β√(nd')(‖H‖ + λ₀/2)‖e(0)‖))",
                     "lhs": to_ball(eta_used), "rhs": cap, "margin": cap - eta_used,
                     "verdict": _verdict(to_ball(eta_used), cap)}
    lhs = _f("linear_convergence", "hyp_iv_lhs")(eta_used, kap, R0, S0, n, q, e0, m, lam)
    hyps["(iv)"] = {"what": "2ηκe^{2R₀}S₀√(nd')‖e(0)‖/p ≤ R₀", "lhs": lhs, "rhs": to_ball(R0),
                    "margin": R0 - lhs, "verdict": _verdict(lhs, to_ball(R0))}
    enc["p"] = _f("linear_convergence", "rate_p")(eta_used, m, lam)
    return hyps, R0, eta_used


def method_record(method: str, enc: dict, record) -> dict:
    """Per quantity, the method used (for the certificate's trust base)."""
    route = BALL_METHODS if method == "ball" else _fp64_methods()
    out = {k: (route[k] if k in route else COMMON_METHODS[k]) for k in enc}
    out["H_entries"] = route["H_entries"]
    if record is not None:
        out["float64_bounds"] = record
    return out


def certify_convergence(X, Y, m: int, sigma: float, seed: int, *, scheme: str = "symmetric", kappa=None,
                        eta=None, gd_steps: int = 100, method: str = "auto") -> dict:
    """C2 for T1' on (X, Y) and the draw init_params(d, m, d', σ, scheme, seed).

    Parameters: X (n×d, ‖x_i‖ ≤ 1 exactly), Y (n×d'), m, sigma, seed, scheme -- the instance; kappa -- κ
    (default m); eta -- the step (default: the largest (iii) allows, rigorously); gd_steps -- steps of the
    float64 consistency run (0: none); method -- the sums over neurons: "ball", "float64" (a-priori γ_k
    bounds) or "auto" (see :func:`choose_method`).
    Returns: a dict with ``enclosures`` (name → ball), ``hypotheses`` (name → verdict, margin ball, lhs,
    rhs), ``proved``, the chosen R₀ and η, ``method``, ``methods`` (per quantity), ``seconds`` and the GD
    consistency record ``gd``."""
    require_flint()
    X, Y, m, sigma, seed, eta = _inputs(X, Y, m, sigma, seed, eta)
    n, d, q = X.shape[0], X.shape[1], Y.shape[1]
    method = choose_method(method, n, m)
    params = nk.init_params(d, m, q, sigma=sigma, scheme=scheme, seed=seed)
    kap = float(m) if kappa is None else V.positive_float(kappa, "kappa")
    t0 = time.perf_counter()
    found, prec, t_feat, record = kernel_enclosures(X, Y, params, kap, method)
    enc = {k: v for k, v in found.items() if v is not None}
    with workprec(prec):
        hyps, R0, eta_used = decide_hypotheses(X, enc, m=m, q=q, kap=kap, eta=eta)
    proved = len(hyps) == 4 and all(h["verdict"] == "holds" for h in hyps.values())
    out = {"n": n, "d": d, "d_out": q, "m": m, "sigma": sigma, "seed": seed, "scheme": scheme, "kappa": kap,
           "eta": eta_used, "eta_given": eta is not None, "R0": R0, "prec": prec, "enclosures": enc,
           "hypotheses": hyps, "proved": proved, "method": method, "methods": method_record(method, enc, record),
           "seconds": {"features": t_feat, "certificate": time.perf_counter() - t0}, "params": params}
    if proved and gd_steps:
        out["gd"] = gd_consistency(X, Y, params, out, gd_steps)
    return out


def gd_consistency(X, Y, params, cert: dict, steps: int) -> dict:
    """A float64 GD run from the same W(0) with the certified η against the certified envelope: ‖e(t)‖ ≤
    (1 − p)^t‖e(0)‖, max_r‖w_r(t) − w_r(0)‖ ≤ R₀, λ_min(H(W(t))) ≥ λ₀/2 — up to float64 rounding
    (relative 1e-9 on the residual and movement, 8·N·ε·‖H‖ on λ).  Not part of the proof."""
    from ntkcheck.core.training import train

    t0 = time.perf_counter()
    enc = cert["enclosures"]
    lam_lo = lower(enc["lambda0"])
    p_lo = lower(enc["p"])
    e0_hi = upper(enc["e0_norm"])
    hist = train(params, X, Y, cert["eta"], steps, kappa=cert["kappa"], record_every=1,
                 lam_every=max(1, steps // 5))
    t = np.asarray(hist.steps, dtype=float)
    env = (1 - p_lo) ** t * e0_hi
    res_ratio = float(np.max(hist.residual_norm / (env * (1 + 1e-9))))
    move_ratio = float(np.max(hist.max_move) / (cert["R0"] * (1 + 1e-9)))
    hn = upper(enc["H_norm"])
    tol = 8 * (cert["n"] * cert["d_out"]) * np.finfo(float).eps * hn
    lam_ok = bool(np.all(np.asarray(hist.lam_min) >= lam_lo / 2 - tol))
    return {"steps": steps, "residual_worst_ratio": res_ratio, "movement_worst_ratio": move_ratio,
            "lambda_min_along_run": float(np.min(hist.lam_min)), "lambda0_lower_half": lam_lo / 2,
            "inside_envelope": bool(res_ratio <= 1 and move_ratio <= 1 and lam_ok),
            "seconds": time.perf_counter() - t0}
