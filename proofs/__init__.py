"""Symbolic derivations, one module per lemma of ../shared/MATH.md (the single source of truth).

``LEMMAS`` maps each MATH.md code (G1, …) to its module; each module exports ``CODE``, ``ID``,
``STATEMENT``, ``derive()`` and ``EXPORTS`` (see :mod:`proofs._core`).
"""
from __future__ import annotations

import importlib

# code -> module name (the module is named after the MATH.md id, with '_' for '-')
_MODULES = {
    "G1": "softmax_gradient",
    "G2": "shift_invariance",
    "G3": "hessian",
    "G4": "ntk_factorization",
    "G5": "ntk_limit",
    "G6": "ntk_positive_definite",
}


def lemma(code: str):
    """The proofs module of a lemma, by its MATH.md code (``"G1"``) or id (``"softmax-gradient"``)."""
    for c, name in _MODULES.items():
        if code in (c, name.replace("_", "-")):
            return importlib.import_module(f"proofs.{name}")
    raise KeyError(f"no proofs module for {code!r}; known: {', '.join(_MODULES)}")


def codes() -> list[str]:
    return list(_MODULES)
