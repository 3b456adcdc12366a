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
    fn = sp.lambdify(args, stable_form(expr), modules=target, cse=True)
    fn.__doc__ = f"{doc} ({target})\n{expr}"
    return fn


def stable_form(expr):
    """``expr`` with c·e^x − c written c·expm1(x) and log(1 + x) written log1p(x), the forms without
    cancellation for small x (e^{4R₀} − 1 at R₀ = 1e-9 loses 8 digits in float64, which decided hypothesis
    (ii) of T1 by its last bits at the widths of B1's bounds).  Only these two patterns are rewritten, each
    where it stands (nothing else of the expression changes); the rewrite is checked by sympy (with expm1 and
    log1p expanded back, the difference to ``expr`` expands to 0) and a failure raises.

    Parameters: ``expr`` a sympy expression.  Returns the rewritten expression (``expr`` itself when there
    is nothing to rewrite)."""
    from sympy.codegen.cfunctions import expm1, log1p

    def is_log1(e):
        return isinstance(e, sp.log) and e.args[0].is_Add and sp.S.One in e.args[0].args

    def to_expm1(e):                                     # an Add: c·e^x + (−c) + rest → c·expm1(x) + rest
        const = sum((t for t in e.args if t.is_Number), sp.S.Zero)
        rest = [t for t in e.args if not t.is_Number]
        for k, t in enumerate(rest):
            c_x = _exp_term(t)
            if c_x is not None and c_x[0] == -const:
                return sp.Add(c_x[0] * expm1(c_x[1]), *(rest[:k] + rest[k + 1:]), evaluate=False)
        return e

    new = expr.replace(is_log1, lambda e: log1p(e.args[0] - 1)).replace(lambda e: e.is_Add, to_expm1)
    if new == expr:
        return expr
    back = new.replace(expm1, lambda a: sp.exp(a) - 1).replace(log1p, lambda a: sp.log(1 + a))
    if sp.expand(back - expr) != 0:                        # pragma: no cover - a rewriting bug
        raise ArithmeticError(f"the stable form of {expr} is not an identity: {new}")
    return new


def _exp_term(t):
    """(c, x) when the term ``t`` is c·e^x with a number c, else None."""
    if isinstance(t, sp.exp):
        return sp.S.One, t.args[0]
    if t.is_Mul:
        nums = [f for f in t.args if f.is_Number]
        exps = [f for f in t.args if isinstance(f, sp.exp)]
        if len(nums) == 1 and len(exps) == 1 and len(t.args) == 2:
            return nums[0], exps[0].args[0]
    return None


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
