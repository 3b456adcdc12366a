"""Compile the expressions exported by proofs/ into numpy and mpmath functions.

Three layers kept apart: the expression (owned by proofs/), the target (``"numpy"`` or ``"mpmath"``,
always passed explicitly to ``lambdify`` as ``modules=``), and this glue.  The generated source can be
shown with :func:`source`.
"""
from __future__ import annotations

import functools
import importlib
import inspect

import sympy as sp

TARGETS = ("numpy", "mpmath")


@functools.lru_cache(maxsize=None)
def compiled(module: str, name: str, target: str = "numpy"):
    """The function for ``proofs.<module>.EXPORTS[name]`` on ``target`` (numpy broadcasts elementwise)."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    exp = export(module, name)
    return compile_expression(exp.args, exp.expr, target, f"{module}.{name}: {exp.doc}")


def compile_expression(args, expr, target: str = "numpy", doc: str = ""):
    """``expr`` (a sympy expression in the symbols ``args``) as a function on ``target`` — the one
    lambdify call of the package (``modules=target``, common subexpressions eliminated), so an expression
    that is not a proofs export (an activation registered by a user) is compiled the same way.

    Parameters: ``args`` a tuple of sympy symbols, ``expr`` a sympy expression (never a string: nothing is
    sympified), ``target`` one of ``TARGETS``, ``doc`` what the function is.  Returns the function."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    if not isinstance(expr, sp.Basic):
        raise ValueError(f"expr must be a sympy expression, got {type(expr).__name__}")
    fn = sp.lambdify(args, expr, modules=target, cse=True)
    fn.__doc__ = f"{doc} ({target})\n{expr}"
    return fn


def source(module: str, name: str, target: str = "numpy") -> str:
    """The generated Python source of a compiled export, for a user who wants to see it."""
    return inspect.getsource(compiled(module, name, target))


def export(module: str, name: str):
    """``EXPORTS[name]`` of the proofs module ``module`` (the one lookup every compile target uses)."""
    mod = importlib.import_module(f"ntkcheck.proofs.{module}")
    try:
        return mod.EXPORTS[name]
    except KeyError:
        raise KeyError(f"ntkcheck.proofs.{module} exports {sorted(mod.EXPORTS)}, not {name!r}") from None
