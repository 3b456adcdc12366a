"""The ball-arithmetic target: proofs/ EXPORTS compiled to python-flint ``arb`` (Arb's midpoint–radius
balls with outward rounding, exp and log included), and the exact conversions a certificate needs.

A compiled export evaluates the *proved* expression (the sympy tree exported by proofs/), not a retyped
one: :class:`ArbPrinter` prints it with every function mapped to its arb counterpart and every rational
constant p/q printed as the ball ``arb(fmpq(p, q))`` (never a Python float); a float constant inside an
export, or a construct with no ball counterpart (Piecewise, a relational), is refused with
:class:`NotCompilable`.  Every argument is converted to a ball before the call: a float64 becomes the
exact ball (radius 0) of its dyadic value, an int is exact, an ``arb`` is passed as is.

Precision: python-flint's working precision is a process-wide setting; :func:`workprec` sets it for a
``with`` block and restores it (the only way this package changes it).
"""
from __future__ import annotations

import functools
import math
from contextlib import contextmanager
from fractions import Fraction

import numpy as np
import sympy as sp
from sympy.printing.str import StrPrinter

from ntkcheck.core.compile import export

try:  # python-flint is the optional "certify" extra
    import flint
    from flint import arb, arb_mat, fmpq
except ImportError:  # pragma: no cover - exercised only without the extra
    flint = arb = arb_mat = fmpq = None

DEFAULT_PREC = 128   # bits


class NotCompilable(ValueError):
    """An export that has no ball-arithmetic counterpart."""


def require_flint() -> None:
    if flint is None:
        raise ValueError("certificates need python-flint (ball arithmetic): pip install python-flint "
                         "(or pip install -e '.[certify]')")


def flint_version() -> str:
    require_flint()
    return flint.__version__


@contextmanager
def workprec(bits: int):
    """Arb's working precision set to ``bits`` inside the block (restored afterwards, also on error)."""
    require_flint()
    with flint.ctx.workprec(int(bits)):
        yield


# ------------------------------------------------------------------------------------------ compile
class ArbPrinter(StrPrinter):
    """sympy → Python source over balls.  Functions print as names bound in :data:`NAMESPACE`."""

    def _print_Rational(self, expr):
        return f"_Q({expr.p}, {expr.q})"

    def _print_Half(self, expr):
        return "_Q(1, 2)"

    def _print_Integer(self, expr):
        return f"_Z({expr.p})"

    def _print_Float(self, expr):
        raise NotCompilable(f"a float constant {expr} in an export cannot be turned into an exact ball")

    def _print_Pi(self, expr):
        return "_pi()"

    def _print_Exp1(self, expr):
        return "_e()"

    def _print_Piecewise(self, expr):
        raise NotCompilable("Piecewise has no ball-arithmetic counterpart")

    def _print_Relational(self, expr):
        raise NotCompilable("a relational has no ball-arithmetic counterpart")

    def _print_Pow(self, expr, rational=False):
        b, e = expr.base, expr.exp
        if e == sp.S.Half:
            return f"sqrt({self._print(b)})"
        if e == -sp.S.Half:
            return f"(_Z(1)/sqrt({self._print(b)}))"
        if e.is_Integer:       # an integer power stays a Python int (exact, and arb's fast path)
            return f"({self._print(b)})**({int(e)})"
        return f"({self._print(b)})**({self._print(e)})"


def to_ball(v):
    """A ball for ``v``: arb as is; int and float64 exactly; Fraction exactly (rounded outward)."""
    if isinstance(v, arb):
        return v
    if isinstance(v, (bool, np.bool_)):
        raise ValueError(f"a boolean is not a number: {v!r}")
    if isinstance(v, (int, np.integer)):
        return arb(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not math.isfinite(f):
            raise ValueError(f"non-finite value {f!r}")
        return arb(f)           # exact: a double is a dyadic rational, arb stores it with radius 0
    if isinstance(v, Fraction):
        return arb(fmpq(v.numerator, v.denominator))
    raise ValueError(f"cannot convert {type(v).__name__} to a ball")


def _fold(op):
    def f(*xs):
        out = to_ball(xs[0])
        for x in xs[1:]:
            out = getattr(out, op)(to_ball(x))
        return out
    return f


NAMESPACE = {
    "_Q": lambda p, q: arb(fmpq(p, q)),
    "_Z": lambda p: arb(p),
    "_pi": lambda: arb.pi(),
    "_e": lambda: arb.const_e(),
    "exp": lambda x: to_ball(x).exp(),
    "log": lambda x: to_ball(x).log(),
    "sqrt": lambda x: to_ball(x).sqrt(),
    "expm1": lambda x: to_ball(x).expm1(),
    "log1p": lambda x: to_ball(x).log1p(),
    "factorial": lambda x: (to_ball(x) + 1).gamma(),
    "gamma": lambda x: to_ball(x).gamma(),
    "tanh": lambda x: to_ball(x).tanh(),
    "erf": lambda x: to_ball(x).erf(),
    "Abs": lambda x: abs(to_ball(x)),
    "Max": _fold("max"),
    "Min": _fold("min"),
}


_export = export        # the same lookup as the numpy and mpmath targets


@functools.lru_cache(maxsize=None)
def compiled_arb(module: str, name: str):
    """``proofs.<module>.EXPORTS[name]`` as a function of balls (arguments converted by :func:`to_ball`)."""
    require_flint()
    exp = _export(module, name)
    unknown = sorted({type(f).__name__ for f in sp.sympify(exp.expr).atoms(sp.Function)} - set(NAMESPACE))
    if unknown:
        raise NotCompilable(f"{module}.{name} uses {', '.join(unknown)}, which has no ball counterpart here")
    raw = sp.lambdify(exp.args, exp.expr, modules=[NAMESPACE], printer=ArbPrinter(), cse=False)
    src = source_arb(module, name)

    def fn(*args):
        if len(args) != len(exp.args):
            raise TypeError(f"{module}.{name} takes {len(exp.args)} arguments, got {len(args)}")
        out = raw(*(to_ball(a) for a in args))
        return to_ball(out)

    fn.__doc__ = f"{module}.{name} (arb): {exp.doc}\n{exp.expr}\n{src}"
    fn.export = (module, name)
    fn.raw = raw           # the same generated code without the argument conversion (arguments already balls)
    return fn


def source_arb(module: str, name: str) -> str:
    """The ball-arithmetic source of an export (what :func:`compiled_arb` runs)."""
    exp = _export(module, name)
    return ArbPrinter().doprint(exp.expr)


# ------------------------------------------------------------------------------------------ exact conversions
def ball_from_interval(lo, hi):
    """The smallest-radius ball (at the working precision, rounded outward) containing [lo, hi]."""
    lo, hi = to_ball(lo), to_ball(hi)
    return lo.union(hi)


def arf_fraction(x) -> Fraction:
    """The exact rational value of an arb with radius 0 (e.g. ``ball.lower()``)."""
    man, exp = x.mid().man_exp()
    man, exp = int(man), int(exp)
    return Fraction(man * 2**exp) if exp >= 0 else Fraction(man, 2**(-exp))


def endpoints(ball) -> tuple[Fraction, Fraction]:
    """[lo, hi] of a ball as exact rationals (raises on a non-finite ball)."""
    if not ball.is_finite():
        raise ValueError(f"the enclosure {ball} is not finite")
    return arf_fraction(ball.lower()), arf_fraction(ball.upper())


def decimal(q: Fraction, digits: int, up: bool) -> str:
    """``q`` rounded to ``digits`` significant decimal digits, towards +inf (``up`` True) or −inf (False).

    Parameters: q -- an exact rational; digits -- significant digits (≥ 1); up -- the rounding direction.
    Returns: the decimal string (e.g. "1.25e-3"); "0" for q = 0."""
    if q == 0:
        return "0"
    neg = q < 0
    a = -q if neg else q
    e = math.floor(math.log10(a.numerator) - math.log10(a.denominator))
    # fix the estimate so that 10^e <= a < 10^(e+1) exactly
    while Fraction(10) ** e > a:
        e -= 1
    while Fraction(10) ** (e + 1) <= a:
        e += 1
    scale = Fraction(10) ** (digits - 1 - e)
    t = a * scale
    away = up != neg            # rounding magnitude away from zero?
    k = t.numerator // t.denominator
    if away and k != t:
        k += 1
    ks = str(k)
    if len(ks) > digits:      # rounding up carried into a new digit (e.g. 9.99… → 10.0…)
        e += 1
    s = f"{ks[0]}.{ks[1:digits]}e{e:+d}" if digits > 1 else f"{ks[0]}e{e:+d}"
    return "-" + s if neg else s


def interval_strings(ball, digits: int = 20) -> list[str]:
    """[lo, hi] as outward-rounded decimal strings (lo rounded down, hi rounded up)."""
    lo, hi = endpoints(ball)
    return [decimal(lo, digits, up=False), decimal(hi, digits, up=True)]


def parse_interval(pair) -> tuple[Fraction, Fraction]:
    """An interval written by :func:`interval_strings` back to exact rationals (one-line ValueError if bad)."""
    if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(s, str) for s in pair)):
        raise ValueError(f"an interval must be a list of two decimal strings, got {pair!r}")
    try:
        lo, hi = Fraction(pair[0]), Fraction(pair[1])
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"an interval must be a list of two decimal strings, got {pair!r}") from None
    if lo > hi:
        raise ValueError(f"interval {pair} has lo > hi")
    return lo, hi


def fraction_ball(lo: Fraction, hi: Fraction):
    """A ball containing the rational interval [lo, hi] (rounded outward at the working precision)."""
    return to_ball(lo).union(to_ball(hi))


def float_down(q: Fraction) -> float:
    """The largest double ≤ q."""
    f = float(q)
    if Fraction(f) > q:
        f = float(np.nextafter(f, -np.inf))
    return f


def float_up(q: Fraction) -> float:
    """The smallest double ≥ q."""
    f = float(q)
    if Fraction(f) < q:
        f = float(np.nextafter(f, np.inf))
    return f


def lower(ball) -> float:
    """A double ≤ every point of the ball."""
    return float_down(endpoints(ball)[0])


def upper(ball) -> float:
    """A double ≥ every point of the ball."""
    return float_up(endpoints(ball)[1])


def matrix_balls(A: np.ndarray):
    """A float64 array as an arb_mat (exact)."""
    require_flint()
    A = np.asarray(A, dtype=np.float64)
    return arb_mat(A.tolist())


def acb_mat_approx_min(Amat):
    """An approximate smallest eigenvalue (a ball with radius 0, no error bound) of a symmetric arb_mat:
    only ever used as the point around which a verified test is run."""
    from flint import acb_mat

    ev = acb_mat(Amat.mid()).eig(algorithm="approx")
    best = min((e.real.mid() for e in ev), key=lambda z: float(z))
    return arb(best.mid())
