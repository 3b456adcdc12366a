"""Typed check results: a :class:`CheckResult` holds the verdict of one lemma check and its claims (:class:`Claim`),
each one sentence (what was checked, the number observed, the relation, the bound, whether it holds).

The CLI's ``verify`` table, the JSON that ``verify --json`` writes and the book's asserting cells all read the
same object: ``result.claims`` to say what was checked, ``result.details`` (plain data) to draw it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

# How a claim (or a whole check) is established.
SAMPLED = "sampled"         # float64 numerics over random and adversarial cases: evidence, not proof
CERTIFIED = "certified"     # ball arithmetic (python-flint): a proof for the one instance it covers
SYMBOLIC = "symbolic"       # a sympy derivation
CLAIM_KINDS = (SAMPLED, CERTIFIED, SYMBOLIC)

# The relations a claim can state between its observed number and its bound; "∈" takes a (lo, hi) bound.
RELATIONS = ("≤", "<", "≥", ">", "=", "∈")


def fmt_number(x, other=None, digits: int = 3) -> str:
    """``x`` for a sentence: integers as they are, floats to ``digits`` significant digits, more when that
    would make ``x`` print like a different ``other`` (so that 1.0004 is never shown as "1 ≤ 1").

    Parameters: ``x`` an int or float; ``other`` a number it is compared with (optional); ``digits`` the
    default significant digits.  Returns the text."""
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x == int(x) and abs(x) < 1e6 and (other is None or isinstance(other, (tuple, list)) or float(other) == x
                                         or str(int(x)) != f"{float(other):.{digits}g}"):
        return str(int(x))
    for d in range(digits, 18):
        s = f"{x:.{d}g}"
        if other is None or isinstance(other, (tuple, list)) or float(other) == x \
                or s != f"{float(other):.{d}g}":
            return s
    return repr(x)


def _fmt_bound(bound, observed) -> str:
    if isinstance(bound, (tuple, list)):
        return f"[{fmt_number(bound[0], observed)}, {fmt_number(bound[1], observed)}]"
    return fmt_number(bound, observed)


def _holds(observed, relation: str, bound) -> bool:
    """The relation evaluated (NaN never satisfies one)."""
    if relation == "∈":
        lo, hi = bound
        return bool(lo <= observed <= hi)
    return bool({"≤": observed <= bound, "<": observed < bound, "≥": observed >= bound, ">": observed > bound,
                 "=": observed == bound}[relation])


@dataclass(frozen=True)
class Claim:
    """One checked statement.

    Parameters: ``what`` says what was measured (a noun phrase, e.g. "worst |fd − ∇L| / tolerance over 25
    trials"); ``observed`` the number found; ``relation`` one of RELATIONS; ``bound`` the number (or, for
    "∈", the (lo, hi) interval) it must satisfy; ``kind`` how it is established (CLAIM_KINDS).
    ``holds`` is computed from the three (NaN never holds) and ``sentence`` states it all in one line."""

    what: str
    observed: float
    relation: str
    bound: float | tuple
    kind: str = SAMPLED
    holds: bool = field(init=False)

    def __post_init__(self):
        if self.relation not in RELATIONS:
            raise ValueError(f"claim relation must be one of {RELATIONS}, got {self.relation!r}")
        if self.kind not in CLAIM_KINDS:
            raise ValueError(f"claim kind must be one of {CLAIM_KINDS}, got {self.kind!r}")
        if (self.relation == "∈") != isinstance(self.bound, (tuple, list)):
            raise ValueError("a claim's bound is a (lo, hi) pair exactly when its relation is '∈'")
        obs = self.observed if isinstance(self.observed, int) else float(self.observed)
        bound = tuple(float(b) for b in self.bound) if isinstance(self.bound, (tuple, list)) else \
            (self.bound if isinstance(self.bound, int) else float(self.bound))
        object.__setattr__(self, "observed", obs)
        object.__setattr__(self, "bound", bound)
        object.__setattr__(self, "holds", _holds(obs, self.relation, bound))

    @property
    def sentence(self) -> str:
        """``"<what>: <observed> <relation> <bound> — holds"`` (or "— FAILS")."""
        other = self.bound if not isinstance(self.bound, tuple) else None
        return (f"{self.what}: {fmt_number(self.observed, other)} {self.relation} "
                f"{_fmt_bound(self.bound, self.observed)} — {'holds' if self.holds else 'FAILS'}")

    def to_json(self) -> dict:
        """The claim as plain data (``holds`` and ``sentence`` included)."""
        return {"what": self.what, "observed": self.observed, "relation": self.relation,
                "bound": list(self.bound) if isinstance(self.bound, tuple) else self.bound,
                "kind": self.kind, "holds": self.holds, "sentence": self.sentence}

    @classmethod
    def from_json(cls, d: dict) -> "Claim":
        """The inverse of :meth:`to_json` (``holds`` is recomputed).  Non-finite numbers written as strings
        ("inf", "nan") are read back as floats."""
        def num(v):
            return float(v) if isinstance(v, str) else v
        bound = d["bound"]
        bound = tuple(num(b) for b in bound) if isinstance(bound, list) else num(bound)
        return cls(d["what"], num(d["observed"]), d["relation"], bound, d.get("kind", SAMPLED))


@dataclass(frozen=True)
class CheckResult:
    """The result of one lemma check (``ntkcheck.checks.run``).

    Fields: ``code``/``id`` name the lemma; ``statement`` its statement (from proofs/), ``short`` a few
    symbols, ``check`` what the numeric check does; ``holds`` the verdict (derivation, every claim, no
    error); ``kind`` how the check establishes it (CLAIM_KINDS; all registered checks are SAMPLED, with
    CERTIFIED claims where a certificate runs beside them); ``trials``, ``seconds`` (wall clock, derivation
    included), ``derivation_seconds``; ``derivation`` the symbolic derivation's outcome (``holds``,
    ``steps``, ``by_kind`` or ``error``); ``seed``, ``scale``, ``sizes``; ``claims`` (a tuple of
    :class:`Claim`); ``details`` plain data (for plots and the book); ``worst_ratio``, ``max_error`` and
    ``tolerance`` where the check reports them; ``error`` a one-line error when the check or its derivation
    failed to run; ``versions``."""

    code: str
    id: str
    statement: str
    short: str
    check: str
    holds: bool
    trials: int
    seconds: float
    seed: int
    scale: float
    kind: str = SAMPLED
    derivation_seconds: float = 0.0
    derivation: dict = field(default_factory=dict)
    sizes: dict = field(default_factory=dict)
    claims: tuple = ()
    details: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    worst_ratio: float | None = None
    max_error: float | None = None
    tolerance: float | None = None
    error: str | None = None

    def sentences(self) -> list[str]:
        """One sentence per claim, and the error if there is one."""
        out = [c.sentence for c in self.claims]
        if self.error:
            out.append(f"error: {self.error}")
        return out

    def report(self) -> str:
        """The result for a reader: a head line (code, id, verdict, trials, kind), then one sentence per claim
        (what was checked, the number, the relation, the bound, whether it holds), then the error if any.
        No timings, so that the same seed prints the same text."""
        verdict = "holds" if self.holds else "ERROR" if self.error else "FAILS"
        head = f"{self.code} {self.id}: {verdict} ({self.trials} trials, {self.kind})"
        return "\n".join([head] + [f"  • {s}" for s in self.sentences()])

    def to_json(self) -> dict:
        """The JSON record ``verify --json`` writes: the fields as plain data (claims as dicts); the optional
        ``worst_ratio``, ``max_error``/``tolerance`` and ``error`` only when set."""
        rec = {"id": self.id, "code": self.code, "statement": self.statement, "short": self.short,
               "check": self.check, "holds": self.holds, "kind": self.kind, "trials": self.trials,
               "seconds": self.seconds, "derivation_seconds": self.derivation_seconds,
               "derivation": self.derivation, "seed": self.seed, "scale": self.scale, "sizes": self.sizes,
               "claims": [c.to_json() for c in self.claims], "details": self.details, "versions": self.versions}
        if self.worst_ratio is not None:
            rec["worst_ratio"] = self.worst_ratio
        if self.max_error is not None:
            rec["max_error"] = self.max_error
            rec["tolerance"] = self.tolerance
        if self.error is not None:
            rec["error"] = self.error
        return rec

    @classmethod
    def from_json(cls, d: dict) -> "CheckResult":
        """A result from its :meth:`to_json` record (e.g. read back from ``verify --json``)."""
        names = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in d.items() if k in names and k != "claims"}
        return cls(**kw, claims=tuple(Claim.from_json(c) for c in d.get("claims", ())))


def describe_derivation(der) -> str:
    """One line on a derivation (``proofs.lemma(code).derive()``) that counts its steps by kind, from
    ``der.summary()``: the steps the derivation asserts when it runs (sympy identities, symbolic
    inequalities, inequalities checked numerically, steps verified at concrete sizes) apart from the steps
    argued by hand, which are counted as such and never as asserted, and from the definitions.

    Parameters: ``der`` a Derivation.  Returns the line, e.g. "G1 softmax-gradient: 14 steps — asserted
    when derive() runs: 9 sympy identities, 3 verified at concrete sizes; argued by hand: 1; definitions: 1"."""
    from ntkcheck.proofs.kinds import BY_HAND, CONCRETE, DEFINITION, IDENTITY, NUMERIC, PROVED

    counts = dict(der.summary())
    names = ((IDENTITY, "sympy identity", "sympy identities"),
             (PROVED, "symbolic inequality", "symbolic inequalities"),
             (NUMERIC, "inequality checked numerically", "inequalities checked numerically"),
             (CONCRETE, "verified at concrete sizes", "verified at concrete sizes"))
    asserted = [f"{counts[k]} {one if counts[k] == 1 else many}" for k, one, many in names if counts.get(k)]
    for k, _, _ in names:
        counts.pop(k, None)
    by_hand, defs = counts.pop(BY_HAND, 0), counts.pop(DEFINITION, 0)
    if counts:                                     # a kind this function does not know: say it, do not drop it
        asserted += [f"{v} {k}" for k, v in counts.items()]
    parts = [f"asserted when derive() runs: {', '.join(asserted) if asserted else 'none'}",
             f"argued by hand (not asserted): {by_hand}"]
    if defs:
        parts.append(f"definitions: {defs}")
    return f"{der.code} {der.id}: {len(der.steps)} steps — " + "; ".join(parts)
