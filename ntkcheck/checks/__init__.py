"""The registry of numeric lemma checks.

A check is a function ``fn(ctx) -> Outcome`` registered under its lemma code and id with
:func:`register`.  ``ctx`` carries the seed, a trial multiplier and a progress callback; the check
draws everything it needs from ``ctx.rng`` so that the same seed gives the same numbers.

Adding a lemma: write ``proofs/<id>.py`` (statement, derivation, exports), then a check here in the
module of its section, registered with ``@register("X9", "my-id", proof="my_id")``; tests in
``tests/test_<section>.py``; a section in the book.  The CLI, the JSON output and the book's
traceability table pick it up from this registry.
"""
from __future__ import annotations

import importlib
import importlib.util
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ntkcheck.core.results import versions


@dataclass
class Outcome:
    """What a check found.  Either ``worst_ratio`` (observed/bound, holds iff ≤ 1) or ``max_error``
    (against ``tolerance``) is set; ``holds`` is the verdict."""

    holds: bool
    trials: int
    worst_ratio: float | None = None
    max_error: float | None = None
    tolerance: float | None = None
    sizes: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)


@dataclass
class Context:
    seed: int = 0
    scale: float = 1.0
    advance: Callable[[float], None] = lambda frac: None

    def __post_init__(self):
        self.rng = np.random.default_rng(self.seed)

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

    @property
    def statement(self) -> str:
        return importlib.import_module(f"ntkcheck.proofs.{self.proof}").STATEMENT


REGISTRY: dict[str, Check] = {}
# one module per part of the book; each registers its checks on import
_SECTIONS = ("ntkcheck.checks.identities", "ntkcheck.checks.bounds", "ntkcheck.checks.convergence",
             "ntkcheck.checks.diffusion")


def register(code: str, id: str, *, proof: str, what: str, short: str = ""):
    def deco(fn):
        if code in REGISTRY:
            raise ValueError(f"check {code} registered twice")
        REGISTRY[code] = Check(code, id, proof, fn, what, short)
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
    ``{"holds": True, "steps": N}`` or ``{"holds": False, "error": "<type>: <message>"}`` (a ProofError's
    message names the failing step)."""
    try:
        der = importlib.import_module(f"ntkcheck.proofs.{proof}").derive()
    except Exception as exc:   # a ProofError, or a derivation that crashes: either way the lemma is unproved
        return {"holds": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"holds": True, "steps": len(der.steps)}


def run(check: Check, seed: int = 0, scale: float = 1.0, advance=None) -> dict:
    """Run one check and return its JSON record.

    First the lemma's symbolic derivation (``proofs.<check.proof>.derive()``): an export the derivation
    does not prove must not pass.  Then the numeric check.  The record ``holds`` only if both do; a
    derivation that fails gives ``"derivation": {"holds": False, "error": ...}`` and ``"error"``, and a
    numeric check that raises gives ``"error": "<ExceptionType>: <message>"`` (both with ``holds`` False)."""
    ctx = Context(seed=seed, scale=scale, advance=advance or (lambda f: None))
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
    holds = bool(out.holds) and der["holds"] and error is None
    if not der["holds"] and error is None:
        error = f"derivation of proofs/{check.proof}.py failed: {der['error']}"
    rec = {
        "id": check.id,
        "code": check.code,
        "statement": statement,
        "short": check.short,
        "check": check.what,
        "holds": holds,
        "trials": int(out.trials),
        "seconds": round(seconds, 3),
        "derivation_seconds": round(t1 - t0, 3),
        "derivation": der,
        "seed": seed,
        "scale": scale,
        "sizes": out.sizes,
        "details": out.details,
        "versions": versions(),
    }
    if out.worst_ratio is not None:
        rec["worst_ratio"] = float(out.worst_ratio)
    if out.max_error is not None:
        rec["max_error"] = float(out.max_error)
        rec["tolerance"] = out.tolerance
    if error is not None:
        rec["error"] = error
    return rec
