"""Verified eigenvalue bounds for symmetric matrices known as ball enclosures (every true entry inside
its ball).  Three tools, each rigorous for every symmetric matrix in the enclosure:

* :func:`ldl_pivots` — LDLᵀ (no pivoting) in ball arithmetic.  If every pivot ball of A − μI is certainly
  > 0, A − μI ≻ 0 (Sylvester's law of inertia: A − μI = LDLᵀ is congruent to D), so λ_min(A) > μ.  If the
  first k − 1 pivots are certainly > 0 and the k-th certainly < 0, the leading k×k block of A − μI is
  congruent to diag(d_1..d_k) and has a negative eigenvalue, so λ_min(A) < μ (Cauchy interlacing).  Ball
  arithmetic encloses the exact pivots of every matrix in the enclosure, the true one included.
* :func:`rump_pd` — Rump's floating-point Cholesky test ("Verification of positive definiteness", BIT 46,
  2006): float64 Cholesky of Ã = fl(M − sI) (M a double matrix near A).  If it runs to completion,
  R̂ᵀR̂ = Ã + ΔA with |ΔA| ≤ γ_{n+1}|R̂ᵀ||R̂| (Higham, Accuracy and Stability, 2nd ed., Thm 10.3, valid for
  any order of the inner-product sums, hence for blocked LAPACK/BLAS and FMA), and ‖r_j‖² ≤ Ã_jj/(1 − γ_{n+1}),
  so ‖ΔA‖₂ ≤ δ := γ_{n+1}/(1 − γ_{n+1}) · tr Ã (Cauchy–Schwarz, ‖ddᵀ‖₂ = Σd_j²), plus Rump's allowance for
  underflow.  R̂ᵀR̂ ≻ 0, so λ_min(Ã) > −δ and λ_min(A − μI) > −δ + (s − μ) − ‖A − M‖₂ − max|Ã_ii − (M_ii − s)|:
  the test proves A − μI ≻ 0 when s − μ ≥ δ + ‖A − M‖₂ + the diagonal rounding (all evaluated in exact or
  ball arithmetic).  Assumes IEEE binary64 with rounding to nearest (numpy's default).
* :func:`rayleigh_upper` — for any v ≠ 0, λ_min(A) ≤ vᵀAv/vᵀv; evaluated in ball arithmetic its upper end
  bounds λ_min from above.

Matrices are dense lists of lists of ``arb`` (symmetric; only the lower triangle is read by the LDLᵀ).
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ntkcheck.certify.arb import arb, arb_mat, to_ball

U = Fraction(1, 2**53)                    # unit roundoff of binary64
ETA = Fraction(1, 2**1074)                # smallest positive subnormal


# ------------------------------------------------------------------------------------------ LDLᵀ in balls
def ldl_pivots(A, shift=0):
    """The pivot balls of the LDLᵀ factorization of A − shift·I (lower triangle of A read), stopping after
    the first pivot that is not certainly positive."""
    n = len(A)
    s = to_ball(shift)
    L = [[A[i][j] for j in range(i + 1)] for i in range(n)]   # lower triangle, copied
    for i in range(n):
        L[i][i] = L[i][i] - s
    piv = []
    for k in range(n):
        d = L[k][k]
        piv.append(d)
        if not d > 0:
            return piv
        inv = 1 / d
        col = [L[i][k] for i in range(k + 1, n)]
        lcol = [c * inv for c in col]
        for ii in range(len(col)):
            row, li = L[k + 1 + ii], lcol[ii]
            for jj in range(ii + 1):
                j = k + 1 + jj
                row[j] = row[j] - li * col[jj]
    return piv


def inertia_verdict(A, mu) -> str:
    """"above" if λ_min(A) > μ is proved, "below" if λ_min(A) < μ is proved, else "undecided"."""
    piv = ldl_pivots(A, mu)
    if len(piv) == len(A) and piv[-1] > 0:
        return "above"
    if piv[-1] < 0:
        return "below"
    return "undecided"


# ------------------------------------------------------------------------------------------ Rump's test
def gamma(k: int) -> Fraction:
    ku = k * U
    if ku >= 1:
        raise ValueError(f"γ_{k} undefined: k·u ≥ 1")
    return ku / (1 - ku)


def cholesky_backward_bound(diag) -> Fraction:
    """δ ≥ ‖R̂ᵀR̂ − Ã‖₂ for a float64 Cholesky R̂ of Ã that ran to completion, from Ã's diagonal (exact
    rationals of the doubles Ã_ii > 0): γ_{n+1}/(1 − γ_{n+1})·tr Ã (Higham Thm 10.3 with ‖r_j‖² ≤
    Ã_jj/(1 − γ_{n+1})) plus the underflow allowance 4n(2(n+2) + max Ã_ii)·2⁻¹⁰⁷⁴ (Rump 2006), which matters
    only when the entries are near the subnormal range (tests/test_certify_inputs.py checks both terms
    against the exact error, down to subnormal matrices)."""
    diag = [Fraction(v) for v in diag]
    n = len(diag)
    g = gamma(n + 1)
    return g / (1 - g) * sum(diag) + 4 * n * (2 * (n + 2) + max(diag)) * ETA


def rump_pd(M: np.ndarray, radius_norm: Fraction, mu: float, c: float) -> dict:
    """Try to prove A − μI ≻ 0 for every symmetric A with ‖A − M‖₂ ≤ ``radius_norm``, by float64 Cholesky
    of fl(M − (μ + c)I).  Returns {"proved", "shift", "delta", "diag_rounding", "needed", "reason"} with the
    exact rationals used."""
    n = M.shape[0]
    s = float(mu) + float(c)
    At = M.copy()
    idx = np.arange(n)
    At[idx, idx] = M[idx, idx] - s
    # exact rounding of the shifted diagonal (Fractions are exact for doubles)
    fs = Fraction(s)
    diag_err = max(abs(Fraction(float(At[i, i])) - (Fraction(float(M[i, i])) - fs)) for i in range(n))
    try:
        R = np.linalg.cholesky(At)
    except np.linalg.LinAlgError:
        return {"proved": False, "reason": "float64 Cholesky broke down", "shift": s}
    dg = np.diag(R)
    if not (np.all(np.isfinite(R)) and np.all(dg > 0)):
        return {"proved": False, "reason": "float64 Cholesky gave a non-positive or non-finite pivot", "shift": s}
    if np.min(dg) < 2.0**-500:   # stay far from the underflow range the allowance below is meant for
        return {"proved": False, "reason": "a Cholesky pivot below 2^-500", "shift": s}
    diag = [Fraction(float(v)) for v in At[idx, idx]]
    if min(diag) <= 0:
        return {"proved": False, "reason": "a shifted diagonal entry is ≤ 0", "shift": s}
    delta = cholesky_backward_bound(diag)
    needed = delta + radius_norm + diag_err
    gap = fs - Fraction(float(mu))
    return {"proved": bool(gap >= needed), "shift": s, "delta": delta, "diag_rounding": diag_err,
            "needed": needed, "gap": gap,
            "reason": None if gap >= needed else "shift too small for the a-priori error bound"}


def rump_constant(M: np.ndarray, radius_norm: Fraction) -> float:
    """A shift c (double) that the a-priori bound of :func:`rump_pd` is expected to accept."""
    n = M.shape[0]
    g = gamma(n + 1)
    tr = float(np.sum(np.abs(np.diag(M)))) + 1.0
    return float(1.05 * (float(g / (1 - g)) * (tr + n * 1e-300) + float(radius_norm))) + 1e-290


# ------------------------------------------------------------------------------------------ Rayleigh
def rayleigh_upper(Amat, v: np.ndarray):
    """The ball of vᵀAv/vᵀv (A an arb_mat, v a float vector, exact): its upper end bounds λ_min(A)."""
    V = arb_mat([[float(x)] for x in v])
    num = (V.transpose() * Amat * V)[0, 0]
    den = (V.transpose() * V)[0, 0]
    return num / den


# ------------------------------------------------------------------------------------------ Temple
def temple_lower(Amat, v: np.ndarray, tau):
    """Temple's inequality in ball arithmetic: with θ = vᵀAv/vᵀv and θ < τ ≤ λ₂(A),
    λ₁(A) ≥ θ − (‖Av‖²/‖v‖² − θ²)/(τ − θ).  Returns that ball (its lower end is a rigorous lower bound of
    λ_min), or None if θ < τ is not certain.  ``tau`` must be a proved lower bound of λ₂."""
    V = arb_mat([[float(x)] for x in v])
    AV = Amat * V
    vv = (V.transpose() * V)[0, 0]
    theta = (V.transpose() * AV)[0, 0] / vv
    a = (AV.transpose() * AV)[0, 0] / vv
    t = to_ball(tau)
    if not theta < t:
        return None
    return theta - (a - theta * theta) / (t - theta)


def deflated_outer(M: np.ndarray, v: np.ndarray, s: float) -> tuple[np.ndarray, Fraction]:
    """M₂ = fl(M + s·vvᵀ) and a rational bound ≥ ‖M₂ − (M + s vvᵀ)‖₂ (exact s·vvᵀ).  Entrywise the error is
    ≤ γ₂|s v_i v_j| + u|M₂_ij| ≤ 4u(|p_ij| + |M₂_ij|)(1 − 3u) with p = fl(s·fl(v_i v_j)), so the float64
    value of 4u(|p| + |M₂|) bounds it; ‖·‖₂ ≤ the largest row sum (correctly rounded sums, one ulp up)."""
    p = s * np.outer(v, v)
    M2 = M + p
    B = (4.0 * float(U)) * (np.abs(p) + np.abs(M2))
    sums = [math.fsum(r) for r in B]
    return M2, Fraction(float(np.nextafter(max(sums), np.inf)))
