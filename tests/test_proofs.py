"""The symbolic derivations of proofs/ (G1–G6): each runs and holds, and the comparisons they
rest on fail for deliberately wrong expressions (so a passing derivation means something)."""
from __future__ import annotations

import importlib

import pytest
import sympy as sp

from ntkcheck import proofs
import re

from ntkcheck.proofs._core import (BY_HAND, CONCRETE, DEFINITION, IDENTITY, KINDS, NUMERIC, PROVED, Derivation, Export,
                          ProofError, Step, md_text)
from ntkcheck.proofs.definitions import S_r, S_s, a_lr, aS_l, delta_rs, g, k, kappa, m, sigma, v_r, v_s, x_j

CODES = proofs.codes()                                    # every lemma whose proofs module exists
G_CODES = [c for c in ("G1", "G2", "G3", "G4", "G5", "G6") if c in CODES]   # the exact identities (§2)


# ------------------------------------------------------------------------------------- every lemma
@pytest.mark.parametrize("code", CODES)
def test_derivation_holds(code):
    mod = proofs.lemma(code)
    d = mod.derive()
    assert isinstance(d, Derivation)
    assert (d.code, d.id) == (mod.CODE, mod.ID) == (code, mod.ID)
    assert d.statement == mod.STATEMENT
    kinds = [s.kind for s in d.steps]
    assert IDENTITY in kinds, "a derivation must contain at least one identity proved by sympy"
    assert all(kind in KINDS for kind in kinds)
    for s in d.steps:
        assert isinstance(s, Step) and s.label
        if s.kind in (PROVED, NUMERIC, BY_HAND) and s.lhs is None:   # remarks
            assert s.note, f"{code}: remark {s.label!r} carries no argument"
        if s.kind == BY_HAND:
            assert len(s.note) > 40, f"{code}: by-hand step {s.label!r} must write out its argument"
        if s.kind == CONCRETE:
            assert s.note, f"{code}: concrete-size step {s.label!r} must say what it stands for"
        if s.lhs is not None:
            s.latex()                                                # renders (for the book)
    md = d.markdown()
    assert all(f"{i}. **{md_text(s.label)}**" in md for i, s in enumerate(d.steps, 1))
    assert mod.derive() is d                                         # cached


@pytest.mark.parametrize("code", CODES)
def test_lemma_lookup_by_id(code):
    mod = proofs.lemma(code)
    assert proofs.lemma(mod.ID) is mod
    assert importlib.import_module(mod.__name__) is mod


@pytest.mark.parametrize("code", CODES)
def test_exports_well_formed(code):
    mod = proofs.lemma(code)
    for name, ex in mod.EXPORTS.items():
        assert isinstance(ex, Export)
        assert all(isinstance(a, sp.Symbol) for a in ex.args), name
        assert ex.expr.free_symbols <= set(ex.args), f"{code}.{name} uses symbols that are not arguments"


def test_lemma_unknown_code():
    with pytest.raises(KeyError):
        proofs.lemma("G99")


@pytest.mark.parametrize("code", G_CODES)
def test_symbolic_and_concrete_steps(code):
    """Every lemma records at least one step at symbolic size or by integration/summation, not only
    brute force at concrete sizes (G1–G4 also brute-force the definition)."""
    labels = " ".join(s.label for s in proofs.lemma(code).derive().steps)
    if code in ("G1", "G2", "G3", "G4"):
        assert "symbolic" in labels and "brute force" in labels
    elif code == "G5":
        assert "integrat" in labels and "symbolic m" in labels
    else:
        assert "summation" in labels


# a concrete size named in a label or note: "(m = 2", "at n = 3", ", d = 2", "N = 3)" or "brute force"
_CONCRETE_SIZE = re.compile(r"(?:[(,]|\bat)\s*[mnNdpK]'?\s*[=≤]\s*\d|\bbrute force|\bm=\d")


@pytest.mark.parametrize("code", CODES)
def test_no_proved_step_is_only_checked_at_concrete_sizes(code):
    """A PROVED (or symbolic-identity) claim checked only at a concrete size must say so: kind CONCRETE, or an
    identity whose label states the size it was checked at (which is then all it claims)."""
    for s in proofs.lemma(code).derive().steps:
        if s.kind == PROVED:
            assert not _CONCRETE_SIZE.search(s.label + " " + s.note), \
                f"{code}: PROVED step {s.label!r} is checked at a concrete size; use CONCRETE"
        if s.kind == IDENTITY and _CONCRETE_SIZE.search(s.note) and not _CONCRETE_SIZE.search(s.label):
            raise AssertionError(f"{code}: identity {s.label!r} hides its concrete size in the note")


def test_concrete_size_pattern():
    for hit in ("brute force at m = 2", "Σ r_k² ≤ N max r_k² (N = 3)", "(n = 3, d = 2, p ≤ 3)", "at m=3"):
        assert _CONCRETE_SIZE.search(hit), hit
    for miss in ("(symbolic m)", "written p = 1/(1 + q)", "symbolic N", "for every n ≥ 1"):
        assert not _CONCRETE_SIZE.search(miss), miss


# How many steps of each kind every derivation records (after the honest-labels audit, issue 10 item 2): a
# change here means a step changed how it is established, which the book and the CLI print.
_P, _I, _B, _N, _D, _C = PROVED, IDENTITY, BY_HAND, NUMERIC, DEFINITION, CONCRETE
EXPECTED_KINDS = {
    "G1": {_D: 3, _I: 11},
    "G2": {_I: 17},
    "G3": {_D: 1, _I: 11},
    "G4": {_D: 1, _I: 9, _C: 1, _P: 1},
    "G5": {_D: 2, _I: 17, _B: 1},
    "G6": {_I: 8, _B: 5, _P: 1, _C: 6},
    "B1": {_D: 1, _I: 10, _B: 4, _P: 3, _N: 1},
    "B2": {_D: 2, _B: 2, _I: 4, _P: 3, _N: 1},
    "B3": {_D: 1, _I: 6, _P: 7, _C: 1, _B: 2, _N: 1},
    "B4": {_D: 1, _I: 7, _P: 5, _B: 2, _N: 1},
    "B5": {_I: 3, _C: 3, _D: 1, _B: 4, _P: 1, _N: 1},
    "B6": {_D: 1, _I: 5, _P: 4, _B: 4, _N: 1},
    "B7": {_D: 2, _I: 18, _C: 2, _B: 4, _P: 6, _N: 1},
    "T1": {_I: 18, _D: 5, _B: 10, _P: 5},
    "D1": {_D: 2, _B: 2, _I: 13},
    "D2": {_I: 8, _D: 1, _B: 2},
    "D3": {_D: 1, _I: 8, _B: 2},
    "D4": {_D: 3, _I: 10, _B: 3},
    "D5": {_D: 1, _B: 2, _I: 6, _N: 1},
    "D6": {_D: 1, _I: 3, _B: 2, _N: 2},
}


@pytest.mark.parametrize("code", sorted(EXPECTED_KINDS))
def test_step_kind_counts(code):
    assert proofs.lemma(code).derive().summary() == EXPECTED_KINDS[code]


# ------------------------------------------------------------------------------- the recorder itself
def test_identity_raises_on_false_identity():
    d = Derivation("T", "test", "a test")
    x = sp.Symbol("x", real=True)
    d.identity("true", sp.sin(x) ** 2 + sp.cos(x) ** 2, 1)
    with pytest.raises(ProofError):
        d.identity("false", sp.exp(x) ** 2, sp.exp(x**2))
    with pytest.raises(ProofError):
        d.identities("family", [(x + x, 2 * x), (x * x, 2 * x)])
    assert [s.kind for s in d.steps] == [IDENTITY]


def test_recorder_rejects_unlabelled_kinds():
    d = Derivation("T", "test", "a test")
    with pytest.raises(ValueError):
        d.inequality("no argument", 1, 0, kind=BY_HAND, relation=">=")
    with pytest.raises(ValueError):
        d.inequality("an identity is not an inequality kind", 1, 0, kind=IDENTITY)
    with pytest.raises(ValueError):
        d.remark("unknown", "trust me", "…")
    with pytest.raises(ValueError):
        d.inequality("a concrete step must say where it was checked", 1, 0, kind=CONCRETE, relation=">=")
    d.identity("checked at one size", sp.Integer(2), 2, concrete=True)
    assert d.steps[-1].kind == CONCRETE
    d.define("x", sp.Symbol("y"), 1)
    assert d.steps[-1].kind == DEFINITION


# ---------------------------------------------------------------------- the comparisons can fail
def test_g1_jacobian_entry_check():
    from ntkcheck.proofs import softmax_gradient as G1
    good = G1.EXPORTS["jacobian_entry"].expr
    G1.check_jacobian_entry(good, 2, 1, 1)
    for bad in (kappa * S_r * a_lr * x_j,                # missing − ⟨a_ℓ,S⟩
                kappa * S_r * (a_lr - aS_l),             # missing x_j
                kappa * S_r * (1 - S_r) * (a_lr - aS_l) * x_j,
                kappa**2 * S_r * (a_lr - aS_l) * x_j):
        with pytest.raises(ProofError):
            G1.check_jacobian_entry(bad, 2, 1, 1)
    with pytest.raises(ProofError):
        G1.check_loss_gradient(kappa * S_r * a_lr * x_j, 2, 1, 1)


def test_g2_shift_check_fails_for_exp_network():
    from ntkcheck.proofs import shift_invariance as G2
    from ntkcheck.proofs.definitions import concrete_network
    net = concrete_network(2, 1, 1)
    G2.check_shift_invariance(net["F"], net["W"], net["z"])
    F_exp = sp.Matrix([kappa / 2 * (net["A"] * net["u"])[0, 0]])    # no normalization: not invariant
    with pytest.raises(ProofError):
        G2.check_shift_invariance(F_exp, net["W"], net["z"])


def test_g3_hessian_check():
    from ntkcheck.proofs import hessian as G3
    good = G3.EXPORTS["hessian_M_entry"].expr
    G3.check_hessian_M(good, 2, 1, 1)
    for bad in (delta_rs * S_r * v_r - S_r * v_r * S_s,                  # missing − S S_s v_s
                delta_rs * S_r * v_r - S_r * v_r * S_s + S_r * S_s * v_s):
        with pytest.raises(ProofError):
            G3.check_hessian_M(bad, 2, 1, 1)


def test_g4_factorization_check():
    from ntkcheck.proofs import ntk_factorization as G4
    tf, sc = G4.EXPORTS["tangent_feature"].expr, G4.EXPORTS["ntk_scale"].expr
    G4.check_ntk_factorization(tf, sc, 2, 1, 1)
    with pytest.raises(ProofError):                                        # wrong scale: κ/m
        G4.check_ntk_factorization(tf, kappa / m * g, 2, 1, 1)
    with pytest.raises(ProofError):                                        # wrong scale: no ⟨x_i,x_j⟩
        G4.check_ntk_factorization(tf, kappa**2 / m, 2, 1, 1)
    with pytest.raises(ProofError):                                        # wrong feature: no centring
        G4.check_ntk_factorization(S_r * a_lr, sc, 2, 1, 1)


def test_g5_limit_kernel_check():
    from ntkcheck.proofs import ntk_limit as G5
    G5.check_limit_kernel(G5.EXPORTS["limit_kernel"].expr)
    for bad in (g * sp.exp(sigma**2 * g / 2),       # wrong exponent
                g * sp.exp(2 * sigma**2 * g),
                sp.exp(sigma**2 * g),               # missing the ⟨x,y⟩ factor
                g):                                 # the linear kernel
        with pytest.raises(ProofError):
            G5.check_limit_kernel(bad)


def test_g5_mgf_is_integrated():
    from ntkcheck.proofs import ntk_limit as G5
    us, value = G5.gaussian_mgf(1)
    assert not value.has(sp.Integral)
    assert sp.simplify(value - sp.exp(sigma**2 * us[0] ** 2 / 2)) == 0
    assert sp.simplify(value - sp.exp(sigma**2 * us[0] ** 2)) != 0


def test_g6_series_check():
    from ntkcheck.proofs import ntk_positive_definite as G6
    G6.check_hadamard_series(G6.EXPORTS["hadamard_coefficient"].expr, order=6)
    for bad in (sigma ** (2 * k) / sp.factorial(k + 1),
                sigma**k / sp.factorial(k),
                sigma ** (2 * k)):
        with pytest.raises(ProofError):
            G6.check_hadamard_series(bad, order=6)


def test_g6_coefficient_positive_and_matches_limit_kernel_taylor():
    from ntkcheck.proofs import ntk_limit as G5
    from ntkcheck.proofs import ntk_positive_definite as G6
    c = G6.EXPORTS["hadamard_coefficient"].expr
    assert c.is_positive
    series = sp.series(G5.EXPORTS["limit_kernel"].expr, g, 0, 8).removeO()
    for n in range(1, 8):
        assert sp.simplify(series.coeff(g, n) - c.subs(k, n - 1)) == 0


# -------------------------------------------------------------------------- helpers in definitions
def test_sum_simplify_is_exact():
    from ntkcheck.proofs.definitions import a, r_, softmax_symbolic, sum_simplify
    assert sum_simplify(sp.Sum(softmax_symbolic(r_), (r_, 0, m - 1)) - 1) == 0
    assert sum_simplify(sp.Sum(a[r_] * softmax_symbolic(r_), (r_, 0, m - 1))) != 0
    assert sum_simplify(sp.Sum(softmax_symbolic(r_), (r_, 0, m - 1)) - 2) != 0


def test_rational_simplifier_is_exact():
    from ntkcheck.proofs.definitions import concrete_network, rational_simplifier
    net = concrete_network(3, 2, 1)
    simp = rational_simplifier(net["z"])
    assert simp(sum(net["S"]) - 1) == 0
    assert simp(sum(net["S"]) - net["S"][0]) != 0
    assert simp(net["S"][0] * net["alpha"] - net["u"][0]) == 0
    assert simp(net["S"][0] - sp.exp(net["z"][0]) / (net["alpha"] + 1)) != 0


def test_concrete_batch_matches_network():
    from ntkcheck.proofs.definitions import concrete_batch, concrete_network
    b, net = concrete_batch(2, 2, 1, 2), concrete_network(2, 2, 1)
    sub = {net["x"][j]: b["X"][1, j] for j in range(2)}
    assert sp.simplify(b["F"][1, 0] - net["F"][0].xreplace(sub)) == 0
    assert b["F"].shape == (2, 1) and b["E"].shape == (2, 1)
