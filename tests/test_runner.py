"""checks.run and checks.all_checks: a check that raises, a derivation that fails and a missing section
module all fail loudly instead of passing or disappearing; the typed result (CheckResult, Claim) says each
claim in one sentence with its number and its bound, and its JSON round-trips."""
from __future__ import annotations

import dataclasses
import importlib

import pytest
import sympy as sp

from ntkcheck import checks
from ntkcheck.checks import Check, CheckResult, Claim, Outcome
from conftest import assert_claims_state_numbers


def _passing(ctx):
    return Outcome(holds=True, trials=1, worst_ratio=0.5)


def _raising(ctx):
    raise RuntimeError("boom at step 3")


def test_passing_check_records_its_derivation():
    rec = checks.run(Check("Z1", "passes", "linear_convergence", _passing, "passes"))
    assert rec.holds is True and rec.error is None
    assert rec.derivation["holds"] is True and rec.derivation["steps"] > 10


def test_raising_check_is_a_failing_record():
    rec = checks.run(Check("Z2", "raises", "linear_convergence", _raising, "raises"))
    assert rec.holds is False
    assert rec.error == "RuntimeError: boom at step 3"
    assert rec.trials == 0 and rec.statement          # the rest of the record is still there


@pytest.fixture
def lc():
    mod = importlib.import_module("ntkcheck.proofs.linear_convergence")
    mod.derive.cache_clear()
    yield mod
    mod.derive.cache_clear()


def test_unproved_rate_fails_the_record(lc, monkeypatch):
    # an unproved rate p = ηmλ/2 in place of ηmλ/4: the derivation's step 4 no longer closes
    import dataclasses

    unproved = dataclasses.replace(lc.EXPORTS["rate_p"], expr=lc.eta * lc.m * lc.lam / 2)
    monkeypatch.setitem(lc.EXPORTS, "rate_p", unproved)
    rec = checks.run(Check("Z3", "numeric-passes", "linear_convergence", _passing, "passes"))
    assert rec.holds is False
    assert rec.derivation["holds"] is False
    assert "ProofError" in rec.error and "step" in rec.error and "fails" in rec.error  # names it


def test_derivation_is_run_again_after_restore(lc):
    assert checks.derivation("linear_convergence")["holds"] is True


def test_missing_section_module_raises(monkeypatch):
    monkeypatch.setattr(checks, "_SECTIONS", checks._SECTIONS + ("ntkcheck.checks.no_such_section",))
    with pytest.raises(ModuleNotFoundError, match="ntkcheck.checks.no_such_section"):
        checks.all_checks()


def test_import_error_inside_a_section_is_not_hidden(monkeypatch, tmp_path):
    # a section that exists but imports something missing: the inner error propagates
    pkg = tmp_path / "zz_sec.py"
    pkg.write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(checks, "_SECTIONS", ("zz_sec",))
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_xyz"):
        checks.all_checks()


def test_every_registered_derivation_holds():
    for c in checks.all_checks():
        assert checks.derivation(c.proof)["holds"], c.code


# ------------------------------------------------------------------------------------------ typed results
def _claiming(holds, claims):
    return lambda ctx: Outcome(holds=holds, trials=3, worst_ratio=0.5, claims=claims, details={"xs": [1, 2]})


def test_claim_sentence_states_number_relation_bound_and_verdict():
    c = Claim("worst |fd − g| / tolerance over 25 cases", 0.000476, "≤", 1.0)
    assert c.holds and c.sentence == "worst |fd − g| / tolerance over 25 cases: 0.000476 ≤ 1 — holds"
    bad = Claim("relative error against mpmath", 3.2e-11, "≤", 1e-11)
    assert not bad.holds and bad.sentence == "relative error against mpmath: 3.2e-11 ≤ 1e-11 — FAILS"
    inside = Claim("λ_min inside the certified interval", 0.5, "∈", (0.25, 0.75), kind="certified")
    assert inside.holds and inside.sentence.endswith(": 0.5 ∈ [0.25, 0.75] — holds")
    assert Claim("non-finite cases", 0, "=", 0).sentence == "non-finite cases: 0 = 0 — holds"


def test_claim_shows_enough_digits_to_tell_observed_from_bound():
    # 1.0004 > 1 must not print as "1 ≤ 1"
    c = Claim("ratio", 1.0004, "≤", 1.0)
    assert not c.holds and c.sentence == "ratio: 1.0004 ≤ 1 — FAILS"


def test_nan_never_holds():
    for rel in ("≤", "<", "≥", ">", "="):
        assert not Claim("x", float("nan"), rel, 1.0).holds
    assert not Claim("x", float("nan"), "∈", (0.0, 1.0)).holds
    assert Claim("x", float("nan"), "≤", 1.0).sentence == "x: nan ≤ 1 — FAILS"


def test_bad_claims_are_rejected():
    with pytest.raises(ValueError, match="relation"):
        Claim("x", 1.0, "<<", 2.0)
    with pytest.raises(ValueError, match="pair"):
        Claim("x", 1.0, "∈", 2.0)
    with pytest.raises(ValueError, match="kind"):
        Claim("x", 1.0, "≤", 2.0, kind="guessed")


def test_result_carries_claims_and_round_trips_through_json():
    claims = [Claim("a ratio", 0.5, "≤", 1.0), Claim("a count", 0, "=", 0)]
    rec = checks.run(Check("Z4", "claims", "linear_convergence", _claiming(True, claims), "claims"))
    assert isinstance(rec, CheckResult) and rec.holds and rec.error is None
    assert [c.sentence for c in rec.claims] == ["a ratio: 0.5 ≤ 1 — holds", "a count: 0 = 0 — holds"]
    assert_claims_state_numbers(rec)
    js = rec.to_json()
    assert js["claims"][0] == {"what": "a ratio", "observed": 0.5, "relation": "≤", "bound": 1.0,
                               "kind": "sampled", "holds": True, "sentence": "a ratio: 0.5 ≤ 1 — holds"}
    assert js["worst_ratio"] == 0.5 and "max_error" not in js and "error" not in js
    assert js["derivation"]["by_kind"] and sum(js["derivation"]["by_kind"].values()) == js["derivation"]["steps"]
    back = CheckResult.from_json(js)
    assert back == rec
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.holds = False


def test_verdict_that_disagrees_with_its_claims_is_an_error():
    # a check saying "holds" while one of its claims fails: reported, not believed
    claims = [Claim("a ratio", 0.5, "≤", 1.0), Claim("another ratio", 1.5, "≤", 1.0)]
    rec = checks.run(Check("Z5", "liar", "linear_convergence", _claiming(True, claims), "claims"))
    assert rec.holds is False and "disagrees" in rec.error and "another ratio: 1.5 ≤ 1 — FAILS" in rec.error
    rec = checks.run(Check("Z6", "pessimist", "linear_convergence", _claiming(False, claims[:1]), "claims"))
    assert rec.holds is False and "disagrees" in rec.error


def test_check_without_claims_gets_its_summary_claim():
    rec = checks.run(Check("Z7", "old-style", "linear_convergence", _passing, "passes"))
    assert rec.holds and [c.sentence for c in rec.claims] == ["worst observed/bound: 0.5 ≤ 1 — holds"]


def test_raising_check_has_no_claims_but_says_its_error():
    rec = checks.run(Check("Z8", "raises", "linear_convergence", _raising, "raises"))
    assert rec.claims == () and rec.sentences() == ["error: RuntimeError: boom at step 3"]


def test_describe_derivation_counts_hand_argued_steps_as_such():
    import sympy as sp

    from ntkcheck.proofs._core import BY_HAND, CONCRETE, PROVED, Derivation

    x = sp.Symbol("x", positive=True)
    der = Derivation("Z0", "toy", "a toy statement")
    der.define("f", sp.Symbol("f"), x**2)
    der.identity("square", (x + 1) ** 2, x**2 + 2 * x + 1)
    der.identity("cube", (x + 1) ** 3, x**3 + 3 * x**2 + 3 * x + 1)
    der.inequality("positive", 0, x**2, PROVED, relation="<=")
    der.inequality("at m = 2", x, x + 1, CONCRETE, note="checked at m = 2")
    der.inequality("the step", x, 2 * x, BY_HAND, note="because x > 0")
    assert checks.describe_derivation(der) == (
        "Z0 toy: 6 steps — asserted when derive() runs: 2 sympy identities, 1 symbolic inequality, "
        "1 verified at concrete sizes; argued by hand (not asserted): 1; definitions: 1")
