"""ntkcheck.sweep: the cell engines give the same results (serial, a 2-worker LocalCluster, an existing
cluster), a sweep killed midway resumes from its cache computing only the missing cells, a torn cache line
is ignored, and the streamed NTK reduced over a cluster equals the serial stream.

Tolerances: results that are floats agree to 1e-12 relative (normwise for matrices), the suite's bound for
float64-vs-float64 comparisons; most are bit-equal in practice (the same code on the same machine), but the
engines are not required to be.  Expected values of the toy cells come from their formula in the test, not
from the engine.  One 2-worker LocalCluster is shared by the module (started once, a few seconds).
"""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ntkcheck import network, streaming, sweep
from ntkcheck.sweep import Cell, run_cells

TOL = 1e-12
ROOT = Path(__file__).resolve().parents[1]

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")
cloudpickle.register_pickle_by_value(sys.modules[__name__])   # the workers cannot import tests/ by name


def nrel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# ------------------------------------------------------------------------------------------ cell functions
def ntk_cell(cell) -> dict:
    """A numeric cell: λ_min and the spectrum of H(W(0)) of a small blockwise-drawn network."""
    p = cell.params
    X = np.random.default_rng(p["seed"]).standard_normal((p["n"], 3))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    net = streaming.materialize(3, p["m"], 2, 1.0, "iid", seed=p["seed"], block=64)
    ev = np.linalg.eigvalsh(network.empirical_ntk(net, X))
    return {"n": p["n"], "m": p["m"], "lambda_min": ev[0], "spectrum": ev, "m_int": np.int64(p["m"])}


def blas_threads_cell(cell) -> dict:
    from threadpoolctl import threadpool_info

    return {"threads": [i["num_threads"] for i in threadpool_info()], "pid": os.getpid()}


def square_cell(cell) -> dict:
    x = cell.params["x"]
    return {"x": x, "y": x * x + 0.5}


NTK_CELLS = [Cell("test.ntk", {"n": n, "m": m, "seed": s}) for n in (3, 5) for m in (64, 200) for s in (0, 1)]


@pytest.fixture(scope="module")
def cluster():
    # started with a BLAS that would use 2 threads by its environment: the engine must bring it to 1
    mp = pytest.MonkeyPatch()
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        mp.setenv(name, "2")
    try:
        c = sweep.local_cluster(2)
    finally:
        mp.undo()
    yield c
    c.close()


def close_results(a: list, b: list) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert set(x) == set(y)
        for k in x:
            if isinstance(x[k], float) or isinstance(x[k], list):
                assert nrel(x[k], y[k]) <= TOL, k
            else:
                assert x[k] == y[k], k


# ------------------------------------------------------------------------------------------ engines
def test_serial_does_not_import_dask():
    code = textwrap.dedent("""
        import sys
        from ntkcheck.sweep import Cell, run_cells
        out = run_cells([Cell("t", {"x": i}) for i in range(3)], lambda c: {"y": c.params["x"]})
        assert out == [{"y": 0}, {"y": 1}, {"y": 2}], out
        bad = sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed"))
        assert not bad, bad
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_serial_results_are_the_formula_in_order():
    cells = [Cell("test.square", {"x": x}) for x in (3, 1, 2, 1)]
    calls = []
    out = run_cells(cells, lambda c: calls.append(c) or square_cell(c))
    assert out == [{"x": x, "y": x * x + 0.5} for x in (3, 1, 2, 1)]
    assert len(calls) == 3                      # the repeated cell is computed once


def test_two_worker_local_cluster_equals_serial():
    serial = run_cells(NTK_CELLS, ntk_cell)
    seen = []
    dist = run_cells(NTK_CELLS, ntk_cell, workers=2, progress=lambda d, t: seen.append((d, t)))
    close_results(dist, serial)
    assert json.dumps(serial) == json.dumps(run_cells(NTK_CELLS, ntk_cell))     # deterministic serially
    assert seen[0] == (0, len(NTK_CELLS)) and seen[-1] == (len(NTK_CELLS), len(NTK_CELLS))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    for r in serial:                            # JSON-normalized in every engine: lists and ints, not numpy
        assert type(r["spectrum"]) is list and type(r["m_int"]) is int


def test_workers_have_one_blas_thread_each(cluster):
    out = run_cells([Cell("test.blas", {"i": i}) for i in range(4)], blas_threads_cell,
                    scheduler=cluster.scheduler_address)
    assert all(t == 1 for r in out for t in r["threads"]), out
    assert os.getpid() not in {r["pid"] for r in out}


def test_existing_cluster_equals_serial_and_resumes(cluster, tmp_path):
    serial = run_cells(NTK_CELLS, ntk_cell)
    first = run_cells(NTK_CELLS[:5], ntk_cell, scheduler=cluster.scheduler_address, cache=tmp_path)
    close_results(first, serial[:5])
    lines = (tmp_path / sweep.CACHE_FILE).read_text().splitlines()
    assert len(lines) == 5 and {json.loads(x)["key"] for x in lines} == {c.key() for c in NTK_CELLS[:5]}
    again = run_cells(NTK_CELLS, ntk_cell, scheduler=cluster.scheduler_address, cache=tmp_path)
    close_results(again, serial)
    assert len((tmp_path / sweep.CACHE_FILE).read_text().splitlines()) == len(NTK_CELLS)


def test_a_failing_cell_propagates_and_keeps_the_finished_ones(tmp_path):
    def f(c):
        if c.params["x"] == 2:
            raise ArithmeticError("cell 2 failed")
        return square_cell(c)

    with pytest.raises(ArithmeticError, match="cell 2 failed"):
        run_cells([Cell("test.square", {"x": x}) for x in range(4)], f, cache=tmp_path)
    assert len((tmp_path / sweep.CACHE_FILE).read_text().splitlines()) == 2


@pytest.mark.parametrize("kw, message", [
    ({"workers": 0}, "workers must be a positive integer"),
    ({"workers": 2, "scheduler": "tcp://127.0.0.1:9"}, "not both"),
    ({"scheduler": "tcp://127.0.0.1:9"}, "scheduler tcp://127.0.0.1:9: cannot connect"),
    ({"scheduler": " "}, "scheduler must be an address"),
])
def test_bad_engine_options(kw, message, tmp_path):
    called = []
    with pytest.raises(sweep.EngineError, match=message):
        run_cells([Cell("t", {})], lambda c: called.append(1) or {}, **kw)
    assert not called


def test_cache_must_be_a_folder(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(sweep.EngineError, match="not a folder"):
        run_cells([Cell("t", {})], square_cell, cache=f)


def test_missing_dask_is_one_clear_error():
    code = textwrap.dedent("""
        import sys
        sys.modules["distributed"] = None          # as if the [distributed] extra were not installed
        from ntkcheck.sweep import Cell, EngineError, run_cells
        try:
            run_cells([Cell("t", {})], lambda c: {}, workers=2)
        except EngineError as exc:
            print(exc)
        from ntkcheck.cli import main
        print("exit", main(["compare", "--workers", "2", "--quiet"]))
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "workers needs dask and distributed: pip install 'ntkcheck[distributed]'" in r.stdout
    assert "exit 2" in r.stdout and "--workers needs dask" in r.stderr and "Traceback" not in r.stderr


# ------------------------------------------------------------------------------------------ resume
SCRIPT = """
import os, sys, time
sys.path.insert(0, {here!r})
from ntkcheck.sweep import Cell, run_cells
import cellmod
run_cells([Cell("test.slow", {{"x": x}}) for x in range({total})], cellmod.slow, cache={cache!r})
"""

CELLMOD = """
import os, time

def slow(cell):
    with open(os.environ["CALLS_LOG"], "a") as f:
        f.write(str(cell.params["x"]) + "\\n")
    time.sleep(float(os.environ.get("CELL_SLEEP", "0")))
    x = cell.params["x"]
    return {"x": x, "y": x ** 3 - 2.0 * x, "name": "cell-" + str(x)}
"""


def expected_slow(x):
    return {"x": x, "y": x ** 3 - 2.0 * x, "name": f"cell-{x}"}


def test_a_sigkilled_sweep_resumes_computing_only_the_rest(tmp_path, monkeypatch):
    total, k = 12, 4
    (tmp_path / "cellmod.py").write_text(CELLMOD)
    cache = tmp_path / "cache"
    script = tmp_path / "sweep_script.py"
    script.write_text(SCRIPT.format(here=str(tmp_path), total=total, cache=str(cache)))
    env = dict(os.environ, PYTHONPATH=str(ROOT), CALLS_LOG=str(tmp_path / "calls1"), CELL_SLEEP="0.4")
    proc = subprocess.Popen([sys.executable, str(script)], env=env)
    path = cache / sweep.CACHE_FILE
    deadline = time.monotonic() + 90
    try:
        while not (path.exists() and path.read_text().count("\n") >= k):
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "the sweep made no progress"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    done_before = path.read_text().count("\n")
    assert k <= done_before < total
    # the rerun, in this process: only the cells missing from the cache are computed
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CALLS_LOG", str(tmp_path / "calls2"))
    monkeypatch.setenv("CELL_SLEEP", "0")
    import cellmod

    cells = [Cell("test.slow", {"x": x}) for x in range(total)]
    out = run_cells(cells, cellmod.slow, cache=cache)
    calls = [int(x) for x in (tmp_path / "calls2").read_text().split()]
    cached = {json.loads(line)["result"]["x"] for line in path.read_text().splitlines()[:done_before]}
    assert sorted(calls) == sorted(set(range(total)) - cached) and len(calls) == total - done_before
    assert out == [expected_slow(x) for x in range(total)]
    # idempotent: a third run computes nothing and gives the same results
    out3 = run_cells(cells, cellmod.slow, cache=cache)
    assert out3 == out and len((tmp_path / "calls2").read_text().split()) == len(calls)
    assert len(path.read_text().splitlines()) == total


def test_a_torn_last_line_is_ignored_and_cut(tmp_path):
    cells = [Cell("test.square", {"x": x}) for x in range(5)]
    run_cells(cells[:3], square_cell, cache=tmp_path)
    path = tmp_path / sweep.CACHE_FILE
    whole = path.read_bytes()
    third = whole.splitlines(keepends=True)[2]
    path.write_bytes(whole[:-len(third)] + third[:len(third) // 2])     # killed while writing line 3
    calls = []
    out = run_cells(cells, lambda c: calls.append(c.params["x"]) or square_cell(c), cache=tmp_path)
    assert out == [{"x": x, "y": x * x + 0.5} for x in range(5)]
    assert sorted(calls) == [2, 3, 4]
    lines = path.read_text().splitlines()
    assert len(lines) == 5 and all(json.loads(x)["result"]["y"] == json.loads(x)["params"]["x"] ** 2 + 0.5
                                   for x in lines)


def test_a_corrupt_middle_line_is_an_error(tmp_path):
    run_cells([Cell("test.square", {"x": x}) for x in range(3)], square_cell, cache=tmp_path)
    path = tmp_path / sweep.CACHE_FILE
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "{not json", lines[2]]) + "\n")
    with pytest.raises(sweep.EngineError, match="line 2 is not a cell record"):
        run_cells([Cell("test.square", {"x": 0})], square_cell, cache=tmp_path)


def test_rate_counts_only_this_runs_cells():
    t = iter([0.0, 10.0, 20.0])
    r = sweep.Rate(clock=lambda: next(t))
    assert r.update(6, 10) == (None, None)          # 6 cells from the cache: no speed yet
    assert r.update(7, 10) == pytest.approx((0.1, 30.0))
    assert r.update(8, 10) == pytest.approx((0.1, 20.0))


# ------------------------------------------------------------------------------------------ streaming
@pytest.mark.parametrize("scheme, passes", [("iid", 2), ("iid", 1), ("symmetric", 1)])
@pytest.mark.parametrize("chunk_blocks", [1, 3])
def test_streaming_on_a_cluster_equals_serial(cluster, scheme, passes, chunk_blocks):
    n, d, q, m, block = 5, 3, 2, 1000, 64          # 16 (iid) or 8 (symmetric) blocks, the last one partial
    X = np.random.default_rng(3).standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    kw = dict(d_out=q, sigma=1.5, scheme=scheme, seed=11, block=block, chunk_blocks=chunk_blocks, passes=passes)
    serial = streaming.streamed_ntk(X, m, **kw)
    with distributed.Client(cluster.scheduler_address) as client:
        dist = streaming.streamed_ntk(X, m, client=client, **kw)
    assert nrel(dist.H, serial.H) <= TOL and nrel(dist.Q, serial.Q) <= TOL
    assert abs(dist.S0 - serial.S0) <= TOL * serial.S0
    assert np.max(np.abs(dist.F - serial.F)) <= TOL * m
    assert nrel(dist.alpha * np.exp(dist.M), serial.alpha * np.exp(serial.M)) <= TOL
    # and both equal the in-memory NTK of the materialized network (a different code path)
    p = streaming.materialize(d, m, q, 1.5, scheme, seed=11, block=block)
    assert nrel(dist.H, network.empirical_ntk(p, X)) <= TOL


def test_engine_client_serial_is_none():
    with sweep.engine_client() as client:
        assert client is None


# ------------------------------------------------------------------------------------------ compare, CLI
def test_compare_width_section_serial_equals_cluster_and_cache(cluster, tmp_path):
    from ntkcheck.experiments import compare as C

    tiny = replace(C.QUICK, d=4, width_n=(3, 4), width_seeds=2, activations=("softmax", "relu"))
    serial = C.width_section(tiny)
    ticks = []
    dist = C.width_section(tiny, tick=ticks.append, scheduler=cluster.scheduler_address, cache=tmp_path)
    assert json.dumps(dist) == json.dumps(serial)           # integers (m_emp) and float λ, same code
    assert len(ticks) == 4
    assert [(r["n"], r["activation"]) for r in serial["rows"]] == [(3, "softmax"), (3, "relu"), (4, "softmax"),
                                                                   (4, "relu")]


@pytest.mark.parametrize("args, message", [
    (["--workers", "0"], "--workers must be >= 1"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:9"], "exclude each other"),
    (["--scheduler", "tcp://127.0.0.1:9"], "--scheduler tcp://127.0.0.1:9: cannot connect"),
])
@pytest.mark.parametrize("command", ["width", "compare"])
def test_cli_engine_usage_errors(command, args, message, capsys, monkeypatch):
    from ntkcheck import cli

    ran = []
    monkeypatch.setattr(cli, "_run_counting", lambda *a, **k: ran.append(1))
    assert cli.main([command, *args, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not ran


def test_cli_cache_that_is_a_file(tmp_path, capsys):
    from ntkcheck.cli import main

    f = tmp_path / "f"
    f.write_text("")
    assert main(["compare", "--cache", str(f), "--quiet"]) == 2
    assert "--cache" in capsys.readouterr().err


def test_cli_passes_the_engine_options(tmp_path, monkeypatch):
    from ntkcheck import cli
    from ntkcheck.experiments import compare

    seen = {}

    def fake_run(cfg, progress=None, **engine):
        seen.update(engine)
        raise KeyboardInterrupt

    monkeypatch.setattr(compare, "run", fake_run)
    assert cli.main(["compare", "--workers", "2", "--cache", str(tmp_path / "c"), "--quiet"]) == 130
    assert seen == {"workers": 2, "cache": tmp_path / "c"}
    seen.clear()
    assert cli.main(["compare", "--quiet"]) == 130
    assert seen == {}


def test_local_cluster_workers_have_one_blas_thread_outside_cells(cluster):
    """Streaming reductions are plain futures, not cells: the worker itself must run one BLAS thread."""
    with distributed.Client(cluster.scheduler_address) as client:
        out = client.run(blas_threads_cell, None)
    assert len(out) == 2 and all(t == 1 for r in out.values() for t in r["threads"]), out


def page_faults_of_reused_arrays(_=None) -> int:
    """Minor page faults of 200 allocations of a touched 2 MiB array (freed each time) in this process."""
    import resource

    np.ones(1 << 18).sum()                      # the first allocation may fault; glibc then keeps the memory
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(200):
        np.ones(1 << 18).sum()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif("MALLOC_TRIM_THRESHOLD_" in os.environ, reason="this process sets glibc's trim threshold itself")
def test_local_cluster_workers_keep_glibcs_malloc_and_leave_this_environment_alone():
    """Dask's nanny would start the workers with MALLOC_TRIM_THRESHOLD_=65536, which turns off glibc's dynamic
    mmap threshold: each 2 MiB array is then a fresh mmap (512 page faults; the width cells ran 1.5x slower).
    A 1-worker cluster of ours: its worker reuses the memory as a plain process does, and starting it leaves
    this process's environment as it was (the nanny writes its variables into os.environ)."""
    before = dict(os.environ)
    c = sweep.local_cluster(1)
    try:
        assert dict(os.environ) == before
        with distributed.Client(c) as client:
            env = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
            faults = client.run(page_faults_of_reused_arrays)
    finally:
        c.close()
    assert list(env.values()) == [None], env
    assert all(f < 200 * 512 // 10 for f in faults.values()), faults       # trimmed: about 200 × 512


def faults_cell(cell) -> dict:
    return {"faults": page_faults_of_reused_arrays()}


def test_cells_keep_glibcs_memory_on_a_worker_started_with_the_nannys_trim_threshold():
    """On any cluster's worker (a plain distributed.LocalCluster here: its nanny sets MALLOC_TRIM_THRESHOLD_),
    a batch of cells reuses freed memory (kept_memory), and the worker's own setting is back after it."""
    before = dict(os.environ)
    try:
        c = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None)
    finally:
        sweep._restore_environ(before)           # the nanny wrote its variables into this process's environment
    try:
        with distributed.Client(c) as client:
            env = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
            outside = client.run(page_faults_of_reused_arrays)
        inside = run_cells([Cell("test.faults", {"i": i}) for i in range(2)], faults_cell,
                           scheduler=c.scheduler_address)
        with distributed.Client(c) as client:
            after = client.run(page_faults_of_reused_arrays)
    finally:
        c.close()
    assert list(env.values()) == ["65536"], env
    every = 200 * 512                            # a 2 MiB array is 512 pages
    assert all(f > every // 2 for f in outside.values()), outside     # the nanny's setting: fresh mmaps
    assert all(r["faults"] < every // 10 for r in inside), inside
    assert all(f > every // 2 for f in after.values()), after         # restored after the batch


def test_kept_memory_does_nothing_without_a_trim_threshold(monkeypatch):
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    assert sweep.kept_memory().libc is None
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "not a number")
    assert sweep.kept_memory().libc is None


def test_serial_leaves_the_blas_threads_alone():
    """The serial default changes nothing: the cells run with this process's BLAS threads."""
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(limits=2):
        want = [i["num_threads"] for i in threadpool_info()]
        got = run_cells([Cell("test.blas", {})], blas_threads_cell)[0]["threads"]
    assert got == want and 2 in want


def test_cli_refuses_engine_options_an_experiment_cannot_take(monkeypatch, capsys, tmp_path):
    from ntkcheck import cli
    from ntkcheck.experiments import width

    ran = []
    monkeypatch.setattr(width, "run", lambda cfg, progress=None: ran.append(1))
    assert cli.main(["width", "--cache", str(tmp_path / "c"), "--quiet"]) == 2
    assert "--cache: this experiment does not run its work as cells yet" in capsys.readouterr().err
    assert not ran


@pytest.mark.parametrize("n, workers", [(0, 2), (1, 2), (5, 2), (16, 2), (17, 2), (300, 2), (300, 1), (40, 7)])
def test_batches_deal_every_cell_once(n, workers):
    items = list(range(n))
    got = sweep.batches(items, workers)
    assert sorted(x for b in got for x in b) == items                   # every cell exactly once
    assert all(b == sorted(b) for b in got) and all(b for b in got)       # in order, no empty batch
    assert len(got) == min(n, workers * sweep.BATCHES_PER_WORKER)
    sizes = [len(b) for b in got]
    assert not sizes or max(sizes) - min(sizes) <= 1                     # balanced
