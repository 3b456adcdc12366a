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
from dataclasses import dataclass, field
from typing import Callable

import sympy as sp

# How a step is established.  Identities are always proved by sympy; inequality steps say honestly how.
IDENTITY = "identity, proved by sympy"
PROVED = "inequality, proved symbolically"
NUMERIC = "inequality, checked numerically"
BY_HAND = "by hand"
DEFINITION = "definition"
# a general claim whose check ran only at concrete sizes (e.g. m = 2, n = 3): honest, but not a proof
CONCRETE = "verified at concrete sizes"
KINDS = (IDENTITY, PROVED, NUMERIC, BY_HAND, DEFINITION, CONCRETE)

# How an export is established (Export.kind; :func:`export_kind` reports it, ``verify`` can print it).
EXPORT_SYMPY = "derived: every step of its chain is checked by sympy"
EXPORT_BY_HAND = "derived: sympy checks the expression, some steps of its chain are argued by hand"
EXPORT_DEFINITION = "definition: nothing to prove; a wrong value is caught by the numeric check named in its doc"
EXPORT_KINDS = (EXPORT_SYMPY, EXPORT_BY_HAND, EXPORT_DEFINITION)


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

    def latex(self) -> str:
        """The step as a LaTeX line (for the book)."""
        if self.lhs is None:
            return ""
        rel = {"=": "=", "<=": r"\le", ">=": r"\ge", ":=": ":="}[self.relation]
        return f"{sp.latex(self.lhs)} {rel} {sp.latex(self.rhs)}"


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

    def markdown(self) -> str:
        """The derivation as MyST markdown: one numbered item per step, with its kind."""
        lines = []
        for k, s in enumerate(self.steps, 1):
            head = f"{k}. **{s.label}** — *{s.kind}*"
            if s.lhs is not None:
                head += f": ${s.latex()}$"
            if s.note:
                head += f"  \n   {s.note}"
            lines.append(head)
        return "\n".join(lines)


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
