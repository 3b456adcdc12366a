"""B2 softmax-ratio (the book's B1–B7 part): the normalization effect.

Under (A1), if max_r ‖w_r − w̃_r‖₂ ≤ R then e^{−2R} ≤ S_r(W,x)/S_r(W̃,x) ≤ e^{2R} for all r and x, hence
|S_r − S̃_r| ≤ (e^{2R} − 1) S̃_r.  Deterministic, independent of W̃ and m, and tight as S̃_r → 0.

This module also holds the small certificate machinery the B-modules share: an inequality is recorded
as PROVED only when sympy verifies it, by one of two certificates:

* :func:`prove_le` — after a substitution that parametrizes (a superset of) the hypotheses by
  nonnegative symbols, big − small is a quotient of two polynomials with nonnegative coefficients, so it
  is ≥ 0 wherever it is defined (:func:`certificate`);
* :func:`prove_by_terms` — sympy asserts big − small = Σ terms identically, and each term is
  nonnegative (by :func:`certificate` after a substitution, or by sympy's own sign assumptions).
"""
from __future__ import annotations

import sympy as sp

from ._core import BY_HAND, EXPORT_BY_HAND, NUMERIC, PROVED, Derivation, Export, ProofError, cached_derivation
from .definitions import i_, m, sum_simplify

CODE = "B2"
ID = "softmax-ratio"
USES = ()   # from the definition of S and Cauchy–Schwarz
STATEMENT = ("Under (A1), if max_r ‖w_r − w̃_r‖₂ ≤ R then e^{−2R} ≤ S_r(W,x)/S_r(W̃,x) ≤ e^{2R}, "
             "hence |S_r − S̃_r| ≤ (e^{2R} − 1) S̃_r.")

R = sp.Symbol("R", positive=True)             # the radius max_r ‖w_r − w̃_r‖₂
t = sp.Symbol("t", nonnegative=True)          # e^R = 1 + t (R ≥ 0)
E_R = 1 + t                                   # e^R in the certificates

EXPORTS = {
    "ratio_upper": Export((R,), sp.exp(2 * R), "upper bound e^{2R} of S_r(W,x)/S_r(W̃,x)", EXPORT_BY_HAND),
    "ratio_lower": Export((R,), sp.exp(-2 * R), "lower bound e^{−2R} of S_r(W,x)/S_r(W̃,x)", EXPORT_BY_HAND),
    "abs_diff_factor": Export((R,), sp.exp(2 * R) - 1, "|S_r − S̃_r| ≤ (e^{2R} − 1) S̃_r", EXPORT_BY_HAND),
}


# ------------------------------------------------------------------------------------ certificates
def certificate(expr) -> bool:
    """True if ``expr`` — a rational function of symbols all declared nonnegative — is a quotient of two
    polynomials with nonnegative coefficients (up to a common sign), hence ≥ 0 wherever it is defined."""
    expr = sp.sympify(expr)
    syms = sorted(expr.free_symbols, key=sp.default_sort_key)
    if not all(s.is_nonnegative for s in syms):
        return False
    if not syms:
        return bool(sp.nsimplify(expr) >= 0) if expr.is_rational else False
    if not expr.is_rational_function(*syms):
        return False
    # the field of rational functions over QQ: from_sympy puts expr in lowest terms numer/denom
    field = sp.QQ.frac_field(*syms)
    try:
        f = field.from_sympy(expr)
    except (sp.CoercionFailed, sp.polys.polyerrors.PolynomialError, ValueError):   # e.g. a transcendental constant
        return False
    num, den = f.numer, f.denom
    if not den:
        return False

    def nonneg(p) -> bool:
        return all(c >= 0 for c in p.coeffs())

    return (nonneg(num) and nonneg(den)) or (nonneg(-num) and nonneg(-den))


def _substitute(expr, subs):
    for old, new in subs:
        # an Indexed (x[k]) inside a Sum over k is a pattern in the bound index: subs() would not enter the Sum
        expr = expr.xreplace({old: new}) if isinstance(old, sp.Indexed) else expr.subs(old, new)
    return expr


def _describe(subs) -> str:
    return "; ".join(f"{old} = {new}" for old, new in subs)


def prove_le(d: Derivation, label: str, small, big, subs=(), note: str = "", relation: str = "<=") -> None:
    """Record ``small ≤ big`` (or ``big ≥ small`` with relation ">=") as PROVED, after checking the
    certificate: ``big − small``, with the substitutions ``subs`` (pairs, applied in order) that encode the
    hypotheses by nonnegative symbols, is a quotient of polynomials with nonnegative coefficients."""
    small, big = sp.sympify(small), sp.sympify(big)
    gap = _substitute(big - small, subs)
    if not certificate(gap):
        raise ProofError(f"{d.code} {d.id}: step {label!r}: no nonnegativity certificate for {sp.together(gap)}")
    cert = ("sympy certificate: with " + _describe(subs) + ", the gap rhs − lhs is a quotient of polynomials "
            "with nonnegative coefficients in nonnegative variables") if subs else \
        "sympy certificate: rhs − lhs is a quotient of polynomials with nonnegative coefficients"
    lhs, rhs = (small, big) if relation == "<=" else (big, small)
    d.inequality(label, lhs, rhs, kind=PROVED, relation=relation, note=(note + "  " if note else "") + cert)


def prove_abs_le(d: Derivation, label: str, expr, bound, subs=(), note: str = "") -> None:
    """Record ``|expr| ≤ bound`` as PROVED: both ``bound − expr`` and ``bound + expr`` carry a certificate."""
    expr, bound = sp.sympify(expr), sp.sympify(bound)
    for sign in (1, -1):
        gap = _substitute(bound - sign * expr, subs)
        if not certificate(gap):
            raise ProofError(f"{d.code} {d.id}: step {label!r}: no certificate for bound {'-+'[sign > 0]} expr")
    cert = ("sympy certificate: with " + _describe(subs) + ", both bound − expr and bound + expr are quotients "
            "of polynomials with nonnegative coefficients in nonnegative variables")
    d.inequality(label, sp.Abs(expr), bound, kind=PROVED, note=(note + "  " if note else "") + cert)


def prove_by_terms(d: Derivation, label: str, small, big, terms, *, simplifier=None, term_subs=(),
                   note: str = "", relation: str = "<=") -> None:
    """Record ``small ≤ big`` as PROVED: sympy asserts ``big − small − Σ terms = 0`` (with ``simplifier``,
    default ``simplify``) and each term is nonnegative — by sympy's sign assumptions, or by
    :func:`certificate` after the substitutions ``term_subs``."""
    small, big = sp.sympify(small), sp.sympify(big)
    terms = [sp.sympify(x) for x in terms]
    diff = (simplifier or sp.simplify)(big - small - sp.Add(*terms))
    if diff != 0:
        raise ProofError(f"{d.code} {d.id}: step {label!r}: big − small − Σ terms = {diff}, not 0")
    for k, term in enumerate(terms):
        if term.is_nonnegative is True:
            continue
        sub = _substitute(term, term_subs)
        if sub.is_nonnegative is not True and sp.simplify(sub).is_nonnegative is not True and not certificate(sub):
            raise ProofError(f"{d.code} {d.id}: step {label!r}: term {k} ({term}) not shown nonnegative")
    how = "sympy: rhs − lhs = " + " + ".join(f"[{x}]" for x in terms) + " identically, each term nonnegative"
    if term_subs:
        how += " (terms certified with " + _describe(term_subs) + ")"
    lhs, rhs = (small, big) if relation == "<=" else (big, small)
    d.inequality(label, lhs, rhs, kind=PROVED, relation=relation, note=(note + "  " if note else "") + how)


# ------------------------------------------------------------------------------------ derivation
@cached_derivation
def derive() -> Derivation:
    d = Derivation(CODE, ID, STATEMENT)
    X = {name: ex.expr for name, ex in EXPORTS.items()}
    zt = sp.IndexedBase("zt", real=True)       # logits z̃_k = w̃_kᵀx
    Dl = sp.IndexedBase("Delta", real=True)    # Δ_k = (w_k − w̃_k)ᵀx
    r, k = sp.symbols("r k", integer=True, nonnegative=True)
    x_norm = sp.Symbol("‖x‖", nonnegative=True)
    dw = sp.Symbol("‖δwₖ‖", nonnegative=True)

    d.define("logit shift", sp.Symbol("Δₖ"), sp.Symbol("δwₖᵀx"),
             note="δw_k = w_k − w̃_k; the logits of W are z_k = z̃_k + Δ_k with z̃_k = w̃_kᵀx")
    d.inequality("|Δ_k| ≤ R", sp.Abs(sp.Symbol("Δₖ")), dw * x_norm, kind=BY_HAND,
                 note="Cauchy–Schwarz: |(w_k − w̃_k)ᵀx| ≤ ‖w_k − w̃_k‖₂‖x‖₂ ≤ R · 1 by the hypothesis and (A1).")

    alpha_t = sp.Sum(sp.exp(zt[i_]), (i_, 0, m - 1))
    S_new = sp.exp(zt[r]) * sp.exp(Dl[r]) / sp.Sum(sp.exp(zt[i_]) * sp.exp(Dl[i_]), (i_, 0, m - 1))
    S_old = lambda idx: sp.exp(zt[idx]) / alpha_t  # noqa: E731
    ratio_form = sp.exp(Dl[r]) / sp.Sum(S_old(k) * sp.exp(Dl[k]), (k, 0, m - 1))
    d.identity("ratio as a weighted mean (symbolic m)", S_new / S_old(r), ratio_form,
               note="S_r(W)/S_r(W̃) = e^{Δ_r} / Σ_k S̃_k e^{Δ_k}: the normalizer of W is that of W̃ times a "
                    "S̃-weighted mean of the factors e^{Δ_k}", simplifier=sum_simplify)

    # aggregated form, valid at every m: Σ_k S̃_k e^{Δ_k} = s e^{Δ_r} + (1 − s) Ē
    s, Er, Eb = sp.symbols("S̃_r e^{Δ_r} Ē", positive=True)
    q, p, c = sp.symbols("q p c", nonnegative=True)
    d.define("weighted mean of the other factors", Eb, sp.Symbol("Σ(k≠r) S̃ₖ exp(Δₖ) / (1 − S̃ᵣ)"),
             note="Ē is a convex combination of the numbers e^{Δ_k} ∈ [e^{−R}, e^{R}] (k ≠ r), so Ē ∈ [e^{−R}, "
                  "e^{R}]; and e^{Δ_r} ∈ [e^{−R}, e^{R}].  (For m = 1 the ratio is 1 and there is nothing to prove.)")
    ratio = Er / (s * Er + (1 - s) * Eb)
    base = [(s, 1 / (1 + c))]                       # S̃_r ∈ (0, 1]
    d.inequality("e^{−R} ≤ Ē ≤ e^{R}", Eb, sp.exp(R), kind=BY_HAND,
                 note="a weighted mean of numbers in [e^{−R}, e^{R}] lies in that interval (weights S̃_k/(1 − S̃_r) ≥ 0 "
                      "summing to 1).")
    prove_le(d, "upper ratio bound S_r/S̃_r ≤ e^{2R}", ratio, X["ratio_upper"],
             subs=[(Er, sp.exp(R) / (1 + q)), (Eb, sp.exp(-R) + p)] + base + [(R, sp.log(E_R))],
             note="e^{Δ_r} ≤ e^{R} and Ē ≥ e^{−R}, at any S̃_r ∈ (0, 1].")
    prove_le(d, "lower ratio bound S_r/S̃_r ≥ e^{−2R}", X["ratio_lower"], ratio,
             subs=[(Er, sp.exp(-R) + q), (Eb, sp.exp(R) / (1 + p))] + base + [(R, sp.log(E_R))],
             note="e^{Δ_r} ≥ e^{−R} and Ē ≤ e^{R}, at any S̃_r ∈ (0, 1].", relation="<=")

    rho = sp.Symbol("ρ", positive=True)  # ρ = S_r/S̃_r ∈ [e^{−2R}, e^{2R}]
    prove_abs_le(d, "|S_r − S̃_r| ≤ (e^{2R} − 1) S̃_r", s * (rho - 1), X["abs_diff_factor"] * s,
                 subs=[(rho, (X["ratio_lower"] + X["ratio_upper"] * p) / (1 + p)), (R, sp.log(E_R))],
                 note="S_r − S̃_r = S̃_r(ρ − 1) with ρ = S_r/S̃_r ∈ [e^{−2R}, e^{2R}] (parametrized by p ≥ 0); the lower "
                      "side uses 1 − e^{−2R} ≤ e^{2R} − 1.")
    d.identity("abs_diff_factor = ratio_upper − 1, the larger of ρ_max − 1 and 1 − ρ_min",
               X["abs_diff_factor"], X["ratio_upper"] - 1,
               note="the previous step: |ρ − 1| ≤ max(e^{2R} − 1, 1 − e^{−2R}) = e^{2R} − 1 for ρ ∈ [e^{−2R}, e^{2R}]")
    d.identity("lower bound attained as S̃_r → 0", sp.limit(ratio.subs({Er: sp.exp(-R), Eb: sp.exp(R)}), s, 0),
               X["ratio_lower"], note="Δ_r = −R and Δ_k = R (k ≠ r): the mirror image of the next step")
    d.identity("tightness as S̃_r → 0", sp.limit(ratio.subs({Er: sp.exp(R), Eb: sp.exp(-R)}), s, 0), X["ratio_upper"],
               note="with Δ_r = R and Δ_k = −R (k ≠ r: w_k − w̃_k = ∓R x/‖x‖, ‖x‖ = 1) the ratio is "
                    "e^{R}/(S̃_r e^{R} + (1 − S̃_r) e^{−R}) → e^{2R}: the constant 2 cannot be improved")
    d.remark("violation hunt", NUMERIC,
             "check B2: random sampling and an adversarial search over W̃, W − W̃ (projected onto max_r‖w_r − w̃_r‖ ≤ R) "
             "and x (‖x‖ ≤ 1); the adversary reaches ratio/bound close to 1, never above.")
    return d
