"""checks.run and checks.all_checks: a check that raises, a derivation that fails and a missing section
module all fail loudly instead of passing or disappearing."""
from __future__ import annotations

import importlib

import pytest
import sympy as sp

from ntkcheck import checks
from ntkcheck.checks import Check, Outcome


def _passing(ctx):
    return Outcome(holds=True, trials=1, worst_ratio=0.5)


def _raising(ctx):
    raise RuntimeError("boom at step 3")


def test_passing_check_records_its_derivation():
    rec = checks.run(Check("Z1", "passes", "linear_convergence", _passing, "passes"))
    assert rec["holds"] is True and "error" not in rec
    assert rec["derivation"]["holds"] is True and rec["derivation"]["steps"] > 10


def test_raising_check_is_a_failing_record():
    rec = checks.run(Check("Z2", "raises", "linear_convergence", _raising, "raises"))
    assert rec["holds"] is False
    assert rec["error"] == "RuntimeError: boom at step 3"
    assert rec["trials"] == 0 and rec["statement"]          # the rest of the record is still there


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
    assert rec["holds"] is False
    assert rec["derivation"]["holds"] is False
    assert "ProofError" in rec["error"] and "step" in rec["error"] and "fails" in rec["error"]  # names it


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
