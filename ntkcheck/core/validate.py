"""Argument checks shared by the public API: each failure is one ValueError naming the argument or the
hypothesis ((A1)/(A2) of the book's Setting chapter) that was violated."""
from __future__ import annotations

import numbers
import os

import numpy as np


def real_array(value, name: str) -> np.ndarray:
    """``value`` as a float64 array (no copy if it already is one), refusing what a float conversion would
    silently reinterpret: complex numbers (numpy keeps only the real part), strings (numpy parses numeric
    strings), masked arrays (the masked entries' hidden data would be used) and non-numeric objects."""
    if isinstance(value, np.ma.MaskedArray):
        raise ValueError(f"{name} must be a plain numeric array, not a masked array (fill or drop the masked entries)")
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{name} must be a numeric array, got a string")
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a numeric array, got {type(value).__name__}") from None
    kind = raw.dtype.kind
    if kind == "O":
        flat = raw.ravel()
        if any(isinstance(v, (str, bytes, complex, np.complexfloating)) or type(v).__name__ == "mpc" for v in flat):
            raise ValueError(f"{name} must hold real numbers (no complex numbers or strings)")
    elif kind == "c":
        raise ValueError(f"{name} must be real, got complex values (dtype {raw.dtype})")
    elif kind in "USV":
        raise ValueError(f"{name} must be a numeric array, got strings (dtype {raw.dtype})")
    elif kind not in "biuf":
        raise ValueError(f"{name} must be a numeric array, got dtype {raw.dtype}")
    try:
        return np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a numeric array, got {type(value).__name__}") from None


def matrix(value, name: str, *, cols: int | None = None, cols_name: str = "d") -> np.ndarray:
    """``value`` as a finite float64 2-D array (see :func:`real_array`), optionally with ``cols`` columns."""
    arr = real_array(value, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows are samples), got shape {arr.shape}")
    if arr.shape[0] < 1:
        raise ValueError(f"{name} must have at least one row, got shape {arr.shape}")
    if cols is not None and arr.shape[1] != cols:
        raise ValueError(f"{name} has {arr.shape[1]} columns but the network expects {cols_name} = {cols}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} non-finite value(s) (NaN or inf)")
    return arr


def seed(value, name: str = "seed"):
    """A seed for numpy's default_rng: None or a non-negative integer (not a bool or a float)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a non-negative integer or None, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer or None, got {value}")
    return int(value)


def positive_int(value, name: str, minimum: int = 1) -> int:
    """``value`` checked as an integer >= ``minimum`` (bool refused).

    Parameters: ``value`` the user's value; ``name`` the argument named in the error; ``minimum`` the least
    value allowed.  Returns: int(value).  Raises ValueError (one line, naming ``name``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def positive_float(value, name: str) -> float:
    """``value`` checked as a finite real number > 0 (bool refused).

    Parameters: ``value`` the user's value; ``name`` the argument named in the error.  Returns:
    float(value).  Raises ValueError (one line, naming ``name``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return v


def kappa(value, m: int) -> float:
    """The output scale κ: ``m`` (the width) when ``value`` is None, else ``value`` checked finite and > 0.

    Parameters: ``value`` None or a real number, ``m`` the width.  Returns κ as a float."""
    return float(m) if value is None else positive_float(value, "kappa")


def targets(Y, X: np.ndarray, d_out: int) -> np.ndarray:
    """The labels ``Y`` as a finite float64 (n, d_out) matrix with as many rows as the inputs ``X`` (n×d).

    Parameters: ``Y`` array-like, ``X`` the checked inputs, ``d_out`` the network's outputs.  Returns Y;
    one-line ValueError naming Y (columns) or both (rows) otherwise."""
    Y = matrix(Y, "Y", cols=d_out, cols_name="d_out")
    if Y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but Y has {Y.shape[0]}")
    return Y


def unit_ball(X: np.ndarray, name: str = "X", tol: float = 1e-12) -> None:
    """(A1): every row has Euclidean norm at most 1."""
    norms = np.linalg.norm(X, axis=1)
    worst = int(np.argmax(norms))
    if norms[worst] > 1 + tol:
        raise ValueError(f"hypothesis (A1) violated: ‖{name}[{worst}]‖₂ = {norms[worst]:.6g} > 1")


def unit_sphere(X: np.ndarray, name: str = "X", tol: float = 1e-10) -> None:
    """(A2): every row has norm 1 and no two rows are equal."""
    norms = np.linalg.norm(X, axis=1)
    worst = int(np.argmax(np.abs(norms - 1)))
    if abs(norms[worst] - 1) > tol:
        raise ValueError(f"hypothesis (A2) violated: ‖{name}[{worst}]‖₂ = {norms[worst]:.6g} ≠ 1")
    _, idx = np.unique(X, axis=0, return_index=True)
    if len(idx) < len(X):
        raise ValueError(f"hypothesis (A2) violated: {name} has repeated rows")


def available_memory() -> int | None:
    """Bytes of memory available for new allocations: MemAvailable from /proc/meminfo (Linux), else the
    free physical pages (os.sysconf), else None (unknown: no check is made)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.3g} TiB"  # pragma: no cover


def memory(parts: dict, what: str) -> None:
    """Refuse (one-line ValueError) a call whose arrays ``parts`` ({name: bytes}) need more than the
    available memory, before anything is allocated."""
    need = sum(parts.values())
    avail = available_memory()
    if avail is not None and need > avail:
        sizes = ", ".join(f"{k} {_fmt_bytes(v)}" for k, v in parts.items())
        raise ValueError(f"{what} needs about {_fmt_bytes(need)} ({sizes}) but only {_fmt_bytes(avail)} "
                         "of memory is available; use fewer samples, outputs or neurons")
