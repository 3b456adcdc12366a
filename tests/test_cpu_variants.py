"""Results must not depend on the CPU.  numpy picks SIMD kernels at run time (AVX-512 where the CPU has it,
else AVX2), and they differ in the last bits: ``np.geomspace(1e-3, 1, 13)[7]`` is 0.056234132519034905 with
AVX-512 and 0.05623413251903491 without.  On a CPU with AVX-512 this module reruns the tests that read cached
results, and a few cheap checks, with AVX-512 disabled, so that one run of the suite covers both variants.
On a CPU without AVX-512 the suite itself is the other variant, and these tests skip.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
NO_AVX512 = "AVX512F AVX512CD AVX512_SKX AVX512_ICL X86_V4"


def _has_avx512() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512f" in flags


pytestmark = pytest.mark.skipif(not _has_avx512(), reason="this CPU has no AVX-512: the suite already runs the "
                                                          "other variant")


def _run(args, disable: bool):
    env = dict(os.environ)
    env.pop("NPY_DISABLE_CPU_FEATURES", None)
    if disable:
        env["NPY_DISABLE_CPU_FEATURES"] = NO_AVX512
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_the_variants_really_differ():
    """Without this the tests below would prove nothing: the two variants must give different last bits."""
    code = "import numpy as np; print(repr(float(np.geomspace(1e-3, 1, 13)[7])))"
    on = _run(["-c", code], disable=False).stdout.strip()
    off = _run(["-c", code], disable=True).stdout.strip()
    assert on != off, (on, off)
    assert abs(float(on) - float(off)) <= 4 * np.finfo(float).eps * float(on)


def test_cached_results_and_core_tests_pass_without_avx512():
    """The cached-result comparisons (results/compare.json) and the float64-vs-reference tests of the core."""
    out = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_compare.py", "tests/test_network.py",
                "tests/test_kernels.py"], disable=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]


def test_verify_verdicts_agree_between_variants(tmp_path):
    """The same checks, seed and sizes: every verdict and trial count agrees, numbers within 1e-6 relative where
    they are exact-arithmetic quantities (adversarial searches may take another path on other last bits, so their
    worst ratios are compared by verdict only)."""
    records = {}
    for disable in (False, True):
        target = tmp_path / f"verify-{disable}.json"
        out = _run(["-m", "ntkcheck.cli", "verify", "--only", "G1,G4,G5,G6,B1,D2", "--quiet", "--json", str(target)],
                   disable=disable)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        data = json.loads(target.read_text())
        recs = data["records"] if isinstance(data, dict) and "records" in data else data
        records[disable] = {r["code"]: r for r in recs}
    assert records[False].keys() == records[True].keys()
    for code, a in records[False].items():
        b = records[True][code]
        assert (a["holds"], a["trials"]) == (b["holds"], b["trials"]), code
    for code in ("G5", "B1"):        # statistics of the same draws: last-bit differences only
        a, b = records[False][code], records[True][code]
        for key in ("worst_ratio", "max_error"):
            if key in a:
                assert b[key] == pytest.approx(a[key], rel=1e-6), (code, key)
