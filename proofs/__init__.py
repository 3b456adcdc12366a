"""Symbolic derivations, one module per lemma of the book (each chapter states its lemma; these modules prove it).

``LEMMAS`` maps each lemma code (G1, …) to its module; each module exports ``CODE``, ``ID``,
``STATEMENT``, ``derive()`` and ``EXPORTS`` (see :mod:`proofs._core`).
"""
from __future__ import annotations

import importlib

# code -> module name (the module is named after the lemma id, with '_' for '-')
_MODULES = {
    "G1": "softmax_gradient",
    "G2": "shift_invariance",
    "G3": "hessian",
    "G4": "ntk_factorization",
    "G5": "ntk_limit",
    "G6": "ntk_positive_definite",
    "B1": "init_bound",
    "B2": "softmax_ratio",
    "B3": "ntk_perturbation",
    "B4": "hessian_bound",
    "B5": "one_step_descent",
    "B6": "weight_movement",
    "B7": "ntk_concentration",
    "T1": "linear_convergence",
    "D1": "forward_process",
    "D2": "gmm_score",
    "D3": "tweedie_dsm",
    "D4": "input_lift",
    "D5": "kernel_regression_tracking",
    "D6": "score_generalization",
}


def _present() -> dict[str, str]:
    import importlib.util

    return {c: n for c, n in _MODULES.items() if importlib.util.find_spec(f"{__name__}.{n}") is not None}


def lemma(code: str):
    """The proofs module of a lemma, by its lemma code (``"G1"``) or id (``"softmax-gradient"``)."""
    for c, name in _present().items():
        if code in (c, name.replace("_", "-")):
            return importlib.import_module(f"{__name__}.{name}")
    raise KeyError(f"no proofs module for {code!r}; known: {', '.join(_present())}")


def codes() -> list[str]:
    """The codes of the lemmas whose proofs module exists, in the book's order."""
    return list(_present())
