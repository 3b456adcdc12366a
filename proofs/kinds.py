"""How a derivation step, or an exported expression, is established: the labels every derivation uses.

Public and free of sympy, so that the checks, the certificates and the book can name the kinds without
loading the symbolic layer.
"""
from __future__ import annotations

# How a step is established.  Identities are always proved by sympy; inequality steps say honestly how.
IDENTITY = "identity, proved by sympy"
PROVED = "inequality, proved symbolically"
NUMERIC = "inequality, checked numerically"
BY_HAND = "by hand"
DEFINITION = "definition"
# a general claim whose check ran only at concrete sizes (e.g. m = 2, n = 3): honest, but not a proof
CONCRETE = "verified at concrete sizes"
KINDS = (IDENTITY, PROVED, NUMERIC, BY_HAND, DEFINITION, CONCRETE)

# How an export is established (Export.kind; proofs._core.export_kind reports it, ``verify`` can print it).
EXPORT_SYMPY = "derived: every step of its chain is checked by sympy"
EXPORT_BY_HAND = "derived: sympy checks the expression, some steps of its chain are argued by hand"
EXPORT_DEFINITION = "definition: nothing to prove; a wrong value is caught by the numeric check named in its doc"
EXPORT_KINDS = (EXPORT_SYMPY, EXPORT_BY_HAND, EXPORT_DEFINITION)
