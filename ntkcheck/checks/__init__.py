"""The registry of numeric lemma checks.

A check is a function ``fn(ctx) -> Outcome`` registered under its lemma code and id with
:func:`register`.  ``ctx`` carries the seed, a trial multiplier and a progress callback; the check
draws everything it needs from ``ctx.rng`` so that the same seed gives the same numbers.  Its Outcome
lists its claims (:class:`Claim`) (what was checked, the number, the relation, the bound); :func:`run` returns
a :class:`CheckResult` (``ntkcheck.checks.result``), which the CLI, ``verify --json`` and the book read.

Adding a lemma: write ``proofs/<id>.py`` (statement, derivation, exports), then a check here in the
module of its section, registered with ``@register("X9", "my-id", proof="my_id")``; tests in
``tests/test_<section>.py``; a section in the book.  The CLI, the JSON output and the book's
traceability table pick it up from this registry.
"""
from __future__ import annotations

import importlib
import importlib.util
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ntkcheck import seeds
from ntkcheck.core.results import versions
from ntkcheck.checks.result import (CERTIFIED, CLAIM_KINDS, SAMPLED, SYMBOLIC, CheckResult, Claim,  # noqa: F401
                                    describe_derivation)


@dataclass
class Outcome:
    """What a check found: ``holds`` is the verdict and ``claims`` the statements it rests on (the verdict
    must be exactly "every claim holds"; :func:`run` reports a disagreement as an error).  ``worst_ratio``
    (observed/bound) or ``max_error`` (against ``tolerance``) summarizes them; ``details`` is plain data."""

    holds: bool
    trials: int
    worst_ratio: float | None = None
    max_error: float | None = None
    tolerance: float | None = None
    sizes: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)
    claims: list = field(default_factory=list)


@dataclass
class Context:
    seed: int = 0
    scale: float = 1.0
    advance: Callable[[float], None] = lambda frac: None
    code: str = ""       # the check's code: each check draws from its own stream under the user's seed

    def __post_init__(self):
        # purpose "check.stream", keyed by the CRC-32 of the code (ntkcheck.seeds): G1 and G2 never share draws
        self.rng = seeds.rng(self.seed, "check.stream", zlib.crc32(self.code.encode()))

    def trials(self, default: int) -> int:
        """``default`` trials scaled by the user's ``--scale`` (at least one)."""
        return max(1, int(round(default * self.scale)))

    def seed_from_rng(self) -> int:
        return int(self.rng.integers(2**31 - 1))


@dataclass(frozen=True)
class Check:
    code: str
    id: str
    proof: str           # proofs/ module name
    fn: Callable[[Context], Outcome]
    what: str            # one line: what the numeric check does
    short: str = ""      # the statement in a few symbols, for the verify table
    kind: str = SAMPLED  # how the check establishes its claims (result.CLAIM_KINDS)

    @property
    def statement(self) -> str:
        return importlib.import_module(f"ntkcheck.proofs.{self.proof}").STATEMENT


REGISTRY: dict[str, Check] = {}
# one module per part of the book; each registers its checks on import
_SECTIONS = ("ntkcheck.checks.identities", "ntkcheck.checks.bounds", "ntkcheck.checks.convergence",
             "ntkcheck.checks.diffusion")


def register(code: str, id: str, *, proof: str, what: str, short: str = "", kind: str = SAMPLED):
    """Register ``fn(ctx) -> Outcome`` as the check of lemma ``code`` (``id`` its name, ``proof`` its proofs/
    module, ``what`` one line on what it does, ``short`` the statement in a few symbols, ``kind`` how it is
    established).  Returns a decorator that returns ``fn`` unchanged."""
    if kind not in CLAIM_KINDS:
        raise ValueError(f"check kind must be one of {CLAIM_KINDS}, got {kind!r}")

    def deco(fn):
        if code in REGISTRY:
            raise ValueError(f"check {code} registered twice")
        REGISTRY[code] = Check(code, id, proof, fn, what, short, kind)
        return fn
    return deco


def all_checks() -> list[Check]:
    """Every registered check, after importing every section module (a missing one is an error: a check
    that silently disappears from ``verify`` cannot fail)."""
    for mod in _SECTIONS:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name == mod or mod.startswith(f"{exc.name}."):
                raise ModuleNotFoundError(f"check section module {mod} not found", name=mod) from exc
            raise
    return list(REGISTRY.values())


def find(selector: str) -> Check:
    """A check by code (``G5``, any case) or id (``ntk-limit``)."""
    for c in all_checks():
        if selector.upper() == c.code or selector.lower() == c.id:
            return c
    known = ", ".join(f"{c.code} ({c.id})" for c in all_checks())
    raise ValueError(f"unknown check {selector!r}; known: {known}")


def derivation(proof: str) -> dict:
    """Run ``proofs.<proof>.derive()`` (cached per process by the module) and say whether every step holds:
    ``{"holds": True, "steps": N, "by_kind": {kind: count}}`` (``der.summary()``: sympy identities,
    inequalities, steps verified at concrete sizes and steps argued by hand counted apart) or
    ``{"holds": False, "error": "<type>: <message>"}`` (a ProofError's message names the failing step)."""
    try:
        der = importlib.import_module(f"ntkcheck.proofs.{proof}").derive()
    except Exception as exc:   # a ProofError, or a derivation that crashes: either way the lemma is unproved
        return {"holds": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"holds": True, "steps": len(der.steps), "by_kind": der.summary()}


def _summary_claims(out: Outcome) -> list[Claim]:
    """The claims of an Outcome that lists none (a check written before claims existed): its summary
    number against its bound."""
    if out.worst_ratio is not None:
        return [Claim("worst observed/bound", out.worst_ratio, "≤", 1.0)]
    if out.max_error is not None and out.tolerance is not None:
        return [Claim("largest error", out.max_error, "≤", out.tolerance)]
    return []


def error_result(check: Check, exc: BaseException, seed: int = 0, scale: float = 1.0,
                 seconds: float = 0.0) -> CheckResult:
    """The failing result of a check that could not be run (``exc`` raised outside the check itself).

    Parameters: ``check``, the exception, the run's ``seed`` and ``scale``, the ``seconds`` spent.
    Returns a CheckResult with ``holds`` False, no claims and ``error`` "<ExceptionType>: <message>"."""
    try:
        statement = check.statement
    except Exception:   # noqa: BLE001 - the statement's own failure is secondary to exc
        statement = ""
    return CheckResult(code=check.code, id=check.id, statement=statement, short=check.short, check=check.what,
                       holds=False, trials=0, seconds=round(seconds, 3), seed=seed, scale=scale, kind=check.kind,
                       versions=versions(), error=f"{type(exc).__name__}: {exc}")


def run(check: Check, seed: int = 0, scale: float = 1.0, advance=None) -> CheckResult:
    """Run one check and return its :class:`CheckResult`.

    Parameters: ``check`` (from :func:`find` or :func:`all_checks`), ``seed`` (every draw derives from it),
    ``scale`` (trial multiplier), ``advance`` (progress callback taking a fraction in [0, 1]).

    First the lemma's symbolic derivation (``proofs.<check.proof>.derive()``): an export the derivation
    does not prove must not pass.  Then the numeric check.  The result ``holds`` only if both do and every
    claim holds.  A derivation that fails gives ``derivation = {"holds": False, "error": ...}`` and
    ``error``; a numeric check that raises gives ``error = "<ExceptionType>: <message>"`` (both with
    ``holds`` False: a check that raises is reported, not hidden); a verdict that disagrees with the claims
    is an error too.  ``result.to_json()`` is the record ``verify --json`` writes."""
    ctx = Context(seed=seed, scale=scale, advance=advance or (lambda f: None), code=check.code)
    t0 = time.perf_counter()
    der = derivation(check.proof)
    t1 = time.perf_counter()
    error = None
    try:
        out = check.fn(ctx)
    except Exception as exc:
        out = Outcome(holds=False, trials=0)
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - t0
    try:
        statement = check.statement
    except Exception as exc:
        statement = ""
        error = error or f"{type(exc).__name__}: {exc}"
    claims = tuple(out.claims) if out.claims else tuple(_summary_claims(out)) if error is None else ()
    if error is None and claims and bool(out.holds) != all(c.holds for c in claims):
        error = (f"check {check.code}'s verdict (holds = {bool(out.holds)}) disagrees with its claims: "
                 + "; ".join(c.sentence for c in claims if not c.holds) if out.holds else
                 f"check {check.code}'s verdict (holds = False) disagrees with its claims, which all hold")
    holds = bool(out.holds) and der["holds"] and error is None
    if not der["holds"] and error is None:
        error = f"derivation of proofs/{check.proof}.py failed: {der['error']}"
    return CheckResult(
        code=check.code, id=check.id, statement=statement, short=check.short, check=check.what, holds=holds,
        kind=check.kind, trials=int(out.trials), seconds=round(seconds, 3), derivation_seconds=round(t1 - t0, 3),
        derivation=der, seed=seed, scale=scale, sizes=out.sizes, claims=claims, details=out.details,
        versions=versions(),
        worst_ratio=None if out.worst_ratio is None else float(out.worst_ratio),
        max_error=None if out.max_error is None else float(out.max_error),
        tolerance=out.tolerance if out.max_error is not None else None,
        error=error)
