"""The small framework every proofs/ module uses.

A lemma module builds a :class:`Derivation`: an ordered list of steps, each either an identity that
sympy proves on the spot (``simplify(lhs - rhs) == 0``, asserted) or an inequality step labelled
honestly with how it is established.  Modules export

* ``CODE`` (the lemma code, e.g. ``"G1"``) and ``ID`` (the lemma name, e.g. ``"softmax-gradient"``),
* ``STATEMENT``: one line, shown by the CLI and the book,
* ``derive()``: runs every step and returns the :class:`Derivation` (cached; raises if a step fails),
* ``EXPORTS``: ``{name: Export}``, the expressions the numeric package compiles.

This layer is purely symbolic: it imports sympy and nothing numeric.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Callable

import sympy as sp

from ._latex import Printer, latex as _latex, names_for

from .kinds import (BY_HAND, CONCRETE, DEFINITION, EXPORT_BY_HAND, EXPORT_DEFINITION, EXPORT_KINDS,  # noqa: F401
                    EXPORT_SYMPY, IDENTITY, KINDS, NUMERIC, PROVED)


# a step whose LaTeX is longer than this is shown folded in the book (short form, full form behind a toggle)
FOLD_AT = 200
_RELATION = {"=": "=", "<=": r"\le", ">=": r"\ge", ":=": ":="}


class ProofError(AssertionError):
    """A step that was claimed to hold does not."""


@dataclass(frozen=True)
class Step:
    label: str
    kind: str
    lhs: sp.Basic | None = None
    rhs: sp.Basic | None = None
    relation: str = "="
    note: str = ""

    def latex(self, code: str | None = None) -> str:
        """The step as a LaTeX line (for the book), every symbol under its LaTeX name (proofs/_latex.py).

        Parameters: ``code`` the lemma whose name overrides apply (``Derivation.latex`` passes its own).
        Returns: ``lhs rel rhs`` in LaTeX, or "" for a remark."""
        if self.lhs is None:
            return ""
        return f"{_latex(self.lhs, code)} {_RELATION[self.relation]} {_latex(self.rhs, code)}"

    def short_latex(self, code: str | None = None, budget: int = FOLD_AT) -> str:
        """The step folded to about ``budget`` characters of LaTeX: a long side keeps its outer structure and
        its first terms, the rest shown as ``\\cdots`` with the number of terms left out (the book shows the
        full form behind a toggle).  Returns the full form when it is short enough."""
        if self.lhs is None:
            return ""
        full = self.latex(code)
        if len(full) <= budget:
            return full
        # fold to the budget; where the folded form is still longer (a side keeps its outer structure), fold
        # again with less room per side, so that the short form fits the column
        for room in (budget, int(0.7 * budget), budget // 2):
            side = max(room // 2, 60)
            short = (f"{_fold(sp.sympify(self.lhs), side, code)} {_RELATION[self.relation]} "
                     f"{_fold(sp.sympify(self.rhs), side, code)}")
            if len(short) <= budget:
                break
        return short if len(short) < 0.8 * len(full) else full


@dataclass
class Derivation:
    code: str
    id: str
    statement: str
    steps: list[Step] = field(default_factory=list)

    # -- recording -------------------------------------------------------------------------------
    def define(self, label: str, lhs, rhs, note: str = "") -> None:
        self.steps.append(Step(label, DEFINITION, sp.sympify(lhs), sp.sympify(rhs), ":=", note))

    def identity(self, label: str, lhs, rhs, note: str = "", simplifier: Callable | None = None,
                 concrete: bool = False) -> None:
        """Assert ``simplify(lhs - rhs) == 0`` and record the step.  ``concrete=True``: the identity is checked
        at a concrete size but stands for a general claim, so the step is recorded as CONCRETE."""
        lhs, rhs = sp.sympify(lhs), sp.sympify(rhs)
        diff = (simplifier or sp.simplify)(lhs - rhs)
        if diff != 0:
            raise ProofError(f"{self.code} {self.id}: step {label!r} fails; lhs - rhs simplifies to {diff}")
        self.steps.append(Step(label, CONCRETE if concrete else IDENTITY, lhs, rhs, "=", note))

    def identities(self, label: str, pairs, note: str = "", simplifier: Callable | None = None,
                   concrete: bool = False) -> None:
        """Assert a family of identities (e.g. every entry of a matrix) and record it as one step."""
        pairs = list(pairs)
        for k, (lhs, rhs) in enumerate(pairs):
            diff = (simplifier or sp.simplify)(sp.sympify(lhs) - sp.sympify(rhs))
            if diff != 0:
                raise ProofError(f"{self.code} {self.id}: step {label!r}, case {k}: lhs - rhs = {diff}")
        first = pairs[0] if pairs else (None, None)
        self.steps.append(Step(f"{label} ({len(pairs)} cases)", CONCRETE if concrete else IDENTITY, first[0], first[1],
                               "=", note))

    def inequality(self, label: str, lhs, rhs, kind: str, relation: str = "<=", note: str = "") -> None:
        """Record an inequality step; ``kind`` says how it is established (never silently)."""
        if kind not in (PROVED, NUMERIC, BY_HAND, CONCRETE):
            raise ValueError(f"inequality kind must be PROVED, NUMERIC, BY_HAND or CONCRETE, got {kind!r}")
        if kind == CONCRETE and not note:
            raise ValueError("a concrete-size step must say in note= at which sizes it was checked")
        if kind == BY_HAND and not note:
            raise ValueError("a by-hand step must carry its written-out argument in note=")
        self.steps.append(Step(label, kind, sp.sympify(lhs), sp.sympify(rhs), relation, note))

    def remark(self, label: str, kind: str, note: str) -> None:
        """A step with no single formula (e.g. a cited theorem, or a check done numerically)."""
        if kind not in KINDS:
            raise ValueError(f"unknown step kind {kind!r}")
        self.steps.append(Step(label, kind, None, None, "", note))

    # -- reading ---------------------------------------------------------------------------------
    def summary(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.steps:
            out[s.kind] = out.get(s.kind, 0) + 1
        return out

    def latex(self) -> list[str]:
        """Every step as LaTeX ("" for a remark), symbols under their LaTeX names (proofs/_latex.py).

        Returns: one string per step, in order."""
        return [s.latex(self.code) for s in self.steps]

    def markdown(self) -> str:
        """The derivation as MyST markdown: one numbered item per step, with its kind.

        Labels and notes are text, escaped so that Markdown leaves them as written (a ``*`` or ``|`` stays).
        A step longer than FOLD_AT characters of LaTeX shows its short form (:meth:`Step.short_latex`), the
        full form in a dropdown below it.  Returns the markdown string."""
        items = []
        for k, s in enumerate(self.steps, 1):
            pad = " " * (len(str(k)) + 2)          # the continuation indent of item k
            lines = [f"{k}. **{md_text(s.label)}** — *{s.kind}*"]
            if s.lhs is not None:
                full, short = s.latex(self.code), s.short_latex(self.code)
                lines[0] += f": ${short}$"
                if short != full:
                    lines += ["", f"{pad}:::{{dropdown}} The whole step ({len(full):,} characters of LaTeX)",
                              f"{pad}$$", f"{pad}{full}", f"{pad}$$", f"{pad}:::"]
            if s.note:
                lines += ["", f"{pad}{md_text(s.note)}"]
            items.append("\n".join(lines))
        return "\n\n".join(items)


_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")     # every ASCII punctuation character


def md_text(text: str) -> str:
    """``text`` escaped for (MyST) Markdown, so it shows as written: every ASCII punctuation character is
    backslash-escaped (CommonMark allows it for each), whitespace runs become one space.

    Parameters: ``text`` plain text.  Returns: the Markdown source."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def md_table_cell(cell: str) -> str:
    """One cell of a Markdown table: ``$…$`` math spans write their norms and absolute values as ``\\Vert``
    and ``\\vert`` (a table eats the backslash of ``\\|``, so ``$\\|K\\|$`` would show |K|), and a ``|``
    in the text is escaped.  Parameters: ``cell`` text with optional ``$…$`` math.  Returns: the cell source."""
    parts = cell.split("$")
    for i, part in enumerate(parts):
        if i % 2:                                 # inside $…$
            parts[i] = re.sub(r"(?<!\\)\|", r"\\vert ", part.replace(r"\|", r"\Vert "))
        else:
            parts[i] = part.replace("|", r"\|")
    return "$".join(parts)


def md_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table whose cells go through :func:`md_table_cell`.

    Parameters: ``header`` the column titles, ``rows`` the rows (strings).  Returns: the table source."""
    line = lambda cells: "| " + " | ".join(md_table_cell(str(c)) for c in cells) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "---|" * len(header)] + [line(r) for r in rows])


def _fold(e, budget: int, code: str | None) -> str:
    """:func:`_short` of ``e`` within about ``budget`` characters: retried with half the budget while it is
    more than 1.5 times over, finally the placeholder ``\\underbrace{\\cdots}`` with the size left out."""
    b = budget
    while b >= 24:
        out = _short(e, b, code)
        if len(out) <= 1.5 * budget:
            return out
        b //= 2
    return _placeholder(e)


def _placeholder(e) -> str:
    return rf"\underbrace{{\cdots}}_{{\text{{{sp.count_ops(e)} operations}}}}"


def _short(e, budget: int, code: str | None) -> str:
    """``e`` as LaTeX in about ``budget`` characters: outer structure kept, long sums cut after their first
    terms (``+ \\cdots`` with the count left out), long factors shortened in turn."""
    full = _latex(e, code)
    if len(full) <= budget:
        return full
    budget = max(budget, 24)
    if isinstance(e, sp.MatrixBase):
        return rf"\left[\,\text{{a }} {e.rows} \times {e.cols} \text{{ matrix}}\,\right]"
    if isinstance(e, sp.core.relational.Relational):
        rel = {"<=": r"\le", ">=": r"\ge", "<": "<", ">": ">", "==": "=", "!=": r"\ne"}.get(e.rel_op, "=")
        return f"{_short(e.lhs, budget // 2, code)} {rel} {_short(e.rhs, budget // 2, code)}"
    if e.is_Add:
        terms = _Printer_terms(e)
        out, used = "", 0
        for t in terms:
            neg = t.could_extract_minus_sign()
            piece = _latex(-t if neg else t, code)
            if out and len(out) + len(piece) > budget:
                break
            if not out and len(piece) > budget:
                piece = _short(-t if neg else t, budget - 40, code)
            out += ("- " if neg else "") + piece if not out else (" - " if neg else " + ") + piece
            used += 1
        if used < len(terms):
            left = len(terms) - used
            out += rf" + \underbrace{{\cdots}}_{{\text{{{left} more term{'s' if left > 1 else ''}}}}}"
        return out
    if e.is_Mul:
        num, den = sp.fraction(e)
        if den != 1:
            return rf"\frac{{{_short(num, budget // 2, code)}}}{{{_short(den, budget // 2, code)}}}"
        coeff, factors = e.as_coeff_mul()
        sign = "-" if coeff == -1 else ("" if coeff == 1 else _latex(coeff, code) + " ")
        each = max(budget // max(len(factors), 1), 24)
        return sign + " ".join(_group(f, each, code) for f in factors)
    if e.is_Pow:
        if e.exp.is_negative:
            return rf"\frac{{1}}{{{_short(e.base ** -e.exp, budget, code)}}}"
        base = _short(e.base, budget // 2, code)
        if not (e.base.is_Symbol or isinstance(e.base, (sp.Indexed, sp.Function)) or e.base.is_Integer):
            base = rf"\left({base}\right)"
        return f"{base}^{{{_short(e.exp, budget // 2, code)}}}"
    if isinstance(e, sp.exp):
        return f"e^{{{_short(e.args[0], budget, code)}}}"
    if isinstance(e, sp.Abs):
        return rf"\left|{_short(e.args[0], budget, code)}\right|"
    if isinstance(e, sp.Sum):
        limits = "".join(rf"\sum_{{{_latex(v, code)}={_latex(lo, code)}}}^{{{_latex(hi, code)}}} "
                         for v, lo, hi in reversed(e.limits))
        return limits + _group(e.function, budget - len(limits), code)
    if isinstance(e, sp.Function) and e.args:
        each = max(budget // len(e.args), 24)
        name = _Printer_function_name(e, code)
        return rf"{name}\left({', '.join(_short(a, each, code) for a in e.args)}\right)"
    return _placeholder(e)


def _group(e, budget: int, code: str | None) -> str:
    """:func:`_short` of a factor, in parentheses when it is a sum (so the folded product reads right)."""
    inner = _short(e, budget, code)
    return rf"\left({inner}\right)" if (e.is_Add or (e.is_Mul and e.could_extract_minus_sign())) else inner


def _Printer_terms(e) -> list:
    """The terms of a sum in the order the LaTeX printer writes them."""
    return list(Printer({}, {})._as_ordered_terms(e))


def _Printer_function_name(e, code: str | None) -> str:
    """The LaTeX name of the function of ``e`` (``\\sin``, ``\\varphi``, ``\\operatorname{erf}``)."""
    return Printer(names_for(code), {})._hprint_Function(e.func.__name__)


@dataclass(frozen=True)
class Export:
    """An expression for the numeric layer: ``expr`` as a function of the symbols ``args`` (in order)."""

    args: tuple[sp.Symbol, ...]
    expr: sp.Expr
    doc: str = ""
    kind: str = EXPORT_BY_HAND   # how it is established (EXPORT_KINDS); the cautious default

    def __post_init__(self):
        if self.kind not in EXPORT_KINDS:
            raise ValueError(f"export kind must be one of {EXPORT_KINDS}, got {self.kind!r}")


def export_kind(module: str, name: str) -> str:
    """How ``proofs.<module>.EXPORTS[name]`` is established (one of EXPORT_KINDS); ``module`` is the module
    name (``"hessian_bound"``), a lemma code (``"B4"``) or id (``"hessian-bound"``)."""
    import importlib

    try:
        mod = importlib.import_module(f"{__package__}.{module}")
    except ModuleNotFoundError:
        proofs = importlib.import_module(__package__)

        mod = proofs.lemma(module)
    try:
        return mod.EXPORTS[name].kind
    except KeyError:
        raise KeyError(f"ntkcheck.proofs.{mod.__name__.split('.')[-1]} exports {sorted(mod.EXPORTS)}, not {name!r}") from None


def cached_derivation(fn: Callable[[], Derivation]) -> Callable[[], Derivation]:
    """Run a derivation once per process (sympy work is slow) and return the same object afterwards."""
    return functools.lru_cache(maxsize=None)(fn)
