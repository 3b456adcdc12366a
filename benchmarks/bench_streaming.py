"""Benchmark: ntkcheck.core.streaming.streamed_ntk against the in-memory network.empirical_ntk (issue 15 item 5).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_streaming.py
    ... --json benchmarks/results/streaming.json

Part 1 (time): H at n=256, d=32, d'=8, m=4096 (one block; --n, --d, --d-out, --m), streamed (iid passes=1 and 2, symmetric fast
path) vs empirical_ntk of the materialized W in the same run; median of --repeats; every streamed H is
compared with the in-memory one (normwise relative difference, must be ≤ 1e-12).  Exit status 0 when every
target is met, 1 otherwise.
Part 2 (memory): tracemalloc peak of streamed_ntk (iid passes=2 and 1, symmetric; the seconds include
tracemalloc's overhead) as m grows to 10⁶ (--mem-m) at small n·d' (flat in m), against
the in-memory path's peak where it fits (its P alone is n·d'·m·8 bytes).
"""
from __future__ import annotations

import argparse
import sys
import statistics
import time
import tracemalloc

import numpy as np

from ntkcheck import network, streaming


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def peak(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def unit_rows(n, d, seed=0):
    X = np.random.default_rng(seed).standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--mem-n", type=int, default=16)
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--d-out", type=int, default=8)
    ap.add_argument("--m", type=int, default=4096)
    ap.add_argument("--mem-m", default="16384,65536,262144,1000000",
                    help="the widths of the memory measurement (comma-separated, increasing)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    n, d, q, m = a.n, a.d, a.d_out, a.m
    mem_m = [int(v) for v in a.mem_m.split(",")]
    X = unit_rows(n, d)
    out = {"time": {}, "memory": []}
    agree = {}
    print(f"# time: n={n} d={d} d'={q} m={m}; the variants interleaved in each of {a.repeats} repeats "
          "(the machine may be shared): median time and median of the per-repeat ratios")
    for scheme in ("iid", "symmetric"):
        p = streaming.materialize(d, m, q, 1.0, scheme, 0)
        variants = {"in_memory": lambda: network.empirical_ntk(p, X)}
        for passes in ((1, 2) if scheme == "iid" else (1,)):
            variants[f"passes{passes}"] = (lambda ps: lambda: streaming.streamed_ntk(
                X, m, d_out=q, scheme=scheme, passes=ps).H)(passes)
        times = {k: [] for k in variants}
        results = {}
        for _ in range(a.repeats):
            for k, fn in variants.items():
                t0 = time.perf_counter()
                results[k] = fn()
                times[k].append(time.perf_counter() - t0)
        row = {"in_memory_s": statistics.median(times["in_memory"])}
        print(f"{scheme:9s} in-memory empirical_ntk   {row['in_memory_s']:8.3f} s")
        for k in variants:
            if k == "in_memory":
                continue
            e = rel(results[k], results["in_memory"])
            agree[f"{scheme} {k} agrees with in-memory <= 1e-12"] = e <= 1e-12
            ratio = statistics.median(t / t0 for t, t0 in zip(times[k], times["in_memory"]))
            row.update({f"{k}_s": statistics.median(times[k]), f"{k}_ratio": ratio, f"{k}_rel_diff": e})
            print(f"{scheme:9s} streamed {k:16s} {row[k + '_s']:8.3f} s  ratio {ratio:5.2f}  rel {e:.1e}")
        out["time"][scheme] = row
    nm, qm, dm = a.mem_n, 4, 8
    Xm = unit_rows(nm, dm, 1)
    print(f"# memory: n={nm} d={dm} d'={qm}, tracemalloc peak (MB)")
    for mm in mem_m:
        rec = {"m": mm}
        for name, kw in (("iid2", {}), ("iid1", {"passes": 1}), ("sym", {"scheme": "symmetric"})):
            t0 = time.perf_counter()
            rec[f"{name}_peak_MB"] = peak(lambda: streaming.streamed_ntk(Xm, mm, d_out=qm, **kw)) / 2 ** 20
            rec[f"{name}_s"] = time.perf_counter() - t0
        if mm <= 2 ** 18:
            pm = streaming.materialize(dm, mm, qm)
            rec["in_memory_peak_MB"] = peak(lambda: network.empirical_ntk(pm, Xm)) / 2 ** 20
        print("  ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in rec.items()))
        out["memory"].append(rec)
    # the targets (issue 15): streamed H within 1.2× of the in-memory fast path at m = 4096; memory flat in m
    first, last = out["memory"][0], out["memory"][-1]
    out["targets"] = {
        "iid passes=2 / in-memory <= 1.2": out["time"]["iid"]["passes2_ratio"] <= 1.2,
        "symmetric / in-memory <= 1.2": out["time"]["symmetric"]["passes1_ratio"] <= 1.2,
        **{f"{k} peak at m={last['m']} / at m={first['m']} <= 1.1": last[f"{k}_peak_MB"] <= 1.1 * first[f"{k}_peak_MB"]
           for k in ("iid2", "iid1", "sym")}, **agree}
    out["peak_growth"] = {k: last[f"{k}_peak_MB"] / first[f"{k}_peak_MB"] for k in ("iid2", "iid1", "sym")}
    for k, v in out["targets"].items():
        print(f"target {k}: {'met' if v else 'NOT MET'}")
    print("peak memory growth from the smallest to the largest m: "
          + ", ".join(f"{k} {v:.2f}×" for k, v in out["peak_growth"].items()))
    if a.json:
        from ntkcheck.core.results import versions, write_json

        write_json(a.json, {"benchmark": "streaming", "versions": versions(), "sizes": {"n": n, "d": d, "d_out": q,
                            "m": m, "repeats": a.repeats, "mem_n": nm, "mem_d": dm, "mem_d_out": qm, "mem_m": mem_m},
                            **out})
        print(f"wrote {a.json}")
    return 0 if all(out["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
