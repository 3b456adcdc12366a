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
    assert main(["verify", "--only", "g4,ntk-factorization, G4", "--scale", "0.25", "--seed", "3", "--json",
                 str(target), "--quiet"]) == 0
    records = json.loads(target.read_text(encoding="utf-8"))
    assert [r["code"] for r in records] == ["G4"] and records[0]["seed"] == 3 and records[0]["scale"] == 0.25


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
    assert main(["verify", "--only", "G4,Z9", "--scale", "0.25", "--json", str(target), "--quiet"]) == 1
    out = _out(capsys)
    assert "FAILED" in out and "Z9" in out
    # the table renders claims, not keys: the failing check's sentence with its number and bound
    assert "worst observed/bound: 2 ≤ 1 — FAILS" in " ".join(out.split())
    assert "worst obs/bound" not in out and "max error (tol)" not in out
    records = json.loads(target.read_text(encoding="utf-8"))
    assert {r["code"]: r["holds"] for r in records} == {"G4": True, "Z9": False}
    z9 = next(r for r in records if r["code"] == "Z9")
    assert [c["sentence"] for c in z9["claims"]] == ["worst observed/bound: 2 ≤ 1 — FAILS"]
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


# ------------------------------------------------------------------------------------------ usage errors
@pytest.fixture
def no_computation(monkeypatch):
    """Fails the test if a check or an experiment starts: usage errors must come before any computation."""
    from ntkcheck.experiments import compare, diffusion, width

    def forbidden(*args, **kwargs):
        raise AssertionError("a computation started before the arguments were checked")

    monkeypatch.setattr(checks, "run", forbidden)
    for mod in (width, diffusion, compare):
        monkeypatch.setattr(mod, "run", forbidden)


def _one_error_line(capsys) -> str:
    o = capsys.readouterr()
    lines = [ln for ln in o.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), (o.out, o.err)
    assert "Traceback" not in o.out + o.err
    return lines[0]


@pytest.mark.parametrize("command", ["verify", "diffusion", "compare"])
def test_negative_seed_exits_2(command, no_computation, capsys):
    assert main([command, "--seed", "-1", "--quiet"]) == 2
    assert "--seed" in _one_error_line(capsys)


def _unwritable(tmp_path) -> list[tuple[str, str]]:
    """(path, expected words): destinations that cannot be written, even by root."""
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    return [("/proc/x.json", "cannot write"), ("/sys/x.json", "cannot write"),
            (str(a_file / "x.json"), "not a folder"), ("", "empty path")]


@pytest.mark.parametrize("argv", [["verify", "--only", "G1"], ["width", "--n-values", "2,3,4"], ["diffusion"],
                                  ["compare"]])
def test_unwritable_json_exits_2_before_running(argv, tmp_path, no_computation, capsys):
    for path, words in _unwritable(tmp_path):
        assert main([*argv, "--json", path, "--quiet"]) == 2, path
        line = _one_error_line(capsys)
        assert "--json" in line and words in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@pytest.mark.parametrize("argv", [["diffusion", "--plot-dir"], ["compare", "--plot-dir"], ["width", "--plot-dir"]])
def test_unwritable_plot_destination_exits_2(argv, tmp_path, no_computation, capsys):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    folder = argv[-1] == "--plot-dir"
    cases = [("/sys", "cannot write"), ("/proc", "cannot write"), ("", "empty path")] if folder else \
        [("/sys/w.png", "cannot write"), ("/proc/w.png", "cannot write"), (str(a_file / "w.png"), "existing folder"),
         ("", "--plot")]
    for path, words in cases:
        assert main([*argv, path, "--quiet"]) == 2, path
        line = _one_error_line(capsys)
        assert argv[-1] in line and words in line, line


def test_writable_check_leaves_nothing_behind(tmp_path, capsys):
    target = tmp_path / "ok.json"
    assert main(["verify", "--only", "G4", "--scale", "0.25", "--json", str(target), "--quiet"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["ok.json"]


@pytest.mark.parametrize("scale", ["0.1", "5e-5", "0.2499"])
def test_scale_below_minimum_exits_2_naming_the_minimum(scale, no_computation, capsys):
    from ntkcheck.cli import MIN_SCALE

    assert MIN_SCALE == 0.25
    assert main(["verify", "--only", "T1", "--scale", scale, "--quiet"]) == 2
    line = _one_error_line(capsys)
    assert "--scale" in line and ">= 0.25" in line, line


def test_large_scale_announces_its_run_time(monkeypatch, capsys):
    import ntkcheck.cli as cli

    # every entry names a registered check (a check added later falls back to DEFAULT_CHECK_SECONDS)
    assert set(cli.CHECK_SECONDS) <= {c.code for c in checks.all_checks()} and len(cli.CHECK_SECONDS) >= 20
    assert all(v > 0 for v in cli.CHECK_SECONDS.values())
    chosen = [checks.find("G4"), checks.find("B7")]
    assert cli.estimated_seconds(chosen, 4.0) == pytest.approx(4 * (cli.CHECK_SECONDS["G4"] + cli.CHECK_SECONDS["B7"]))
    # a short run says nothing; a long one (G4 made to look slow) prints an estimate on stderr, then runs
    assert main(["verify", "--only", "G4", "--scale", "0.25", "--quiet"]) == 0
    assert "estimated" not in "".join(capsys.readouterr())
    monkeypatch.setitem(cli.CHECK_SECONDS, "G4", 2000.0)
    assert main(["verify", "--only", "G4", "--scale", "0.25", "--quiet"]) == 0
    o = capsys.readouterr()
    assert "estimated run time: about 8 min" in o.err and "estimated" not in o.out


# ------------------------------------------------------------------------------------------ proof, version, help
@pytest.mark.parametrize("code", ["g1", "G1", "softmax-gradient", "SOFTMAX-GRADIENT"])
def test_proof_accepts_a_code_or_id_in_any_case(code, capsys):
    assert main(["proof", code]) == 0
    assert "G1 softmax-gradient" in capsys.readouterr().out


def test_proof_unknown_code_exits_2(capsys):
    assert main(["proof", "z1"]) == 2
    line = _one_error_line(capsys)
    assert "'z1'" in line and "G1" in line


def test_version(capsys):
    import ntkcheck

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"ntkcheck {ntkcheck.__version__}"


def test_every_subcommand_has_a_description_and_the_exit_statuses(capsys):
    from ntkcheck.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, __import__("argparse")._SubParsersAction))
    assert set(sub.choices) == {"verify", "list", "width", "proof", "diffusion", "compare", "certify"}
    for name, parser in sub.choices.items():
        assert parser.description and len(parser.description) > 40, name
        with pytest.raises(SystemExit) as info:
            main([name, "--help"])
        out = capsys.readouterr().out
        assert info.value.code == 0 and parser.description.split()[0] in out, name
        statuses = (("0  proved", "1  a hypothesis fails", "2  a usage error", "3  an internal error")
                    if name == "certify" else
                    ("0  every check holds", "1  a check failed", "2  a usage error", "3  an internal error"))
        for status in statuses:
            assert status in out, (name, status)


# ------------------------------------------------------------------------------------------ internal errors
def test_internal_error_is_one_line_exit_3(monkeypatch, capsys):
    from ntkcheck.experiments import width

    def broken(cfg, progress=None):
        raise RuntimeError("something broke\nover two lines")

    monkeypatch.setattr(width, "run", broken)
    assert main(["width", "--n-values", "2,3,4", "--quiet"]) == 3
    assert _one_error_line(capsys) == ("error: internal error: RuntimeError: something broke over two lines "
                                       "(run with --debug for the traceback)")
    for argv in (["--debug", "width"], ["width", "--debug"]):
        with pytest.raises(RuntimeError, match="something broke"):
            main([*argv, "--n-values", "2,3,4", "--quiet"])


@pytest.fixture
def raising_check(monkeypatch):
    """A temporary check Z8 that raises, next to the always-failing Z9."""
    checks.all_checks()

    def fn(ctx):
        raise ZeroDivisionError("division by zero")

    proof = checks.REGISTRY["G1"].proof
    monkeypatch.setitem(checks.REGISTRY, "Z8", Check("Z8", "always-raises", proof, fn, "raises on purpose"))

    def fails(ctx):
        return Outcome(holds=False, trials=1, worst_ratio=2.0)

    monkeypatch.setitem(checks.REGISTRY, "Z9", Check("Z9", "always-fails", proof, fails, "fails on purpose"))


def test_a_check_that_raises_is_an_error_row_exit_3(raising_check, tmp_path, capsys):
    target = tmp_path / "e.json"
    assert main(["verify", "--only", "G4,Z8,Z9", "--scale", "0.25", "--json", str(target), "--quiet"]) == 3
    o = capsys.readouterr()
    assert "ERROR" in o.out and "Traceback" not in o.out + o.err
    assert "Z8 always-raises: ZeroDivisionError: division by zero" in o.err
    records = {r["code"]: r for r in json.loads(target.read_text(encoding="utf-8"))}
    assert records["Z8"]["holds"] is False and records["Z8"]["error"] == "ZeroDivisionError: division by zero"
    assert records["G4"]["holds"] is True and "error" not in records["G4"]
    assert records["Z9"]["holds"] is False and "error" not in records["Z9"]
    assert main(["verify", "--only", "G4,Z9", "--scale", "0.25", "--quiet"]) == 1      # no error: a failure is 1
    capsys.readouterr()


# ------------------------------------------------------------------------------------------ Ctrl-C
_INTERRUPT_DURING_IMPORT = r"""
import os, signal, sys
import ntkcheck                                    # the package first, as `python -m ntkcheck.cli` does


class Interrupt:                                   # a real SIGINT while the CLI loads its libraries
    def find_spec(self, name, path=None, target=None):
        if name == "rich.table":
            os.kill(os.getpid(), signal.SIGINT)
        return None


sys.meta_path.insert(0, Interrupt())
sys.argv = ["ntkcheck", "list"]
import runpy
runpy.run_module("ntkcheck.cli", run_name="__main__")
"""


def _env():
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _default_sigint():
    """The child starts with SIGINT at its default disposition, as under a terminal.  A test run started as a
    background job of a non-interactive shell (``sh -c 'pytest … &'``) inherits SIGINT *ignored*, and Python
    then keeps it ignored: a Ctrl-C test would see no KeyboardInterrupt at all, whatever the CLI does."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_while_the_cli_imports_prints_no_traceback():
    r = subprocess.run([sys.executable, "-c", _INTERRUPT_DURING_IMPORT], capture_output=True, text=True, cwd=ROOT,
                       env=_env(), timeout=120, preexec_fn=_default_sigint)
    assert r.returncode == 130 and r.stderr.strip() == "interrupted" and "Traceback" not in r.stderr, r.stderr
    assert r.stdout == ""


def test_the_package_imports_lazily():
    """Ctrl-C at start-up can only meet the CLI's handler if ``import ntkcheck`` loads no heavy library."""
    code = "import sys, ntkcheck; print('sympy' in sys.modules or 'scipy' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=120)
    assert r.stdout.strip() == "False", r.stdout + r.stderr


@pytest.mark.parametrize("delay", [0.15, 0.4, 0.8, 1.5])
def test_ctrl_c_at_any_time_prints_no_traceback(delay):
    """SIGINT at several moments of `ntkcheck verify --only G1`, counted from the moment the interpreter has
    started (its `site` import is done) and hands over to the command line: never a traceback (a signal after
    the run gives none either).  The delay is counted from that hand-over, not from the process start: a
    SIGINT during the interpreter's own start-up, before any code of ours runs, is Python's to report, and a
    delay from the process start lands there or not depending on the machine's load."""
    import signal
    import time

    launcher = ("import sys, runpy; print('started', flush=True); "
                "sys.argv = ['ntkcheck', 'verify', '--only', 'G1', '--quiet']; "
                "runpy.run_module('ntkcheck.cli', run_name='__main__', alter_sys=True)")
    proc = subprocess.Popen([sys.executable, "-c", launcher],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_env(),
                            preexec_fn=_default_sigint)
    assert proc.stdout.readline().strip() == "started"
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert "Traceback" not in out + err, err
    assert proc.returncode in (0, 130, -signal.SIGINT), (proc.returncode, err)
