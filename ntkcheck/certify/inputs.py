"""User data made into a certifiable instance: the optional transforms onto the unit ball or the sphere, and
the exact hypothesis checks.

B2–B6, hence T1' and the C2/C3 certificates, need (A1) ‖x_i‖₂ ≤ 1; a float64 row normalised to the sphere has
‖x‖² = 1 ± a few ulps, so a transform that targets the sphere also multiplies by ``SHRINK`` = 1 − 2⁻⁴⁰ and
(A1) is then decided exactly (rational arithmetic).  A certificate is about the float64 values it was computed
on: the transformed rows, whose hash it records beside the file's.

* ``rescale``   — one common factor: X ↦ X·(1 − 2⁻⁴⁰)/max_i ‖x_i‖ (the geometry of the data is kept; rows land
  in the unit ball, the longest just inside the sphere);
* ``normalize`` — each row onto the sphere: x_i ↦ (1 − 2⁻⁴⁰) x_i/‖x_i‖ (angles kept, lengths dropped);
* ``lift``      — the D4 input lift with ρ = max_i ‖x_i‖: x ↦ (1 − 2⁻⁴⁰)(x/ρ, √((1 − r/ρ)(1 + r/ρ))), r = ‖x‖,
  from the export ``input_lift.lift_last`` (d + 1 columns, injective, every row on the sphere up to the
  factor; no point is truncated since ρ is the largest norm).

Norms are √(fsum of squares) (a correctly rounded sum and square root, so the same bits on every IEEE
machine: ``certify check`` reproduces the transformed data exactly).
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

SHRINK = 1.0 - 2.0**-40
TRANSFORMS = ("rescale", "normalize", "lift")
STATEMENTS = {
    "rescale": "X ↦ X·(1 − 2⁻⁴⁰)/ρ with ρ = max_i ‖x_i‖₂ (one common factor; rows in the unit ball)",
    "normalize": "x_i ↦ (1 − 2⁻⁴⁰)·x_i/‖x_i‖₂ (each row onto the sphere, times 1 − 2⁻⁴⁰)",
    "lift": "x ↦ (1 − 2⁻⁴⁰)·(x/ρ, √((1 − ‖x‖/ρ)(1 + ‖x‖/ρ))) with ρ = max_i ‖x_i‖₂ (the D4 lift onto S^d, "
            "times 1 − 2⁻⁴⁰; one more column)",
}


def row_norms(X: np.ndarray) -> np.ndarray:
    """‖x_i‖₂ of each row as √(math.fsum(x²)): the same double on every IEEE-754 machine."""
    return np.array([math.sqrt(math.fsum(float(v) * float(v) for v in row)) for row in X])


def transform(X: np.ndarray, how: str | None, name: str = "--data") -> tuple[np.ndarray, dict | None]:
    """The float64 rows a certificate is computed on.

    Parameters: ``X`` (n, d) float64 (finite; as from :func:`ntkcheck.certify.files.load_array`); ``how`` one
    of :data:`TRANSFORMS` or None (no transform); ``name`` the argument named in errors.
    Returns (X', record): X' the transformed float64 array (X itself when ``how`` is None), record None or a
    dict {"name", "statement", "rho" (repr and hex of the double used)}.  Raises ValueError (one line) for a
    zero row that ``normalize`` cannot scale, all-zero data, or an unknown transform."""
    if how is None:
        return X, None
    if how not in TRANSFORMS:
        raise ValueError(f"unknown transform {how!r}; choose one of {', '.join(TRANSFORMS)}")
    r = row_norms(X)
    rec = {"name": how, "statement": STATEMENTS[how]}
    if how == "normalize":
        zero = np.flatnonzero(r == 0)
        if zero.size:
            raise ValueError(f"{name}: row {int(zero[0])} is zero and cannot be normalised onto the sphere")
        out = (X / r[:, None]) * SHRINK
    else:
        rho = float(r.max())
        if rho == 0:
            raise ValueError(f"{name}: every row is zero; nothing to {how}")
        rec["rho"], rec["rho_hex"] = repr(rho), rho.hex()
        if how == "rescale":
            out = X * (SHRINK / rho)
        else:
            from ntkcheck.core.compile import compiled

            last = compiled("input_lift", "lift_last", "numpy")(np.minimum(r, rho), rho)
            out = np.concatenate([X / rho, np.asarray(last, dtype=np.float64)[:, None]], axis=1) * SHRINK
    out = np.ascontiguousarray(out, dtype=np.float64)
    if not np.all(np.isfinite(out)):     # pragma: no cover - finite input and ρ > 0 give finite rows
        raise ValueError(f"{name}: the {how} transform produced non-finite values")
    return out, rec


def first_outside_unit_ball(X: np.ndarray):
    """(i, ‖x_i‖² − 1 as a Fraction) for the first row with ‖x_i‖₂ > 1 exactly (rational arithmetic), else None."""
    for i, row in enumerate(X):
        sq = sum(Fraction(float(v)) ** 2 for v in row)
        if sq > 1:
            return i, sq - 1
    return None


def require_unit_ball(X: np.ndarray, name: str = "--data", what: str = "B2–B6 (hence T1')") -> None:
    """(A1) decided exactly; a one-line ValueError naming the file, the row and the hypothesis otherwise,
    with the options that make the data satisfy it."""
    bad = first_outside_unit_ball(X)
    if bad is not None:
        i, excess = bad
        raise ValueError(f"{name}: hypothesis (A1) violated: ‖x_{i}‖₂² = 1 + {float(excess):.3g} > 1 exactly "
                         f"(row {i}; {what} need ‖x_i‖₂ ≤ 1); pass --rescale (into the unit ball), --normalize "
                         "(each row onto the sphere) or --lift (the D4 lift onto the sphere)")
