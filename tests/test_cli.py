"""The ``ntkcheck`` command line: exit codes (0 all hold, 1 a check failed, 2 a bad argument), the JSON
records, and one-line error messages without tracebacks."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ntkcheck import checks
from ntkcheck.checks import Check, Outcome
from ntkcheck.cli import main

REQUIRED = {"id", "code", "holds", "trials", "seconds", "seed", "sizes", "versions"}
ROOT = Path(__file__).resolve().parents[1]


def _out(capsys) -> str:
    o = capsys.readouterr()
    return o.out + o.err


def test_verify_writes_json(tmp_path, capsys):
    target = tmp_path / "x.json"
    assert main(["verify", "--only", "G1,G4", "--json", str(target), "--quiet"]) == 0
    out = _out(capsys)
    assert "G1" in out and "G4" in out and "Traceback" not in out
    records = json.loads(target.read_text(encoding="utf-8"))
    assert [r["code"] for r in records] == ["G1", "G4"]
    for r in records:
        assert REQUIRED <= r.keys(), REQUIRED - r.keys()
        assert ("worst_ratio" in r) or ("max_error" in r)
        assert r["holds"] is True and r["trials"] >= 1 and r["seconds"] >= 0 and r["seed"] == 0
        assert {"python", "numpy", "mpmath", "ntkcheck"} <= r["versions"].keys()
    assert records[0]["id"] == "softmax-gradient" and records[1]["id"] == "ntk-factorization"
    assert not [p for p in tmp_path.iterdir() if p.name != "x.json"], "temporary files left behind"


def test_verify_selects_by_id_case_insensitively_and_dedups(tmp_path, capsys):
    target = tmp_path / "y.json"
    assert main(["verify", "--only", "g4,ntk-factorization, G4", "--scale", "0.2", "--seed", "3", "--json",
                 str(target), "--quiet"]) == 0
    records = json.loads(target.read_text(encoding="utf-8"))
    assert [r["code"] for r in records] == ["G4"] and records[0]["seed"] == 3 and records[0]["scale"] == 0.2


def test_unknown_check_exits_2(capsys, tmp_path):
    target = tmp_path / "z.json"
    assert main(["verify", "--only", "G1,Z99", "--json", str(target)]) == 2
    out = _out(capsys)
    assert "Z99" in out and "unknown check" in out and "Traceback" not in out
    assert "G1" in out  # the message lists the known checks
    assert not target.exists()


def test_unknown_check_message_is_one_line(capsys):
    assert main(["verify", "--only", "Z99"]) == 2
    lines = [ln for ln in _out(capsys).splitlines() if ln.strip()]
    assert len(lines) == 1, lines


def test_json_into_missing_folder_exits_2_and_writes_nothing(tmp_path, capsys):
    target = tmp_path / "missing" / "x.json"
    assert main(["verify", "--only", "G1", "--json", str(target)]) == 2
    out = _out(capsys)
    assert "does not exist" in out and "--json" in out
    assert not target.parent.exists()
    assert list(tmp_path.iterdir()) == []


def test_json_to_a_directory_exits_2(tmp_path, capsys):
    assert main(["verify", "--only", "G1", "--json", str(tmp_path)]) == 2
    assert "directory" in _out(capsys)


@pytest.mark.parametrize("scale", ["0", "-1", "nan"])
def test_bad_scale_exits_2(scale, capsys):
    assert main(["verify", "--only", "G1", "--scale", scale]) == 2
    out = _out(capsys)
    assert "--scale" in out and "Traceback" not in out


def test_infinite_scale_exits_2(capsys):
    assert main(["verify", "--only", "G1", "--scale", "inf", "--quiet"]) == 2


def test_list(capsys):
    assert main(["list"]) == 0
    out = _out(capsys)
    for code in ("G1", "G2", "G3", "G4", "G5", "G6"):
        assert code in out
    assert "softmax-gradient" in out


def test_usage_errors_from_argparse_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["verify", "--scale", "abc"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2


@pytest.fixture
def failing_check(monkeypatch):
    """A temporary always-failing check, registered under code Z9 for the duration of one test."""
    checks.all_checks()  # import the sections first so that the registry is complete
    calls = []

    def fn(ctx):
        calls.append(ctx.seed)
        return Outcome(holds=False, trials=1, worst_ratio=2.0, sizes={"n": 1})

    proof = checks.REGISTRY["G1"].proof  # any existing proofs module supplies the statement
    monkeypatch.setitem(checks.REGISTRY, "Z9", Check("Z9", "always-fails", proof, fn, "fails on purpose"))
    return calls


def test_failing_check_exits_1(failing_check, tmp_path, capsys):
    target = tmp_path / "f.json"
    assert main(["verify", "--only", "G4,Z9", "--scale", "0.2", "--json", str(target), "--quiet"]) == 1
    out = _out(capsys)
    assert "FAILED" in out and "Z9" in out
    records = json.loads(target.read_text(encoding="utf-8"))
    assert {r["code"]: r["holds"] for r in records} == {"G4": True, "Z9": False}
    assert failing_check == [0]


def test_failing_check_removed_after_test():
    assert "Z9" not in checks.REGISTRY


def _run(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "ntkcheck.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


def test_subprocess_exit_code_and_no_traceback():
    """``python -m ntkcheck.cli`` as a user runs it: a bad argument exits 2 with a message, no traceback.
    (One subprocess: each costs an interpreter start and the sympy import; the other paths are tested
    in-process above.)"""
    bad = _run("verify", "--only", "nope", "--json", "missing-folder/x.json")
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and "Traceback" not in bad.stdout
    assert "nope" in bad.stdout + bad.stderr
    assert not (ROOT / "missing-folder").exists()
