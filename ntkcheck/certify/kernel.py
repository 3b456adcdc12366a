"""C1 kernel-pd-certificate: a rigorous enclosure [λ_lo, λ_hi] ∋ λ_min(K), K = G∘exp(σ²G), G = XXᵀ, for
concrete float64 data X and σ; λ_lo > 0 proves K ≻ 0 for this data.

K is enclosed entrywise in ball arithmetic from the export ``proofs.ntk_limit.EXPORTS["limit_kernel"]``
(the G5 entry g·exp(σ²g)), with X and σ converted exactly.  Two verified tests of K − μI (see
:mod:`ntkcheck.certify.linalg`):

* "rump-float64" (large n, λ_min well above float64 resolution): Rump's floating-point Cholesky test on
  the double midpoint of the enclosure with its a-priori error bound; λ_hi from a Rayleigh quotient of the
  float64 eigenvector, in ball arithmetic.  λ_lo is then sharpened by Temple's inequality: Rump's test on
  the deflated K + s·vvᵀ proves λ₂(K) > τ (rank-one interlacing), and λ₁ ≥ θ − ε²/(τ − θ) with θ, ε the
  Rayleigh quotient and residual of v, in balls.  Two Choleskys and one eigh: O(n³) flops.
* "arb-ldl" (moderate n, or λ_min far below float64 resolution): the enclosure at a few hundred bits,
  λ̃ from Arb's approximate eigensolver, then LDLᵀ in ball arithmetic of K − λ̃(1 ∓ 2^-32)I: all pivots
  certainly positive proves λ_min > λ_lo; a certainly negative pivot after positive ones proves
  λ_min < λ_hi.  The precision doubles until both are decided.
"""
from __future__ import annotations

import math
import time
from fractions import Fraction

import numpy as np

from ntkcheck.core import validate as V
from ntkcheck.certify import linalg
from ntkcheck.certify.arb import (acb_mat_approx_min, arb, arb_mat, compiled_arb, endpoints, fraction_ball,
                                  require_flint, to_ball, workprec)

ARB_MAX_N = 250           # the ball LDLᵀ is O(n³/6) Python-level ball operations
RUMP_PREC = 106           # bits for the entrywise enclosure used by the float64 test
ARB_PRECS = (128, 256, 512, 1024, 2048)
REL_TARGET = 1e-6         # the relative width the float64 path must reach to be chosen
LDL_STEPS = (2**-32, 2**-20, 2**-10, 2**-4)   # relative offsets of λ_lo, λ_hi from the estimate
METHODS = ("auto", "rump-float64", "arb-ldl")


def kernel_balls(X: np.ndarray, sigma: float, prec: int):
    """K as a dense list of lists of balls at ``prec`` bits (the upper triangle computed, mirrored)."""
    kern = compiled_arb("ntk_limit", "limit_kernel").raw    # every argument below is already a ball
    n = X.shape[0]
    with workprec(prec):
        A = arb_mat(X.tolist())
        G = A * A.transpose()
        s = to_ball(float(sigma))
        K = [[None] * n for _ in range(n)]
        for i in range(n):
            for j in range(i, n):
                K[i][j] = K[j][i] = kern(G[i, j], s)
    return K


def _mid_and_radius(K) -> tuple[np.ndarray, Fraction]:
    """The double midpoint matrix M and a rational bound ≥ ‖K − M‖₂ for every K in the enclosure
    (max row sum of the entrywise bound rad + |mid − M|, itself rounded up)."""
    n = len(K)
    M = np.empty((n, n))
    Rm = np.empty((n, n))
    for i in range(n):
        row = K[i]
        for j in range(i, n):
            b = row[j]
            m = float(b.mid())
            M[i, j] = M[j, i] = m
            Rm[i, j] = Rm[j, i] = float(b.rad())
    # |mid − fl(mid)| ≤ spacing/2 and float(rad) is within a relative 2^-53 of rad: bound both generously
    Rm = np.nextafter(np.nextafter(Rm, np.inf) + np.spacing(np.abs(M)), np.inf)
    sums = [math.fsum(r) for r in Rm]                  # correctly rounded, then one ulp up
    R = Fraction(float(np.nextafter(max(sums), np.inf)))
    return M, R


def _full_mat(K):
    n = len(K)
    return arb_mat(n, n, [x for row in K for x in row])


def ldl_enclosure(K, estimate=None) -> dict:
    """[λ_lo, λ_hi] ∋ λ_min for a ball matrix K (list of lists) at the current working precision, from
    LDLᵀ inertia tests around the estimate λ̃ (Arb's approximate eigensolver unless given).
    Returns {"lo", "hi"} (exact Fractions or None when not proved) and "estimate"."""
    lam = acb_mat_approx_min(_full_mat(K)) if estimate is None else to_ball(estimate)
    lo = hi = None
    scale = abs(lam) if not lam == 0 else arb(2.0**-1000)
    for f in LDL_STEPS:
        mu = arb((lam - scale * arb(f)).mid())
        if linalg.inertia_verdict(K, mu) == "above":
            lo = endpoints(mu)[0]
            break
    for f in LDL_STEPS:
        mu = arb((lam + scale * arb(f)).mid())
        if linalg.inertia_verdict(K, mu) == "below":
            hi = endpoints(mu)[0]
            break
    return {"lo": lo, "hi": hi, "estimate": float(lam.mid())}


def n_of(M) -> int:
    return M.shape[0]


def _temple(Kmat, M: np.ndarray, R: Fraction, lam_f: np.ndarray, v: np.ndarray) -> Fraction | None:
    """A sharper λ_lo: Rump's test on the deflated matrix K + s·vvᵀ proves λ₂(K) > τ (rank-one interlacing:
    λ₁(K + s vvᵀ) ≤ λ₂(K)), then Temple's inequality with the Rayleigh quotient of v bounds λ₁ from below
    by θ − ε²/(τ − θ) — quadratic in the eigenvector error instead of linear in n·u·tr K."""
    lam2 = float(lam_f[1])
    s = 2.0 * abs(lam2) + 2.0 * abs(float(lam_f[0]))
    M2, E = linalg.deflated_outer(M, v, s)
    R2 = R + E
    c2 = linalg.rump_constant(M2, R2)
    for k in range(6):
        ck = c2 * 2.0**k
        tau = lam2 - 2 * ck
        if not tau > float(lam_f[0]):
            return None
        if linalg.rump_pd(M2, R2, tau, ck)["proved"]:
            b = linalg.temple_lower(Kmat, v, tau)
            return None if b is None or not b.is_finite() else endpoints(b)[0]
    return None


def _rump(K, M: np.ndarray, R: Fraction, eig) -> dict:
    lam_f, vecs = eig
    lam, v = float(lam_f[0]), vecs[:, 0]
    c = linalg.rump_constant(M, R)
    lo, info = None, None
    for k in range(8):
        ck = c * 2.0**k
        mu = lam - 2 * ck
        if not mu > 0:
            break
        info = linalg.rump_pd(M, R, mu, ck)
        if info["proved"]:
            lo = Fraction(mu)
            break
    temple = None
    with workprec(RUMP_PREC):
        Kmat = _full_mat(K)
        rq = linalg.rayleigh_upper(Kmat, v)
        if lo is not None and n_of(M) > 1:
            temple = _temple(Kmat, M, R, lam_f, v)
            if temple is not None and (lo is None or temple > lo):
                lo = temple
    return {"lo": lo, "hi": endpoints(rq)[1], "estimate": lam, "rump_constant": c,
            "temple": None if temple is None else str(temple),
            "rump": None if info is None else {k: (str(v_) if isinstance(v_, Fraction) else v_)
                                                for k, v_ in info.items()}}


def certify_kernel(X, sigma, method: str = "auto") -> dict:
    """C1 for data X (n×d, float64) and σ: an enclosure of λ_min(K) and the verdict on K ≻ 0.

    Returns a dict with ``lo``, ``hi`` exact rationals (lo None when no positive lower bound was proved),
    ``positive_definite`` (True proved / False: λ_min < 0 proved / None undecided), ``method``, ``prec``,
    ``relative_width``, ``note`` (why it is undecided, None otherwise) and timings.

    Which test runs ("auto"): for n ≤ ARB_MAX_N the ball LDLᵀ whenever the float64 test cannot reach a
    relative width ≤ 1e-6 (λ_min at or below float64 resolution, e.g. the 18-point case of G6); for
    n > ARB_MAX_N only the float64 test, so a λ_min below its resolution (about 4·n·u·tr K) leaves K ≻ 0
    *undecided* with a proved upper bound, and says so — the certificate never claims a lower bound it
    did not prove.  ``method="arb-ldl"`` forces the ball LDLᵀ at any n (O(n³/6) ball operations)."""
    require_flint()
    X = V.matrix(X, "X")
    sigma = V.positive_float(sigma, "sigma")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    n = X.shape[0]
    t0 = time.perf_counter()
    K = kernel_balls(X, sigma, RUMP_PREC)
    M, R = _mid_and_radius(K)
    eig = np.linalg.eigh(M)
    lam_f = float(eig[0][0])
    c = linalg.rump_constant(M, R)
    use_rump = method == "rump-float64" or (method == "auto" and (n > ARB_MAX_N or lam_f > 4 * c / REL_TARGET))
    out = None
    if use_rump:
        r = _rump(K, M, R, eig)
        out = {"method": "rump-float64", "prec": RUMP_PREC, **r}
    coarse = out is not None and out["lo"] is not None and out["lo"] > 0 and \
        (out["hi"] - out["lo"]) / out["lo"] > REL_TARGET
    if method == "arb-ldl" or (method == "auto" and (out is None or out["lo"] is None or coarse) and n <= ARB_MAX_N):
        best = None
        for prec in ARB_PRECS:
            with workprec(prec):
                Kp = kernel_balls(X, sigma, prec)
                r = ldl_enclosure(Kp)
            cand = {"method": "arb-ldl", "prec": prec, **r}
            if r["hi"] is not None and r["hi"] <= 0:      # λ_min < 0 proved: K is not positive definite
                best = cand
                break
            if r["lo"] is not None and r["hi"] is not None:
                width = (r["hi"] - r["lo"]) / r["lo"]
                if best is None or best["lo"] is None or width < (best["hi"] - best["lo"]) / best["lo"]:
                    best = cand
                if width <= 4 * LDL_STEPS[0]:
                    break
            elif best is None:
                best = cand
        out = best
    lo, hi = out["lo"], out["hi"]
    pd = True if (lo is not None and lo > 0) else (False if (hi is not None and hi <= 0) else None)
    rel = None if lo is None or hi is None or lo <= 0 else float((hi - lo) / lo)
    note = None
    if pd is None and out["method"] == "rump-float64":
        note = (f"λ_min(K) is below the resolution of the float64 test (its a-priori error bound is about "
                f"{4 * c:.2g}; float64 eigvalsh says {lam_f:.3g}), so only the upper bound is proved; "
                f"for n = {n} > {ARB_MAX_N} the ball LDLᵀ is not run automatically: --method arb-ldl runs it "
                f"(O(n³/6) ball operations, about {max(1, round(6e-6 * n**3 / 6 * 4))} s or more)")
    elif pd is None:
        note = "the inertia tests did not decide up to the largest precision tried"
    out.update(n=n, d=X.shape[1], sigma=sigma, positive_definite=pd, relative_width=rel,
               float64_eigvalsh=lam_f, rump_constant=c, note=note, seconds=time.perf_counter() - t0)
    return out


def verify_lower(X, sigma, lo: Fraction, method: str, prec: int) -> bool:
    """Re-prove λ_min(K) > lo (lo > 0) with the recorded method (used by ``certify check``)."""
    if lo is None:
        return True
    if method == "rump-float64":
        K = kernel_balls(X, sigma, RUMP_PREC)
        M, R = _mid_and_radius(K)
        mu = float(lo)
        if Fraction(mu) < lo:
            mu = float(np.nextafter(mu, np.inf))
        again = _rump(K, M, R, np.linalg.eigh(M))["lo"]      # Temple's bound, if it is what was recorded
        if again is not None and again >= lo:
            return True
        c = linalg.rump_constant(M, R)
        for k in range(8):
            if linalg.rump_pd(M, R, mu, c * 2.0**k)["proved"]:
                return True
        return False
    with workprec(prec):
        K = kernel_balls(X, sigma, prec)
        return linalg.inertia_verdict(K, fraction_ball(lo, lo)) == "above"


def verify_upper(X, sigma, hi: Fraction, method: str, prec: int) -> bool:
    """Re-prove λ_min(K) ≤ hi (used by ``certify check``): inertia at hi in ball arithmetic."""
    if hi is None:
        return True
    p = max(prec, 256)
    with workprec(p):
        K = kernel_balls(X, sigma, p)
        if len(K) <= ARB_MAX_N:
            return linalg.inertia_verdict(K, fraction_ball(hi, hi)) == "below"
    # large n: the Rayleigh quotient of the float64 eigenvector, as when certifying
    K = kernel_balls(X, sigma, RUMP_PREC)
    M, _ = _mid_and_radius(K)
    v = np.linalg.eigh(M)[1][:, 0]
    with workprec(RUMP_PREC):
        return endpoints(linalg.rayleigh_upper(_full_mat(K), v))[1] <= hi
