"""Every benchmark script runs, at a tiny size, in a subprocess, and ends with exit status 0 (targets met) or
1 (not met) — never with a traceback.  (bench_ntk.py once called a renamed private function and stayed
broken for a whole session: nothing ran it.)  No timing is asserted: at these sizes the targets are
meaningless; what is checked is that the scripts run, that they write their JSON where asked (with the
versions and the sizes), and the parts of their verdicts that are not timings (agreement, identical results).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


def run(script: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, str(BENCH / script), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def assert_ran(proc: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode in (0, 1), f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"


def test_bench_ntk_runs(tmp_path):
    out = tmp_path / "ntk.json"
    proc = run("bench_ntk.py", "--no-peers", "--n", "12", "--d", "4", "--d-out", "2", "--m", "100",
               "--repeats", "2", "--json", str(out))
    assert_ran(proc)
    res = json.loads(out.read_text())
    assert res["versions"] and res["sizes"]["m"] == 100
    assert {"ours / dsyrk", "ours / floor"} <= set(res["ratios"])
    assert res["bitwise_equal_threads_1"] is True
    assert max(res["agreement"].values()) <= 1e-12


def test_bench_sweep_runs(tmp_path):
    """The tiny sweep: serial, on a started 2-worker LocalCluster (twice), identical results."""
    pytest.importorskip("distributed")
    out = tmp_path / "sweep.json"
    proc = run("bench_sweep.py", "--tiny", "--json", str(out))
    assert_ran(proc)
    res = json.loads(out.read_text())
    assert res["versions"] and res["sizes"]["cells"] >= 10 and res["sizes"]["tiny"] is True
    assert all(res["identical_results"].values()), res["identical_results"]
    assert {"end_to_end", "steady", "bound_lpt_all_cells", "bound_lpt_with_round_barriers"} <= set(res["speedup"])


def test_bench_streaming_runs(tmp_path):
    out = tmp_path / "streaming.json"
    proc = run("bench_streaming.py", "--repeats", "1", "--n", "8", "--d", "4", "--d-out", "2", "--m", "64",
               "--mem-n", "4", "--mem-m", "256,1024", "--json", str(out))
    assert_ran(proc)
    res = json.loads(out.read_text())
    assert res["versions"] and res["sizes"]["mem_m"] == [256, 1024]
    assert all(v for k, v in res["targets"].items() if "agrees" in k), res["targets"]


def test_bench_gd_step_runs():
    assert_ran(run("bench_gd_step.py", "--n", "16", "--d", "4", "--m", "256", "--reps", "1"))


def test_precision_table_runs():
    proc = run("precision_table.py", "--draws", "1")
    assert_ran(proc)
    assert "worst of" in proc.stdout


def test_every_benchmark_script_is_tested():
    """A new script in benchmarks/ gets a test here."""
    here = Path(__file__).read_text()
    scripts = sorted(p.name for p in BENCH.glob("*.py"))
    assert scripts and all(f'"{s}"' in here for s in scripts), [s for s in scripts if f'"{s}"' not in here]
